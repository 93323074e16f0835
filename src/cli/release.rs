//! `dpsynth keygen` and `dpsynth verify`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use dpsynth::release::{keygen, load_public_key, verify_release};

/// Create an Ed25519 key pair for signing releases.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dpsynth keygen --out hospital.key   # writes hospital.key (0600) and hospital.key.pub"
)]
pub struct KeygenCmd {
    /// Private key file to create (PKCS#8 PEM, owner-only permissions); the public key
    /// goes to the same name plus `.pub`.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_keygen(cmd: KeygenCmd) -> Result<()> {
    let (pub_path, fp) = keygen(&cmd.out)?;
    outln!("private key: {} (keep it secret)", cmd.out.display())?;
    outln!("public key:  {}", pub_path.display())?;
    outln!("fingerprint: {fp}")?;
    Ok(())
}

/// Check a certified release: ledger, guarantee, file hashes and row counts, signature.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dpsynth verify release/\n  dpsynth verify release/ --public-key hospital.key.pub --json"
)]
pub struct VerifyCmd {
    /// The release directory (holds certificate.json).
    pub dir: PathBuf,
    /// Require a valid signature by this Ed25519 public key (PEM).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Returns Ok(true) when every check passed.
pub fn run_verify(cmd: VerifyCmd) -> Result<bool> {
    let key = match &cmd.public_key {
        Some(p) => Some(load_public_key(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let report = verify_release(&cmd.dir, key.as_ref());
    if cmd.json {
        let v = serde_json::json!({ "ok": report.ok, "checks": report.checks,
            "guarantee": report.certificate.as_ref().map(|c| &c.guarantee) });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        out!("{}", report.to_text())?;
    }
    if !report.ok {
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        errln!("error: verification failed: {}", failed.join("; "));
    }
    Ok(report.ok)
}
