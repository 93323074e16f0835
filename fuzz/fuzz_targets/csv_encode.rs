//! Fuzzes the CSV reader/encoder, the checker and the draft inferrer on arbitrary CSV
//! against a schema: one of the shipped example schemas, or one generated from the input
//! (rendered as TOML, so the generated schemas also fuzz the parser's validation).
//!
//! Contract: any bytes give a table or a `DataError`, never a panic, hang or huge allocation.
//! Oracles: the encoded table matches the schema (column count, codes below each
//! cardinality); `check_csv` reports a problem exactly when `read_csv_from` fails, and its
//! first problem is the reader's error; a draft drafted from the file parses as a schema,
//! and the file it came from encodes under it.
#![no_main]

use std::io::Write;
use std::path::PathBuf;

use dpsynth::data::{check_csv_with, read_csv_from, DataError, ReadOptions};
use dpsynth::schema::{draft_from_csv, Schema};
use dpsynth_fuzz::{CsvSpec, SchemaChoice};
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    schema: SchemaChoice,
    csv: CsvSpec,
    allow_extra: bool,
    max_problems: u8,
}

/// One scratch file per process: `check_csv` and `draft_from_csv` take paths.
fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("dpsynth-fuzz-{}.csv", std::process::id()))
}

fn write_scratch(bytes: &[u8]) -> PathBuf {
    let path = scratch();
    let mut f = std::fs::File::create(&path).expect("scratch file");
    f.write_all(bytes).expect("scratch write");
    path
}

fn check_table(schema: &Schema, bytes: &[u8], opts: &ReadOptions) -> Result<usize, DataError> {
    let (table, report) = read_csv_from(bytes, "fuzz.csv", schema, opts)?;
    let modelled = schema.modelled();
    assert_eq!(table.n_cols(), modelled.len());
    assert_eq!(report.columns.len(), modelled.len());
    assert_eq!(table.cardinalities(), &schema.modelled_cardinalities()[..]);
    for j in 0..table.n_cols() {
        let card = table.cardinalities()[j];
        assert_eq!(table.column(j).len(), table.n_rows());
        for r in 0..table.n_rows() {
            assert!((table.column(j).get(r) as usize) < card);
        }
    }
    Ok(table.n_rows())
}

fuzz_target!(|input: Input| {
    let schema = input.schema.load();
    let bytes = input.csv.render(schema.as_ref());
    let path = write_scratch(&bytes);

    if let Some(schema) = &schema {
        let opts = ReadOptions {
            allow_extra_columns: input.allow_extra,
            max_problems: (input.max_problems % 50) as usize,
        };
        let read = check_table(schema, &bytes, &opts);
        let problems = check_csv_with(&path, schema, &opts);
        assert!(problems.len() <= opts.max_problems.max(1));
        match &read {
            Ok(_) => assert!(
                problems.is_empty(),
                "read_csv_from succeeded but check_csv reports {:?}",
                problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()
            ),
            Err(e) => {
                assert!(
                    !problems.is_empty(),
                    "read_csv_from failed ({e}) but check_csv is clean"
                );
                // The checker names the scratch file, the reader "fuzz.csv": compare the rest.
                let checked = problems[0]
                    .to_string()
                    .replace(&path.display().to_string(), "fuzz.csv");
                assert_eq!(checked, e.to_string());
            }
        }
    }

    // Drafting: whatever the file, a draft or a DraftError; a draft must parse, and the data
    // it was drafted from must encode under it.
    if let Ok(draft) = draft_from_csv(&path) {
        let parsed = match Schema::from_toml_str(&draft, "draft.toml") {
            Ok(s) => s,
            Err(e) => panic!("draft does not parse: {e}\n--- draft ---\n{draft}"),
        };
        assert!(parsed.is_draft());
        dpsynth_fuzz::check_schema(&parsed);
        if let Err(e) = check_table(&parsed, &bytes, &ReadOptions::default()) {
            panic!("the drafted file does not encode under its draft: {e}\n--- draft ---\n{draft}");
        }
    }
});
