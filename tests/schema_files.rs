//! The schema files the project ships or reads: the benchmark domain import (adult) and the
//! demo admissions schema with its data.

mod common;

use std::path::PathBuf;

use dpsynth::data::{read_csv, write_csv};
use dpsynth::schema::{ColumnKind, Schema};

fn manifest(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn adult_domain_loads_as_15_categorical_columns() {
    let Some(dom) = common::shared_data("adult/adult-domain.json") else {
        return;
    };
    let s = Schema::from_path(&dom).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.columns().len(), 15);
    assert!(s
        .columns()
        .iter()
        .all(|c| matches!(c.kind(), ColumnKind::Categorical(_))));
    // File order and the sizes in the file.
    let expected = [
        ("education", 16),
        ("age", 32),
        ("workclass", 9),
        ("fnlwgt", 32),
        ("education-num", 16),
        ("marital-status", 7),
        ("occupation", 15),
        ("relationship", 6),
        ("race", 5),
        ("sex", 2),
        ("capital-gain", 32),
        ("capital-loss", 32),
        ("hours-per-week", 32),
        ("native-country", 42),
        ("income>50K", 2),
    ];
    let got: Vec<(String, usize)> = s
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.cardinality()))
        .collect();
    let want: Vec<(String, usize)> = expected.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    assert_eq!(got, want);

    // The integer-coded CSV encodes to its own codes.
    let Some(csv_path) = common::shared_data("adult/adult.csv") else {
        return;
    };
    let (t, report) = read_csv(&csv_path, &s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.n_cols(), 15);
    assert_eq!(report.total_clamped() + report.total_other(), 0);
    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let first = rdr.records().next().unwrap().unwrap();
    for (j, name) in t.names().iter().enumerate() {
        let k = header.iter().position(|h| h == name).unwrap();
        assert_eq!(t.column(j).get(0).to_string(), &first[k], "{name}");
    }
}

#[test]
fn demo_admissions_encode_and_decode() {
    let s = Schema::from_path_for_release(&manifest("examples/data/admissions.schema.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.columns().len(), 14);
    assert_eq!(s.modelled().len(), 13);
    let (t, report) =
        read_csv(&manifest("examples/data/admissions.csv"), &s).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.n_rows() >= 20_000);
    assert_eq!(report.total_clamped(), 0);
    let col = |n: &str| {
        report
            .columns
            .iter()
            .find(|c| c.name == n)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        col("creatinine").missing > 0,
        "the demo has unmeasured creatinine"
    );
    assert!(
        col("insurance").mapped_to_other > 0,
        "the demo exercises the catch-all"
    );

    // Decode a slice and read it back: same codes.
    let n = 500;
    let columns: Vec<Vec<u32>> = (0..t.n_cols())
        .map(|j| (0..n).map(|r| t.column(j).get(r)).collect())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.csv");
    write_csv(&out, &s, &columns, 5).unwrap();
    let (back, _) = read_csv(&out, &s).unwrap_or_else(|e| panic!("{e}"));
    for (j, col) in columns.iter().enumerate() {
        let got: Vec<u32> = (0..n).map(|r| back.column(j).get(r)).collect();
        assert_eq!(&got, col, "{}", back.names()[j]);
    }
}
