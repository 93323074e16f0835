//! The cost of one AIM selection round's model answers on a released model: every candidate
//! of the all-three-way workload (and its downward closure) projected from the model, the
//! way `select_worst` does (`GraphicalModel::project_many`: shared messages and clique
//! reductions), against one variable elimination per query (`GraphicalModel::project`, the
//! path every spanning candidate took before). Deterministic (no noise), so two builds or
//! thread counts compare like for like.
//!
//! `cargo run --release --example selection_cost -- MODEL.json [REPEATS] [--save FILE]
//! [--against FILE] [--shared-only]`
//!
//! Prints the tree, the number of candidates and of spanning ones, wall and CPU seconds of
//! each path, the largest difference between their answers (relative to the total) and how
//! many cells round to a different point of the scores' 2^-16 grid (a different grid point
//! can change a score by 2^-16 counts). `--save` writes the shared answers (raw f64, little
//! endian) and `--against` compares them, the same way, with a file saved by another build
//! (how a change to `project_many` shows it keeps the numbers); `--shared-only` skips the
//! slow per-query path. Reads only the model (DP output). The main thread's CPU is the
//! sequential part (it sleeps while rayon's threads work).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::marginal::Clique;
use dpsynth::mechanism::Workload;
use dpsynth::release::pipeline::ModelFile;
use rayon::prelude::*;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::{cpu_seconds, thread_cpu_seconds};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str, with_value: bool| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        args.remove(i);
        if with_value {
            (i < args.len()).then(|| args.remove(i))
        } else {
            Some(String::new())
        }
    };
    let save = flag("--save", true);
    let against = flag("--against", true);
    let shared_only = flag("--shared-only", false).is_some();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: selection_cost MODEL.json [REPEATS]")?,
    );
    let repeats: usize = args.get(1).map_or(Ok(2), |s| s.parse())?;
    let fitted = ModelFile::load(&path)?.fitted;
    let model = &fitted.model;
    let domain = model.domain();
    let cands: Vec<Clique> = Workload::all_k_way(domain.len(), 3)
        .candidates()
        .into_keys()
        .collect();
    let tree = model.junction_tree();
    let spanning = cands
        .iter()
        .filter(|q| tree.containing(domain, q).is_none())
        .count();
    println!(
        "{}: {} attributes, {} tree cliques, {} cells; {} candidates, {} spanning; {} threads",
        path.display(),
        domain.len(),
        tree.cliques().len(),
        model.size_cells(),
        cands.len(),
        spanning,
        rayon::current_num_threads()
    );
    let _ = model.project(&Clique::empty()); // calibrate once, outside the timings
    let mut shared = Vec::new();
    let mut single = Vec::new();
    for _ in 0..repeats {
        let (t, c, mc) = (Instant::now(), cpu_seconds(), thread_cpu_seconds());
        shared = model.project_many(&cands);
        println!(
            "project_many (shared):     {:8.3} s wall {:8.3} s CPU ({:.3} s on the main thread)",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c,
            thread_cpu_seconds() - mc
        );
        if shared_only {
            continue;
        }
        let (t, c) = (Instant::now(), cpu_seconds());
        single = cands.par_iter().map(|q| model.project(q)).collect();
        println!(
            "project per query (old):   {:8.3} s wall {:8.3} s CPU",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
    let flat: Vec<f64> = shared
        .iter()
        .flat_map(|t| t.values.iter().copied())
        .collect();
    if let Some(file) = save {
        let bytes: Vec<u8> = flat.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&file, bytes)?;
    }
    if !shared_only {
        let old: Vec<f64> = single
            .iter()
            .flat_map(|t| t.values.iter().copied())
            .collect();
        compare("per-query path", &flat, &old, model.total());
    }
    if let Some(file) = against {
        let bytes = std::fs::read(&file)?;
        let old: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        if old.len() != flat.len() {
            return Err(format!("{file}: {} cells, expected {}", old.len(), flat.len()).into());
        }
        compare(&file, &flat, &old, model.total());
    }
    Ok(())
}

/// Prints the largest difference between two answer lists (relative to the total), how
/// many cells differ at all and how many land on another point of the 2^-16 grid.
fn compare(what: &str, new: &[f64], old: &[f64], total: f64) {
    let (mut max_diff, mut grid_diffs, mut differ) = (0f64, 0usize, 0usize);
    for (x, y) in new.iter().zip(old) {
        max_diff = max_diff.max((x - y).abs());
        differ += usize::from(x != y);
        if (x * 65536.0).round() != (y * 65536.0).round() {
            grid_diffs += 1;
        }
    }
    println!(
        "against {what}: largest difference {:.3e} of the total {:.0}; {} of {} cells differ, {} on another 2^-16 grid point",
        max_diff / total,
        total,
        differ,
        new.len(),
        grid_diffs,
    );
}
