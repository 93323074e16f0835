//! dpsynth: differentially private synthetic tables.
//!
//! The pipeline, one module per step (dependencies flow down this list):
//!
//! 1. [`schema`]: the public schema (column kinds, value sets, bounds, bins).
//! 2. [`data`]: private CSV or Parquet rows encoded into column-major codes, and decoding back.
//! 3. [`marginal`]: cliques, marginal tables, exact counting, the `MarginalOracle` seam;
//!    [`sql`]: the same counts computed inside a database (schema compiled to SQL,
//!    `SqlOracle`).
//! 4. [`privacy`]: `Rho`/`Epsilon`/`Delta`, the accountant, opendp's Gaussian and noisy max.
//! 5. [`model`]: Private-PGM: factors, junction tree, belief propagation, estimation, sampling.
//! 6. [`mechanism`]: MST and AIM, which decide what to measure and spend the budget.
//! 7. [`release`]: certificate, atomic output, signing and verification.
//! 8. [`eval`]: curator-side fidelity and risk evaluation.

pub mod data;
pub mod eval;
pub mod marginal;
pub mod mechanism;
pub mod model;
pub mod privacy;
pub mod release;
pub mod schema;
pub mod sql;
