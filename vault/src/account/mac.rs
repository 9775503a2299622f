//! What the header's MAC covers (a canonical, length-prefixed encoding of
//! every other field), the wrapped vault key's associated data, and the
//! order of competing headers.

use std::cmp::Reverse;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{AccountHeader, FORMAT, KDF_ALGORITHM, MAC_KEY_PURPOSE, MAC_LABEL, WRAP_AD_LABEL};
use crate::aead;
use crate::secret::SecretKey;

/// The order of competing headers: the greatest wins.
///
/// A higher epoch wins. At equal epochs, headers of two lineages (two
/// devices reset at once) are ordered by the smaller SHA-256 of their reset
/// details (the lineage, which a password change keeps); within a lineage
/// the higher generation wins, then the header whose MAC input and MAC have
/// the smaller SHA-256 (only identical headers tie).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    epoch: u64,
    lineage_digest: Reverse<[u8; 32]>,
    generation: u64,
    header_digest: Reverse<[u8; 32]>,
}

impl Precedence {
    /// The generation it orders by.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Canonical, length-prefixed encoding for the MAC (see `docs/FORMAT.md`).
pub(super) struct Canonical(pub(super) Vec<u8>);

const LINEAGE_LABEL: &[u8] = b"coffer lineage v1";

impl Canonical {
    pub(super) fn reset(&mut self, reset: Option<&super::ResetInfo>) {
        match reset {
            None => self.u8(0),
            Some(r) => {
                self.u8(1);
                self.u64(r.at_ms);
                self.bytes(r.by_device_id.as_bytes());
                self.bytes(r.by_device_name.as_bytes());
                self.u64(r.previous_epoch);
            }
        }
    }
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
            lineage_digest: Reverse(self.lineage()),
            generation: self.generation,
            header_digest: Reverse(Sha256::digest(&whole).into()),
        }
    }

    /// SHA-256 of the lineage: `lp("coffer lineage v1") || uuid16(account_id)
    /// || u64be(epoch) || reset` (the reset encoded as in the MAC).
    pub fn lineage(&self) -> [u8; 32] {
        let mut c = Canonical(Vec::with_capacity(128));
        c.bytes(LINEAGE_LABEL);
        c.0.extend_from_slice(self.account_id.as_bytes());
        c.u64(self.epoch);
        c.reset(self.reset.as_ref());
        Sha256::digest(&c.0).into()
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
        c.u64(self.version);
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
        c.reset(self.reset.as_ref());
        if self.version >= 2 {
            c.u64(self.generation);
            match &self.changed {
                None => c.u8(0),
                Some(ch) => {
                    c.u8(1);
                    c.u64(ch.at_ms);
                    c.bytes(ch.by_device_id.as_bytes());
                    c.bytes(ch.by_device_name.as_bytes());
                }
            }
            c.u64(self.envelopes.len() as u64);
            for e in &self.envelopes {
                c.bytes(e.device_id.as_bytes());
                c.bytes(&e.recipient.0);
                c.bytes(&e.ephemeral);
                c.bytes(&e.sealed);
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
