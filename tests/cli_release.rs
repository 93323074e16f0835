//! End to end through the binary: a certified release verifies, and each kind of tampering
//! makes `dpsynth verify` fail naming the check (issue #6). Uses adult with its domain file
//! as the schema, MST at epsilon 1.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    release: PathBuf,
    key: PathBuf,
}

fn make_release(extra: &[&str]) -> Option<Fixture> {
    let data = common::shared_data("adult/adult.csv")?;
    let schema = common::shared_data("adult/adult-domain.json")?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let key = root.join("holder.key");
    dpsynth()
        .args(["keygen", "--out"])
        .arg(&key)
        .assert()
        .success();
    let release = root.join("release");
    dpsynth()
        .args([
            "synth",
            "--mechanism",
            "mst",
            "--epsilon",
            "1",
            "--quiet",
            "--seed",
            "3",
            "--sign-with",
        ])
        .arg(&key)
        .arg("--data")
        .arg(&data)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&release)
        .args(extra)
        .assert()
        .success();
    Some(Fixture {
        _dir: dir,
        root,
        release,
        key,
    })
}

fn copy_release(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn verify_fails(dir: &Path, key: Option<&Path>, check: &str) {
    let mut cmd = dpsynth();
    cmd.arg("verify").arg(dir);
    if let Some(k) = key {
        cmd.arg("--public-key").arg(k);
    }
    cmd.assert().code(1).stderr(contains(check));
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] = if b[i] == b'1' { b'2' } else { b'1' };
    fs::write(path, b).unwrap();
}

fn edit_cert(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("certificate.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn release_verifies_and_tampering_is_caught() {
    let Some(fx) = make_release(&[]) else { return };
    let pubkey = PathBuf::from(format!("{}.pub", fx.key.display()));
    for f in [
        "synthetic.csv",
        "model.json",
        "certificate.json",
        "README.txt",
    ] {
        assert!(fx.release.join(f).exists(), "{f} written");
    }
    dpsynth()
        .arg("verify")
        .arg(&fx.release)
        .assert()
        .success()
        .stdout(contains("VERIFIED"));
    dpsynth()
        .arg("verify")
        .arg(&fx.release)
        .arg("--public-key")
        .arg(&pubkey)
        .assert()
        .success();
    let json = dpsynth()
        .arg("verify")
        .arg(&fx.release)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);

    let case = |name: &str| {
        let d = fx.root.join(name);
        copy_release(&fx.release, &d);
        d
    };
    // One byte of each file.
    let d = case("csv");
    flip_byte(&d.join("synthetic.csv"), 500);
    verify_fails(&d, None, "file synthetic.csv");
    let d = case("model");
    flip_byte(&d.join("model.json"), 300);
    verify_fails(&d, None, "file model.json");
    let d = case("cert");
    let text = fs::read_to_string(d.join("certificate.json")).unwrap();
    let pos = text.find("\"seed\"").unwrap() + 8;
    flip_byte(&d.join("certificate.json"), pos);
    verify_fails(&d, None, "signature");
    // A removed ledger entry.
    let d = case("ledger");
    edit_cert(&d, |v| {
        v["ledger"].as_array_mut().unwrap().remove(3);
    });
    verify_fails(&d, None, "total rho");
    // An edited sigma.
    let d = case("sigma");
    edit_cert(&d, |v| {
        let s = v["ledger"][0]["scale"].as_f64().unwrap();
        v["ledger"][0]["scale"] = serde_json::json!(s * 1.5);
    });
    verify_fails(&d, None, "ledger steps");
    // Another key's signature swapped in.
    let other = fx.root.join("other.key");
    dpsynth()
        .args(["keygen", "--out"])
        .arg(&other)
        .assert()
        .success();
    let other_release = fx.root.join("other-release");
    let data = common::shared_data("adult/adult.csv").unwrap();
    let schema = common::shared_data("adult/adult-domain.json").unwrap();
    dpsynth()
        .args([
            "synth",
            "--mechanism",
            "mst",
            "--rho",
            "0.01",
            "--quiet",
            "--rows",
            "100",
            "--sign-with",
        ])
        .arg(&other)
        .arg("--data")
        .arg(&data)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&other_release)
        .assert()
        .success();
    let other_sig: serde_json::Value = serde_json::from_str::<serde_json::Value>(
        &fs::read_to_string(other_release.join("certificate.json")).unwrap(),
    )
    .unwrap()["signature"]
        .clone();
    let d = case("swap");
    edit_cert(&d, |v| v["signature"] = other_sig);
    verify_fails(&d, None, "signature");
    // The original key rejects a release signed by another.
    verify_fails(&other_release, Some(&pubkey), "not by the given public key");
}

#[test]
fn unsigned_release_fails_when_a_key_is_required() {
    let Some(data) = common::shared_data("adult/adult.csv") else {
        return;
    };
    let schema = common::shared_data("adult/adult-domain.json").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    dpsynth()
        .args(["keygen", "--out"])
        .arg(&key)
        .assert()
        .success();
    let out = dir.path().join("r");
    dpsynth()
        .args([
            "synth",
            "--mechanism",
            "mst",
            "--epsilon",
            "0.5",
            "--quiet",
            "--rows",
            "500",
        ])
        .arg("--data")
        .arg(&data)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    dpsynth().arg("verify").arg(&out).assert().success();
    verify_fails(
        &out,
        Some(&PathBuf::from(format!("{}.pub", key.display()))),
        "not signed",
    );
    // --rows is honoured and recorded as the user's choice.
    let cert: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("certificate.json")).unwrap()).unwrap();
    assert_eq!(cert["outputs"][0]["rows"], 500);
    assert_eq!(cert["sampling"]["rows_source"], "user");
    // An existing output directory is refused without --force, and left as it was.
    dpsynth()
        .args(["synth", "--mechanism", "mst", "--epsilon", "0.5", "--quiet"])
        .arg("--data")
        .arg(&data)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("already exists"));
    dpsynth().arg("verify").arg(&out).assert().success();
}

/// Turns a release's v2 certificate into the version 1 format (issue #19: version 1
/// certificates still verify): no `guarantee.privacy_unit` and no `guarantee.lifetime`, and,
/// when `key` is given, signed as the version 1 tool signed, over the compact JSON of the
/// certificate without `signature` with sorted keys.
fn make_v1(dir: &Path, key: Option<&Path>) {
    // Version 1 releases had no attestation and no data card.
    let _ = fs::remove_file(dir.join("certificate.dsse.json"));
    edit_cert(dir, |v| {
        v["format_version"] = 1.into();
        let g = v["guarantee"].as_object_mut().unwrap();
        g.remove("privacy_unit");
        g.remove("lifetime");
        let obj = v.as_object_mut().unwrap();
        obj.remove("signature");
        for block in ["release", "deployment", "implementation", "utility"] {
            obj.remove(block);
        }
        if let Some(k) = key {
            use ed25519_dalek::Signer;
            let sk = dpsynth::release::load_signing_key(k).unwrap();
            let bytes = serde_json::to_vec(&serde_json::Value::Object(obj.clone())).unwrap();
            let sig = sk.sign(&bytes);
            obj.insert(
                "signature".into(),
                serde_json::json!({
                    "algorithm": dpsynth::release::sign::SIGNATURE_ALGORITHM,
                    "public_key": hex::encode(sk.verifying_key().as_bytes()),
                    "fingerprint": dpsynth::release::fingerprint(&sk.verifying_key()),
                    "value": hex::encode(sig.to_bytes()),
                }),
            );
        }
    });
}

#[test]
fn version_1_certificates_still_verify() {
    let Some(fx) = make_release(&[]) else { return };
    let pubkey = PathBuf::from(format!("{}.pub", fx.key.display()));
    let case = |name: &str| {
        let d = fx.root.join(name);
        copy_release(&fx.release, &d);
        d
    };

    // Unsigned and signed v1 certificates verify, the signed one against the holder's key.
    let d = case("v1-unsigned");
    make_v1(&d, None);
    dpsynth()
        .arg("verify")
        .arg(&d)
        .assert()
        .success()
        .stdout(contains("v1 (record-level"));
    let d = case("v1-signed");
    make_v1(&d, Some(&fx.key));
    let text = fs::read_to_string(d.join("certificate.json")).unwrap();
    assert!(!text.contains("privacy_unit") && text.contains("\"format_version\": 1"));
    dpsynth()
        .arg("verify")
        .arg(&d)
        .arg("--public-key")
        .arg(&pubkey)
        .assert()
        .success()
        .stdout(contains("VERIFIED"));

    // The v1 signature covers what v1 had: tampering with it still fails.
    let d2 = case("v1-signed-tampered");
    make_v1(&d2, Some(&fx.key));
    edit_cert(&d2, |v| v["sampling"]["seed"] = 4.into());
    verify_fails(&d2, None, "signature");

    // A v1 certificate cannot declare a unit other than the record (v1 predates units, and
    // its signature does not cover one), nor a lifetime ledger.
    let d3 = case("v1-unit");
    make_v1(&d3, Some(&fx.key));
    edit_cert(&d3, |v| {
        v["guarantee"]["privacy_unit"] = serde_json::json!({"column": "age", "max_rows": 1})
    });
    verify_fails(&d3, None, "format version");
    let d4 = case("v1-lifetime");
    make_v1(&d4, None);
    edit_cert(&d4, |v| {
        v["guarantee"]["lifetime"] = serde_json::json!({
            "ledger_id": "x", "release": 1, "cumulative_rho": 0.1,
            "budget_rho": 1.0, "cumulative_epsilon": 1.0, "delta": 1e-9
        })
    });
    verify_fails(&d4, None, "format version");
    // Nor the release context blocks of #19.
    let d6 = case("v1-release-block");
    make_v1(&d6, None);
    edit_cert(
        &d6,
        |v| v["release"] = serde_json::json!({"id": "00112233445566778899aabbccddeeff", "started": "2026-01-01T00:00:00Z"}),
    );
    verify_fails(&d6, None, "format version");

    // A version 2 certificate from before the release context blocks (#19) still verifies.
    let d7 = case("v2-early");
    edit_cert(&d7, |v| {
        let obj = v.as_object_mut().unwrap();
        for block in [
            "release",
            "deployment",
            "implementation",
            "utility",
            "signature",
        ] {
            obj.remove(block);
        }
    });
    let _ = fs::remove_file(d7.join("certificate.dsse.json"));
    dpsynth()
        .arg("verify")
        .arg(&d7)
        .assert()
        .success()
        .stdout(contains("from before release contexts"));

    // Unknown versions are refused.
    let d5 = case("v3");
    edit_cert(&d5, |v| v["format_version"] = 3.into());
    verify_fails(&d5, None, "format version");
}
