//! Train-on-synthetic, test-on-real: a categorical naive Bayes classifier (Laplace smoothing,
//! alpha = 1, every other column a feature) trained on the real training half and on the
//! synthetic data, each tested on the real holdout.
//!
//! Naive Bayes is chosen because it is built from counts alone (deterministic, no tuning, no
//! iteration), so the comparison reflects the data rather than an optimiser.

use rayon::prelude::*;

use super::Tstr;
use crate::data::EncodedTable;

struct NaiveBayes {
    target: usize,
    classes: usize,
    log_prior: Vec<f64>,
    /// Per column (the target's entry is empty): `log P(value | class)` at `value * classes + class`.
    log_lik: Vec<Vec<f64>>,
}

impl NaiveBayes {
    fn fit(table: &EncodedTable, rows: &[usize], target: usize) -> Self {
        let cards = table.cardinalities();
        let classes = cards[target];
        let y = table.column(target);
        let mut class_n = vec![0f64; classes];
        for &r in rows {
            class_n[y.get(r) as usize] += 1.0;
        }
        let n = rows.len() as f64;
        let log_prior = class_n
            .iter()
            .map(|&c| ((c + 1.0) / (n + classes as f64)).ln())
            .collect();
        let log_lik = (0..table.n_cols())
            .into_par_iter()
            .map(|j| {
                if j == target {
                    return Vec::new();
                }
                let card = cards[j];
                let col = table.column(j);
                let mut counts = vec![0f64; card * classes];
                for &r in rows {
                    counts[col.get(r) as usize * classes + y.get(r) as usize] += 1.0;
                }
                counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| ((c + 1.0) / (class_n[i % classes] + card as f64)).ln())
                    .collect()
            })
            .collect();
        NaiveBayes {
            target,
            classes,
            log_prior,
            log_lik,
        }
    }

    /// Most probable class of row `r` of `table` (ties to the lowest code).
    fn predict(&self, table: &EncodedTable, r: usize) -> u32 {
        let mut score = self.log_prior.clone();
        for (j, ll) in self.log_lik.iter().enumerate() {
            if j == self.target {
                continue;
            }
            let base = table.column(j).get(r) as usize * self.classes;
            for (s, l) in score.iter_mut().zip(&ll[base..base + self.classes]) {
                *s += l;
            }
        }
        let mut best = 0;
        for (c, &s) in score.iter().enumerate() {
            if s > score[best] {
                best = c;
            }
        }
        best as u32
    }

    fn accuracy(&self, table: &EncodedTable, rows: &[usize]) -> f64 {
        if rows.is_empty() {
            return 0.0;
        }
        let y = table.column(self.target);
        let hits = rows
            .par_iter()
            .filter(|&&r| self.predict(table, r) == y.get(r))
            .count();
        hits as f64 / rows.len() as f64
    }
}

pub(crate) fn tstr(
    real: &EncodedTable,
    synth: &EncodedTable,
    target: usize,
    train: &[usize],
    holdout: &[usize],
) -> Tstr {
    let on_real = NaiveBayes::fit(real, train, target);
    let all_synth: Vec<usize> = (0..synth.n_rows()).collect();
    let on_synth = NaiveBayes::fit(synth, &all_synth, target);
    // Majority class of the real training half, scored on the holdout.
    let y = real.column(target);
    let mut class_n = vec![0usize; real.cardinalities()[target]];
    for &r in train {
        class_n[y.get(r) as usize] += 1;
    }
    let majority = class_n
        .iter()
        .enumerate()
        .max_by_key(|&(c, &n)| (n, std::cmp::Reverse(c)))
        .map_or(0, |(c, _)| c);
    let majority_hits = holdout
        .iter()
        .filter(|&&r| y.get(r) as usize == majority)
        .count();
    Tstr {
        target: real.names()[target].clone(),
        classifier: "categorical naive Bayes (Laplace alpha = 1) on all other columns' codes"
            .to_string(),
        train_rows_real: train.len(),
        train_rows_synthetic: synth.n_rows(),
        test_rows: holdout.len(),
        majority_baseline: if holdout.is_empty() {
            0.0
        } else {
            majority_hits as f64 / holdout.len() as f64
        },
        real_to_real: on_real.accuracy(real, holdout),
        synthetic_to_real: on_synth.accuracy(real, holdout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_deterministic_target() {
        // y copies x0; x1 is noise. Synthetic data with y = 1 - x0 learns the opposite rule
        // and scores 0 on real data.
        let rows: Vec<Vec<u32>> = (0..200u32)
            .map(|i| vec![i % 2, (i / 2) % 3, i % 2])
            .collect();
        let names = vec!["x0".to_string(), "x1".to_string(), "y".to_string()];
        let real = EncodedTable::from_rows(names.clone(), vec![2, 3, 2], &rows).unwrap();
        let flipped: Vec<Vec<u32>> = rows.iter().map(|r| vec![r[0], r[1], 1 - r[2]]).collect();
        let synth = EncodedTable::from_rows(names, vec![2, 3, 2], &flipped).unwrap();
        let train: Vec<usize> = (0..100).collect();
        let holdout: Vec<usize> = (100..200).collect();
        let t = tstr(&real, &synth, 2, &train, &holdout);
        assert_eq!(t.real_to_real, 1.0);
        assert_eq!(t.synthetic_to_real, 0.0);
        assert_eq!(t.majority_baseline, 0.5);
        assert_eq!(t.target, "y");
    }
}
