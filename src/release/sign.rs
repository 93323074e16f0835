//! Ed25519 signing of certificates: key generation, signing, and checking.
//!
//! Keys are PKCS#8 PEM (private) and SPKI PEM (public), readable by OpenSSL. The signature
//! covers `Certificate::canonical_bytes()`. The fingerprint is `SHA256:` + the hex SHA-256
//! of the raw 32-byte public key.

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use super::{sha256_bytes, Certificate, ReleaseError, Signature};

pub const SIGNATURE_ALGORITHM: &str = "ed25519";

pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", sha256_bytes(key.as_bytes()))
}

/// Creates a key pair: `out` (private, mode 0600, created exclusively) and `out.pub`.
pub fn keygen(out: &Path) -> Result<(PathBuf, String), ReleaseError> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| ReleaseError::Format(format!("encoding the private key: {e}")))?;
    let pub_pem = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| ReleaseError::Format(format!("encoding the public key: {e}")))?;
    let pub_path = PathBuf::from(format!("{}.pub", out.display()));
    if out.exists() || pub_path.exists() {
        return Err(ReleaseError::Exists(if out.exists() {
            out.to_path_buf()
        } else {
            pub_path
        }));
    }
    write_private(out, pem.as_bytes())?;
    fs::write(&pub_path, pub_pem.as_bytes()).map_err(|e| ReleaseError::Io(pub_path.clone(), e))?;
    Ok((pub_path, fingerprint(&key.verifying_key())))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    f.write_all(bytes)
        .map_err(|e| ReleaseError::Io(path.to_path_buf(), e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    fs::write(path, bytes).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey, ReleaseError> {
    let text = fs::read_to_string(path).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        ReleaseError::Format(format!(
            "{}: not an Ed25519 private key in PKCS#8 PEM ({e})",
            path.display()
        ))
    })
}

pub fn load_public_key(path: &Path) -> Result<VerifyingKey, ReleaseError> {
    let text = fs::read_to_string(path).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        ReleaseError::Format(format!(
            "{}: not an Ed25519 public key in PEM ({e})",
            path.display()
        ))
    })
}

/// Signs the certificate in place (over its canonical bytes).
pub fn sign(cert: &mut Certificate, key: &SigningKey) {
    cert.signature = None;
    let sig = key.sign(&cert.canonical_bytes());
    cert.signature = Some(Signature {
        algorithm: SIGNATURE_ALGORITHM.into(),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        fingerprint: fingerprint(&key.verifying_key()),
        value: hex::encode(sig.to_bytes()),
    });
}

/// Checks the certificate's signature against its embedded key, and, when `expected` is
/// given, that the embedded key is that one.
pub fn check_signature(
    cert: &Certificate,
    expected: Option<&VerifyingKey>,
) -> Result<String, String> {
    let Some(sig) = &cert.signature else {
        return match expected {
            Some(_) => Err("a public key was given but the release is not signed".into()),
            None => Ok("not signed (no public key given)".into()),
        };
    };
    if sig.algorithm != SIGNATURE_ALGORITHM {
        return Err(format!("unknown signature algorithm {:?}", sig.algorithm));
    }
    let key_bytes: [u8; 32] = hex::decode(&sig.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the embedded public key is not 32 hex-encoded bytes")?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|e| format!("the embedded public key is invalid: {e}"))?;
    if fingerprint(&key) != sig.fingerprint {
        return Err("the fingerprint does not match the embedded public key".into());
    }
    if let Some(exp) = expected {
        if exp.as_bytes() != key.as_bytes() {
            return Err(format!(
                "signed by {}, not by the given public key {}",
                sig.fingerprint,
                fingerprint(exp)
            ));
        }
    }
    let sig_bytes: [u8; 64] = hex::decode(&sig.value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 hex-encoded bytes")?;
    key.verify(
        &cert.canonical_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| "the signature does not match the certificate's contents".to_string())?;
    Ok(format!("valid Ed25519 signature by {}", sig.fingerprint))
}
