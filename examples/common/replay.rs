//! The replay examples' input: a saved release and the private table it was fitted on,
//! checked to share a domain (a compressed release's model does not).

use std::error::Error;
use std::path::Path;

use dpsynth::data::{read_csv, EncodedTable};
use dpsynth::release::pipeline::ModelFile;
use dpsynth::schema::Schema;

/// Loads `model`, and `data` read with `schema`; an error if the model's domain is not the
/// data's.
pub fn load(
    model: &str,
    data: &str,
    schema: &str,
) -> Result<(ModelFile, EncodedTable), Box<dyn Error>> {
    let file = ModelFile::load(Path::new(model))?;
    let schema = Schema::from_path(Path::new(schema)).map_err(|e| format!("{e}"))?;
    let (table, _) = read_csv(Path::new(data), &schema)?;
    if file.fitted.model.domain().sizes() != table.cardinalities() {
        return Err("the model's domain is not the data's (compressed release?)".into());
    }
    Ok((file, table))
}
