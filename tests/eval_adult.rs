//! The evaluation on adult agrees with straightforward row-loop computations, and its outputs
//! are marked internal and self-contained.

mod common;

use dpsynth::data::{Codes, EncodedTable};
use dpsynth::eval::{evaluate, independent_baseline, render_html, EvalError, EvalOptions, NOTICE};
use dpsynth::marginal::{all_k_way, Domain};

/// Adult's income column, the TSTR target.
const INCOME: usize = 14;

/// A synthetic stand-in of a different size from the real table: the independence baseline,
/// cut to 30,000 rows, so that normalising by each table's own row count is exercised.
fn stand_in(real: &EncodedTable) -> EncodedTable {
    let shuffled = independent_baseline(real, 42);
    let rows: Vec<Vec<u32>> = (0..30_000).map(|r| shuffled.row(r)).collect();
    EncodedTable::from_rows(real.names().to_vec(), real.cardinalities().to_vec(), &rows).unwrap()
}

/// Shares of every cell of `attrs` by a plain loop over rows.
fn brute_shares(rows: &[Vec<u32>], sizes: &[usize], attrs: &[usize]) -> Vec<f64> {
    let cells: usize = attrs.iter().map(|&a| sizes[a]).product();
    let mut c = vec![0u64; cells];
    for row in rows {
        let mut idx = 0usize;
        for &a in attrs {
            idx = idx * sizes[a] + row[a] as usize;
        }
        c[idx] += 1;
    }
    c.iter().map(|&x| x as f64 / rows.len() as f64).collect()
}

fn rows_of(t: &EncodedTable) -> Vec<Vec<u32>> {
    (0..t.n_rows()).map(|r| t.row(r)).collect()
}

fn opts() -> EvalOptions {
    // A small DCR sample keeps the debug-build test quick; the bench runs the full default.
    EvalOptions {
        dcr_sample: 300,
        target: Some(INCOME),
        ..EvalOptions::default()
    }
}

#[test]
fn marginal_errors_match_row_loop_on_adult() {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let synth = stand_in(&real);
    let report = evaluate(&real, &synth, &domain, &opts()).unwrap();
    let (rr, sr) = (rows_of(&real), rows_of(&synth));
    let sizes = domain.sizes();

    for k in 1..=3 {
        let m = report.fidelity.marginals.iter().find(|m| m.k == k).unwrap();
        let cliques = all_k_way(domain.len(), k);
        assert_eq!(m.all.len(), cliques.len(), "k = {k}: all cliques evaluated");
        assert!(!m.sampled);
        let mut sum = 0.0;
        let mut max = 0.0f64;
        for (c, e) in cliques.iter().zip(&m.all) {
            assert_eq!(c.attrs(), e.attrs.as_slice());
            let p = brute_shares(&rr, sizes, c.attrs());
            let q = brute_shares(&sr, sizes, c.attrs());
            let l1: f64 = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum();
            assert!(
                (l1 - e.l1).abs() <= 1e-9,
                "clique {:?}: {} vs {}",
                c.attrs(),
                e.l1,
                l1
            );
            sum += l1;
            max = max.max(l1);
        }
        let mean = sum / cliques.len() as f64;
        assert!((m.mean_l1 - mean).abs() <= 1e-9);
        assert!((m.max_l1 - max).abs() <= 1e-9);
        assert!((m.worst[0].l1 - max).abs() <= 1e-9);
        if k == 2 {
            let score = report.fidelity.k_marginal_score.unwrap();
            assert!((score - 500.0 * (2.0 - mean)).abs() <= 1e-6);
            assert!((score - 1000.0 * (1.0 - mean / 2.0)).abs() <= 1e-6);
        }
    }

    for (i, c) in report.fidelity.column_tv.iter().enumerate() {
        let p = brute_shares(&rr, sizes, &[i]);
        let q = brute_shares(&sr, sizes, &[i]);
        let tv = 0.5 * p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>();
        assert_eq!(c.column, domain.name(i));
        assert!((c.tv - tv).abs() <= 1e-9);
    }

    // Cramér's V of every pair, by the textbook sum of (O - E)^2 / E over occupied levels.
    let a = &report.fidelity.associations;
    for c in all_k_way(domain.len(), 2) {
        let (i, j) = (c.attrs()[0], c.attrs()[1]);
        for (rows, got) in [(&rr, a.real[i][j]), (&sr, a.synthetic[i][j])] {
            let joint = brute_shares(rows, sizes, &[i, j]);
            let pi = brute_shares(rows, sizes, &[i]);
            let pj = brute_shares(rows, sizes, &[j]);
            let n = rows.len() as f64;
            let mut chi2 = 0.0;
            for (x, &px) in pi.iter().enumerate() {
                for (y, &py) in pj.iter().enumerate() {
                    if px > 0.0 && py > 0.0 {
                        let e = n * px * py;
                        let o = n * joint[x * sizes[j] + y];
                        chi2 += (o - e) * (o - e) / e;
                    }
                }
            }
            let m = pi
                .iter()
                .filter(|&&p| p > 0.0)
                .count()
                .min(pj.iter().filter(|&&p| p > 0.0).count());
            let v = (chi2 / (n * (m as f64 - 1.0))).sqrt();
            let got = got.unwrap();
            assert!((got - v).abs() <= 1e-9, "V({i},{j}) {got} vs {v}");
        }
        let d = a.abs_diff[i][j].unwrap();
        assert!((d - (a.real[i][j].unwrap() - a.synthetic[i][j].unwrap()).abs()).abs() <= 1e-15);
    }

    // Shuffling columns keeps naive Bayes' per-column information only through the (exact)
    // class marginal, so the synthetic-trained classifier is no better than real-trained.
    let t = report.tstr.as_ref().unwrap();
    assert_eq!(t.target, "income>50K");
    assert!(t.real_to_real > t.majority_baseline, "{t:?}");
    assert!(t.synthetic_to_real <= t.real_to_real + 1e-12, "{t:?}");
}

#[test]
fn pearson_for_numeric_pairs_matches_row_loop() {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let synth = stand_in(&real);
    let mut numeric = vec![false; domain.len()];
    numeric[0] = true; // age
    numeric[12] = true; // hours-per-week
    let o = EvalOptions {
        numeric,
        dcr_sample: 0,
        ..EvalOptions::default()
    };
    let report = evaluate(&real, &synth, &domain, &o).unwrap();
    let rows = rows_of(&real);
    let n = rows.len() as f64;
    let mean = |c: usize| rows.iter().map(|r| r[c] as f64).sum::<f64>() / n;
    let (m0, m12) = (mean(0), mean(12));
    let cov = rows
        .iter()
        .map(|r| (r[0] as f64 - m0) * (r[12] as f64 - m12))
        .sum::<f64>();
    let v0 = rows.iter().map(|r| (r[0] as f64 - m0).powi(2)).sum::<f64>();
    let v12 = rows
        .iter()
        .map(|r| (r[12] as f64 - m12).powi(2))
        .sum::<f64>();
    let r = cov / (v0 * v12).sqrt();
    let got = report.fidelity.associations.real[0][12].unwrap();
    assert!((got - r).abs() <= 1e-9, "{got} vs {r}");
    assert!(report.risk.dcr.is_none());
}

#[test]
fn outputs_are_marked_internal_and_self_contained() {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let synth = stand_in(&real);
    let report = evaluate(&real, &synth, &domain, &opts()).unwrap();

    assert_eq!(report.summary_text().lines().next(), Some(NOTICE));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["notice"], NOTICE);
    assert!(report.to_json().trim_start().starts_with("{\n  \"notice\""));

    let labels: Vec<Vec<String>> = domain
        .sizes()
        .iter()
        .map(|&s| (0..s).map(|c| format!("<v{c}>")).collect())
        .collect();
    let html = render_html(
        &report,
        &labels,
        &real,
        &synth,
        &domain,
        Some("rho = 0.5 <zCDP> & more"),
    );
    let body = &html[html.find("<body>").unwrap()..];
    let first_text = body.split('>').nth(2).unwrap().split('<').next().unwrap();
    assert_eq!(first_text, NOTICE, "first visible line");
    assert!(html.contains("rho = 0.5 &lt;zCDP&gt; &amp; more"));
    assert!(!html.contains("<v1>"), "labels escaped");
    assert!(html.contains("&lt;v1&gt;"));
    for banned in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(!html.contains(banned), "report must not contain {banned}");
    }
    // The only URL is the SVG namespace, which is not fetched.
    let urls = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(urls, html.matches("http://www.w3.org/2000/svg").count());
    assert_eq!(
        html.matches("<svg").count(),
        domain.len() + 2,
        "one plot per column, heatmap, DCR"
    );
}

#[test]
fn copying_is_flagged_and_the_baseline_is_not() {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let o = EvalOptions {
        dcr_sample: 500,
        ..EvalOptions::default()
    };
    let copy = evaluate(&real, &real, &domain, &o).unwrap();
    assert!(copy.risk.verdict.flagged, "{}", copy.risk.verdict.text);
    assert!((copy.risk.synthetic_in_real_share - 1.0).abs() < 1e-12);
    assert!(copy.fidelity.marginals.iter().all(|m| m.max_l1 == 0.0));
    assert_eq!(copy.fidelity.k_marginal_score, Some(1000.0));

    let base = evaluate(&real, &independent_baseline(&real, 7), &domain, &o).unwrap();
    assert!(!base.risk.verdict.flagged, "{}", base.risk.verdict.text);
    assert!(
        base.fidelity.column_tv.iter().all(|c| c.tv.abs() < 1e-12),
        "shuffling keeps 1-way marginals"
    );
}

#[test]
fn max_marginals_samples_reproducibly() {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let synth = stand_in(&real);
    let o = EvalOptions {
        max_marginals: Some(40),
        dcr_sample: 0,
        ..EvalOptions::default()
    };
    let a = evaluate(&real, &synth, &domain, &o).unwrap();
    let b = evaluate(&real, &synth, &domain, &o).unwrap();
    let m3 = &a.fidelity.marginals[2];
    assert_eq!(
        (m3.evaluated, m3.total_cliques, m3.sampled),
        (40, 455, true)
    );
    assert_eq!(m3.all, b.fidelity.marginals[2].all);
    assert_eq!(
        a.fidelity.column_tv.len(),
        domain.len(),
        "column TV never sampled"
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let names = vec!["a".to_string(), "b".to_string()];
    let domain = Domain::new(names.clone(), vec![2, 3]);
    let t = EncodedTable::from_rows(
        names.clone(),
        vec![2, 3],
        &[vec![0, 1], vec![1, 2], vec![0, 0]],
    )
    .unwrap();
    let o = EvalOptions::default();

    let narrow = EncodedTable::from_rows(vec!["a".into()], vec![2], &[vec![0]]).unwrap();
    assert!(matches!(
        evaluate(&t, &narrow, &domain, &o),
        Err(EvalError::ColumnCount { .. })
    ));

    let other = EncodedTable::from_rows(names.clone(), vec![2, 4], &[vec![0, 3]]).unwrap();
    assert!(matches!(
        evaluate(&t, &other, &domain, &o),
        Err(EvalError::ColumnMismatch { .. })
    ));

    // Built column by column, codes are not checked against the cardinality.
    let mut a = Codes::with_cardinality(2, 1);
    a.push(0);
    let mut b = Codes::with_cardinality(3, 1);
    b.push(7);
    let bad = EncodedTable::new(names.clone(), vec![2, 3], vec![a, b]).unwrap();
    assert!(matches!(
        evaluate(&t, &bad, &domain, &o),
        Err(EvalError::CodeOutOfRange { code: 7, .. })
    ));

    let one = EncodedTable::from_rows(names.clone(), vec![2, 3], &[vec![0, 1]]).unwrap();
    assert!(matches!(
        evaluate(&one, &t, &domain, &o),
        Err(EvalError::TooFewRows { .. })
    ));
    let empty = EncodedTable::from_rows(names.clone(), vec![2, 3], &[]).unwrap();
    assert!(matches!(
        evaluate(&t, &empty, &domain, &o),
        Err(EvalError::TooFewRows { .. })
    ));

    let o2 = EvalOptions {
        numeric: vec![true],
        ..EvalOptions::default()
    };
    assert!(matches!(
        evaluate(&t, &t, &domain, &o2),
        Err(EvalError::NumericLength { .. })
    ));
    let o3 = EvalOptions {
        target: Some(2),
        ..EvalOptions::default()
    };
    assert!(matches!(
        evaluate(&t, &t, &domain, &o3),
        Err(EvalError::TargetOutOfRange { .. })
    ));

    // Tiny but valid input works end to end, HTML included.
    let r = evaluate(
        &t,
        &t,
        &domain,
        &EvalOptions {
            target: Some(1),
            ..EvalOptions::default()
        },
    )
    .unwrap();
    let html = render_html(&r, &[], &t, &t, &domain, None);
    assert!(html.contains("no guarantee is claimed"));
}
