//! What the selection steps of MST and AIM reveal about the error of the cliques they did
//! not measure: the paper's bound for unsupported marginals (McKenna et al. 2022), kept
//! while the mechanism runs because it needs the intermediate models.
//!
//! Everything recorded here is a function of DP outputs (noisy measurements, the models
//! fitted to them, the public scores' weights and the selection's noise scale), so it is
//! post-processing (proofs/accuracy.md, "Unmeasured marginals").

use crate::marginal::{Clique, MarginalTable};
use crate::model::accuracy::{
    final_answers, noise_l1_quantile, sampling_slack, selection_bound, SelectionBound,
    SelectionRound, SELECTION_SAMPLE_FACTOR,
};
use crate::model::GraphicalModel;

/// Confidence of the bounds in `accuracy.json`.
pub const CONFIDENCE: f64 = 0.95;

/// Share of `1 - CONFIDENCE` a selection bound may use (the rest goes to the total's noise
/// when the bound is turned into a share): [`SAMPLE_ALPHA`] for the sampled final answers,
/// the rest split evenly between the Gumbel gap and the winner's measurement noise
/// ([`ROUND_ALPHA`] each; proofs/accuracy.md, "Sampled final answers").
const SELECTION_ALPHA: f64 = 0.8 * (1.0 - CONFIDENCE);

/// Failure probability of one sampled final answer's slack ([`sampling_slack`]): a tenth
/// of [`SELECTION_ALPHA`], taken from every bound alike (whether a candidate is sampled
/// depends on the final model, so its share cannot depend on that; moved every
/// unsampled bound up by under 1%: docs/performance.md).
pub const SAMPLE_ALPHA: f64 = 0.1 * SELECTION_ALPHA;

/// Share of each round's two events (the Gumbel gap, the winner's noise), made
/// simultaneous over the rounds by [`SelectionRound::rounds`].
const ROUND_ALPHA: f64 = (SELECTION_ALPHA - SAMPLE_ALPHA) / 2.0;
const _: () = assert!(SAMPLE_ALPHA > 0.0 && ROUND_ALPHA > 0.0);

/// Seed of the records drawn from the final model for its costly answers: a public
/// constant, fixed before any data is seen (simulation randomness, independent of the
/// data and of the privacy noise, which comes from opendp's own generator).
pub const SELECTION_SAMPLE_SEED: u64 = 0x5e1e_c710_b0b5_0001;

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
        let half = ROUND_ALPHA;
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
    /// answer moved since that round (triangle inequality). The costly candidates' final
    /// answers are sampled ([`SelectionTracker::finish_with`] with
    /// [`SELECTION_SAMPLE_FACTOR`] and [`SELECTION_SAMPLE_SEED`]).
    pub fn finish(self, model: &GraphicalModel) -> Vec<SelectionBound> {
        self.finish_with(model, SELECTION_SAMPLE_FACTOR, SELECTION_SAMPLE_SEED)
    }

    /// [`SelectionTracker::finish`] with `factor` records per record of the model's total
    /// drawn with `seed` for the costly candidates (`factor` 0: every answer exact). A
    /// sampled answer's distance is an unbiased-or-larger estimate of the exact one, so
    /// [`sampling_slack`] at [`SAMPLE_ALPHA`] makes it an upper bound (proofs/accuracy.md,
    /// "Sampled final answers").
    pub fn finish_with(
        self,
        model: &GraphicalModel,
        factor: usize,
        seed: u64,
    ) -> Vec<SelectionBound> {
        let cliques: Vec<Clique> = self.latest.keys().cloned().collect();
        let finals = final_answers(model, &cliques, factor, seed);
        let slack = sampling_slack(model.total(), finals.records, SAMPLE_ALPHA);
        self.latest
            .into_iter()
            .zip(finals.answers)
            .zip(finals.sampled)
            .filter_map(|(((clique, (b, before)), after), sampled)| {
                let moved: f64 = before
                    .iter()
                    .zip(&after?.values)
                    .map(|(x, y)| (x - y).abs())
                    .sum();
                Some(SelectionBound {
                    clique,
                    bound: b + moved + if sampled { slack } else { 0.0 },
                    sampled,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selection's failure probability is split, not added to: two round events and
    /// the sampled answers use exactly `SELECTION_ALPHA` (proofs/accuracy.md).
    #[test]
    fn failure_probability_is_split_exactly() {
        assert!((2.0 * ROUND_ALPHA + SAMPLE_ALPHA - SELECTION_ALPHA).abs() < 1e-15);
    }
}
