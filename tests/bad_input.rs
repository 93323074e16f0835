//! The bad-input catalogue (issue #8): every case exits 1 (2 for usage errors) with a message
//! naming the file, line and column where there is one, never panics, and leaves no output
//! behind. The list is mirrored in the README's troubleshooting section.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const SCHEMA: &str = "examples/data/admissions.schema.toml";
const DATA: &str = "examples/data/admissions.csv";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo header and its first `n` data lines.
fn demo_lines(n: usize) -> Vec<String> {
    fs::read_to_string(root().join(DATA))
        .unwrap()
        .lines()
        .take(n + 1)
        .map(String::from)
        .collect()
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }
    fn out(&self) -> PathBuf {
        self.dir.path().join("release")
    }
    /// Runs synth (MST, quiet) with the given data and schema plus extra arguments.
    fn synth(&self, data: &Path, schema: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("dpsynth")
            .unwrap()
            .args([
                "synth",
                "--mechanism",
                "mst",
                "-q",
                "--seed",
                "1",
                "--epsilon",
                "1",
            ])
            .arg("--data")
            .arg(data)
            .arg("--schema")
            .arg(schema)
            .arg("--out")
            .arg(self.out())
            .args(extra)
            .assert()
    }
    /// Nothing was left in the working folder but the inputs this case wrote.
    fn assert_no_output(&self, inputs: &[&Path]) {
        assert!(!self.out().exists(), "no release directory after a failure");
        for e in fs::read_dir(self.dir.path()).unwrap() {
            let p = e.unwrap().path();
            assert!(
                inputs.iter().any(|i| *i == p),
                "left behind: {}",
                p.display()
            );
        }
    }
}

fn schema() -> PathBuf {
    root().join(SCHEMA)
}

/// A data case: exit 1, message containing every `needle`, nothing written.
fn data_case(name: &str, bytes: &[u8], needles: &[&str]) {
    data_case_with(name, bytes, &[], needles, &[]);
}

/// [`data_case`] with extra arguments and text that must not appear.
fn data_case_with(name: &str, bytes: &[u8], extra: &[&str], needles: &[&str], absent: &[&str]) {
    let c = Case::new();
    let data = c.file(name, bytes);
    let mut a = c.synth(&data, &schema(), extra).code(1);
    for n in needles {
        a = a.stderr(predicate::str::contains(*n));
    }
    for n in absent {
        a = a.stderr(predicate::str::contains(*n).not());
    }
    a.stderr(predicate::str::contains("panicked").not());
    c.assert_no_output(&[&data]);
}

/// A bad cell: file, line and column named, the raw value only with `--show-values`
/// (issue #13 item 4), and the message says how to see it.
fn cell_case(name: &str, bytes: &[u8], needles: &[&str], value: &str) {
    let hidden = [needles, &["--show-values"]].concat();
    data_case_with(name, bytes, &[], &hidden, &[value]);
    data_case_with(
        name,
        bytes,
        &["--show-values"],
        &[needles, &[value]].concat(),
        &[],
    );
}

#[test]
fn empty_file() {
    data_case("empty.csv", b"", &["empty.csv", "empty"]);
}

#[test]
fn header_only() {
    let l = demo_lines(0);
    data_case(
        "header.csv",
        format!("{}\n", l[0]).as_bytes(),
        &["header.csv", "no data rows"],
    );
}

#[test]
fn missing_column() {
    let l = demo_lines(3);
    let cut: Vec<String> = l
        .iter()
        .map(|r| r.rsplit_once(',').unwrap().0.to_string())
        .collect();
    data_case(
        "missing.csv",
        (cut.join("\n") + "\n").as_bytes(),
        &["missing.csv", "line 1", "readmitted_30d"],
    );
}

#[test]
fn extra_column() {
    let l = demo_lines(3);
    let more: Vec<String> = l
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{r},{}", if i == 0 { "shoe_size" } else { "42" }))
        .collect();
    data_case(
        "extra.csv",
        (more.join("\n") + "\n").as_bytes(),
        &["extra.csv", "line 1", "shoe_size"],
    );
}

#[test]
fn duplicated_column() {
    let l = demo_lines(3);
    let dup: Vec<String> = l
        .iter()
        .map(|r| format!("{r},{}", r.split(',').nth(2).unwrap()))
        .collect();
    data_case(
        "dup.csv",
        (dup.join("\n") + "\n").as_bytes(),
        &["dup.csv", "line 1", "sex", "twice"],
    );
}

#[test]
fn ragged_row() {
    let mut l = demo_lines(4);
    l[3] = l[3].rsplit_once(',').unwrap().0.to_string();
    data_case(
        "ragged.csv",
        (l.join("\n") + "\n").as_bytes(),
        &["ragged.csv", "line 4"],
    );
}

#[test]
fn non_utf8_bytes() {
    let l = demo_lines(3);
    let mut bytes = (l.join("\n") + "\n").into_bytes();
    let at = bytes.iter().rposition(|&b| b == b'F' || b == b'M').unwrap();
    bytes[at] = 0xff;
    data_case("latin.csv", &bytes, &["latin.csv", "UTF-8"]);
}

#[test]
fn value_outside_the_schema() {
    let mut l = demo_lines(5);
    l[2] = l[2].replacen(",M,", ",X,", 1).replacen(",F,", ",X,", 1);
    cell_case(
        "value.csv",
        (l.join("\n") + "\n").as_bytes(),
        &["value.csv", "line 3", "sex", "not in the schema's list"],
        "\"X\"",
    );
}

/// Replaces field `i` of a CSV line (the demo data has no quoted commas).
fn set_field(line: &mut String, i: usize, value: &str) {
    let mut f: Vec<&str> = line.split(',').collect();
    f[i] = value;
    *line = f.join(",");
}

#[test]
fn number_that_does_not_parse() {
    let mut l = demo_lines(5);
    set_field(&mut l[4], 1, "seventy");
    cell_case(
        "num.csv",
        (l.join("\n") + "\n").as_bytes(),
        &["num.csv", "line 5", "age", "not a number"],
        "seventy",
    );
}

#[test]
fn date_that_does_not_parse() {
    let mut l = demo_lines(5);
    set_field(&mut l[2], 7, "31/02/2023");
    cell_case(
        "date.csv",
        (l.join("\n") + "\n").as_bytes(),
        &["date.csv", "line 3", "admission_date", "not a date"],
        "31/02/2023",
    );
}

#[test]
fn bom_and_quoted_newlines_are_accepted() {
    let c = Case::new();
    let mut l = demo_lines(300);
    // A quoted field with a newline inside an id (ids are not modelled).
    l[5] = l[5].replacen("P00005", "\"P000\n05\"", 1);
    let mut bytes = vec![0xef, 0xbb, 0xbf];
    bytes.extend((l.join("\n") + "\n").as_bytes());
    let data = c.file("bom.csv", &bytes);
    c.synth(&data, &schema(), &["--rows", "50"]).success();
    Command::cargo_bin("dpsynth")
        .unwrap()
        .arg("verify")
        .arg(c.out())
        .assert()
        .success();
}

#[test]
fn schema_problems() {
    let data = root().join(DATA);
    let cases: &[(&str, &str, &[&str])] = &[
        ("empty.toml", "", &["empty.toml", "column"]),
        ("draft.toml", "draft = true\n[[columns]]\nname = \"sex\"\nkind = \"categorical\"\nvalues = [\"F\", \"M\"]\n", &["draft.toml", "draft"]),
        ("kind.toml", "[[columns]]\nname = \"sex\"\nkind = \"colour\"\n", &["kind.toml", "sex", "colour"]),
        ("bounds.toml", "[[columns]]\nname = \"age\"\nkind = \"integer\"\nmin = 90\nmax = 10\n", &["bounds.toml", "age"]),
    ];
    for (name, text, needles) in cases {
        let c = Case::new();
        let s = c.file(name, text.as_bytes());
        let mut a = c.synth(&data, &s, &[]).code(1);
        for n in *needles {
            a = a.stderr(predicate::str::contains(*n));
        }
        c.assert_no_output(&[&s]);
    }
}

#[test]
fn schema_whose_model_would_exceed_memory() {
    // Three 60,000-value columns: any pair has 3.6e9 cells.
    let c = Case::new();
    let mut schema = String::new();
    let mut header = Vec::new();
    for n in ["a", "b", "c"] {
        schema +=
            &format!("[[columns]]\nname = \"{n}\"\nkind = \"integer\"\nmin = 0\nmax = 59999\n\n");
        header.push(n);
    }
    let s = c.file("huge.toml", schema.as_bytes());
    let d = c.file(
        "huge.csv",
        format!("{}\n1,2,3\n4,5,6\n", header.join(",")).as_bytes(),
    );
    c.synth(&d, &s, &[])
        .code(1)
        .stderr(predicate::str::contains("cells"))
        .stderr(predicate::str::contains("panicked").not());
    c.assert_no_output(&[&s, &d]);
}

#[test]
fn budget_and_rows_usage_errors_exit_2() {
    let c = Case::new();
    let data = root().join(DATA);
    for bad in [
        &["--epsilon", "0"][..],
        &["--epsilon", "-1"],
        &["--epsilon", "NaN"],
        &["--epsilon", "inf"],
        &["--epsilon", "1", "--delta", "0"],
        &["--epsilon", "1", "--delta", "1"],
        &["--epsilon", "1", "--delta", "1.5"],
        &["--rho", "0"],
        &["--epsilon", "1", "--rows", "0"],
    ] {
        Command::cargo_bin("dpsynth")
            .unwrap()
            .args(["synth", "-q", "--data"])
            .arg(&data)
            .arg("--schema")
            .arg(schema())
            .arg("--out")
            .arg(c.out())
            .args(bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"));
        assert!(!c.out().exists());
    }
    // No budget at all is a usage error too.
    Command::cargo_bin("dpsynth")
        .unwrap()
        .args(["synth", "--data"])
        .arg(&data)
        .arg("--schema")
        .arg(schema())
        .arg("--out")
        .arg(c.out())
        .assert()
        .code(2);
}

#[test]
fn output_directory_exists_or_cannot_be_written() {
    let c = Case::new();
    let data = root().join(DATA);
    fs::create_dir(c.out()).unwrap();
    fs::write(c.out().join("keep.txt"), "mine").unwrap();
    c.synth(&data, &schema(), &[])
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(
        fs::read_to_string(c.out().join("keep.txt")).unwrap(),
        "mine"
    );
    // A parent that is a file: not writable as a directory.
    let f = c.file("plain-file", b"x");
    Command::cargo_bin("dpsynth")
        .unwrap()
        .args([
            "synth",
            "--mechanism",
            "mst",
            "-q",
            "--epsilon",
            "1",
            "--data",
        ])
        .arg(&data)
        .arg("--schema")
        .arg(schema())
        .arg("--out")
        .arg(f.join("release"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("plain-file"));
}

/// A full disk, simulated by a 64 KiB tmpfs (needs root to mount; skipped with a printed
/// line elsewhere). The release does not fit: exit 1 and nothing left on the mount.
#[test]
fn disk_that_fills() {
    let c = Case::new();
    let mnt = c.dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("skipped: cannot mount a small tmpfs here (not root?)");
        return;
    }
    let out = mnt.join("release");
    let r = Command::cargo_bin("dpsynth")
        .unwrap()
        .args([
            "synth",
            "--mechanism",
            "mst",
            "-q",
            "--epsilon",
            "1",
            "--data",
        ])
        .arg(root().join(DATA))
        .arg("--schema")
        .arg(schema())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let left: Vec<_> = fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert_eq!(
        r.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("No space left"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(left.is_empty(), "left on the full disk: {left:?}");
}

/// kill -9 at several points of a run: never a release that `verify` accepts, anywhere in
/// the output's parent folder (the staging area holds no certificate.json); the next run
/// removes the dead run's staging area.
#[test]
fn interrupted_run_leaves_no_verifiable_release() {
    let Some(data) = shared_adult() else { return };
    for delay_ms in [150u64, 400, 900, 1500] {
        let c = Case::new();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dpsynth"))
            .args([
                "synth",
                "--mechanism",
                "aim",
                "-q",
                "--epsilon",
                "1",
                "--data",
            ])
            .arg(&data.0)
            .arg("--schema")
            .arg(&data.1)
            .arg("--out")
            .arg(c.out())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for e in fs::read_dir(c.dir.path()).unwrap() {
            let p = e.unwrap().path();
            assert!(
                !p.join("certificate.json").exists(),
                "{} holds a certificate after kill -9",
                p.display()
            );
            Command::cargo_bin("dpsynth")
                .unwrap()
                .arg("verify")
                .arg(&p)
                .assert()
                .code(1);
        }
        // The next run into the same place sweeps what the killed one left and succeeds.
        c.synth(&data.0, &data.1, &["--force"]).success();
        let left: Vec<_> = fs::read_dir(c.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![c.out().file_name().unwrap().to_owned()]);
    }
}

fn shared_adult() -> Option<(PathBuf, PathBuf)> {
    let base = root().join("../shared/data/adult");
    if base.exists() {
        return Some((base.join("adult.csv"), base.join("adult-domain.json")));
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("CI=true but ../shared/data/adult is missing");
    }
    println!("skipped: ../shared/data/adult not found");
    None
}
