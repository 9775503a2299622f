//! From the Account Password (and the Account Key) to the vault key: one
//! place for the slow part, run on the blocking pool.

use coffer_vault::account::{AccountError, AccountHeader};
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

/// Runs a derivation on the blocking pool (it takes half a second on purpose).
pub async fn run<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
