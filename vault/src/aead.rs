//! XChaCha20-Poly1305 with random 192-bit nonces.
//!
//! A sealed box is `nonce (24 bytes) || ciphertext || tag (16 bytes)`. Every
//! caller binds the box to what it belongs to through the associated data;
//! see `docs/FORMAT.md` for each use.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::SecretKey;

/// Length of the random nonce at the start of a sealed box.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag at the end of a sealed box.
pub const TAG_LEN: usize = 16;

/// A sealed box could not be opened: wrong key, wrong associated data,
/// tampered or truncated bytes. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed: wrong key, or the data was tampered with or moved")]
pub struct OpenError;

/// Encrypts `plaintext` under `key`, bound to `ad`.
pub fn seal(key: &SecretKey, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        // Encryption only fails for plaintexts over 256 GiB, which no caller builds.
        .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts a box made by [`seal`] with the same key and associated data.
pub fn open(key: &SecretKey, ad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
        .map(Zeroizing::new)
        .map_err(|_| OpenError)
}

/// Derives an independent subkey of `key` for one purpose (HKDF-SHA256,
/// no salt, `info` = the purpose label).
pub fn subkey(key: &SecretKey, purpose: &[u8]) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(None, key.expose());
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(purpose, out.as_mut())
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        .expect("HKDF expand of 32 bytes cannot fail");
    SecretKey::from_bytes(*out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = SecretKey::generate();
        let sealed = seal(&k, b"ad", b"hello");
        assert_eq!(&open(&k, b"ad", &sealed).unwrap()[..], b"hello");
    }

    #[test]
    fn wrong_ad_key_or_bytes_fail() {
        let k = SecretKey::generate();
        let sealed = seal(&k, b"ad", b"hello");
        assert_eq!(open(&k, b"other", &sealed), Err(OpenError));
        assert_eq!(open(&SecretKey::generate(), b"ad", &sealed), Err(OpenError));
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert_eq!(open(&k, b"ad", &t), Err(OpenError), "byte {i}");
        }
        assert_eq!(open(&k, b"ad", &sealed[..sealed.len() - 1]), Err(OpenError));
        assert_eq!(open(&k, b"ad", &[]), Err(OpenError));
    }

    #[test]
    fn nonces_are_fresh() {
        let k = SecretKey::generate();
        assert_ne!(seal(&k, b"", b"x"), seal(&k, b"", b"x"));
    }

    #[test]
    fn subkeys_are_independent() {
        let k = SecretKey::generate();
        assert_ne!(subkey(&k, b"a"), subkey(&k, b"b"));
        assert_eq!(subkey(&k, b"a"), subkey(&k, b"a"));
    }
}
