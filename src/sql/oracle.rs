//! [`SqlOracle`]: exact marginals counted by the database.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::marginal::{
    Clique, Domain, MarginalOracle, MarginalTable, OracleError, MAX_COUNT_CELLS,
};
use crate::privacy::{secure_rng, PrivacyError, PrivacyUnit};

use super::compile::Compiled;
use super::dialect::{Dialect, Postgres};
use super::postgres::PgSource;
use super::runner::{SqlRunner, SqlValue};

/// Grouping sets per query: one scan answers this many cliques.
const SETS_PER_QUERY: usize = 128;
/// Result cells per query (a bound on the rows a query can return).
const CELLS_PER_QUERY: usize = 4_000_000;

/// A `MarginalOracle` whose counting runs in a SQL engine (PostgreSQL, Spark). Holds no row
/// of the data: only the connection and the counts already fetched (exact, private, cached for the run: the
/// snapshot does not change). Tables are filled with zeros over the public domain, so the
/// answer never depends on which combinations occur.
pub struct SqlOracle {
    source: Mutex<Box<dyn SqlRunner>>,
    /// What the count queries read: the encoded (and, with a unit, truncated) rows as SQL,
    /// until the engine keeps them aggregated by distinct row (see [`Rows`]).
    rows: Mutex<Rows>,
    domain: Domain,
    cache: Mutex<HashMap<Clique, MarginalTable>>,
    sets_per_query: usize,
}

impl SqlOracle {
    /// An oracle over `source`'s rows encoded by `compiled` (validated: no problems), with
    /// the schema's modelled domain. With a unit of `K` rows, the rows are truncated in SQL
    /// to at most `K` per unit, ordered within each unit by a hash keyed with 128 bits from
    /// the CSPRNG (proofs/sql-source.md).
    pub fn new(
        source: PgSource,
        compiled: &Compiled,
        domain: Domain,
        unit: &PrivacyUnit,
    ) -> Result<SqlOracle, PrivacyError> {
        Self::over(Box::new(source), &Postgres, compiled, domain, unit)
    }

    /// As [`SqlOracle::new`], over any engine: `compiled` must have been compiled with
    /// `dialect`, the runner's.
    pub fn over(
        source: Box<dyn SqlRunner>,
        dialect: &dyn Dialect,
        compiled: &Compiled,
        domain: Domain,
        unit: &PrivacyUnit,
    ) -> Result<SqlOracle, PrivacyError> {
        let rows = match unit {
            PrivacyUnit::Record => compiled.encoded(dialect),
            PrivacyUnit::Column { max_rows, .. } => {
                let mut key = [0u8; 16];
                rand::RngCore::fill_bytes(&mut secure_rng()?, &mut key);
                compiled.truncated(dialect, *max_rows, &hex::encode(key))
            }
        };
        Ok(SqlOracle {
            source: Mutex::new(source),
            rows: Mutex::new(Rows {
                sql: rows,
                n_codes: compiled.codes.len(),
                weighted: false,
                asked: false,
            }),
            domain,
            cache: Mutex::new(HashMap::new()),
            sets_per_query: SETS_PER_QUERY,
        })
    }

    /// At most `n` cliques counted per query (default 128): fewer scans against larger
    /// result sets.
    pub fn with_sets_per_query(mut self, n: usize) -> Self {
        self.sets_per_query = n.max(1);
        self
    }

    /// Counts `cliques` (none cached, all small enough) in one query.
    fn fetch(&self, cliques: &[Clique]) -> Result<Vec<MarginalTable>, OracleError> {
        let mut attrs: Vec<usize> = cliques.iter().flat_map(|c| c.attrs().to_vec()).collect();
        attrs.sort_unstable();
        attrs.dedup();
        let sets: Vec<Vec<usize>> = cliques.iter().map(|c| c.attrs().to_vec()).collect();
        let rows = {
            let mut src = self
                .source
                .lock()
                .map_err(|_| OracleError::Source("the connection was poisoned".into()))?;
            let mut relation = self
                .rows
                .lock()
                .map_err(|_| OracleError::Source("the oracle was poisoned".into()))?;
            if !relation.asked {
                // Once per run: offer the engine the rows aggregated by distinct row to keep.
                relation.asked = true;
                let weighted = Compiled::weighted(&relation.sql, relation.n_codes);
                if let Some(name) = src
                    .materialize(&weighted)
                    .map_err(|e| OracleError::Source(e.to_string()))?
                {
                    relation.sql = format!("SELECT * FROM {name}");
                    relation.weighted = true;
                }
            }
            let sql = Compiled::count_query_with(&relation.sql, &attrs, &sets, relation.weighted);
            src.query(&sql)
                .map_err(|e| OracleError::Source(e.to_string()))?
        };
        let mut tables: Vec<MarginalTable> = cliques
            .iter()
            .map(|c| MarginalTable::zeros(c.clone(), &self.domain))
            .collect();
        let index: HashMap<&[usize], usize> = cliques
            .iter()
            .enumerate()
            .map(|(i, c)| (c.attrs(), i))
            .collect();
        let changed = || {
            OracleError::Source(
                "the database returned a code outside the schema's domain; the source changed since it was validated, or an expression disagrees with the schema"
                    .into(),
            )
        };
        let mut present = Vec::with_capacity(attrs.len());
        let mut codes = Vec::with_capacity(attrs.len());
        let unexpected = || {
            OracleError::Source(
                "internal error: a count query returned a value that is not a whole number".into(),
            )
        };
        for row in rows {
            present.clear();
            codes.clear();
            if row.len() != attrs.len() + 1 {
                return Err(unexpected());
            }
            for (j, &a) in attrs.iter().enumerate() {
                match &row[j] {
                    SqlValue::Null => {}
                    SqlValue::Int(v) => {
                        present.push(a);
                        codes.push(*v);
                    }
                    SqlValue::Text(_) => return Err(unexpected()),
                }
            }
            let SqlValue::Int(count) = row[attrs.len()] else {
                return Err(unexpected());
            };
            let Some(&t) = index.get(present.as_slice()) else {
                return Err(changed());
            };
            let table = &mut tables[t];
            let mut cell = 0usize;
            for (&code, &size) in codes.iter().zip(&table.shape) {
                if code < 0 || code as usize >= size {
                    return Err(changed());
                }
                cell = cell * size + code as usize;
            }
            table.values[cell] += count as f64;
        }
        Ok(tables)
    }
}

impl MarginalOracle for SqlOracle {
    fn domain(&self) -> &Domain {
        &self.domain
    }

    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError> {
        if let Some(t) = self.cached(clique) {
            return Ok(t);
        }
        self.prefetch(std::slice::from_ref(clique))?;
        self.cached(clique).ok_or_else(|| {
            OracleError::Source("internal error: a fetched marginal is missing".into())
        })
    }

    fn prefetch(&self, cliques: &[Clique]) -> Result<(), OracleError> {
        let mut wanted: Vec<Clique> = {
            let cache = self
                .cache
                .lock()
                .map_err(|_| OracleError::Source("the cache was poisoned".into()))?;
            cliques
                .iter()
                .filter(|c| !cache.contains_key(*c))
                .cloned()
                .collect()
        };
        wanted.sort();
        wanted.dedup();
        for c in &wanted {
            let cells = c.cells(&self.domain);
            if cells > MAX_COUNT_CELLS {
                return Err(OracleError::TooLarge(c.describe(&self.domain), cells));
            }
        }
        // Batches bounded in sets and in result cells.
        let mut start = 0;
        while start < wanted.len() {
            let mut end = start;
            let mut cells = 0;
            while end < wanted.len()
                && end - start < self.sets_per_query
                && (end == start || cells + wanted[end].cells(&self.domain) <= CELLS_PER_QUERY)
            {
                cells += wanted[end].cells(&self.domain);
                end += 1;
            }
            let tables = self.fetch(&wanted[start..end])?;
            let mut cache = self
                .cache
                .lock()
                .map_err(|_| OracleError::Source("the cache was poisoned".into()))?;
            for t in tables {
                cache.insert(t.clique.clone(), t);
            }
            start = end;
        }
        Ok(())
    }
}

/// The relation the count queries read.
struct Rows {
    /// SQL of the encoded rows, or `SELECT * FROM name` of what the engine keeps.
    sql: String,
    /// Code columns `c0..` in it.
    n_codes: usize,
    /// Whether `sql` holds rows aggregated by distinct row ([`Compiled::weighted`]).
    weighted: bool,
    /// Whether the engine was offered to keep them.
    asked: bool,
}

impl SqlOracle {
    fn cached(&self, clique: &Clique) -> Option<MarginalTable> {
        self.cache.lock().ok()?.get(clique).cloned()
    }
}
