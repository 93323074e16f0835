//! The command line: clap definitions and dispatch. No logic beyond parsing and printing.

#[macro_use]
pub mod output;

mod budget;
mod evaluate;
mod ledger;
mod plan;
mod problems;
mod progress;
mod query;
mod registry;
mod release;
mod schema;
mod source;
mod synth;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// dpsynth: differentially private synthetic tables with a certificate of the guarantee.
#[derive(Parser, Debug)]
#[command(name = "dpsynth", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "Examples:
  dpsynth schema check examples/data/admissions.schema.toml --data examples/data/admissions.csv
  dpsynth budget --epsilon 1 --delta 1e-9
  dpsynth synth --data examples/data/admissions.csv --schema examples/data/admissions.schema.toml \\
                --epsilon 1 --out release/";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fit a DP model and sample a certified synthetic release (data, model, certificate).
    Synth(synth::SynthCmd),
    /// Fit the DP model alone (shareable: it holds only noisy measurements).
    Fit(synth::FitCmd),
    /// Draw records from a fitted model; needs no access to the private data.
    Sample(synth::SampleCmd),
    /// Predict noise and error for a schema, a row count and budgets (no data needed).
    Plan(plan::PlanCmd),
    /// Answer a marginal from a model file, with error bars (no private data needed).
    Query(query::QueryCmd),
    /// Compare synthetic with real data (curator-side; output is private).
    Evaluate(evaluate::EvaluateCmd),
    /// Check a certified release: ledger, guarantee, hashes, signature.
    Verify(release::VerifyCmd),
    /// Create an Ed25519 key pair for signing releases.
    Keygen(release::KeygenCmd),
    /// Print a release's DP Deployments Registry entry (Tier 3), from its certificate.
    RegistryEntry(registry::RegistryEntryCmd),
    /// Show what a budget means: rho, and (epsilon, delta).
    Budget(budget::BudgetCmd),
    /// Check or draft a public schema.
    #[command(subcommand)]
    Schema(schema::SchemaCmd),
    /// Create or show a lifetime privacy ledger (the total budget across releases).
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Budget(cmd) => budget::run(cmd),
        Command::Schema(cmd) => schema::run(cmd),
        Command::Synth(cmd) => synth::run_synth(cmd),
        Command::Fit(cmd) => synth::run_fit_cmd(cmd),
        Command::Sample(cmd) => synth::run_sample(cmd),
        Command::Query(cmd) => query::run(cmd),
        Command::Plan(cmd) => plan::run(cmd),
        Command::Evaluate(cmd) => evaluate::run(cmd),
        Command::Verify(cmd) => {
            if release::run_verify(cmd)? {
                Ok(())
            } else {
                Err(Failed.into())
            }
        }
        Command::Keygen(cmd) => release::run_keygen(cmd),
        Command::RegistryEntry(cmd) => registry::run(cmd),
        Command::Ledger(cmd) => ledger::run(cmd),
    }
}

/// A failure already reported on stderr: exit 1 without another message.
#[derive(Debug, thiserror::Error)]
#[error("")]
pub struct Failed;
