//! Unlock envelopes: how a password change made on one device reaches the
//! other signed-in devices without anything in the sync folder that helps
//! someone guess the password.
//!
//! Every signed-in device has an X25519 *unlock key pair*: the secret half
//! stays in its `device.json`, the public half is published in the sync
//! folder under the vault key's MAC ([`crate::unlock_key`]). A password
//! change puts, for each such device, one envelope in the new header:
//!
//! ```text
//! shared = X25519(ephemeral secret, device public key)
//! key    = HKDF-SHA256(salt = none, IKM = stretched new password || shared, info = AD)
//! sealed = XChaCha20-Poly1305(key, AD, Account Key text)
//! AD     = "coffer unlock envelope v1" || uuid16(account_id) || u64be(epoch)
//!          || lp(salt) || lp(device_id) || ephemeral public || device public
//! ```
//!
//! The device opens it with the new password (one Argon2id run, as any
//! unlock) and its own secret half, and gets the Account Key: it unlocks
//! with the new password alone. The folder alone gives nothing to test a
//! password guess against (the X25519 secret is missing); the device's disk
//! plus the folder gives what the device's disk gave before (its sealed
//! Account Key is already a password-guessing target, `docs/SECURITY.md`).

use hkdf::Hkdf;
use rand::rngs::OsRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::account_key::AccountKey;
use crate::aead;
use crate::secret::SecretKey;

const LABEL: &[u8] = b"coffer unlock envelope v1";

/// The public half of a device's unlock key pair (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnlockPublic(pub [u8; 32]);

/// The secret half of a device's unlock key pair; zeroized when dropped.
#[derive(Clone)]
pub struct UnlockSecret(StaticSecret);

impl std::fmt::Debug for UnlockSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockSecret(…)")
    }
}

impl UnlockSecret {
    /// A new random key pair's secret half.
    pub fn generate() -> UnlockSecret {
        UnlockSecret(StaticSecret::random_from_rng(OsRng))
    }

    /// From its 32 bytes (as kept in `device.json`).
    pub fn from_bytes(bytes: [u8; 32]) -> UnlockSecret {
        UnlockSecret(StaticSecret::from(bytes))
    }

    /// Its 32 bytes, to keep in `device.json`.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> UnlockPublic {
        UnlockPublic(PublicKey::from(&self.0).to_bytes())
    }
}

/// One device's envelope in a header: the Account Key for `device_id`,
/// openable with the header's password and that device's unlock secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The device it is for.
    pub device_id: String,
    /// The device's public unlock key it was sealed to.
    pub recipient: UnlockPublic,
    /// The ephemeral public key of the sealing.
    pub ephemeral: [u8; 32],
    /// `nonce || ciphertext || tag`.
    pub sealed: Vec<u8>,
}

/// What an envelope is bound to: the header's account, epoch and salt (the
/// salt names one wrapping under one password, so a hint change that keeps
/// the wrapping keeps its envelopes).
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeContext<'a> {
    /// The account.
    pub account_id: uuid::Uuid,
    /// The epoch.
    pub epoch: u64,
    /// The header's Argon2id salt.
    pub salt: &'a [u8],
}

impl EnvelopeContext<'_> {
    fn ad(&self, device_id: &str, ephemeral: &[u8; 32], recipient: &UnlockPublic) -> Vec<u8> {
        let mut ad = Vec::with_capacity(LABEL.len() + 16 + 16 + 8 + device_id.len() + 64);
        ad.extend_from_slice(LABEL);
        ad.extend_from_slice(self.account_id.as_bytes());
        ad.extend_from_slice(&self.epoch.to_be_bytes());
        ad.extend_from_slice(&(self.salt.len() as u64).to_be_bytes());
        ad.extend_from_slice(self.salt);
        ad.extend_from_slice(&(device_id.len() as u64).to_be_bytes());
        ad.extend_from_slice(device_id.as_bytes());
        ad.extend_from_slice(ephemeral);
        ad.extend_from_slice(&recipient.0);
        ad
    }

    fn key(stretched: &SecretKey, shared: &[u8; 32], ad: &[u8]) -> SecretKey {
        let mut ikm = Zeroizing::new([0u8; 64]);
        ikm[..32].copy_from_slice(stretched.expose());
        ikm[32..].copy_from_slice(shared);
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(None, &ikm[..])
            .expand(ad, &mut out)
            // 32 bytes is far below HKDF-SHA256's limit.
            .expect("HKDF-SHA256 expands to 32 bytes");
        SecretKey::from_bytes(out)
    }

    /// Seals `ak` for `device_id`, whose public unlock key is `recipient`,
    /// under `stretched` (the new password stretched with the new header's
    /// salt and parameters). `None` when `recipient` is a degenerate point
    /// (no shared secret: such a key was forged, and gets no envelope).
    pub fn seal(
        &self,
        device_id: &str,
        recipient: UnlockPublic,
        stretched: &SecretKey,
        ak: &AccountKey,
    ) -> Option<Envelope> {
        let eph = StaticSecret::random_from_rng(OsRng);
        let ephemeral = PublicKey::from(&eph).to_bytes();
        let shared = eph.diffie_hellman(&PublicKey::from(recipient.0));
        if !shared.was_contributory() {
            return None;
        }
        let ad = self.ad(device_id, &ephemeral, &recipient);
        let key = Self::key(stretched, shared.as_bytes(), &ad);
        let text = ak.to_text();
        Some(Envelope {
            device_id: device_id.to_owned(),
            recipient,
            ephemeral,
            sealed: aead::seal(&key, &ad, text.expose().as_bytes()),
        })
    }

    /// Opens `env` with this device's unlock secret and the stretched
    /// password; `None` when it does not open (a wrong password, another
    /// device's envelope, another header).
    pub fn open(
        &self,
        env: &Envelope,
        secret: &UnlockSecret,
        stretched: &SecretKey,
    ) -> Option<AccountKey> {
        if secret.public() != env.recipient {
            return None;
        }
        let shared = secret.0.diffie_hellman(&PublicKey::from(env.ephemeral));
        if !shared.was_contributory() {
            return None;
        }
        let ad = self.ad(&env.device_id, &env.ephemeral, &env.recipient);
        let key = Self::key(stretched, shared.as_bytes(), &ad);
        let plain = aead::open(&key, &ad, &env.sealed).ok()?;
        AccountKey::parse(std::str::from_utf8(&plain).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_opens_only_with_its_password_secret_and_context() {
        let ak = AccountKey::generate();
        let stretched = SecretKey::generate();
        let me = UnlockSecret::generate();
        let ctx = EnvelopeContext {
            account_id: uuid::Uuid::new_v4(),
            epoch: 2,
            salt: &[7; 32],
        };
        let env = ctx
            .seal("dev-b", me.public(), &stretched, &ak)
            .expect("seal");
        assert!(ctx.open(&env, &me, &stretched) == Some(ak.clone()));
        assert!(
            ctx.open(&env, &me, &SecretKey::generate()).is_none(),
            "password"
        );
        assert!(
            ctx.open(&env, &UnlockSecret::generate(), &stretched)
                .is_none(),
            "secret"
        );
        for other in [
            EnvelopeContext {
                salt: &[8; 32],
                ..ctx
            },
            EnvelopeContext { epoch: 3, ..ctx },
            EnvelopeContext {
                account_id: uuid::Uuid::new_v4(),
                ..ctx
            },
        ] {
            assert!(other.open(&env, &me, &stretched).is_none());
        }
        let moved = Envelope {
            device_id: "dev-c".into(),
            ..env.clone()
        };
        assert!(ctx.open(&moved, &me, &stretched).is_none(), "device id");
        let mut flipped = env.clone();
        flipped.sealed[30] ^= 1;
        assert!(ctx.open(&flipped, &me, &stretched).is_none());
    }

    #[test]
    fn degenerate_public_keys_get_no_envelope() {
        let ctx = EnvelopeContext {
            account_id: uuid::Uuid::new_v4(),
            epoch: 1,
            salt: &[1; 16],
        };
        let sealed = ctx.seal(
            "d",
            UnlockPublic([0; 32]),
            &SecretKey::generate(),
            &AccountKey::generate(),
        );
        assert!(sealed.is_none());
    }

    #[test]
    fn secrets_round_trip_and_hide_in_debug() {
        let s = UnlockSecret::generate();
        let back = UnlockSecret::from_bytes(*s.to_bytes());
        assert_eq!(back.public(), s.public());
        assert_eq!(format!("{s:?}"), "UnlockSecret(…)");
    }
}
