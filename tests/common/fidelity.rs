//! Fidelity helpers shared by mechanism tests: the paper's workload error.
#![allow(dead_code)]

use dpsynth::data::EncodedTable;
use dpsynth::marginal::{all_k_way, count, Domain};

/// Mean over all k-way cliques of the L1 distance between normalised marginals of two tables.
pub fn mean_k_way_l1(real: &EncodedTable, synth: &EncodedTable, domain: &Domain, k: usize) -> f64 {
    let cliques = all_k_way(domain.len(), k);
    let total: f64 = cliques
        .iter()
        .map(|c| count(real, domain, c).l1_normalized(&count(synth, domain, c)))
        .sum();
    total / cliques.len() as f64
}

/// Builds a table from column-major codes (as returned by `Fitted::synthesize`).
pub fn table_from_columns(domain: &Domain, columns: &[Vec<u32>]) -> EncodedTable {
    let n = columns.first().map_or(0, |c| c.len());
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| columns.iter().map(|c| c[r]).collect())
        .collect();
    EncodedTable::from_rows(domain.names().to_vec(), domain.sizes().to_vec(), &rows)
        .expect("codes within domain")
}
