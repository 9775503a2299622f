//! The account header, `<sync folder>/<account_id>/account.json`.
//!
//! Plain JSON that anyone with the sync folder can read: the account's
//! identity, the password hint, the epoch, the Argon2id parameters and salt,
//! and the vault key wrapped by the key-encryption key (KEK, see
//! [`crate::kdf`]). The wrap binds the account, epoch, parameters and salt as
//! associated data; an HMAC keyed by the vault key covers every other field,
//! so a header is authenticated at unlock. Layouts: `docs/FORMAT.md`,
//! "Account header".
//!
//! Nobody can authenticate a header of a new epoch before logging in to it:
//! that is what makes a reset possible from a device that lost every secret.
//! Within an epoch, every change (password, hint, KDF parameters) raises the
//! header's `generation`, which the MAC covers (format version 2): a device
//! adopts a same-epoch header only when it authenticates under the vault key
//! it holds and is newer. Among competing headers,
//! [`AccountHeader::precedence`] picks the same winner on every device.
//!
//! # Layout
//!
//! - this file: the header, creating, unlocking, resetting;
//! - `change`: password, hint and KDF changes (a new generation);
//! - `envelope`: unlock envelopes that carry a password change to the
//!   other devices;
//! - `choose`: which of several same-epoch headers a device adopts, and how
//!   an unlock picks among them;
//! - `json`: `account.json` as it is written and read (versions 1 and 2);
//! - `mac`: the canonical encoding the MAC covers, the wrap's associated data, and
//!   [`Precedence`].

use hmac::Mac;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::account_key::AccountKey;
use crate::aead;
use crate::kdf::{KdfError, KdfParams};
use crate::secret::{SecretKey, SecretString};

/// The `format` field of an account header.
pub const FORMAT: &str = "coffer-account";
/// The `version` this coffer writes (it reads 1 and 2).
pub const VERSION: u64 = 2;
/// The first version: no generation, no change info, no envelopes (read as
/// generation 0).
pub const VERSION_1: u64 = 1;
/// The only KDF of format versions 1 and 2 (`kdf.algorithm`).
pub const KDF_ALGORITHM: &str = "argon2id-v19";
/// Length of the salt of new headers.
pub const SALT_LEN: usize = 32;
/// Length of a wrapped vault key: nonce, 32-byte key, tag.
pub const WRAPPED_KEY_LEN: usize = aead::NONCE_LEN + SecretKey::LEN + aead::TAG_LEN;
/// Length of the header MAC (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

const WRAP_AD_LABEL: &[u8] = b"coffer vault key v1";
const MAC_KEY_PURPOSE: &[u8] = b"coffer header mac v1";
const MAC_LABEL: &[u8] = b"coffer header mac v1";

/// Who reset the account, when, and from which epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetInfo {
    /// When the reset happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The device that reset the account.
    pub by_device_id: String,
    /// That device's friendly name.
    pub by_device_name: String,
    /// The epoch the reset replaced.
    pub previous_epoch: u64,
}

/// Who made the last change of a header's generation, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeInfo {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The device that made the change.
    pub by_device_id: String,
    /// That device's friendly name.
    pub by_device_name: String,
}

/// The account header: everything a device needs to log in, minus the two
/// secrets. Stored as `account.json` through [`to_json`](Self::to_json).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountHeader {
    /// The format version it was read as or will be written as: [`VERSION`]
    /// for every header coffer makes, [`VERSION_1`] for one read from an
    /// older file (written back the same way, so that its MAC still holds).
    pub version: u64,
    /// Random, fixed for the account's life (survives resets).
    pub account_id: uuid::Uuid,
    /// The account's email (survives resets).
    pub email: String,
    /// The password hint, readable without unlocking.
    pub hint: String,
    /// Creation time in milliseconds since the Unix epoch (survives resets).
    pub created_ms: u64,
    /// 1 at creation, +1 at every reset.
    pub epoch: u64,
    /// Plan and licence fields; opaque to coffer, kept across resets.
    pub plan: Map<String, Value>,
    /// Argon2id parameters of the KEK.
    pub kdf: KdfParams,
    /// Argon2id salt.
    pub salt: Vec<u8>,
    /// The vault key sealed by the KEK (nonce, ciphertext, tag).
    pub wrapped_vault_key: Vec<u8>,
    /// Set by a reset: who, when, from which epoch.
    pub reset: Option<ResetInfo>,
    /// 0 at creation and at every reset, +1 at every change within the epoch.
    pub generation: u64,
    /// Who made this generation's change, and when (`None` for generation 0).
    pub changed: Option<ChangeInfo>,
    /// The Account Key for each other device, sealed to its unlock key and
    /// this header's password (see `envelope`).
    pub envelopes: Vec<Envelope>,
    /// HMAC-SHA256 over every other field, keyed by a subkey of the vault key.
    pub mac: Vec<u8>,
}

/// A freshly created or reset account: its header and the secrets to show
/// the user (the Account Key) and to keep unlocked (the vault key).
#[derive(Debug)]
pub struct NewAccount {
    /// The header to write to every sync folder.
    pub header: AccountHeader,
    /// The new Account Key (the emergency kit).
    pub account_key: AccountKey,
    /// The new vault key.
    pub vault_key: SecretKey,
}

/// Why an account operation failed. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The key derivation ran and the vault key did not unwrap: one of the
    /// two secrets is wrong (deliberately not saying which).
    #[error("Account Password or Account Key is wrong")]
    WrongCredentials,
    /// The KDF parameters or salt were refused, or derivation failed.
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The vault key unwrapped but the header's MAC (or the key's length)
    /// does not match: some field was changed by someone without the key.
    #[error("the account header was tampered with or damaged: it does not match its vault key")]
    Tampered,
    /// The epoch is at its maximum and cannot be reset again.
    #[error("the account cannot be reset any more: its epoch is at the maximum")]
    EpochExhausted,
    /// The generation is at its maximum and cannot change again.
    #[error("the account header cannot change any more: its generation is at the maximum")]
    GenerationExhausted,
}

mod change;
mod choose;
mod envelope;
mod json;
mod mac;

pub use change::{Change, ChangeKind, Recipient};
pub use choose::{adoptable, open_newest, OpenFailure, Opening, Verdict, MAX_TRIES};
pub use envelope::{Envelope, EnvelopeContext, UnlockPublic, UnlockSecret};
pub use mac::Precedence;

fn random_salt() -> Vec<u8> {
    let mut salt = vec![0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

fn default_plan() -> Map<String, Value> {
    let mut plan = Map::new();
    plan.insert("plan".to_owned(), Value::String("personal".to_owned()));
    plan
}

impl AccountHeader {
    /// A new account (epoch 1): fresh account id, Account Key, vault key and
    /// salt; the vault key wrapped under `password` and the Account Key.
    pub fn create(
        email: &str,
        hint: &str,
        password: &SecretString,
        params: KdfParams,
        now_ms: u64,
    ) -> Result<NewAccount, AccountError> {
        params.check()?;
        let header = AccountHeader {
            version: VERSION,
            account_id: uuid::Uuid::new_v4(),
            email: email.to_owned(),
            hint: hint.to_owned(),
            created_ms: now_ms,
            epoch: 1,
            plan: default_plan(),
            kdf: params,
            salt: Vec::new(),
            wrapped_vault_key: Vec::new(),
            reset: None,
            generation: 0,
            changed: None,
            envelopes: Vec::new(),
            mac: Vec::new(),
        };
        header.seal_new(password)
    }

    /// Fills in salt, wrapped key and MAC for a new Account Key and vault key.
    fn seal_new(mut self, password: &SecretString) -> Result<NewAccount, AccountError> {
        let account_key = AccountKey::generate();
        let vault_key = SecretKey::generate();
        self.wrap(&vault_key, &account_key, password)?;
        Ok(NewAccount {
            header: self,
            account_key,
            vault_key,
        })
    }

    /// New salt, vault key wrapped under a KEK of `password` and
    /// `account_key` at the current parameters, then a new MAC.
    fn wrap(
        &mut self,
        vault_key: &SecretKey,
        account_key: &AccountKey,
        password: &SecretString,
    ) -> Result<(), AccountError> {
        self.wrap_key(vault_key, account_key, password)?;
        self.mac = self.compute_mac(vault_key);
        Ok(())
    }

    /// New salt and the vault key wrapped (no MAC yet); returns the stretched
    /// password, which envelopes need.
    fn wrap_key(
        &mut self,
        vault_key: &SecretKey,
        account_key: &AccountKey,
        password: &SecretString,
    ) -> Result<SecretKey, AccountError> {
        self.salt = random_salt();
        let stretched = crate::kdf::stretch_password(password, &self.salt, &self.kdf)?;
        let kek =
            crate::kdf::kek_from_stretched(&stretched, account_key, &self.account_id, self.epoch);
        self.wrapped_vault_key = aead::seal(&kek, &self.wrap_ad(), vault_key.expose());
        Ok(stretched)
    }

    /// Derives the KEK, unwraps the vault key and authenticates the header.
    ///
    /// The KDF parameters are checked before anything is derived. A wrong
    /// password and a wrong Account Key give the same
    /// [`AccountError::WrongCredentials`].
    pub fn unlock(
        &self,
        password: &SecretString,
        account_key: &AccountKey,
    ) -> Result<SecretKey, AccountError> {
        self.kdf.check()?;
        let stretched = crate::kdf::stretch_password(password, &self.salt, &self.kdf)?;
        self.unlock_stretched(&stretched, account_key)
    }

    /// [`unlock`](Self::unlock) with the password already stretched by
    /// [`crate::kdf::stretch_password`] under this header's salt and
    /// parameters (so a caller that also needs the stretched password
    /// derives it once).
    pub fn unlock_stretched(
        &self,
        stretched: &SecretKey,
        account_key: &AccountKey,
    ) -> Result<SecretKey, AccountError> {
        let kek =
            crate::kdf::kek_from_stretched(stretched, account_key, &self.account_id, self.epoch);
        let plain = aead::open(&kek, &self.wrap_ad(), &self.wrapped_vault_key)
            .map_err(|_| AccountError::WrongCredentials)?;
        let vault_key = SecretKey::from_slice(&plain).ok_or(AccountError::Tampered)?;
        self.verify(&vault_key)?;
        Ok(vault_key)
    }

    /// Checks the header's MAC with `vault_key` (constant time).
    pub fn verify(&self, vault_key: &SecretKey) -> Result<(), AccountError> {
        self.mac_state(vault_key)
            .verify_slice(&self.mac)
            .map_err(|_| AccountError::Tampered)
    }

    /// The header of a reset: epoch + 1, new Account Key, vault key and
    /// salt, the hint replaced when `new_hint` is given; keeps the account
    /// id, email, creation time and plan; records who reset it.
    ///
    /// Needs no secret of the old epoch (that is the point of a reset).
    pub fn reset(
        &self,
        new_password: &SecretString,
        new_hint: Option<&str>,
        params: KdfParams,
        now_ms: u64,
        by_device_id: &str,
        by_device_name: &str,
    ) -> Result<NewAccount, AccountError> {
        params.check()?;
        let epoch = self
            .epoch
            .checked_add(1)
            .ok_or(AccountError::EpochExhausted)?;
        let header = AccountHeader {
            version: VERSION,
            account_id: self.account_id,
            email: self.email.clone(),
            hint: new_hint.map_or_else(|| self.hint.clone(), str::to_owned),
            created_ms: self.created_ms,
            epoch,
            plan: self.plan.clone(),
            kdf: params,
            salt: Vec::new(),
            wrapped_vault_key: Vec::new(),
            reset: Some(ResetInfo {
                at_ms: now_ms,
                by_device_id: by_device_id.to_owned(),
                by_device_name: by_device_name.to_owned(),
                previous_epoch: self.epoch,
            }),
            generation: 0,
            changed: None,
            envelopes: Vec::new(),
            mac: Vec::new(),
        };
        header.seal_new(new_password)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
