//! Writes an evaluation report of adult against its independence baseline (each column
//! shuffled), as a stand-in for a synthetic table: library usage of `dpsynth::eval`, and the
//! input `scripts/render-report.sh` renders when given no report.
//!
//! `cargo run --release --example eval_report -- OUT.html [GUARANTEE_TEXT]`
//! (needs ../shared/data/adult beside the checkout).

#[path = "../tests/common/mod.rs"]
mod common;

use dpsynth::eval::{evaluate, independent_baseline, render_html, EvalOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "report.html".to_string());
    let guarantee = args.next();
    let Some((real, domain)) = common::load_coded("adult") else {
        anyhow::bail!("adult not found under ../shared/data");
    };
    let synthetic = independent_baseline(&real, 1);
    let opts = EvalOptions {
        target: domain.index_of("income>50K"),
        numeric: domain
            .names()
            .iter()
            .map(|n| {
                matches!(
                    n.as_str(),
                    "age" | "education-num" | "hours-per-week" | "capital-gain" | "capital-loss"
                )
            })
            .collect(),
        ..EvalOptions::default()
    };
    let report = evaluate(&real, &synthetic, &domain, &opts)?;
    // The benchmark files carry codes only; a schema would supply value labels.
    let labels: Vec<Vec<String>> = domain
        .sizes()
        .iter()
        .map(|&s| (0..s).map(|c| c.to_string()).collect())
        .collect();
    let html = render_html(
        &report,
        &labels,
        &real,
        &synthetic,
        &domain,
        guarantee.as_deref(),
    );
    std::fs::write(&out, html)?;
    eprint!("{}", report.summary_text());
    eprintln!("wrote {out}");
    Ok(())
}
