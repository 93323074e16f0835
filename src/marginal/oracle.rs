//! The seam between private data and mechanisms.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{count, count_many, Clique, Domain, MarginalTable, MAX_COUNT_CELLS};
use crate::data::EncodedTable;

/// Answers exact marginal queries on private data. Mechanisms read data only through this
/// trait, so that counting can move elsewhere (a database, a cluster) without touching them.
///
/// Everything it returns is private: a mechanism must add noise (or select through the
/// exponential mechanism) before anything derived from it leaves.
pub trait MarginalOracle: Sync {
    fn domain(&self) -> &Domain;

    /// Exact counts of `clique`. Errors if the table would be too large to count.
    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError>;

    /// Says which cliques are about to be asked for. An oracle whose counting is remote (a
    /// database) counts them now, in as few scans as it can, and answers later asks from
    /// its cache; mechanisms call this before drawing any noise, so a failing source costs
    /// no budget. In memory there is nothing to do.
    fn prefetch(&self, cliques: &[Clique]) -> Result<(), OracleError> {
        let _ = cliques;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error("the marginal {0} would have {1} cells, more than dpsynth counts in memory ({MAX_COUNT_CELLS}); use fewer bins or values for these columns in the schema")]
    TooLarge(String, usize),
    /// The data source failed while counting (e.g. the database connection was lost).
    #[error("counting in the data source failed: {0}")]
    Source(String),
}

/// An oracle over an encoded table held in memory.
pub struct InMemoryOracle<'a> {
    table: &'a EncodedTable,
    domain: Domain,
    /// Tables counted by [`MarginalOracle::prefetch`], each handed out once.
    prefetched: Mutex<HashMap<Clique, MarginalTable>>,
}

impl<'a> InMemoryOracle<'a> {
    pub fn new(table: &'a EncodedTable) -> Self {
        let domain = Domain::new(table.names().to_vec(), table.cardinalities().to_vec());
        InMemoryOracle {
            table,
            domain,
            prefetched: Mutex::new(HashMap::new()),
        }
    }
}

impl MarginalOracle for InMemoryOracle<'_> {
    fn domain(&self) -> &Domain {
        &self.domain
    }

    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError> {
        let cells = clique.cells(&self.domain);
        if cells > MAX_COUNT_CELLS {
            return Err(OracleError::TooLarge(clique.describe(&self.domain), cells));
        }
        let cached = self
            .prefetched
            .lock()
            .ok()
            .and_then(|mut m| m.remove(clique));
        Ok(cached.unwrap_or_else(|| count(self.table, &self.domain, clique)))
    }

    /// Counts the cliques together ([`count_many`]: small cliques gathered into joint
    /// tables, each counted once), kept until each is asked for once. Cliques too large to count are left
    /// for [`MarginalOracle::marginal`] to refuse.
    fn prefetch(&self, cliques: &[Clique]) -> Result<(), OracleError> {
        let todo: Vec<Clique> = cliques
            .iter()
            .filter(|c| c.cells(&self.domain) <= MAX_COUNT_CELLS)
            .cloned()
            .collect();
        let tables = count_many(self.table, &self.domain, &todo);
        if let Ok(mut m) = self.prefetched.lock() {
            m.extend(todo.into_iter().zip(tables));
        }
        Ok(())
    }
}

impl InMemoryOracle<'_> {
    /// The domain, owned (for callers that outlive the oracle).
    pub fn domain_owned(&self) -> Domain {
        self.domain.clone()
    }
}
