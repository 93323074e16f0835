//! The plain-language README written beside a release, for the partner who receives it.

use super::verify::phases;
use super::Certificate;

pub const RELEASE_README: &str = "README.txt";

pub fn release_readme(cert: &Certificate) -> String {
    let g = &cert.guarantee;
    let data = cert.outputs.iter().find(|o| o.rows.is_some());
    let mut s = String::new();
    s += "SYNTHETIC DATA RELEASE (made with dpsynth)\n==========================================\n\n";
    s += "WHAT THIS IS\n";
    if let Some(d) = data {
        s += &format!(
            "{} holds {} synthetic records. They were generated from a statistical model, not\ncopied from real people: no row corresponds to a real person.\n",
            d.file,
            d.rows.unwrap_or(0)
        );
    }
    s += "model.json is that model (noisy summary statistics and the fitted distribution); it\ncan generate more synthetic records without the original data.\n";
    s += "certificate.json states the privacy guarantee and how it was spent, with fingerprints\n(SHA-256) of every file.\n\n";
    s += "THE GUARANTEE\n";
    s += &format!("{}\n\n", g.statement);
    s += &format!(
        "In short: whether or not any one person's record was in the original data, the\nchance of seeing this release changes by at most a factor of {:.3} (plus a\nprobability of {:e} of anything worse). This is differential privacy with\nepsilon = {:.4} and delta = {:e}, under the {} model.\n\n",
        g.epsilon.exp(),
        g.delta,
        g.epsilon,
        g.delta,
        g.neighbouring
    );
    s += &format!(
        "Mechanism: {}. Privacy budget by phase (rho, zero-concentrated DP):\n",
        cert.mechanism.name
    );
    for (phase, n, rho) in phases(cert) {
        s += &format!("  {phase:<44} {n:>4} steps  rho {rho:.6e}\n");
    }
    s += &format!(
        "  {:<44} {:>4} steps  rho {:.6e}\n\n",
        "total",
        cert.ledger.len(),
        g.rho
    );
    s += "WHAT IT PROTECTS\n";
    s += "- Membership: the release reveals almost nothing about whether a given person was in\n  the original data, or about their values, whatever else an attacker knows.\n";
    s += "- This holds for any analysis of the release, now or later (post-processing).\n\n";
    s += "WHAT IT DOES NOT PROTECT\n";
    s += "- Population-level facts are meant to be kept: if most patients in the data share a\n  trait, the synthetic data will show it, and conclusions about groups remain possible.\n";
    s += "- The column names, value lists and ranges come from the schema embedded in the\n  certificate, which the data holder declared public. The certificate attests the\n  computation as run by this tool; it does not attest that the schema was truly public\n  or that the input file was the data it claims to be.\n";
    s += "- Statistical accuracy is not guaranteed for rare groups or relationships among many\n  columns; check fitness for your purpose before relying on it.\n\n";
    s += "HOW TO VERIFY\n";
    s += "  dpsynth verify <this directory>                      # checks files, ledger, guarantee\n";
    s += "  dpsynth verify <this directory> --public-key KEY.pub # also requires the holder's signature\n";
    if let Some(sig) = &cert.signature {
        s += &format!("This release is signed; the signing key's fingerprint is\n  {}\nCompare it with the fingerprint the data holder gave you.\n", sig.fingerprint);
    } else {
        s += "This release is not signed.\n";
    }
    s
}
