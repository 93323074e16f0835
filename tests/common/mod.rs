//! Helpers shared by the end-to-end tests: locating ../shared/data and loading the
//! integer-coded benchmark sets without going through the schema layer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use dpsynth::data::EncodedTable;
use dpsynth::marginal::Domain;

/// Path of `rel` under the shared data folder beside the checkout.
///
/// Under CI (`CI=true`) a missing folder fails the test; elsewhere the test prints why it
/// skipped and the caller returns early.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("CI=true but shared data {} is missing", p.display());
    }
    println!("skipped: shared data {} not found", p.display());
    None
}

/// Loads an integer-coded benchmark set (adult, titanic, salary): `<name>/<name>.csv` with
/// `<name>/<name>-domain.json` giving each column's number of codes.
pub fn load_coded(name: &str) -> Option<(EncodedTable, Domain)> {
    let csv_path = shared_data(&format!("{name}/{name}.csv"))?;
    let dom_path = shared_data(&format!("{name}/{name}-domain.json"))?;
    let dom: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dom_path).unwrap()).unwrap();
    let mut rdr = csv::Reader::from_path(csv_path).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let sizes: Vec<usize> = names
        .iter()
        .map(|n| dom[n].as_u64().unwrap() as usize)
        .collect();
    let rows: Vec<Vec<u32>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    let table = EncodedTable::from_rows(names.clone(), sizes.clone(), &rows).unwrap();
    Some((table, Domain::new(names, sizes)))
}

/// A public schema for [`lab_table`]: several lab-test rows per subject.
pub const LAB_SCHEMA: &str = r#"
description = "Lab tests: several rows per subject"

[[columns]]
name = "subject_id"
kind = "id"
prefix = "S"

[[columns]]
name = "age_group"
kind = "categorical"
values = ["0-17", "18-39", "40-64", "65-79", "80+"]

[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "test"
kind = "categorical"
values = ["glucose", "sodium", "potassium", "creatinine"]

[[columns]]
name = "result"
kind = "categorical"
values = ["low", "normal", "high"]
"#;

/// A multi-row table for privacy-unit tests: 600 subjects with 1 to 5 rows each (a fixed pattern), values depending on the subject and
/// the row, so rows of one subject are alike. Returns (csv path, schema path, rows).
pub fn lab_table(dir: &Path) -> (PathBuf, PathBuf, usize) {
    let ages = ["0-17", "18-39", "40-64", "65-79", "80+"];
    let tests = ["glucose", "sodium", "potassium", "creatinine"];
    let results = ["low", "normal", "high"];
    let mut text = String::from("subject_id,age_group,sex,test,result\n");
    let mut rows = 0;
    for s in 0..600usize {
        let n = 1 + (s * 7 + s / 3) % 5;
        for r in 0..n {
            let age = ages[(s * 13) % 5];
            let sex = if s % 3 == 0 { "F" } else { "M" };
            let test = tests[(s + r) % 4];
            let result = results[if (s * 5 + r) % 7 < 5 {
                1
            } else {
                (s + r) % 2 * 2
            }];
            text += &format!("S{s:04},{age},{sex},{test},{result}\n");
            rows += 1;
        }
    }
    let csv = dir.join("labs.csv");
    let schema = dir.join("labs.schema.toml");
    std::fs::write(&csv, text).unwrap();
    std::fs::write(&schema, LAB_SCHEMA).unwrap();
    (csv, schema, rows)
}

/// Runs `cmd`, asserts that it succeeded and parses its standard output as JSON (the
/// `--json` outputs of `synth`, `query`, `evaluate`, `ledger show`).
pub fn json_stdout(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("stdout is JSON")
}
