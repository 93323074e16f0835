//! Parquet input and output (issue #17): adult and NIST written to Parquet by a helper,
//! read back with the same counts as from CSV, released from Parquet, `--format parquet`
//! hashed in the certificate; bad cells give the CSV reader's errors with a row number.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use assert_cmd::prelude::*;
use dpsynth::data::{read_table_with, DataError, EncodedTable, ReadOptions};
use dpsynth::marginal::{all_k_way, count, Domain};
use dpsynth::schema::Schema;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// How the helper stores a CSV column in Parquet.
#[derive(Clone, Copy)]
enum As {
    Int,
    Float,
    Date,
    /// A TIMESTAMP (seconds) from `YYYY-MM-DD HH:MM`.
    Stamp,
    Text,
}

/// Writes `csv` as Parquet, each column typed as `types` says (text by default): cells equal
/// to one of `nulls` become Parquet nulls, numbers are parsed, dates stored as DATE.
/// Small row groups, so reading spans many of them.
fn csv_to_parquet(csv: &Path, out: &Path, types: &dyn Fn(&str) -> As, nulls: &[&str]) {
    let mut rdr = csv::Reader::from_path(csv).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (j, name) in names.iter().enumerate() {
        let cells = rows.iter().map(|r| {
            let v = r.get(j).unwrap();
            (!nulls.contains(&v)).then_some(v)
        });
        let (t, a): (DataType, ArrayRef) = match types(name) {
            As::Int => (
                DataType::Int64,
                Arc::new(Int64Array::from_iter(
                    cells.map(|c| c.map(|v| v.parse::<f64>().unwrap() as i64)),
                )),
            ),
            As::Float => (
                DataType::Float64,
                Arc::new(Float64Array::from_iter(
                    cells.map(|c| c.map(|v| v.parse::<f64>().unwrap())),
                )),
            ),
            As::Date => (
                DataType::Date32,
                Arc::new(Date32Array::from_iter(cells.map(|c| {
                    c.map(|v| {
                        let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").unwrap();
                        (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
                    })
                }))),
            ),
            As::Stamp => (
                DataType::Timestamp(arrow_schema::TimeUnit::Second, None),
                Arc::new(TimestampSecondArray::from_iter(cells.map(|c| {
                    c.map(|v| {
                        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M")
                            .unwrap()
                            .and_utc()
                            .timestamp()
                    })
                }))),
            ),
            As::Text => (
                DataType::Utf8,
                Arc::new(StringArray::from_iter(cells.map(|c| c.map(String::from)))),
            ),
        };
        fields.push(Field::new(name, t, true));
        arrays.push(a);
    }
    let schema = Arc::new(ArrowSchema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(5_000))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(out).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(path: &Path, schema: &Schema) -> EncodedTable {
    read_table_with(path, schema, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn assert_same_counts(a: &EncodedTable, b: &EncodedTable, schema: &Schema, max_k: usize) {
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    assert_eq!(a.n_rows(), b.n_rows());
    for k in 1..=max_k {
        for c in all_k_way(domain.len(), k) {
            assert_eq!(
                count(a, &domain, &c).values,
                count(b, &domain, &c).values,
                "{}",
                c.describe(&domain)
            );
        }
    }
}

#[test]
fn adult_parquet_counts_equal_csv() {
    let (Some(csv), Some(dom)) = (
        common::shared_data("adult/adult.csv"),
        common::shared_data("adult/adult-domain.json"),
    ) else {
        return;
    };
    let schema = Schema::from_path(&dom).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("adult.parquet");
    csv_to_parquet(&csv, &pq, &|_| As::Int, &[]);
    assert_same_counts(&read(&csv, &schema), &read(&pq, &schema), &schema, 3);
}

/// NIST with numbers typed and "N" stored as Parquet nulls: the reader treats a null as
/// the missing token, so the counts equal the CSV's.
#[test]
fn nist_parquet_with_nulls_counts_equal_csv() {
    let Some(csv) = common::shared_data("nist_crc/national2019.csv") else {
        return;
    };
    let schema = Schema::from_path(&repo("examples/nist/national2019.schema.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("nist.parquet");
    let types = |name: &str| match name {
        "AGEP" | "NPF" | "POVPIP" | "PWGTP" | "WGTP" => As::Int,
        "DENSITY" | "PINCP" => As::Float,
        _ => As::Text,
    };
    csv_to_parquet(&csv, &pq, &types, &["N"]);
    assert_same_counts(&read(&csv, &schema), &read(&pq, &schema), &schema, 2);
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

/// The demo admissions as typed Parquet (integers, a float, a DATE), released from Parquet
/// with `--format parquet`: the release verifies, the certificate hashes synthetic.parquet
/// with its row count, and `evaluate` reads both Parquet files.
#[test]
fn release_from_parquet_to_parquet_verifies() {
    let csv = repo("examples/data/admissions.csv");
    let schema_path = repo("examples/data/admissions.schema.toml");
    let schema = Schema::from_path(&schema_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("admissions.parquet");
    let types = |name: &str| match name {
        "age" => As::Int,
        "creatinine" => As::Float,
        "admission_date" | "discharge_date" => As::Date,
        _ => As::Text,
    };
    csv_to_parquet(&csv, &pq, &types, &[""]);
    assert_same_counts(&read(&csv, &schema), &read(&pq, &schema), &schema, 2);

    let out = dir.path().join("release");
    dpsynth()
        .args(["synth", "--data"])
        .arg(&pq)
        .arg("--schema")
        .arg(&schema_path)
        .args([
            "--epsilon",
            "1",
            "--mechanism",
            "mst",
            "--format",
            "parquet",
            "-q",
        ])
        .args(["--seed", "3", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert!(!out.join("synthetic.csv").exists());
    let cert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("certificate.json")).unwrap())
            .unwrap();
    let data = &cert["outputs"][0];
    assert_eq!(data["file"], "synthetic.parquet");
    let synth = read(&out.join("synthetic.parquet"), &schema);
    assert_eq!(data["rows"].as_u64(), Some(synth.n_rows() as u64));
    dpsynth().arg("verify").arg(&out).assert().success();

    // The same model re-sampled to CSV with the same seed holds the same values.
    let resampled = dir.path().join("again.csv");
    dpsynth()
        .args(["sample", "--model"])
        .arg(out.join("model.json"))
        .args(["--seed", "3", "--out"])
        .arg(&resampled)
        .assert()
        .success();
    let again_pq = dir.path().join("again.parquet");
    dpsynth()
        .args(["sample", "--model"])
        .arg(out.join("model.json"))
        .args(["--seed", "3", "--out"])
        .arg(&again_pq)
        .assert()
        .success();
    let a = read(&resampled, &schema);
    let b = read(&again_pq, &schema);
    assert_same_counts(&a, &b, &schema, 1);

    dpsynth()
        .args(["evaluate", "--real"])
        .arg(&pq)
        .arg("--synthetic")
        .arg(out.join("synthetic.parquet"))
        .arg("--schema")
        .arg(&schema_path)
        .args(["--json", "--dcr-sample", "200"])
        .assert()
        .success();

    // Tampering with the Parquet file is caught.
    let p = out.join("synthetic.parquet");
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    dpsynth().arg("verify").arg(&out).assert().code(1);
}

/// A bad cell in Parquet: the CSV reader's error, with the row (1-based, in file order)
/// instead of the line; a null where missing is not allowed; types dpsynth cannot read.
#[test]
fn parquet_errors_name_file_row_and_column() {
    let schema_path = repo("examples/data/admissions.schema.toml");
    let schema = Schema::from_path(&schema_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("examples/data/admissions.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(30).map(String::from).collect();
    // Row 7 (line 8 of the CSV): sex "X".
    lines[7] = lines[7].replacen(",F,", ",X,", 1).replacen(",M,", ",X,", 1);
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let pq = dir.path().join("bad.parquet");
    csv_to_parquet(&csv, &pq, &|_| As::Text, &[]);
    let e = read_table_with(&pq, &schema, &ReadOptions::default()).unwrap_err();
    let csv_e = read_table_with(&csv, &schema, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::UnknownValue { .. }), "{e}");
    let (m, cm) = (e.to_string(), csv_e.to_string());
    assert!(
        m.contains("bad.parquet: row 7: column \"sex\": value \"X\""),
        "{m}"
    );
    assert!(
        cm.contains("bad.csv: line 8: column \"sex\": value \"X\""),
        "{cm}"
    );
    assert_eq!(
        m.split("row 7").nth(1),
        cm.split("line 8").nth(1),
        "same message after the location"
    );

    // A null in a column whose missing policy is "error" (sex).
    let pq2 = dir.path().join("nulls.parquet");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        text.lines().take(30).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    csv_to_parquet(&good, &pq2, &|_| As::Text, &["F"]);
    let e = read_table_with(&pq2, &schema, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(e, DataError::MissingValue { ref column, .. } if column == "sex"),
        "{e}"
    );

    // Not Parquet at all, though named so.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "a,b\n1,2\n").unwrap();
    let e = read_table_with(&fake, &schema, &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not a readable Parquet file"), "{e}");

    // The CLI exits 1 with the message and writes nothing.
    let out = dir.path().join("r");
    let o = dpsynth()
        .args(["synth", "--data"])
        .arg(&pq)
        .arg("--schema")
        .arg(&schema_path)
        .args(["--epsilon", "1", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    // Grouped like the CSV reader's problems: counted, first row named, value hidden.
    assert!(err.contains("1 row, first at row 7"), "{err}");
    assert!(err.contains("values hidden"), "{err}");
    assert!(!err.contains("\"X\""), "{err}");
    assert!(!out.exists());
    // With --show-values (the operator's choice) the value is printed.
    let o = dpsynth()
        .args(["schema", "check"])
        .arg(&schema_path)
        .arg("--data")
        .arg(&pq)
        .arg("--show-values")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let all = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        all.contains("value \"X\" is not in the schema's list"),
        "{all}"
    );
    assert!(all.contains("first at row 7"), "{all}");
}

/// The schema's `position` (an unnamed index column), `skip` and `id` columns and a
/// `datetime` column read from a Parquet TIMESTAMP: the same table as from the CSV, and a
/// release from Parquet writes neither skipped column (CSV and Parquet output alike).
#[test]
fn parquet_honours_position_skip_id_and_datetime_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv_text = String::from(",patient,note,seen_at,sex,age\n");
    for i in 0..600 {
        csv_text.push_str(&format!(
            "{i},P{},free text {i},2023-01-0{} {:02}:{:02},{},{}\n",
            i % 97,
            1 + i % 7,
            i % 24,
            i % 60,
            if i % 3 == 0 { "F" } else { "M" },
            (i * 7) % 101
        ));
    }
    let csv = dir.path().join("visits.csv");
    std::fs::write(&csv, &csv_text).unwrap();
    let schema_path = dir.path().join("visits.schema.toml");
    std::fs::write(
        &schema_path,
        r#"
[[columns]]
name = "row_index"
position = 1
kind = "skip"

[[columns]]
name = "patient"
kind = "id"

[[columns]]
name = "note"
kind = "skip"

[[columns]]
name = "seen_at"
kind = "datetime"
min = "2023-01-01 00:00"
max = "2023-01-07 23:59"
unit = "hour"

[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "age"
kind = "integer"
min = 0
max = 100
bin_width = 10
"#,
    )
    .unwrap();
    let schema = Schema::from_path(&schema_path).unwrap_or_else(|e| panic!("{e}"));
    let pq = dir.path().join("visits.parquet");
    let types = |name: &str| match name {
        "age" => As::Int,
        "seen_at" => As::Stamp,
        _ => As::Text,
    };
    csv_to_parquet(&csv, &pq, &types, &[]);
    let (a, b) = (read(&csv, &schema), read(&pq, &schema));
    assert_eq!(a.n_rows(), 600);
    assert_same_counts(&a, &b, &schema, 3);

    for (format, file) in [("csv", "synthetic.csv"), ("parquet", "synthetic.parquet")] {
        let out = dir.path().join(format!("r-{format}"));
        dpsynth()
            .args(["synth", "--data"])
            .arg(&pq)
            .arg("--schema")
            .arg(&schema_path)
            .args([
                "--epsilon",
                "1",
                "-q",
                "--mechanism",
                "mst",
                "--format",
                format,
            ])
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        dpsynth().arg("verify").arg(&out).assert().success();
        let names: Vec<String> = if format == "csv" {
            let mut r = csv::Reader::from_path(out.join(file)).unwrap();
            r.headers().unwrap().iter().map(String::from).collect()
        } else {
            let f = std::fs::File::open(out.join(file)).unwrap();
            let b =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        };
        assert_eq!(names, ["patient", "seen_at", "sex", "age"], "{format}");
    }
}

/// A Parquet file is recognised by its magic bytes whatever its name.
#[test]
fn parquet_is_detected_by_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("examples/data/admissions.csv")).unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(
        &csv,
        text.lines().take(100).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let odd = dir.path().join("export.dat");
    csv_to_parquet(&csv, &odd, &|_| As::Text, &[]);
    assert!(dpsynth::data::is_parquet(&odd));
    assert!(!dpsynth::data::is_parquet(&csv));
    let schema = Schema::from_path(&repo("examples/data/admissions.schema.toml")).unwrap();
    assert_same_counts(&read(&csv, &schema), &read(&odd, &schema), &schema, 1);
}
