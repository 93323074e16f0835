//! The lifetime privacy ledger: one file per data set (or per population of units) that
//! every release from those data is charged to, so that the sum over all releases stays
//! within what the privacy board approved.
//!
//! Protocol (proofs/privacy-unit.md, section 4):
//! 1. [`Ledger::reserve`], before any noise is drawn: under the ledger's lock, refuse the run
//!    if its unit differs from the ledger's or its budget does not fit in what is left;
//!    otherwise durably record a reservation of the whole budget and return the rho granted.
//! 2. [`Ledger::record`], after the release is written: replace the reservation by the rho
//!    the certificate states (never more) and the certificate's SHA-256.
//! 3. [`Ledger::fail`], when the run fails after reserving: the reservation stays counted as
//!    spent (noise may have been drawn); so does the reservation of a run that was killed.
//!
//! Every read-check-write holds an exclusive lock on the sibling file `FILE.lock` for its
//! duration, and the new ledger replaces the old by an fsynced write to a temporary file, an
//! atomic rename and an fsync of the directory: concurrent runs are serialised, and a crash
//! leaves the old or the new ledger, never a mixture.
//!
//! The ledger is the data holder's file. It holds budgets, output paths and hashes of the
//! outputs, nothing computed from the private data except DP outputs' costs.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::write_atomic;
use crate::privacy::{epsilon_for, Budget, Delta, PrivacyUnit, Rho, RhoSum};

pub const LEDGER_FORMAT: &str = "dpsynth-ledger";
pub const LEDGER_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{0}: already exists; a lifetime ledger is never overwritten (delete it by hand only if no release was ever charged to it)")]
    Exists(PathBuf),
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    #[error(
        "{file}: refused: this run needs rho {needed:.6e}, but the lifetime ledger has rho {remaining:.6e} left of its budget {total:.6e} ({releases} release(s) charged so far, failed and interrupted runs included). Run with a smaller budget (at most --rho {remaining:.6e}{eps_hint}), or stop releasing from these data. No noise was drawn and nothing was written."
    )]
    Exceeded {
        file: String,
        needed: f64,
        remaining: f64,
        total: f64,
        releases: usize,
        eps_hint: String,
    },
    #[error("{file}: refused: the ledger's privacy unit is {ledger}, but this run's is {run}; a ledger composes only releases that protect the same unit. No noise was drawn and nothing was written.")]
    UnitMismatch {
        file: String,
        ledger: String,
        run: String,
    },
    #[error("{file}: release {number} is not a reservation in progress")]
    NoReservation { file: String, number: u64 },
}

/// Whose privacy a ledger's budget protects. Unlike [`PrivacyUnit`] it names no bound `K`:
/// releases with different `K` compose under the same unit (proofs/privacy-unit.md, 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerUnit {
    Record,
    Column(String),
}

impl LedgerUnit {
    pub fn of(unit: &PrivacyUnit) -> Self {
        match unit.unit_column() {
            None => LedgerUnit::Record,
            Some(c) => LedgerUnit::Column(c.to_string()),
        }
    }
}

impl std::fmt::Display for LedgerUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerUnit::Record => f.write_str("one record"),
            LedgerUnit::Column(c) => write!(f, "one {c} value with all of its records"),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum LedgerUnitRepr {
    Record(String),
    Column { column: String },
}

impl Serialize for LedgerUnit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LedgerUnit::Record => LedgerUnitRepr::Record("record".into()),
            LedgerUnit::Column(c) => LedgerUnitRepr::Column { column: c.clone() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LedgerUnit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match LedgerUnitRepr::deserialize(d)? {
            LedgerUnitRepr::Record(s) if s == "record" => Ok(LedgerUnit::Record),
            LedgerUnitRepr::Column { column } if !column.is_empty() => {
                Ok(LedgerUnit::Column(column))
            }
            _ => Err(D::Error::custom(
                "privacy_unit must be \"record\" or {\"column\": NAME}",
            )),
        }
    }
}

/// Where a charged run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Budget reserved; the run is in progress, or was killed (counted in full).
    Reserved,
    /// The run finished; `rho` is what its certificate (or model file) states.
    Released,
    /// The run failed after reserving; counted in full (noise may have been drawn).
    Failed,
}

/// One run charged to the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// 1-based, in the order runs reserved.
    pub number: u64,
    pub status: Status,
    /// `synth` or `fit`.
    pub command: String,
    /// The output the run writes (release directory or model file), as given.
    pub output: String,
    pub mechanism: String,
    /// The run's whole budget, reserved before any noise.
    pub reserved_rho: f64,
    /// What counts against the lifetime budget: `reserved_rho` until the run is recorded,
    /// then the rho its output states (at most `reserved_rho`).
    pub rho: f64,
    pub reserved_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// SHA-256 of the release's certificate.json (`synth`) or of the model file (`fit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
}

/// The ledger file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerFile {
    pub format: String,
    pub format_version: u32,
    /// Random; certificates of releases charged to this ledger cite it.
    pub id: String,
    pub created: String,
    pub privacy_unit: LedgerUnit,
    /// The lifetime budget in rho-zCDP.
    pub budget_rho: f64,
    /// The delta at which the ledger reports epsilon.
    pub delta: f64,
    pub releases: Vec<Release>,
}

impl LedgerFile {
    /// The exact sum of the rho counted so far (proofs/accountant.md, step 3). `load`
    /// refuses files with a negative or non-finite rho, so this cannot fail on a loaded file.
    fn spent_exact(&self) -> RhoSum {
        RhoSum::of(self.releases.iter().map(|r| r.rho)).unwrap_or_default()
    }

    /// rho counted so far: the exact sum, rounded up.
    pub fn spent(&self) -> f64 {
        self.spent_exact().upper()
    }

    /// rho left: the budget minus the exact sum, rounded down (never negative), so a
    /// reservation of at most this always fits exactly.
    pub fn remaining(&self) -> f64 {
        self.spent_exact().remaining(self.budget_rho)
    }

    /// The epsilon that `rho` gives at the ledger's delta (None for rho 0).
    pub fn epsilon_of(&self, rho: f64) -> Option<f64> {
        let d = Delta::new(self.delta).ok()?;
        epsilon_for(Rho::new(rho).ok()?, d).ok().map(|e| e.value())
    }
}

/// What a successful reservation grants.
#[derive(Clone, Debug, PartialEq)]
pub struct Reservation {
    pub number: u64,
    /// The rho the run may spend: its budget, or (only when rounding of decimal budgets
    /// would otherwise overshoot the ledger by at most 1e-9 relative) the exact rest.
    pub rho: f64,
    /// rho counted before this run, in ledger order.
    pub spent_before: f64,
    pub ledger_id: String,
    pub budget_rho: f64,
    pub delta: f64,
    /// The releases charged before this one, as the ledger held them at reservation (for
    /// the certificate: numbers, statuses, rho and certificate hashes; no paths).
    pub prior: Vec<super::PriorRelease>,
}

/// A lifetime ledger on disk.
pub struct Ledger {
    path: PathBuf,
}

/// The current time in UTC, RFC 3339 to the second.
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(d.as_secs() as i64, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl Ledger {
    pub fn new(path: &Path) -> Self {
        Ledger {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn lock_path(&self) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(".lock");
        PathBuf::from(s)
    }

    /// Takes the ledger's exclusive lock (blocking until other runs release it).
    fn lock(&self) -> Result<File, LedgerError> {
        let p = self.lock_path();
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| LedgerError::Io(p.clone(), e))?;
        f.lock().map_err(|e| LedgerError::Io(p, e))?;
        Ok(f)
    }

    /// Creates a ledger with a lifetime `budget` for `unit`. Refuses an existing file.
    pub fn init(&self, budget: Budget, unit: LedgerUnit) -> Result<LedgerFile, LedgerError> {
        let _lock = self.lock()?;
        if self.path.exists() {
            return Err(LedgerError::Exists(self.path.clone()));
        }
        let file = LedgerFile {
            format: LEDGER_FORMAT.into(),
            format_version: LEDGER_VERSION,
            id: hex::encode(rand::random::<[u8; 16]>()),
            created: now(),
            privacy_unit: unit,
            budget_rho: budget.rho.value(),
            delta: budget.delta.value(),
            releases: Vec::new(),
        };
        self.write(&file)?;
        Ok(file)
    }

    /// Reads the ledger (a consistent snapshot: writers replace it by an atomic rename).
    pub fn load(&self) -> Result<LedgerFile, LedgerError> {
        let text =
            fs::read_to_string(&self.path).map_err(|e| LedgerError::Io(self.path.clone(), e))?;
        let file: LedgerFile = serde_json::from_str(&text).map_err(|e| LedgerError::Format {
            file: self.name(),
            message: format!("not a dpsynth ledger: {e}"),
        })?;
        if file.format != LEDGER_FORMAT || file.format_version != LEDGER_VERSION {
            return Err(LedgerError::Format {
                file: self.name(),
                message: format!(
                    "format {} v{} is not {LEDGER_FORMAT} v{LEDGER_VERSION}",
                    file.format, file.format_version
                ),
            });
        }
        let bad = |m: &str| LedgerError::Format {
            file: self.name(),
            message: m.to_string(),
        };
        if !(file.budget_rho.is_finite() && file.budget_rho > 0.0) {
            return Err(bad("the budget must be a positive rho"));
        }
        if file
            .releases
            .iter()
            .any(|r| !(r.rho.is_finite() && r.rho >= 0.0 && r.rho <= r.reserved_rho))
        {
            return Err(bad(
                "a release's rho is negative, not finite, or above its reservation",
            ));
        }
        Ok(file)
    }

    fn write(&self, file: &LedgerFile) -> Result<(), LedgerError> {
        let mut bytes = serde_json::to_vec_pretty(file).map_err(|e| LedgerError::Format {
            file: self.name(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes).map_err(|e| match e {
            super::ReleaseError::Io(p, e) => LedgerError::Io(p, e),
            other => LedgerError::Io(self.path.clone(), std::io::Error::other(other.to_string())),
        })?;
        // Make the rename itself durable: a reservation must survive a crash.
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LedgerError::Io(dir, e))
    }

    /// Reserves `budget` for a run of `command` with `mechanism` writing `output`, before any
    /// noise is drawn (proofs/privacy-unit.md, section 4). Refuses, leaving the ledger
    /// unchanged, when the run's unit is not the ledger's or its budget does not fit.
    pub fn reserve(
        &self,
        unit: &PrivacyUnit,
        budget: Budget,
        command: &str,
        mechanism: &str,
        output: &str,
    ) -> Result<Reservation, LedgerError> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        let run_unit = LedgerUnit::of(unit);
        if run_unit != file.privacy_unit {
            return Err(LedgerError::UnitMismatch {
                file: self.name(),
                ledger: file.privacy_unit.to_string(),
                run: run_unit.to_string(),
            });
        }
        let needed = budget.rho.value();
        let spent = file.spent();
        // What is left is rounded down, so the granted rho fits in exact arithmetic.
        let granted = needed.min(file.remaining());
        // Budgets given as decimals rarely add up exactly in binary (3 x 0.01 > 0.03): a
        // shortfall of at most 1e-9 relative is absorbed by granting the exact rest.
        if !(granted > 0.0 && granted >= needed * (1.0 - 1e-9)) {
            let remaining = file.remaining();
            let eps_hint = file
                .epsilon_of(remaining)
                .map(|e| format!(", or --epsilon {e:.4} at --delta {:e}", file.delta))
                .unwrap_or_default();
            return Err(LedgerError::Exceeded {
                file: self.name(),
                needed,
                remaining,
                total: file.budget_rho,
                releases: file.releases.len(),
                eps_hint,
            });
        }
        let number = file.releases.last().map_or(1, |r| r.number + 1);
        let prior = file
            .releases
            .iter()
            .map(|r| super::PriorRelease {
                number: r.number,
                status: match r.status {
                    Status::Reserved => "reserved",
                    Status::Released => "released",
                    Status::Failed => "failed",
                }
                .into(),
                rho: r.rho,
                output_sha256: r.output_sha256.clone(),
            })
            .collect();
        file.releases.push(Release {
            number,
            status: Status::Reserved,
            command: command.into(),
            output: output.into(),
            mechanism: mechanism.into(),
            reserved_rho: granted,
            rho: granted,
            reserved_at: now(),
            finished_at: None,
            output_sha256: None,
        });
        self.write(&file)?;
        Ok(Reservation {
            number,
            rho: granted,
            spent_before: spent,
            ledger_id: file.id.clone(),
            budget_rho: file.budget_rho,
            delta: file.delta,
            prior,
        })
    }

    fn finish(
        &self,
        number: u64,
        update: impl FnOnce(&mut Release),
    ) -> Result<LedgerFile, LedgerError> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        let r = file
            .releases
            .iter_mut()
            .find(|r| r.number == number && r.status == Status::Reserved)
            .ok_or(LedgerError::NoReservation {
                file: self.name(),
                number,
            })?;
        update(r);
        r.finished_at = Some(now());
        self.write(&file)?;
        Ok(file)
    }

    /// Records a finished run: its rho becomes `rho` (what its output states; clamped to the
    /// reservation, which the run's accountant cannot exceed) and its output's SHA-256.
    pub fn record(&self, number: u64, rho: f64, sha256: &str) -> Result<LedgerFile, LedgerError> {
        self.finish(number, |r| {
            r.status = Status::Released;
            if rho.is_finite() && rho >= 0.0 {
                r.rho = rho.min(r.reserved_rho);
            }
            r.output_sha256 = Some(sha256.to_string());
        })
    }

    /// Marks a run that failed after reserving. Its whole reservation stays counted.
    pub fn fail(&self, number: u64) -> Result<LedgerFile, LedgerError> {
        self.finish(number, |r| r.status = Status::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(rho: f64) -> Budget {
        Budget::from_rho(Rho::new(rho).unwrap(), Delta::new(1e-9).unwrap())
    }

    #[test]
    fn reserve_record_fail_and_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(&dir.path().join("l.json"));
        let f = l.init(budget(0.03), LedgerUnit::Record).unwrap();
        assert!(matches!(
            l.init(budget(1.0), LedgerUnit::Record),
            Err(LedgerError::Exists(_))
        ));
        assert_eq!(f.spent(), 0.0);
        let rec = PrivacyUnit::Record;
        // Three decimal budgets that do not add up exactly in binary still fit.
        let a = l.reserve(&rec, budget(0.01), "synth", "mst", "a").unwrap();
        let b = l.reserve(&rec, budget(0.01), "synth", "mst", "b").unwrap();
        assert_eq!((a.number, b.number), (1, 2));
        assert_eq!(b.spent_before, 0.01);
        l.record(1, 0.01 * (1.0 - 1e-12), "abc").unwrap();
        l.fail(2).unwrap();
        assert!(matches!(l.fail(2), Err(LedgerError::NoReservation { .. })));
        let c = l.reserve(&rec, budget(0.01), "fit", "aim", "c").unwrap();
        assert!(c.rho <= 0.01 && c.rho >= 0.01 * (1.0 - 1e-9));
        let file = l.load().unwrap();
        assert!(file.spent() <= file.budget_rho);
        // Within the budget in exact arithmetic, not only in floating point.
        assert!(RhoSum::of(file.releases.iter().map(|r| r.rho))
            .unwrap()
            .within(file.budget_rho));
        assert_eq!(file.releases[1].status, Status::Failed);
        assert_eq!(file.releases[1].rho, 0.01);
        assert_eq!(file.releases[0].output_sha256.as_deref(), Some("abc"));
        // Nothing fits any more; the refusal names what is left and changes nothing.
        let e = l
            .reserve(&rec, budget(1e-4), "synth", "mst", "d")
            .unwrap_err();
        assert!(e.to_string().contains("left of its budget"), "{e}");
        assert_eq!(l.load().unwrap(), file);
        // A unit run on a record ledger is refused.
        let unit = PrivacyUnit::column("patient_id", 3).unwrap();
        let e = l
            .reserve(&unit, budget(1e-9), "synth", "mst", "e")
            .unwrap_err();
        assert!(matches!(e, LedgerError::UnitMismatch { .. }), "{e}");
    }

    #[test]
    fn unit_ledgers_accept_any_k_for_their_column_only() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(&dir.path().join("l.json"));
        l.init(budget(1.0), LedgerUnit::Column("patient_id".into()))
            .unwrap();
        for k in [1, 5] {
            let u = PrivacyUnit::column("patient_id", k).unwrap();
            l.reserve(&u, budget(0.1), "synth", "mst", "x").unwrap();
        }
        let other = PrivacyUnit::column("visit_id", 1).unwrap();
        assert!(l.reserve(&other, budget(0.1), "synth", "mst", "y").is_err());
        assert!(l
            .reserve(&PrivacyUnit::Record, budget(0.1), "synth", "mst", "y")
            .is_err());
        let text = std::fs::read_to_string(dir.path().join("l.json")).unwrap();
        assert!(text.contains("\"column\": \"patient_id\""), "{text}");
    }

    #[test]
    fn corrupt_ledgers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.json");
        std::fs::write(&p, "{}").unwrap();
        assert!(matches!(
            Ledger::new(&p).load(),
            Err(LedgerError::Format { .. })
        ));
    }
}
