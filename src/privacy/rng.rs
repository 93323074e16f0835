//! A cryptographically secure generator for the random choices that are part of a
//! mechanism but are not noise from opendp: which rows a unit keeps under truncation
//! (proofs/privacy-unit.md, section 1).
//!
//! It is a ChaCha20 stream seeded with 32 bytes from opendp's `fill_bytes`, the source of
//! every noise draw (OpenSSL's `RAND_priv_bytes` in a build with the default `openssl-rng`
//! feature). It is never seedable by a user: tests that need repeatable choices pass their
//! own seeded generator to the function under test.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::PrivacyError;

/// A fresh CSPRNG seeded from opendp's secure byte source.
pub fn secure_rng() -> Result<ChaCha20Rng, PrivacyError> {
    let mut seed = [0u8; 32];
    opendp::traits::samplers::fill_bytes(&mut seed)?;
    Ok(ChaCha20Rng::from_seed(seed))
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    #[test]
    fn two_generators_differ() {
        let (mut a, mut b) = (super::secure_rng().unwrap(), super::secure_rng().unwrap());
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
