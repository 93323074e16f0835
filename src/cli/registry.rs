//! `dpsynth registry-entry`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use dpsynth::release::registry::{registry_entry, to_yaml, RegistryOptions};
use dpsynth::release::verify_release;
use dpsynth::schema::Schema;

/// Write a release's DP Deployments Registry entry (Tier 3), from its certificate.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  dpsynth registry-entry release/ --region \"United Kingdom\" --sector Healthcare > entry.yaml
  dpsynth registry-entry release/ --json

The release must verify first. Fields are mapped one by one from the certificate
(docs/registry.md); review the entry before submitting it to the registry.")]
pub struct RegistryEntryCmd {
    /// The release directory (holds certificate.json).
    pub dir: PathBuf,
    /// Print JSON instead of YAML (the registry's files are YAML; the tree is the same).
    #[arg(long)]
    pub json: bool,
    /// The region the data describe or whose laws apply (data_product_region).
    #[arg(long, value_name = "TEXT")]
    pub region: Option<String>,
    /// The sector (data_product_sector): Technology, Healthcare, Education, Government,
    /// Energy or Finance.
    #[arg(long, value_name = "SECTOR")]
    pub sector: Option<String>,
    /// Who filled in the entry (registry_authors; repeatable). Default: the curator.
    #[arg(long = "author", value_name = "NAME")]
    pub authors: Vec<String>,
}

pub fn run(cmd: RegistryEntryCmd) -> Result<()> {
    let report = verify_release(&cmd.dir, None);
    if !report.ok {
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        bail!(
            "{} does not verify, so it gets no registry entry: {}",
            cmd.dir.display(),
            failed.join("; ")
        );
    }
    let Some(cert) = report.certificate else {
        bail!("{}: no certificate", cmd.dir.display());
    };
    let schema = Schema::from_str_auto(&cert.schema.text, "schema embedded in the certificate")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = RegistryOptions {
        region: cmd.region,
        sector: cmd.sector,
        authors: cmd.authors,
    };
    let entry = registry_entry(&cert, &schema, &opts).map_err(anyhow::Error::msg)?;
    if cmd.json {
        outln!("{}", serde_json::to_string_pretty(&entry)?)?;
    } else {
        out!("{}", to_yaml(&entry))?;
    }
    Ok(())
}
