//! Shared by the measuring examples (`#[path = "common/data.rs"] mod data;`): the shared
//! data sets by name, read with their schemas.

use std::path::PathBuf;

use dpsynth::data::{read_csv, EncodedTable};
use dpsynth::marginal::Domain;
use dpsynth::schema::Schema;

/// `adult`, `titanic` or `nist` from `../shared/data` (or `SHARED_DATA=DIR`), encoded, with
/// its modelled domain.
pub fn load(set: &str) -> anyhow::Result<(EncodedTable, Domain)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `SHARED_DATA=DIR` for a checkout that is not beside the shared data (a worktree).
    let data =
        std::env::var_os("SHARED_DATA").map_or_else(|| root.join("../shared/data"), PathBuf::from);
    let (csv, schema) = match set {
        "adult" => (
            data.join("adult/adult.csv"),
            data.join("adult/adult-domain.json"),
        ),
        "titanic" => (
            data.join("titanic/titanic.csv"),
            data.join("titanic/titanic-domain.json"),
        ),
        "nist" => (
            data.join("nist_crc/national2019.csv"),
            root.join("examples/nist/national2019.schema.toml"),
        ),
        other => anyhow::bail!("unknown data set {other} (adult, titanic, nist)"),
    };
    let schema = Schema::from_path(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (table, _) = read_csv(&csv, &schema)?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    Ok((table, domain))
}
