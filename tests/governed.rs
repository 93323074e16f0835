//! Governed releases (issue #19), end to end through the binary on the bundled demo data:
//! certificate v2's release context, deployment, implementation, utility and prior releases;
//! tampering with them fails `dpsynth verify`; and no field of the certificate (nor of the
//! data card or registry entry) carries a count, hash or value of the private input other
//! than DP outputs.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;

const DATA: &str = "examples/data/admissions.csv";
const SCHEMA: &str = "examples/data/admissions.schema.toml";

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A demo release (MST, epsilon 1, patient_id unit from the schema), with `extra` flags.
fn synth(out: &Path, extra: &[&str]) {
    dpsynth()
        .current_dir(root())
        .args([
            "synth",
            "--mechanism",
            "mst",
            "--epsilon",
            "1",
            "--quiet",
            "--data",
            DATA,
            "--schema",
            SCHEMA,
            "--out",
        ])
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

fn cert(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("certificate.json")).unwrap()).unwrap()
}

fn edit_cert(dir: &Path, f: impl FnOnce(&mut Value)) {
    let mut v = cert(dir);
    f(&mut v);
    fs::write(
        dir.join("certificate.json"),
        serde_json::to_string_pretty(&v).unwrap(),
    )
    .unwrap();
}

fn copy_release(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn verify_fails(dir: &Path, check: &str) {
    dpsynth()
        .arg("verify")
        .arg(dir)
        .assert()
        .code(1)
        .stderr(contains(check));
}

/// Two releases charged to one lifetime ledger, the second with the full context.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    first: PathBuf,
    second: PathBuf,
}

fn two_releases() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_path_buf();
    let ledger = r.join("ledger.json");
    dpsynth()
        .args(["ledger", "init"])
        .arg(&ledger)
        .args(["--epsilon", "4", "--privacy-unit", "patient_id"])
        .assert()
        .success();
    let first = r.join("first");
    synth(&first, &["--ledger", ledger.to_str().unwrap()]);
    let second = r.join("second");
    synth(
        &second,
        &[
            "--ledger",
            ledger.to_str().unwrap(),
            "--curator",
            "St Elsewhere Hospital, data office",
            "--purpose",
            "Teaching hospital statistics courses",
            "--dataset-label",
            "admissions-2023",
        ],
    );
    Fixture {
        _tmp: tmp,
        root: r,
        first,
        second,
    }
}

#[test]
fn certificate_v2_states_context_deployment_implementation_and_prior_releases() {
    let fx = two_releases();
    dpsynth().arg("verify").arg(&fx.first).assert().success();
    dpsynth()
        .arg("verify")
        .arg(&fx.second)
        .assert()
        .success()
        .stdout(contains("release context"))
        .stdout(contains("1 prior release(s) plus this one"));
    let c1 = cert(&fx.first);
    let c = cert(&fx.second);
    assert_eq!(c["format_version"], 2);
    let rel = &c["release"];
    assert_eq!(rel["curator"], "St Elsewhere Hospital, data office");
    assert_eq!(rel["purpose"], "Teaching hospital statistics courses");
    assert_eq!(rel["dataset_label"], "admissions-2023");
    let id = rel["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, c1["release"]["id"].as_str().unwrap());
    assert!(c1["release"].get("curator").is_none());
    assert_eq!(c["deployment"]["model"], "central");
    assert_eq!(c["deployment"]["counting"], "memory");
    assert_eq!(c["deployment"]["release_type"], "many releases");
    let unprotected = c["deployment"]["unprotected"].to_string();
    assert!(unprotected.contains("public schema") && unprotected.contains("patient_id"));
    assert!(unprotected.contains("Not disclosed: the true number of records"));
    assert_eq!(c["implementation"]["opendp_version"], "0.16.0");
    assert_eq!(c["implementation"]["features"][0], "openssl-rng");
    assert!(c["implementation"]["truncation_rng"].is_string());
    // Utility from accuracy.json only.
    let acc: Value =
        serde_json::from_str(&fs::read_to_string(fx.second.join("accuracy.json")).unwrap())
            .unwrap();
    assert_eq!(
        c["utility"]["by_size"][0]["mean_error"],
        acc["summary"][0]["mean_estimate"]
    );
    // Prior releases and the cumulative rho.
    let l = &c["guarantee"]["lifetime"];
    assert_eq!(l["release"], 2);
    let prior = l["prior_releases"].as_array().unwrap();
    assert_eq!(prior.len(), 1);
    assert_eq!(prior[0]["status"], "released");
    assert_eq!(prior[0]["rho"], c1["guarantee"]["rho"]);
    let first_cert_sha = dpsynth::release::sha256_file(&fx.first.join("certificate.json"))
        .unwrap()
        .0;
    assert_eq!(prior[0]["output_sha256"], first_cert_sha.as_str());
    let sum = c1["guarantee"]["rho"].as_f64().unwrap() + c["guarantee"]["rho"].as_f64().unwrap();
    assert!((l["cumulative_rho"].as_f64().unwrap() - sum).abs() <= 1e-12 * sum);
    assert!(c1["guarantee"]["lifetime"]["prior_releases"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn tampered_governance_fields_fail_verification() {
    let fx = two_releases();
    let case = |name: &str, f: &dyn Fn(&mut Value)| {
        let d = fx.root.join(name);
        copy_release(&fx.second, &d);
        let _ = fs::remove_file(d.join("certificate.dsse.json"));
        edit_cert(&d, f);
        d
    };
    let d = case("prior-rho", &|v| {
        v["guarantee"]["lifetime"]["prior_releases"][0]["rho"] = 1e-9.into()
    });
    verify_fails(&d, "lifetime ledger");
    let d = case("prior-dropped", &|v| {
        v["guarantee"]["lifetime"]["prior_releases"] = serde_json::json!([])
    });
    verify_fails(&d, "lifetime ledger");
    let d = case("unprotected", &|v| {
        v["deployment"]["unprotected"].as_array_mut().unwrap().pop();
    });
    verify_fails(&d, "release context");
    let d = case("utility", &|v| {
        v["utility"]["by_size"][0]["mean_error"] = 0.001.into()
    });
    verify_fails(&d, "release context");
    let d = case("label-hash", &|v| {
        v["release"]["dataset_label"] =
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()
    });
    verify_fails(&d, "release context");
    let d = case("no-deployment", &|v| {
        v.as_object_mut().unwrap().remove("deployment");
    });
    verify_fails(&d, "release context");
}

#[test]
fn a_dataset_label_that_looks_like_a_hash_is_refused_before_any_budget_is_spent() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger.json");
    dpsynth()
        .args(["ledger", "init"])
        .arg(&ledger)
        .args(["--epsilon", "1", "--privacy-unit", "patient_id"])
        .assert()
        .success();
    let sha = dpsynth::release::sha256_file(&root().join(DATA)).unwrap().0;
    dpsynth()
        .current_dir(root())
        .args(["synth", "--mechanism", "mst", "--epsilon", "1", "--quiet"])
        .args(["--data", DATA, "--schema", SCHEMA, "--dataset-label", &sha])
        .arg("--ledger")
        .arg(&ledger)
        .arg("--out")
        .arg(tmp.path().join("r"))
        .assert()
        .code(1)
        .stderr(contains("looks like a hash"));
    assert!(!tmp.path().join("r").exists());
    let l: Value = serde_json::from_str(&fs::read_to_string(&ledger).unwrap()).unwrap();
    assert!(l["releases"].as_array().unwrap().is_empty());
}

/// Values computed from the private input (the demo CSV) that a release must not carry:
/// its SHA-256 (hex and base64), its byte size, its row count, the number of distinct
/// patients, and every exact one-way count of a column with at most 50 values.
fn private_values() -> (BTreeSet<String>, BTreeSet<u64>) {
    let path = root().join(DATA);
    let bytes = fs::read(&path).unwrap();
    let sha = dpsynth::release::sha256_file(&path).unwrap().0;
    let mut strings = BTreeSet::new();
    strings.insert(sha.clone());
    strings.insert(sha[..16].to_string());
    use base64_like::encode;
    strings.insert(encode(&hex::decode(&sha).unwrap()));
    let mut numbers = BTreeSet::new();
    numbers.insert(bytes.len() as u64);
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut counts: Vec<std::collections::BTreeMap<String, u64>> =
        vec![Default::default(); headers.len()];
    let mut rows = 0u64;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        rows += 1;
        for (i, v) in rec.iter().enumerate() {
            *counts[i].entry(v.to_string()).or_default() += 1;
        }
    }
    numbers.insert(rows);
    numbers.insert(counts[0].len() as u64); // distinct patient_id values
    for c in &counts {
        if c.len() <= 50 {
            // Counts under 100 are too common as ordinary numbers to test for.
            numbers.extend(c.values().copied().filter(|&n| n >= 100));
        }
    }
    (strings, numbers)
}

/// Minimal standard base64 (for the test's own use; the product uses the base64 crate).
mod base64_like {
    pub fn encode(b: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }
}

/// Every integer that appears in `text` as a word of digits (digits inside hex strings or
/// identifiers are not numbers).
fn integers_in(text: &str) -> BTreeSet<u64> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 19 && t.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Checks a governed text (certificate blocks, data card, registry entry) for private
/// values; `allowed` are DP outputs that may coincide with them by chance (the synthetic
/// row count, a noisy estimate of the true one).
fn assert_no_private_values(what: &str, text: &str, allowed: &BTreeSet<u64>) {
    let (strings, numbers) = private_values();
    for s in &strings {
        assert!(!text.contains(s.as_str()), "{what} carries {s}");
    }
    let found: Vec<u64> = integers_in(text)
        .intersection(&numbers)
        .filter(|n| !allowed.contains(n))
        .copied()
        .collect();
    assert!(found.is_empty(), "{what} carries private counts {found:?}");
}

#[test]
fn no_private_values_in_the_governance_fields() {
    let fx = two_releases();
    for dir in [&fx.first, &fx.second] {
        let c = cert(dir);
        let synthetic_rows = c["outputs"][0]["rows"].as_u64().unwrap();
        let allowed: BTreeSet<u64> = [synthetic_rows].into();
        // The start time is read before the data (its digits are a date, not counts).
        let mut release = c["release"].clone();
        let started = release["started"].as_str().unwrap().to_string();
        assert!(chrono::DateTime::parse_from_rfc3339(&started).is_ok());
        release.as_object_mut().unwrap().remove("started");
        assert_no_private_values("release", &release.to_string(), &allowed);
        for block in ["deployment", "implementation", "utility"] {
            assert_no_private_values(block, &c[block].to_string(), &allowed);
        }
        assert_no_private_values("guarantee", &c["guarantee"].to_string(), &BTreeSet::new());
        // And nowhere in the certificate is the input's hash or its size.
        let text = c.to_string();
        let (strings, numbers) = private_values();
        let sha = strings.iter().find(|s| s.len() == 64).unwrap();
        assert!(!text.contains(sha.as_str()));
        let size = fs::metadata(root().join(DATA)).unwrap().len();
        assert!(numbers.contains(&size) && !integers_in(&text).contains(&size));
    }
}

/// A signed demo release (MST, epsilon 1) and its key pair.
struct Signed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    release: PathBuf,
    public_key: PathBuf,
}

fn signed_release() -> Signed {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_path_buf();
    let key = r.join("holder.key");
    dpsynth()
        .args(["keygen", "--out"])
        .arg(&key)
        .assert()
        .success();
    let release = r.join("release");
    synth(
        &release,
        &[
            "--sign-with",
            key.to_str().unwrap(),
            "--curator",
            "St Elsewhere Hospital",
            "--purpose",
            "Teaching",
            "--dataset-label",
            "admissions-2023",
        ],
    );
    Signed {
        _tmp: tmp,
        root: r,
        release,
        public_key: PathBuf::from(format!("{}.pub", key.display())),
    }
}

fn verify_with_key_fails(dir: &Path, key: &Path, check: &str) {
    dpsynth()
        .arg("verify")
        .arg(dir)
        .arg("--public-key")
        .arg(key)
        .assert()
        .code(1)
        .stderr(contains(check));
}

fn envelope(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("certificate.dsse.json")).unwrap()).unwrap()
}

fn write_envelope(dir: &Path, v: &Value) {
    fs::write(dir.join("certificate.dsse.json"), v.to_string()).unwrap();
}

#[test]
fn signed_release_carries_a_dsse_in_toto_attestation_that_verify_checks() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let s = signed_release();
    dpsynth()
        .arg("verify")
        .arg(&s.release)
        .arg("--public-key")
        .arg(&s.public_key)
        .assert()
        .success()
        .stdout(contains("[ ok ] attestation: DSSE envelope signed by"));
    let env = envelope(&s.release);
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let st: Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], dpsynth::release::PREDICATE_TYPE);
    assert_eq!(st["predicate"], cert(&s.release));
    let names: Vec<&str> = st["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "DATACARD.md",
            "README.txt",
            "accuracy.json",
            "certificate.json",
            "model.json",
            "synthetic.csv"
        ]
    );
    let case = |name: &str| {
        let d = s.root.join(name);
        copy_release(&s.release, &d);
        d
    };
    // Tampering with any subject file.
    for f in &names {
        let d = case(&format!("subject-{f}"));
        if *f == "certificate.json" {
            // A byte flipped here may just break the JSON; change a value instead.
            edit_cert(&d, |v| v["release"]["purpose"] = "Marketing".into());
        } else {
            let p = d.join(f);
            let mut b = fs::read(&p).unwrap();
            let i = b.len() / 2;
            b[i] = if b[i] == b'1' { b'2' } else { b'1' };
            fs::write(&p, b).unwrap();
        }
        verify_with_key_fails(&d, &s.public_key, "attestation");
    }
    // With the statement: a subject digest changed, the signature kept.
    let d = case("statement");
    let mut st2 = st.clone();
    st2["subject"][0]["digest"]["sha256"] = "0".repeat(64).into();
    let mut e = env.clone();
    e["payload"] = b64.encode(serde_json::to_vec(&st2).unwrap()).into();
    write_envelope(&d, &e);
    verify_with_key_fails(&d, &s.public_key, "no signature of the envelope verifies");
    // With the envelope: signature, payload type, no signatures, deleted, another key.
    let d = case("signature");
    let mut e = env.clone();
    let mut sig = b64
        .decode(e["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    sig[5] ^= 1;
    e["signatures"][0]["sig"] = b64.encode(sig).into();
    write_envelope(&d, &e);
    verify_with_key_fails(&d, &s.public_key, "attestation");
    let d = case("payload-type");
    let mut e = env.clone();
    e["payloadType"] = "application/json".into();
    write_envelope(&d, &e);
    verify_with_key_fails(&d, &s.public_key, "payload type");
    let d = case("no-signatures");
    let mut e = env.clone();
    e["signatures"] = serde_json::json!([]);
    write_envelope(&d, &e);
    verify_with_key_fails(&d, &s.public_key, "attestation");
    let d = case("deleted");
    fs::remove_file(d.join("certificate.dsse.json")).unwrap();
    verify_with_key_fails(&d, &s.public_key, "certificate.dsse.json is missing");
    let d = case("added-file");
    fs::write(d.join("extra.csv"), "a\n1\n").unwrap();
    verify_with_key_fails(
        &d,
        &s.public_key,
        "not covered by the attestation: extra.csv",
    );
    let other = s.root.join("other.key");
    dpsynth()
        .args(["keygen", "--out"])
        .arg(&other)
        .assert()
        .success();
    verify_with_key_fails(
        &s.release,
        Path::new(&format!("{}.pub", other.display())),
        "attestation",
    );
}

/// The recipe of docs/attestation.md with OpenSSL, jq, base64 and sha256sum.
#[test]
fn attestation_verifies_with_standard_tools() {
    let have = |c: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !["openssl", "jq", "base64", "sha256sum", "bash"]
        .iter()
        .all(|c| have(c))
    {
        println!("skipped: openssl, jq, base64, sha256sum or bash not installed");
        return;
    }
    let s = signed_release();
    let docs = fs::read_to_string(root().join("docs/attestation.md")).unwrap();
    // The first ```sh block after "Verifying with standard tools".
    let at = docs.find("## Verifying with standard tools").unwrap();
    let block = &docs[at..];
    let start = block.find("```sh\n").unwrap() + 6;
    let script = &block[start..start + block[start..].find("```").unwrap()];
    let tmp = s.root.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let script = script
        .replace("/tmp/", &format!("{}/", tmp.display()))
        .replace("holder.key.pub", s.public_key.to_str().unwrap());
    let run = |dir: &Path| {
        std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let out = run(&s.release);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Signature Verified Successfully"), "{text}");
    assert_eq!(text.matches(": OK").count(), 6, "{text}");
    // And the same tools refuse a tampered file.
    let d = s.root.join("tampered");
    copy_release(&s.release, &d);
    fs::write(d.join("README.txt"), "changed\n").unwrap();
    assert!(!run(&d).status.success());
}

/// Python with `cryptography` for the independent check: DPSYNTH_ATTEST_PYTHON, else the
/// virtual environment .ci/run makes, else a system python3 that has the package.
fn attestation_python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("DPSYNTH_ATTEST_PYTHON") {
        return Some(p.into());
    }
    let venv = root().join(".ci/venv-governed/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let sys = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if sys.is_ok_and(|o| o.status.success()) {
        return Some("python3".into());
    }
    None
}

#[test]
fn attestation_checked_by_an_independent_python_implementation() {
    let Some(python) = attestation_python() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but no Python with `cryptography` (.ci/run creates .ci/venv-governed)");
        }
        println!(
            "skipped: no python3 with the cryptography package (.ci/run creates .ci/venv-governed)"
        );
        return;
    };
    let s = signed_release();
    let out = std::process::Command::new(&python)
        .args(["-m", "unittest", "-v", "tests/python/test_attestation.py"])
        .current_dir(root())
        .env("DPSYNTH_RELEASE", &s.release)
        .env("DPSYNTH_PUBKEY", &s.public_key)
        .env("DPSYNTH_BIN", assert_cmd::cargo::cargo_bin("dpsynth"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Ran 5 tests") && err.contains("OK"), "{err}");
}

#[test]
fn data_card_is_hashed_and_says_what_the_release_is_fit_for() {
    let fx = two_releases();
    let card = fs::read_to_string(fx.second.join("DATACARD.md")).unwrap();
    for s in [
        "# Data card: admissions-2023",
        "## Fit for, and not fit for",
        "**Not fit for:**",
        "## The privacy guarantee in plain words",
        "per patient_id value",
        "## How to verify",
        "Curator: St Elsewhere Hospital, data office",
        "Purpose: Teaching hospital statistics courses",
        "| `creatinine` | float |",
        "release 2 charged to a lifetime budget",
        // The error bars' own Monte-Carlo noise, from accuracy.json's summary.
        "one table's estimate is itself uncertain by about",
    ] {
        assert!(card.contains(s), "missing {s:?} in\n{card}");
    }
    let c = cert(&fx.second);
    assert!(card.contains(c["release"]["id"].as_str().unwrap()));
    assert!(c["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["file"] == "DATACARD.md"));
    // The first release has no context: the card says so instead of inventing one.
    let first = fs::read_to_string(fx.first.join("DATACARD.md")).unwrap();
    assert!(first.contains("Curator: not stated (`--curator`)"));
    // An edited card fails verification.
    let d = fx.root.join("edited-card");
    copy_release(&fx.second, &d);
    fs::write(d.join("DATACARD.md"), card.replace("Teaching", "Marketing")).unwrap();
    verify_fails(&d, "file DATACARD.md");
}

#[test]
fn no_private_values_in_the_data_card() {
    let fx = two_releases();
    for dir in [&fx.first, &fx.second] {
        let c = cert(dir);
        let synthetic_rows = c["outputs"][0]["rows"].as_u64().unwrap();
        let card = fs::read_to_string(dir.join("DATACARD.md")).unwrap();
        // The start time's digits are a date; drop that line before looking for counts.
        let card: String = card
            .lines()
            .filter(|l| !l.starts_with("Release `"))
            .collect::<Vec<_>>()
            .join("\n");
        // The noise scale is public (a function of the budget): the card quotes it.
        let acc: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("accuracy.json")).unwrap()).unwrap();
        let sigma = acc["measured"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["sigma"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let allowed: BTreeSet<u64> = [
            synthetic_rows,
            sigma.round() as u64,
            (3.0 * sigma).round() as u64,
        ]
        .into();
        assert_no_private_values("DATACARD.md", &card, &allowed);
    }
}

/// The DP Deployments Registry's record format (its deployments-schema.yaml): the fields of
/// each section, the required ones, and the enumerations dpsynth's entry uses.
const REGISTRY_SECTIONS: [(&str, &[&str], &[&str]); 7] = [
    (
        "basic",
        &[
            "name",
            "data_curators",
            "intended_use",
            "data_product_type",
            "data_product_region",
            "description",
            "publication_date",
            "data_product_sector",
        ],
        &[
            "name",
            "data_curators",
            "description",
            "intended_use",
            "data_product_type",
            "data_product_region",
            "publication_date",
        ],
    ),
    (
        "dp_variant",
        &["variant_name", "data_domain", "unprotected_quantities"],
        &[],
    ),
    (
        "privacy_loss",
        &[
            "privacy_unit",
            "privacy_unit_details",
            "privacy_parameters",
            "privacy_parameters_details",
        ],
        &[],
    ),
    (
        "deployment_model",
        &[
            "model_name",
            "model_name_details",
            "actors",
            "release_type",
            "release_type_details",
            "data_source_type",
            "data_source_type_details",
            "access_type",
            "access_type_details",
        ],
        &[],
    ),
    ("accounting", &["post_processing", "composition"], &[]),
    (
        "implementation",
        &[
            "preprocessing_and_hyperparameter_tuning",
            "mechanisms",
            "justification",
        ],
        &[],
    ),
    (
        "administrative",
        &["sources", "notes", "registry_authors"],
        &["registry_authors"],
    ),
];

fn registry_entry(dir: &Path, extra: &[&str]) -> Value {
    let out = dpsynth()
        .arg("registry-entry")
        .arg(dir)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn registry_entry_is_a_tier_3_record_of_the_registry_format() {
    let fx = two_releases();
    let e = registry_entry(
        &fx.second,
        &[
            "--region",
            "United Kingdom",
            "--sector",
            "Healthcare",
            "--author",
            "A. Steward",
        ],
    );
    let top: BTreeSet<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        top,
        ["deployment", "status", "tier", "url_slug"]
            .into_iter()
            .collect()
    );
    assert_eq!(e["tier"], 3);
    assert_eq!(e["status"], "Draft");
    let d = e["deployment"].as_object().unwrap();
    for k in d.keys() {
        assert!(
            REGISTRY_SECTIONS.iter().any(|(s, _, _)| s == k),
            "unknown section {k}"
        );
    }
    for (section, fields, required) in REGISTRY_SECTIONS {
        let s = d[section].as_object().unwrap();
        for k in s.keys() {
            assert!(
                fields.contains(&k.as_str()),
                "{section}.{k} is not a registry field"
            );
        }
        for r in required {
            assert!(s.contains_key(*r), "{section}.{r} is required");
        }
        // Tier 3 fills every field the entry can know.
        let unfilled: Vec<&&str> = fields.iter().filter(|f| !s.contains_key(**f)).collect();
        assert!(
            unfilled.is_empty(),
            "{section}: {unfilled:?} missing at tier 3"
        );
    }
    let b = &d["basic"];
    assert_eq!(b["data_product_type"], "Synthetic data");
    assert_eq!(b["data_curators"][0], "St Elsewhere Hospital, data office");
    assert_eq!(b["intended_use"], "Teaching hospital statistics courses");
    assert_eq!(b["data_product_region"], "United Kingdom");
    assert_eq!(b["data_product_sector"], "Healthcare");
    let date = b["publication_date"].as_str().unwrap();
    assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok());
    assert_eq!(d["dp_variant"]["variant_name"], "Zero-concentrated DP");
    assert_eq!(d["deployment_model"]["model_name"], "Central");
    assert_eq!(d["deployment_model"]["release_type"], "Many releases");
    assert_eq!(d["deployment_model"]["data_source_type"], "Static");
    assert_eq!(d["deployment_model"]["access_type"], "Non-interactive");
    assert_eq!(d["administrative"]["registry_authors"][0], "A. Steward");
    let c = cert(&fx.second);
    let p = &d["privacy_loss"]["privacy_parameters"];
    assert_eq!(p["epsilon"], c["guarantee"]["epsilon"]);
    assert_eq!(p["delta"], c["guarantee"]["delta"]);
    assert_eq!(p["rho"], c["guarantee"]["rho"]);
    assert!(d["privacy_loss"]["privacy_unit"]
        .as_str()
        .unwrap()
        .contains("patient_id"));
    assert!(d["deployment_model"]["release_type_details"]
        .as_str()
        .unwrap()
        .contains("after 1 earlier release(s)"));
    // The first release: one ledger release, no context; still a valid record.
    let e1 = registry_entry(&fx.first, &[]);
    assert_eq!(e1["deployment"]["basic"]["data_curators"][0], "Not stated");
    assert!(e1["deployment"]["basic"]
        .get("data_product_sector")
        .is_none());

    // YAML is the same tree (checked with PyYAML when the system Python has it).
    let yaml = dpsynth()
        .arg("registry-entry")
        .arg(&fx.second)
        .args([
            "--region",
            "United Kingdom",
            "--sector",
            "Healthcare",
            "--author",
            "A. Steward",
        ])
        .output()
        .unwrap();
    assert!(yaml.status.success());
    let y = fx.root.join("entry.yaml");
    fs::write(&y, &yaml.stdout).unwrap();
    let parsed = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&y)
        .output();
    match parsed {
        Ok(o) if o.status.success() => {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v, e, "the YAML does not read back as the JSON entry");
        }
        _ => println!("skipped the YAML read-back: no python3 with PyYAML"),
    }

    // Unknown sectors and releases that do not verify get no entry.
    dpsynth()
        .arg("registry-entry")
        .arg(&fx.second)
        .args(["--sector", "Retail"])
        .assert()
        .code(1)
        .stderr(contains("not one of the registry's sectors"));
    let d = fx.root.join("tampered");
    copy_release(&fx.second, &d);
    fs::write(d.join("DATACARD.md"), "changed\n").unwrap();
    dpsynth()
        .arg("registry-entry")
        .arg(&d)
        .assert()
        .code(1)
        .stderr(contains("does not verify"));
}

#[test]
fn no_private_values_in_the_registry_entry() {
    let fx = two_releases();
    for dir in [&fx.first, &fx.second] {
        let mut e = registry_entry(dir, &[]);
        let synthetic_rows = cert(dir)["outputs"][0]["rows"].as_u64().unwrap();
        // The publication date's digits are a date (the run's start), not counts.
        e["deployment"]["basic"]
            .as_object_mut()
            .unwrap()
            .remove("publication_date");
        assert_no_private_values("registry entry", &e.to_string(), &[synthetic_rows].into());
    }
}
