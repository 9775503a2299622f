//! SSH keys as coffer stores them: import, generate, describe, sign.
//!
//! These are pure functions (no I/O, no async) that the daemon calls when
//! an item of kind SSH key is added, generated or used by the agent. An
//! item keeps three things, all produced here as a [`KeyMaterial`]:
//!
//! - the private key as unencrypted OpenSSH text (the vault encrypts the
//!   item; a second passphrase would only be something more to forget);
//! - the public key line (`ssh-ed25519 AAAA… comment`), a plain field;
//! - the SHA256 fingerprint (`SHA256:…`), a plain field.
//!
//! Private key material lives in `ssh-key` types, which zeroize on drop,
//! and in [`Zeroizing`] strings; it never appears in an error message.
//!
//! Signing honours the agent's flags: for RSA keys `rsa-sha2-256` or
//! `rsa-sha2-512`. A request for the legacy SHA-1 `ssh-rsa` signature is
//! refused (OpenSSH itself has disabled it by default since 8.8).

use std::fmt;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use signature::{SignatureEncoding, Signer};
use ssh_key::private::{EcdsaKeypair, KeypairData, RsaKeypair};
use ssh_key::public::KeyData;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, Kdf, LineEnding, PrivateKey, PublicKey, Signature};
use zeroize::Zeroizing;

/// The agent protocol's flag asking for an `rsa-sha2-256` signature.
pub const SSH_AGENT_RSA_SHA2_256: u32 = 0x02;
/// The agent protocol's flag asking for an `rsa-sha2-512` signature.
pub const SSH_AGENT_RSA_SHA2_512: u32 = 0x04;

/// The RSA size `coffer ssh generate --type rsa` uses.
pub const DEFAULT_RSA_BITS: usize = 3072;
/// The smallest RSA key coffer makes or accepts (as OpenSSH and `ssh-key`).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA key coffer makes (larger ones take minutes to generate
/// and buy nothing).
pub const MAX_RSA_BITS: usize = 16384;
/// The most bcrypt rounds an encrypted key may ask for before we derive:
/// `ssh-keygen` uses 16 (`-a` raises it; 100 is a common choice). A file
/// asking for millions would pin a core for hours.
pub const MAX_BCRYPT_ROUNDS: u32 = 4096;

/// What went wrong with a key; the message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is passphrase-protected and no passphrase was given.
    #[error("the key is encrypted: give its passphrase")]
    PassphraseNeeded,
    /// The passphrase does not decrypt the key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The text is not a private key in a format we read.
    #[error("not an OpenSSH private key (PEM/PKCS#8? convert with ssh-keygen -p -f FILE)")]
    NotOpenssh,
    /// The text is a public key.
    #[error("this is a public key; give the private key file (the one without .pub)")]
    PublicKeyGiven,
    /// A PuTTY key file.
    #[error(
        "this is a PuTTY key; convert it with: puttygen FILE -O private-openssh-new -o NEW_FILE"
    )]
    Putty,
    /// A legacy PEM file encrypted with a passphrase, which we do not decrypt.
    #[error("this PEM key is encrypted in the legacy format; convert it to an OpenSSH key with ssh-keygen -p -f FILE")]
    EncryptedPem,
    /// A kind of key we do not serve; the message names it and the way out.
    #[error("{0}")]
    Unsupported(String),
    /// The key file is damaged or inconsistent.
    #[error(
        "the private key is damaged or inconsistent ({0}); check that the whole file was copied"
    )]
    Malformed(String),
    /// An RSA size out of bounds.
    #[error("an RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {0}")]
    RsaBits(usize),
    /// An unknown `--type`.
    #[error("unknown key type {0:?}: use ed25519, rsa or ecdsa")]
    UnknownType(String),
    /// A legacy SHA-1 `ssh-rsa` signature was asked for.
    #[error("refusing a SHA-1 ssh-rsa signature: the client must ask for rsa-sha2-256 or rsa-sha2-512 (OpenSSH 7.2 or later does)")]
    Sha1Refused,
    /// The key cannot make the signature asked for.
    #[error("cannot sign with this key: {0}")]
    Signing(String),
    /// Generating a key failed (the OS random source failed, say).
    #[error("cannot generate the key: {0}")]
    Generate(String),
}

/// The kind of key `coffer ssh generate` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519, the default: small, fast, what OpenSSH recommends.
    Ed25519,
    /// RSA of the given size in bits (PKCS#1 v1.5 signatures with SHA-2).
    Rsa {
        /// The modulus size.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
}

impl KeyKind {
    /// Parses `--type` (`ed25519`, `rsa`, `ecdsa`, also `ecdsa-p384`) and an
    /// optional `--bits` (RSA: 2048 to 16384, default 3072; ECDSA: 256 or
    /// 384; Ed25519: 256 or none).
    pub fn parse(kind: &str, bits: Option<usize>) -> Result<Self, KeyError> {
        match (kind.to_ascii_lowercase().as_str(), bits) {
            ("ed25519", None | Some(256)) => Ok(Self::Ed25519),
            ("rsa", None) => Ok(Self::Rsa {
                bits: DEFAULT_RSA_BITS,
            }),
            ("rsa", Some(b)) if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&b) => {
                Ok(Self::Rsa { bits: b })
            }
            ("rsa", Some(b)) => Err(KeyError::RsaBits(b)),
            ("ecdsa" | "ecdsa-p256", None | Some(256)) => Ok(Self::EcdsaP256),
            ("ecdsa" | "ecdsa-p384", Some(384)) | ("ecdsa-p384", None) => Ok(Self::EcdsaP384),
            ("ed25519" | "ecdsa" | "ecdsa-p256" | "ecdsa-p384", Some(b)) => Err(KeyError::Unsupported(
                format!("{kind} keys have a fixed size; {b} bits is not one of them (ed25519: 256, ecdsa: 256 or 384)"),
            )),
            _ => Err(KeyError::UnknownType(kind.to_string())),
        }
    }
}

/// What an SSH-key item stores, made by [`import`] and [`generate`].
pub struct KeyMaterial {
    /// The private key as unencrypted OpenSSH text
    /// (`-----BEGIN OPENSSH PRIVATE KEY-----`…), zeroized on drop.
    pub private_openssh: Zeroizing<String>,
    /// The public key line, `ALGORITHM BASE64 COMMENT` (no comment part
    /// when the comment is empty), as `authorized_keys` takes it.
    pub public_line: String,
    /// The SHA256 fingerprint, `SHA256:…`, as `ssh-keygen -l` shows it.
    pub fingerprint: String,
    /// The key's algorithm name, e.g. `ssh-ed25519`, `ssh-rsa`,
    /// `ecdsa-sha2-nistp256`.
    pub algorithm: String,
    /// The comment stored in the key.
    pub comment: String,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("private_openssh", &"<redacted>")
            .field("public_line", &self.public_line)
            .field("fingerprint", &self.fingerprint)
            .field("algorithm", &self.algorithm)
            .field("comment", &self.comment)
            .finish()
    }
}

/// Imports a private key from its text: an OpenSSH private key,
/// unencrypted or passphrase-protected, or an unencrypted RSA key in PEM
/// (PKCS#1, `BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`).
///
/// `comment`, when given, replaces the key's own comment (the daemon may
/// use the item's title). A passphrase given for an unencrypted key is
/// ignored.
pub fn import(
    text: &str,
    passphrase: Option<&[u8]>,
    comment: Option<&str>,
) -> Result<KeyMaterial, KeyError> {
    let mut key = parse_private(text, passphrase)?;
    if let Some(c) = comment {
        key.set_comment(c);
    }
    check_servable(&key)?;
    describe(&key)
}

/// Generates a new key of `kind` from the OS random source, with `comment`.
pub fn generate(kind: KeyKind, comment: &str) -> Result<KeyMaterial, KeyError> {
    let gen_err = |e: ssh_key::Error| KeyError::Generate(e.to_string());
    let data = match kind {
        KeyKind::Ed25519 => {
            KeypairData::Ed25519(ssh_key::private::Ed25519Keypair::random(&mut OsRng))
        }
        KeyKind::Rsa { bits } => {
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(KeyError::RsaBits(bits));
            }
            KeypairData::Rsa(RsaKeypair::random(&mut OsRng, bits).map_err(gen_err)?)
        }
        KeyKind::EcdsaP256 => KeypairData::Ecdsa(
            EcdsaKeypair::random(&mut OsRng, EcdsaCurve::NistP256).map_err(gen_err)?,
        ),
        KeyKind::EcdsaP384 => KeypairData::Ecdsa(
            EcdsaKeypair::random(&mut OsRng, EcdsaCurve::NistP384).map_err(gen_err)?,
        ),
    };
    let key = PrivateKey::new(data, comment).map_err(gen_err)?;
    describe(&key)
}

/// The public key, fingerprint and algorithm of `key`, plus its private
/// text.
fn describe(key: &PrivateKey) -> Result<KeyMaterial, KeyError> {
    let bad = |e: ssh_key::Error| KeyError::Malformed(e.to_string());
    let private_openssh = key.to_openssh(LineEnding::LF).map_err(bad)?;
    let public = key.public_key();
    Ok(KeyMaterial {
        private_openssh,
        public_line: public.to_openssh().map_err(bad)?,
        fingerprint: fingerprint(public.key_data()),
        algorithm: public.algorithm().as_str().to_string(),
        comment: key.comment().to_string(),
    })
}

/// The SHA256 fingerprint of a public key, `SHA256:…` (unpadded base64), as
/// `ssh-keygen -l` and `ssh-add -l` show it.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses a public key line (`ALGORITHM BASE64 [COMMENT]`), as stored in
/// an item's public-key field: the daemon lists identities from it without
/// touching the private key.
pub fn parse_public_line(line: &str) -> Result<PublicKey, KeyError> {
    PublicKey::from_openssh(line.trim()).map_err(|e| {
        KeyError::Malformed(format!(
            "not an OpenSSH public key line (ssh-ed25519 AAAA… comment): {e}"
        ))
    })
}

/// Refuses keys the agent cannot sign with (security keys, DSA, unknown
/// algorithms), with a message that says why.
fn check_servable(key: &PrivateKey) -> Result<(), KeyError> {
    match key.key_data() {
        KeypairData::Ed25519(_) => Ok(()),
        // Checks the components now, so a bad key fails at import, not at
        // its first signature.
        KeypairData::Rsa(pair) => rsa_private(pair).map(drop),
        KeypairData::Ecdsa(k) => match k.curve() {
            EcdsaCurve::NistP256 | EcdsaCurve::NistP384 => Ok(()),
            EcdsaCurve::NistP521 => Err(KeyError::Unsupported(
                "ECDSA P-521 keys are not supported; make an ed25519 key with coffer ssh generate"
                    .into(),
            )),
        },
        KeypairData::Dsa(_) => Err(KeyError::Unsupported(
            "DSA keys are not supported (OpenSSH dropped them); make an ed25519 key with coffer ssh generate".into(),
        )),
        KeypairData::SkEcdsaSha2NistP256(_) | KeypairData::SkEd25519(_) => Err(KeyError::Unsupported(
            "this is a hardware security key (FIDO, sk-…): its private half lives on the token, so coffer cannot hold it; keep using it with ssh-agent".into(),
        )),
        _ => Err(KeyError::Unsupported(format!(
            "{} keys are not supported; coffer serves ed25519, rsa and ecdsa (P-256, P-384) keys",
            key.algorithm().as_str()
        ))),
    }
}

/// Reads the private key in `text`, decrypting it with `passphrase` when it
/// is encrypted.
fn parse_private(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return parse_openssh(trimmed, passphrase);
    }
    if trimmed.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        if trimmed.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::EncryptedPem);
        }
        let rsa = rsa::RsaPrivateKey::from_pkcs1_pem(trimmed.trim_end())
            .map_err(|e| KeyError::Malformed(format!("PKCS#1 RSA key: {e}")))?;
        return rsa_into_key(&rsa);
    }
    if trimmed.starts_with("-----BEGIN PRIVATE KEY-----") {
        return match rsa::RsaPrivateKey::from_pkcs8_pem(trimmed.trim_end()) {
            Ok(rsa) => rsa_into_key(&rsa),
            // Only RSA is read from PKCS#8; any other algorithm (or a damaged
            // file) gets the way to convert it.
            Err(_) => Err(KeyError::NotOpenssh),
        };
    }
    if trimmed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(KeyError::EncryptedPem);
    }
    if trimmed.starts_with("PuTTY-User-Key-File-") {
        return Err(KeyError::Putty);
    }
    if looks_like_public_line(trimmed) {
        return Err(KeyError::PublicKeyGiven);
    }
    Err(KeyError::NotOpenssh)
}

fn looks_like_public_line(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    first.starts_with("ssh-")
        || first.starts_with("ecdsa-sha2-")
        || first.starts_with("sk-")
        || text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----")
}

fn parse_openssh(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
    let key = PrivateKey::from_openssh(text.trim_end()).map_err(|e| match e {
        ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
            KeyError::Unsupported(format!(
                "this key's algorithm or cipher is not supported ({e}); coffer serves ed25519, rsa and ecdsa keys"
            ))
        }
        other => KeyError::Malformed(other.to_string()),
    })?;
    if !key.is_encrypted() {
        return Ok(key);
    }
    let Some(passphrase) = passphrase else {
        return Err(KeyError::PassphraseNeeded);
    };
    if let Kdf::Bcrypt { rounds, .. } = key.kdf() {
        if *rounds > MAX_BCRYPT_ROUNDS {
            return Err(KeyError::Unsupported(format!(
                "the key asks for {rounds} bcrypt rounds (more than {MAX_BCRYPT_ROUNDS}); re-encrypt it with ssh-keygen -p -a 100 -f FILE"
            )));
        }
    }
    key.decrypt(passphrase).map_err(|e| match e {
        // A wrong passphrase shows as mismatching check integers (or a bad
        // authentication tag with an AEAD cipher): both are `Crypto`.
        ssh_key::Error::Crypto => KeyError::WrongPassphrase,
        ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
            KeyError::Unsupported(format!(
                "this key's cipher or key derivation is not supported ({e}); re-encrypt it with ssh-keygen -p -f FILE"
            ))
        }
        // Anything else after decryption: almost always a wrong passphrase
        // that happened to pass the check (1 in 2^32), else a damaged file.
        other => KeyError::Malformed(format!("after decryption: {other}; is the passphrase right?")),
    })
}

fn rsa_into_key(rsa: &rsa::RsaPrivateKey) -> Result<PrivateKey, KeyError> {
    use rsa::traits::PublicKeyParts;
    let bits = rsa.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(KeyError::Unsupported(format!(
            "this RSA key has {bits} bits; OpenSSH refuses keys under {MIN_RSA_BITS}: make a new key with coffer ssh generate"
        )));
    }
    let pair = RsaKeypair::try_from(rsa).map_err(|e| KeyError::Malformed(e.to_string()))?;
    PrivateKey::new(KeypairData::Rsa(pair), "").map_err(|e| KeyError::Malformed(e.to_string()))
}

/// The `rsa` crate's private key for an OpenSSH RSA key pair.
///
/// Built here rather than with `ssh-key` 0.6.7's own conversion, which
/// passes the first prime twice (`[p, p]`), so that `rsa` 0.9.10 rejects
/// every key (and `ssh-key`'s own RSA `Signer` fails with "cryptographic
/// error"). The result zeroizes itself on drop.
fn rsa_private(pair: &RsaKeypair) -> Result<rsa::RsaPrivateKey, KeyError> {
    let int = |m: &ssh_key::Mpint| {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or_else(|| KeyError::Malformed("an RSA key component is negative".into()))
    };
    let key = rsa::RsaPrivateKey::from_components(
        int(&pair.public.n)?,
        int(&pair.public.e)?,
        int(&pair.private.d)?,
        vec![int(&pair.private.p)?, int(&pair.private.q)?],
    )
    .map_err(|e| KeyError::Malformed(format!("RSA key: {e}")))?;
    Ok(key)
}

/// A private key loaded from an item's OpenSSH text, ready to sign.
///
/// The daemon may keep one of these per key while unlocked (parsing RSA
/// keys costs a little) and must drop them at lock; the key material is
/// zeroized on drop.
pub struct SigningKey {
    key: PrivateKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field(
                "fingerprint",
                &fingerprint(self.key.public_key().key_data()),
            )
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads an unencrypted OpenSSH private key, as stored by [`import`]
    /// or [`generate`].
    pub fn from_openssh(private_openssh: &str) -> Result<Self, KeyError> {
        let key = parse_openssh(private_openssh.trim_start(), None)?;
        check_servable(&key)?;
        Ok(Self { key })
    }

    /// Wraps a key that a client gave the agent (`ssh-add`), after the
    /// same checks as [`import`].
    pub fn from_keypair(data: KeypairData, comment: &str) -> Result<Self, KeyError> {
        let key = PrivateKey::new(data, comment).map_err(|e| KeyError::Malformed(e.to_string()))?;
        check_servable(&key)?;
        Ok(Self { key })
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// The public key's wire form, which agent requests name keys by.
    pub fn key_data(&self) -> &KeyData {
        self.key.public_key().key_data()
    }

    /// What an item stores for this key (see [`KeyMaterial`]).
    pub fn material(&self) -> Result<KeyMaterial, KeyError> {
        describe(&self.key)
    }

    /// Signs `data` as the agent protocol asks: `flags` selects
    /// `rsa-sha2-256` ([`SSH_AGENT_RSA_SHA2_256`]) or `rsa-sha2-512`
    /// ([`SSH_AGENT_RSA_SHA2_512`]) for RSA keys (256 wins when both are
    /// set, as in OpenSSH's agent; neither means SHA-1, refused). Other
    /// keys ignore the flags: Ed25519 signs the data, ECDSA hashes it with
    /// the curve's hash (SHA-256 for P-256, SHA-384 for P-384).
    pub fn sign(&self, data: &[u8], flags: u32) -> Result<Signature, KeyError> {
        let fail = |e: signature::Error| KeyError::Signing(e.to_string());
        match self.key.key_data() {
            KeypairData::Rsa(pair) => {
                let (hash, bytes) = if flags & SSH_AGENT_RSA_SHA2_256 != 0 {
                    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_private(pair)?);
                    (
                        HashAlg::Sha256,
                        signer.try_sign(data).map_err(fail)?.to_vec(),
                    )
                } else if flags & SSH_AGENT_RSA_SHA2_512 != 0 {
                    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(rsa_private(pair)?);
                    (
                        HashAlg::Sha512,
                        signer.try_sign(data).map_err(fail)?.to_vec(),
                    )
                } else {
                    return Err(KeyError::Sha1Refused);
                };
                Signature::new(Algorithm::Rsa { hash: Some(hash) }, bytes)
                    .map_err(|e| KeyError::Signing(e.to_string()))
            }
            KeypairData::Ed25519(_) | KeypairData::Ecdsa(_) => {
                self.key.try_sign(data).map_err(fail)
            }
            _ => Err(KeyError::Signing(format!(
                "{} keys cannot sign here",
                self.key.algorithm().as_str()
            ))),
        }
    }
}

/// Signs `data` with the OpenSSH private key text of an item, honouring
/// the agent's `flags` (see [`SigningKey::sign`]).
pub fn sign(private_openssh: &str, data: &[u8], flags: u32) -> Result<Signature, KeyError> {
    SigningKey::from_openssh(private_openssh)?.sign(data, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signature::Verifier;

    fn verify(public_line: &str, data: &[u8], sig: &Signature) {
        let public = parse_public_line(public_line).unwrap();
        public.key_data().verify(data, sig).unwrap();
    }

    #[test]
    fn ed25519_round_trip_sign_and_verify() {
        let m = generate(KeyKind::Ed25519, "alice@laptop").unwrap();
        assert!(m.public_line.starts_with("ssh-ed25519 AAAA"));
        assert!(m.public_line.ends_with(" alice@laptop"));
        assert!(m.fingerprint.starts_with("SHA256:"));
        assert_eq!(m.algorithm, "ssh-ed25519");
        assert!(m
            .private_openssh
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let sig = sign(&m.private_openssh, b"hello", 0).unwrap();
        assert_eq!(sig.algorithm(), Algorithm::Ed25519);
        verify(&m.public_line, b"hello", &sig);
        // The stored text imports back to the same key.
        let again = import(&m.private_openssh, None, None).unwrap();
        assert_eq!(again.public_line, m.public_line);
        assert_eq!(again.fingerprint, m.fingerprint);
    }

    #[test]
    fn ecdsa_keys_sign_with_their_curve() {
        for (kind, alg) in [
            (KeyKind::EcdsaP256, "ecdsa-sha2-nistp256"),
            (KeyKind::EcdsaP384, "ecdsa-sha2-nistp384"),
        ] {
            let m = generate(kind, "c").unwrap();
            assert_eq!(m.algorithm, alg);
            let sig = sign(&m.private_openssh, b"data", 0).unwrap();
            assert_eq!(sig.algorithm().as_str(), alg);
            verify(&m.public_line, b"data", &sig);
        }
    }

    #[test]
    fn rsa_honours_the_flags_and_refuses_sha1() {
        let m = generate(KeyKind::Rsa { bits: 2048 }, "r").unwrap();
        assert_eq!(m.algorithm, "ssh-rsa");
        let key = SigningKey::from_openssh(&m.private_openssh).unwrap();
        let s256 = key.sign(b"x", SSH_AGENT_RSA_SHA2_256).unwrap();
        assert_eq!(s256.algorithm().as_str(), "rsa-sha2-256");
        verify(&m.public_line, b"x", &s256);
        let s512 = key.sign(b"x", SSH_AGENT_RSA_SHA2_512).unwrap();
        assert_eq!(s512.algorithm().as_str(), "rsa-sha2-512");
        verify(&m.public_line, b"x", &s512);
        let both = key
            .sign(b"x", SSH_AGENT_RSA_SHA2_256 | SSH_AGENT_RSA_SHA2_512)
            .unwrap();
        assert_eq!(both.algorithm().as_str(), "rsa-sha2-256");
        assert!(matches!(key.sign(b"x", 0), Err(KeyError::Sha1Refused)));
        // A signature over other data does not verify.
        let public = parse_public_line(&m.public_line).unwrap();
        assert!(public.key_data().verify(b"y", &s256).is_err());
    }

    #[test]
    fn kinds_parse_with_sizes() {
        assert_eq!(KeyKind::parse("ed25519", None).unwrap(), KeyKind::Ed25519);
        assert_eq!(
            KeyKind::parse("RSA", None).unwrap(),
            KeyKind::Rsa {
                bits: DEFAULT_RSA_BITS
            }
        );
        assert_eq!(
            KeyKind::parse("rsa", Some(4096)).unwrap(),
            KeyKind::Rsa { bits: 4096 }
        );
        assert!(matches!(
            KeyKind::parse("rsa", Some(1024)),
            Err(KeyError::RsaBits(1024))
        ));
        assert_eq!(KeyKind::parse("ecdsa", None).unwrap(), KeyKind::EcdsaP256);
        assert_eq!(
            KeyKind::parse("ecdsa", Some(384)).unwrap(),
            KeyKind::EcdsaP384
        );
        assert!(matches!(
            KeyKind::parse("ecdsa", Some(521)),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            KeyKind::parse("dsa", None),
            Err(KeyError::UnknownType(_))
        ));
        assert!(matches!(
            generate(KeyKind::Rsa { bits: 512 }, ""),
            Err(KeyError::RsaBits(512))
        ));
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let m = generate(KeyKind::Ed25519, "enc").unwrap();
        let key = PrivateKey::from_openssh(m.private_openssh.as_bytes()).unwrap();
        let encrypted = key.encrypt(&mut OsRng, "correct horse").unwrap();
        let text = encrypted.to_openssh(LineEnding::LF).unwrap();
        assert!(matches!(
            import(&text, None, None),
            Err(KeyError::PassphraseNeeded)
        ));
        let wrong = import(&text, Some(b"wrong"), None).unwrap_err();
        assert!(matches!(wrong, KeyError::WrongPassphrase), "{wrong}");
        assert_eq!(wrong.to_string(), "wrong passphrase");
        let ok = import(&text, Some(b"correct horse"), Some("renamed")).unwrap();
        assert_eq!(ok.fingerprint, m.fingerprint);
        assert_eq!(ok.comment, "renamed");
        // What the item stores is unencrypted (the vault encrypts it).
        assert!(SigningKey::from_openssh(&ok.private_openssh).is_ok());
    }

    #[test]
    fn pem_and_pkcs8_rsa_are_accepted() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let m = generate(KeyKind::Rsa { bits: 2048 }, "").unwrap();
        let key = PrivateKey::from_openssh(m.private_openssh.as_bytes()).unwrap();
        let rsa = rsa_private(key.key_data().rsa().unwrap()).unwrap();
        let pem = rsa.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let p8 = rsa.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        for text in [pem.as_str(), p8.as_str()] {
            let got = import(text, None, Some("from pem")).unwrap();
            assert_eq!(got.fingerprint, m.fingerprint);
            assert!(got.public_line.ends_with(" from pem"));
        }
    }

    #[test]
    fn other_inputs_get_a_clear_error() {
        let m = generate(KeyKind::Ed25519, "c").unwrap();
        assert!(matches!(
            import(&m.public_line, None, None),
            Err(KeyError::PublicKeyGiven)
        ));
        assert!(matches!(
            import("hello world", None, None),
            Err(KeyError::NotOpenssh)
        ));
        assert!(matches!(import("", None, None), Err(KeyError::NotOpenssh)));
        assert!(matches!(
            import("PuTTY-User-Key-File-3: ssh-ed25519\n", None, None),
            Err(KeyError::Putty)
        ));
        assert!(matches!(
            import(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                None,
                None
            ),
            Err(KeyError::EncryptedPem)
        ));
        assert!(matches!(
            import(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                None,
                None
            ),
            Err(KeyError::EncryptedPem)
        ));
        // A truncated OpenSSH key is reported as damaged, not as a panic.
        let cut = &m.private_openssh[..m.private_openssh.len() / 2];
        let e = import(cut, None, None).unwrap_err();
        assert!(matches!(e, KeyError::Malformed(_)), "{e}");
        assert_eq!(
            KeyError::NotOpenssh.to_string(),
            "not an OpenSSH private key (PEM/PKCS#8? convert with ssh-keygen -p -f FILE)"
        );
        assert_eq!(
            KeyError::PassphraseNeeded.to_string(),
            "the key is encrypted: give its passphrase"
        );
    }

    #[test]
    fn debug_output_hides_the_private_key() {
        let m = generate(KeyKind::Ed25519, "c").unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("PRIVATE KEY"));
        assert!(shown.contains(&m.fingerprint));
        let k = SigningKey::from_openssh(&m.private_openssh).unwrap();
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }
}
