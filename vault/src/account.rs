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
//! Among competing headers, [`AccountHeader::precedence`] picks the same
//! winner on every device.

use std::cmp::Reverse;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::account_key::AccountKey;
use crate::aead;
use crate::error::FormatError;
use crate::kdf::{derive_kek, KdfError, KdfParams};
use crate::secret::{SecretKey, SecretString};

/// The `format` field of an account header.
pub const FORMAT: &str = "coffer-account";
/// The `version` this coffer writes and reads.
pub const VERSION: u64 = 1;
/// The only KDF of format version 1 (`kdf.algorithm`).
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

/// The account header: everything a device needs to log in, minus the two
/// secrets. Stored as `account.json` through [`to_json`](Self::to_json).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountHeader {
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
}

/// The order of competing headers: the greatest wins.
///
/// A higher epoch wins. At equal epochs (two devices reset at once) the
/// header whose `wrapped_vault_key` has the smaller SHA-256 wins, then the
/// one whose MAC input and MAC have the smaller SHA-256 (only identical
/// headers tie).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    epoch: u64,
    wrapped_digest: Reverse<[u8; 32]>,
    header_digest: Reverse<[u8; 32]>,
}

/// Canonical, length-prefixed encoding for the MAC (see `docs/FORMAT.md`).
struct Canonical(Vec<u8>);

impl Canonical {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        // usize is at most 64 bits on every supported target.
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn json(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(0),
            Value::Bool(false) => self.u8(1),
            Value::Bool(true) => self.u8(2),
            Value::Number(n) => {
                self.u8(3);
                // Formatted here, not by serde_json, whose float text
                // depends on its version and features.
                let text = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => u.to_string(),
                    (None, Some(i), _) => i.to_string(),
                    (None, None, Some(f)) => format!("{f}"),
                    (None, None, None) => n.to_string(),
                };
                self.bytes(text.as_bytes());
            }
            Value::String(s) => {
                self.u8(4);
                self.bytes(s.as_bytes());
            }
            Value::Array(items) => {
                self.u8(5);
                self.u64(items.len() as u64);
                items.iter().for_each(|i| self.json(i));
            }
            Value::Object(map) => {
                self.u8(6);
                self.object(map);
            }
        }
    }
    fn object(&mut self, map: &Map<String, Value>) {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.u64(entries.len() as u64);
        for (k, v) in entries {
            self.bytes(k.as_bytes());
            self.json(v);
        }
    }
}

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
        self.salt = random_salt();
        let kek = derive_kek(
            password,
            account_key,
            &self.salt,
            &self.kdf,
            &self.account_id,
            self.epoch,
        )?;
        self.wrapped_vault_key = aead::seal(&kek, &self.wrap_ad(), vault_key.expose());
        self.mac = self.compute_mac(vault_key);
        Ok(())
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

    /// The same account and vault key under a new password (and new
    /// parameters and salt); the data is not re-encrypted.
    ///
    /// The header is verified with `vault_key` first, so that a tampered
    /// header is never re-authenticated. `account_key` must be the
    /// account's current key (the caller got it from unlocking): coffer
    /// cannot check it without the old password.
    pub fn change_password(
        &self,
        vault_key: &SecretKey,
        account_key: &AccountKey,
        new_password: &SecretString,
        params: KdfParams,
    ) -> Result<AccountHeader, AccountError> {
        self.verify(vault_key)?;
        params.check()?;
        let mut header = AccountHeader {
            kdf: params,
            ..self.clone()
        };
        header.wrap(vault_key, account_key, new_password)?;
        Ok(header)
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
            mac: Vec::new(),
        };
        header.seal_new(new_password)
    }

    /// The deterministic order of competing headers (greatest wins); see
    /// [`Precedence`].
    pub fn precedence(&self) -> Precedence {
        let mut whole = self.mac_input();
        whole.extend_from_slice(&self.mac);
        Precedence {
            epoch: self.epoch,
            wrapped_digest: Reverse(Sha256::digest(&self.wrapped_vault_key).into()),
            header_digest: Reverse(Sha256::digest(&whole).into()),
        }
    }

    /// `account.json`: pretty JSON beginning with
    /// `{"format": "coffer-account", "version": 1, …`, then the fields in
    /// struct order, binary fields in padded standard base64, and a final
    /// newline.
    pub fn to_json(&self) -> Vec<u8> {
        let json = HeaderJson {
            format: FORMAT.to_owned(),
            version: VERSION,
            account_id: self.account_id,
            email: self.email.clone(),
            hint: self.hint.clone(),
            created_ms: self.created_ms,
            epoch: self.epoch,
            plan: self.plan.clone(),
            kdf: KdfJson {
                algorithm: KDF_ALGORITHM.to_owned(),
                m_kib: self.kdf.m_kib,
                t: self.kdf.t,
                p: self.kdf.p,
            },
            salt: BASE64.encode(&self.salt),
            wrapped_vault_key: BASE64.encode(&self.wrapped_vault_key),
            reset: self.reset.clone(),
            mac: BASE64.encode(&self.mac),
        };
        let mut out = serde_json::to_vec_pretty(&json)
            // Strings, integers and maps with string keys always serialize.
            .expect("an account header always serializes to JSON");
        out.push(b'\n');
        out
    }

    /// Reads `account.json`. A JSON object without `"format":
    /// "coffer-account"` is [`FormatError::NotThisFormat`]; another version
    /// is [`FormatError::UnknownVersion`]; anything else wrong (not JSON,
    /// truncated, a field missing, unknown, of the wrong type or length) is
    /// [`FormatError::Corrupt`] with the reason.
    ///
    /// Does not authenticate (that needs the vault key; see
    /// [`unlock`](Self::unlock)) nor check the KDF parameters.
    pub fn from_json(bytes: &[u8]) -> Result<AccountHeader, FormatError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::Corrupt(format!("account header is not valid JSON: {e}")))?;
        let not_this = FormatError::NotThisFormat { expected: FORMAT };
        let object = value.as_object().ok_or_else(|| not_this.clone())?;
        if object.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(not_this);
        }
        let version = object
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                FormatError::Corrupt("account header has no valid \"version\"".to_owned())
            })?;
        if version != VERSION {
            return Err(FormatError::UnknownVersion {
                format: FORMAT,
                version,
            });
        }
        let json: HeaderJson = serde_json::from_value(value)
            .map_err(|e| FormatError::Corrupt(format!("account header: {e}")))?;
        if json.kdf.algorithm != KDF_ALGORITHM {
            return Err(FormatError::Corrupt(format!(
                "account header: unknown KDF algorithm {:?}",
                json.kdf.algorithm
            )));
        }
        let salt = decode("salt", &json.salt)?;
        if !crate::kdf::SALT_LEN.contains(&salt.len()) {
            return Err(FormatError::Corrupt(format!(
                "account header: salt is {} bytes, expected 16 to 64",
                salt.len()
            )));
        }
        let wrapped_vault_key = decode_len(
            "wrapped_vault_key",
            &json.wrapped_vault_key,
            WRAPPED_KEY_LEN,
        )?;
        let mac = decode_len("mac", &json.mac, MAC_LEN)?;
        Ok(AccountHeader {
            account_id: json.account_id,
            email: json.email,
            hint: json.hint,
            created_ms: json.created_ms,
            epoch: json.epoch,
            plan: json.plan,
            kdf: KdfParams {
                m_kib: json.kdf.m_kib,
                t: json.kdf.t,
                p: json.kdf.p,
            },
            salt,
            wrapped_vault_key,
            reset: json.reset,
            mac,
        })
    }

    /// Associated data of the wrapped vault key.
    fn wrap_ad(&self) -> Vec<u8> {
        let mut ad = Vec::with_capacity(WRAP_AD_LABEL.len() + 16 + 8 + 12 + self.salt.len());
        ad.extend_from_slice(WRAP_AD_LABEL);
        ad.extend_from_slice(self.account_id.as_bytes());
        ad.extend_from_slice(&self.epoch.to_be_bytes());
        ad.extend_from_slice(&self.kdf.m_kib.to_be_bytes());
        ad.extend_from_slice(&self.kdf.t.to_be_bytes());
        ad.extend_from_slice(&self.kdf.p.to_be_bytes());
        ad.extend_from_slice(&self.salt);
        ad
    }

    /// The canonical encoding of every field except `mac`.
    fn mac_input(&self) -> Vec<u8> {
        let mut c = Canonical(Vec::with_capacity(512));
        c.bytes(MAC_LABEL);
        c.bytes(FORMAT.as_bytes());
        c.u64(VERSION);
        c.0.extend_from_slice(self.account_id.as_bytes());
        c.bytes(self.email.as_bytes());
        c.bytes(self.hint.as_bytes());
        c.u64(self.created_ms);
        c.u64(self.epoch);
        c.object(&self.plan);
        c.bytes(KDF_ALGORITHM.as_bytes());
        c.u32(self.kdf.m_kib);
        c.u32(self.kdf.t);
        c.u32(self.kdf.p);
        c.bytes(&self.salt);
        c.bytes(&self.wrapped_vault_key);
        match &self.reset {
            None => c.u8(0),
            Some(r) => {
                c.u8(1);
                c.u64(r.at_ms);
                c.bytes(r.by_device_id.as_bytes());
                c.bytes(r.by_device_name.as_bytes());
                c.u64(r.previous_epoch);
            }
        }
        c.0
    }

    fn mac_state(&self, vault_key: &SecretKey) -> Hmac<Sha256> {
        let mac_key = aead::subkey(vault_key, MAC_KEY_PURPOSE);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.expose())
            // HMAC accepts keys of any length.
            .expect("HMAC-SHA256 accepts a 32-byte key");
        mac.update(&self.mac_input());
        mac
    }

    fn compute_mac(&self, vault_key: &SecretKey) -> Vec<u8> {
        self.mac_state(vault_key).finalize().into_bytes().to_vec()
    }
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, FormatError> {
    BASE64
        .decode(text)
        .map_err(|e| FormatError::Corrupt(format!("account header: {field} is not base64: {e}")))
}

fn decode_len(field: &str, text: &str, len: usize) -> Result<Vec<u8>, FormatError> {
    let bytes = decode(field, text)?;
    if bytes.len() != len {
        return Err(FormatError::Corrupt(format!(
            "account header: {field} is {} bytes, expected {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The on-disk shape, field order = file order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderJson {
    format: String,
    version: u64,
    account_id: uuid::Uuid,
    email: String,
    hint: String,
    created_ms: u64,
    epoch: u64,
    plan: Map<String, Value>,
    kdf: KdfJson,
    salt: String,
    wrapped_vault_key: String,
    reset: Option<ResetInfo>,
    mac: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    algorithm: String,
    m_kib: u32,
    t: u32,
    p: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::fast_insecure_for_tests()
    }

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn new_account() -> NewAccount {
        AccountHeader::create(
            "ann@example.com",
            "the usual",
            &pw("hunter2"),
            fast(),
            1_700_000_000_000,
        )
        .expect("create")
    }

    #[test]
    fn create_then_unlock() {
        let acct = new_account();
        let h = &acct.header;
        assert_eq!(h.epoch, 1);
        assert_eq!(h.email, "ann@example.com");
        assert_eq!(h.hint, "the usual");
        assert_eq!(h.created_ms, 1_700_000_000_000);
        assert_eq!(h.plan, default_plan());
        assert_eq!(h.kdf, fast());
        assert_eq!(h.salt.len(), SALT_LEN);
        assert_eq!(h.wrapped_vault_key.len(), WRAPPED_KEY_LEN);
        assert_eq!(h.mac.len(), MAC_LEN);
        assert_eq!(h.reset, None);
        let vk = h.unlock(&pw("hunter2"), &acct.account_key).expect("unlock");
        assert_eq!(vk, acct.vault_key);
        assert_eq!(h.verify(&vk), Ok(()));
    }

    #[test]
    fn wrong_password_and_wrong_key_are_one_error() {
        let acct = new_account();
        let by_pw = acct.header.unlock(&pw("hunter3"), &acct.account_key);
        let by_key = acct.header.unlock(&pw("hunter2"), &AccountKey::generate());
        assert_eq!(by_pw, Err(AccountError::WrongCredentials));
        assert_eq!(by_key, Err(AccountError::WrongCredentials));
        assert_eq!(
            AccountError::WrongCredentials.to_string(),
            "Account Password or Account Key is wrong"
        );
    }

    #[test]
    fn absurd_params_are_refused_before_deriving() {
        let acct = new_account();
        let mut h = acct.header.clone();
        h.kdf.m_kib = u32::MAX;
        assert_eq!(
            h.unlock(&pw("hunter2"), &acct.account_key),
            Err(AccountError::Kdf(KdfError::Memory { m_kib: u32::MAX }))
        );
        h.kdf = KdfParams { t: 1000, ..fast() };
        assert_eq!(
            h.unlock(&pw("hunter2"), &acct.account_key),
            Err(AccountError::Kdf(KdfError::Passes { t: 1000 }))
        );
        let absurd = KdfParams { p: 64, ..fast() };
        assert!(matches!(
            AccountHeader::create("a@b", "", &pw("x"), absurd, 0),
            Err(AccountError::Kdf(KdfError::Lanes { p: 64 }))
        ));
    }

    #[test]
    fn every_field_is_authenticated() {
        let acct = new_account();
        let (key, good) = (&acct.account_key, &acct.header);
        let unlock = |h: &AccountHeader| h.unlock(&pw("hunter2"), key);
        type Edit = fn(&mut AccountHeader);
        // Fields outside the KEK and the wrap's AD: caught by the MAC.
        let mac_caught: [(&str, Edit); 8] = [
            ("email", |h| h.email.push('x')),
            ("hint", |h| h.hint = "a different hint".into()),
            ("created", |h| h.created_ms += 1),
            ("plan", |h| {
                h.plan.insert("plan".into(), Value::String("family".into()));
            }),
            ("plan nested", |h| {
                h.plan
                    .insert("seats".into(), serde_json::json!([1, {"a": null}]));
            }),
            ("reset added", |h| {
                h.reset = Some(ResetInfo {
                    at_ms: 1,
                    by_device_id: "d".into(),
                    by_device_name: "n".into(),
                    previous_epoch: 0,
                })
            }),
            ("mac", |h| h.mac[0] ^= 1),
            ("mac length", |h| {
                h.mac.pop();
            }),
        ];
        for (what, edit) in mac_caught {
            let mut h = good.clone();
            edit(&mut h);
            assert_eq!(unlock(&h), Err(AccountError::Tampered), "{what}");
            assert_eq!(
                h.verify(&acct.vault_key),
                Err(AccountError::Tampered),
                "{what}"
            );
        }
        // Fields that feed the KEK or the wrap's AD: the unwrap fails.
        let wrap_caught: [(&str, Edit); 6] = [
            ("account id", |h| h.account_id = uuid::Uuid::new_v4()),
            ("epoch", |h| h.epoch += 1),
            ("salt", |h| h.salt[0] ^= 1),
            ("kdf", |h| h.kdf.t += 1),
            ("wrapped key", |h| h.wrapped_vault_key[30] ^= 1),
            ("wrapped key length", |h| {
                h.wrapped_vault_key.pop();
            }),
        ];
        for (what, edit) in wrap_caught {
            let mut h = good.clone();
            edit(&mut h);
            assert_eq!(unlock(&h), Err(AccountError::WrongCredentials), "{what}");
            assert_eq!(
                h.verify(&acct.vault_key),
                Err(AccountError::Tampered),
                "{what}"
            );
        }
    }

    #[test]
    fn change_password_rewraps_the_same_vault_key() {
        let acct = new_account();
        let params = KdfParams { t: 2, ..fast() };
        let new = acct
            .header
            .change_password(&acct.vault_key, &acct.account_key, &pw("n3w pass"), params)
            .expect("change");
        assert_eq!(new.epoch, acct.header.epoch);
        assert_eq!(new.kdf, params);
        assert_ne!(new.salt, acct.header.salt);
        assert_eq!(new.account_id, acct.header.account_id);
        assert_eq!(
            new.unlock(&pw("n3w pass"), &acct.account_key),
            Ok(acct.vault_key.clone())
        );
        assert_eq!(
            new.unlock(&pw("hunter2"), &acct.account_key),
            Err(AccountError::WrongCredentials)
        );
        // A tampered header, or a wrong vault key, is not re-authenticated.
        let mut tampered = acct.header.clone();
        tampered.hint = "evil".into();
        assert_eq!(
            tampered.change_password(&acct.vault_key, &acct.account_key, &pw("x"), fast()),
            Err(AccountError::Tampered)
        );
        assert_eq!(
            acct.header.change_password(
                &SecretKey::generate(),
                &acct.account_key,
                &pw("x"),
                fast()
            ),
            Err(AccountError::Tampered)
        );
    }

    #[test]
    fn reset_starts_a_new_epoch_and_keeps_the_identity() {
        let mut acct = new_account();
        acct.header
            .plan
            .insert("licence".into(), Value::String("L-123".into()));
        let old = acct.header.clone();
        let new = old
            .reset(
                &pw("hunter2"),
                None,
                fast(),
                1_800_000_000_000,
                "dev-2",
                "laptop",
            )
            .expect("reset");
        let h = &new.header;
        assert_eq!(h.epoch, 2);
        assert_eq!(
            (h.account_id, &h.email, h.created_ms),
            (old.account_id, &old.email, old.created_ms)
        );
        assert_eq!(h.plan, old.plan);
        assert_eq!(h.hint, old.hint);
        assert_eq!(
            h.reset,
            Some(ResetInfo {
                at_ms: 1_800_000_000_000,
                by_device_id: "dev-2".into(),
                by_device_name: "laptop".into(),
                previous_epoch: 1,
            })
        );
        assert_ne!(new.account_key, acct.account_key);
        assert_ne!(new.vault_key, acct.vault_key);
        assert_ne!(h.salt, old.salt);
        assert_eq!(
            h.unlock(&pw("hunter2"), &new.account_key),
            Ok(new.vault_key.clone())
        );
        // The old Account Key is useless, even with the same password.
        assert_eq!(
            h.unlock(&pw("hunter2"), &acct.account_key),
            Err(AccountError::WrongCredentials)
        );
        let again = h
            .reset(&pw("other"), Some("new hint"), fast(), 0, "d", "n")
            .expect("reset");
        assert_eq!(again.header.hint, "new hint");
        assert_eq!(again.header.epoch, 3);
        let mut last = old.clone();
        last.epoch = u64::MAX;
        assert!(matches!(
            last.reset(&pw("x"), None, fast(), 0, "d", "n"),
            Err(AccountError::EpochExhausted)
        ));
    }

    #[test]
    fn precedence_is_deterministic() {
        let acct = new_account();
        let a = acct
            .header
            .reset(&pw("a"), None, fast(), 0, "d1", "one")
            .expect("reset")
            .header;
        let b = acct
            .header
            .reset(&pw("b"), None, fast(), 0, "d2", "two")
            .expect("reset")
            .header;
        assert!(
            a.precedence() > acct.header.precedence(),
            "higher epoch wins"
        );
        assert!(
            b.precedence() > acct.header.precedence(),
            "higher epoch wins"
        );
        let da = Sha256::digest(&a.wrapped_vault_key);
        let db = Sha256::digest(&b.wrapped_vault_key);
        let expected = if da < db { &a } else { &b };
        let winner = [&acct.header, &a, &b]
            .into_iter()
            .max_by_key(|h| h.precedence());
        assert_eq!(winner, Some(expected));
        let winner = [&b, &acct.header, &a]
            .into_iter()
            .max_by_key(|h| h.precedence());
        assert_eq!(winner, Some(expected));
        assert_eq!(a.precedence(), a.clone().precedence());
        let mut hint = a.clone();
        hint.hint.push('!');
        assert_ne!(
            a.precedence(),
            hint.precedence(),
            "any difference breaks the tie"
        );
    }

    #[test]
    fn json_round_trip_and_shape() {
        let mut acct = new_account();
        acct.header
            .plan
            .insert("seats".into(), serde_json::json!(5));
        acct.header.mac = acct.header.compute_mac(&acct.vault_key);
        let reset = acct
            .header
            .reset(&pw("p"), Some("h\"\n\u{e9}"), fast(), 5, "d", "n")
            .expect("reset");
        for h in [&acct.header, &reset.header] {
            let bytes = h.to_json();
            let text = std::str::from_utf8(&bytes).expect("UTF-8");
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            assert!(
                compact.starts_with(r#"{"format":"coffer-account","version":1,"account_id":"#),
                "{text}"
            );
            assert!(text.ends_with("}\n"));
            let back = AccountHeader::from_json(&bytes).expect("round trip");
            assert_eq!(&back, h);
            assert_eq!(back.to_json(), bytes);
        }
        let text = String::from_utf8(reset.header.to_json()).expect("UTF-8");
        assert!(text.contains(&format!(
            "\"salt\": \"{}\"",
            BASE64.encode(&reset.header.salt)
        )));
        assert!(text.contains("\"previous_epoch\": 1"));
        assert!(text.contains("\"algorithm\": \"argon2id-v19\""));
    }

    #[test]
    fn from_json_errors() {
        let acct = new_account();
        let good: Value = serde_json::from_slice(&acct.header.to_json()).expect("JSON");
        let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
            let mut v = good.clone();
            edit(v.as_object_mut().expect("object"));
            AccountHeader::from_json(&serde_json::to_vec(&v).expect("JSON"))
        };
        let corrupt = |r: Result<AccountHeader, FormatError>, needle: &str| match r {
            Err(FormatError::Corrupt(why)) => {
                assert!(why.contains(needle), "{why:?} lacks {needle:?}")
            }
            other => panic!("expected Corrupt({needle}), got {other:?}"),
        };
        let not_this = Err(FormatError::NotThisFormat {
            expected: "coffer-account",
        });

        assert_eq!(
            with(&|m| {
                m.insert("version".into(), Value::from(2));
            }),
            Err(FormatError::UnknownVersion {
                format: "coffer-account",
                version: 2
            })
        );
        assert_eq!(
            with(&|m| {
                m.insert("format".into(), Value::from("coffer-container"));
            }),
            not_this
        );
        assert_eq!(
            with(&|m| {
                m.remove("format");
            }),
            not_this
        );
        assert_eq!(AccountHeader::from_json(b"[1, 2]"), not_this);
        assert_eq!(AccountHeader::from_json(b"{}"), not_this);
        corrupt(AccountHeader::from_json(b""), "not valid JSON");
        corrupt(AccountHeader::from_json(b"\x89PNG"), "not valid JSON");
        let bytes = acct.header.to_json();
        corrupt(
            AccountHeader::from_json(&bytes[..bytes.len() / 2]),
            "not valid JSON",
        );
        corrupt(
            with(&|m| {
                m.remove("version");
            }),
            "version",
        );
        corrupt(
            with(&|m| {
                m.insert("version".into(), Value::from("1"));
            }),
            "version",
        );
        corrupt(
            with(&|m| {
                m.remove("wrapped_vault_key");
            }),
            "missing field `wrapped_vault_key`",
        );
        corrupt(
            with(&|m| {
                m.insert("extra".into(), Value::from(1));
            }),
            "unknown field `extra`",
        );
        corrupt(
            with(&|m| {
                m.insert("epoch".into(), Value::from(-1));
            }),
            "",
        );
        corrupt(
            with(&|m| {
                m.insert("salt".into(), Value::from("!!"));
            }),
            "salt is not base64",
        );
        corrupt(
            with(&|m| {
                m.insert("salt".into(), Value::from(BASE64.encode([0u8; 8])));
            }),
            "salt is 8 bytes",
        );
        corrupt(
            with(&|m| {
                m.insert("mac".into(), Value::from(BASE64.encode([0u8; 31])));
            }),
            "mac is 31 bytes",
        );
        corrupt(
            with(&|m| {
                m.insert(
                    "wrapped_vault_key".into(),
                    Value::from(BASE64.encode([0u8; 71])),
                );
            }),
            "wrapped_vault_key is 71 bytes",
        );
        corrupt(
            with(&|m| {
                m["kdf"]["algorithm"] = Value::from("scrypt");
            }),
            "unknown KDF algorithm",
        );
    }

    #[test]
    fn canonical_encoding_is_unambiguous() {
        let acct = new_account();
        // Moving a character from the email to the hint changes the MAC input.
        let mut a = acct.header.clone();
        a.email = "ab".into();
        a.hint = "c".into();
        let mut b = acct.header.clone();
        b.email = "a".into();
        b.hint = "bc".into();
        assert_ne!(a.mac_input(), b.mac_input());
        // Key order of the plan does not matter; values and types do.
        let mut x = acct.header.clone();
        x.plan = serde_json::from_str(r#"{"a":1,"b":"2"}"#).expect("JSON");
        let mut y = acct.header.clone();
        y.plan = serde_json::from_str(r#"{"b":"2","a":1}"#).expect("JSON");
        assert_eq!(x.mac_input(), y.mac_input());
        y.plan = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("JSON");
        assert_ne!(x.mac_input(), y.mac_input());
        // Numbers: plain decimal, floats without exponent.
        let mut c = Canonical(Vec::new());
        c.json(&serde_json::json!([-5, 42, 0.5, 1.0, 1e21]));
        let mut want = vec![5u8];
        want.extend_from_slice(&5u64.to_be_bytes());
        for text in ["-5", "42", "0.5", "1", "1000000000000000000000"] {
            want.push(3);
            want.extend_from_slice(&(text.len() as u64).to_be_bytes());
            want.extend_from_slice(text.as_bytes());
        }
        assert_eq!(c.0, want);
    }

    #[test]
    fn new_account_debug_hides_secrets() {
        let acct = new_account();
        let dbg = format!("{acct:?}");
        let text = acct.account_key.to_text();
        assert!(!dbg.contains(&text.expose()[3..]));
        assert!(dbg.contains("[redacted]"));
    }
}
