//! The reviewed release texts, pinned (issue #20, item 1): README.txt, the certificate's
//! statement and neighbouring relation, and `verify`'s summary, for a record-level release
//! and for a release with a privacy unit charged to a lifetime ledger.
//!
//! Every sentence of these texts was reviewed against what the guarantee says. A change to
//! any of them fails this test; after reviewing the new wording, regenerate the pinned files
//! with `DPSYNTH_UPDATE_TEXTS=1 cargo test --test release_texts` and commit them with the
//! change. Besides the pins, the test asserts the wording rules that must survive any review.

use std::path::PathBuf;

use dpsynth::privacy::{epsilon_for, Delta, LedgerEntry, NoiseKind, PrivacyUnit, Rho};
use dpsynth::release::readme::release_readme;
use dpsynth::release::{
    statement, Certificate, Check, Guarantee, Lifetime, MechanismInfo, OutputFile, Sampling,
    SchemaInfo, Tool, VerifyReport, CERTIFICATE_FORMAT, CERTIFICATE_VERSION,
};

fn entry(mechanism: &str, purpose: &str, sensitivity: f64, scale: f64, rho: f64) -> LedgerEntry {
    LedgerEntry {
        mechanism: mechanism.into(),
        purpose: purpose.into(),
        measured: vec![],
        sensitivity,
        monotone: false,
        scale,
        rho,
    }
}

/// A certificate with fixed figures (no run: the texts, not the numbers, are under test).
fn certificate(unit: PrivacyUnit, lifetime: Option<Lifetime>) -> Certificate {
    let k = unit.max_rows() as f64;
    let ledger = vec![
        entry("gaussian", "one-way marginal", k, 10.0 * k, 0.005),
        entry(
            "noisy_max",
            "MST edge selection 1 of 1 among 1 pairs",
            k,
            20.0 * k,
            0.005,
        ),
        entry(
            "gaussian",
            "two-way marginal (tree edge)",
            k,
            10.0 * k,
            0.005,
        ),
    ];
    let rho = 0.015;
    let delta = 1e-9;
    let epsilon = epsilon_for(Rho::new(rho).unwrap(), Delta::new(delta).unwrap())
        .unwrap()
        .value();
    Certificate {
        format: CERTIFICATE_FORMAT.into(),
        format_version: CERTIFICATE_VERSION,
        tool: Tool {
            name: "dpsynth".into(),
            version: "0.1.0".into(),
        },
        guarantee: Guarantee {
            rho,
            budget_rho: rho,
            epsilon,
            delta,
            neighbouring: unit.neighbouring(),
            conversion: "tight".into(),
            statement: statement(epsilon, delta, rho, &unit),
            privacy_unit: unit,
            lifetime,
        },
        mechanism: MechanismInfo {
            name: "mst".into(),
            options: serde_json::json!({}),
        },
        ledger,
        schema: SchemaInfo {
            sha256: "0".repeat(64),
            text: String::new(),
        },
        outputs: vec![
            OutputFile {
                file: "synthetic.csv".into(),
                sha256: "1".repeat(64),
                bytes: 1000,
                rows: Some(20_016),
            },
            OutputFile {
                file: "model.json".into(),
                sha256: "2".repeat(64),
                bytes: 2000,
                rows: None,
            },
        ],
        noise: NoiseKind::current(),
        sampling: Sampling {
            seed: 7,
            method: "rounding".into(),
            rows_source: "model total".into(),
        },
        release: None,
        deployment: None,
        implementation: None,
        utility: None,
        signature: None,
    }
}

fn lifetime() -> Lifetime {
    let cumulative = 0.045;
    Lifetime {
        ledger_id: "0123456789abcdef0123456789abcdef".into(),
        release: 3,
        cumulative_rho: cumulative,
        budget_rho: 0.1,
        cumulative_epsilon: epsilon_for(Rho::new(cumulative).unwrap(), Delta::new(1e-9).unwrap())
            .unwrap()
            .value(),
        delta: 1e-9,
        prior_releases: None,
    }
}

/// `verify`'s text for a certificate whose checks all passed.
fn verify_text(cert: &Certificate) -> String {
    let checks = [
        "format version",
        "ledger steps",
        "privacy unit",
        "statement",
    ]
    .iter()
    .map(|n| Check {
        name: n.to_string(),
        ok: true,
        detail: "ok".into(),
    })
    .collect();
    VerifyReport {
        ok: true,
        checks,
        certificate: Some(cert.clone()),
    }
    .to_text()
}

fn pinned(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/texts")
        .join(name);
    if std::env::var("DPSYNTH_UPDATE_TEXTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (see this file's header)", path.display()));
    assert!(
        want == text,
        "{} changed; review the new text, then regenerate (see this file's header).\n--- new ---\n{text}",
        path.display()
    );
}

#[test]
fn record_level_texts_are_pinned_and_never_say_person() {
    let cert = certificate(PrivacyUnit::Record, None);
    let readme = release_readme(&cert);
    let verify = verify_text(&cert);
    pinned("readme-record.txt", &readme);
    pinned("verify-record.txt", &verify);
    pinned(
        "statement-record.txt",
        &format!(
            "{}\n{}\n",
            cert.guarantee.statement, cert.guarantee.neighbouring
        ),
    );
    for t in [&readme, &verify, &cert.guarantee.statement] {
        let l = t.to_lowercase();
        assert!(!l.contains("person") && !l.contains("people"), "{t}");
        // The old, false sentence and its relatives.
        assert!(!l.contains("no row corresponds"), "{t}");
        assert!(!l.contains("almost nothing"), "{t}");
    }
    assert!(cert.guarantee.statement.contains("any one record"));
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat(&readme).contains("coincide with real records by chance"));
    assert!(flat(&readme).contains("group privacy"));
    assert!(flat(&verify).contains("cannot show that the tool ran as described"));
}

#[test]
fn unit_texts_name_the_unit_and_the_lifetime_ledger() {
    let unit = PrivacyUnit::column("subject_id", 3).unwrap();
    let cert = certificate(unit, Some(lifetime()));
    let readme = release_readme(&cert);
    let verify = verify_text(&cert);
    pinned("readme-unit-ledger.txt", &readme);
    pinned("verify-unit-ledger.txt", &verify);
    pinned(
        "statement-unit.txt",
        &format!(
            "{}\n{}\n",
            cert.guarantee.statement, cert.guarantee.neighbouring
        ),
    );
    assert!(cert
        .guarantee
        .statement
        .contains("any one subject_id value together with all of its records (at most 3"));
    assert!(readme.contains("not grouped by subject_id"));
    assert!(readme.contains("release 3"));
    assert!(verify.contains("Privacy unit: subject_id (at most 3 records each)"));
    for t in [&readme, &verify] {
        assert!(!t.to_lowercase().contains("person"), "{t}");
    }
}
