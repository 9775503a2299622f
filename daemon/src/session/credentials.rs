//! From the Account Password (and the Account Key) to the vault key: one
//! place for the slow part, run on the blocking pool.
//!
//! A signed-in device opens the newest header of its epoch that the
//! password opens ([`open_on_device_newest`]): its own header with the
//! Account Key it keeps, or a newer one from the folders with its unlock
//! envelope; a password that opens only an older header than an authentic
//! newer one was changed elsewhere, and is refused.

use coffer_vault::account::{open_newest, AccountError, AccountHeader, OpenFailure};
use coffer_vault::account_key::AccountKey;
use coffer_vault::kdf::stretch_password;
use coffer_vault::secret::{SecretKey, SecretString};

use crate::store::device::DeviceRecord;

/// What a successful derivation gives.
pub struct Opened {
    /// The stretched password (to seal the Account Key on this device).
    pub stretched: SecretKey,
    /// The Account Key.
    pub account_key: AccountKey,
    /// The vault key `header` wraps.
    pub vault_key: SecretKey,
}

/// Opens `header` with both secrets (login, restore, backups).
pub fn open_with_key(
    header: &AccountHeader,
    password: &SecretString,
    account_key: AccountKey,
) -> Result<Opened, AccountError> {
    let stretched = stretch_password(password, &header.salt, &header.kdf)?;
    let vault_key = header.unlock_stretched(&stretched, &account_key)?;
    Ok(Opened {
        stretched,
        account_key,
        vault_key,
    })
}

/// Opens `header` with the password alone, taking the Account Key this
/// device keeps in `device` (unlock, passwd).
pub fn open_on_device(
    header: &AccountHeader,
    device: &DeviceRecord,
    password: &SecretString,
) -> Result<Opened, AccountError> {
    let stretched = stretch_password(password, &header.salt, &header.kdf)?;
    let account_key = device
        .open_account_key_pw(&stretched)
        .ok_or(AccountError::WrongCredentials)?;
    let vault_key = header.unlock_stretched(&stretched, &account_key)?;
    Ok(Opened {
        stretched,
        account_key,
        vault_key,
    })
}

/// Why a device could not open its newest header.
#[derive(Debug)]
pub enum DeviceOpenError {
    /// The password (or the Account Key given) is wrong, or a header was
    /// refused before deriving.
    Failed(AccountError),
    /// The password opens an older header: it was changed on another
    /// device (`by`, in words) since.
    Superseded {
        /// `device NAME (ID) at TIME`.
        by: String,
    },
    /// Nothing opened, and the password was changed within the epoch (on
    /// `by`): say so with the wrong-password error.
    WrongSinceChange {
        /// `device NAME (ID) at TIME`.
        by: String,
    },
    /// Nothing opened, and this device cannot know the Account Key for the
    /// newest header with the password alone (the change came from a device
    /// that did not know this one's unlock key): type the Account Key too.
    AccountKeyNeeded,
}

/// Opens the newest header of the device's epoch among `own` (the device's
/// header, tried in any case) and `found` (the folders'), with `password`
/// and the Account Key this device keeps (or `account_key` when given).
/// Returns the header that opened (the newest authentic one) and what
/// opening it gave.
pub fn open_on_device_newest(
    own: &AccountHeader,
    found: Vec<AccountHeader>,
    device: &DeviceRecord,
    password: &SecretString,
    account_key: Option<AccountKey>,
) -> Result<(AccountHeader, Opened), DeviceOpenError> {
    let mut candidates = vec![own.clone()];
    for h in found {
        if own.same_lineage(&h) && !candidates.contains(&h) {
            candidates.push(h);
        }
    }
    let secret = device.unlock_secret();
    // One derivation per salt and parameters (a hint change keeps both).
    let mut stretched_by: Vec<(Vec<u8>, coffer_vault::kdf::KdfParams, SecretKey)> = Vec::new();
    let opened = open_newest(&candidates, Some(0), |h| {
        h.kdf.check()?;
        // No way to the Account Key for this header with a password alone:
        // not worth a derivation (this device's box is sealed under its own
        // header's salt; other headers help only with an envelope for it).
        let has_envelope = h.envelopes.iter().any(|e| e.device_id == device.device_id);
        if account_key.is_none() && h.salt != own.salt && !has_envelope {
            return Err(AccountError::WrongCredentials);
        }
        let stretched = match stretched_by
            .iter()
            .find(|(s, k, _)| *s == h.salt && *k == h.kdf)
        {
            Some((_, _, st)) => st.clone(),
            None => {
                let st = stretch_password(password, &h.salt, &h.kdf)?;
                stretched_by.push((h.salt.clone(), h.kdf, st.clone()));
                st
            }
        };
        let ak = match &account_key {
            Some(ak) => Some(ak.clone()),
            None => device.open_account_key_pw(&stretched).or_else(|| {
                secret
                    .as_ref()
                    .and_then(|s| h.open_envelope(&device.device_id, s, &stretched))
            }),
        }
        .ok_or(AccountError::WrongCredentials)?;
        let vault_key = h.unlock_stretched(&stretched, &ak)?;
        Ok((vault_key, (stretched, ak)))
    });
    match opened {
        Ok(o) => {
            let (stretched, account_key) = o.extra;
            Ok((
                candidates[o.index].clone(),
                Opened {
                    stretched,
                    account_key,
                    vault_key: o.vault_key,
                },
            ))
        }
        Err(OpenFailure::Superseded { newest, .. }) => Err(DeviceOpenError::Superseded {
            by: crate::sync::header_watch::changed_by(&candidates[newest]),
        }),
        Err(OpenFailure::Failed(AccountError::WrongCredentials)) if account_key.is_none() => {
            // Whether this device could get the Account Key of the newest
            // header with a password at all: its own box (sealed under the
            // password of its own header) or an envelope for it.
            let newest = candidates
                .iter()
                .max_by_key(|c| c.precedence())
                .unwrap_or(own);
            let reachable = newest
                .envelopes
                .iter()
                .any(|e| e.device_id == device.device_id)
                || (!device.account_key_pw.is_empty()
                    && newest.salt == own.salt
                    && newest.kdf == own.kdf);
            Err(if !reachable {
                DeviceOpenError::AccountKeyNeeded
            } else if own.changed.is_some() {
                DeviceOpenError::WrongSinceChange {
                    by: crate::sync::header_watch::changed_by(own),
                }
            } else {
                DeviceOpenError::Failed(AccountError::WrongCredentials)
            })
        }
        Err(OpenFailure::Failed(e)) => Err(DeviceOpenError::Failed(e)),
    }
}

/// Runs a derivation on the blocking pool (it takes half a second on purpose).
pub async fn run<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
