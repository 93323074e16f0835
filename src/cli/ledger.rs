//! `dpsynth ledger init` and `dpsynth ledger show`: the lifetime privacy budget of a data set.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use dpsynth::release::{Ledger, LedgerUnit};

use super::budget::BudgetArgs;

#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Create a lifetime ledger: the total budget every release from these data is charged
    /// to (`synth --ledger FILE`, `fit --ledger FILE`). Never overwrites an existing ledger.
    #[command(after_help = "Examples:
  dpsynth ledger init hospital.ledger --epsilon 4 --privacy-unit patient_id
  dpsynth synth --data admissions.csv --schema admissions.schema.toml --epsilon 1 \\
                --ledger hospital.ledger --out release-2026-q1/
  dpsynth ledger show hospital.ledger")]
    Init {
        /// The ledger file to create (keep it with the data; it is not part of any release).
        file: PathBuf,
        #[command(flatten)]
        budget: BudgetArgs,
        /// The unit every release charged to this ledger must protect: an `id` column (each
        /// run names its K). Default: one record.
        #[arg(long, value_name = "COLUMN")]
        privacy_unit: Option<String>,
    },
    /// Show a ledger: budget, what is spent and left, every release charged to it.
    #[command(after_help = "Example:\n  dpsynth ledger show hospital.ledger --json")]
    Show {
        file: PathBuf,
        /// Print JSON (the ledger file plus the totals).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: LedgerCmd) -> Result<()> {
    match cmd {
        LedgerCmd::Init {
            file,
            budget,
            privacy_unit,
        } => {
            let budget = budget.budget()?;
            let unit = match privacy_unit {
                Some(c) if !c.is_empty() => LedgerUnit::Column(c),
                Some(_) => anyhow::bail!("--privacy-unit needs a column name"),
                None => LedgerUnit::Record,
            };
            let l = Ledger::new(&file).init(budget, unit)?;
            outln!(
                "created {} (id {}): lifetime budget rho {:.6e} (epsilon {:.4} at delta {:e}) protecting {}",
                file.display(),
                l.id,
                l.budget_rho,
                l.epsilon_of(l.budget_rho).unwrap_or(f64::NAN),
                l.delta,
                l.privacy_unit
            )?;
            Ok(())
        }
        LedgerCmd::Show { file, json } => {
            let l = Ledger::new(&file).load()?;
            let spent = l.spent();
            let remaining = l.remaining();
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ledger": l,
                        "spent_rho": spent,
                        "spent_epsilon": l.epsilon_of(spent),
                        "remaining_rho": remaining,
                        "remaining_epsilon": l.epsilon_of(remaining),
                    }))?
                )?;
                return Ok(());
            }
            let eps = |r: f64| {
                l.epsilon_of(r)
                    .map_or("0".to_string(), |e| format!("{e:.4}"))
            };
            outln!(
                "ledger {} (id {}, created {})",
                file.display(),
                l.id,
                l.created
            )?;
            outln!("protects:  {}", l.privacy_unit)?;
            outln!(
                "budget:    rho {:.6e} (epsilon {} at delta {:e})",
                l.budget_rho,
                eps(l.budget_rho),
                l.delta
            )?;
            outln!(
                "spent:     rho {spent:.6e} (epsilon {} together) in {} release(s)",
                eps(spent),
                l.releases.len()
            )?;
            outln!(
                "remaining: rho {remaining:.6e} (a run of at most --rho {remaining:.6e}, or --epsilon {} at --delta {:e})",
                eps(remaining),
                l.delta
            )?;
            if !l.releases.is_empty() {
                outln!(
                    "\n  {:>3}  {:<9} {:<20} {:<5} {:<4} {:>12}  output",
                    "#",
                    "status",
                    "reserved at",
                    "cmd",
                    "mech",
                    "rho"
                )?;
                for r in &l.releases {
                    outln!(
                        "  {:>3}  {:<9} {:<20} {:<5} {:<4} {:>12.6e}  {}{}",
                        r.number,
                        format!("{:?}", r.status).to_lowercase(),
                        r.reserved_at,
                        r.command,
                        r.mechanism,
                        r.rho,
                        r.output,
                        r.output_sha256
                            .as_deref()
                            .map(|h| format!(" (sha256 {})", &h[..h.len().min(16)]))
                            .unwrap_or_default()
                    )?;
                }
                if l.releases
                    .iter()
                    .any(|r| r.status != dpsynth::release::ledger::Status::Released)
                {
                    outln!("\n  reserved: in progress or interrupted; failed: stopped after reserving. Both stay counted in full, because noise may have been drawn.")?;
                }
            }
            Ok(())
        }
    }
}
