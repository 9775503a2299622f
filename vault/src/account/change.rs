//! Changes within an epoch: a new password (or the same one re-stretched at
//! new parameters), a new hint. Each makes a new header *generation*, signed
//! with who made it and when, and carries the Account Key to the other
//! devices in unlock envelopes.

use super::envelope::{EnvelopeContext, UnlockPublic};
use super::{AccountError, AccountHeader, ChangeInfo, VERSION};
use crate::account_key::AccountKey;
use crate::kdf::KdfParams;
use crate::secret::{SecretKey, SecretString};

/// A device to seal an unlock envelope for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// Its device id.
    pub device_id: String,
    /// Its public unlock key (authenticated by the caller under the vault key).
    pub public: UnlockPublic,
}

/// What changes.
#[derive(Debug)]
pub enum ChangeKind<'a> {
    /// A new wrapping of the vault key under `password` at `params` (the
    /// same password re-stretched, or a new one), with an envelope for each
    /// recipient.
    Password {
        /// The Account Password from now on.
        password: &'a SecretString,
        /// The Argon2id parameters from now on.
        params: KdfParams,
        /// The other devices.
        recipients: &'a [Recipient],
    },
    /// Only the hint (given in [`Change::hint`]): the wrapping and its
    /// envelopes stay.
    HintOnly,
}

/// One change of the header.
#[derive(Debug)]
pub struct Change<'a> {
    /// What changes.
    pub kind: ChangeKind<'a>,
    /// A new hint, or `None` to keep it.
    pub hint: Option<String>,
    /// The lowest generation the result may have: one more than the
    /// highest the caller has seen, so that a change never ties with one it
    /// knew about. The result is at least the header's own generation + 1.
    pub at_least: u64,
    /// Who makes it, and when.
    pub by: ChangeInfo,
}

impl AccountHeader {
    /// The next generation of this header with `change` applied, MACed
    /// under `vault_key` (the header is verified with it first, so a
    /// tampered header is never re-authenticated). `account_key` must be
    /// the account's (the caller opened it). With a password change, the
    /// new password stretched under the new salt comes back too (to seal
    /// the Account Key on this device).
    pub fn change(
        &self,
        vault_key: &SecretKey,
        account_key: &AccountKey,
        change: Change<'_>,
    ) -> Result<(AccountHeader, Option<SecretKey>), AccountError> {
        self.verify(vault_key)?;
        let next = self
            .generation
            .checked_add(1)
            .ok_or(AccountError::GenerationExhausted)?;
        let mut header = AccountHeader {
            version: VERSION,
            generation: next.max(change.at_least),
            changed: Some(change.by),
            hint: change.hint.unwrap_or_else(|| self.hint.clone()),
            ..self.clone()
        };
        let stretched = match change.kind {
            ChangeKind::HintOnly => None,
            ChangeKind::Password {
                password,
                params,
                recipients,
            } => {
                params.check()?;
                header.kdf = params;
                let stretched = header.wrap_key(vault_key, account_key, password)?;
                let ctx = EnvelopeContext {
                    account_id: header.account_id,
                    epoch: header.epoch,
                    salt: &header.salt,
                };
                let mut envelopes: Vec<_> = recipients
                    .iter()
                    .filter_map(|r| ctx.seal(&r.device_id, r.public, &stretched, account_key))
                    .collect();
                envelopes.sort_by(|a, b| a.device_id.cmp(&b.device_id));
                header.envelopes = envelopes;
                Some(stretched)
            }
        };
        header.mac = header.compute_mac(vault_key);
        Ok((header, stretched))
    }

    /// The same account and vault key under a new password (and new
    /// parameters and salt): the next generation, without change info or
    /// envelopes. The data is not re-encrypted.
    pub fn change_password(
        &self,
        vault_key: &SecretKey,
        account_key: &AccountKey,
        new_password: &SecretString,
        params: KdfParams,
    ) -> Result<AccountHeader, AccountError> {
        let change = Change {
            kind: ChangeKind::Password {
                password: new_password,
                params,
                recipients: &[],
            },
            hint: None,
            at_least: 0,
            by: ChangeInfo {
                at_ms: 0,
                by_device_id: String::new(),
                by_device_name: String::new(),
            },
        };
        let (mut header, _) = self.change(vault_key, account_key, change)?;
        header.changed = None;
        header.mac = header.compute_mac(vault_key);
        Ok(header)
    }

    /// The Account Key in this header's envelope for `device_id`, opened
    /// with that device's unlock secret and the password stretched under
    /// this header's salt; `None` when there is no such envelope or it does
    /// not open.
    pub fn open_envelope(
        &self,
        device_id: &str,
        secret: &super::UnlockSecret,
        stretched: &SecretKey,
    ) -> Option<AccountKey> {
        let ctx = EnvelopeContext {
            account_id: self.account_id,
            epoch: self.epoch,
            salt: &self.salt,
        };
        self.envelopes
            .iter()
            .filter(|e| e.device_id == device_id)
            .find_map(|e| ctx.open(e, secret, stretched))
    }
}
