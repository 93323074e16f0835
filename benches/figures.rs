//! Issue #16's must-show figures, timed end to end through the release CLI (reading, fitting,
//! sampling, writing, the release files), as a user runs them:
//!
//! - `mst_adult_x200`: adult's rows repeated 200 times (9.77 M rows, 317 MB CSV, built once in
//!   the temp folder), `synth --mechanism mst --epsilon 1` (target: 5 s);
//! - `aim_adult_eps{E}` and `aim_nist_eps{E}`: `synth --mechanism aim --epsilon E --delta 1e-9`
//!   on adult and NIST CRC national2019 (target: 60 s). E from `FIGURES_EPS` (comma list,
//!   default `1`; criterion runs each at least 10 times, so 3 and 10 take long);
//! - `mst_wide` and `aim_wide_eps1`: the 60-column clinical table, when `FIGURES_WIDE` names a
//!   folder made by `cargo run --release --example wide_clinical -- DIR 50000` (targets 5 s and
//!   5 minutes).
//!
//! Run: `cargo bench --bench figures` (`-- mst` for the MST figures alone). Peak memory is not
//! measured here: run the same `dpsynth synth` command under `/usr/bin/time -v`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

#[path = "../tests/common/mod.rs"]
mod common;

/// One `dpsynth synth` run; panics (failing the bench) if the CLI fails.
fn synth(data: &Path, schema: &Path, args: &[&str], out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_dpsynth"))
        .arg("synth")
        .arg("--data")
        .arg(data)
        .arg("--schema")
        .arg(schema)
        .args(args)
        .args(["--seed", "7", "-q", "--force", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .expect("dpsynth runs");
    assert!(status.success(), "dpsynth synth {args:?} failed");
}

/// adult.csv's header and its body repeated `times` times, written once.
fn repeated_adult(times: usize) -> Option<PathBuf> {
    let src = common::shared_data("adult/adult.csv")?;
    let dst = std::env::temp_dir().join(format!("dpsynth-figures-adult-x{times}.csv"));
    if !dst.exists() {
        let text = std::fs::read_to_string(&src).expect("adult.csv reads");
        let (head, body) = text.split_once('\n').expect("adult.csv has a header");
        let mut out = String::with_capacity(head.len() + 1 + body.len() * times);
        out.push_str(head);
        out.push('\n');
        for _ in 0..times {
            out.push_str(body);
            if !body.ends_with('\n') {
                out.push('\n');
            }
        }
        let tmp = dst.with_extension("partial");
        std::fs::write(&tmp, out).expect("temp folder writable");
        std::fs::rename(&tmp, &dst).expect("temp folder writable");
    }
    Some(dst)
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dpsynth-figures-{name}"))
}

/// One figure: `dpsynth synth` with `args` on `data`/`schema`, timed by criterion.
fn figure(g: &mut BenchmarkGroup<WallTime>, name: &str, data: &Path, schema: &Path, args: &[&str]) {
    let out = out_dir(name);
    g.bench_function(name, |b| b.iter(|| synth(data, schema, args, &out)));
}

const MST_EPS1: [&str; 4] = ["--mechanism", "mst", "--epsilon", "1"];

fn mst_figures(c: &mut Criterion) {
    let mut g = c.benchmark_group("figures");
    g.sample_size(10);
    if let (Some(data), Some(schema)) = (
        repeated_adult(200),
        common::shared_data("adult/adult-domain.json"),
    ) {
        figure(&mut g, "mst_adult_x200", &data, &schema, &MST_EPS1);
    }
    if let Some(dir) = std::env::var_os("FIGURES_WIDE").map(PathBuf::from) {
        let (data, schema) = wide_files(&dir);
        figure(&mut g, "mst_wide", &data, &schema, &MST_EPS1);
    }
    g.finish();
}

/// The CSV and the schema `examples/wide_clinical` wrote into `dir`.
fn wide_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut csv = None;
    let mut schema = None;
    for entry in std::fs::read_dir(dir)
        .expect("FIGURES_WIDE is a folder")
        .flatten()
    {
        let p = entry.path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("csv") => csv = Some(p),
            Some("toml") | Some("json") => schema = Some(p),
            _ => {}
        }
    }
    (
        csv.expect("FIGURES_WIDE holds the wide table's CSV"),
        schema.expect("FIGURES_WIDE holds the wide table's schema"),
    )
}

fn aim_figures(c: &mut Criterion) {
    let eps_list = std::env::var("FIGURES_EPS").unwrap_or_else(|_| "1".into());
    let mut g = c.benchmark_group("figures");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(600));
    let sets = [
        (
            "adult",
            common::shared_data("adult/adult.csv"),
            common::shared_data("adult/adult-domain.json"),
        ),
        (
            "nist",
            common::shared_data("nist_crc/national2019.csv"),
            Some(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("examples/nist/national2019.schema.toml"),
            ),
        ),
    ];
    for eps in eps_list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        for (name, data, schema) in &sets {
            let (Some(data), Some(schema)) = (data, schema) else {
                continue;
            };
            let args = ["--mechanism", "aim", "--epsilon", eps, "--delta", "1e-9"];
            figure(&mut g, &format!("aim_{name}_eps{eps}"), data, schema, &args);
        }
    }
    if let Some(dir) = std::env::var_os("FIGURES_WIDE").map(PathBuf::from) {
        let (data, schema) = wide_files(&dir);
        let args = ["--mechanism", "aim", "--epsilon", "1", "--delta", "1e-9"];
        figure(&mut g, "aim_wide_eps1", &data, &schema, &args);
    }
    g.finish();
}

criterion_group!(benches, mst_figures, aim_figures);
criterion_main!(benches);
