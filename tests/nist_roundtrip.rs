//! Encode/decode round trip of NIST's national2019.csv under the hand-written public schema
//! `examples/nist/national2019.schema.toml`: every cell encodes, every categorical cell decodes
//! to its original value, every number decodes into its original bin, missing stays missing.

mod common;

use std::path::PathBuf;

use dpsynth::data::{read_csv, write_csv, EncodeReport};
use dpsynth::schema::{ColumnKind, Schema};

fn schema() -> Schema {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/nist/national2019.schema.toml");
    Schema::from_path_for_release(&p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nist_schema_matches_the_public_dictionary() {
    let s = schema();
    // 24 CSV columns less INDP, which the dictionary gives no value list for.
    assert_eq!(s.columns().len(), 23);
    assert!(s.column("INDP").is_none());
    let card = |n: &str| s.column(n).map(|c| c.cardinality());
    assert_eq!(card("PUMA"), Some(31));
    assert_eq!(card("AGEP"), Some(20));
    assert_eq!(card("MSP"), Some(7));
    assert_eq!(card("NOC"), Some(21));
    assert_eq!(card("NPF"), Some(20));
    assert_eq!(card("INDP_CAT"), Some(20));
    assert_eq!(card("EDU"), Some(13));
    assert_eq!(card("PINCP"), Some(17));
    assert_eq!(card("PINCP_DECILE"), Some(11));
    assert_eq!(card("POVPIP"), Some(27));
    assert_eq!(card("DEYE"), Some(2));
    let agep = s
        .column("AGEP")
        .map(|c| c.code_labels())
        .unwrap_or_default();
    assert_eq!(agep.last().map(String::as_str), Some("95 to 99"));
    let pov = s
        .column("POVPIP")
        .map(|c| c.code_labels())
        .unwrap_or_default();
    assert_eq!(pov[25], "500 to 501");
    assert_eq!(pov[26], "N/A");
    // The embedded form parses back to the same schema.
    assert_eq!(
        Schema::from_toml_str(&s.to_toml_string(), "embedded").unwrap(),
        s
    );
}

#[test]
fn national2019_round_trips() {
    let Some(csv_path) = common::shared_data("nist_crc/national2019.csv") else {
        return;
    };
    let s = schema();
    let (table, report): (_, EncodeReport) =
        read_csv(&csv_path, &s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(table.n_cols(), 23);
    // The dictionary's bounds are NIST's public min/max: nothing should need clamping.
    assert_eq!(report.total_clamped(), 0, "{report:?}");

    let columns: Vec<Vec<u32>> = (0..table.n_cols())
        .map(|j| {
            (0..table.n_rows())
                .map(|r| table.column(j).get(r))
                .collect()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decoded.csv");
    write_csv(&out, &s, &columns, 2019).unwrap();

    let mut orig = csv::Reader::from_path(&csv_path).unwrap();
    let orig_header: Vec<String> = orig.headers().unwrap().iter().map(String::from).collect();
    let mut dec = csv::Reader::from_path(&out).unwrap();
    let dec_header: Vec<String> = dec.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        dec_header,
        s.columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
    );
    let pos: Vec<usize> = dec_header
        .iter()
        .map(|h| orig_header.iter().position(|o| o == h).unwrap())
        .collect();

    let mut rows = 0;
    let mut numeric_changed = 0u64;
    for (a, b) in orig.records().zip(dec.records()) {
        let (a, b) = (a.unwrap(), b.unwrap());
        rows += 1;
        for (j, col) in s.columns().iter().enumerate() {
            let (va, vb) = (&a[pos[j]], &b[j]);
            match col.kind() {
                ColumnKind::Categorical(_) => assert_eq!(va, vb, "row {rows} {}", col.name()),
                _ => {
                    let ca = col.encode(va).unwrap();
                    let cb = col
                        .encode(vb)
                        .unwrap_or_else(|e| panic!("{} {vb:?}: {e:?}", col.name()));
                    assert_eq!(
                        ca.code(),
                        cb.code(),
                        "row {rows} {}: {va:?} vs {vb:?}",
                        col.name()
                    );
                    if va == "N" || vb == "N" {
                        assert_eq!(va, vb, "missing stays missing: row {rows} {}", col.name());
                    } else if va.parse::<f64>().ok() != vb.parse::<f64>().ok() {
                        numeric_changed += 1;
                    }
                }
            }
        }
    }
    assert_eq!(rows, table.n_rows());
    assert!(dec.records().next().is_none());
    // Numbers are re-drawn within their bins, so most of them change.
    assert!(
        numeric_changed > rows as u64,
        "numbers were copied, not re-drawn"
    );
}

/// NIST's data-dictionary rules (`scripts/rules-measurements/nist-rules.toml`): eight of them
/// tie a different column to the age, which used to connect 143 M cells (refused, over the
/// 4 M limit) and now factors into one mask per rule, except the two that cut an age bin
/// (`AGEP < 3`, `AGEP < 16`), decided together. Every real record obeys all 12; an MST
/// release obeys them and its error bars are finite (the bootstrap refits with the zeros).
#[test]
fn dictionary_rules_factor_over_age_and_releases_obey_them() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rules =
        std::fs::read_to_string(root.join("scripts/rules-measurements/nist-rules.toml")).unwrap();
    let text = std::fs::read_to_string(root.join("examples/nist/national2019.schema.toml"))
        .unwrap()
        + &rules;
    let s = Schema::from_toml_str(&text, "nist-rules.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.rules().len(), 12);
    let compiled = s.compiled_rules().unwrap();
    let sizes: Vec<usize> = compiled
        .components()
        .iter()
        .map(|c| c.rules.len())
        .collect();
    assert_eq!(sizes.len(), 11, "{sizes:?}");
    assert_eq!(sizes.iter().filter(|&&n| n == 2).count(), 1, "{sizes:?}");
    let Some(csv_path) = common::shared_data("nist_crc/national2019.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema_path = dir.path().join("nist-rules.toml");
    std::fs::write(&schema_path, &text).unwrap();
    let bin = env!("CARGO_BIN_EXE_dpsynth");
    let check = |data: &std::path::Path| {
        let out = std::process::Command::new(bin)
            .args(["schema", "check"])
            .arg(&schema_path)
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && said.contains("every record obeys the 12 rule(s)"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    check(&csv_path);
    let release = dir.path().join("r");
    let out = std::process::Command::new(bin)
        .args([
            "synth",
            "--mechanism",
            "mst",
            "--epsilon",
            "1",
            "--seed",
            "3",
            "-q",
        ])
        .arg("--data")
        .arg(&csv_path)
        .arg("--schema")
        .arg(&schema_path)
        .arg("--out")
        .arg(&release)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&release.join("synthetic.csv"));
    let accuracy = std::fs::read_to_string(release.join("accuracy.json")).unwrap();
    let a: serde_json::Value = serde_json::from_str(&accuracy).unwrap();
    for s in a["summary"].as_array().unwrap() {
        assert!(s["mean_estimate"].is_f64(), "{s}");
        // Two replicates: each size states how far its estimates move with the seed.
        let spread = s["estimate_mc_relative_sd"].as_f64().unwrap_or(-1.0);
        assert!(spread > 0.0 && spread < 1.0, "{s}");
    }
}
