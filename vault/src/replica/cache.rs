//! The plaintext cache: opened versions per item, keyed by the versions'
//! signatures and by the key, so that listing a large vault decrypts each
//! record once.

use std::collections::HashMap;
use std::sync::MutexGuard;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::siblings::{live_view, trash_view};
use super::{Replica, VaultError, CACHE_CHECK_PURPOSE};
use crate::aead;
use crate::ids::ItemId;
use crate::item::Item;
use crate::record::Tombstone;
use crate::record::{open_record_json, parse_plain, RecordKey, RecordPlain, RecordVersion};
use crate::secret::SecretKey;
use crate::vv::{Dot, VersionVector};

/// Opened plaintexts of one item's versions, valid while the versions'
/// signatures match.
///
/// An entry is never updated in place: when the item's versions change
/// (a write, a merge, a compaction), [`Replica::cached`] finds the
/// signatures differ and replaces the whole entry, so everything derived
/// from the plaintexts and kept here is dropped with them.
pub(super) struct CachedItem {
    pub(super) sigs: Sigs,
    pub(super) plains: CachedPlains,
    /// The live view's title, lowercased (set to `None`: not a live item),
    /// for [`Replica::find_by_title`]; worked out on the entry's first
    /// title lookup, so that later ones compare strings instead of parsing
    /// every item. Item plaintext like `plains`: wiped when dropped, and
    /// dropped with the cache when the vault locks.
    pub(super) title_lc: std::cell::OnceCell<Option<Zeroizing<Box<str>>>>,
}

/// The plaintexts of the versions not superseded by another one (all of
/// them once the state is compacted).
pub(super) enum CachedPlains {
    /// The usual case, one current version that is a live item: its JSON,
    /// a third of the parsed item's size (a vault of 100,000 items stays
    /// well under 200 MB unlocked), parsed again on each read.
    Json(Zeroizing<Box<[u8]>>),
    /// Anything else: the plaintexts in dot order, and their live view
    /// when there are several and one is live.
    Parsed {
        plains: Box<[RecordPlain]>,
        resolved: Option<Box<Item>>,
    },
}

/// A version's plaintext as it comes to the cache.
pub(super) enum Opened {
    /// Just opened: the JSON (already parsed once, so it parses).
    Json(Zeroizing<Vec<u8>>),
    /// Just written.
    Plain(RecordPlain),
}

impl Opened {
    pub(super) fn into_plain(self, v: &RecordVersion) -> RecordPlain {
        match self {
            Opened::Plain(p) => p,
            Opened::Json(json) => {
                parse_plain(v, &json).expect("a cached plaintext parsed when its record was opened")
            }
        }
    }

    /// The JSON in a buffer of its exact size (the opened or written one
    /// has spare capacity; it is wiped when dropped here).
    pub(super) fn into_json(self) -> Zeroizing<Box<[u8]>> {
        let json = match self {
            Opened::Json(json) => json,
            Opened::Plain(p) => p.to_json(),
        };
        Zeroizing::new(Box::from(json.as_slice()))
    }
}

impl CachedItem {
    /// `opened` holds one plaintext per version, in the versions' order.
    pub(super) fn new(versions: &[RecordVersion], opened: Vec<Opened>) -> Self {
        let mut current: Vec<(&RecordVersion, Opened)> = versions
            .iter()
            .zip(opened)
            .zip(current_flags(versions))
            .filter(|(_, c)| *c)
            .map(|(p, _)| p)
            .collect();
        let plains = match current.pop() {
            Some((v, o)) if current.is_empty() && !v.deleted => CachedPlains::Json(o.into_json()),
            last => {
                current.extend(last);
                let plains: Box<[RecordPlain]> =
                    current.into_iter().map(|(v, o)| o.into_plain(v)).collect();
                let resolved = if plains.len() > 1 {
                    view_of(&plains).map(Box::new)
                } else {
                    None
                };
                CachedPlains::Parsed { plains, resolved }
            }
        };
        CachedItem {
            sigs: Sigs::of(versions),
            plains,
            title_lc: std::cell::OnceCell::new(),
        }
    }

    /// The live view's title, lowercased; `None` when the item is deleted.
    /// Taken from [`view`](Self::view) on the first call, so it matches
    /// `view().map(|i| i.title().to_lowercase())` by construction.
    pub(super) fn title_lc(&self) -> Option<&str> {
        self.title_lc
            .get_or_init(|| {
                self.view()
                    .map(|item| Zeroizing::new(item.title().to_lowercase().into_boxed_str()))
            })
            .as_deref()
            .map(|t| &**t)
    }

    /// The live view (as [`view_of`] the plaintexts gives).
    pub(super) fn view(&self) -> Option<Item> {
        match &self.plains {
            CachedPlains::Json(json) => Some(parse_cached_item(json)),
            CachedPlains::Parsed {
                resolved: Some(r), ..
            } => Some(Item::clone(r)),
            CachedPlains::Parsed { plains, .. } => plains.iter().find_map(|p| match p {
                RecordPlain::Item(i) => Some(i.clone()),
                RecordPlain::Tombstone(_) => None,
            }),
        }
    }

    /// The deletion the item resolves to when it has no live version
    /// (with its content while it is in the trash).
    pub(super) fn trash(&self) -> Option<Tombstone> {
        match &self.plains {
            CachedPlains::Json(_) => None,
            CachedPlains::Parsed { plains, .. } => trash_view(plains),
        }
    }

    /// The current plaintexts, in dot order.
    pub(super) fn plains(&self) -> Vec<RecordPlain> {
        match &self.plains {
            CachedPlains::Json(json) => vec![RecordPlain::Item(parse_cached_item(json))],
            CachedPlains::Parsed { plains, .. } => plains.to_vec(),
        }
    }
}

pub(super) fn parse_cached_item(json: &[u8]) -> Item {
    Item::from_json(json).expect("a cached item's JSON parsed when its record was opened")
}

/// For each version, whether no other version of the item supersedes it
/// (they all are, once compacted; a locked union may leave superseded ones).
pub(super) fn current_flags(versions: &[RecordVersion]) -> Vec<bool> {
    versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            !versions
                .iter()
                .enumerate()
                .any(|(j, w)| j != i && w.context.covers(&v.dot))
        })
        .collect()
}

/// The signatures of an item's versions, in the versions' order; the
/// usual single one inline, so that checking an entry reads no other
/// allocation of the cache.
pub(super) enum Sigs {
    One(VersionSig),
    Many(Box<[VersionSig]>),
}

impl Sigs {
    pub(super) fn of(versions: &[RecordVersion]) -> Self {
        match versions {
            [v] => Sigs::One(VersionSig::of(v)),
            _ => Sigs::Many(versions.iter().map(VersionSig::of).collect()),
        }
    }

    /// Whether `versions` are the versions these were taken of.
    pub(super) fn matches(&self, versions: &[RecordVersion]) -> bool {
        let sigs = match self {
            Sigs::One(sig) => std::slice::from_ref(sig),
            Sigs::Many(sigs) => sigs,
        };
        sigs.len() == versions.len() && sigs.iter().zip(versions).all(|(s, v)| s.matches(v))
    }
}

/// What a cached plaintext was opened from: one version's dot, flag,
/// context and sealed bytes.
#[derive(PartialEq, Eq)]
pub(super) struct VersionSig {
    pub(super) dot: Dot,
    pub(super) deleted: bool,
    pub(super) context: VersionVector,
    /// The sealed bytes themselves, shared with the state rather than
    /// copied: the usual check finds the state still holds this very
    /// allocation and reads no ciphertext. Holding it keeps the address
    /// from being reused for other bytes while the entry lives (a stale
    /// entry keeps its old ciphertext, not plaintext, until it is next
    /// visited or the cache is dropped).
    pub(super) sealed: std::sync::Arc<[u8]>,
}

impl VersionSig {
    pub(super) fn of(v: &RecordVersion) -> Self {
        VersionSig {
            dot: v.dot,
            deleted: v.deleted,
            context: v.context.clone(),
            sealed: std::sync::Arc::clone(&v.sealed),
        }
    }

    /// Whether `v` has this signature (`*self == VersionSig::of(v)`)
    /// without cloning anything: every lookup checks each entry it visits,
    /// and a title lookup visits them all. Equal sealed bytes in another
    /// allocation (a state decoded again) match too, after a comparison.
    pub(super) fn matches(&self, v: &RecordVersion) -> bool {
        self.dot == v.dot
            && self.deleted == v.deleted
            && self.context == v.context
            && (std::sync::Arc::ptr_eq(&self.sealed, &v.sealed) || self.sealed == v.sealed)
    }
}

#[derive(Default)]
pub(super) struct PlainCache {
    pub(super) key_check: Option<Zeroizing<[u8; 32]>>,
    pub(super) items: HashMap<ItemId, CachedItem>,
    /// The search index, once a search built it (dropped with the cache).
    pub(super) search: Option<super::search::SearchCache>,
}

/// The live view of an item's versions (see [`live_view`]), or `None`
/// when every version is a tombstone.
pub(super) fn view_of(plains: &[RecordPlain]) -> Option<Item> {
    live_view(plains).map(|(item, _)| item)
}

pub(super) fn cache_check(key: &SecretKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(*aead::subkey(key, CACHE_CHECK_PURPOSE).expose())
}

impl Replica {
    pub(super) fn cache_lock(&self) -> MutexGuard<'_, PlainCache> {
        // The cache holds no invariant a panic could break: recover it.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cache, emptied if it was filled under another key.
    pub(super) fn checked_cache(&self, key: &SecretKey) -> MutexGuard<'_, PlainCache> {
        let check = cache_check(key);
        let mut cache = self.cache_lock();
        let same = cache
            .key_check
            .as_ref()
            .is_some_and(|k| bool::from(k.ct_eq(&*check)));
        if !same {
            *cache = PlainCache {
                key_check: Some(check),
                items: HashMap::new(),
                search: None,
            };
        }
        cache
    }

    pub(super) fn cached<'c>(
        &self,
        cache: &'c mut PlainCache,
        rk: &RecordKey,
        id: ItemId,
        versions: &[RecordVersion],
    ) -> Result<&'c CachedItem, VaultError> {
        use std::collections::hash_map::Entry;
        // One hash and probe per call: a title lookup makes one per item.
        match cache.items.entry(id) {
            Entry::Occupied(entry) if entry.get().sigs.matches(versions) => Ok(entry.into_mut()),
            entry => {
                let opened = versions
                    .iter()
                    .map(
                        |v| match open_record_json(rk, self.account_id, self.epoch, v) {
                            Ok((_, json)) => Ok(Opened::Json(json)),
                            Err(reason) => Err(VaultError::Open {
                                id,
                                dot: v.dot,
                                reason,
                            }),
                        },
                    )
                    .collect::<Result<Vec<_>, _>>()?;
                let fresh = CachedItem::new(versions, opened);
                Ok(match entry {
                    Entry::Occupied(mut stale) => {
                        stale.insert(fresh);
                        stale.into_mut()
                    }
                    Entry::Vacant(vacant) => vacant.insert(fresh),
                })
            }
        }
    }

    pub(super) fn plains_of(
        &self,
        key: &SecretKey,
        id: ItemId,
    ) -> Result<Vec<RecordPlain>, VaultError> {
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        Ok(self
            .cached(&mut cache, &rk, id, self.state.versions(&id))?
            .plains())
    }
}
