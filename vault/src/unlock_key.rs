//! A device's public unlock key as it publishes it in the sync folder,
//! `<account_id>/unlock-<device_id>.json`, written only by that device.
//!
//! A password change on another device seals the Account Key to this key
//! (see [`crate::account::Envelope`]), so the device can unlock with the new
//! password alone. The file is authenticated with an HMAC under a subkey of
//! the vault key: only a holder of the vault key can make one that another
//! device seals to.
//!
//! ```json
//! {"format": "coffer-unlock-key", "version": 1, "account_id": "…", "epoch": 1,
//!  "device_id": "…", "device_name": "…", "public_key": "<b64 32>", "mac": "<b64 32>"}
//! ```
//! `mac = HMAC-SHA256(HKDF-SHA256(vault key, info = "coffer unlock key mac v1"),
//! lp("coffer unlock key v1") || uuid16(account_id) || u64be(epoch) || lp(device_id)
//! || lp(device_name) || lp(public_key))`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::account::UnlockPublic;
use crate::aead;
use crate::error::FormatError;
use crate::secret::SecretKey;

/// The `format` member.
pub const FORMAT: &str = "coffer-unlock-key";
/// The version this coffer writes and reads.
pub const VERSION: u64 = 1;
const MAC_PURPOSE: &[u8] = b"coffer unlock key mac v1";
const MAC_LABEL: &[u8] = b"coffer unlock key v1";

/// One device's published unlock key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockKeyFile {
    /// The account.
    pub account_id: uuid::Uuid,
    /// The epoch the device is signed in to.
    pub epoch: u64,
    /// The device.
    pub device_id: String,
    /// Its friendly name.
    pub device_name: String,
    /// The public half of its unlock key pair.
    pub public_key: UnlockPublic,
    /// HMAC-SHA256 under the vault key.
    pub mac: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Json {
    format: String,
    version: u64,
    account_id: uuid::Uuid,
    epoch: u64,
    device_id: String,
    device_name: String,
    public_key: String,
    mac: String,
}

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

impl UnlockKeyFile {
    /// A new file for `public_key`, MACed under `vault_key`.
    pub fn new(
        account_id: uuid::Uuid,
        epoch: u64,
        device_id: &str,
        device_name: &str,
        public_key: UnlockPublic,
        vault_key: &SecretKey,
    ) -> UnlockKeyFile {
        let mut f = UnlockKeyFile {
            account_id,
            epoch,
            device_id: device_id.to_owned(),
            device_name: device_name.to_owned(),
            public_key,
            mac: [0; 32],
        };
        f.mac = f.mac_state(vault_key).finalize().into_bytes().into();
        f
    }

    fn mac_state(&self, vault_key: &SecretKey) -> Hmac<Sha256> {
        let key = aead::subkey(vault_key, MAC_PURPOSE);
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.expose())
            // HMAC accepts keys of any length.
            .expect("HMAC-SHA256 accepts a 32-byte key");
        let mut input = Vec::with_capacity(128);
        lp(&mut input, MAC_LABEL);
        input.extend_from_slice(self.account_id.as_bytes());
        input.extend_from_slice(&self.epoch.to_be_bytes());
        lp(&mut input, self.device_id.as_bytes());
        lp(&mut input, self.device_name.as_bytes());
        lp(&mut input, &self.public_key.0);
        m.update(&input);
        m
    }

    /// Whether the MAC holds under `vault_key` (constant time).
    pub fn verify(&self, vault_key: &SecretKey) -> bool {
        self.mac_state(vault_key).verify_slice(&self.mac).is_ok()
    }

    /// The file's bytes (pretty JSON, final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let j = Json {
            format: FORMAT.into(),
            version: VERSION,
            account_id: self.account_id,
            epoch: self.epoch,
            device_id: self.device_id.clone(),
            device_name: self.device_name.clone(),
            public_key: BASE64.encode(self.public_key.0),
            mac: BASE64.encode(self.mac),
        };
        // Strings and integers always serialize.
        let mut out = serde_json::to_vec_pretty(&j).expect("an unlock key serializes");
        out.push(b'\n');
        out
    }

    /// Reads a file; not authenticated (see [`verify`](Self::verify)).
    pub fn from_json(bytes: &[u8]) -> Result<UnlockKeyFile, FormatError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::Corrupt(format!("unlock key is not valid JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(FormatError::NotThisFormat { expected: FORMAT });
        }
        match v.get("version").and_then(|f| f.as_u64()) {
            Some(VERSION) => {}
            Some(version) => {
                return Err(FormatError::UnknownVersion {
                    format: FORMAT,
                    version,
                })
            }
            None => {
                return Err(FormatError::Corrupt(
                    "unlock key has no valid version".into(),
                ))
            }
        }
        let j: Json = serde_json::from_value(v)
            .map_err(|e| FormatError::Corrupt(format!("unlock key: {e}")))?;
        let b32 = |field: &str, text: &str| -> Result<[u8; 32], FormatError> {
            let b = BASE64
                .decode(text)
                .map_err(|e| FormatError::Corrupt(format!("unlock key: {field}: {e}")))?;
            b.try_into()
                .map_err(|_| FormatError::Corrupt(format!("unlock key: {field} is not 32 bytes")))
        };
        Ok(UnlockKeyFile {
            account_id: j.account_id,
            epoch: j.epoch,
            public_key: UnlockPublic(b32("public_key", &j.public_key)?),
            mac: b32("mac", &j.mac)?,
            device_id: j.device_id,
            device_name: j.device_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::UnlockSecret;

    #[test]
    fn round_trip_and_authentication() {
        let vk = SecretKey::generate();
        let f = UnlockKeyFile::new(
            uuid::Uuid::new_v4(),
            2,
            "dev",
            "laptop",
            UnlockSecret::generate().public(),
            &vk,
        );
        let back = UnlockKeyFile::from_json(&f.to_json()).expect("reads");
        assert_eq!(back, f);
        assert!(back.verify(&vk));
        assert!(!back.verify(&SecretKey::generate()));
        for edit in [
            |f: &mut UnlockKeyFile| f.epoch += 1,
            |f: &mut UnlockKeyFile| f.device_id.push('x'),
            |f: &mut UnlockKeyFile| f.device_name.push('x'),
            |f: &mut UnlockKeyFile| f.public_key.0[0] ^= 1,
        ] {
            let mut t = f.clone();
            edit(&mut t);
            assert!(!t.verify(&vk));
        }
        let text = String::from_utf8(f.to_json()).expect("utf8");
        assert!(matches!(
            UnlockKeyFile::from_json(text.replace("\"version\": 1", "\"version\": 2").as_bytes()),
            Err(FormatError::UnknownVersion { version: 2, .. })
        ));
        assert!(matches!(
            UnlockKeyFile::from_json(b"{\"format\":\"x\"}"),
            Err(FormatError::NotThisFormat { .. })
        ));
        assert!(matches!(
            UnlockKeyFile::from_json(&f.to_json()[..40]),
            Err(FormatError::Corrupt(_))
        ));
    }
}
