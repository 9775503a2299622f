//! The crypto of the `dh-ietf1024-sha256-aes128-cbc-pkcs7` session
//! algorithm: a Diffie-Hellman exchange in the second Oakley group (RFC
//! 2409 §6.2, generator 2), HKDF-SHA256 (no salt, empty info) from the
//! shared secret to a 128-bit AES key, and AES-128-CBC with PKCS#7 padding
//! and a random IV per secret.
//!
//! This is pure: bytes in, values out, so it is unit-tested against vectors
//! derived independently (`testdata/dh-ietf1024.txt`, made by
//! `testdata/make-dh-vectors.py` with Python's integers, HMAC and the
//! `cryptography` package) and, in
//! `daemon/tests/secret_service.rs`, against libsecret itself.
//!
//! Key material lives in [`Zeroizing`] buffers. The big-integer arithmetic
//! (num-bigint) is neither constant-time nor able to wipe its own
//! temporaries; [`wipe`] clears the values we hold. Both are acceptable for
//! this use: the keys are ephemeral (one per session), and the only parties
//! that could time them or read this process's freed memory run as the same
//! user on the same session bus, where they could simply ask for the secrets
//! over a `plain` session.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use num_bigint::BigUint;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The session algorithm that sends secrets unencrypted over the bus.
pub const PLAIN: &str = "plain";
/// The session algorithm that encrypts secrets with a key agreed by DH.
pub const DH_IETF1024: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";

/// The length in bytes of the group's prime, of private keys and of the
/// shared secret fed to HKDF (left-padded with zeros, as libsecret and
/// secretstorage do).
pub const PRIME_LEN: usize = 128;
/// AES-128's key and block length.
const AES_LEN: usize = 16;

/// The 1024-bit MODP prime of RFC 2409 §6.2 (2^1024 - 2^960 - 1 + 2^64 *
/// (floor(2^894 pi) + 129093)), big-endian.
const PRIME_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381",
    "FFFFFFFFFFFFFFFF",
);

fn prime() -> BigUint {
    // A compile-time constant that the unit tests parse and check.
    BigUint::parse_bytes(PRIME_HEX.as_bytes(), 16).expect("PRIME_HEX is valid hex")
}

/// Why a session could not be set up or a secret could not be opened. No
/// message contains key material or secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The client's public key is not a number in 2..=p-2.
    #[error("the client's DH public key is out of range (it must be a big-endian number between 2 and p-2 of the 1024-bit group)")]
    BadPublicKey,
    /// The IV (the secret's `parameters`) is not 16 bytes.
    #[error("the secret's parameters must be the 16-byte AES IV, not {0} bytes")]
    BadIv(usize),
    /// The ciphertext is empty or not a whole number of blocks, or its
    /// padding is wrong (another key, or damaged).
    #[error("the secret could not be decrypted with this session's key (wrong key, or the value is not AES-128-CBC with PKCS#7 padding)")]
    Undecryptable,
}

/// Overwrites the digits of `n` in place, then leaves it zero. (num-bigint
/// has no `Zeroize`; clearing bits from the lowest up keeps the top digit
/// non-zero until last, so the buffer is never shrunk, and so never copied,
/// while it still holds secret digits.)
pub fn wipe(n: &mut BigUint) {
    let bits = n.bits();
    for bit in 0..bits {
        n.set_bit(bit, false);
    }
}

/// One side's ephemeral DH key pair.
pub struct KeyPair {
    private: Zeroizing<[u8; PRIME_LEN]>,
    public: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh key pair from the OS's random numbers.
    pub fn generate() -> KeyPair {
        let mut private = Zeroizing::new([0u8; PRIME_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut private[..]);
        KeyPair::from_private(private)
    }

    /// The key pair of a given private exponent (the vectors fix it): any
    /// 128-byte big-endian value.
    pub fn from_private(private: Zeroizing<[u8; PRIME_LEN]>) -> KeyPair {
        let p = prime();
        let mut x = BigUint::from_bytes_be(&private[..]);
        let public = BigUint::from(2u32).modpow(&x, &p).to_bytes_be();
        wipe(&mut x);
        KeyPair { private, public }
    }

    /// The public key, big-endian without leading zeros (what goes on the
    /// bus as the `OpenSession` output).
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The AES key agreed with the peer whose public key is `peer_public`
    /// (big-endian, any length; leading zeros allowed).
    pub fn agree(&self, peer_public: &[u8]) -> Result<SessionKey, CryptoError> {
        let p = prime();
        let y = BigUint::from_bytes_be(peer_public);
        // 0, 1 and p-1 (and anything >= p) would force a known shared
        // secret.
        let two = BigUint::from(2u32);
        if y < two || y > &p - &two {
            return Err(CryptoError::BadPublicKey);
        }
        let mut x = BigUint::from_bytes_be(&self.private[..]);
        let mut shared = y.modpow(&x, &p);
        wipe(&mut x);
        let bytes = Zeroizing::new(shared.to_bytes_be());
        wipe(&mut shared);
        let mut padded = Zeroizing::new([0u8; PRIME_LEN]);
        // shared < p < 2^1024, so it has at most PRIME_LEN bytes.
        padded[PRIME_LEN - bytes.len()..].copy_from_slice(&bytes);
        Ok(SessionKey::from_shared_secret(&padded[..]))
    }
}

/// The AES-128 key of one DH session.
pub struct SessionKey(Zeroizing<[u8; AES_LEN]>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

impl SessionKey {
    /// HKDF-SHA256 with no salt and empty info over the (padded) shared
    /// secret, to 16 bytes.
    pub fn from_shared_secret(shared: &[u8]) -> SessionKey {
        let hk = Hkdf::<Sha256>::new(None, shared);
        let mut key = Zeroizing::new([0u8; AES_LEN]);
        // 16 bytes is far below HKDF-SHA256's limit of 255 * 32.
        hk.expand(&[], &mut key[..])
            .expect("16 bytes is a valid HKDF-SHA256 output length");
        SessionKey(key)
    }

    /// The raw key (for the unit vectors).
    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// Encrypts `plaintext` under a fresh random IV: returns (IV, ciphertext),
    /// the Secret struct's `parameters` and `value`.
    pub fn encrypt(&self, plaintext: &[u8]) -> ([u8; AES_LEN], Vec<u8>) {
        let mut iv = [0u8; AES_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let ciphertext = self.encrypt_with_iv(&iv, plaintext);
        (iv, ciphertext)
    }

    /// Encrypts `plaintext` under `iv` (the vectors fix it).
    pub fn encrypt_with_iv(&self, iv: &[u8; AES_LEN], plaintext: &[u8]) -> Vec<u8> {
        Aes128CbcEnc::new((&*self.0).into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
    }

    /// Decrypts a secret's `value` with its `parameters` as the IV.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let iv: &[u8; AES_LEN] = iv.try_into().map_err(|_| CryptoError::BadIv(iv.len()))?;
        if ciphertext.is_empty() || ciphertext.len() % AES_LEN != 0 {
            return Err(CryptoError::Undecryptable);
        }
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = Aes128CbcDec::new((&*self.0).into(), iv.into())
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| CryptoError::Undecryptable)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn private(hex: &str) -> Zeroizing<[u8; PRIME_LEN]> {
        let v = unhex(hex);
        let mut out = Zeroizing::new([0u8; PRIME_LEN]);
        out[PRIME_LEN - v.len()..].copy_from_slice(&v);
        out
    }

    /// One vector of `testdata/dh-ietf1024.txt`: blank-line separated
    /// blocks of `name: value` lines.
    struct Vector {
        fields: std::collections::BTreeMap<String, String>,
    }

    impl Vector {
        fn get(&self, k: &str) -> &str {
            self.fields
                .get(k)
                .unwrap_or_else(|| panic!("vector lacks {k}"))
        }
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("testdata/dh-ietf1024.txt");
        let mut out = Vec::new();
        let mut cur = std::collections::BTreeMap::new();
        for line in text.lines().chain(std::iter::once("")) {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if line.is_empty() {
                if !cur.is_empty() {
                    out.push(Vector {
                        fields: std::mem::take(&mut cur),
                    });
                }
                continue;
            }
            let (k, v) = line.split_once(':').expect("name: value");
            cur.insert(k.trim().to_string(), v.trim().to_string());
        }
        out
    }

    #[test]
    fn the_prime_is_the_rfc_2409_second_oakley_group() {
        let p = prime();
        assert_eq!(p.bits(), 1024);
        assert_eq!(p.to_bytes_be().len(), PRIME_LEN);
        // The RFC's construction: the top and bottom 64 bits are all ones.
        let bytes = p.to_bytes_be();
        assert!(bytes[..8].iter().all(|b| *b == 0xff));
        assert!(bytes[PRIME_LEN - 8..].iter().all(|b| *b == 0xff));
        // p is a safe prime: a Fermat test on p and (p-1)/2 with a few bases
        // (a typo in the constant would fail these).
        let one = BigUint::from(1u32);
        let q = (&p - &one) >> 1;
        for base in [2u32, 3, 5, 7, 11] {
            let b = BigUint::from(base);
            assert_eq!(b.modpow(&(&p - &one), &p), one, "Fermat base {base} on p");
            assert_eq!(b.modpow(&(&q - &one), &q), one, "Fermat base {base} on q");
        }
    }

    #[test]
    fn vectors_match() {
        let vs = vectors();
        assert!(vs.len() >= 3, "the vector file has its vectors");
        let mut saw_short_shared = false;
        for v in &vs {
            let name = v.get("name");
            let a = KeyPair::from_private(private(v.get("a_private")));
            let b = KeyPair::from_private(private(v.get("b_private")));
            assert_eq!(hex(a.public()), v.get("a_public"), "{name}: a_public");
            assert_eq!(hex(b.public()), v.get("b_public"), "{name}: b_public");
            let ka = a.agree(b.public()).expect("valid public key");
            let kb = b.agree(a.public()).expect("valid public key");
            assert_eq!(hex(ka.bytes()), v.get("aes_key"), "{name}: aes_key");
            assert_eq!(ka.bytes(), kb.bytes(), "{name}: both sides agree");
            if v.get("shared").starts_with("00") {
                saw_short_shared = true;
            }
            let iv: [u8; 16] = unhex(v.get("iv")).try_into().expect("16-byte iv");
            let plaintext = unhex(v.get("plaintext"));
            let ct = ka.encrypt_with_iv(&iv, &plaintext);
            assert_eq!(hex(&ct), v.get("ciphertext"), "{name}: ciphertext");
            let back = kb.decrypt(&iv, &ct).expect("decrypts");
            assert_eq!(&back[..], &plaintext[..], "{name}: round trip");
        }
        assert!(
            saw_short_shared,
            "one vector's shared secret has a leading zero byte (tests the padding)"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn out_of_range_public_keys_are_refused() {
        let kp = KeyPair::generate();
        let p = prime();
        let one = BigUint::from(1u32);
        for bad in [
            Vec::new(),
            vec![0],
            vec![1],
            vec![0, 0, 1],
            (&p - &one).to_bytes_be(),
            p.to_bytes_be(),
            (&p + &one).to_bytes_be(),
            vec![0xff; 200],
        ] {
            assert_eq!(
                kp.agree(&bad).unwrap_err(),
                CryptoError::BadPublicKey,
                "{bad:?}"
            );
        }
        // 2 and p-2 are the extremes that are accepted.
        assert!(kp.agree(&[2]).is_ok());
        assert!(kp.agree(&(&p - BigUint::from(2u32)).to_bytes_be()).is_ok());
    }

    #[test]
    fn fresh_key_pairs_agree_and_round_trip() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_ne!(a.public(), b.public());
        let ka = a.agree(b.public()).expect("agree");
        let kb = b.agree(a.public()).expect("agree");
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (iv, ct) = ka.encrypt(&msg);
            assert_eq!(ct.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
            assert_eq!(&kb.decrypt(&iv, &ct).expect("decrypts")[..], &msg[..]);
        }
        let (iv1, _) = ka.encrypt(b"x");
        let (iv2, _) = ka.encrypt(b"x");
        assert_ne!(iv1, iv2, "a random IV per secret");
    }

    #[test]
    fn bad_ciphertexts_are_refused_without_panicking() {
        let a = KeyPair::generate();
        let k = a.agree(KeyPair::generate().public()).expect("agree");
        let other = a.agree(KeyPair::generate().public()).expect("agree");
        let (iv, ct) = k.encrypt(b"secret");
        assert_eq!(
            k.decrypt(&iv[..15], &ct).unwrap_err(),
            CryptoError::BadIv(15)
        );
        assert_eq!(k.decrypt(&[], &ct).unwrap_err(), CryptoError::BadIv(0));
        assert_eq!(k.decrypt(&iv, &[]).unwrap_err(), CryptoError::Undecryptable);
        assert_eq!(
            k.decrypt(&iv, &ct[..ct.len() - 1]).unwrap_err(),
            CryptoError::Undecryptable
        );
        // Another key almost always leaves invalid padding; when it happens
        // to leave valid padding the plaintext differs.
        match other.decrypt(&iv, &ct) {
            Err(e) => assert_eq!(e, CryptoError::Undecryptable),
            Ok(p) => assert_ne!(&p[..], b"secret"),
        }
    }

    #[test]
    fn wipe_leaves_zero() {
        let mut n = BigUint::from_bytes_be(&[0xab; 128]);
        wipe(&mut n);
        assert_eq!(n, BigUint::from(0u32));
    }
}
