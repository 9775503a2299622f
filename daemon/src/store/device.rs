//! `device.json`: what this device knows about its sign-in, kept beside the
//! container in the data directory.
//!
//! ```json
//! {"format":"coffer-device","version":2,"account_id":"…","email":"…","epoch":1,
//!  "device_id":"…","device_name":"…","sync_folders":["/home/a/Dropbox"],
//!  "account_key_pw":"<b64>","account_key_vk":"<b64>","unlock_secret":"<b64>","reset":null}
//! ```
//! The Account Key is kept twice, never in the clear: `account_key_pw` is
//! sealed under a subkey of the stretched Account Password (so `unlock`
//! needs only the password), `account_key_vk` under a subkey of the vault
//! key (so `kit` works after the daemon resumed from the keyring cache);
//! the boxes are [`coffer_vault::device_key`]'s.
//!
//! Version 2 adds `unlock_secret`, the secret half of this device's X25519
//! unlock key pair (password changes made on other devices are sealed to
//! its public half, see [`coffer_vault::account::Envelope`]), and lets
//! `account_key_pw` be empty: a device that adopts another device's
//! password change drops the box sealed under the old password, and seals
//! the Account Key again at its first unlock with the new one. Version 1
//! files are read (a key pair is made for them).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use coffer_proto::reply::ResetDetails;
use coffer_vault::account::UnlockSecret;
use coffer_vault::account_key::AccountKey;
use coffer_vault::device_key::{DeviceKeyContext, Slot};
use coffer_vault::secret::SecretKey;
use serde::{Deserialize, Serialize};

/// The file's format name.
pub const FORMAT: &str = "coffer-device";
/// The version written (1 is read too).
pub const VERSION: u32 = 2;

/// The persisted sign-in of this device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// The account.
    pub account_id: uuid::Uuid,
    /// The account email.
    pub email: String,
    /// The epoch this device is signed in to (or was, in state reset).
    pub epoch: u64,
    /// This device's id for this sign-in.
    pub device_id: String,
    /// This device's friendly name.
    pub device_name: String,
    /// The sync folders.
    #[serde(default)]
    pub sync_folders: Vec<PathBuf>,
    /// Account Key sealed under the stretched password (empty once dropped,
    /// until the next unlock seals it under the new password).
    #[serde(with = "b64")]
    pub account_key_pw: Vec<u8>,
    /// Account Key sealed under the vault key.
    #[serde(with = "b64")]
    pub account_key_vk: Vec<u8>,
    /// The secret half of this device's unlock key pair (made when missing).
    #[serde(default, with = "b64_opt")]
    pub unlock_secret: Option<Vec<u8>>,
    /// Set once the account was reset: this device waits for a new login.
    #[serde(default)]
    pub reset: Option<ResetDetails>,
}

mod b64_opt {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

impl DeviceRecord {
    /// A new sign-in record of `device_id` to `header`'s account and epoch,
    /// with the Account Key sealed in it.
    pub fn new(
        header: &coffer_vault::account::AccountHeader,
        device_id: String,
        device_name: String,
        sync_folders: Vec<PathBuf>,
        keys: (&AccountKey, &SecretKey, &SecretKey),
    ) -> DeviceRecord {
        let mut rec = DeviceRecord {
            format: FORMAT.into(),
            version: VERSION,
            account_id: header.account_id,
            email: header.email.clone(),
            epoch: header.epoch,
            device_id,
            device_name,
            sync_folders,
            account_key_pw: Vec::new(),
            account_key_vk: Vec::new(),
            unlock_secret: None,
            reset: None,
        };
        rec.ensure_unlock_secret();
        let (ak, stretched, vault_key) = keys;
        rec.seal_account_key(ak, stretched, vault_key);
        rec
    }

    fn key_context(&self) -> DeviceKeyContext<'_> {
        DeviceKeyContext {
            account_id: self.account_id,
            epoch: self.epoch,
            device_id: &self.device_id,
        }
    }

    /// Seals the Account Key under both keys (see [`coffer_vault::device_key`]).
    pub fn seal_account_key(
        &mut self,
        ak: &AccountKey,
        stretched: &SecretKey,
        vault_key: &SecretKey,
    ) {
        let ctx = self.key_context();
        let pw = ctx.seal(Slot::Password, stretched, ak);
        let vk = ctx.seal(Slot::VaultKey, vault_key, ak);
        self.account_key_pw = pw;
        self.account_key_vk = vk;
    }

    /// The Account Key, with the stretched password. `None` = wrong password
    /// (or the box was dropped after another device changed the password).
    pub fn open_account_key_pw(&self, stretched: &SecretKey) -> Option<AccountKey> {
        if self.account_key_pw.is_empty() {
            return None;
        }
        self.key_context()
            .open(Slot::Password, stretched, &self.account_key_pw)
    }

    /// Seals the Account Key under a new stretched password only (the vault
    /// key's box stays: the vault key does not change within an epoch).
    pub fn seal_account_key_pw(&mut self, ak: &AccountKey, stretched: &SecretKey) {
        let pw = self.key_context().seal(Slot::Password, stretched, ak);
        self.account_key_pw = pw;
    }

    /// Drops the box sealed under the password: after another device
    /// changed the password, the old one must open nothing here.
    pub fn drop_account_key_pw(&mut self) {
        self.account_key_pw.clear();
    }

    /// Makes this device's unlock key pair if it has none (a version-1
    /// file, a damaged entry). `true` when one was made (save the file).
    pub fn ensure_unlock_secret(&mut self) -> bool {
        if self.unlock_secret().is_some() {
            return false;
        }
        self.unlock_secret = Some(UnlockSecret::generate().to_bytes().to_vec());
        true
    }

    /// The secret half of this device's unlock key pair.
    pub fn unlock_secret(&self) -> Option<UnlockSecret> {
        let bytes: [u8; 32] = self.unlock_secret.as_deref()?.try_into().ok()?;
        Some(UnlockSecret::from_bytes(bytes))
    }

    /// The Account Key, with the vault key.
    pub fn open_account_key_vk(&self, vault_key: &SecretKey) -> Option<AccountKey> {
        self.key_context()
            .open(Slot::VaultKey, vault_key, &self.account_key_vk)
    }

    /// Reads `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> anyhow::Result<Option<DeviceRecord>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt ({e}); move it away to sign in again",
                path.display()
            )
        })?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            anyhow::bail!("{} is not a coffer device file", path.display());
        }
        let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0);
        if version != 1 && version != u64::from(VERSION) {
            anyhow::bail!(
                "{} is device-file version {version}, which this cofferd does not know; update coffer",
                path.display()
            );
        }
        let mut rec: DeviceRecord = serde_json::from_value(v).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt ({e}); move it away to sign in again",
                path.display()
            )
        })?;
        rec.version = VERSION;
        if rec.ensure_unlock_secret() {
            // A version-1 file: give it a key pair now, kept at once (its
            // public half gets published; it must not change at restart).
            tracing::info!("made this device's unlock key pair");
            if let Err(e) = rec.save(path) {
                tracing::warn!(error = %e, "could not save the device's new unlock key pair");
            }
        }
        Ok(Some(rec))
    }

    /// Writes atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::store::fsutil::write_atomic(path, &bytes, 0o600)
    }
}

/// Base64 helper for protocol blobs.
pub fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Base64 helper for protocol blobs.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}
