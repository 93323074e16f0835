//! A realistic wide clinical table for scaling AIM with the number of columns (issue #16,
//! item 3): 60 columns of one hospital stay per row (demographics, 20 diagnoses, 20 labs
//! with missing cells, 5 vitals, the admission, 5 outcomes), with the dependencies a
//! clinician expects (age drives comorbidities, comorbidities drive labs and whether they
//! were measured at all, severity drives the ICU, length of stay and outcomes).
//! Synthetic from the start (a fixed seed, no real patients); written, not committed.
//!
//! `cargo run --release --example wide_clinical -- [OUT_DIR] [ROWS]` writes
//! `OUT_DIR/wide.csv` and its public schema `OUT_DIR/wide.schema.toml` (default
//! `/tmp/wide`, 50,000 rows). Then, e.g.:
//! `dpsynth synth --data /tmp/wide/wide.csv --schema /tmp/wide/wide.schema.toml --epsilon 1
//! --mechanism mst --out /tmp/wide-mst` (or `--mechanism aim`: with 60 columns and no
//! `--workload`, AIM's default workload is every 2-way marginal, `Workload::default_for`),
//! then `dpsynth evaluate --real /tmp/wide/wide.csv --synthetic /tmp/wide-mst/synthetic.csv
//! --schema /tmp/wide/wide.schema.toml --json` for the 1-, 2- and 3-way L1 (README, "Large
//! tables and peers", has the measured numbers).

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const SEED: u64 = 20_261_201;

fn normal(rng: &mut ChaCha20Rng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn pick<'a>(rng: &mut ChaCha20Rng, values: &[&'a str], weights: &[f64]) -> &'a str {
    let total: f64 = weights.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (v, w) in values.iter().zip(weights) {
        if u < *w {
            return v;
        }
        u -= w;
    }
    values[values.len() - 1]
}

const DIAGNOSES: [&str; 20] = [
    "diabetes",
    "hypertension",
    "ckd",
    "heart_failure",
    "copd",
    "asthma",
    "coronary_disease",
    "atrial_fibrillation",
    "stroke",
    "cancer",
    "liver_disease",
    "depression",
    "dementia",
    "obesity",
    "anemia",
    "hypothyroidism",
    "osteoporosis",
    "hiv",
    "sepsis",
    "pneumonia",
];

/// A lab: name, unit, public bounds, bin edges, decimals.
struct Lab {
    name: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
    edges: &'static [f64],
    decimals: u32,
}

const LABS: [Lab; 20] = [
    Lab {
        name: "glucose",
        unit: "mg/dL",
        min: 20.0,
        max: 800.0,
        edges: &[70.0, 100.0, 126.0, 180.0, 250.0],
        decimals: 0,
    },
    Lab {
        name: "hba1c",
        unit: "%",
        min: 3.0,
        max: 18.0,
        edges: &[5.7, 6.5, 8.0, 10.0],
        decimals: 1,
    },
    Lab {
        name: "creatinine",
        unit: "mg/dL",
        min: 0.1,
        max: 25.0,
        edges: &[0.7, 1.2, 2.0, 4.0],
        decimals: 2,
    },
    Lab {
        name: "sodium",
        unit: "mmol/L",
        min: 100.0,
        max: 180.0,
        edges: &[130.0, 135.0, 145.0, 150.0],
        decimals: 0,
    },
    Lab {
        name: "potassium",
        unit: "mmol/L",
        min: 1.5,
        max: 9.0,
        edges: &[3.0, 3.5, 5.0, 6.0],
        decimals: 1,
    },
    Lab {
        name: "hemoglobin",
        unit: "g/dL",
        min: 3.0,
        max: 22.0,
        edges: &[7.0, 10.0, 12.0, 16.0],
        decimals: 1,
    },
    Lab {
        name: "wbc",
        unit: "10^9/L",
        min: 0.1,
        max: 100.0,
        edges: &[4.0, 11.0, 20.0],
        decimals: 1,
    },
    Lab {
        name: "platelets",
        unit: "10^9/L",
        min: 5.0,
        max: 1500.0,
        edges: &[50.0, 150.0, 450.0],
        decimals: 0,
    },
    Lab {
        name: "albumin",
        unit: "g/dL",
        min: 1.0,
        max: 6.0,
        edges: &[2.5, 3.5],
        decimals: 1,
    },
    Lab {
        name: "alt",
        unit: "U/L",
        min: 1.0,
        max: 5000.0,
        edges: &[40.0, 120.0, 400.0],
        decimals: 0,
    },
    Lab {
        name: "ast",
        unit: "U/L",
        min: 1.0,
        max: 5000.0,
        edges: &[40.0, 120.0, 400.0],
        decimals: 0,
    },
    Lab {
        name: "bilirubin",
        unit: "mg/dL",
        min: 0.1,
        max: 40.0,
        edges: &[1.2, 3.0, 6.0],
        decimals: 1,
    },
    Lab {
        name: "ldl",
        unit: "mg/dL",
        min: 10.0,
        max: 400.0,
        edges: &[70.0, 100.0, 130.0, 160.0],
        decimals: 0,
    },
    Lab {
        name: "hdl",
        unit: "mg/dL",
        min: 5.0,
        max: 150.0,
        edges: &[40.0, 60.0],
        decimals: 0,
    },
    Lab {
        name: "triglycerides",
        unit: "mg/dL",
        min: 10.0,
        max: 3000.0,
        edges: &[150.0, 200.0, 500.0],
        decimals: 0,
    },
    Lab {
        name: "tsh",
        unit: "mIU/L",
        min: 0.01,
        max: 100.0,
        edges: &[0.4, 4.0, 10.0],
        decimals: 2,
    },
    Lab {
        name: "crp",
        unit: "mg/L",
        min: 0.1,
        max: 500.0,
        edges: &[5.0, 50.0, 150.0],
        decimals: 1,
    },
    Lab {
        name: "troponin",
        unit: "ng/L",
        min: 1.0,
        max: 50000.0,
        edges: &[14.0, 52.0, 500.0],
        decimals: 0,
    },
    Lab {
        name: "bnp",
        unit: "pg/mL",
        min: 5.0,
        max: 35000.0,
        edges: &[100.0, 400.0, 2000.0],
        decimals: 0,
    },
    Lab {
        name: "lactate",
        unit: "mmol/L",
        min: 0.2,
        max: 30.0,
        edges: &[2.0, 4.0],
        decimals: 1,
    },
];

/// One stay. Labs are `None` when not measured.
struct Stay {
    cats: Vec<String>,
    labs: Vec<Option<f64>>,
    tail: Vec<String>,
}

fn yn(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn stay(rng: &mut ChaCha20Rng) -> Stay {
    // Demographics.
    let age = (18.0 + 62.0 * rng.gen::<f64>().powf(0.8) + 8.0 * normal(rng)).clamp(18.0, 100.0);
    let old = (age - 60.0) / 15.0;
    let female = rng.gen::<f64>() < 0.52;
    let ethnicity = pick(
        rng,
        &["white", "black", "hispanic", "asian", "other"],
        &[60.0, 14.0, 16.0, 6.0, 4.0],
    );
    let insurance = if age >= 65.0 {
        pick(
            rng,
            &["medicare", "private", "medicaid", "self_pay"],
            &[80.0, 12.0, 6.0, 2.0],
        )
    } else {
        pick(
            rng,
            &["medicare", "private", "medicaid", "self_pay"],
            &[5.0, 60.0, 25.0, 10.0],
        )
    };
    let smoker = pick(
        rng,
        &["never", "former", "current"],
        &[
            50.0,
            30.0 + 10.0 * old.max(0.0),
            if female { 14.0 } else { 20.0 },
        ],
    );
    let smokes = smoker != "never";
    let bmi = (28.0 + 6.0 * normal(rng) - 1.5 * old.max(0.0)).clamp(13.0, 69.0);
    let bmi_known = rng.gen::<f64>() < 0.85;

    // Diagnoses: age, sex, smoking, BMI and earlier diagnoses drive later ones.
    let mut dx = [false; 20];
    let p = |x: f64, rng: &mut ChaCha20Rng| rng.gen::<f64>() < logistic(x);
    let obese = bmi >= 30.0;
    dx[13] = obese && p(1.5, rng);
    dx[0] = p(-1.8 + 0.6 * old + 1.2 * obese as u8 as f64, rng);
    dx[1] = p(
        -0.6 + 0.9 * old + 0.6 * obese as u8 as f64 + 0.4 * dx[0] as u8 as f64,
        rng,
    );
    dx[2] = p(
        -2.6 + 0.7 * old + 1.1 * dx[0] as u8 as f64 + 0.8 * dx[1] as u8 as f64,
        rng,
    );
    dx[6] = p(
        -2.4 + 0.8 * old
            + 0.7 * smokes as u8 as f64
            + 0.7 * dx[1] as u8 as f64
            + 0.5 * dx[0] as u8 as f64
            - 0.5 * female as u8 as f64,
        rng,
    );
    dx[3] = p(
        -3.0 + 0.8 * old
            + 1.2 * dx[6] as u8 as f64
            + 0.6 * dx[1] as u8 as f64
            + 0.5 * dx[2] as u8 as f64,
        rng,
    );
    dx[7] = p(
        -3.0 + 1.0 * old + 0.9 * dx[3] as u8 as f64 + 0.4 * dx[1] as u8 as f64,
        rng,
    );
    dx[8] = p(
        -3.4 + 0.7 * old + 0.9 * dx[7] as u8 as f64 + 0.5 * dx[1] as u8 as f64,
        rng,
    );
    dx[4] = p(
        -3.2 + 0.5 * old
            + 2.0 * (smoker == "current") as u8 as f64
            + 1.4 * (smoker == "former") as u8 as f64,
        rng,
    );
    dx[5] = p(
        -2.6 - 0.2 * old + 0.3 * female as u8 as f64 + 0.3 * obese as u8 as f64,
        rng,
    );
    dx[9] = p(-2.4 + 0.6 * old + 0.5 * smokes as u8 as f64, rng);
    dx[10] = p(-3.3 + 0.2 * old + 0.5 * obese as u8 as f64, rng);
    dx[11] = p(
        -1.8 + 0.4 * female as u8 as f64 + 0.3 * dx[9] as u8 as f64,
        rng,
    );
    dx[12] = p(-5.0 + 1.8 * old, rng);
    dx[14] = p(
        -2.4 + 0.3 * old
            + 1.0 * dx[2] as u8 as f64
            + 0.8 * dx[9] as u8 as f64
            + 0.4 * female as u8 as f64,
        rng,
    );
    dx[15] = p(-2.8 + 0.3 * old + 1.2 * female as u8 as f64, rng);
    dx[16] = p(-4.0 + 1.0 * old + 1.6 * female as u8 as f64, rng);
    dx[17] = p(-5.2 - 0.3 * old, rng);
    dx[19] = p(
        -2.6 + 0.4 * old + 0.9 * dx[4] as u8 as f64 + 0.5 * dx[17] as u8 as f64,
        rng,
    );
    dx[18] = p(
        -3.4 + 0.3 * old
            + 1.5 * dx[19] as u8 as f64
            + 0.6 * dx[9] as u8 as f64
            + 0.5 * dx[2] as u8 as f64,
        rng,
    );
    let d = |i: usize| dx[i] as u8 as f64;

    // Severity: a latent score that drives vitals, ICU, stay and outcomes.
    let severity = 0.3 * old
        + 1.6 * d(18)
        + 0.7 * d(19)
        + 0.6 * d(3)
        + 0.5 * d(9)
        + 0.4 * d(2)
        + 0.6 * normal(rng);

    // Labs: values follow the diagnoses; whether a lab was measured follows them too.
    let mut labs: Vec<Option<f64>> = Vec::with_capacity(20);
    let measured = |base: f64, rng: &mut ChaCha20Rng| rng.gen::<f64>() < logistic(base);
    let v = |mean: f64, sd: f64, rng: &mut ChaCha20Rng| mean + sd * normal(rng);
    let lognorm = |median: f64, s: f64, rng: &mut ChaCha20Rng| median * (s * normal(rng)).exp();
    let glucose = if d(0) > 0.0 {
        lognorm(170.0, 0.35, rng)
    } else {
        lognorm(100.0, 0.18, rng)
    } * (1.0 + 0.15 * d(18));
    labs.push(measured(2.5, rng).then_some(glucose));
    let hba1c = if d(0) > 0.0 {
        v(8.0, 1.5, rng)
    } else {
        v(5.5, 0.4, rng)
    };
    labs.push(measured(-1.5 + 3.0 * d(0), rng).then_some(hba1c));
    let creat = lognorm(
        0.9 + 0.15 * old.max(0.0) + 1.6 * d(2) + 0.5 * d(3) + 0.4 * d(18),
        0.25,
        rng,
    ) * if female { 0.85 } else { 1.0 };
    labs.push(measured(2.5, rng).then_some(creat));
    labs.push(measured(2.5, rng).then_some(v(139.0 - 2.0 * d(3) - 1.5 * d(10), 3.5, rng)));
    labs.push(measured(2.4, rng).then_some(v(4.2 + 0.5 * d(2), 0.45, rng)));
    let hb = v(
        if female { 12.8 } else { 14.2 } - 2.5 * d(14) - 1.0 * d(2) - 0.8 * d(9),
        1.3,
        rng,
    );
    labs.push(measured(2.5, rng).then_some(hb));
    labs.push(measured(2.4, rng).then_some(lognorm(
        7.5 * (1.0 + 0.8 * d(18) + 0.4 * d(19)),
        0.3,
        rng,
    )));
    labs.push(measured(2.3, rng).then_some(lognorm(
        250.0 * (1.0 - 0.3 * d(10) - 0.2 * d(18)),
        0.3,
        rng,
    )));
    labs.push(measured(0.0 + 0.8 * d(10) + 0.6 * d(18), rng).then_some(v(
        3.8 - 0.6 * d(10) - 0.5 * d(18) - 0.2 * severity.max(0.0),
        0.4,
        rng,
    )));
    let liver = 1.0 + 2.5 * d(10) + 0.8 * d(18);
    labs.push(measured(0.5 + 1.0 * d(10), rng).then_some(lognorm(25.0 * liver, 0.5, rng)));
    labs.push(measured(0.5 + 1.0 * d(10), rng).then_some(lognorm(27.0 * liver, 0.5, rng)));
    labs.push(measured(0.2 + 1.2 * d(10), rng).then_some(lognorm(
        0.7 * (1.0 + 2.0 * d(10)),
        0.45,
        rng,
    )));
    let ldl = v(115.0 - 25.0 * d(6) + 10.0 * d(0), 30.0, rng);
    labs.push(measured(-1.5 + 1.2 * d(6) + 0.8 * d(0) + 0.5 * d(1), rng).then_some(ldl));
    labs.push(
        measured(-1.5 + 1.2 * d(6) + 0.8 * d(0) + 0.5 * d(1), rng).then_some(v(
            52.0 + 10.0 * female as u8 as f64 - 6.0 * obese as u8 as f64,
            12.0,
            rng,
        )),
    );
    labs.push(
        measured(-1.6 + 1.2 * d(6) + 0.8 * d(0), rng).then_some(lognorm(
            140.0 * (1.0 + 0.4 * d(0) + 0.3 * obese as u8 as f64),
            0.45,
            rng,
        )),
    );
    labs.push(measured(-2.0 + 2.5 * d(15), rng).then_some(lognorm(
        if d(15) > 0.0 { 3.5 } else { 1.8 },
        0.6,
        rng,
    )));
    labs.push(
        measured(-0.8 + 1.5 * d(18) + 1.0 * d(19), rng).then_some(lognorm(
            5.0 * (1.0 + 15.0 * d(18) + 8.0 * d(19)),
            0.7,
            rng,
        )),
    );
    labs.push(
        measured(-1.0 + 1.5 * d(6) + 0.7 * d(3) + 0.5 * d(7), rng).then_some(lognorm(
            8.0 * (1.0 + 3.0 * d(6) + 1.0 * d(3) + 1.0 * d(2)),
            0.8,
            rng,
        )),
    );
    labs.push(measured(-1.6 + 2.5 * d(3), rng).then_some(lognorm(
        60.0 * (1.0 + 10.0 * d(3) + 1.0 * d(2)),
        0.7,
        rng,
    )));
    labs.push(measured(-1.5 + 2.5 * d(18), rng).then_some(lognorm(
        1.2 * (1.0 + 1.5 * d(18)) * (1.0 + 0.2 * severity.max(0.0)),
        0.35,
        rng,
    )));
    for (x, lab) in labs.iter_mut().zip(&LABS) {
        if let Some(v) = x {
            *v = v.clamp(lab.min, lab.max);
        }
    }

    // Vitals.
    let sbp = v(128.0 + 10.0 * d(1) + 4.0 * old - 12.0 * d(18), 16.0, rng).clamp(60.0, 240.0);
    let hr = v(80.0 + 14.0 * d(18) + 8.0 * d(19) + 10.0 * d(7), 13.0, rng).clamp(30.0, 200.0);
    let rr = v(17.0 + 4.0 * d(19) + 3.0 * d(4) + 3.0 * d(18), 3.0, rng).clamp(6.0, 50.0);
    let temp = v(36.9 + 1.2 * d(18) + 0.9 * d(19), 0.45, rng).clamp(33.0, 42.0);
    let spo2 =
        (97.0 - 4.0 * d(19) - 3.0 * d(4) - 2.0 * d(3) + 1.8 * normal(rng)).clamp(60.0, 100.0);

    // Admission.
    let emergency = p(-0.2 + 0.8 * severity, rng);
    let adm = if emergency {
        "emergency"
    } else {
        pick(
            rng,
            &["urgent", "elective", "transfer"],
            &[40.0, 45.0, 15.0],
        )
    };
    let ward = if d(18) + d(19) > 0.0 {
        pick(
            rng,
            &["medicine", "pulmonary", "icu_step_down"],
            &[60.0, 25.0, 15.0],
        )
    } else if d(3) + d(6) + d(7) > 0.0 {
        pick(rng, &["cardiology", "medicine"], &[70.0, 30.0])
    } else if adm == "elective" {
        pick(
            rng,
            &["surgery", "orthopedics", "oncology"],
            &[50.0, 30.0, 20.0],
        )
    } else {
        pick(
            rng,
            &["medicine", "surgery", "neurology", "oncology"],
            &[55.0, 20.0, 12.0 + 30.0 * d(8), 8.0 + 30.0 * d(9)],
        )
    };
    let icu = p(-2.6 + 1.1 * severity, rng);
    let los = lognorm(
        3.5 * (1.0 + 0.35 * severity.max(-1.0)) * if icu { 2.0 } else { 1.0 },
        0.55,
        rng,
    )
    .clamp(0.0, 120.0)
    .round();

    // Outcomes.
    let vent = icu && p(-1.0 + 0.8 * severity + 0.8 * d(19), rng);
    let dialysis = p(-5.0 + 3.2 * d(2) + 0.8 * severity, rng);
    let died = p(-4.6 + 1.1 * severity + 1.2 * vent as u8 as f64, rng);
    let discharge = if died {
        "died"
    } else if old > 1.0 && (los > 7.0 || d(12) > 0.0) {
        pick(rng, &["home", "rehab", "nursing_home"], &[30.0, 30.0, 40.0])
    } else {
        pick(rng, &["home", "rehab", "nursing_home"], &[85.0, 10.0, 5.0])
    };
    let readmit = !died && p(-2.3 + 0.4 * d(3) + 0.4 * d(2) + 0.3 * d(4) + 0.2 * old, rng);

    let mut cats = vec![
        format!("{}", age.round() as i64),
        if female { "F" } else { "M" }.into(),
        ethnicity.into(),
        insurance.into(),
        smoker.into(),
        if bmi_known {
            format!("{bmi:.1}")
        } else {
            String::new()
        },
    ];
    cats.extend(dx.iter().map(|&b| yn(b)));
    let tail = vec![
        format!("{sbp:.0}"),
        format!("{hr:.0}"),
        format!("{rr:.0}"),
        format!("{temp:.1}"),
        format!("{spo2:.0}"),
        adm.into(),
        ward.into(),
        yn(icu),
        format!("{los:.0}"),
        yn(died),
        yn(readmit),
        discharge.into(),
        yn(vent),
        yn(dialysis),
    ];
    Stay { cats, labs, tail }
}

fn header() -> Vec<String> {
    let mut h: Vec<String> = ["age", "sex", "ethnicity", "insurance", "smoker", "bmi"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(DIAGNOSES.iter().map(|s| s.to_string()));
    h.extend(LABS.iter().map(|l| l.name.to_string()));
    h.extend(
        [
            "systolic_bp",
            "heart_rate",
            "resp_rate",
            "temperature",
            "spo2",
            "admission_type",
            "ward",
            "icu",
            "length_of_stay",
            "died",
            "readmitted_30d",
            "discharge",
            "ventilated",
            "dialysis",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    h
}

fn categorical(s: &mut String, name: &str, values: &[&str]) {
    let list: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    let _ = writeln!(
        s,
        "\n[[columns]]\nname = \"{name}\"\nkind = \"categorical\"\nvalues = [{}]",
        list.join(", ")
    );
}

#[allow(clippy::too_many_arguments)]
fn numeric(
    s: &mut String,
    name: &str,
    kind: &str,
    min: f64,
    max: f64,
    edges: &[f64],
    decimals: Option<u32>,
    missing: bool,
) {
    let num = |v: f64| {
        if kind == "integer" {
            format!("{}", v as i64)
        } else {
            format!("{v:?}")
        }
    };
    let e: Vec<String> = edges.iter().map(|&v| num(v)).collect();
    let _ = writeln!(
        s,
        "\n[[columns]]\nname = \"{name}\"\nkind = \"{kind}\"\nmin = {}\nmax = {}\nbin_edges = [{}]",
        num(min),
        num(max),
        e.join(", ")
    );
    if let Some(d) = decimals {
        let _ = writeln!(s, "decimals = {d}");
    }
    if missing {
        let _ = writeln!(
            s,
            "missing = \"category\"\nmissing_label = \"not measured\""
        );
    }
}

fn schema() -> String {
    let mut s = String::from(
        "# Public schema of the synthetic wide clinical table written by examples/wide_clinical.rs:\n\
         # one hospital stay per row; bounds and bins from clinical plausibility, not from data.\n\
         description = \"Wide synthetic clinical table (60 columns, no real patients)\"\n",
    );
    numeric(
        &mut s,
        "age",
        "integer",
        18.0,
        100.0,
        &[30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
        None,
        false,
    );
    categorical(&mut s, "sex", &["F", "M"]);
    categorical(
        &mut s,
        "ethnicity",
        &["white", "black", "hispanic", "asian", "other"],
    );
    categorical(
        &mut s,
        "insurance",
        &["medicare", "private", "medicaid", "self_pay"],
    );
    categorical(&mut s, "smoker", &["never", "former", "current"]);
    numeric(
        &mut s,
        "bmi",
        "float",
        12.0,
        70.0,
        &[18.5, 25.0, 30.0, 35.0, 40.0],
        Some(1),
        true,
    );
    for dx in DIAGNOSES {
        categorical(&mut s, dx, &["no", "yes"]);
    }
    for lab in &LABS {
        let _ = lab.unit;
        numeric(
            &mut s,
            lab.name,
            "float",
            lab.min,
            lab.max,
            lab.edges,
            Some(lab.decimals),
            true,
        );
    }
    numeric(
        &mut s,
        "systolic_bp",
        "integer",
        60.0,
        240.0,
        &[90.0, 120.0, 140.0, 160.0],
        None,
        false,
    );
    numeric(
        &mut s,
        "heart_rate",
        "integer",
        30.0,
        200.0,
        &[60.0, 100.0, 120.0],
        None,
        false,
    );
    numeric(
        &mut s,
        "resp_rate",
        "integer",
        6.0,
        50.0,
        &[12.0, 20.0, 24.0],
        None,
        false,
    );
    numeric(
        &mut s,
        "temperature",
        "float",
        33.0,
        42.0,
        &[36.0, 37.5, 38.5],
        Some(1),
        false,
    );
    numeric(
        &mut s,
        "spo2",
        "integer",
        60.0,
        100.0,
        &[88.0, 92.0, 95.0],
        None,
        false,
    );
    categorical(
        &mut s,
        "admission_type",
        &["emergency", "urgent", "elective", "transfer"],
    );
    categorical(
        &mut s,
        "ward",
        &[
            "medicine",
            "pulmonary",
            "icu_step_down",
            "cardiology",
            "surgery",
            "orthopedics",
            "oncology",
            "neurology",
        ],
    );
    categorical(&mut s, "icu", &["no", "yes"]);
    numeric(
        &mut s,
        "length_of_stay",
        "integer",
        0.0,
        120.0,
        &[1.0, 3.0, 7.0, 14.0, 30.0],
        None,
        false,
    );
    categorical(&mut s, "died", &["no", "yes"]);
    categorical(&mut s, "readmitted_30d", &["no", "yes"]);
    categorical(
        &mut s,
        "discharge",
        &["home", "rehab", "nursing_home", "died"],
    );
    categorical(&mut s, "ventilated", &["no", "yes"]);
    categorical(&mut s, "dialysis", &["no", "yes"]);
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/wide".into()));
    let rows: usize = args.next().map_or(Ok(50_000), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut w = csv::Writer::from_path(dir.join("wide.csv"))?;
    let h = header();
    assert_eq!(h.len(), 60);
    w.write_record(&h)?;
    for _ in 0..rows {
        let st = stay(&mut rng);
        let mut rec = st.cats;
        for (x, lab) in st.labs.iter().zip(&LABS) {
            rec.push(match x {
                Some(v) => format!("{v:.*}", lab.decimals as usize),
                None => String::new(),
            });
        }
        rec.extend(st.tail);
        w.write_record(&rec)?;
    }
    w.flush()?;
    std::fs::write(dir.join("wide.schema.toml"), schema())?;
    eprintln!("wrote {} rows x 60 columns to {}", rows, dir.display());
    Ok(())
}
