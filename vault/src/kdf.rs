//! Derivation of the key-encryption key (KEK) from BOTH secrets.
//!
//! ```text
//! pw  = Argon2id v19 (NFKC(password), salt, m_kib, t, p) -> 32 bytes
//! ak  = HKDF-SHA256(salt = none, ikm = Account Key material,
//!                   info = "coffer account key v1" || account_id (16) || epoch (u64 BE)) -> 32 bytes
//! KEK = HKDF-SHA256(salt = account_id (16), ikm = pw || ak,
//!                   info = "coffer kek v1" || epoch (u64 BE)) -> 32 bytes
//! ```
//!
//! The password is normalised to Unicode NFKC, so that the same password
//! typed on two systems (composed or decomposed accents, full-width forms)
//! gives the same key. Neither secret alone says anything about the KEK.
//! Parameters come from the account header, which anyone who can write to
//! a sync folder can edit: [`KdfParams::check`] refuses absurd ones before
//! any memory is allocated.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, Zeroizing};

use crate::account_key::AccountKey;
use crate::secret::{SecretKey, SecretString};

/// Smallest accepted memory cost: 8 MiB.
pub const MIN_M_KIB: u32 = 8 * 1024;
/// Largest accepted memory cost: 4 GiB.
pub const MAX_M_KIB: u32 = 4 * 1024 * 1024;
/// Largest accepted number of passes.
pub const MAX_T: u32 = 20;
/// Largest accepted number of lanes.
pub const MAX_P: u32 = 16;
/// Memory cost of calibrated parameters: 64 MiB.
pub const DEFAULT_M_KIB: u32 = 64 * 1024;
/// The weakest parameters coffer creates an account with: the floor of
/// [`KdfParams::calibrate`] (64 MiB, 2 passes). An account header below it
/// (made by a test build, or by an old version) still opens, but `coffer
/// status` flags it until `coffer passwd` re-stretches the password.
pub const FLOOR_M_KIB: u32 = DEFAULT_M_KIB;
/// See [`FLOOR_M_KIB`].
pub const FLOOR_T: u32 = 2;
/// Accepted salt lengths, in bytes.
pub const SALT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

const ACCOUNT_KEY_INFO: &[u8] = b"coffer account key v1";
const KEK_INFO: &[u8] = b"coffer kek v1";

/// Argon2id (version 0x13 = 19) cost parameters, stored in the account
/// header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Number of passes over the memory.
    pub t: u32,
    /// Degree of parallelism (lanes). Computed on one thread.
    pub p: u32,
}

/// Key derivation was refused or failed. Carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// Memory cost outside 8 MiB..=4 GiB.
    #[error("the key derivation asks for {m_kib} KiB of memory; coffer accepts {MIN_M_KIB} to {MAX_M_KIB} KiB")]
    Memory {
        /// The requested memory in KiB.
        m_kib: u32,
    },
    /// Number of passes outside 1..=20.
    #[error("the key derivation asks for {t} passes; coffer accepts 1 to {MAX_T}")]
    Passes {
        /// The requested passes.
        t: u32,
    },
    /// Parallelism outside 1..=16.
    #[error("the key derivation asks for {p} lanes; coffer accepts 1 to {MAX_P}")]
    Lanes {
        /// The requested lanes.
        p: u32,
    },
    /// Salt length outside 16..=64 bytes.
    #[error("the key derivation salt is {len} bytes; coffer accepts 16 to 64")]
    Salt {
        /// The salt's length.
        len: usize,
    },
    /// The memory for the derivation could not be allocated.
    #[error("not enough memory for the key derivation ({m_kib} KiB)")]
    OutOfMemory {
        /// The requested memory in KiB.
        m_kib: u32,
    },
    /// Argon2 itself refused the inputs (e.g. a password over 4 GiB).
    #[error("the key derivation failed: {0}")]
    Argon2(String),
}

impl KdfParams {
    /// Refuses parameters that are too weak (under 8 MiB) or absurd (over
    /// 4 GiB, more than 20 passes or 16 lanes), before anything is derived.
    pub fn check(&self) -> Result<(), KdfError> {
        if !(MIN_M_KIB..=MAX_M_KIB).contains(&self.m_kib) {
            return Err(KdfError::Memory { m_kib: self.m_kib });
        }
        if !(1..=MAX_T).contains(&self.t) {
            return Err(KdfError::Passes { t: self.t });
        }
        if !(1..=MAX_P).contains(&self.p) {
            return Err(KdfError::Lanes { p: self.p });
        }
        Ok(())
    }

    /// Whether these parameters are below [`FLOOR_M_KIB`] / [`FLOOR_T`].
    pub fn below_floor(&self) -> bool {
        self.m_kib < FLOOR_M_KIB || self.t < FLOOR_T
    }

    /// Parameters for this machine: 64 MiB, one lane, and the number of
    /// passes (2 to 20) that makes one derivation take about `target`.
    ///
    /// Times one derivation with one pass and one with two: their difference
    /// is the cost of a pass, the rest is the fixed cost of allocating and
    /// wiping the memory (a third of a one-pass derivation here, so scaling
    /// the one-pass time alone would land well short of `target`).
    pub fn calibrate(target: Duration) -> KdfParams {
        let time = |t: u32| {
            let params = KdfParams {
                m_kib: DEFAULT_M_KIB,
                t,
                p: 1,
            };
            let start = Instant::now();
            // Constant inputs; the output is discarded (and wiped).
            argon2id(b"coffer calibration", &[0u8; 16], &params).map(|_| start.elapsed())
        };
        let (one, two) = match (time(1), time(2)) {
            (Ok(one), Ok(two)) => (one.as_secs_f64(), two.as_secs_f64()),
            // Could not even allocate 64 MiB: the fewest passes allowed.
            _ => {
                return KdfParams {
                    m_kib: DEFAULT_M_KIB,
                    t: 2,
                    p: 1,
                }
            }
        };
        // Guard against noise (another process stealing the CPU during one
        // of the two runs): a pass costs at least half a one-pass run.
        let per_pass = (two - one).max(one / 2.0).max(1e-6);
        let fixed = (one - per_pass).max(0.0);
        let t = ((target.as_secs_f64() - fixed) / per_pass).round();
        // Clamped to 2..=20, so the cast cannot truncate.
        let t = t.clamp(2.0, f64::from(MAX_T)) as u32;
        KdfParams {
            m_kib: DEFAULT_M_KIB,
            t,
            p: 1,
        }
    }

    /// [`calibrate`](Self::calibrate) for about half a second: the
    /// parameters of a new account or a password change.
    pub fn default_calibrated() -> KdfParams {
        Self::calibrate(Duration::from_millis(500))
    }

    /// 8 MiB, one pass, one lane: the cheapest accepted parameters.
    /// **For tests only**; a real account uses [`default_calibrated`](Self::default_calibrated).
    pub fn fast_insecure_for_tests() -> KdfParams {
        KdfParams {
            m_kib: MIN_M_KIB,
            t: 1,
            p: 1,
        }
    }
}

/// Argon2id v19 of `password` into 32 bytes, with its working memory
/// allocated fallibly and wiped afterwards.
fn argon2id(
    password: &[u8],
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KdfError> {
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| KdfError::Argon2(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let count = argon.params().block_count();
    let mut blocks: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    blocks
        .try_reserve_exact(count)
        .map_err(|_| KdfError::OutOfMemory {
            m_kib: params.m_kib,
        })?;
    blocks.resize(count, Block::default());
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into_with_memory(password, salt, &mut out[..], &mut blocks[..])
        .map_err(|e| KdfError::Argon2(e.to_string()))?;
    Ok(out)
}

/// The slow half of [`derive_kek`]: Argon2id over the NFKC-normalised
/// password. Checks `params` and the salt length first: absurd parameters
/// are refused without deriving. The result alone says nothing about the
/// KEK (the Account Key is still needed); the daemon also uses it, through
/// a subkey, to keep the device's copy of the Account Key sealed.
pub fn stretch_password(
    password: &SecretString,
    salt: &[u8],
    params: &KdfParams,
) -> Result<SecretKey, KdfError> {
    params.check()?;
    if !SALT_LEN.contains(&salt.len()) {
        return Err(KdfError::Salt { len: salt.len() });
    }
    let normalised: Zeroizing<String> = Zeroizing::new(password.expose().nfkc().collect());
    let pw = argon2id(normalised.as_bytes(), salt, params)?;
    Ok(SecretKey::from_bytes(*pw))
}

/// The fast half of [`derive_kek`]: combines the stretched password with
/// the Account Key, bound to `account_id` and `epoch`.
pub fn kek_from_stretched(
    stretched: &SecretKey,
    account_key: &AccountKey,
    account_id: &uuid::Uuid,
    epoch: u64,
) -> SecretKey {
    let epoch_be = epoch.to_be_bytes();
    let mut ak_info = Vec::with_capacity(ACCOUNT_KEY_INFO.len() + 16 + 8);
    ak_info.extend_from_slice(ACCOUNT_KEY_INFO);
    ak_info.extend_from_slice(account_id.as_bytes());
    ak_info.extend_from_slice(&epoch_be);
    let mut ak = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, account_key.material())
        .expand(&ak_info, &mut ak[..])
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        .expect("HKDF expand of 32 bytes cannot fail");

    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(stretched.expose());
    ikm[32..].copy_from_slice(&ak[..]);
    drop(ak);

    let mut kek_info = Vec::with_capacity(KEK_INFO.len() + 8);
    kek_info.extend_from_slice(KEK_INFO);
    kek_info.extend_from_slice(&epoch_be);
    let mut kek = [0u8; 32];
    Hkdf::<Sha256>::new(Some(account_id.as_bytes()), &ikm[..])
        .expand(&kek_info, &mut kek)
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        .expect("HKDF expand of 32 bytes cannot fail");
    let key = SecretKey::from_bytes(kek);
    kek.zeroize();
    key
}

/// Derives the key-encryption key of `account_id` at `epoch` from the
/// Account Password and the Account Key (formula in the module docs):
/// [`stretch_password`] then [`kek_from_stretched`].
///
/// Checks `params` and the salt length first: absurd parameters are refused
/// without deriving.
pub fn derive_kek(
    password: &SecretString,
    account_key: &AccountKey,
    salt: &[u8],
    params: &KdfParams,
    account_id: &uuid::Uuid,
    epoch: u64,
) -> Result<SecretKey, KdfError> {
    let stretched = stretch_password(password, salt, params)?;
    Ok(kek_from_stretched(
        &stretched,
        account_key,
        account_id,
        epoch,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::fast_insecure_for_tests()
    }

    #[test]
    fn the_floor_flags_test_parameters_but_not_calibrated_ones() {
        assert!(fast().below_floor());
        let at = |m_kib, t| KdfParams { m_kib, t, p: 1 }.below_floor();
        assert!(!at(FLOOR_M_KIB, FLOOR_T));
        assert!(at(FLOOR_M_KIB - 1, 20));
        assert!(at(4 * 1024 * 1024, FLOOR_T - 1));
        // Whatever calibration picks on this machine is at or above it.
        assert!(!KdfParams::calibrate(std::time::Duration::from_millis(50)).below_floor());
    }

    fn kek(pw: &str, key: &AccountKey, salt: &[u8], id: &uuid::Uuid, epoch: u64) -> SecretKey {
        derive_kek(&SecretString::from(pw), key, salt, &fast(), id, epoch).expect("valid inputs")
    }

    #[test]
    fn check_bounds() {
        let ok = |m_kib, t, p| KdfParams { m_kib, t, p }.check();
        assert_eq!(ok(MIN_M_KIB, 1, 1), Ok(()));
        assert_eq!(ok(MAX_M_KIB, MAX_T, MAX_P), Ok(()));
        assert_eq!(
            ok(MIN_M_KIB - 1, 1, 1),
            Err(KdfError::Memory {
                m_kib: MIN_M_KIB - 1
            })
        );
        assert_eq!(
            ok(MAX_M_KIB + 1, 1, 1),
            Err(KdfError::Memory {
                m_kib: MAX_M_KIB + 1
            })
        );
        assert_eq!(
            ok(u32::MAX, 1, 1),
            Err(KdfError::Memory { m_kib: u32::MAX })
        );
        assert_eq!(ok(MIN_M_KIB, 0, 1), Err(KdfError::Passes { t: 0 }));
        assert_eq!(ok(MIN_M_KIB, 21, 1), Err(KdfError::Passes { t: 21 }));
        assert_eq!(ok(MIN_M_KIB, 1, 0), Err(KdfError::Lanes { p: 0 }));
        assert_eq!(ok(MIN_M_KIB, 1, 17), Err(KdfError::Lanes { p: 17 }));
        assert_eq!(fast().check(), Ok(()));
    }

    #[test]
    fn derive_checks_params_and_salt_first() {
        let key = AccountKey::generate();
        let id = uuid::Uuid::new_v4();
        let pw = SecretString::from("pw");
        let absurd = KdfParams {
            m_kib: u32::MAX,
            t: u32::MAX,
            p: u32::MAX,
        };
        assert_eq!(
            derive_kek(&pw, &key, &[0; 16], &absurd, &id, 1),
            Err(KdfError::Memory { m_kib: u32::MAX })
        );
        assert_eq!(
            derive_kek(&pw, &key, &[0; 8], &fast(), &id, 1),
            Err(KdfError::Salt { len: 8 })
        );
        assert_eq!(
            derive_kek(&pw, &key, &[0; 65], &fast(), &id, 1),
            Err(KdfError::Salt { len: 65 })
        );
    }

    #[test]
    fn every_input_changes_the_kek() {
        let key = AccountKey::generate();
        let other_key = AccountKey::generate();
        let id = uuid::Uuid::new_v4();
        let salt = [7u8; 32];
        let base = kek("correct horse", &key, &salt, &id, 1);
        assert_eq!(
            base,
            kek("correct horse", &key, &salt, &id, 1),
            "deterministic"
        );
        assert_ne!(base, kek("correct horsE", &key, &salt, &id, 1), "password");
        assert_ne!(
            base,
            kek("correct horse", &other_key, &salt, &id, 1),
            "account key"
        );
        assert_ne!(base, kek("correct horse", &key, &[8u8; 32], &id, 1), "salt");
        assert_ne!(
            base,
            kek("correct horse", &key, &salt, &uuid::Uuid::new_v4(), 1),
            "account id"
        );
        assert_ne!(base, kek("correct horse", &key, &salt, &id, 2), "epoch");
        let slow = KdfParams { t: 2, ..fast() };
        let pw = SecretString::from("correct horse");
        assert_ne!(
            base,
            derive_kek(&pw, &key, &salt, &slow, &id, 1).expect("valid"),
            "params"
        );
    }

    #[test]
    fn password_is_nfkc_normalised() {
        let key = AccountKey::generate();
        let id = uuid::Uuid::new_v4();
        let salt = [1u8; 16];
        let composed = "p\u{00C5}ss"; // Å as one code point
        let decomposed = "pA\u{030A}ss"; // A + combining ring above
        let angstrom = "p\u{212B}ss"; // ANGSTROM SIGN
        assert_ne!(composed, decomposed);
        let a = kek(composed, &key, &salt, &id, 1);
        assert_eq!(a, kek(decomposed, &key, &salt, &id, 1));
        assert_eq!(a, kek(angstrom, &key, &salt, &id, 1));
        // Compatibility forms fold too: full-width letters.
        assert_eq!(
            kek("abc", &key, &salt, &id, 1),
            kek("\u{FF41}\u{FF42}\u{FF43}", &key, &salt, &id, 1)
        );
    }

    #[test]
    fn calibration_stays_in_bounds() {
        let tiny = KdfParams::calibrate(Duration::from_millis(1));
        assert_eq!(
            tiny,
            KdfParams {
                m_kib: DEFAULT_M_KIB,
                t: 2,
                p: 1
            }
        );
        let huge = KdfParams::calibrate(Duration::from_secs(3600));
        assert_eq!(
            huge,
            KdfParams {
                m_kib: DEFAULT_M_KIB,
                t: MAX_T,
                p: 1
            }
        );
        assert_eq!(huge.check(), Ok(()));
    }

    #[test]
    fn params_serde_shape() {
        let json = serde_json::to_string(&fast()).expect("serializable");
        assert_eq!(json, r#"{"m_kib":8192,"t":1,"p":1}"#);
        let back: KdfParams = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, fast());
    }
}
