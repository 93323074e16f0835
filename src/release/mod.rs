//! Releases: the certificate, atomic writing of the output directory, and (later) signing
//! and verification. Everything here is post-processing of DP outputs.

mod atomic;
pub mod attest;
pub mod certificate;
pub mod datacard;
pub mod governance;
pub mod ledger;
pub mod pipeline;
pub mod readme;
pub mod registry;
pub mod rules;
pub mod run;
pub mod sign;
pub mod verify;

use std::path::PathBuf;

pub use atomic::{write_atomic, StagedDir};
pub use attest::{check_attestation, Envelope, ENVELOPE_FILE, PREDICATE_TYPE};
pub use certificate::{
    data_rows, describe_output, sha256_bytes, sha256_file, statement, Certificate, Guarantee,
    Lifetime, MechanismInfo, OutputFile, Sampling, SchemaInfo, Signature, Tool, CERTIFICATE_FORMAT,
    CERTIFICATE_VERSION,
};
pub use datacard::{datacard, DATACARD_FILE};
pub use governance::{Counting, Deployment, Implementation, PriorRelease, ReleaseContext, Utility};
pub use ledger::{Ledger, LedgerError, LedgerFile, LedgerUnit, Reservation};
pub use pipeline::{
    sample_codes, sample_to_csv, sample_to_file, write_release, ModelFile, OutputFormat,
    SampleSpec, ACCURACY_FILE, CERTIFICATE_FILE, DATA_FILE, MODEL_FILE, PARQUET_DATA_FILE,
};
pub use run::{
    check_max_fit_work, check_max_model_size, fit_release, mechanism_spec, release_spec,
    repeated_ids_note, resolve_unit, spendable_note, spent_context, FitFailure, MechanismChoice,
    RunError, ACCURACY_REPLICATES,
};
pub use sign::{check_signature, fingerprint, keygen, load_public_key, load_signing_key, sign};
pub use verify::{check_privacy_unit, verify_release, Check, VerifyReport};

use crate::mechanism::Fitted;
use crate::privacy::{epsilon_for, NoiseKind, PrivacyError, Rho, RhoSum};

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0}: already exists; choose another --out or pass --force to replace it")]
    Exists(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    #[error("{0}")]
    Format(String),
}

/// What a run states about its release besides the figures of the guarantee: the context
/// the operator gave, where counting ran, and (with a lifetime ledger) where the release
/// leaves that ledger. Nothing in it is computed from the private input.
#[derive(Clone, Debug, PartialEq)]
pub struct Governance {
    pub context: ReleaseContext,
    pub counting: Counting,
    pub lifetime: Option<Lifetime>,
}

/// Builds the certificate of a fitted run. `outputs` are the already-written files.
/// The privacy unit is the one the mechanism used (`fitted.unit`), never restated here.
pub fn certificate_for(
    fitted: &Fitted,
    options: serde_json::Value,
    schema_text: &str,
    outputs: Vec<OutputFile>,
    sampling: Sampling,
    gov: &Governance,
) -> Result<Certificate, ReleaseError> {
    // The stated rho is the ledger's exact sum rounded up (proofs/accountant.md, step 3).
    let rho = RhoSum::of(fitted.ledger.iter().map(|e| e.rho))?.upper();
    let delta = fitted.budget.delta.value();
    let epsilon = epsilon_for(Rho::new(rho)?, fitted.budget.delta)?.value();
    Ok(Certificate {
        format: CERTIFICATE_FORMAT.into(),
        format_version: CERTIFICATE_VERSION,
        tool: Tool::current(),
        guarantee: Guarantee {
            rho,
            budget_rho: fitted.budget.rho.value(),
            epsilon,
            delta,
            privacy_unit: fitted.unit.clone(),
            neighbouring: fitted.unit.neighbouring(),
            conversion: "rho-zCDP to (epsilon, delta)-DP by the tight bound of Canonne, Kamath and Steinke 2020 (opendp ZeroConcentratedDivergence profile)".into(),
            statement: statement(epsilon, delta, rho, &fitted.unit),
            lifetime: gov.lifetime.clone(),
        },
        mechanism: MechanismInfo { name: fitted.mechanism.clone(), options },
        ledger: fitted.ledger.clone(),
        schema: SchemaInfo { sha256: sha256_bytes(schema_text.as_bytes()), text: schema_text.to_string() },
        outputs,
        noise: NoiseKind::current(),
        sampling,
        release: Some(gov.context.clone()),
        deployment: Some(Deployment::central(gov.counting, &fitted.unit, gov.lifetime.is_some())),
        implementation: Some(Implementation::current(&fitted.unit)),
        utility: fitted.accuracy.as_ref().map(Utility::of),
        signature: None,
    })
}
