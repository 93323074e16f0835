//! What the selection steps of MST and AIM reveal about the error of the cliques they did
//! not measure: the paper's bound for unsupported marginals (McKenna et al. 2022), kept
//! while the mechanism runs because it needs the intermediate models.
//!
//! Everything recorded here is a function of DP outputs (noisy measurements, the models
//! fitted to them, the public scores' weights and the selection's noise scale), so it is
//! post-processing (proofs/accuracy.md, "Unmeasured marginals").

use crate::marginal::{Clique, MarginalTable};
use crate::model::accuracy::{
    final_answers, SelectionBound, SelectionRound, ROUND_SHARE, SAMPLE_SHARE,
    SELECTION_SAMPLE_FACTOR,
};
use crate::model::GraphicalModel;

/// Confidence of the bounds in `accuracy.json`.
pub const CONFIDENCE: f64 = 0.95;

/// Failure probability of a selection bound that is a clique's only source, at the full
/// clique level `0.8 (1 - CONFIDENCE)` (the rest goes to the total's noise). A stated bound
/// that ranges over several sources gives each a fraction of it (`accuracy::Levels`;
/// proofs/accuracy.md, "One level for several bounds").
const SELECTION_ALPHA: f64 = 0.8 * (1.0 - CONFIDENCE);

/// Failure probability of one sampled final answer's slack
/// ([`crate::model::accuracy::sampling_slack`]) in a selection bound at [`SELECTION_ALPHA`]:
/// [`SAMPLE_SHARE`] of it (for measuring the slack, `examples/final_answers_cost.rs`; the
/// report scales it with the bound's level).
pub const SAMPLE_ALPHA: f64 = SAMPLE_SHARE * SELECTION_ALPHA;
const _: () = assert!(SAMPLE_ALPHA > 0.0 && ROUND_SHARE > 0.0);

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

/// What the selection steps leave for the report: per candidate its inputs from the latest
/// round that scored it, the rounds, and the records drawn from the final model. Bounds are
/// computed from them at the level the report gives each
/// ([`crate::model::accuracy::SelectionEvidence::bound`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectionRecord {
    pub bounds: Vec<SelectionBound>,
    pub rounds: Vec<SelectionRound>,
    pub records: usize,
}

/// A candidate's latest round (index), weight, penalty and the model's answer then.
struct Latest {
    round: usize,
    weight: f64,
    penalty: f64,
    before: Vec<f64>,
}

/// Per candidate, the inputs of its bound from the latest round that scored it, and the
/// model's answer in that round (to add how far the model moved afterwards).
#[derive(Default)]
pub struct SelectionTracker {
    /// Rounds the bounds are made simultaneous over (at least the rounds that will run).
    rounds: usize,
    played: Vec<SelectionRound>,
    latest: std::collections::BTreeMap<Clique, Latest>,
}

impl SelectionTracker {
    pub fn new(rounds: usize) -> Self {
        SelectionTracker {
            rounds: rounds.max(1),
            played: Vec::new(),
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
        let fit: f64 = winner_noisy
            .iter()
            .zip(&w.estimate.values)
            .map(|(y, p)| (y - p).abs())
            .sum();
        let index = self.played.len();
        self.played.push(SelectionRound {
            scale,
            candidates: scored.len(),
            rounds: self.rounds,
            winner_weight: w.weight,
            winner_penalty: w.penalty,
            winner_fit: fit,
            winner_sigma,
            winner_cells: winner_noisy.len(),
        });
        for s in scored {
            self.latest.insert(
                s.clique.clone(),
                Latest {
                    round: index,
                    weight: s.weight,
                    penalty: s.penalty,
                    before: s.estimate.values.clone(),
                },
            );
        }
    }

    /// The candidates' inputs against the final model: each round's plus how far the
    /// model's answer moved since that round (triangle inequality). The costly candidates'
    /// final answers are sampled ([`SelectionTracker::finish_with`] with
    /// [`SELECTION_SAMPLE_FACTOR`] and [`SELECTION_SAMPLE_SEED`]).
    pub fn finish(self, model: &GraphicalModel) -> SelectionRecord {
        self.finish_with(model, SELECTION_SAMPLE_FACTOR, SELECTION_SAMPLE_SEED)
    }

    /// [`SelectionTracker::finish`] with `factor` records per record of the model's total
    /// drawn with `seed` for the costly candidates (`factor` 0: every answer exact). A
    /// sampled answer's distance is an unbiased-or-larger estimate of the exact one, so the
    /// report adds [`crate::model::accuracy::sampling_slack`] for it (proofs/accuracy.md,
    /// "Sampled final answers").
    pub fn finish_with(self, model: &GraphicalModel, factor: usize, seed: u64) -> SelectionRecord {
        let cliques: Vec<Clique> = self.latest.keys().cloned().collect();
        let finals = final_answers(model, &cliques, factor, seed);
        let bounds = self
            .latest
            .into_iter()
            .zip(finals.answers)
            .zip(finals.sampled)
            .filter_map(|(((clique, l), after), sampled)| {
                let moved: f64 = l
                    .before
                    .iter()
                    .zip(&after?.values)
                    .map(|(x, y)| (x - y).abs())
                    .sum();
                Some(SelectionBound {
                    clique,
                    bound: None,
                    sampled,
                    round: Some(l.round),
                    weight: l.weight,
                    penalty: l.penalty,
                    moved,
                })
            })
            .collect();
        SelectionRecord {
            bounds,
            rounds: self.played,
            records: finals.records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selection's failure probability is split, not added to: two round events and
    /// the sampled answers use exactly the bound's level (proofs/accuracy.md).
    #[test]
    fn failure_probability_is_split_exactly() {
        assert!((2.0 * ROUND_SHARE + SAMPLE_SHARE - 1.0).abs() < 1e-15);
        assert!((SAMPLE_ALPHA - 0.1 * SELECTION_ALPHA).abs() < 1e-15);
    }
}
