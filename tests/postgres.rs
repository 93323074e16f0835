//! Counting inside PostgreSQL (issue #17), against a real server: `.ci/run` starts a
//! throwaway cluster (`.ci/pg.sh`), loads adult, the NIST excerpt and the demo admissions,
//! and exports DPSYNTH_TEST_PG and PGPASSWORD. Without them the tests print why they skip,
//! except under CI=true, where they fail.

mod common;
#[path = "common/fidelity.rs"]
mod fidelity;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::prelude::*;
use dpsynth::data::{read_table_with, ReadOptions};
use dpsynth::marginal::{all_k_way, Clique, Domain, InMemoryOracle, MarginalOracle};
use dpsynth::privacy::PrivacyUnit;
use dpsynth::schema::Schema;
use dpsynth::sql::{PgSource, Relation, SqlOracle};

/// The test server's URL (no password), or None after printing why the test skips.
fn server() -> Option<String> {
    match std::env::var("DPSYNTH_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!(
                    "CI=true but DPSYNTH_TEST_PG is not set: .ci/run starts the PostgreSQL cluster"
                );
            }
            println!(
                "skipped: no PostgreSQL test server (run `source .ci/pg.sh && pg_up` to start one)"
            );
            None
        }
    }
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

/// A plain connection for test setup (creating bad tables).
fn admin(url: &str) -> postgres::Client {
    let mut c: postgres::Config = url.parse().unwrap();
    if let Ok(p) = std::env::var("PGPASSWORD") {
        c.password(p);
    }
    c.connect(postgres::NoTls).unwrap()
}

/// The SQL oracle and the in-memory oracle over the same data.
fn oracles(
    url: &str,
    table: &str,
    csv: &Path,
    schema: &Schema,
) -> (SqlOracle, dpsynth::data::EncodedTable) {
    let mut src = PgSource::connect(url, Relation::Table(table.into())).unwrap();
    let compiled = src.compile(schema, None).unwrap();
    let problems = src.validate(&compiled, true).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let oracle = SqlOracle::new(src, &compiled, domain, &PrivacyUnit::Record).unwrap();
    let (mem, _) = read_table_with(csv, schema, &ReadOptions::default()).unwrap();
    (oracle, mem)
}

fn assert_same_counts(sql: &SqlOracle, mem: &dpsynth::data::EncodedTable, cliques: &[Clique]) {
    let memory = InMemoryOracle::new(mem);
    assert_eq!(sql.domain(), memory.domain());
    sql.prefetch(cliques).unwrap();
    for c in cliques {
        let a = sql.marginal(c).unwrap();
        let b = memory.marginal(c).unwrap();
        assert_eq!(a.shape, b.shape);
        assert!(
            a.values == b.values,
            "clique {} differs",
            c.describe(memory.domain())
        );
    }
}

fn up_to_3_way(d: usize) -> Vec<Clique> {
    (1..=3).flat_map(|k| all_k_way(d, k)).collect()
}

#[test]
fn adult_counts_equal_in_memory_for_every_1_2_3_way_clique() {
    let Some(url) = server() else { return };
    let (Some(csv), Some(dom)) = (
        common::shared_data("adult/adult.csv"),
        common::shared_data("adult/adult-domain.json"),
    ) else {
        return;
    };
    let schema = Schema::from_path(&dom).unwrap();
    let (sql, mem) = oracles(&url, "adult", &csv, &schema);
    let cliques = up_to_3_way(schema.modelled().len());
    assert_eq!(cliques.len(), 15 + 105 + 455);
    assert_same_counts(&sql, &mem, &cliques);
}

/// NIST is loaded with every column as text (as exported): the SQL parses numbers, reads
/// "N" as missing and bins, exactly as the CSV reader does.
#[test]
fn nist_counts_equal_in_memory_for_every_1_2_3_way_clique() {
    let Some(url) = server() else { return };
    let Some(csv) = common::shared_data("nist_crc/national2019.csv") else {
        return;
    };
    let schema = Schema::from_path(&repo("examples/nist/national2019.schema.toml")).unwrap();
    let (sql, mem) = oracles(&url, "nist", &csv, &schema);
    assert_same_counts(&sql, &mem, &up_to_3_way(schema.modelled().len()));
}

/// The demo admissions as a typed table (integer, double precision, date columns).
#[test]
fn typed_admissions_counts_equal_in_memory() {
    let Some(url) = server() else { return };
    let schema = Schema::from_path(&repo("examples/data/admissions.schema.toml")).unwrap();
    let (sql, mem) = oracles(
        &url,
        "admissions",
        &repo("examples/data/admissions.csv"),
        &schema,
    );
    let d = schema.modelled().len();
    let cliques: Vec<Clique> = (1..=2).flat_map(|k| all_k_way(d, k)).collect();
    assert_same_counts(&sql, &mem, &cliques);
}

/// Truncation in SQL keeps exactly min(rows, K) rows of each unit (the total of any
/// marginal), and which rows it keeps varies with the key.
#[test]
fn truncation_keeps_at_most_k_rows_per_unit() {
    let Some(url) = server() else { return };
    let mut c = admin(&url);
    c.batch_execute(
        "DROP TABLE IF EXISTS trunc_labs; \
         CREATE TABLE trunc_labs AS SELECT 'U' || (row_number() OVER () % 3000) AS patient_id, \
         age, sex, admission_type, diagnosis_group, ward, icu, admission_date, discharge_date, \
         discharge_outcome, died, creatinine, insurance, readmitted_30d FROM admissions",
    )
    .unwrap();
    let per_unit: Vec<i64> = c
        .query("SELECT count(*) FROM trunc_labs GROUP BY patient_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let schema = Schema::from_path(&repo("examples/data/admissions.schema.toml")).unwrap();
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let mut seen = Vec::new();
    for k in [1u32, 3, 5] {
        let expected: i64 = per_unit.iter().map(|&n| n.min(k as i64)).sum();
        let mut src = PgSource::connect(&url, Relation::Table("trunc_labs".into())).unwrap();
        let compiled = src.compile(&schema, Some("patient_id")).unwrap();
        assert!(src.validate(&compiled, false).unwrap().is_empty());
        let unit = PrivacyUnit::column("patient_id", k).unwrap();
        let oracle = SqlOracle::new(src, &compiled, domain.clone(), &unit).unwrap();
        let t = oracle.marginal(&Clique::new([1])).unwrap();
        assert_eq!(t.values.iter().sum::<f64>(), expected as f64, "K = {k}");
        let two = oracle.marginal(&Clique::new([0, 2])).unwrap();
        assert_eq!(two.values.iter().sum::<f64>(), expected as f64);
        if k == 1 {
            seen.push(oracle.marginal(&Clique::new([0])).unwrap().values);
            // A second key chooses other rows (6-7 rows per unit, one kept): the age
            // histograms of two draws agree with probability far below 1e-6.
            let mut src = PgSource::connect(&url, Relation::Table("trunc_labs".into())).unwrap();
            let compiled = src.compile(&schema, Some("patient_id")).unwrap();
            assert!(src.validate(&compiled, false).unwrap().is_empty());
            let o2 = SqlOracle::new(src, &compiled, domain.clone(), &unit).unwrap();
            seen.push(o2.marginal(&Clique::new([0])).unwrap().values);
            assert_ne!(seen[0], seen[1], "truncation is randomised by its key");
        }
    }
}

fn mean_3way_l1(real_csv: &Path, schema_path: &Path, synth_csv: &Path) -> f64 {
    let schema = Schema::from_path(schema_path).unwrap();
    let (real, _) = read_table_with(real_csv, &schema, &ReadOptions::default()).unwrap();
    let (synth, _) = read_table_with(synth_csv, &schema, &ReadOptions::default()).unwrap();
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    fidelity::mean_k_way_l1(&real, &synth, &domain, 3)
}

/// A full release from PostgreSQL verifies, and its quality is a CSV run's: MST on adult
/// at epsilon 1 gives mean 3-way L1 0.179 per run (sd ~0.004, 24 runs); 0.2 is five
/// standard deviations out.
#[test]
fn synth_from_postgres_verifies_and_matches_csv_quality() {
    let Some(url) = server() else { return };
    let (Some(csv), Some(dom)) = (
        common::shared_data("adult/adult.csv"),
        common::shared_data("adult/adult-domain.json"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("release");
    dpsynth()
        .args(["synth", "--data", &url, "--table", "adult", "--schema"])
        .arg(&dom)
        .args(["--epsilon", "1", "--mechanism", "mst", "-q", "--out"])
        .arg(&out)
        .assert()
        .success();
    dpsynth().arg("verify").arg(&out).assert().success();
    let l1 = mean_3way_l1(&csv, &dom, &out.join("synthetic.csv"));
    println!("MST adult eps 1 from PostgreSQL: mean 3-way L1 {l1:.4}");
    assert!(l1 < 0.2, "mean 3-way L1 {l1}");
    // The certificate says nothing about the source (no URL, no table name).
    let cert = std::fs::read_to_string(out.join("certificate.json")).unwrap();
    assert!(!cert.contains("127.0.0.1") && !cert.contains("postgresql://"));
}

/// AIM and a privacy unit through the CLI, from a typed table.
#[test]
fn synth_aim_with_unit_from_postgres() {
    let Some(url) = server() else { return };
    let mut c = admin(&url);
    c.batch_execute(
        "DROP TABLE IF EXISTS unit_labs; \
         CREATE TABLE unit_labs AS SELECT 'U' || (row_number() OVER () % 4000) AS patient_id, \
         age, sex, admission_type, diagnosis_group, ward, icu, admission_date, discharge_date, \
         discharge_outcome, died, creatinine, insurance, readmitted_30d FROM admissions",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    dpsynth()
        .args(["synth", "--data", &url, "--table", "unit_labs", "--schema"])
        .arg(repo("examples/data/admissions.schema.toml"))
        .args([
            "--epsilon",
            "1",
            "--privacy-unit",
            "patient_id",
            "--max-rows-per-unit",
            "2",
            "--rounds",
            "20",
            "-q",
            "--format",
            "parquet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    dpsynth().arg("verify").arg(&out).assert().success();
    let cert = std::fs::read_to_string(out.join("certificate.json")).unwrap();
    assert!(cert.contains("\"max_rows\": 2"), "{cert}");
    assert!(out.join("synthetic.parquet").exists());
}

fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Bad values in a table give the CSV reader's errors (same column, problem, value and
/// advice), with the number of rows instead of a line; values only with --show-values.
#[test]
fn bad_values_give_the_csv_errors() {
    let Some(url) = server() else { return };
    let mut c = admin(&url);
    let schema_path = repo("examples/data/admissions.schema.toml");
    // Each case: a column, its bad text, the phrase both readers must print.
    let cases = [
        ("sex", "X", "is not in the schema's list"),
        ("age", "forty", "is not a number"),
        ("age", "40.5", "is not a whole number"),
        (
            "admission_date",
            "2022-02-30",
            "is not a date in the format",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("examples/data/admissions.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    for (i, (col, bad, phrase)) in cases.iter().enumerate() {
        let table = format!("bad_{i}");
        // All text columns, so any bad text can be stored; three rows carry it.
        let cols: Vec<String> = header.iter().map(|h| format!("\"{h}\" text")).collect();
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({});",
            cols.join(", ")
        ))
        .unwrap();
        let mut csv = String::from(text.lines().next().unwrap());
        csv.push('\n');
        let pos = header.iter().position(|h| h == col).unwrap();
        for (r, line) in text.lines().skip(1).take(50).enumerate() {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            if r % 10 == 3 && r < 30 {
                f[pos] = bad.to_string();
            }
            csv.push_str(&f.join(","));
            csv.push('\n');
        }
        let file = dir.path().join(format!("{table}.csv"));
        std::fs::write(&file, &csv).unwrap();
        let mut w = c
            .copy_in(&format!(
                "COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
            ))
            .unwrap();
        std::io::Write::write_all(&mut w, csv.as_bytes()).unwrap();
        w.finish().unwrap();

        let from_csv = stderr_of(
            dpsynth()
                .args(["synth", "--data"])
                .arg(&file)
                .arg("--schema")
                .arg(&schema_path)
                .args(["--epsilon", "1", "-q", "--out"])
                .arg(dir.path().join("x")),
        );
        let run = |show: bool| {
            let mut cmd = dpsynth();
            cmd.args(["synth", "--data", &url, "--table", &table, "--schema"])
                .arg(&schema_path)
                .args(["--epsilon", "1", "-q", "--out"])
                .arg(dir.path().join("y"));
            if show {
                cmd.arg("--show-values");
            }
            stderr_of(&mut cmd)
        };
        let shown = run(true);
        let hidden = run(false);
        for msg in [&from_csv, &shown, &hidden] {
            assert!(msg.contains(phrase), "{msg}");
            assert!(msg.contains(&format!("column \"{col}\"")), "{msg}");
        }
        assert!(from_csv.contains("line 5"), "{from_csv}");
        assert!(shown.contains(&format!("\"{bad}\"")), "{shown}");
        assert!(shown.contains("3 rows"), "{shown}");
        assert!(shown.contains(&format!("table {table}")), "{shown}");
        assert!(!hidden.contains(&format!("\"{bad}\"")), "{hidden}");
        assert!(hidden.contains("--show-values"), "{hidden}");
        // Grouped like the CSV reader's problems: distinct values counted in the database.
        assert!(hidden.contains("1 distinct value is"), "{hidden}");
        assert!(hidden.contains("3 rows"), "{hidden}");
        assert!(!dir.path().join("y").exists());
        // `schema check` runs the same validation in the database (#17 leftover).
        let checked = stderr_of(
            dpsynth()
                .args(["schema", "check"])
                .arg(&schema_path)
                .args(["--data", &url, "--table", &table]),
        );
        assert!(checked.contains(phrase), "{checked}");
        assert!(checked.contains(&format!("column \"{col}\"")), "{checked}");
        assert!(checked.contains("3 rows"), "{checked}");
        assert!(!checked.contains(&format!("\"{bad}\"")), "{checked}");
    }
    // A clean table checks clean.
    let out = dpsynth()
        .args(["schema", "check"])
        .arg(&schema_path)
        .args(["--data", &url, "--table", "admissions"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("data encodes cleanly"),
        "{out:?}"
    );
}

/// Wrong password, unreachable server, missing table, a password in the URL, queries that
/// write: exit 1 with a clear message, nothing written, the table untouched.
#[test]
fn connection_problems_exit_1_with_a_clear_message() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = repo("examples/data/admissions.schema.toml");
    let run = |data: &str, extra: &[&str], password: Option<&str>| {
        let mut cmd = dpsynth();
        cmd.args(["synth", "--data", data])
            .args(extra)
            .arg("--schema")
            .arg(&schema)
            .args(["--epsilon", "1", "-q", "--out"])
            .arg(dir.path().join("out"));
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        cmd.env("PGPASSFILE", dir.path().join("no-pgpass"));
        stderr_of(&mut cmd)
    };
    let e = run(&url, &["--table", "admissions"], Some("wrong"));
    assert!(e.contains("authentication failed"), "{e}");
    assert!(e.contains("PGPASSWORD"), "{e}");

    let closed = "postgresql://dpsynth@127.0.0.1:1/dpsynth_test";
    let e = run(closed, &["--table", "admissions"], Some("x"));
    assert!(e.contains("cannot connect"), "{e}");

    let e = run(&url, &["--table", "no_such_table"], None);
    assert!(
        e.contains("no_such_table") && e.contains("does not exist"),
        "{e}"
    );

    let with_pw = url.replace("dpsynth@", "dpsynth:hunter2@");
    let e = run(&with_pw, &["--table", "admissions"], None);
    assert!(
        e.contains("never takes a password") && !e.contains("hunter2"),
        "{e}"
    );

    let e = run(
        &url,
        &[
            "--query",
            "WITH d AS (DELETE FROM admissions RETURNING *) SELECT * FROM d",
        ],
        None,
    );
    assert!(e.contains("query:"), "{e}");
    // A function that writes is stopped by the read-only transaction.
    admin(&url)
        .batch_execute("CREATE SEQUENCE IF NOT EXISTS dpsynth_test_seq")
        .unwrap();
    let e = run(
        &url,
        &[
            "--query",
            "SELECT a.* FROM admissions a WHERE nextval('dpsynth_test_seq') > 0",
        ],
        None,
    );
    assert!(e.contains("read-only"), "{e}");

    let e = run(&url, &[], None);
    assert!(e.contains("--table") && e.contains("--query"), "{e}");
    assert!(!dir.path().join("out").exists());
    // The table is untouched.
    let n: i64 = admin(&url)
        .query_one("SELECT count(*) FROM admissions", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 20_000);
}

/// `skip` and `id` columns and a `datetime` column stored as TIMESTAMP: the counts equal the
/// CSV's, and a skip column may be absent from the table.
#[test]
fn datetime_skip_and_id_columns_count_like_csv() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut csv_text = String::from("patient,note,seen_at,sex,age\n");
    let mut values = Vec::new();
    for i in 0..600 {
        let (patient, note) = (format!("P{}", i % 97), format!("free text {i}"));
        let seen = format!("2023-01-0{} {:02}:{:02}", 1 + i % 7, i % 24, i % 60);
        let (sex, age) = (if i % 3 == 0 { "F" } else { "M" }, (i * 7) % 101);
        csv_text.push_str(&format!("{patient},{note},{seen},{sex},{age}\n"));
        values.push(format!(
            "('{patient}', '{note}', TIMESTAMP '{seen}', '{sex}', {age})"
        ));
    }
    let csv = dir.path().join("visits.csv");
    std::fs::write(&csv, &csv_text).unwrap();
    let schema_path = dir.path().join("visits.schema.toml");
    std::fs::write(
        &schema_path,
        r#"
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
    let schema = Schema::from_path(&schema_path).unwrap();
    let mut c = admin(&url);
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS visits; \
         CREATE TABLE visits (patient text, note text, seen_at timestamp, sex text, age integer); \
         INSERT INTO visits VALUES {}; \
         DROP TABLE IF EXISTS visits_no_note; \
         CREATE TABLE visits_no_note AS SELECT patient, seen_at, sex, age FROM visits;",
        values.join(", ")
    ))
    .unwrap();
    let d = schema.modelled().len();
    for table in ["visits", "visits_no_note"] {
        let (sql, mem) = oracles(&url, table, &csv, &schema);
        assert_same_counts(&sql, &mem, &up_to_3_way(d));
    }
    // A datetime stored as text is parsed in SQL as the CSV reader parses it: ISO 8601
    // without a format (here with seconds, as PostgreSQL prints a timestamp), or the
    // column's format; the counts are the CSV's.
    c.batch_execute(
        "DROP TABLE IF EXISTS visits_text; \
         CREATE TABLE visits_text AS SELECT patient, note, seen_at::text AS seen_at, sex, age FROM visits; \
         DROP TABLE IF EXISTS visits_dmy; \
         CREATE TABLE visits_dmy AS SELECT patient, note, ' ' || to_char(seen_at, 'DD/MM/YYYY HH24:MI') AS seen_at, sex, age FROM visits;",
    )
    .unwrap();
    let (sql, mem) = oracles(&url, "visits_text", &csv, &schema);
    assert_same_counts(&sql, &mem, &up_to_3_way(d));
    let dmy_path = dir.path().join("visits_dmy.schema.toml");
    let dmy_text = std::fs::read_to_string(&schema_path).unwrap().replace(
        "unit = \"hour\"",
        "unit = \"hour\"\nformat = \"%d/%m/%Y %H:%M\"",
    );
    std::fs::write(&dmy_path, dmy_text).unwrap();
    let dmy = Schema::from_path(&dmy_path).unwrap();
    let mut src = PgSource::connect(&url, Relation::Table("visits_dmy".into())).unwrap();
    let compiled = src.compile(&dmy, None).unwrap();
    assert!(src.validate(&compiled, true).unwrap().is_empty());
    let domain = Domain::new(dmy.modelled_names(), dmy.modelled_cardinalities());
    let sql = SqlOracle::new(src, &compiled, domain, &PrivacyUnit::Record).unwrap();
    assert_same_counts(&sql, &mem, &up_to_3_way(d));
    // Bad text (not a date-time; an impossible day; an hour past 23) is reported like the
    // CSV reader reports it, never counted.
    c.batch_execute(
        "DROP TABLE IF EXISTS visits_bad; \
         CREATE TABLE visits_bad AS SELECT * FROM visits_text; \
         UPDATE visits_bad SET seen_at = 'yesterday' WHERE age = 7; \
         UPDATE visits_bad SET seen_at = '2023-02-30 10:00' WHERE age = 14; \
         UPDATE visits_bad SET seen_at = '2023-01-02 24:00' WHERE age = 21;",
    )
    .unwrap();
    let mut src = PgSource::connect(&url, Relation::Table("visits_bad".into())).unwrap();
    let compiled = src.compile(&schema, None).unwrap();
    let problems = src.validate(&compiled, true).unwrap();
    let (lines, _) = problems.render(true, 100);
    let joined = lines.join("\n");
    assert!(joined.contains("is not a date in the format"), "{joined}");
    assert!(joined.contains("seen_at"), "{joined}");
    for bad in ["yesterday", "2023-02-30 10:00", "2023-01-02 24:00"] {
        assert!(joined.contains(bad), "{bad} not reported: {joined}");
    }
}
