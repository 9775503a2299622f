//! What the header's MAC covers (a canonical, length-prefixed encoding of
//! every other field), the wrapped vault key's associated data, and the
//! order of competing headers.

use std::cmp::Reverse;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{
    AccountHeader, FORMAT, KDF_ALGORITHM, MAC_KEY_PURPOSE, MAC_LABEL, VERSION, WRAP_AD_LABEL,
};
use crate::aead;
use crate::secret::SecretKey;

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
pub(super) struct Canonical(pub(super) Vec<u8>);

impl Canonical {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn bytes(&mut self, b: &[u8]) {
        // usize is at most 64 bits on every supported target.
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    pub(super) fn json(&mut self, v: &Value) {
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
    pub(super) fn object(&mut self, map: &Map<String, Value>) {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.u64(entries.len() as u64);
        for (k, v) in entries {
            self.bytes(k.as_bytes());
            self.json(v);
        }
    }
}

impl AccountHeader {
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
    /// Associated data of the wrapped vault key.
    pub(super) fn wrap_ad(&self) -> Vec<u8> {
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
    pub(super) fn mac_input(&self) -> Vec<u8> {
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

    pub(super) fn mac_state(&self, vault_key: &SecretKey) -> Hmac<Sha256> {
        let mac_key = aead::subkey(vault_key, MAC_KEY_PURPOSE);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.expose())
            // HMAC accepts keys of any length.
            .expect("HMAC-SHA256 accepts a 32-byte key");
        mac.update(&self.mac_input());
        mac
    }

    pub(super) fn compute_mac(&self, vault_key: &SecretKey) -> Vec<u8> {
        self.mac_state(vault_key).finalize().into_bytes().to_vec()
    }
}
