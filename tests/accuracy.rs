//! Error bars and warnings (issue #15 items 1 and 2): accuracy.json in every release, listed
//! and hashed; its bounds cover the truth; `dpsynth query`; the warning rule on a small
//! and a full table.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dpsynth::data::EncodedTable;
use dpsynth::marginal::{Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::privacy::{Budget, Delta, Rho};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use common::json_stdout;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

/// `dpsynth query --json --marginal MARGINAL --model MODEL`, parsed.
fn query_json(model: &Path, marginal: &str) -> serde_json::Value {
    json_stdout(
        dpsynth()
            .args(["query", "--json", "--marginal", marginal, "--model"])
            .arg(model),
    )
}

/// A 4-column table with dependence: b copies a 80% of the time, c depends on b, d is noise.
fn table(n: usize, seed: u64) -> EncodedTable {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|_| {
            let a = rng.gen_range(0..4u32);
            let b = if rng.gen_bool(0.8) {
                a
            } else {
                rng.gen_range(0..4)
            };
            let c = (b + u32::from(rng.gen_bool(0.3))) % 3;
            let d = rng.gen_range(0..5);
            vec![a, b, c, d]
        })
        .collect();
    EncodedTable::from_rows(
        vec!["a".into(), "b".into(), "c".into(), "d".into()],
        vec![4, 4, 3, 5],
        &rows,
    )
    .unwrap()
}

/// The stated 95% bounds cover the model's true error for measured marginals, and every
/// selection bound covers its clique, for both mechanisms. Each bound fails with
/// probability at most 5%, and in practice far less (the measured bounds add the noise to
/// the fit's distance); asserting at least 90% of about 150 bounds per mechanism fails
/// only if coverage collapses.
#[test]
fn bounds_cover_the_truth_on_a_known_table() {
    let t = table(4000, 1);
    let oracle = InMemoryOracle::new(&t);
    let budget = Budget::from_rho(Rho::new(0.05).unwrap(), Delta::new(1e-9).unwrap());
    for spec in [
        MechanismSpec::Mst(MstOptions::default()),
        MechanismSpec::Aim(AimOptions::default(), Workload::all_k_way(4, 3)),
    ] {
        let (mut covered, mut total, mut sel_covered, mut sel_total) = (0, 0, 0, 0);
        for run in 0..5 {
            let mut f = fit(&oracle, budget, &spec, &NoProgress).unwrap();
            f.assess(run, 2).unwrap();
            let acc = f.accuracy.clone().unwrap();
            assert_eq!(acc.format, "dpsynth-accuracy");
            for m in &acc.measured {
                let c = Clique::new(
                    m.columns
                        .iter()
                        .map(|n| oracle.domain().index_of(n).unwrap()),
                );
                let truth = oracle.marginal(&c).unwrap();
                let ans = f.answer(&c).unwrap();
                let l1: f64 = truth
                    .values
                    .iter()
                    .zip(&ans.values)
                    .map(|(a, b)| (a - b).abs())
                    .sum();
                total += 1;
                covered += usize::from(l1 <= m.l1_bound);
            }
            for row in &acc.cliques {
                let c = Clique::new(
                    row.columns
                        .iter()
                        .map(|n| oracle.domain().index_of(n).unwrap()),
                );
                let truth = oracle.marginal(&c).unwrap();
                let share = truth.l1_normalized(&f.answer(&c).unwrap());
                let est = row.estimate.expect("small cliques have estimates");
                assert!((0.0..=2.0).contains(&est), "{est}");
                if let Some(b) = row.bound {
                    sel_total += 1;
                    sel_covered += usize::from(share <= b);
                }
            }
            // One- and two-way summaries, and three-way ones for AIM's 3-way workload.
            let k = if spec.name() == "aim" { 3 } else { 2 };
            assert_eq!(acc.summary.len(), k, "{:?}", acc.summary);
        }
        assert!(
            covered as f64 >= 0.9 * total as f64,
            "{}: {covered}/{total}",
            spec.name()
        );
        assert!(
            sel_covered as f64 >= 0.9 * sel_total as f64,
            "{}: {sel_covered}/{sel_total}",
            spec.name()
        );
    }
}

/// A release lists accuracy.json in the certificate's outputs with its hash; changing it
/// fails verification; `dpsynth query` answers from the model alone, with the same figures
/// as accuracy.json; README.txt summarises the error bars.
#[test]
fn release_carries_accuracy_and_query_answers_from_the_model() {
    let data = root().join("examples/data/admissions.csv");
    let schema = root().join("examples/data/admissions.schema.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rel");
    let summary = json_stdout(
        dpsynth()
            .args([
                "synth",
                "-q",
                "--mechanism",
                "mst",
                "--epsilon",
                "1",
                "--json",
            ])
            .arg("--data")
            .arg(&data)
            .arg("--schema")
            .arg(&schema)
            .arg("--out")
            .arg(&out),
    );
    assert!(summary["warnings"].as_array().unwrap().is_empty());
    assert!(summary["accuracy"]["summary"].as_array().unwrap().len() >= 2);

    let cert = read_json(&out.join("certificate.json"));
    let listed = cert["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["file"] == "accuracy.json")
        .expect("accuracy.json is listed");
    let bytes = fs::read(out.join("accuracy.json")).unwrap();
    assert_eq!(listed["sha256"], hex::encode(Sha256::digest(&bytes)));
    let acc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(acc["format"], "dpsynth-accuracy");
    assert!(acc["source"].as_str().unwrap().contains("DP outputs only"));
    assert!(!acc["measured"].as_array().unwrap().is_empty());
    let readme = fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(
        readme.contains("HOW ACCURATE IT IS (accuracy.json)"),
        "{readme}"
    );
    assert!(!readme.starts_with("!!!"), "{readme}");

    // The query answers sex x admission_type from the model only, with the file's figures.
    let q = query_json(&out.join("model.json"), "sex,admission_type");
    assert_eq!(q["columns"], serde_json::json!(["sex", "admission_type"]));
    let row = acc["cliques"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["columns"] == serde_json::json!(["sex", "admission_type"]))
        .unwrap();
    assert_eq!(q["error"]["estimate"], row["estimate"]);
    assert_eq!(q["error"]["bound"], row["bound"]);
    let shares: f64 = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9);
    // A model file written before session 12 (accuracy.json format 1, selection bounds
    // stored finished, without their inputs) still loads; its rows keep their estimates and
    // get their bounds recomputed from the measurements, since a finished selection bound
    // cannot be re-levelled: never below the current file's bound (fewer sources at the same
    // levels), and never the stored number (0 here, which would make the bound tiny).
    let mut old = read_json(&out.join("model.json"));
    let fitted = old["fitted"].as_object_mut().unwrap();
    fitted["accuracy"]["format_version"] = serde_json::json!(1);
    for s in fitted["selection"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        for k in ["round", "weight", "penalty", "moved"] {
            s.remove(k);
        }
        s.insert("bound".into(), serde_json::json!(0.0));
    }
    fitted.remove("selection_rounds");
    fitted.remove("selection_records");
    let old_model = dir.path().join("old-model.json");
    fs::write(&old_model, serde_json::to_vec(&old).unwrap()).unwrap();
    let q_old = query_json(&old_model, "sex,admission_type");
    assert_eq!(q_old["error"]["estimate"], row["estimate"]);
    assert_ne!(q_old["error"]["bound_method"], "selection");
    if let Some(b) = q_old["error"]["bound"].as_f64() {
        assert!(
            b >= row["bound"].as_f64().unwrap() - 1e-12,
            "{b} {}",
            row["bound"]
        );
    }
    // A file written in session 12 (format 2: measured bounds that treated adaptively
    // chosen measurements as fixed) keeps its estimates and gets its bounds recomputed by
    // today's rule: the same figures this file states.
    let mut v2 = read_json(&out.join("model.json"));
    v2["fitted"]["accuracy"]["format_version"] = serde_json::json!(2);
    let v2_model = dir.path().join("v2-model.json");
    fs::write(&v2_model, serde_json::to_vec(&v2).unwrap()).unwrap();
    let q_v2 = query_json(&v2_model, "sex,admission_type");
    assert_eq!(q_v2["error"]["estimate"], row["estimate"]);
    let (b2, b3) = (
        q_v2["error"]["bound"].as_f64().unwrap(),
        row["bound"].as_f64().unwrap(),
    );
    assert!((b2 - b3).abs() <= 1e-12 * b3.max(1.0), "{b2} {b3}");
    // A clique outside the file (a 4-way one) is computed the same way on demand.
    dpsynth()
        .args([
            "query",
            "--marginal",
            "sex,admission_type,age,diagnosis_group",
            "--max-rows",
            "3",
            "--model",
        ])
        .arg(out.join("model.json"))
        .assert()
        .success()
        .stdout(predicates::str::contains("estimated 0."));
    // Unknown columns are refused with the list of columns.
    dpsynth()
        .args(["query", "--marginal", "sex,nope", "--model"])
        .arg(out.join("model.json"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "\"nope\" is not a modelled column",
        ));

    // Editing accuracy.json breaks verification.
    fs::write(
        out.join("accuracy.json"),
        String::from_utf8(bytes).unwrap().replace("0.95", "0.99"),
    )
    .unwrap();
    dpsynth().arg("verify").arg(&out).assert().code(1);
}

/// Writes every k-th row of a coded benchmark CSV (header kept) to `dest`: `rows` rows.
fn subsample_csv(src: &Path, dest: &Path, rows: usize) {
    let text = fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let step = body.len() / rows;
    let mut out = String::from(header);
    out.push('\n');
    for i in 0..rows {
        out += body[i * step];
        out.push('\n');
    }
    fs::write(dest, out).unwrap();
}

/// The must-show of item 2: a 200-row subsample of adult at epsilon 1 is warned about
/// (stderr, --json, top of README.txt); full adult at epsilon 1 is not.
#[test]
fn small_adult_is_warned_about_and_full_adult_is_not() {
    let (Some(csv), Some(schema)) = (
        common::shared_data("adult/adult.csv"),
        common::shared_data("adult/adult-domain.json"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("adult200.csv");
    subsample_csv(&csv, &small, 200);
    let run = |data: &Path, out: &Path| {
        let o = dpsynth()
            .args(["synth", "-q", "--epsilon", "1", "--json", "--data"])
            .arg(data)
            .arg("--schema")
            .arg(&schema)
            .arg("--out")
            .arg(out)
            .assert()
            .success()
            .get_output()
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v, String::from_utf8(o.stderr).unwrap())
    };
    let out_small = dir.path().join("small");
    let (v, stderr) = run(&small, &out_small);
    let warnings = v["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty(), "{v}");
    assert!(
        stderr.contains("warning: this release is likely UNFIT"),
        "{stderr}"
    );
    let readme = fs::read_to_string(out_small.join("README.txt")).unwrap();
    assert!(
        readme.starts_with("!!! WARNING: THIS RELEASE IS LIKELY UNFIT"),
        "{readme}"
    );

    let out_full = dir.path().join("full");
    let (v, stderr) = run(&csv, &out_full);
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    let readme = fs::read_to_string(out_full.join("README.txt")).unwrap();
    assert!(readme.starts_with("SYNTHETIC DATA RELEASE"));

    // The evaluation report opens with the verdict (issue #15 item 6), judged with the
    // release's accuracy.json: the small release is red (its own warnings fail), full adult
    // is green (TSTR beats the majority class, error as stated, no bad marginal).
    let verdict = |real: &Path, out: &Path| {
        let v = json_stdout(
            dpsynth()
                .args([
                    "evaluate",
                    "--json",
                    "--dcr-sample",
                    "0",
                    "--target",
                    "income>50K",
                ])
                .arg("--real")
                .arg(real)
                .arg("--synthetic")
                .arg(out.join("synthetic.csv"))
                .arg("--schema")
                .arg(&schema),
        );
        v["fitness"].clone()
    };
    let f = verdict(&small, &out_small);
    assert_eq!(f["verdict"], "red", "{f}");
    let release = f["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "release warnings");
    assert_eq!(release.unwrap()["status"], "fails", "{f}");
    let f = verdict(&csv, &out_full);
    assert_eq!(f["verdict"], "green", "{f}");
    assert!(f["checks"][0]["name"]
        .as_str()
        .unwrap()
        .contains("income>50K"));
    assert_eq!(f["stated_vs_measured"].as_array().unwrap().len(), 3, "{f}");
}
