//! End-to-end CLI runs on the bundled demo data and on NIST's national2019 with its
//! committed schema (issue #4), and the certificate's content rules (issue #6).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn synth(data: &Path, schema: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("dpsynth")
        .unwrap()
        .args(["synth", "-q", "--data"])
        .arg(data)
        .arg("--schema")
        .arg(schema)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

/// `dpsynth verify DIR` succeeds.
fn verify(dir: &Path) {
    Command::cargo_bin("dpsynth")
        .unwrap()
        .arg("verify")
        .arg(dir)
        .assert()
        .success();
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

/// The demo data: MST release verifies, the model re-samples without the data, the
/// certificate has exactly the documented fields and nothing computed from the input.
#[test]
fn demo_release_sample_and_certificate_content() {
    let data = root().join("examples/data/admissions.csv");
    let schema = root().join("examples/data/admissions.schema.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rel");
    synth(
        &data,
        &schema,
        &out,
        &["--mechanism", "mst", "--epsilon", "1", "--json"],
    )
    .success()
    .stdout(predicate::str::contains("\"rows\""));
    verify(&out);

    // The synthetic CSV has the schema's columns in order, with fresh ids.
    let text = fs::read_to_string(out.join("synthetic.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        fs::read_to_string(&data).unwrap().lines().next().unwrap()
    );

    // Re-sampling from the shared model needs no data.
    let sample_to = |name: &str| {
        let path = dir.path().join(name);
        Command::cargo_bin("dpsynth")
            .unwrap()
            .args(["sample", "--rows", "1234", "--seed", "9", "--model"])
            .arg(out.join("model.json"))
            .arg("--out")
            .arg(&path)
            .assert()
            .success();
        path
    };
    let more = sample_to("more.csv");
    assert_eq!(fs::read_to_string(&more).unwrap().lines().count(), 1235);
    // The same seed gives the same file.
    let again = sample_to("again.csv");
    assert_eq!(fs::read(&more).unwrap(), fs::read(&again).unwrap());

    // Certificate fields: exactly the documented ones (docs/certificate.md).
    let cert = read_json(&out.join("certificate.json"));
    // The demo schema declares the privacy unit: each patient with all of their admissions.
    assert_eq!(
        cert["guarantee"]["privacy_unit"],
        serde_json::json!({"column": "patient_id", "max_rows": 3})
    );
    let keys: BTreeSet<&str> = cert
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let documented: BTreeSet<&str> = [
        "format",
        "format_version",
        "tool",
        "guarantee",
        "mechanism",
        "ledger",
        "schema",
        "outputs",
        "noise",
        "sampling",
        // Version 2's governance blocks (issue #19).
        "release",
        "deployment",
        "implementation",
        "utility",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, documented);
    for e in cert["ledger"].as_array().unwrap() {
        let k: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(k.is_subset(
            &[
                "mechanism",
                "purpose",
                "measured",
                "sensitivity",
                "monotone",
                "scale",
                "rho"
            ]
            .into_iter()
            .collect()
        ));
    }
    // Nothing computed from the input: no hash of it, not its row count, none of its ids.
    let cert_text = fs::read_to_string(out.join("certificate.json")).unwrap();
    let input_hash = hex::encode(Sha256::digest(fs::read(&data).unwrap()));
    assert!(!cert_text.contains(&input_hash));
    let true_rows = fs::read_to_string(&data).unwrap().lines().count() - 1;
    assert!(
        !cert_text.contains(&format!(": {true_rows}"))
            && !cert_text.contains(&format!(":{true_rows}"))
    );
    assert_ne!(cert["outputs"][0]["rows"], serde_json::json!(true_rows));
    for line in fs::read_to_string(&data)
        .unwrap()
        .lines()
        .skip(1)
        .step_by(97)
    {
        let id = line.split(',').next().unwrap();
        assert!(
            !cert_text.contains(id),
            "input id {id} appears in the certificate"
        );
    }
    // The synthetic ids are fresh, not the input's.
    let synth_ids: BTreeSet<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let real = fs::read_to_string(&data).unwrap();
    let real_ids: BTreeSet<&str> = real
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        synth_ids.intersection(&real_ids).count(),
        0,
        "generated ids never equal real ids"
    );
    assert!(synth_ids.contains("PSYN-1"));
}

/// NIST national2019 with its committed schema: AIM (the default) runs end to end and verifies.
#[test]
fn nist_national2019_release() {
    let Some(data) = common::shared_data("nist_crc/national2019.csv") else {
        return;
    };
    let schema = root().join("examples/nist/national2019.schema.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nist");
    synth(
        &data,
        &schema,
        &out,
        &["--mechanism", "mst", "--epsilon", "1"],
    )
    .success();
    verify(&out);
    let cert = read_json(&out.join("certificate.json"));
    assert_eq!(cert["mechanism"]["name"], "mst");
    // Missing values are written back as NIST's `N` token.
    let text = fs::read_to_string(out.join("synthetic.csv")).unwrap();
    assert!(text.lines().skip(1).any(|l| l.split(',').any(|f| f == "N")));
}

/// `--max-fit-work` (AIM's compute budget, proofs/aim.md): a tiny budget still spends the
/// whole privacy budget in fewer rounds, annealing at every refit (so at most a handful of
/// rho levels, each batch of up to three rounds at one level), the certificate lists it and
/// `verify` accepts the ledger (each round's rho the previous one's or four times it); a
/// non-positive value is refused before anything is written.
#[test]
fn aim_compute_budget_flag_releases_and_verifies() {
    let data = root().join("examples/data/admissions.csv");
    let schema = root().join("examples/data/admissions.schema.toml");
    let dir = tempfile::tempdir().unwrap();
    let round_rhos = |cert: &serde_json::Value| -> Vec<f64> {
        cert["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["purpose"].as_str().unwrap().starts_with("AIM round")
                    && e["mechanism"] == "gaussian"
            })
            .map(|e| e["rho"].as_f64().unwrap())
            .collect()
    };
    let mut rounds = Vec::new();
    let mut levels = Vec::new();
    for (name, extra) in [("free", None), ("tight", Some("0.000001"))] {
        let out = dir.path().join(name);
        let mut args = vec!["--mechanism", "aim", "--epsilon", "1", "--seed", "3"];
        if let Some(w) = extra {
            args.extend(["--max-fit-work", w]);
        }
        synth(&data, &schema, &out, &args).success();
        verify(&out);
        let cert = read_json(&out.join("certificate.json"));
        let listed = &cert["mechanism"]["options"]["max_fit_work_calibrated_cells"];
        match extra {
            Some(_) => assert!((listed.as_f64().unwrap() - 1000.0).abs() < 1e-6, "{listed}"),
            None => assert!(listed.is_null(), "{listed}"),
        }
        let rhos = round_rhos(&cert);
        rounds.push(rhos.len());
        // Rho levels: a new one wherever a round's rho differs from its predecessor's.
        levels.push(1 + rhos.windows(2).filter(|w| w[1] != w[0]).count());
    }
    assert!(rounds[1] < rounds[0], "{rounds:?}");
    assert!(
        levels[1] <= 6 && rounds[1] <= 3 * levels[1],
        "{rounds:?} {levels:?}"
    );

    // Bad values are usage errors (exit 2, README), as clap's own are: checked before any
    // file is read, so nothing is written.
    let bad = dir.path().join("bad");
    for flag in ["--max-fit-work", "--max-model-size"] {
        synth(
            &data,
            &schema,
            &bad,
            &["--mechanism", "aim", "--epsilon", "1", flag, "0"],
        )
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{flag} must be a positive"
        )));
        assert!(!bad.exists());
    }
}

/// `--selections-per-refit` (AIM's batches, proofs/aim.md "Batches"): the certificate lists
/// the value used (3 by default, 1 for the paper's one refit per round), `verify` accepts
/// both ledgers and both spend the whole budget; 0 is a usage error before anything is
/// written.
#[test]
fn aim_selections_per_refit_flag_is_certified_and_verifies() {
    let data = root().join("examples/data/admissions.csv");
    let schema = root().join("examples/data/admissions.schema.toml");
    let dir = tempfile::tempdir().unwrap();
    for (name, extra, listed) in [("default", None, 3), ("paper", Some("1"), 1)] {
        let out = dir.path().join(name);
        let mut args = vec!["--mechanism", "aim", "--epsilon", "1", "--seed", "3"];
        if let Some(k) = extra {
            args.extend(["--selections-per-refit", k]);
        }
        synth(&data, &schema, &out, &args).success();
        verify(&out);
        let cert = read_json(&out.join("certificate.json"));
        assert_eq!(
            cert["mechanism"]["options"]["selections_per_refit"], listed,
            "{name}"
        );
    }
    let bad = dir.path().join("bad");
    synth(
        &data,
        &schema,
        &bad,
        &[
            "--mechanism",
            "aim",
            "--epsilon",
            "1",
            "--selections-per-refit",
            "0",
        ],
    )
    .code(2)
    .stderr(predicate::str::contains("--selections-per-refit"));
    assert!(!bad.exists());
}
