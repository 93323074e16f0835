//! The standard attestation of a signed release (issue #19 item 2): `certificate.dsse.json`,
//! a DSSE envelope (Ed25519) over an in-toto Statement v1 whose subjects are the release's
//! files with their SHA-256 and whose predicate is the certificate. DSSE signs raw bytes
//! (the pre-authentication encoding of the payload type and the payload), so no JSON
//! canonicalisation is involved: any DSSE/in-toto verifier can check it with the holder's
//! public key. docs/attestation.md has the format and how to verify it with standard tools.
//!
//! Everything attested is a release file: DP outputs and public text. The statement adds
//! only their hashes (proofs/release-metadata.md).

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::sign::fingerprint;
use super::{sha256_bytes, sha256_file, Certificate, ReleaseError};

/// The release file holding the envelope.
pub const ENVELOPE_FILE: &str = "certificate.dsse.json";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type: a dpsynth certificate, format version 2 (docs/attestation.md).
pub const PREDICATE_TYPE: &str = "https://dpsynth.dev/attestation/certificate/v2";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The key's fingerprint, `SHA256:` + hex of the raw public key (as in the certificate).
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub sha256: String,
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

/// Builds and signs the envelope. `files` are the release's files as (name, SHA-256);
/// `cert` is the certificate as written to certificate.json (its hash is among `files`).
pub fn attest(
    cert: &Certificate,
    files: &[(String, String)],
    key: &SigningKey,
) -> Result<Envelope, ReleaseError> {
    let mut subject: Vec<Subject> = files
        .iter()
        .map(|(name, sha)| Subject {
            name: name.clone(),
            digest: Digest {
                sha256: sha.clone(),
            },
        })
        .collect();
    subject.sort_by(|a, b| a.name.cmp(&b.name));
    let statement = Statement {
        type_: STATEMENT_TYPE.into(),
        subject,
        predicate_type: PREDICATE_TYPE.into(),
        predicate: serde_json::to_value(cert)
            .map_err(|e| ReleaseError::Format(format!("serialising the certificate: {e}")))?,
    };
    let payload = serde_json::to_vec(&statement)
        .map_err(|e| ReleaseError::Format(format!("serialising the statement: {e}")))?;
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    Ok(Envelope {
        payload: B64.encode(&payload),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature {
            keyid: fingerprint(&key.verifying_key()),
            sig: B64.encode(sig.to_bytes()),
        }],
    })
}

impl Envelope {
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// The key the envelope must be signed by: the one given, else the certificate's own.
fn envelope_key(
    cert: &Certificate,
    expected: Option<&VerifyingKey>,
) -> Result<VerifyingKey, String> {
    if let Some(k) = expected {
        return Ok(*k);
    }
    let sig = cert.signature.as_ref().ok_or(
        "the release has an attestation but its certificate names no key; give --public-key",
    )?;
    let bytes: [u8; 32] = hex::decode(&sig.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the certificate's public key is not 32 hex-encoded bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("the certificate's public key: {e}"))
}

/// Checks `certificate.dsse.json` in `dir`: the signature over the PAE by the holder's key,
/// the statement's type and predicate type, that the predicate is the certificate on disk,
/// that every subject is a plain file name whose SHA-256 matches, and that the subjects
/// cover every file of the release (hidden files aside). A signed release written since
/// attestations exist must carry one.
pub fn check_attestation(
    dir: &Path,
    cert: &Certificate,
    expected: Option<&VerifyingKey>,
) -> Result<String, String> {
    let path = dir.join(ENVELOPE_FILE);
    if !path.exists() {
        return match (&cert.signature, &cert.release) {
            (Some(_), Some(_)) => Err(format!(
                "the release is signed but {ENVELOPE_FILE} is missing"
            )),
            (Some(_), None) => Ok(format!(
                "none (a signed certificate from before {ENVELOPE_FILE} existed)"
            )),
            (None, _) => Ok("none (the release is not signed)".into()),
        };
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let env: Envelope = serde_json::from_str(&text)
        .map_err(|e| format!("{ENVELOPE_FILE} is not a DSSE envelope: {e}"))?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "payload type {:?} is not {PAYLOAD_TYPE:?}",
            env.payload_type
        ));
    }
    let payload = B64
        .decode(env.payload.as_bytes())
        .map_err(|e| format!("the payload is not base64: {e}"))?;
    let key = envelope_key(cert, expected)?;
    let fp = fingerprint(&key);
    let pae = pae(&env.payload_type, &payload);
    let signed = env.signatures.iter().any(|s| {
        (s.keyid.is_empty() || s.keyid == fp)
            && B64
                .decode(s.sig.as_bytes())
                .ok()
                .and_then(|b| <[u8; 64]>::try_from(b).ok())
                .is_some_and(|b| {
                    key.verify(&pae, &ed25519_dalek::Signature::from_bytes(&b))
                        .is_ok()
                })
    });
    if !signed {
        return Err(format!(
            "no signature of the envelope verifies with the key {fp}"
        ));
    }
    let st: Statement = serde_json::from_slice(&payload)
        .map_err(|e| format!("the payload is not an in-toto statement: {e}"))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(format!(
            "statement type {:?} is not {STATEMENT_TYPE:?}",
            st.type_
        ));
    }
    if st.predicate_type != PREDICATE_TYPE {
        return Err(format!(
            "predicate type {:?} is not {PREDICATE_TYPE:?}",
            st.predicate_type
        ));
    }
    let on_disk: serde_json::Value = std::fs::read_to_string(dir.join(super::CERTIFICATE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or("certificate.json cannot be read as JSON")?;
    if st.predicate != on_disk {
        return Err("the statement's predicate is not the certificate in certificate.json".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for s in &st.subject {
        let n = &s.name;
        if n.is_empty() || n.contains('/') || n.contains('\\') || n.starts_with('.') {
            return Err(format!(
                "subject {n:?} is not a plain file name of the release"
            ));
        }
        if !names.insert(n.clone()) {
            return Err(format!("subject {n:?} is listed twice"));
        }
        let (sha, _) = sha256_file(&dir.join(n)).map_err(|e| format!("subject {n}: {e}"))?;
        if sha != s.digest.sha256 {
            return Err(format!(
                "subject {n}: SHA-256 {sha} differs from the statement's {}",
                s.digest.sha256
            ));
        }
    }
    let mut unattested = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.file_name().to_string_lossy().to_string();
        if name == ENVELOPE_FILE || name.starts_with('.') {
            continue;
        }
        if !names.contains(&name) {
            unattested.push(name);
        }
    }
    if !unattested.is_empty() {
        return Err(format!(
            "not covered by the attestation: {}",
            unattested.join(", ")
        ));
    }
    for o in cert.outputs.iter().map(|o| o.file.as_str()) {
        if !names.contains(o) {
            return Err(format!("the certificate's output {o} is not a subject"));
        }
    }
    Ok(format!(
        "DSSE envelope signed by {fp}; in-toto statement over {} files ({}), predicate {PREDICATE_TYPE}",
        names.len(),
        names.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

/// SHA-256 of bytes about to be written under `name` (the certificate is staged under a
/// pending name, so its subject digest comes from its bytes).
pub fn subject_of(name: &str, bytes: &[u8]) -> (String, String) {
    (name.to_string(), sha256_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
