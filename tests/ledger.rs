//! The lifetime budget ledger end to end (issue #12, item 5): concurrent runs racing for a
//! budget, a failed run's reservation, a unit mismatch, `fit --ledger` and `ledger show`.
//! Protocol and proof: src/release/ledger.rs, proofs/privacy-unit.md section 4.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;

use common::{json_stdout, lab_table};

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

/// Per-run budget of these tests.
const RUN_RHO: &str = "0.01";

fn init(ledger: &Path, rho: &str, unit: Option<&str>) {
    let mut c = dpsynth();
    c.args(["ledger", "init"]).arg(ledger).args(["--rho", rho]);
    if let Some(u) = unit {
        c.args(["--privacy-unit", u]);
    }
    c.assert().success().stdout(contains("created"));
}

fn show(ledger: &Path) -> Value {
    json_stdout(dpsynth().args(["ledger", "show", "--json"]).arg(ledger))
}

/// `synth --ledger` arguments for one run into `out` (MST, unit subject_id, K = 2).
fn synth_args(csv: &Path, schema: &Path, ledger: &Path, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["synth", "-q", "--mechanism", "mst", "--rho", RUN_RHO]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["--privacy-unit", "subject_id", "--max-rows-per-unit", "2"].map(String::from));
    for (flag, p) in [
        ("--data", csv),
        ("--schema", schema),
        ("--ledger", ledger),
        ("--out", out),
    ] {
        a.push(flag.into());
        a.push(p.display().to_string());
    }
    a
}

/// Must show: six concurrent `synth --ledger` runs where three fit. Exactly three succeed,
/// the ledger's total stays within its budget, and the refused runs wrote nothing.
#[test]
fn six_concurrent_runs_where_three_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, _) = lab_table(dir.path());
    let ledger = dir.path().join("hospital.ledger");
    // Room for 3.5 runs: three fit, the fourth does not.
    init(&ledger, "0.035", Some("subject_id"));
    let outs: Vec<PathBuf> = (0..6)
        .map(|i| dir.path().join(format!("release-{i}")))
        .collect();
    let children: Vec<std::process::Child> = outs
        .iter()
        .map(|out| {
            std::process::Command::cargo_bin("dpsynth")
                .unwrap()
                .args(synth_args(&csv, &schema, &ledger, out))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok: Vec<usize> = (0..6).filter(|&i| results[i].status.success()).collect();
    assert_eq!(ok.len(), 3, "exactly three runs fit: {results:?}");
    for (i, r) in results.iter().enumerate() {
        if ok.contains(&i) {
            assert!(outs[i].join("certificate.json").exists());
            dpsynth().arg("verify").arg(&outs[i]).assert().success();
        } else {
            assert_eq!(r.status.code(), Some(1));
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(
                err.contains("refused") && err.contains("left of its budget"),
                "{err}"
            );
            assert!(err.contains("No noise was drawn"), "{err}");
            assert!(
                !outs[i].exists(),
                "a refused run wrote {}",
                outs[i].display()
            );
        }
    }
    // Nothing else was left behind: no staging areas, no partial files.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = [
        "labs.csv",
        "labs.schema.toml",
        "hospital.ledger",
        "hospital.ledger.lock",
    ]
    .map(String::from)
    .to_vec();
    want.extend(ok.iter().map(|i| format!("release-{i}")));
    want.sort();
    assert_eq!(names, want);

    let v = show(&ledger);
    let budget = v["ledger"]["budget_rho"].as_f64().unwrap();
    let spent = v["spent_rho"].as_f64().unwrap();
    assert!(
        spent <= budget,
        "ledger total {spent} above its budget {budget}"
    );
    let releases = v["ledger"]["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 3);
    let mut numbers = Vec::new();
    for r in releases {
        assert_eq!(r["status"], "released");
        assert!(r["rho"].as_f64().unwrap() <= r["reserved_rho"].as_f64().unwrap());
        numbers.push(r["number"].as_u64().unwrap());
    }
    assert_eq!(numbers, [1, 2, 3]);
    // Each certificate cites the ledger and where its release left it.
    let mut cited = Vec::new();
    for &i in &ok {
        let c: Value =
            serde_json::from_str(&fs::read_to_string(outs[i].join("certificate.json")).unwrap())
                .unwrap();
        let l = &c["guarantee"]["lifetime"];
        assert_eq!(l["ledger_id"], v["ledger"]["id"]);
        assert!(l["cumulative_rho"].as_f64().unwrap() <= budget);
        let n = l["release"].as_u64().unwrap();
        // The ledger holds this certificate's hash.
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            fs::read(outs[i].join("certificate.json")).unwrap(),
        ));
        assert_eq!(releases[n as usize - 1]["output_sha256"], Value::from(sha));
        cited.push(n);
    }
    cited.sort_unstable();
    assert_eq!(cited, [1, 2, 3]);
}

/// A run that fails after reserving keeps its whole reservation spent, and says so; a run
/// whose unit differs from the ledger's is refused before anything is drawn or written.
#[test]
fn failed_runs_stay_spent_and_units_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, schema, _) = lab_table(dir.path());
    let ledger = dir.path().join("l.ledger");
    init(&ledger, "0.05", Some("subject_id"));

    // The output's parent does not exist: the release cannot be written after the fit.
    let out = dir.path().join("no-such-dir").join("rel");
    dpsynth()
        .args(synth_args(&csv, &schema, &ledger, &out))
        .assert()
        .failure()
        .stderr(contains("the reservation stays spent"));
    let v = show(&ledger);
    let r = &v["ledger"]["releases"][0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["rho"], r["reserved_rho"]);
    assert_eq!(r["rho"].as_f64().unwrap(), 0.01);

    // A record-level run on a unit ledger.
    let before = fs::read(&ledger).unwrap();
    let out = dir.path().join("rel-record");
    dpsynth()
        .args([
            "synth",
            "-q",
            "--mechanism",
            "mst",
            "--rho",
            RUN_RHO,
            "--data",
        ])
        .arg(&csv)
        .arg("--schema")
        .arg(&schema)
        .arg("--ledger")
        .arg(&ledger)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(
            "the ledger's privacy unit is one subject_id value",
        ));
    assert!(!out.exists());
    assert_eq!(fs::read(&ledger).unwrap(), before);

    // `fit --ledger` is charged too and records the model file's hash.
    let model = dir.path().join("model.json");
    dpsynth()
        .args(["fit", "-q", "--mechanism", "mst", "--rho", RUN_RHO])
        .args([
            "--privacy-unit",
            "subject_id",
            "--max-rows-per-unit",
            "1",
            "--data",
        ])
        .arg(&csv)
        .arg("--schema")
        .arg(&schema)
        .arg("--ledger")
        .arg(&ledger)
        .arg("--out")
        .arg(&model)
        .assert()
        .success();
    let v = show(&ledger);
    let r = &v["ledger"]["releases"][1];
    assert_eq!(
        (r["status"].as_str(), r["command"].as_str()),
        (Some("released"), Some("fit"))
    );
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(&model).unwrap(),
    ));
    assert_eq!(r["output_sha256"], Value::from(sha));

    // The text view says what is left and why failed runs count.
    dpsynth()
        .args(["ledger", "show"])
        .arg(&ledger)
        .assert()
        .success()
        .stdout(contains("remaining: rho"))
        .stdout(contains("stay counted in full"));
    // A ledger is never overwritten.
    dpsynth()
        .args(["ledger", "init"])
        .arg(&ledger)
        .args(["--rho", "1"])
        .assert()
        .failure()
        .stderr(contains("never overwritten"));
}
