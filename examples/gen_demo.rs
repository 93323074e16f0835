//! Generates the demo hospital-admissions table `examples/data/admissions.csv`.
//!
//! The table is synthetic from the start (no real patient is behind it) but has the
//! dependencies a clinician would expect, so that a synthesizer has something to learn:
//!
//! - age and sex drive the diagnosis mix (children: respiratory, injury, infection; women of
//!   child-bearing age: obstetric; older patients: cardiac, stroke (neuro), renal, cancer);
//! - the diagnosis drives the admission type, the ward and the length of stay;
//! - ICU admission depends on diagnosis, age and emergency admission, and lengthens the stay;
//! - creatinine rises with age and is high in renal disease, higher in men; it is not
//!   measured for some patients (missing cells), more often in elective and young patients;
//! - in-hospital death depends strongly on ICU, on age, on cancer and on kidney function;
//!   older patients are more often discharged to home care or transferred;
//! - insurance follows age (public cover from 65); 30-day readmission is more common for
//!   chronic conditions and older patients, and impossible after death;
//! - respiratory and infection admissions peak in winter; elective admissions avoid weekends.
//!
//! Run: `cargo run --example gen_demo [OUT.csv]`. The seed is fixed, so the file is
//! reproducible byte for byte.

use std::path::PathBuf;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const ROWS: usize = 20_000;
const SEED: u64 = 20_240_601;

const DIAGNOSES: [&str; 10] = [
    "cardiac",
    "respiratory",
    "neuro",
    "digestive",
    "injury",
    "infection",
    "oncology",
    "renal",
    "obstetric",
    "other",
];

/// Draws an index with probability proportional to `w`.
fn pick(rng: &mut ChaCha20Rng, w: &[f64]) -> usize {
    let total: f64 = w.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, &x) in w.iter().enumerate() {
        if u < x {
            return i;
        }
        u -= x;
    }
    w.len() - 1
}

/// A standard normal draw (Box-Muller), to avoid a dependency for one distribution.
fn normal(rng: &mut ChaCha20Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn chance(rng: &mut ChaCha20Rng, p: f64) -> bool {
    rng.gen::<f64>() < p.clamp(0.0, 1.0)
}

fn age(rng: &mut ChaCha20Rng) -> u32 {
    let (lo, hi) = match pick(rng, &[0.08, 0.24, 0.28, 0.31, 0.09]) {
        0 => (0, 17),
        1 => (18, 44),
        2 => (45, 64),
        3 => (65, 84),
        _ => (85, 102),
    };
    rng.gen_range(lo..=hi)
}

fn diagnosis(rng: &mut ChaCha20Rng, age: u32, female: bool) -> usize {
    // weights over DIAGNOSES
    let w: [f64; 10] = if age < 18 {
        [0.2, 3.0, 0.5, 1.5, 2.5, 2.0, 0.3, 0.2, 0.0, 1.0]
    } else if age < 45 {
        let obst = if female { 4.0 } else { 0.0 };
        [0.8, 1.0, 0.6, 2.0, 2.5, 1.2, 0.6, 0.4, obst, 1.2]
    } else if age < 65 {
        [2.8, 1.4, 1.2, 2.0, 1.2, 1.0, 1.8, 0.8, 0.0, 1.0]
    } else if age < 85 {
        [3.5, 2.2, 2.0, 1.5, 1.0, 1.4, 1.8, 1.3, 0.0, 0.8]
    } else {
        [3.2, 2.8, 2.4, 1.0, 1.6, 2.0, 0.9, 1.5, 0.0, 0.8]
    };
    let mut w = w;
    if !female {
        w[0] *= 1.3; // cardiac
        w[4] *= 1.3; // injury
    }
    pick(rng, &w)
}

fn admission_type(rng: &mut ChaCha20Rng, dx: &str) -> &'static str {
    const T: [&str; 4] = ["emergency", "urgent", "elective", "transfer"];
    let w = match dx {
        "cardiac" => [0.70, 0.15, 0.08, 0.07],
        "respiratory" | "infection" => [0.72, 0.18, 0.04, 0.06],
        "neuro" => [0.70, 0.12, 0.08, 0.10],
        "injury" => [0.85, 0.08, 0.04, 0.03],
        "digestive" => [0.50, 0.20, 0.27, 0.03],
        "oncology" => [0.25, 0.15, 0.55, 0.05],
        "renal" => [0.45, 0.25, 0.22, 0.08],
        "obstetric" => [0.25, 0.45, 0.30, 0.00],
        _ => [0.50, 0.20, 0.25, 0.05],
    };
    T[pick(rng, &w)]
}

fn ward(rng: &mut ChaCha20Rng, dx: &str, age: u32) -> &'static str {
    if age < 16 {
        return "pediatrics";
    }
    let (names, w): (&[&'static str], &[f64]) = match dx {
        "cardiac" => (&["cardiology", "general_medicine"], &[0.8, 0.2]),
        "respiratory" => (&["respiratory", "general_medicine"], &[0.6, 0.4]),
        "neuro" => (&["neurology", "general_medicine"], &[0.75, 0.25]),
        "digestive" => (&["surgery", "general_medicine"], &[0.55, 0.45]),
        "injury" => (&["orthopedics", "surgery"], &[0.7, 0.3]),
        "infection" => (&["general_medicine", "respiratory"], &[0.85, 0.15]),
        "oncology" => (&["oncology", "surgery"], &[0.75, 0.25]),
        "renal" => (&["nephrology", "general_medicine"], &[0.7, 0.3]),
        "obstetric" => (&["maternity"], &[1.0]),
        _ => (&["general_medicine", "surgery"], &[0.7, 0.3]),
    };
    names[pick(rng, w)]
}

fn admission_date(rng: &mut ChaCha20Rng, dx: &str, kind: &str) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default();
    let seasonal = matches!(dx, "respiratory" | "infection");
    loop {
        let d = start + Days::new(rng.gen_range(0..1095));
        let winter = matches!(d.month(), 12 | 1 | 2);
        if seasonal && !winter && !chance(rng, 0.55) {
            continue;
        }
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if kind == "elective" && weekend && !chance(rng, 0.1) {
            continue;
        }
        return d;
    }
}

struct Row {
    id: usize,
    age: u32,
    female: bool,
    kind: &'static str,
    dx: &'static str,
    ward: &'static str,
    los: u32,
    icu: bool,
    outcome: &'static str,
    date: NaiveDate,
    creatinine: Option<f64>,
    insurance: &'static str,
    readmitted: bool,
}

fn row(rng: &mut ChaCha20Rng, id: usize) -> Row {
    let age = age(rng);
    let female = chance(rng, 0.52);
    let dx = DIAGNOSES[diagnosis(rng, age, female)];
    let kind = admission_type(rng, dx);
    let ward = ward(rng, dx, age);
    let old = age as f64 / 100.0;

    let icu_base = match dx {
        "cardiac" => 0.16,
        "neuro" => 0.13,
        "respiratory" => 0.10,
        "infection" => 0.11,
        "injury" => 0.09,
        "renal" => 0.07,
        "oncology" => 0.05,
        "digestive" => 0.05,
        "obstetric" => 0.01,
        _ => 0.04,
    };
    let icu_factor = if kind == "emergency" { 1.4 } else { 0.7 } * (0.6 + old);
    let icu = chance(rng, icu_base * icu_factor);

    // Length of stay: log-normal by diagnosis, longer with ICU and age.
    let median = match dx {
        "obstetric" => 2.2,
        "digestive" => 3.5,
        "cardiac" => 4.0,
        "respiratory" | "infection" => 4.5,
        "injury" => 5.0,
        "renal" => 5.0,
        "neuro" => 6.5,
        "oncology" => 6.0,
        _ => 3.0,
    } * (0.7 + 0.6 * old)
        * if icu { 2.2 } else { 1.0 };
    let los = (median * (0.55 * normal(rng)).exp())
        .round()
        .clamp(0.0, 120.0) as u32;

    // Creatinine (mg/dL): higher in men, with age, and in renal disease; sometimes not measured.
    let mut crea = if female { 0.72 } else { 0.92 } * (1.0 + 0.5 * (old - 0.4).max(0.0));
    if age < 16 {
        crea *= 0.55;
    }
    if dx == "renal" {
        crea *= 2.4 + rng.gen::<f64>() * 2.5;
    } else if icu && chance(rng, 0.3) {
        crea *= 1.8; // acute kidney injury
    }
    crea *= (0.18 * normal(rng)).exp();
    let not_measured = match kind {
        "elective" => 0.25,
        _ => 0.06,
    } + if age < 18 { 0.2 } else { 0.0 }
        + if dx == "obstetric" { 0.3 } else { 0.0 };
    let creatinine = (!chance(rng, not_measured)).then_some((crea * 100.0).round() / 100.0);

    // Outcome: death driven by ICU, age, cancer, kidney function.
    let mut p_death = 0.004 + 0.03 * old * old;
    if icu {
        p_death += 0.14 + 0.12 * old;
    }
    if dx == "oncology" {
        p_death += 0.05;
    }
    if dx == "obstetric" {
        p_death = 0.0005;
    }
    if let Some(c) = creatinine {
        if c > 2.0 {
            p_death += 0.04;
        }
    }
    let outcome = if chance(rng, p_death) {
        "deceased"
    } else if chance(
        rng,
        if matches!(dx, "neuro" | "injury") {
            0.08 + 0.3 * old
        } else {
            0.03 + 0.1 * old
        },
    ) {
        "transfer"
    } else if chance(rng, if age >= 75 { 0.35 } else { 0.06 }) {
        "home_care"
    } else {
        "home"
    };

    let insurance = if age >= 65 {
        ["public", "private", "self_pay", "other"][pick(rng, &[0.86, 0.12, 0.01, 0.01])]
    } else if age < 18 {
        ["public", "private", "self_pay", "other"][pick(rng, &[0.45, 0.52, 0.02, 0.01])]
    } else {
        ["public", "private", "self_pay", "other"][pick(rng, &[0.30, 0.58, 0.10, 0.02])]
    };

    let p_readmit = match dx {
        "cardiac" | "renal" => 0.17,
        "oncology" => 0.20,
        "respiratory" => 0.13,
        "obstetric" => 0.02,
        _ => 0.08,
    } * (0.6 + old);
    let readmitted = outcome != "deceased" && chance(rng, p_readmit);
    let date = admission_date(rng, dx, kind);

    Row {
        id,
        age,
        female,
        kind,
        dx,
        ward,
        los,
        icu,
        outcome,
        date,
        creatinine,
        insurance,
        readmitted,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/admissions.csv")
        });
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut w = csv::Writer::from_path(&out)?;
    w.write_record([
        "patient_id",
        "age",
        "sex",
        "admission_type",
        "diagnosis_group",
        "ward",
        "length_of_stay",
        "icu",
        "discharge_outcome",
        "admission_date",
        "creatinine",
        "insurance",
        "readmitted_30d",
    ])?;
    let yn = |b: bool| if b { "yes" } else { "no" };
    for i in 0..ROWS {
        let r = row(&mut rng, i + 1);
        w.write_record([
            format!("P{:05}", r.id),
            r.age.to_string(),
            (if r.female { "F" } else { "M" }).to_string(),
            r.kind.to_string(),
            r.dx.to_string(),
            r.ward.to_string(),
            r.los.to_string(),
            yn(r.icu).to_string(),
            r.outcome.to_string(),
            r.date.format("%Y-%m-%d").to_string(),
            r.creatinine.map(|c| format!("{c:.2}")).unwrap_or_default(),
            r.insurance.to_string(),
            yn(r.readmitted).to_string(),
        ])?;
    }
    w.flush()?;
    eprintln!("wrote {} rows to {}", ROWS, out.display());
    Ok(())
}
