//! Marginals: cliques, marginal tables, exact counting and the oracle mechanisms read through.

mod clique;
mod count;
mod domain;
mod oracle;
mod table;

pub use clique::{all_k_way, Clique};
pub use count::{count, count_many, MAX_COUNT_CELLS, PARALLEL_ROWS};
pub(crate) use count::{covers, from_covers, increment, lanes};
pub use domain::Domain;
pub use oracle::{InMemoryOracle, MarginalOracle, OracleError};
pub use table::MarginalTable;
