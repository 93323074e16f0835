//! The self-contained HTML report: one file, no scripts, no external fonts, styles or images.
//! Plots are inline SVG drawn by plotters' SVG backend, whose text uses the generic
//! `sans-serif` family (a browser font, nothing fetched). A Content-Security-Policy meta tag
//! forbids every external load, so a stray reference would show up as a console error in
//! `scripts/render-report.sh` rather than as a silent request.

use std::fmt::Write;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{EvalReport, NOTICE};
use crate::data::EncodedTable;
use crate::marginal::{count, Clique, Domain};

const REAL: RGBColor = RGBColor(0x44, 0x77, 0xAA);
const SYNTH: RGBColor = RGBColor(0xEE, 0x77, 0x33);
const FONT: &str = "sans-serif";
/// Columns with more codes than this show only their most frequent codes.
const MAX_BARS: usize = 40;
/// Labels longer than this are cut in plots (tables show them whole).
const MAX_LABEL: usize = 16;

/// HTML-escapes text for element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_LABEL - 1).collect();
        t.push('…');
        t
    }
}

/// The label of `code` in column `col`, or the code itself when no label was given.
fn label(labels: &[Vec<String>], col: usize, code: u32) -> String {
    labels
        .get(col)
        .and_then(|l| l.get(code as usize))
        .cloned()
        .unwrap_or_else(|| code.to_string())
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("n/a".to_string(), |v| format!("{v:.digits$}"))
}

/// Renders `report` as one self-contained HTML page. `labels[col][code]` names each code
/// (missing entries fall back to the code number). `guarantee` is the certificate's
/// guarantee text when the synthetic data came with one.
pub fn render_html(
    report: &EvalReport,
    labels: &[Vec<String>],
    real: &EncodedTable,
    synthetic: &EncodedTable,
    domain: &Domain,
    guarantee: Option<&str>,
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>INTERNAL: dpsynth evaluation report</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <p class=\"internal\">{}</p>\n<h1>dpsynth evaluation report</h1>\n",
        esc(NOTICE)
    );
    fitness(&mut h, report);
    summary(&mut h, report);
    h.push_str("<h2>Privacy guarantee</h2>\n");
    match guarantee {
        Some(g) => {
            let _ = writeln!(h, "<p class=\"guarantee\">{}</p>", esc(g));
            h.push_str(
                "<p class=\"note\">The guarantee covers the release (synthetic data, model and certificate). This \
                 report is computed from the private data and is not covered by it. A synthetic record equal to a \
                 real one is not a copy: records are drawn from the model, and in tables with few columns many real \
                 records share the same values, so matches happen by chance. The guarantee bounds what can be learnt \
                 about any one unit either way.</p>\n",
            );
        }
        None => h.push_str(
            "<p>No certificate came with the synthetic data: no guarantee is claimed.</p>\n",
        ),
    }
    worst_marginals(&mut h, report, labels);
    columns(&mut h, labels, real, synthetic, domain);
    heatmap(&mut h, report);
    dcr(&mut h, report);
    definitions(&mut h);
    h.push_str("</body>\n</html>\n");
    h
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1200px;\
color:#222;padding:0 16px}\
.internal{background:#b00020;color:#fff;font-weight:bold;padding:8px 12px;margin:0 0 12px 0;border-radius:4px}\
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:1.6em}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.verdict{font-weight:bold;padding:8px 12px;border-radius:4px;color:#fff}.green{background:#1b7f3b}\
.amber{background:#b26a00}.red{background:#b00020}.flag{color:#b00020;font-weight:bold}.ok{color:#1b7f3b}.note{color:#555;font-size:.9em}\
.guarantee{font-family:ui-monospace,monospace;background:#f6f6f6;padding:8px;border-radius:4px}\
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid svg,.plot svg{border:1px solid #eee}.err{color:#b00020}";

/// The verdict section that opens the report (`fitness.rs`): green only when every check
/// holds; the target's TSTR comes first.
fn fitness(h: &mut String, r: &EvalReport) {
    use super::fitness::{CheckStatus, Verdict};
    let f = &r.fitness;
    let class = match f.verdict {
        Verdict::Green => "verdict green",
        Verdict::Amber => "verdict amber",
        Verdict::Red => "verdict red",
    };
    let _ = writeln!(
        h,
        "<h2>Fitness for use</h2>\n<p class=\"{class}\">{}</p>\n<table>\n<tr><th>check</th><th>result</th><th>details</th></tr>",
        esc(&f.headline)
    );
    for c in &f.checks {
        let (cls, word) = match c.status {
            CheckStatus::Holds => ("ok", "holds"),
            CheckStatus::Fails => ("flag", "FAILS"),
            CheckStatus::NotAvailable => ("note", "not available"),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"{cls}\">{word}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.detail)
        );
    }
    h.push_str("</table>\n");
    if !f.release_warnings.is_empty() {
        h.push_str("<p>Warnings the release itself carries (from DP outputs only, published in its README.txt):</p>\n<ul>\n");
        for w in &f.release_warnings {
            let _ = writeln!(h, "<li class=\"flag\">{}</li>", esc(w));
        }
        h.push_str("</ul>\n");
    }
}

fn summary(h: &mut String, r: &EvalReport) {
    let f = &r.fidelity;
    let mut rows: Vec<(String, String)> = vec![
        (
            "Real rows / synthetic rows".into(),
            format!("{} / {}", r.real_rows, r.synthetic_rows),
        ),
        ("Columns".into(), r.columns.len().to_string()),
        (
            "k-marginal score (2-way, 0 to 1000)".into(),
            num(f.k_marginal_score, 1),
        ),
    ];
    for m in &f.marginals {
        let sampled = if m.sampled {
            format!(", sample of {} of {}", m.evaluated, m.total_cliques)
        } else {
            String::new()
        };
        rows.push((
            format!(
                "{}-way marginal L1 ({} marginals{sampled})",
                m.k, m.evaluated
            ),
            format!("mean {:.4}, worst {:.4}", m.mean_l1, m.max_l1),
        ));
    }
    if !f.column_tv.is_empty() {
        let mean = f.column_tv.iter().map(|c| c.tv).sum::<f64>() / f.column_tv.len() as f64;
        let worst = f.column_tv.iter().max_by(|a, b| a.tv.total_cmp(&b.tv));
        rows.push((
            "Per-column total variation".into(),
            format!(
                "mean {mean:.4}, worst {}",
                worst.map_or("n/a".into(), |w| format!("{:.4} ({})", w.tv, w.column))
            ),
        ));
    }
    let a = &f.associations;
    rows.push((
        "Association difference |real - synthetic|".into(),
        format!(
            "mean {}, worst {}{}",
            num(a.mean_abs_diff, 4),
            num(a.max_abs_diff, 4),
            a.max_pair
                .as_ref()
                .map_or(String::new(), |p| format!(" ({} x {})", p[0], p[1]))
        ),
    ));
    if let Some(t) = &r.tstr {
        rows.push((
            format!(
                "TSTR accuracy on {} (naive Bayes, tested on real holdout)",
                t.target
            ),
            format!(
                "trained on real {:.4}, trained on synthetic {:.4}, majority class {:.4}",
                t.real_to_real, t.synthetic_to_real, t.majority_baseline
            ),
        ));
    }
    let k = &r.risk;
    rows.push((
        "Synthetic records equal to a real record".into(),
        pct(k.synthetic_in_real_share),
    ));
    rows.push((
        "Real records that also occur in the synthetic data".into(),
        pct(k.real_in_synthetic_share),
    ));
    rows.push((
        "Equal to a training-half record: synthetic vs holdout records".into(),
        format!(
            "{} vs {}",
            pct(k.synthetic_in_train_share),
            pct(k.holdout_in_train_share)
        ),
    ));
    if let Some(d) = &k.dcr {
        rows.push((
            "Median distance to closest training record: synthetic vs holdout".into(),
            format!(
                "{} vs {} (Hamming; {} and {} records sampled)",
                d.synthetic_to_train.p50,
                d.holdout_to_train.p50,
                d.synthetic_sampled,
                d.holdout_sampled
            ),
        ));
    }
    rows.push((
        "Evaluation time".into(),
        format!("{:.0} ms", r.timings.total_ms),
    ));
    h.push_str("<h2>Summary</h2>\n<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    let class = if k.verdict.flagged { "flag" } else { "ok" };
    let _ = writeln!(
        h,
        "<tr><th>Risk verdict</th><td class=\"{class}\">{}</td></tr>\n</table>",
        esc(&k.verdict.text)
    );
}

fn worst_marginals(h: &mut String, r: &EvalReport, labels: &[Vec<String>]) {
    h.push_str("<h2>Worst marginals</h2>\n");
    for m in &r.fidelity.marginals {
        let _ = writeln!(
            h,
            "<h3>{}-way</h3>\n<table>\n<tr><th>Columns</th><th>L1</th><th>TV</th><th>Cell that differs most</th>\
             <th>Real share</th><th>Synthetic share</th></tr>",
            m.k
        );
        for w in &m.worst {
            let cell: Vec<String> = w
                .attrs
                .iter()
                .zip(&w.cell)
                .zip(&w.columns)
                .map(|((&a, &c), name)| format!("{name} = {}", label(labels, a, c)))
                .collect();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.4}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&w.columns.join(" × ")),
                w.l1,
                w.tv,
                esc(&cell.join(", ")),
                pct(w.real_share),
                pct(w.synthetic_share)
            );
        }
        h.push_str("</table>\n");
    }
}

/// Grouped bars (real left, synthetic right) over labelled categories, as an SVG string.
fn bars_svg(
    title: &str,
    cats: &[String],
    real: &[f64],
    synth: &[f64],
    names: (&str, &str),
    size: (u32, u32),
) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = cats.len().max(1);
        let longest = cats.iter().map(|c| c.chars().count()).max().unwrap_or(1);
        // Rotate the category labels when they would not fit side by side under their bars
        // (about 6.5 px per character at 11 px; 64 px go to the y axis and margins).
        let spacing = (size.0 as f64 - 64.0) / n as f64;
        let rotate = longest as f64 * 6.5 + 4.0 > spacing;
        let bottom = if rotate {
            (longest as u32 * 6 + 14).min(110)
        } else {
            24
        };
        let ymax = real
            .iter()
            .chain(synth)
            .copied()
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.3;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(8)
            .x_label_area_size(bottom)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(5)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 11))
            .draw()
            .map_err(|e| e.to_string())?;
        let w = 0.4;
        chart
            .draw_series(
                real.iter().enumerate().map(|(i, &p)| {
                    Rectangle::new([(i as f64 - w, 0.0), (i as f64, p)], REAL.filled())
                }),
            )
            .map_err(|e| e.to_string())?
            .label(names.0)
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], REAL.filled()));
        chart
            .draw_series(synth.iter().enumerate().map(|(i, &q)| {
                Rectangle::new([(i as f64, 0.0), (i as f64 + w, q)], SYNTH.filled())
            }))
            .map_err(|e| e.to_string())?
            .label(names.1)
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], SYNTH.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 11))
            .draw()
            .map_err(|e| e.to_string())?;
        // Category labels under the axis, drawn on the root area at each bar pair's centre.
        let style = TextStyle::from((FONT, 11).into_font()).color(&BLACK);
        let style = if rotate {
            style
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Right, VPos::Center))
        } else {
            style.pos(Pos::new(HPos::Center, VPos::Top))
        };
        for (i, c) in cats.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, 0.0));
            root.draw(&Text::new(c.clone(), (x, y + 6), style.clone()))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

fn plot_or_error(svg: Result<String, String>) -> String {
    svg.unwrap_or_else(|e| format!("<p class=\"err\">plot could not be drawn: {}</p>", esc(&e)))
}

fn columns(
    h: &mut String,
    labels: &[Vec<String>],
    real: &EncodedTable,
    synth: &EncodedTable,
    domain: &Domain,
) {
    h.push_str(
        "<h2>Per-column distributions</h2>\n<p class=\"note\">Share of rows per value: real (blue) and synthetic \
         (orange). Total variation in each title.</p>\n<div class=\"grid\">\n",
    );
    for col in 0..domain.len() {
        let c = Clique::new([col]);
        let p = count(real, domain, &c).normalized();
        let q = count(synth, domain, &c).normalized();
        let tv = 0.5 * p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>();
        // Many codes: keep the MAX_BARS most frequent (by the larger of the two shares), in code order.
        let mut codes: Vec<usize> = (0..p.len()).collect();
        let shown = if codes.len() > MAX_BARS {
            codes.sort_by(|&a, &b| p[b].max(q[b]).total_cmp(&p[a].max(q[a])).then(a.cmp(&b)));
            codes.truncate(MAX_BARS);
            codes.sort_unstable();
            format!(", {MAX_BARS} most frequent of {} values", p.len())
        } else {
            String::new()
        };
        let cats: Vec<String> = codes
            .iter()
            .map(|&i| short(&label(labels, col, i as u32)))
            .collect();
        let rp: Vec<f64> = codes.iter().map(|&i| p[i]).collect();
        let sq: Vec<f64> = codes.iter().map(|&i| q[i]).collect();
        let title = format!("{} (TV {tv:.4}{shown})", domain.name(col));
        let width = (280 + 14 * cats.len() as u32).clamp(380, 1160);
        h.push_str(&plot_or_error(bars_svg(
            &title,
            &cats,
            &rp,
            &sq,
            ("real", "synthetic"),
            (width, 300),
        )));
    }
    h.push_str("</div>\n");
}

/// Heatmap of |association(real) - association(synthetic)| for every pair of columns.
fn heatmap_svg(r: &EvalReport) -> Result<String, String> {
    let a = &r.fidelity.associations;
    let names: Vec<String> = r.columns.iter().map(|c| short(c)).collect();
    let n = names.len();
    let cell: i32 = if n <= 20 {
        40
    } else {
        (800 / n.max(1) as i32).max(8)
    };
    let left: i32 = names
        .iter()
        .map(|s| s.chars().count() as i32)
        .max()
        .unwrap_or(1)
        * 7
        + 16;
    let top: i32 = left;
    let legend_w: i32 = 90;
    let size = (
        (left + cell * n as i32 + legend_w + 20) as u32,
        (top + cell * n as i32 + 20) as u32,
    );
    let scale = a.max_abs_diff.unwrap_or(0.0).max(0.1);
    let color = |v: f64| {
        let t = (v / scale).clamp(0.0, 1.0);
        // White to dark red.
        RGBColor(
            255 - (80.0 * t) as u8,
            (255.0 * (1.0 - t)) as u8,
            (255.0 * (1.0 - t)) as u8,
        )
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let font = TextStyle::from((FONT, 12).into_font()).color(&BLACK);
        for (i, name) in names.iter().enumerate() {
            let y = top + cell * i as i32 + cell / 2;
            root.draw(&Text::new(
                name.clone(),
                (left - 6, y),
                font.pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(|e| e.to_string())?;
            let x = left + cell * i as i32 + cell / 2;
            root.draw(&Text::new(
                name.clone(),
                (x, top - 6),
                font.transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(|e| e.to_string())?;
        }
        let small = TextStyle::from((FONT, 10).into_font());
        for i in 0..n {
            for j in 0..n {
                let (x0, y0) = (left + cell * j as i32, top + cell * i as i32);
                let v = a
                    .abs_diff
                    .get(i)
                    .and_then(|row| row.get(j))
                    .copied()
                    .flatten();
                let fill = match v {
                    Some(v) => color(v),
                    None => RGBColor(0xE0, 0xE0, 0xE0),
                };
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    fill.filled(),
                ))
                .map_err(|e| e.to_string())?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    WHITE.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
                if let (Some(v), true) = (v, cell >= 30) {
                    let c = if v / scale > 0.6 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        format!("{v:.2}"),
                        (x0 + cell / 2, y0 + cell / 2),
                        small.color(&c).pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        // Colour legend: a vertical bar from 0 (bottom) to the scale (top).
        let lx = left + cell * n as i32 + 24;
        let lh = (cell * n as i32).clamp(100, 400);
        let steps = 50;
        for s in 0..steps {
            let v = scale * (steps - s) as f64 / steps as f64;
            let y0 = top + lh * s / steps;
            let y1 = top + lh * (s + 1) / steps;
            root.draw(&Rectangle::new(
                [(lx, y0), (lx + 16, y1)],
                color(v).filled(),
            ))
            .map_err(|e| e.to_string())?;
        }
        let lf = font.pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(
            format!("{scale:.2}"),
            (lx + 20, top),
            lf.clone(),
        ))
        .map_err(|e| e.to_string())?;
        root.draw(&Text::new("0".to_string(), (lx + 20, top + lh), lf))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

fn heatmap(h: &mut String, r: &EvalReport) {
    let a = &r.fidelity.associations;
    let n_pearson = a
        .kind
        .iter()
        .flatten()
        .filter(|k| **k == super::AssociationKind::Pearson)
        .count()
        / 2;
    let _ = writeln!(
        h,
        "<h2>Pairwise association difference</h2>\n<p class=\"note\">|association(real) − association(synthetic)| \
         for each pair of columns: Cramér's V, or Pearson correlation of the codes for pairs of numeric columns ({} \
         such pairs). Grey: undefined in both tables. Mean {}, worst {}.</p>\n<div class=\"plot\">",
        n_pearson,
        num(a.mean_abs_diff, 4),
        num(a.max_abs_diff, 4)
    );
    h.push_str(&plot_or_error(heatmap_svg(r)));
    h.push_str("</div>\n");
}

fn dcr(h: &mut String, r: &EvalReport) {
    h.push_str("<h2>Distance to closest record</h2>\n");
    let Some(d) = &r.risk.dcr else {
        h.push_str("<p>The DCR test was not run (dcr_sample = 0).</p>\n");
        return;
    };
    let _ = writeln!(
        h,
        "<p class=\"note\">{}. {} synthetic and {} holdout records sampled; reference: all {} training-half records. \
         The holdout's 5th percentile is {}; within it: {} of synthetic vs {} of holdout records.</p>",
        esc(&d.method),
        d.synthetic_sampled,
        d.holdout_sampled,
        d.train_rows,
        d.threshold,
        pct(d.synthetic_within_threshold),
        pct(d.holdout_within_threshold)
    );
    let _ = writeln!(
        h,
        "<table><tr><th></th><th>min</th><th>5%</th><th>25%</th><th>50%</th><th>75%</th><th>95%</th><th>max</th>\
         <th>mean</th></tr>"
    );
    for (name, q) in [
        ("synthetic → train", &d.synthetic_to_train),
        ("holdout → train", &d.holdout_to_train),
    ] {
        let _ = writeln!(
            h,
            "<tr><th>{name}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.3}</td></tr>",
            q.min, q.p5, q.p25, q.p50, q.p75, q.p95, q.max, q.mean
        );
    }
    h.push_str("</table>\n<div class=\"plot\">");
    let cats: Vec<String> = (0..d.synthetic_histogram.len())
        .map(|i| i.to_string())
        .collect();
    h.push_str(&plot_or_error(bars_svg(
        "Distance to closest training record (columns that differ)",
        &cats,
        &d.holdout_histogram,
        &d.synthetic_histogram,
        ("real holdout", "synthetic"),
        (720, 300),
    )));
    let class = if r.risk.verdict.flagged { "flag" } else { "ok" };
    let _ = writeln!(
        h,
        "</div>\n<p class=\"{class}\">{}</p>",
        esc(&r.risk.verdict.text)
    );
}

fn definitions(h: &mut String) {
    h.push_str(
        "<h2>Definitions</h2>\n<ul class=\"note\">\n\
         <li>Marginal L1: sum over the cells of a set of k columns of |real share − synthetic share| (0 to 2); \
         TV = L1 / 2.</li>\n\
         <li>k-marginal score: 1000 × (1 − mean TV) = 500 × (2 − mean L1) over the evaluated 2-way marginals \
         (1000: identical).</li>\n\
         <li>Cramér's V: √(χ² / (n (m − 1))), m the smaller number of occupied levels, no bias correction.</li>\n\
         <li>TSTR: categorical naive Bayes (Laplace smoothing 1) trained on the real training half or on the \
         synthetic data, accuracy on the real holdout.</li>\n\
         <li>Risk: real rows split at random into a training half and a holdout; synthetic records are compared \
         with the training half, and so are holdout records as the baseline. The synthesizer saw both halves, so \
         a generator that copied records would show here at about half strength. Passing is not a privacy guarantee; the certificate is.</li>\n\
         </ul>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            short("abcdefghijklmnopqrstuvwxyz").chars().count(),
            MAX_LABEL
        );
    }

    #[test]
    fn bar_plot_is_inline_svg_with_escaped_text() {
        let cats = vec!["<script>".to_string(), "b&c".to_string()];
        let svg = bars_svg(
            "t<",
            &cats,
            &[0.5, 0.5],
            &[0.25, 0.75],
            ("real", "synthetic"),
            (400, 300),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("href"), "no external references");
    }
}
