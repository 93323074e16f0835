//! The cost and the looseness of the selection bounds' final answers on a released model
//! (`SelectionTracker::finish`): every candidate of the all-three-way workload (and its
//! downward closure) answered exactly (`project_many`), against `final_answers` with the
//! costly candidates sampled from `K n` records (`n` the model's total).
//!
//! `cargo run --release --example final_answers_cost -- MODEL.json [K,K,...] [SEED]`
//!
//! Prints, per K, CPU and wall seconds, the candidates sampled, and what sampling adds to a
//! sampled bound when the model did not move since the round (the worst case: the round's
//! answer equal to the exact final one): `||n p_hat - n p||_1 + slack` in counts and as a
//! share of `n` (median and max over the sampled candidates), with the slack alone. Reads
//! only the model (DP output); deterministic for a seed.

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::marginal::Clique;
use dpsynth::mechanism::evidence::SAMPLE_ALPHA;
use dpsynth::mechanism::Workload;
use dpsynth::model::accuracy::{final_answers, sampled_cliques, sampling_slack};
use dpsynth::release::pipeline::ModelFile;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: final_answers_cost MODEL.json [K,K,...] [SEED]")?,
    );
    let factors: Vec<usize> = args
        .get(1)
        .map_or("16,64,256", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let fitted = ModelFile::load(&path)?.fitted;
    let model = &fitted.model;
    let domain = model.domain();
    let cands: Vec<Clique> = Workload::all_k_way(domain.len(), 3)
        .candidates()
        .into_keys()
        .collect();
    let n = model.total();
    println!(
        "{}: {} candidates, {} cells, total {:.0}; {} threads",
        path.display(),
        cands.len(),
        model.size_cells(),
        n,
        rayon::current_num_threads()
    );
    let _ = model.project(&Clique::empty());
    if std::env::var_os("BREAKDOWN").is_some() {
        let tree = model.junction_tree();
        let costly = sampled_cliques(model, &cands);
        let mut classes: [Vec<Clique>; 3] = Default::default();
        for (q, &s) in cands.iter().zip(&costly) {
            let k = if s {
                2
            } else if tree.containing(domain, q).is_some() {
                0
            } else {
                1
            };
            classes[k].push(q.clone());
        }
        for (name, qs) in ["inside a tree clique", "spanning, not costly", "costly"]
            .iter()
            .zip(&classes)
        {
            let (t, c) = (Instant::now(), cpu_seconds());
            let _ = model.project_many(qs);
            println!(
                "exact, {name}: {} cliques {:8.3} s CPU {:8.3} s wall",
                qs.len(),
                cpu_seconds() - c,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let (t, c) = (Instant::now(), cpu_seconds());
    let exact = final_answers(model, &cands, 0, seed);
    println!(
        "exact:  {:8.3} s CPU {:8.3} s wall",
        cpu_seconds() - c,
        t.elapsed().as_secs_f64()
    );
    for k in factors {
        let (t, c) = (Instant::now(), cpu_seconds());
        let got = final_answers(model, &cands, k, seed);
        let (cpu, wall) = (cpu_seconds() - c, t.elapsed().as_secs_f64());
        let slack = sampling_slack(n, got.records, SAMPLE_ALPHA);
        let mut added: Vec<f64> = Vec::new();
        for ((a, e), s) in got.answers.iter().zip(&exact.answers).zip(&got.sampled) {
            if let (true, Some(a), Some(e)) = (*s, a, e) {
                let l1: f64 = a
                    .values
                    .iter()
                    .zip(&e.values)
                    .map(|(x, y)| (x - y).abs())
                    .sum();
                added.push(l1 + slack);
            }
        }
        added.sort_by(f64::total_cmp);
        let med = added.get(added.len() / 2).copied().unwrap_or(0.0);
        let max = added.last().copied().unwrap_or(0.0);
        println!(
            "K {k:4}: {cpu:8.3} s CPU {wall:8.3} s wall; {} sampled from {} records; added at most: median {med:.0} ({:.4}), max {max:.0} ({:.4}); slack {slack:.0} ({:.4})",
            added.len(),
            got.records,
            med / n,
            max / n,
            slack / n
        );
    }
    Ok(())
}
