//! Fuzzes decoding (`write_csv_to`) and re-reading: synthetic codes are decoded into a CSV
//! with a seeded generator, and reading that CSV back with the same schema must give the
//! same codes (every decoded value lies in its code's bin). Codes outside a column's range
//! must be refused with a typed error, never a panic.
#![no_main]

use dpsynth::data::{read_csv_from, write_csv_to, DataError, ReadOptions};
use dpsynth_fuzz::SchemaChoice;
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    schema: SchemaChoice,
    n_rows: u8,
    codes: Vec<u32>,
    seed: u64,
    /// Corrupt one code (out of range) or one column length, to test the refusals.
    corrupt: Option<(u8, bool)>,
}

fuzz_target!(|input: Input| {
    let Some(schema) = input.schema.load() else {
        return;
    };
    let cards = schema.modelled_cardinalities();
    let n_rows = (input.n_rows % 48) as usize;
    let mut k = 0usize;
    let mut columns: Vec<Vec<u32>> = cards
        .iter()
        .map(|&card| {
            (0..n_rows)
                .map(|_| {
                    let c = input
                        .codes
                        .get(k % input.codes.len().max(1))
                        .copied()
                        .unwrap_or(0);
                    k += 1;
                    // Mix in the row so a short code list still varies.
                    c.wrapping_add((k as u32).wrapping_mul(2_654_435_761)) % card as u32
                })
                .collect()
        })
        .collect();

    let mut out = Vec::new();
    if let Some((which, length)) = input.corrupt {
        // A single column with one more row is still a valid table.
        if !columns.is_empty() && !(length && columns.len() == 1) {
            let j = which as usize % columns.len();
            if length {
                columns[j].push(0);
            } else if !columns[j].is_empty() {
                columns[j][0] = cards[j] as u32;
            } else {
                return;
            }
            match write_csv_to(&mut out, "fuzz.csv", &schema, &columns, input.seed) {
                Err(DataError::RaggedColumns { .. }) if length => {}
                Err(DataError::CodeOutOfRange { .. }) if !length => {}
                other => panic!("corrupt codes were not refused: {other:?}"),
            }
            return;
        }
    }

    if let Err(e) = write_csv_to(&mut out, "fuzz.csv", &schema, &columns, input.seed) {
        panic!("valid codes did not decode: {e}");
    }
    let opts = ReadOptions::default();
    let (table, _) = match read_csv_from(&out[..], "fuzz.csv", &schema, &opts) {
        // Zero rows decode to a header alone, which the reader refuses by design (a
        // truncated export must not pass as an empty table).
        Err(DataError::NoRows { .. }) if n_rows == 0 || cards.is_empty() => return,
        Ok(t) => t,
        Err(e) => panic!(
            "decoded CSV does not read back: {e}\n--- csv ---\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    let expect_rows = if cards.is_empty() { 0 } else { n_rows };
    assert_eq!(table.n_rows(), expect_rows);
    for (j, col) in schema.modelled().iter().enumerate() {
        for r in 0..table.n_rows() {
            let (got, want) = (table.column(j).get(r), columns[j][r]);
            assert!(
                got == want,
                "column {:?} row {r}: wrote code {want}, read back {got}; kind {:?}\n--- csv ---\n{}",
                col.name(),
                col.kind(),
                String::from_utf8_lossy(&out)
            );
        }
    }
});
