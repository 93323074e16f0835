//! The cost of one AIM selection round's model answers on a released model: every candidate
//! of the all-three-way workload (and its downward closure) projected from the model, the
//! way `select_worst` does (`GraphicalModel::project_many`: shared messages and clique
//! reductions), against one variable elimination per query (`GraphicalModel::project`, the
//! path every spanning candidate took before). Deterministic (no noise), so two builds or
//! thread counts compare like for like.
//!
//! `cargo run --release --example selection_cost -- MODEL.json [REPEATS]`
//!
//! Prints the tree, the number of candidates and of spanning ones, wall and CPU seconds of
//! each path, the largest difference between their answers (relative to the total) and how
//! many cells round to a different point of the scores' 2^-16 grid (a different grid point
//! can change a score by 2^-16 counts). Reads only the model (DP output).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::marginal::Clique;
use dpsynth::mechanism::Workload;
use dpsynth::release::pipeline::ModelFile;
use rayon::prelude::*;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        let (t, c) = (Instant::now(), cpu_seconds());
        shared = model.project_many(&cands);
        println!(
            "project_many (shared):     {:8.3} s wall {:8.3} s CPU",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
        let (t, c) = (Instant::now(), cpu_seconds());
        single = cands.par_iter().map(|q| model.project(q)).collect();
        println!(
            "project per query (old):   {:8.3} s wall {:8.3} s CPU",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
    let (mut max_diff, mut grid_diffs, mut cells) = (0f64, 0usize, 0usize);
    for (a, b) in shared.iter().zip(&single) {
        for (x, y) in a.values.iter().zip(&b.values) {
            max_diff = max_diff.max((x - y).abs());
            cells += 1;
            if (x * 65536.0).round() != (y * 65536.0).round() {
                grid_diffs += 1;
            }
        }
    }
    println!(
        "largest difference {:.3e} of the total {:.0}; {} of {} cells on another 2^-16 grid point",
        max_diff / model.total(),
        model.total(),
        grid_diffs,
        cells
    );
    Ok(())
}
