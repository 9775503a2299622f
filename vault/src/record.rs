//! Record versions: one sealed version of one item (or its tombstone).
//!
//! A [`RecordVersion`] keeps its identity and causality in the clear (item
//! id, dot, context, deleted flag) so that states merge without the key, and
//! binds all of it, with the account and epoch, into the associated data of
//! its XChaCha20-Poly1305 box. A version therefore cannot be moved to another
//! item, dot, context, epoch or account, nor have its deleted flag flipped:
//! any of these makes [`open_record`] fail.
//!
//! The key is `aead::subkey(vault_key, "coffer records v1")` ([`RecordKey`]).
//! The associated data is the concatenation of length-prefixed parts (each a
//! 4-byte big-endian length, then the bytes):
//!
//! 1. the label `coffer record v1`
//! 2. `account_id` (16 bytes)
//! 3. `epoch` (8 bytes, big-endian)
//! 4. item id (16 bytes)
//! 5. dot device (16 bytes)
//! 6. dot counter (8 bytes, big-endian)
//! 7. context: for each entry in device order, device (16 bytes) then
//!    counter (8 bytes, big-endian); no zero entries
//! 8. deleted flag (1 byte, 0 or 1)
//!
//! The sealed plaintext is the item's compact JSON ([`Item::to_json`]) or,
//! for a tombstone, a [`Tombstone`]'s JSON (`{"id", "s": [wall_ms,
//! counter], "d": device}`, and `"i"`: the item's last content while it is
//! in the trash).
//!
//! The sealed bytes are shared ([`Arc<[u8]>`](Arc)): copies of a version, as
//! merges and copies of a state make, do not copy the ciphertext.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::aead;
use crate::hlc::Hlc;
use crate::ids::{DeviceId, ItemId};
use crate::item::{to_json_zeroizing, Item};
use crate::secret::SecretKey;
use crate::vv::{Dot, VersionVector};

/// HKDF purpose of the record key.
pub const RECORD_KEY_PURPOSE: &[u8] = b"coffer records v1";
/// First part of every record's associated data.
pub const RECORD_AD_LABEL: &[u8] = b"coffer record v1";

/// The key that seals records, derived from the vault key.
#[derive(Clone, Debug)]
pub struct RecordKey(SecretKey);

impl RecordKey {
    /// Derives the record key from the vault key.
    pub fn derive(vault_key: &SecretKey) -> Self {
        RecordKey(aead::subkey(vault_key, RECORD_KEY_PURPOSE))
    }
}

/// One version of one item as stored and synced.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordVersion {
    /// The item this is a version of.
    pub id: ItemId,
    /// This write.
    pub dot: Dot,
    /// The versions of this item it supersedes.
    pub context: VersionVector,
    /// True for a tombstone.
    pub deleted: bool,
    /// `nonce || ciphertext || tag` of the plaintext (immutable, shared by
    /// every copy of this version).
    #[serde(with = "b64")]
    pub sealed: Arc<[u8]>,
}

impl fmt::Debug for RecordVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordVersion")
            .field("id", &self.id)
            .field("dot", &self.dot)
            .field("context", &self.context)
            .field("deleted", &self.deleted)
            .field("sealed_len", &self.sealed.len())
            .finish()
    }
}

/// What a deleted item's version seals: when and by whom it was deleted,
/// and, while the item is in the vault's trash, its last content.
///
/// JSON: `{"id": "<item id>", "s": [wall_ms, counter], "d": "<device id>",
/// "i": <the item, as a live version seals it>}`; `i` is left out for a
/// purged item (an emptied trash, or a deletion written before the trash
/// existed), and readers that do not know it ignore it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The deleted item.
    pub id: ItemId,
    /// When it was deleted.
    #[serde(rename = "s", with = "crate::hlc::pair")]
    pub stamp: Hlc,
    /// The device that deleted it.
    #[serde(rename = "d")]
    pub device: DeviceId,
    /// The item's last content while it is in the trash (`None` once
    /// purged: the deletion then carries nothing but when and by whom).
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Item>,
}

impl Tombstone {
    /// True while the item is in the trash (the tombstone keeps its content).
    pub fn in_trash(&self) -> bool {
        self.content.is_some()
    }
}

/// The opened plaintext of a record version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordPlain {
    /// A live item.
    Item(Item),
    /// A deletion.
    Tombstone(Tombstone),
}

impl RecordPlain {
    /// The item id inside the plaintext.
    pub fn id(&self) -> ItemId {
        match self {
            RecordPlain::Item(i) => i.id,
            RecordPlain::Tombstone(t) => t.id,
        }
    }

    /// True for a tombstone.
    pub fn is_deleted(&self) -> bool {
        matches!(self, RecordPlain::Tombstone(_))
    }

    /// The JSON a record seals, in a buffer wiped when dropped.
    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        match self {
            RecordPlain::Item(item) => item.to_json(),
            RecordPlain::Tombstone(t) => {
                to_json_zeroizing(t, 160 + t.content.as_ref().map_or(0, Item::size_hint))
            }
        }
    }

    /// The highest stamp in the plaintext.
    pub(crate) fn max_stamp(&self) -> Option<Hlc> {
        match self {
            RecordPlain::Item(i) => i.max_stamp(),
            RecordPlain::Tombstone(t) => {
                let content = t.content.as_ref().and_then(Item::max_stamp);
                Some(content.map_or(t.stamp, |c| c.max(t.stamp)))
            }
        }
    }
}

/// A record version could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordOpenError {
    /// Authentication failed: wrong key, tampered bytes, or a version moved
    /// to another item, dot, context, flag, epoch or account.
    #[error("record does not authenticate: wrong key, tampered, or moved")]
    Decrypt,
    /// It authenticated but its plaintext is not what it should be (a bug
    /// in the writer). The text never contains field values.
    #[error("record plaintext is malformed: {0}")]
    Malformed(String),
}

/// The associated data binding a version to its account, epoch, id, dot,
/// context and flag (layout in the module docs).
pub fn record_ad(
    account_id: Uuid,
    epoch: u64,
    id: ItemId,
    dot: &Dot,
    context: &VersionVector,
    deleted: bool,
) -> Vec<u8> {
    let mut ctx = Vec::with_capacity(context.len() * 24);
    for (device, counter) in context.iter() {
        ctx.extend_from_slice(device.as_bytes());
        ctx.extend_from_slice(&counter.to_be_bytes());
    }
    let parts: [&[u8]; 8] = [
        RECORD_AD_LABEL,
        account_id.as_bytes(),
        &epoch.to_be_bytes(),
        id.as_bytes(),
        dot.device.as_bytes(),
        &dot.counter.to_be_bytes(),
        &ctx,
        &[u8::from(deleted)],
    ];
    let mut ad = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for p in parts {
        let len = u32::try_from(p.len()).expect("an associated-data part is far below 4 GiB");
        ad.extend_from_slice(&len.to_be_bytes());
        ad.extend_from_slice(p);
    }
    ad
}

/// Seals `plain` as the version `dot` of its item, superseding `context`.
pub fn seal_record(
    key: &RecordKey,
    account_id: Uuid,
    epoch: u64,
    dot: Dot,
    context: VersionVector,
    plain: &RecordPlain,
) -> RecordVersion {
    let id = plain.id();
    let deleted = plain.is_deleted();
    let json = plain.to_json();
    let ad = record_ad(account_id, epoch, id, &dot, &context, deleted);
    let sealed = aead::seal(&key.0, &ad, &json).into();
    RecordVersion {
        id,
        dot,
        context,
        deleted,
        sealed,
    }
}

/// Opens a version sealed by [`seal_record`] for the same account and epoch.
pub fn open_record(
    key: &RecordKey,
    account_id: Uuid,
    epoch: u64,
    version: &RecordVersion,
) -> Result<RecordPlain, RecordOpenError> {
    open_record_json(key, account_id, epoch, version).map(|(plain, _)| plain)
}

/// [`open_record`], also giving the plaintext's JSON (as the replica's
/// cache keeps it).
pub(crate) fn open_record_json(
    key: &RecordKey,
    account_id: Uuid,
    epoch: u64,
    version: &RecordVersion,
) -> Result<(RecordPlain, Zeroizing<Vec<u8>>), RecordOpenError> {
    let ad = record_ad(
        account_id,
        epoch,
        version.id,
        &version.dot,
        &version.context,
        version.deleted,
    );
    let json = aead::open(&key.0, &ad, &version.sealed).map_err(|_| RecordOpenError::Decrypt)?;
    let plain = parse_plain(version, &json)?;
    Ok((plain, json))
}

/// Parses the opened plaintext of `version` and checks its item id.
pub(crate) fn parse_plain(
    version: &RecordVersion,
    json: &[u8],
) -> Result<RecordPlain, RecordOpenError> {
    let plain = if version.deleted {
        serde_json::from_slice::<Tombstone>(json).map(|mut t| {
            if let Some(item) = &mut t.content {
                item.normalize();
            }
            RecordPlain::Tombstone(t)
        })
    } else {
        Item::from_json(json).map(RecordPlain::Item)
    }
    .map_err(|e| {
        RecordOpenError::Malformed(format!(
            "not a valid JSON {}: line {} column {}",
            if version.deleted { "tombstone" } else { "item" },
            e.line(),
            e.column()
        ))
    })?;
    if plain.id() != version.id {
        return Err(RecordOpenError::Malformed(
            "the sealed item id differs from the record's".into(),
        ));
    }
    if let RecordPlain::Tombstone(Tombstone {
        content: Some(item),
        ..
    }) = &plain
    {
        if item.id != version.id {
            return Err(RecordOpenError::Malformed(
                "the trashed content's item id differs from the record's".into(),
            ));
        }
    }
    Ok(plain)
}

/// Serde helper: bytes as standard base64 (with padding).
pub(crate) mod b64 {
    use std::sync::Arc;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Arc::from)
            .map_err(|e| D::Error::custom(format!("bad base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Clock;
    use crate::secret::SecretString;

    fn setup() -> (RecordKey, Uuid, Item, Dot, VersionVector) {
        let key = RecordKey::derive(&SecretKey::generate());
        let dev = DeviceId::new_random();
        let mut item = Item::new(ItemId::new_random(), 1);
        item.apply(
            vec![("title".into(), Some(SecretString::from("Mail")))],
            &mut Clock::new(),
            1,
            dev,
        );
        let ctx: VersionVector = [(DeviceId::new_random(), 3)].into_iter().collect();
        (key, Uuid::new_v4(), item, Dot::new(dev, 4), ctx)
    }

    #[test]
    fn round_trip_item_and_tombstone() {
        let (key, acct, item, dot, ctx) = setup();
        let v = seal_record(
            &key,
            acct,
            1,
            dot,
            ctx.clone(),
            &RecordPlain::Item(item.clone()),
        );
        assert!(!v.deleted);
        assert_eq!(
            open_record(&key, acct, 1, &v).unwrap(),
            RecordPlain::Item(item.clone())
        );
        let t = Tombstone {
            id: item.id,
            stamp: Hlc::new(5, 0),
            device: dot.device,
            content: None,
        };
        let v = seal_record(
            &key,
            acct,
            1,
            dot,
            ctx.clone(),
            &RecordPlain::Tombstone(t.clone()),
        );
        assert!(v.deleted);
        assert_eq!(
            open_record(&key, acct, 1, &v).unwrap(),
            RecordPlain::Tombstone(t.clone())
        );
        // In the trash: the content rides along, sealed with the rest.
        let trashed = Tombstone {
            content: Some(item.clone()),
            ..t
        };
        let v = seal_record(
            &key,
            acct,
            1,
            dot,
            ctx,
            &RecordPlain::Tombstone(trashed.clone()),
        );
        assert_eq!(
            open_record(&key, acct, 1, &v).unwrap(),
            RecordPlain::Tombstone(trashed)
        );
    }

    #[test]
    fn tombstone_json_old_and_new() {
        let id = "09090909-0909-0909-0909-090909090909";
        let d = "01010101-0101-0101-0101-010101010101";
        // Written before the trash: no content; unknown keys ignored.
        let old = format!(r#"{{"id":"{id}","s":[5,1],"d":"{d}","later":true}}"#);
        let t: Tombstone = serde_json::from_str(&old).unwrap();
        assert!(!t.in_trash());
        assert_eq!(t.stamp, Hlc::new(5, 1));
        // In the trash: the item's compact JSON under "i".
        let new = format!(
            r#"{{"id":"{id}","s":[5,1],"d":"{d}","i":{{"id":"{id}","c":1,"d":["{d}"],"f":{{"title":["Bank",1,0,0]}}}}}}"#
        );
        let t: Tombstone = serde_json::from_str(&new).unwrap();
        assert_eq!(t.content.as_ref().unwrap().title(), "Bank");
        let written = String::from_utf8(RecordPlain::Tombstone(t).to_json().to_vec()).unwrap();
        assert_eq!(written, new);
    }

    #[test]
    fn every_moved_or_flipped_version_fails() {
        let (key, acct, item, dot, ctx) = setup();
        let v = seal_record(&key, acct, 2, dot, ctx, &RecordPlain::Item(item));
        let fails = |w: &RecordVersion, acct2: Uuid, epoch: u64| {
            assert_eq!(
                open_record(&key, acct2, epoch, w),
                Err(RecordOpenError::Decrypt)
            );
        };
        fails(&v, acct, 1);
        fails(&v, Uuid::new_v4(), 2);
        let mut w = v.clone();
        w.id = ItemId::new_random();
        fails(&w, acct, 2);
        let mut w = v.clone();
        w.dot.counter += 1;
        fails(&w, acct, 2);
        let mut w = v.clone();
        w.dot.device = DeviceId::new_random();
        fails(&w, acct, 2);
        let mut w = v.clone();
        w.context.insert_dot(&Dot::new(DeviceId::new_random(), 1));
        fails(&w, acct, 2);
        let mut w = v.clone();
        w.deleted = true;
        fails(&w, acct, 2);
        let mut w = v.clone();
        let mut bytes = w.sealed.to_vec();
        bytes[30] ^= 1;
        w.sealed = bytes.into();
        fails(&w, acct, 2);
        let other = RecordKey::derive(&SecretKey::generate());
        assert_eq!(
            open_record(&other, acct, 2, &v),
            Err(RecordOpenError::Decrypt)
        );
    }

    #[test]
    fn ad_is_length_prefixed_and_canonical() {
        let (_, acct, item, dot, ctx) = setup();
        let ad = record_ad(acct, 7, item.id, &dot, &ctx, false);
        // 8 parts of 4-byte lengths + 16 + 16 + 8 + 16 + 16 + 8 + 24 + 1.
        assert_eq!(
            ad.len(),
            8 * 4 + RECORD_AD_LABEL.len() + 16 + 8 + 16 + 16 + 8 + 24 + 1
        );
        assert_eq!(&ad[..4], &(RECORD_AD_LABEL.len() as u32).to_be_bytes());
        assert_ne!(ad, record_ad(acct, 7, item.id, &dot, &ctx, true));
    }

    #[test]
    fn debug_hides_ciphertext_and_plaintext() {
        let (key, acct, item, dot, ctx) = setup();
        let v = seal_record(&key, acct, 1, dot, ctx, &RecordPlain::Item(item.clone()));
        assert!(format!("{v:?}").contains("sealed_len"));
        assert!(!format!("{:?}", RecordPlain::Item(item)).contains("Mail"));
    }
}
