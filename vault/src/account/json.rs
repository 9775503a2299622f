//! `account.json` as it is written and read.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::envelope::{Envelope, UnlockPublic};
use super::{
    AccountHeader, ChangeInfo, ResetInfo, FORMAT, KDF_ALGORITHM, MAC_LEN, VERSION, VERSION_1,
    WRAPPED_KEY_LEN,
};
use crate::error::FormatError;
use crate::kdf::KdfParams;

impl AccountHeader {
    /// `account.json`: pretty JSON beginning with
    /// `{"format": "coffer-account", "version": 2, …`, then the fields in
    /// struct order, binary fields in padded standard base64, and a final
    /// newline. A header read as version 1 is written as version 1 (without
    /// the members version 2 added), so that its MAC still holds.
    pub fn to_json(&self) -> Vec<u8> {
        let v2 = self.version != VERSION_1;
        let json = HeaderJson {
            format: FORMAT.to_owned(),
            version: self.version,
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
            generation: v2.then_some(self.generation),
            changed: v2.then(|| self.changed.clone()),
            envelopes: v2.then(|| {
                self.envelopes
                    .iter()
                    .map(|e| EnvelopeJson {
                        device_id: e.device_id.clone(),
                        recipient: BASE64.encode(e.recipient.0),
                        ephemeral: BASE64.encode(e.ephemeral),
                        sealed: BASE64.encode(&e.sealed),
                    })
                    .collect()
            }),
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
        if version != VERSION && version != VERSION_1 {
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
        let (generation, changed, envelopes) =
            match (version, json.generation, json.changed, json.envelopes) {
                (VERSION_1, None, None, None) => (0, None, Vec::new()),
                (VERSION_1, ..) => {
                    return Err(FormatError::Corrupt(
                        "account header: version 1 has no generation, changed or envelopes".into(),
                    ))
                }
                (_, Some(g), Some(c), Some(e)) => (g, c, envelopes(e)?),
                _ => {
                    return Err(FormatError::Corrupt(
                        "account header: version 2 needs generation, changed and envelopes".into(),
                    ))
                }
            };
        Ok(AccountHeader {
            version,
            generation,
            changed,
            envelopes,
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
}

fn envelopes(list: Vec<EnvelopeJson>) -> Result<Vec<Envelope>, FormatError> {
    if list.len() > MAX_ENVELOPES {
        return Err(FormatError::Corrupt(format!(
            "account header: {} envelopes, at most {MAX_ENVELOPES}",
            list.len()
        )));
    }
    let key32 = |field: &str, text: &str| -> Result<[u8; 32], FormatError> {
        let b = decode_len(field, text, 32)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&b);
        Ok(out)
    };
    list.into_iter()
        .map(|e| {
            let sealed = decode("envelopes.sealed", &e.sealed)?;
            if !(40..=256).contains(&sealed.len()) {
                return Err(FormatError::Corrupt(format!(
                    "account header: an envelope is {} bytes, expected 40 to 256",
                    sealed.len()
                )));
            }
            Ok(Envelope {
                device_id: e.device_id,
                recipient: UnlockPublic(key32("envelopes.recipient", &e.recipient)?),
                ephemeral: key32("envelopes.ephemeral", &e.ephemeral)?,
                sealed,
            })
        })
        .collect()
}

/// More envelopes than this (one per signed-in device) make a header corrupt.
pub const MAX_ENVELOPES: usize = 1024;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    changed: Option<Option<ChangeInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    envelopes: Option<Vec<EnvelopeJson>>,
    mac: String,
}

/// A member that is present (even as `null`) is `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    device_id: String,
    recipient: String,
    ephemeral: String,
    sealed: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    algorithm: String,
    m_kib: u32,
    t: u32,
    p: u32,
}
