//! Every command that prints exits as it would have when the reader of its standard output
//! has gone (`dpsynth evaluate --json ... | head -0`), instead of panicking on the broken pipe
//! (issue #21 item 2). Each command runs with standard output connected to a pipe whose read
//! end is closed before the command starts, so every write to it fails with EPIPE.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs dpsynth with `args`, standard output into a closed pipe; asserts the exit code and
/// that nothing panicked. Returns standard error.
fn run_closed(args: &[&str], code: i32) -> String {
    let (reader, writer) = io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_dpsynth"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"),
        "dpsynth {args:?} with a closed stdout: {stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "dpsynth {args:?} with a closed stdout: {stderr}"
    );
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The first `n` records of the bundled demo table, with its schema.
fn demo(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let data = dir.join("admissions.csv");
    let mut w = io::BufWriter::new(fs::File::create(&data).unwrap());
    let r = BufReader::new(fs::File::open(root.join("admissions.csv")).unwrap());
    for line in r.lines().take(n + 1) {
        writeln!(w, "{}", line.unwrap()).unwrap();
    }
    w.flush().unwrap();
    (data, root.join("admissions.schema.toml"))
}

#[test]
fn every_printing_command_survives_a_closed_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (data, schema) = demo(dir, 3000);
    let (data, schema) = (s(&data), s(&schema));
    let key = dir.join("k.key");
    let release = dir.join("release");
    let release2 = dir.join("release2");
    let model = dir.join("model.json");
    let synth_csv = dir.join("synth.csv");
    let ledger = dir.join("l.ledger");

    run_closed(&["budget", "--epsilon", "1"], 0);
    run_closed(&["budget", "--epsilon", "1", "--json"], 0);
    run_closed(&["keygen", "--out", s(&key)], 0);
    assert!(key.exists());
    run_closed(&["schema", "check", schema], 0);
    run_closed(&["schema", "check", schema, "--data", data], 0);
    let err = run_closed(&["schema", "draft", "--data", data], 0);
    assert!(err.contains("private"), "{err}");
    let common = [
        "--data",
        data,
        "--schema",
        schema,
        "--mechanism",
        "mst",
        "--epsilon",
        "1",
        "--quiet",
    ];
    let synth = |out: &Path, extra: &[&str], code: i32| {
        let mut a = vec!["synth"];
        a.extend(common);
        a.extend(["--out", s(out), "--sign-with", s(&key)]);
        a.extend(extra);
        run_closed(&a, code)
    };
    synth(&release, &[], 0);
    assert!(release.join("certificate.json").exists());
    synth(&release2, &["--json"], 0);
    assert!(release2.join("certificate.json").exists());
    let fit = |out: &Path, extra: &[&str]| {
        let mut a = vec!["fit"];
        a.extend(common);
        a.extend(["--out", s(out)]);
        a.extend(extra);
        run_closed(&a, 0)
    };
    fit(&model, &[]);
    assert!(model.exists());
    fit(&dir.join("model2.json"), &["--json"]);
    assert!(dir.join("model2.json").exists());
    run_closed(
        &[
            "sample",
            "--model",
            s(&model),
            "--rows",
            "500",
            "--out",
            s(&synth_csv),
        ],
        0,
    );
    assert!(synth_csv.exists());
    let eval = [
        "evaluate",
        "--real",
        data,
        "--synthetic",
        s(&synth_csv),
        "--schema",
        schema,
    ];
    run_closed(&eval, 0);
    run_closed(&[&eval[..], &["--json"]].concat(), 0);
    run_closed(&["verify", s(&release)], 0);
    run_closed(&["verify", s(&release), "--json"], 0);
    run_closed(&["registry-entry", s(&release)], 0);
    run_closed(&["registry-entry", s(&release), "--json"], 0);
    // A failing verification still fails, and still says why on stderr.
    fs::write(release.join("synthetic.csv"), "tampered\n").unwrap();
    let err = run_closed(&["verify", s(&release)], 1);
    assert!(err.contains("verification failed"), "{err}");
    let q = ["query", "--model", s(&model), "--marginal", "sex,icu"];
    run_closed(&q, 0);
    run_closed(&[&q[..], &["--json"]].concat(), 0);
    run_closed(&["ledger", "init", s(&ledger), "--epsilon", "4"], 0);
    run_closed(&["ledger", "show", s(&ledger)], 0);
    run_closed(&["ledger", "show", s(&ledger), "--json"], 0);
    // A usage error still exits 2, and help and version exit 0.
    run_closed(&["budget", "--epsilon", "-1"], 2);
    run_closed(&["--help"], 0);
    run_closed(&["--version"], 0);
}
