//! What the selection steps of MST and AIM reveal about the error of the cliques they did
//! not measure: the paper's bound for unsupported marginals (McKenna et al. 2022), kept
//! while the mechanism runs because it needs the intermediate models.
//!
//! Everything recorded here is a function of DP outputs (noisy measurements, the models
//! fitted to them, the public scores' weights and the selection's noise scale), so it is
//! post-processing (proofs/accuracy.md, "Unmeasured marginals").

use crate::marginal::{Clique, MarginalTable};
use crate::model::accuracy::{noise_l1_quantile, selection_bound, SelectionBound, SelectionRound};
use crate::model::GraphicalModel;

/// Confidence of the bounds in `accuracy.json`.
pub const CONFIDENCE: f64 = 0.95;

/// Share of `1 - CONFIDENCE` a selection bound may use (the rest goes to the total's noise
/// when the bound is turned into a share); split evenly between the Gumbel gap and the
/// winner's measurement noise.
const SELECTION_ALPHA: f64 = 0.8 * (1.0 - CONFIDENCE);

/// One scored candidate: its clique, weight and noise penalty in the round's score.
pub struct Scored<'a> {
    pub clique: &'a Clique,
    pub weight: f64,
    pub penalty: f64,
    /// The model's answer the round scored against.
    pub estimate: &'a MarginalTable,
}

/// Per candidate, the bound from the latest round that scored it, and the model's answer in
/// that round (to add how far the model moved afterwards).
#[derive(Default)]
pub struct SelectionTracker {
    /// Rounds the bounds are made simultaneous over (at least the rounds that will run).
    rounds: usize,
    latest: std::collections::BTreeMap<Clique, (f64, Vec<f64>)>,
}

impl SelectionTracker {
    pub fn new(rounds: usize) -> Self {
        SelectionTracker {
            rounds: rounds.max(1),
            latest: Default::default(),
        }
    }

    /// Records a round: `scored` are the candidates (with the winner among them), `scale`
    /// the Gumbel scale of the noisy max, `winner_noisy` the winner's noisy measurement and
    /// `winner_sigma` its noise scale.
    pub fn round(
        &mut self,
        scored: &[Scored],
        winner: usize,
        scale: f64,
        winner_noisy: &[f64],
        winner_sigma: f64,
    ) {
        let w = &scored[winner];
        let half = SELECTION_ALPHA / 2.0;
        let fit: f64 = winner_noisy
            .iter()
            .zip(&w.estimate.values)
            .map(|(y, p)| (y - p).abs())
            .sum();
        let sd = vec![winner_sigma; winner_noisy.len()];
        let round = SelectionRound {
            scale,
            candidates: scored.len(),
            rounds: self.rounds,
            winner_weight: w.weight,
            winner_penalty: w.penalty,
            winner_error_bound: fit + noise_l1_quantile(&sd, half / self.rounds as f64),
        };
        for s in scored {
            let b = selection_bound(&round, s.weight, s.penalty, half);
            self.latest
                .insert(s.clique.clone(), (b, s.estimate.values.clone()));
        }
    }

    /// The bounds against the final model: each round's bound plus how far the model's
    /// answer moved since that round (triangle inequality).
    pub fn finish(self, model: &GraphicalModel) -> Vec<SelectionBound> {
        let cliques: Vec<Clique> = self.latest.keys().cloned().collect();
        let finals = model.project_many(&cliques);
        self.latest
            .into_iter()
            .zip(finals)
            .map(|((clique, (b, before)), after)| {
                let moved: f64 = before
                    .iter()
                    .zip(&after.values)
                    .map(|(x, y)| (x - y).abs())
                    .sum();
                SelectionBound {
                    clique,
                    bound: b + moved,
                }
            })
            .collect()
    }
}
