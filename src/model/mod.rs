//! TEMPORARY STUB (not committed): lets mechanism/release type-check before the engine lands.
use crate::marginal::{Clique, Domain, MarginalTable};
use serde::{Deserialize, Serialize};
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub clique: Clique,
    pub values: Vec<f64>,
    pub sigma: f64,
}
#[derive(Clone, Debug)]
pub struct EstimationOptions {
    pub max_iters: usize,
    pub tol: f64,
}
impl Default for EstimationOptions {
    fn default() -> Self {
        EstimationOptions {
            max_iters: 1,
            tol: 0.0,
        }
    }
}
#[derive(Clone, Debug, Default)]
pub struct EstimationReport {
    pub iterations: usize,
    pub final_loss: f64,
    pub converged: bool,
    pub losses: Vec<f64>,
}
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GraphicalModel {
    domain: Domain,
    cliques: Vec<Clique>,
}
impl GraphicalModel {
    pub fn domain(&self) -> &Domain {
        &self.domain
    }
    pub fn total(&self) -> f64 {
        0.0
    }
    pub fn cliques(&self) -> &[Clique] {
        &self.cliques
    }
    pub fn size_cells(&self) -> usize {
        0
    }
    pub fn project(&self, c: &Clique) -> MarginalTable {
        MarginalTable::zeros(c.clone(), &self.domain)
    }
    pub fn project_many(&self, c: &[Clique]) -> Vec<MarginalTable> {
        c.iter().map(|c| self.project(c)).collect()
    }
}
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("too large")]
    TooLarge { cells: usize, cap: usize },
}
pub fn estimate(
    domain: &Domain,
    _m: &[Measurement],
    _o: &EstimationOptions,
    _w: Option<&GraphicalModel>,
) -> Result<(GraphicalModel, EstimationReport), ModelError> {
    Ok((
        GraphicalModel {
            domain: domain.clone(),
            cliques: vec![],
        },
        EstimationReport::default(),
    ))
}
pub fn model_size_cells(_d: &Domain, _c: &[Clique]) -> usize {
    0
}
#[derive(Clone, Copy, Debug, Default)]
pub enum SamplingMethod {
    #[default]
    Forward,
    Rounding,
}
pub fn sample(
    _m: &GraphicalModel,
    rows: usize,
    _seed: u64,
    _method: SamplingMethod,
) -> Vec<Vec<u32>> {
    vec![vec![0; rows]]
}
