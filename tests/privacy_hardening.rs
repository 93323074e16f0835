//! End-to-end checks of the privacy hardening of issue #13: huge budgets (item 9), the
//! budget-spent message (item 5), the CSPRNG rule (item 6) and the stricter verify (item 7).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A small public schema and a 600-row table over it (four categorical columns with a
/// little dependence), written into `dir`.
fn small_table(dir: &Path) -> (PathBuf, PathBuf) {
    let schema = dir.join("s.toml");
    fs::write(
        &schema,
        r#"
[[columns]]
name = "a"
kind = "categorical"
values = ["x", "y", "z"]

[[columns]]
name = "b"
kind = "categorical"
values = ["p", "q"]

[[columns]]
name = "c"
kind = "categorical"
values = ["0", "1", "2", "3"]

[[columns]]
name = "d"
kind = "categorical"
values = ["u", "v"]
"#,
    )
    .unwrap();
    let mut csv = String::from("a,b,c,d\n");
    for i in 0..600u32 {
        let a = ["x", "y", "z"][(i % 3) as usize];
        let b = if i % 7 < 4 { "p" } else { "q" };
        let c = ["0", "1", "2", "3"][((i / 3 + i % 2) % 4) as usize];
        let d = if (i % 3 == 0) ^ (i % 11 == 0) {
            "u"
        } else {
            "v"
        };
        csv += &format!("{a},{b},{c},{d}\n");
    }
    let data = dir.join("d.csv");
    fs::write(&data, csv).unwrap();
    (data, schema)
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn synth(data: &Path, schema: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    dpsynth()
        .args(["synth", "-q", "--data"])
        .arg(data)
        .arg("--schema")
        .arg(schema)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

/// Share of each value of each column.
fn one_way_shares(csv: &Path) -> BTreeMap<(String, String), f64> {
    let mut rdr = csv::Reader::from_path(csv).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut counts = BTreeMap::new();
    let mut n = 0.0;
    for r in rdr.records() {
        let r = r.unwrap();
        n += 1.0;
        for (name, v) in names.iter().zip(r.iter()) {
            *counts.entry((name.clone(), v.to_string())).or_insert(0.0) += 1.0;
        }
    }
    counts.values_mut().for_each(|c| *c /= n);
    counts
}

/// Largest one-way L1 distance between the two files' value shares, over the columns.
fn worst_one_way_l1(real: &Path, synthetic: &Path) -> f64 {
    let (r, s) = (one_way_shares(real), one_way_shares(synthetic));
    let keys: std::collections::BTreeSet<_> = r.keys().chain(s.keys()).collect();
    let mut per_column: BTreeMap<&str, f64> = BTreeMap::new();
    for key in keys {
        let d = (r.get(key).unwrap_or(&0.0) - s.get(key).unwrap_or(&0.0)).abs();
        *per_column.entry(&key.0).or_insert(0.0) += d;
    }
    per_column.values().copied().fold(0.0, f64::max)
}

/// Item 9: a statistician's huge budget works for both mechanisms (it failed with an opendp
/// overflow after spending the budget), the certificate verifies and states the epsilon
/// asked for, and the release is as close to the data as the method gets.
#[test]
fn huge_budgets_release_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    for mech in ["mst", "aim"] {
        let out = dir.path().join(format!("r-{mech}"));
        synth(
            &data,
            &schema,
            &out,
            &["--mechanism", mech, "--epsilon", "100000"],
        )
        .success();
        dpsynth().arg("verify").arg(&out).assert().success();
        let cert = read_json(&out.join("certificate.json"));
        let eps = cert["guarantee"]["epsilon"].as_f64().unwrap();
        assert!(
            eps <= 1e5 && eps > 1e5 * (1.0 - 1e-6),
            "{mech}: epsilon {eps}"
        );
        let l1 = worst_one_way_l1(&data, &out.join("synthetic.csv"));
        assert!(l1 < 0.01, "{mech}: worst one-way L1 {l1}");
    }
}

/// Item 9: any finite budget works. Past the noise-free ceiling (rho 1e12 per K^2) dpsynth
/// spends only the ceiling, says so, and the certificate states that smaller rho.
#[test]
fn budgets_past_the_noise_free_ceiling_spend_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    for (i, budget) in [["--epsilon", "1e300"], ["--rho", "1.7e308"]]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("r{i}"));
        let a = synth(
            &data,
            &schema,
            &out,
            &["--mechanism", "mst", budget[0], budget[1]],
        )
        .success();
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(stderr.contains("spends only that"), "{stderr}");
        dpsynth().arg("verify").arg(&out).assert().success();
        let cert = read_json(&out.join("certificate.json"));
        let rho = cert["guarantee"]["rho"].as_f64().unwrap();
        assert!(rho <= 1e12 && rho > 1e12 * (1.0 - 1e-9), "rho {rho}");
        assert!(cert["guarantee"]["budget_rho"].as_f64().unwrap() > 1e12);
        let l1 = worst_one_way_l1(&data, &out.join("synthetic.csv"));
        assert!(l1 < 0.01, "worst one-way L1 {l1}");
    }
}
