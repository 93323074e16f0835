//! Generates the demo hospital-admissions table `examples/data/admissions.csv`.
//!
//! The table is synthetic from the start (no real patient is behind it) but has the structure
//! and the dependencies a clinician would expect, so that a synthesizer has something to learn
//! and rules to obey:
//!
//! - **patients with several admissions**: most patients are admitted once, a good share 2 to
//!   6 times, a few (chronic cardiac, renal and cancer patients) more often; `patient_id`
//!   repeats across a patient's rows, which keep the same sex, ages that follow the dates
//!   (one birth date per patient), a per-patient kidney baseline, mostly the same payer and
//!   often the same diagnosis;
//! - age and sex drive the diagnosis mix (children: respiratory, injury, infection; women of
//!   child-bearing age: obstetric; older patients: cardiac, stroke (neuro), renal, cancer);
//! - the diagnosis drives the admission type, the ward and the length of stay (discharge date
//!   minus admission date); children under 16 are on the paediatric ward and nobody else is;
//!   only women are on the maternity ward;
//! - ICU admission depends on diagnosis, age and emergency admission, and lengthens the stay;
//! - creatinine rises with age and is high in renal disease, higher in men: a skewed lab value
//!   (most values 0.5 to 1.5 mg/dL, a long tail to about 13) whose public bound is 25; it is
//!   not measured for some admissions (missing cells), more often in elective and young ones;
//! - in-hospital death depends strongly on ICU, on age, on cancer and on kidney function; the
//!   death flag `died` is "yes" exactly when the outcome is "deceased", and a death is the
//!   patient's last admission;
//! - `readmitted_30d` is "yes" exactly when the same patient's next admission starts within 30
//!   days of this discharge;
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

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default()
}

/// Last admission date of the extract (discharges may run past it).
fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 12, 31).unwrap_or_default()
}

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

/// Age at a patient's first admission in the extract.
fn first_age(rng: &mut ChaCha20Rng) -> u32 {
    let (lo, hi) = match pick(rng, &[0.08, 0.24, 0.28, 0.31, 0.09]) {
        0 => (0, 17),
        1 => (18, 44),
        2 => (45, 64),
        3 => (65, 84),
        _ => (85, 101),
    };
    rng.gen_range(lo..=hi)
}

/// Whole years from `birth` to `on`.
fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

fn diagnosis(rng: &mut ChaCha20Rng, age: u32, female: bool) -> usize {
    // weights over DIAGNOSES
    let w: [f64; 10] = if age < 18 {
        [0.2, 3.0, 0.5, 1.5, 2.5, 2.0, 0.3, 0.2, 0.0, 1.0]
    } else if age < 45 {
        let obst = if female { 4.0 } else { 0.0 };
        [0.8, 1.0, 0.6, 2.0, 2.5, 1.2, 0.6, 0.4, obst, 1.2]
    } else if age < 65 {
        let obst = if female && age < 50 { 0.3 } else { 0.0 };
        [2.8, 1.4, 1.2, 2.0, 1.2, 1.0, 1.8, 0.8, obst, 1.0]
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
    if age < 14 {
        w[8] = 0.0; // no obstetric admissions of young children
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

/// Whether an admission on day `d` fits the season and weekday patterns (a rejection step:
/// respiratory and infection admissions are twice as likely in winter, elective ones rare at
/// weekends).
fn plausible_day(rng: &mut ChaCha20Rng, d: NaiveDate, dx: &str, kind: &str) -> bool {
    let seasonal = matches!(dx, "respiratory" | "infection");
    let winter = matches!(d.month(), 12 | 1 | 2);
    if seasonal && !winter && !chance(rng, 0.55) {
        return false;
    }
    let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    !(kind == "elective" && weekend && !chance(rng, 0.1))
}

/// One patient: what stays the same across their admissions.
struct Patient {
    id: usize,
    female: bool,
    birth: NaiveDate,
    /// Multiplies creatinine in every admission (kidney function varies between people).
    kidney: f64,
    /// The payer at the first admission.
    insurance: &'static str,
    /// Admissions planned (fewer are realised when the extract ends or the patient dies).
    planned: usize,
}

struct Admission {
    patient: usize,
    age: u32,
    female: bool,
    kind: &'static str,
    dx: &'static str,
    ward: &'static str,
    icu: bool,
    outcome: &'static str,
    admitted: NaiveDate,
    discharged: NaiveDate,
    creatinine: Option<f64>,
    insurance: &'static str,
    readmitted: bool,
}

fn insurance_for(rng: &mut ChaCha20Rng, age: u32) -> &'static str {
    const P: [&str; 4] = ["public", "private", "self_pay", "other"];
    let w = if age >= 65 {
        [0.86, 0.12, 0.01, 0.01]
    } else if age < 18 {
        [0.45, 0.52, 0.02, 0.01]
    } else {
        [0.30, 0.58, 0.10, 0.02]
    };
    P[pick(rng, &w)]
}

fn patient(rng: &mut ChaCha20Rng, id: usize, first_day: NaiveDate, age: u32) -> Patient {
    let female = chance(rng, 0.52);
    // Birth date: `age` whole years before the first admission.
    let birth = first_day
        .checked_sub_months(chrono::Months::new(12 * age))
        .and_then(|d| d.checked_sub_days(Days::new(rng.gen_range(0..365))))
        .unwrap_or(first_day);
    let kidney = (0.12 * normal(rng)).exp();
    let insurance = insurance_for(rng, age_on(birth, first_day));
    // Most patients come once; older and chronically ill ones more often.
    let mut w = [0.60, 0.17, 0.09, 0.05, 0.03, 0.025, 0.03];
    if age >= 60 {
        w[0] -= 0.08;
        w[6] += 0.03;
        w[2] += 0.05;
    }
    let planned = match pick(rng, &w) {
        6 => rng.gen_range(7..=14),
        k => k + 1,
    };
    Patient {
        id,
        female,
        birth,
        kidney,
        insurance,
        planned,
    }
}

/// One admission of `p` on `day` (already checked against the season and weekday patterns).
fn admission(
    rng: &mut ChaCha20Rng,
    p: &Patient,
    day: NaiveDate,
    dx: &'static str,
    kind: &'static str,
    previous: Option<&Admission>,
) -> Admission {
    let age = age_on(p.birth, day);
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
        .clamp(0.0, 120.0) as u64;
    let discharged = day + Days::new(los);

    // Creatinine (mg/dL): higher in men, with age, and in renal disease (with a long tail);
    // sometimes not measured.
    let mut crea =
        if p.female { 0.72 } else { 0.92 } * (1.0 + 0.5 * (old - 0.4).max(0.0)) * p.kidney;
    if age < 16 {
        crea *= 0.55;
    }
    if dx == "renal" {
        crea *= 2.2 * (0.45 * normal(rng)).exp();
    } else if icu && chance(rng, 0.3) {
        crea *= 1.8; // acute kidney injury
    }
    crea *= (0.15 * normal(rng)).exp();
    let crea = crea.clamp(0.2, 13.5);
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

    // The payer stays, except that most patients move to public cover at 65.
    let insurance = match previous {
        Some(prev) if prev.age < 65 && age >= 65 && chance(rng, 0.8) => "public",
        Some(prev) => prev.insurance,
        None => p.insurance,
    };

    Admission {
        patient: p.id,
        age,
        female: p.female,
        kind,
        dx,
        ward,
        icu,
        outcome,
        admitted: day,
        discharged,
        creatinine,
        insurance,
        readmitted: false,
    }
}

/// The chance that a patient with this diagnosis and age comes back within 30 days.
fn early_return(dx: &str, age: u32) -> f64 {
    (match dx {
        "cardiac" | "renal" => 0.17,
        "oncology" => 0.20,
        "respiratory" => 0.13,
        "obstetric" => 0.02,
        _ => 0.08,
    }) * (0.6 + age as f64 / 100.0)
}

/// All admissions of one patient within the extract, in date order.
fn admissions_of(rng: &mut ChaCha20Rng, id: usize) -> Vec<Admission> {
    let span = (end() - start()).num_days() as u64;
    // The first admission: diagnosis and type first, then a day that fits them.
    let age0 = first_age(rng);
    let first = start() + Days::new(rng.gen_range(0..=span));
    let mut p = patient(rng, id, first, age0);
    // Patients with several admissions enter the extract early enough to have them.
    let mut day = first;
    if p.planned > 1 {
        day = start() + Days::new(rng.gen_range(0..=span / 2));
        p.birth -= first - day;
    }
    // Frequent patients come back sooner.
    let max_gap = (900 / p.planned as u64).max(60);
    let mut out: Vec<Admission> = Vec::new();
    for _ in 0..p.planned {
        let age = age_on(p.birth, day);
        let dx = match out.last() {
            // Chronic conditions bring patients back with the same diagnosis.
            Some(prev)
                if matches!(prev.dx, "cardiac" | "renal" | "oncology" | "respiratory")
                    && chance(rng, 0.6) =>
            {
                prev.dx
            }
            _ => DIAGNOSES[diagnosis(rng, age, p.female)],
        };
        let kind = admission_type(rng, dx);
        // Move the day forward until it fits the season and weekday patterns.
        let mut tries = 0;
        while !plausible_day(rng, day, dx, kind) && tries < 60 {
            day = day + Days::new(rng.gen_range(1..=7));
            tries += 1;
        }
        if day > end() {
            break;
        }
        let a = admission(rng, &p, day, dx, kind, out.last());
        let died = a.outcome == "deceased";
        let (dx_now, age_now, discharged) = (a.dx, a.age, a.discharged);
        out.push(a);
        if died {
            break;
        }
        // The next admission: soon after discharge for some, months or years later for most.
        let gap = if chance(rng, early_return(dx_now, age_now)) {
            rng.gen_range(1..=30)
        } else {
            rng.gen_range(31..=max_gap)
        };
        day = discharged + Days::new(gap);
        if day > end() {
            break;
        }
    }
    // Readmission flags follow from the realised admissions.
    for i in 1..out.len() {
        let gap = (out[i].admitted - out[i - 1].discharged).num_days();
        out[i - 1].readmitted = (0..=30).contains(&gap);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/admissions.csv")
        });
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut rows: Vec<Admission> = Vec::with_capacity(ROWS + 16);
    let mut patients = 0usize;
    let mut per_patient: Vec<usize> = Vec::new();
    while rows.len() < ROWS {
        patients += 1;
        let mut adm = admissions_of(&mut rng, patients);
        // The extract ends at ROWS rows: the last patient keeps their earliest admissions.
        adm.truncate(ROWS - rows.len());
        if rows.len() + adm.len() == ROWS {
            if let Some(last) = adm.last_mut() {
                last.readmitted = false;
            }
        }
        per_patient.push(adm.len());
        rows.extend(adm);
    }
    let mut w = csv::Writer::from_path(&out)?;
    w.write_record([
        "patient_id",
        "age",
        "sex",
        "admission_type",
        "diagnosis_group",
        "ward",
        "icu",
        "admission_date",
        "discharge_date",
        "discharge_outcome",
        "died",
        "creatinine",
        "insurance",
        "readmitted_30d",
    ])?;
    let yn = |b: bool| if b { "yes" } else { "no" };
    for r in &rows {
        w.write_record([
            format!("P{:05}", r.patient),
            r.age.to_string(),
            (if r.female { "F" } else { "M" }).to_string(),
            r.kind.to_string(),
            r.dx.to_string(),
            r.ward.to_string(),
            yn(r.icu).to_string(),
            r.admitted.format("%Y-%m-%d").to_string(),
            r.discharged.format("%Y-%m-%d").to_string(),
            r.outcome.to_string(),
            yn(r.outcome == "deceased").to_string(),
            r.creatinine.map(|c| format!("{c:.2}")).unwrap_or_default(),
            r.insurance.to_string(),
            yn(r.readmitted).to_string(),
        ])?;
    }
    w.flush()?;
    let mut hist = [0usize; 8];
    for &k in &per_patient {
        hist[(k.max(1) - 1).min(7)] += 1;
    }
    eprintln!(
        "wrote {} rows ({} patients; admissions per patient 1..7 and 8+: {:?}) to {}",
        rows.len(),
        patients,
        hist,
        out.display()
    );
    Ok(())
}
