//! Person-level privacy end to end (issue #12): a multi-row table released with a privacy
//! unit, the same table without one, the mechanisms' sensitivities, and verify's unit check.
//! Proof: proofs/privacy-unit.md.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use dpsynth::data::{read_csv_with, truncate_units, ReadOptions};
use dpsynth::marginal::InMemoryOracle;
use dpsynth::mechanism::score::weighted_score_sensitivity;
use dpsynth::mechanism::{aim, mst, AimOptions, MstOptions, NoProgress, Workload};
use dpsynth::privacy::{gaussian_scale_for, Budget, Delta, PrivacyUnit, Rho};
use dpsynth::schema::Schema;

mod common;
use common::{lab_table, LAB_SCHEMA as SCHEMA};

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn synth(csv: &Path, schema: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    dpsynth()
        .args(["synth", "-q", "--data"])
        .arg(csv)
        .arg("--schema")
        .arg(schema)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

fn verify(dir: &Path) -> assert_cmd::assert::Assert {
    dpsynth().arg("verify").arg(dir).assert()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &Value) {
    fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Copies a release directory (to tamper with the copy).
fn copy_release(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Must show: a release with `--privacy-unit subject_id --max-rows-per-unit 3` on a multi-row
/// table verifies; its certificate names the unit; each Gaussian step's sensitivity is 3 and
/// each selection step's is 3 times the per-record one; verify fails after the unit or a
/// sensitivity is edited, even when the edit keeps every other figure consistent.
#[test]
fn unit_release_names_the_unit_and_verify_checks_sensitivities() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, _) = lab_table(dir.path());
    for mech in ["mst", "aim"] {
        let out = dir.path().join(format!("rel-{mech}"));
        synth(
            &csv,
            &schema,
            &out,
            &[
                "--epsilon",
                "1",
                "--mechanism",
                mech,
                "--privacy-unit",
                "subject_id",
                "--max-rows-per-unit",
                "3",
            ],
        )
        .success()
        .stdout(predicates::str::contains(
            "any one subject_id value together with all of its records (at most 3 of which were used)",
        ));
        verify(&out)
            .success()
            .stdout(predicates::str::contains("[ ok ] privacy unit"));
        let cert = read_json(&out.join("certificate.json"));
        let g = &cert["guarantee"];
        assert_eq!(
            g["privacy_unit"],
            serde_json::json!({"column": "subject_id", "max_rows": 3})
        );
        assert!(g["statement"].as_str().unwrap().contains("subject_id"));
        assert!(g["neighbouring"].as_str().unwrap().contains("subject_id"));
        let ledger = cert["ledger"].as_array().unwrap();
        let gaussian: Vec<&Value> = ledger
            .iter()
            .filter(|e| e["mechanism"] == "gaussian")
            .collect();
        assert!(gaussian.len() >= 4);
        for e in &gaussian {
            assert_eq!(e["sensitivity"], 3.0, "{e}");
        }
        for e in ledger.iter().filter(|e| e["mechanism"] == "noisy_max") {
            let s = e["sensitivity"].as_f64().unwrap();
            match mech {
                "mst" => assert_eq!(s, 3.0),
                // AIM's is K times the largest workload weight (whole numbers here), plus
                // the bound on the weight's rounding (score::weighted_score_sensitivity).
                _ => assert!(
                    (1..=64).any(|w| s == weighted_score_sensitivity(w as f64, 3.0)),
                    "{s}"
                ),
            }
        }
        let readme = fs::read_to_string(out.join("README.txt")).unwrap();
        assert!(readme.contains("subject_id value"), "{readme}");
        assert!(!readme.to_lowercase().contains("person"), "{readme}");

        // Edits that keep the rest of the certificate consistent, so only the unit check can
        // catch them: (a) the unit says K = 2 (statement and neighbouring rewritten to match);
        // (b) the unit says "record"; (c) one Gaussian step's sensitivity says 1, with its rho
        // recomputed from its scale so the per-step check still passes.
        let edits: Vec<(&str, Edit)> = vec![
            (
                "unit K 3 -> 2",
                Box::new(|c: &mut Value| {
                    let u = PrivacyUnit::column("subject_id", 2).unwrap();
                    restate(c, &u);
                }),
            ),
            (
                "unit -> record",
                Box::new(|c: &mut Value| restate(c, &PrivacyUnit::Record)),
            ),
            (
                "a sensitivity 3 -> 1",
                Box::new(|c: &mut Value| {
                    let e = c["ledger"]
                        .as_array_mut()
                        .unwrap()
                        .iter_mut()
                        .find(|e| e["mechanism"] == "gaussian")
                        .unwrap();
                    let scale = e["scale"].as_f64().unwrap();
                    let rho = dpsynth::privacy::gaussian_rho(scale, 1).unwrap();
                    e["sensitivity"] = serde_json::json!(1.0);
                    e["rho"] = serde_json::json!(rho);
                    // The stated total is the exact sum rounded up (a plain f64 sum can
                    // fall below it, and verify would rightly fail "total rho").
                    let total = dpsynth::privacy::RhoSum::of(
                        c["ledger"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e["rho"].as_f64().unwrap()),
                    )
                    .unwrap()
                    .upper();
                    restate_rho(c, total);
                }),
            ),
        ];
        for (name, edit) in edits {
            let copy = dir.path().join(format!("edited-{mech}-{}", name.len()));
            copy_release(&out, &copy);
            let mut c = read_json(&copy.join("certificate.json"));
            edit(&mut c);
            write_json(&copy.join("certificate.json"), &c);
            let out = verify(&copy).failure().get_output().stdout.clone();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("[FAIL] privacy unit"),
                "{mech}, {name}: {text}"
            );
            // Only the unit check fails, and the mechanism-rules check where the ledger's
            // budget split, re-derived under the edited unit, no longer holds (AIM: a selection
            // sensitivity of K w + w 2^-16 does not scale with K exactly); no arithmetic check.
            let fails: Vec<&str> = text.lines().filter(|l| l.contains("[FAIL]")).collect();
            assert!(
                fails
                    .iter()
                    .all(|l| l.contains("privacy unit") || l.contains("mechanism rules")),
                "{mech}, {name}: {fails:?}"
            );
        }
    }
}

/// An edit of a certificate.
type Edit = Box<dyn Fn(&mut Value)>;

/// Rewrites the certificate's unit, neighbouring relation, statement and (certificate v2,
/// issue #19) unprotected quantities consistently.
fn restate(c: &mut Value, unit: &PrivacyUnit) {
    if c.get("deployment").is_some() {
        let ledger = c["guarantee"].get("lifetime").is_some();
        c["deployment"]["unprotected"] =
            serde_json::to_value(dpsynth::release::governance::unprotected(unit, ledger)).unwrap();
    }
    let g = &mut c["guarantee"];
    g["privacy_unit"] = serde_json::to_value(unit).unwrap();
    g["neighbouring"] = serde_json::json!(unit.neighbouring());
    let (eps, delta, rho) = (
        g["epsilon"].as_f64().unwrap(),
        g["delta"].as_f64().unwrap(),
        g["rho"].as_f64().unwrap(),
    );
    g["statement"] = serde_json::json!(dpsynth::release::statement(eps, delta, rho, unit));
}

/// Rewrites the total rho, epsilon and statement for a new total.
fn restate_rho(c: &mut Value, total: f64) {
    let delta = c["guarantee"]["delta"].as_f64().unwrap();
    let eps = dpsynth::privacy::epsilon_for(Rho::new(total).unwrap(), Delta::new(delta).unwrap())
        .unwrap()
        .value();
    c["guarantee"]["rho"] = serde_json::json!(total);
    c["guarantee"]["epsilon"] = serde_json::json!(eps);
    let unit: PrivacyUnit = serde_json::from_value(c["guarantee"]["privacy_unit"].clone()).unwrap();
    restate(c, &unit);
}

/// Must show: the same table without a unit. No text anywhere in the release says
/// "person"; stderr carries the operator-only suggestion, which states the fact, not a count.
#[test]
fn record_release_never_says_person_and_suggests_a_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, rows) = lab_table(dir.path());
    let out = dir.path().join("rel");
    let assert = synth(
        &csv,
        &schema,
        &out,
        &["--epsilon", "1", "--mechanism", "mst"],
    )
    .success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let note = stderr
        .lines()
        .find(|l| l.contains("--privacy-unit subject_id"))
        .unwrap_or_else(|| panic!("no suggestion on stderr: {stderr}"));
    assert!(
        note.starts_with("note (private, for the operator only)"),
        "{note}"
    );
    for n in [rows, 600] {
        assert!(
            !note.contains(&format!(" {n} ")),
            "a count in the note: {note}"
        );
    }
    assert!(stdout.contains("per record"), "{stdout}");
    assert!(!stdout.to_lowercase().contains("person"), "{stdout}");
    for e in fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap().to_lowercase();
        assert!(
            !text.contains("person") && !text.contains("people"),
            "{} mentions a person",
            p.display()
        );
    }
    let cert = read_json(&out.join("certificate.json"));
    assert_eq!(cert["guarantee"]["privacy_unit"], "record");
    verify(&out).success();
    // A unit declared in the schema is used without flags; the flags win over it.
    let with_unit = dir.path().join("unit.schema.toml");
    fs::write(
        &with_unit,
        format!("privacy_unit = \"subject_id\"\nmax_rows_per_unit = 2\n{SCHEMA}"),
    )
    .unwrap();
    let r2 = dir.path().join("rel2");
    let a = synth(
        &csv,
        &with_unit,
        &r2,
        &["--epsilon", "1", "--mechanism", "mst"],
    )
    .success();
    assert!(!String::from_utf8_lossy(&a.get_output().stderr).contains("--privacy-unit"));
    assert_eq!(
        read_json(&r2.join("certificate.json"))["guarantee"]["privacy_unit"]["max_rows"],
        2
    );
    let r3 = dir.path().join("rel3");
    synth(
        &csv,
        &with_unit,
        &r3,
        &[
            "--epsilon",
            "1",
            "--mechanism",
            "mst",
            "--max-rows-per-unit",
            "4",
        ],
    )
    .success();
    assert_eq!(
        read_json(&r3.join("certificate.json"))["guarantee"]["privacy_unit"]["max_rows"],
        4
    );
}

/// Bad unit declarations are refused before any work, naming what to do.
#[test]
fn bad_unit_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, _) = lab_table(dir.path());
    let out = dir.path().join("rel");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--privacy-unit", "sex", "--max-rows-per-unit", "2"],
            "must be an `id` column",
        ),
        (
            &["--privacy-unit", "nobody", "--max-rows-per-unit", "2"],
            "not a column of the schema",
        ),
        (&["--privacy-unit", "subject_id"], "--max-rows-per-unit"),
        (&["--max-rows-per-unit", "2"], "needs a privacy unit"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["--epsilon", "1", "--mechanism", "mst"];
        args.extend_from_slice(flags);
        synth(&csv, &schema, &out, &args)
            .failure()
            .stderr(predicates::str::contains(want));
        assert!(!out.exists());
    }
    synth(
        &csv,
        &schema,
        &out,
        &[
            "--epsilon",
            "1",
            "--privacy-unit",
            "subject_id",
            "--max-rows-per-unit",
            "0",
        ],
    )
    .code(2);
    // A row without its unit is an input error naming file, line and column (grouped with
    // the number of rows, issue #20 item 2).
    let holey = dir.path().join("holey.csv");
    let text = fs::read_to_string(&csv)
        .unwrap()
        .replacen("\nS0001,", "\n,", 1);
    fs::write(&holey, text).unwrap();
    synth(
        &holey,
        &schema,
        &out,
        &[
            "--epsilon",
            "1",
            "--privacy-unit",
            "subject_id",
            "--max-rows-per-unit",
            "2",
        ],
    )
    .failure()
    .stderr(predicates::str::contains(
        "holey.csv: column \"subject_id\": the privacy unit is missing: 1 row, first at line 3",
    ));
}

/// `schema check --data --privacy-unit` shows the rows per unit and what each K drops, marked
/// private.
#[test]
fn schema_check_profiles_rows_per_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, rows) = lab_table(dir.path());
    let out = dpsynth()
        .args(["schema", "check"])
        .arg(&schema)
        .arg("--data")
        .arg(&csv)
        .args(["--privacy-unit", "subject_id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("PRIVATE"), "{text}");
    assert!(
        text.contains(&format!("600 values, {rows} rows; min 1")),
        "{text}"
    );
    assert!(text.contains("max 5"), "{text}");
    // K = 5 drops nothing; K = 1 drops all but one row per subject.
    let line = |k: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(k))
            .unwrap_or_else(|| panic!("no K = {k}: {text}"))
            .to_string()
    };
    assert!(line("5").contains(" 0.00%"), "{text}");
    let dropped1 = 100.0 * (rows - 600) as f64 / rows as f64;
    assert!(line("1").contains(&format!("{dropped1:.2}%")), "{text}");
}

/// The mechanisms read every sensitivity from the unit, and the noise grows with K: the
/// same budget with K = 3 gives sigma three times the record-level sigma.
#[test]
fn mechanisms_scale_sensitivities_and_noise_by_k() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema_path, _) = lab_table(dir.path());
    let schema = Schema::from_path(&schema_path).unwrap();
    let opts = ReadOptions {
        unit_column: Some("subject_id".into()),
        ..ReadOptions::default()
    };
    let (table, _) = read_csv_with(&csv, &schema, &opts).unwrap();
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(3);
    let truncated = truncate_units(&table, 3, &mut rng).unwrap();
    assert!(truncated.n_rows() < table.n_rows());
    let oracle = InMemoryOracle::new(&truncated);
    let budget = Budget::from_rho(Rho::new(0.05).unwrap(), Delta::new(1e-9).unwrap());
    let unit = PrivacyUnit::column("subject_id", 3).unwrap();

    let rec = mst(&oracle, budget, &MstOptions::default(), &NoProgress).unwrap();
    let per = mst(
        &oracle,
        budget,
        &MstOptions {
            unit: unit.clone(),
            ..MstOptions::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(per.unit, unit);
    assert_eq!(rec.ledger.len(), per.ledger.len());
    for (a, b) in rec.ledger.iter().zip(&per.ledger) {
        assert_eq!(b.sensitivity, 3.0 * a.sensitivity);
        assert!(
            (b.scale / a.scale - 3.0).abs() < 1e-9,
            "{} vs {}",
            b.scale,
            a.scale
        );
        assert!(b.rho <= a.rho * (1.0 + 1e-12));
    }
    assert!((per.spent - rec.spent).abs() <= 1e-12 * rec.spent);

    let w = Workload::all_k_way(oracle.domain_owned().len(), 3);
    let a = aim(
        &oracle,
        budget,
        &w,
        &AimOptions {
            unit: unit.clone(),
            ..AimOptions::default()
        },
        &NoProgress,
    )
    .unwrap();
    let weights: Vec<f64> = w.candidates().into_values().collect();
    let sigma1 = gaussian_scale_for(Rho::new(0.9 * 0.05 / (16 * 4) as f64).unwrap(), 3).unwrap();
    for e in &a.ledger {
        match e.mechanism.as_str() {
            "gaussian" => assert_eq!(e.sensitivity, 3.0),
            _ => assert!(
                e.sensitivity
                    == weighted_score_sensitivity(weights.iter().copied().fold(0.0, f64::max), 3.0),
                "{}",
                e.sensitivity
            ),
        }
    }
    // The one-ways use the first round's sigma, which carries the factor 3.
    assert!((a.ledger[0].scale / sigma1 - 1.0).abs() < 1e-9);
}
