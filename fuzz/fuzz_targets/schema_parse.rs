//! Fuzzes the schema parser on arbitrary text: TOML, JSON and auto-detected.
//!
//! Contract: any text gives a schema or a `SchemaError`, never a panic, hang or huge
//! allocation. Every schema that loads must also pass `check_schema` (TOML round trip,
//! code counts, decode/encode round trip of every code).
#![no_main]

use dpsynth::schema::Schema;
use dpsynth_fuzz::check_schema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let auto = Schema::from_str_auto(&text, "fuzz");
    let toml = Schema::from_toml_str(&text, "fuzz.toml");
    let json = Schema::from_json_str(&text, "fuzz.json");
    for parsed in [&auto, &toml, &json] {
        match parsed {
            Ok(s) => check_schema(s),
            Err(e) => {
                assert!(!e.problems.is_empty(), "an error with no problems");
                let _ = e.to_string();
            }
        }
    }
    // Auto-detection picks one of the two formats, so it must agree with one of them.
    if let Ok(a) = &auto {
        assert!(
            toml.as_ref().ok() == Some(a) || json.as_ref().ok() == Some(a),
            "auto-detected schema matches neither the TOML nor the JSON reading"
        );
    }
});
