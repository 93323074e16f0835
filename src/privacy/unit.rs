//! The privacy unit: what one "neighbour" adds or removes, and the sensitivities that follow.
//!
//! By default the unit is one record. With a unit column `C` and a bound `K`, neighbouring
//! data sets differ by every row of one value of `C` (a patient, say); the data layer keeps
//! at most `K` rows per value before anything is counted (`data::truncate_units`), so every
//! count any mechanism sees moves by at most `K`. Every mechanism reads its sensitivities
//! from one `PrivacyUnit` value, never from a literal 1. Proof: proofs/privacy-unit.md.
//!
//! This type holds no data: only the public column name and the public bound.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::PrivacyError;

/// Largest `max_rows_per_unit` accepted. Far beyond any useful value (noise grows linearly
/// with `K`); it keeps `K` times a score weight exact in an f64 and `K` a valid opendp `d_in`.
pub const MAX_ROWS_PER_UNIT: u32 = 1_000_000;

/// Whose privacy the guarantee protects.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum PrivacyUnit {
    /// One record (row): neighbouring data sets differ by one row.
    #[default]
    Record,
    /// One value of `column` with all of its rows, of which at most `max_rows` are used.
    Column { column: String, max_rows: u32 },
}

impl PrivacyUnit {
    /// A unit keyed by `column` with at most `max_rows` rows kept per value.
    pub fn column(column: &str, max_rows: u32) -> Result<Self, PrivacyError> {
        if column.is_empty() {
            return Err(PrivacyError::InvalidParameter(
                "the privacy unit needs a column name".into(),
            ));
        }
        if !(1..=MAX_ROWS_PER_UNIT).contains(&max_rows) {
            return Err(PrivacyError::InvalidParameter(format!(
                "max_rows_per_unit must be between 1 and {MAX_ROWS_PER_UNIT} (got {max_rows})"
            )));
        }
        Ok(PrivacyUnit::Column {
            column: column.to_string(),
            max_rows,
        })
    }

    /// The unit column, if the unit is not a record.
    pub fn unit_column(&self) -> Option<&str> {
        match self {
            PrivacyUnit::Record => None,
            PrivacyUnit::Column { column, .. } => Some(column),
        }
    }

    /// `K`: the most rows one unit contributes to the truncated data (1 for a record).
    pub fn max_rows(&self) -> u32 {
        match self {
            PrivacyUnit::Record => 1,
            PrivacyUnit::Column { max_rows, .. } => *max_rows,
        }
    }

    /// L1 and L2 sensitivity of one marginal's count vector: adding or removing one unit
    /// adds or removes at most `K` rows, each moving one cell by 1 (proofs/privacy-unit.md,
    /// section 2). The integer is opendp's `d_in` for the discrete Gaussian.
    pub fn marginal_sensitivity(&self) -> u32 {
        self.max_rows()
    }

    /// L-infinity sensitivity of a selection score whose per-record sensitivity is
    /// `per_record` (1 for MST's L1 score, `max w_C` for AIM's): `K` times it, because the
    /// scores are Lipschitz in the counts (proofs/privacy-unit.md, section 2).
    pub fn score_sensitivity(&self, per_record: f64) -> f64 {
        per_record * self.max_rows() as f64
    }

    /// Whether this is the record-level unit.
    pub fn is_record(&self) -> bool {
        matches!(self, PrivacyUnit::Record)
    }

    /// The neighbouring relation in words, for the certificate.
    pub fn neighbouring(&self) -> String {
        match self {
            PrivacyUnit::Record => "add or remove one record (unbounded DP)".into(),
            PrivacyUnit::Column { column, max_rows } => format!(
                "add or remove one {column} value with all of its records (unbounded DP); at \
                 most {} per value, chosen uniformly at random, {} used",
                records(*max_rows),
                if *max_rows == 1 { "was" } else { "were" }
            ),
        }
    }

    /// Who is protected, as a noun phrase: "any one record of the input", or "any one
    /// patient_id value together with all of its records (at most 3 of which were used)".
    pub fn protected(&self) -> String {
        match self {
            PrivacyUnit::Record => "any one record of the input".into(),
            PrivacyUnit::Column { column, max_rows } => format!(
                "any one {column} value together with all of its records (at most {max_rows} of which {} used)",
                if *max_rows == 1 { "was" } else { "were" }
            ),
        }
    }
}

impl fmt::Display for PrivacyUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivacyUnit::Record => f.write_str("record"),
            PrivacyUnit::Column { column, max_rows } => {
                write!(f, "{column} (at most {} each)", records(*max_rows))
            }
        }
    }
}

/// "1 record", "3 records".
fn records(k: u32) -> String {
    if k == 1 {
        "1 record".into()
    } else {
        format!("{k} records")
    }
}

/// On disk: the string `"record"`, or `{ "column": C, "max_rows": K }`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum UnitRepr {
    Record(String),
    Column { column: String, max_rows: u32 },
}

impl Serialize for PrivacyUnit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PrivacyUnit::Record => UnitRepr::Record("record".into()),
            PrivacyUnit::Column { column, max_rows } => UnitRepr::Column {
                column: column.clone(),
                max_rows: *max_rows,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PrivacyUnit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match UnitRepr::deserialize(d)? {
            UnitRepr::Record(s) if s == "record" => Ok(PrivacyUnit::Record),
            UnitRepr::Record(s) => Err(D::Error::custom(format!(
                "privacy unit {s:?}: expected \"record\" or {{\"column\": ..., \"max_rows\": ...}}"
            ))),
            UnitRepr::Column { column, max_rows } => {
                PrivacyUnit::column(&column, max_rows).map_err(D::Error::custom)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivities_scale_with_k() {
        let r = PrivacyUnit::Record;
        assert_eq!(r.marginal_sensitivity(), 1);
        assert_eq!(r.score_sensitivity(7.5), 7.5);
        let u = PrivacyUnit::column("subject_id", 3).unwrap();
        assert_eq!(u.marginal_sensitivity(), 3);
        assert_eq!(u.score_sensitivity(1.0), 3.0);
        assert_eq!(u.score_sensitivity(7.5), 22.5);
        assert_eq!(u.unit_column(), Some("subject_id"));
    }

    #[test]
    fn serialises_as_documented_and_rejects_bad_values() {
        let r = serde_json::to_value(PrivacyUnit::Record).unwrap();
        assert_eq!(r, serde_json::json!("record"));
        let u = PrivacyUnit::column("subject_id", 3).unwrap();
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"column": "subject_id", "max_rows": 3})
        );
        assert_eq!(serde_json::from_value::<PrivacyUnit>(v).unwrap(), u);
        assert_eq!(
            serde_json::from_value::<PrivacyUnit>(r).unwrap(),
            PrivacyUnit::Record
        );
        for bad in [
            serde_json::json!("person"),
            serde_json::json!({"column": "x", "max_rows": 0}),
            serde_json::json!({"column": "", "max_rows": 2}),
        ] {
            assert!(serde_json::from_value::<PrivacyUnit>(bad).is_err());
        }
        assert!(PrivacyUnit::column("x", MAX_ROWS_PER_UNIT + 1).is_err());
    }

    #[test]
    fn texts_name_the_unit_and_record_texts_say_record() {
        let r = PrivacyUnit::Record;
        assert!(r.neighbouring().contains("one record"));
        assert!(r.protected().contains("record"));
        let u = PrivacyUnit::column("patient_id", 4).unwrap();
        assert!(u.neighbouring().contains("patient_id"));
        assert!(u.neighbouring().contains("at most 4 records"));
        assert!(u.protected().contains("patient_id"));
        for t in [r.neighbouring(), r.protected(), r.to_string()] {
            assert!(!t.to_lowercase().contains("person"), "{t}");
        }
    }
}
