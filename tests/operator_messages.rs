//! What the operator sees on the terminal: timings only with `--timings` and labelled private
//! (issue #13 item 3); data problems grouped by kind, column and value with counts, "N more"
//! over the limit, raw values only with `--show-values`, and notes that name the column
//! (issue #20 item 2, issue #13 item 4).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/admissions.schema.toml")
}

/// The first `n` demo records, each passed through `edit(index, fields)`.
fn demo(dir: &Path, name: &str, n: usize, edit: impl Fn(usize, &mut Vec<String>)) -> PathBuf {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/admissions.csv"),
    )
    .unwrap();
    let mut lines = text.lines();
    let mut out = vec![lines.next().unwrap().to_string()];
    for (i, l) in lines.take(n).enumerate() {
        let mut f: Vec<String> = l.split(',').map(String::from).collect();
        edit(i, &mut f);
        out.push(f.join(","));
    }
    let p = dir.join(name);
    fs::write(&p, out.join("\n") + "\n").unwrap();
    p
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn synth(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    dpsynth()
        .args([
            "synth",
            "-q",
            "--mechanism",
            "mst",
            "--epsilon",
            "1",
            "--data",
        ])
        .arg(data)
        .arg("--schema")
        .arg(schema())
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn timings_only_with_the_flag_and_labelled_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), "d.csv", 2000, |_, _| {});
    let o = synth(&data, &dir.path().join("a"), &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    assert!(
        v.get("timings").is_none() && !text.contains("seconds") && !text.contains("phases"),
        "{text}"
    );
    assert!(!stderr(&o).contains("timings"));
    for e in fs::read_dir(dir.path().join("a")).unwrap() {
        let body = fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!body.contains("seconds") && !body.contains("timings"));
    }

    let o = synth(&data, &dir.path().join("b"), &["--json", "--timings"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["timings"];
    assert!(t["label"].as_str().unwrap().contains("private"), "{t}");
    assert!(t["total_seconds"].as_f64().unwrap() > 0.0);
    assert!(t["phases"].as_array().unwrap().len() >= 3, "{t}");
    for e in fs::read_dir(dir.path().join("b")).unwrap() {
        let body = fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!body.contains("seconds") && !body.contains("timings"));
    }

    let o = synth(&data, &dir.path().join("c"), &["--timings"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("timings (private, for the operator only") && err.contains("total"),
        "{err}"
    );

    let o = dpsynth()
        .args([
            "fit",
            "-q",
            "--mechanism",
            "mst",
            "--epsilon",
            "1",
            "--json",
            "--data",
        ])
        .arg(&data)
        .arg("--schema")
        .arg(schema())
        .arg("--out")
        .arg(dir.path().join("m.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("seconds"));
}

/// The steward's report: a misspelled value on many rows is one line with its count and
/// first line (not 20 identical lines), every distinct problem is listed up to the limit
/// with how many more there are, values only with --show-values; a release run reports the
/// same and writes nothing.
#[test]
fn data_problems_grouped_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    // diagnosis_group is field 4, age field 1; rows 5, 12, 19, ... misspelled (line 7 first).
    let data = demo(dir.path(), "d.csv", 3000, |i, f| {
        if i % 7 == 5 {
            f[4] = "misc adult".into();
        }
        if i == 40 || i == 41 {
            f[1] = format!("age{i}");
        }
    });
    let check = |extra: &[&str]| {
        dpsynth()
            .args(["schema", "check"])
            .arg(schema())
            .arg("--data")
            .arg(&data)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = check(&["--show-values"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "column \"diagnosis_group\": value \"misc adult\" is not in the schema's list: 428 rows, first at line 7"
        ),
        "{err}"
    );
    assert!(
        err.contains("value \"age40\" is not a number: 1 row, first at line 42"),
        "{err}"
    );
    assert_eq!(err.matches("misc adult").count(), 1, "{err}");
    assert!(err.contains("private, for the operator only"), "{err}");
    assert!(err.contains("3 problem(s) found"), "{err}");

    let o = check(&["--show-values", "--max-problems", "1"]);
    let err = stderr(&o);
    assert!(
        err.contains("... and 2 more distinct problems not listed"),
        "{err}"
    );
    assert!(!err.contains("age40"), "{err}");

    // Without --show-values: no raw value, the column and counts stay.
    let o = check(&[]);
    let err = stderr(&o);
    assert!(
        !err.contains("misc adult") && !err.contains("age4"),
        "{err}"
    );
    assert!(
        err.contains("column \"diagnosis_group\": 1 distinct value is not in the schema's list: 428 rows, first at line 7"),
        "{err}"
    );
    assert!(
        err.contains(
            "column \"age\": 2 distinct values are not a number: 2 rows, first at line 42"
        ),
        "{err}"
    );
    assert!(err.contains("--show-values"), "{err}");

    // A release run reports the same grouping and writes nothing.
    let out = dir.path().join("r");
    let o = synth(&data, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("428 rows, first at line 7"), "{err}");
    assert!(err.contains("2 problem(s) in the data"), "{err}");
    assert!(!err.contains("misc adult"), "{err}");
    assert!(!out.exists());
}

/// Operator notes name the column whose bound or list to fix.
#[test]
fn clamping_note_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), "d.csv", 500, |i, f| {
        if i < 5 {
            f[1] = "138".into();
        }
    });
    let o = dpsynth()
        .args(["schema", "check"])
        .arg(schema())
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("note (private, for the operator only): column \"age\": 5 above the maximum clamped to it"),
        "{err}"
    );
}

/// `schema check --data` checks every record against the schema's rules and names each rule
/// broken, with its row count and first line (private, for the operator); clean data passes.
#[test]
fn schema_check_counts_rows_breaking_each_rule() {
    let dir = tempfile::tempdir().unwrap();
    let header: Vec<String> = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/admissions.csv"),
    )
    .unwrap()
    .lines()
    .next()
    .unwrap()
    .split(',')
    .map(String::from)
    .collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (sex, ward, diag) = (col("sex"), col("ward"), col("diagnosis_group"));
    let clean = demo(dir.path(), "clean.csv", 200, |_, _| {});
    let out = dpsynth()
        .args(["schema", "check"])
        .arg(schema())
        .arg("--data")
        .arg(&clean)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let rules = fs::read_to_string(schema())
        .unwrap()
        .matches("[[rules]]")
        .count();
    assert!(rules > 0);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("every record obeys the {rules} rule(s)")),
        "{said}"
    );

    // Rows 3 and 7 (lines 4 and 8): a man on the maternity ward, not an obstetric case.
    let broken = demo(dir.path(), "broken.csv", 200, |i, f| {
        if i == 2 || i == 6 {
            f[sex] = "M".into();
            f[ward] = "maternity".into();
            f[diag] = "other".into();
        }
    });
    let out = dpsynth()
        .args(["schema", "check"])
        .arg(schema())
        .arg("--data")
        .arg(&broken)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("rule \"maternity ward is for women\" is broken by 2 row(s), first at line 4"),
        "{err}"
    );
    assert!(err.contains("private"), "{err}");
}
