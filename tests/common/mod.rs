//! Helpers shared by the end-to-end tests: locating ../shared/data and loading the
//! integer-coded benchmark sets without going through the schema layer.
#![allow(dead_code)]

use std::path::PathBuf;

use dpsynth::data::EncodedTable;
use dpsynth::marginal::Domain;

/// Path of `rel` under the shared data folder beside the checkout.
///
/// Under CI (`CI=true`) a missing folder fails the test; elsewhere the test prints why it
/// skipped and the caller returns early.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("CI=true but shared data {} is missing", p.display());
    }
    println!("skipped: shared data {} not found", p.display());
    None
}

/// Loads an integer-coded benchmark set (adult, titanic, salary): `<name>/<name>.csv` with
/// `<name>/<name>-domain.json` giving each column's number of codes.
pub fn load_coded(name: &str) -> Option<(EncodedTable, Domain)> {
    let csv_path = shared_data(&format!("{name}/{name}.csv"))?;
    let dom_path = shared_data(&format!("{name}/{name}-domain.json"))?;
    let dom: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dom_path).unwrap()).unwrap();
    let mut rdr = csv::Reader::from_path(csv_path).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let sizes: Vec<usize> = names.iter().map(|n| dom[n].as_u64().unwrap() as usize).collect();
    let rows: Vec<Vec<u32>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    let table = EncodedTable::from_rows(names.clone(), sizes.clone(), &rows).unwrap();
    Some((table, Domain::new(names, sizes)))
}
