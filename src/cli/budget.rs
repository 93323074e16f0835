//! Budget flags shared by every command that spends privacy, and `dpsynth budget`.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use dpsynth::privacy::{Budget, Delta, Epsilon, Rho};

/// The privacy budget: either --epsilon (with --delta) or --rho.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = true)]
pub struct BudgetArgs {
    /// Total epsilon of the (epsilon, delta)-DP guarantee; converted to rho-zCDP by the
    /// tight conversion (Canonne-Kamath-Steinke 2020).
    #[arg(long, value_parser = parse_epsilon, conflicts_with = "rho")]
    pub epsilon: Option<Epsilon>,
    /// Delta of the (epsilon, delta)-DP guarantee. Default 1e-9 (below 1/n for any table
    /// up to a billion rows). With --rho it only sets the delta the guarantee is reported at.
    #[arg(long, value_parser = parse_delta, default_value = "1e-9")]
    pub delta: Delta,
    /// Total rho of a rho-zCDP budget, instead of --epsilon.
    #[arg(long, value_parser = parse_rho)]
    pub rho: Option<Rho>,
}

impl BudgetArgs {
    pub fn budget(&self) -> Result<Budget> {
        Ok(match (self.epsilon, self.rho) {
            (_, Some(rho)) => Budget::from_rho(rho, self.delta),
            (Some(eps), None) => Budget::from_epsilon_delta(eps, self.delta)?,
            (None, None) => anyhow::bail!("give a budget: --epsilon (with --delta) or --rho"),
        })
    }
}

pub(crate) fn parse_f64(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{s}` is not a number"))
}

fn parse_epsilon(s: &str) -> Result<Epsilon, String> {
    Epsilon::new(parse_f64(s)?).map_err(|e| e.to_string())
}

fn parse_delta(s: &str) -> Result<Delta, String> {
    Delta::new(parse_f64(s)?).map_err(|e| e.to_string())
}

fn parse_rho(s: &str) -> Result<Rho, String> {
    Rho::new(parse_f64(s)?).map_err(|e| e.to_string())
}

/// `dpsynth budget`: what a budget means, without touching any data.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dpsynth budget --epsilon 1 --delta 1e-9\n  dpsynth budget --rho 0.05 --json"
)]
pub struct BudgetCmd {
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: BudgetCmd) -> Result<()> {
    let b = cmd.budget.budget()?;
    let eps = b.epsilon()?;
    if cmd.json {
        outln!(
            "{}",
            json!({"rho": b.rho.value(), "epsilon": eps.value(), "delta": b.delta.value(),
                   "conversion": "tight zCDP to approximate DP (Canonne-Kamath-Steinke 2020, opendp)"})
        )?;
    } else {
        outln!("rho-zCDP:        rho = {:.6}", b.rho.value())?;
        outln!(
            "(epsilon, delta): epsilon = {:.6}, delta = {:e}",
            eps.value(),
            b.delta.value()
        )?;
        outln!("neighbours:      add or remove one record")?;
    }
    Ok(())
}
