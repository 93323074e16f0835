//! Fit for use (issue #15 items 4-6): `--target` shapes AIM's workload and leads the
//! report's verdict; `dpsynth plan` predicts error from the schema alone.

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn demo() -> (PathBuf, PathBuf) {
    (
        root().join("examples/data/admissions.csv"),
        root().join("examples/data/admissions.schema.toml"),
    )
}

/// `--target died`: every workload clique in the certificate contains `died`; the
/// evaluation written beside the release opens with the fitness section, TSTR for `died`
/// first, judged against the release's accuracy.json.
#[test]
fn target_shapes_the_workload_and_leads_the_verdict() {
    let (csv, schema) = demo();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rel");
    dpsynth()
        .args([
            "synth",
            "-q",
            "--epsilon",
            "1",
            "--target",
            "died",
            "--evaluate",
        ])
        .args(["--dcr-sample", "0", "--data"])
        .arg(&csv)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let cert: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("certificate.json")).unwrap()).unwrap();
    let text = cert.to_string();
    let workload = find_key(&cert, "workload").unwrap_or_else(|| panic!("no workload: {text}"));
    let cliques = workload.as_array().unwrap();
    assert!(!cliques.is_empty());
    for c in cliques {
        let cols = c.to_string();
        assert!(cols.contains("\"died\""), "{cols}");
    }

    let eval: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("rel.evaluation.json")).unwrap())
            .unwrap();
    let f = &eval["fitness"];
    assert!(
        f["checks"][0]["name"].as_str().unwrap().contains("died"),
        "{f}"
    );
    assert_ne!(f["checks"][0]["status"], "not_available", "{f}");
    assert!(
        !f["stated_vs_measured"].as_array().unwrap().is_empty(),
        "{f}"
    );
    let html = fs::read_to_string(dir.path().join("rel.evaluation.html")).unwrap();
    let verdict = html.find("Fitness for use").unwrap();
    assert!(verdict < html.find("Privacy guarantee").unwrap());

    // MST has no workload: --target is accepted (it names the TSTR column) with a note.
    let o = dpsynth()
        .args([
            "fit",
            "--epsilon",
            "1",
            "--mechanism",
            "mst",
            "--target",
            "died",
            "--seed",
            "42",
        ])
        .arg("--data")
        .arg(&csv)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(dir.path().join("m.json"))
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(o)
        .unwrap()
        .contains("MST has no workload"));
    // `fit --seed` seeds the error bars' simulation, recorded in the model's report.
    let model: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(
        find_key(&model, "bootstrap_seed").and_then(|v| v.as_u64()),
        Some(42)
    );
    // An unknown target is refused before any budget is spent.
    dpsynth()
        .args(["fit", "--epsilon", "1", "--target", "nope", "--data"])
        .arg(&csv)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(dir.path().join("n.json"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("--target \"nope\""));
    assert!(!dir.path().join("n.json").exists());
}

fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// `dpsynth plan` reads no data (it is given none), says so, and predicts less error and
/// less noise for a larger budget. (The simulated runs draw real noise, so predictions vary
/// a little between calls; `--runs` averages.)
#[test]
fn plan_predicts_from_the_schema_alone() {
    let (_, schema) = demo();
    let run = || {
        let o = dpsynth()
            .args([
                "plan",
                "--mechanism",
                "mst",
                "--rows",
                "5000",
                "--epsilon",
                "0.3,3",
                "--json",
            ])
            .arg("--schema")
            .arg(&schema)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<serde_json::Value>(&o).unwrap()
    };
    let v = run();
    assert!(
        v["source"].as_str().unwrap().contains("no data was read"),
        "{v}"
    );
    let b = v["budgets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    let err = |i: usize, k: usize| b[i]["predicted_l1"][k - 1][1].as_f64().unwrap();
    for k in 1..=3 {
        assert!(err(1, k) < err(0, k), "{k}-way: {v}");
    }
    let noise = |i: usize| b[i]["noise"][0]["min_scale"].as_f64().unwrap();
    assert!(noise(1) < noise(0) / 5.0, "{v}");
}
