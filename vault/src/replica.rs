//! One device's whole vault: its state, clock, identity and conflict
//! reports, and every operation on it.
//!
//! Locked (no vault key), a replica can only take in other devices' states
//! by union ([`Replica::merge_remote`] with `None`): versions are kept side
//! by side, nothing is dropped, because contexts cannot be authenticated
//! without the key. Unlocked, every operation takes the vault key:
//! [`Replica::verify_and_compact`] at unlock, then items are read, added,
//! edited and deleted, remote states are merged after each of their new
//! versions has been opened, and [`Replica::resolve_conflicts`] turns
//! siblings into one resolved version, reporting what it decided.
//!
//! Opened plaintexts are cached per item (keyed by the versions' dots,
//! flags, contexts and sealed bytes, and by the key), so listing a large
//! vault decrypts each record once. An item with one current version (the
//! usual case) is cached as its plaintext JSON, a third of the parsed
//! item's size, and parsed on each read; title lookups keep each item's
//! lowercased title there too, so only the first one parses every item.
//! [`Replica::forget_plaintext`] drops the cache and the opened reports
//! when the vault locks.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::aead;
use crate::hlc::{Clock, Hlc};
use crate::ids::{DeviceId, ItemId};
use crate::item::{is_valid_field_name, resolve_with_conflicts, to_json_zeroizing, Item};
use crate::record::{
    open_record, open_record_json, parse_plain, seal_record, RecordKey, RecordOpenError,
    RecordPlain, RecordVersion, Tombstone,
};
use crate::secret::{SecretKey, SecretString};
use crate::state::{Inserted, VaultState};
use crate::vv::{Dot, VersionVector};

/// How many conflict reports a replica keeps (the newest).
pub const MAX_REPORTS: usize = 100;
/// HKDF purpose of the key that seals the stored conflict reports.
pub const REPORTS_KEY_PURPOSE: &[u8] = b"coffer reports v1";
const CACHE_CHECK_PURPOSE: &[u8] = b"coffer cache check v1";

/// An operation on an unlocked vault failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No live item has this id (never existed, or deleted).
    #[error("no such item: {0}")]
    NoSuchItem(ItemId),
    /// A record in this vault that should open does not: the key is wrong
    /// or the record is damaged.
    #[error("record {id} version {device}:{counter} does not open: {reason}", device = dot.device, counter = dot.counter)]
    Open {
        /// The item.
        id: ItemId,
        /// The version.
        dot: Dot,
        /// Why.
        reason: RecordOpenError,
    },
    /// A field name is neither standard nor `field:NAME`.
    #[error("invalid field name {0:?}")]
    BadFieldName(String),
    /// This device's write counter cannot go higher.
    #[error("this device's write counter is exhausted")]
    CounterExhausted,
    /// A sync file belongs to another account.
    #[error("the sync file belongs to account {found}, not {expected}")]
    WrongAccount {
        /// This replica's account.
        expected: Uuid,
        /// The file's.
        found: Uuid,
    },
    /// A sync file belongs to another epoch of this account.
    #[error("the sync file is from epoch {found}, this vault is epoch {expected}")]
    WrongEpoch {
        /// This replica's epoch.
        expected: u64,
        /// The file's.
        found: u64,
    },
}

/// What kind of conflict a resolution decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConflictKind {
    /// One device deleted the item while another edited it; the edit won.
    DeleteVsEdit,
    /// Two devices set one field to different values; the loser's value is
    /// in the field's history.
    SameField {
        /// The field's name.
        field: String,
    },
}

/// A conflict that was resolved, for `coffer status` and the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictReport {
    /// The item.
    pub item_id: ItemId,
    /// Its title after resolution (redacted in `Debug`).
    #[serde(with = "crate::item::secret_str")]
    pub title: SecretString,
    /// What happened.
    #[serde(flatten)]
    pub kind: ConflictKind,
    /// The device whose change won.
    pub winner_device: DeviceId,
    /// The device whose change lost.
    pub loser_device: DeviceId,
    /// When it was resolved (milliseconds since the Unix epoch).
    pub at_ms: u64,
}

/// A remote version that failed to open and was not merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The item it claims to belong to.
    pub id: ItemId,
    /// The version it claims to be.
    pub dot: Dot,
    /// Why it was rejected.
    pub reason: RecordOpenError,
}

/// What [`Replica::merge_remote`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Items whose versions changed.
    pub changed_items: usize,
    /// Versions refused because they did not open (unlocked merges only).
    pub rejected: Vec<Rejected>,
}

/// Opened plaintexts of one item's versions, valid while the versions'
/// signatures match.
///
/// An entry is never updated in place: when the item's versions change
/// (a write, a merge, a compaction), [`Replica::cached`] finds the
/// signatures differ and replaces the whole entry, so everything derived
/// from the plaintexts and kept here is dropped with them.
struct CachedItem {
    sigs: Sigs,
    plains: CachedPlains,
    /// The live view's title, lowercased (set to `None`: not a live item),
    /// for [`Replica::find_by_title`]; worked out on the entry's first
    /// title lookup, so that later ones compare strings instead of parsing
    /// every item. Item plaintext like `plains`: wiped when dropped, and
    /// dropped with the cache when the vault locks.
    title_lc: std::cell::OnceCell<Option<Zeroizing<Box<str>>>>,
}

/// The plaintexts of the versions not superseded by another one (all of
/// them once the state is compacted).
enum CachedPlains {
    /// The usual case, one current version that is a live item: its JSON,
    /// a third of the parsed item's size (a vault of 100,000 items stays
    /// well under 200 MB unlocked), parsed again on each read.
    Json(Zeroizing<Box<[u8]>>),
    /// Anything else: the plaintexts in dot order, and their resolution
    /// when two or more are live items.
    Parsed {
        plains: Box<[RecordPlain]>,
        resolved: Option<Box<Item>>,
    },
}

/// A version's plaintext as it comes to the cache.
enum Opened {
    /// Just opened: the JSON (already parsed once, so it parses).
    Json(Zeroizing<Vec<u8>>),
    /// Just written.
    Plain(RecordPlain),
}

impl Opened {
    fn into_plain(self, v: &RecordVersion) -> RecordPlain {
        match self {
            Opened::Plain(p) => p,
            Opened::Json(json) => {
                parse_plain(v, &json).expect("a cached plaintext parsed when its record was opened")
            }
        }
    }

    /// The JSON in a buffer of its exact size (the opened or written one
    /// has spare capacity; it is wiped when dropped here).
    fn into_json(self) -> Zeroizing<Box<[u8]>> {
        let json = match self {
            Opened::Json(json) => json,
            Opened::Plain(p) => p.to_json(),
        };
        Zeroizing::new(Box::from(json.as_slice()))
    }
}

impl CachedItem {
    /// `opened` holds one plaintext per version, in the versions' order.
    fn new(versions: &[RecordVersion], opened: Vec<Opened>) -> Self {
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
                let live = plains.iter().filter(|p| !p.is_deleted()).count();
                let resolved = if live > 1 {
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
    fn title_lc(&self) -> Option<&str> {
        self.title_lc
            .get_or_init(|| {
                self.view()
                    .map(|item| Zeroizing::new(item.title().to_lowercase().into_boxed_str()))
            })
            .as_deref()
            .map(|t| &**t)
    }

    /// The live view (as [`view_of`] the plaintexts gives).
    fn view(&self) -> Option<Item> {
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

    /// The current plaintexts, in dot order.
    fn plains(&self) -> Vec<RecordPlain> {
        match &self.plains {
            CachedPlains::Json(json) => vec![RecordPlain::Item(parse_cached_item(json))],
            CachedPlains::Parsed { plains, .. } => plains.to_vec(),
        }
    }
}

fn parse_cached_item(json: &[u8]) -> Item {
    Item::from_json(json).expect("a cached item's JSON parsed when its record was opened")
}

/// For each version, whether no other version of the item supersedes it
/// (they all are, once compacted; a locked union may leave superseded ones).
fn current_flags(versions: &[RecordVersion]) -> Vec<bool> {
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
enum Sigs {
    One(VersionSig),
    Many(Box<[VersionSig]>),
}

impl Sigs {
    fn of(versions: &[RecordVersion]) -> Self {
        match versions {
            [v] => Sigs::One(VersionSig::of(v)),
            _ => Sigs::Many(versions.iter().map(VersionSig::of).collect()),
        }
    }

    /// Whether `versions` are the versions these were taken of.
    fn matches(&self, versions: &[RecordVersion]) -> bool {
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
struct VersionSig {
    dot: Dot,
    deleted: bool,
    context: VersionVector,
    /// The sealed bytes themselves, shared with the state rather than
    /// copied: the usual check finds the state still holds this very
    /// allocation and reads no ciphertext. Holding it keeps the address
    /// from being reused for other bytes while the entry lives (a stale
    /// entry keeps its old ciphertext, not plaintext, until it is next
    /// visited or the cache is dropped).
    sealed: std::sync::Arc<[u8]>,
}

impl VersionSig {
    fn of(v: &RecordVersion) -> Self {
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
    fn matches(&self, v: &RecordVersion) -> bool {
        self.dot == v.dot
            && self.deleted == v.deleted
            && self.context == v.context
            && (std::sync::Arc::ptr_eq(&self.sealed, &v.sealed) || self.sealed == v.sealed)
    }
}

#[derive(Default)]
struct PlainCache {
    key_check: Option<Zeroizing<[u8; 32]>>,
    items: HashMap<ItemId, CachedItem>,
}

/// One device's whole persisted vault.
pub struct Replica {
    account_id: Uuid,
    epoch: u64,
    device_id: DeviceId,
    device_name: String,
    state: VaultState,
    clock: Clock,
    reports: Vec<ConflictReport>,
    sealed_reports: Option<Vec<u8>>,
    cache: Mutex<PlainCache>,
    unsaved: Unsaved,
}

/// What changed since the replica was last persisted (see
/// [`Replica::unsaved_delta`]).
#[derive(Clone, Debug, Default)]
struct Unsaved {
    /// Items with versions written or merged since.
    items: std::collections::BTreeSet<ItemId>,
    /// The version vector grew without an item changing.
    vv: bool,
    /// Something only a whole new container can say (versions removed,
    /// reports, the device name).
    whole: bool,
}

/// What [`Replica::rollback`] needs to undo a change to a few items: the
/// versions those items had, and everything else a change moves (version
/// vector, clock, conflict reports, what is unsaved). Far cheaper than a
/// clone of the replica, which copies every item.
#[derive(Debug)]
pub struct UndoPoint {
    items: Vec<(ItemId, Vec<RecordVersion>)>,
    vv: VersionVector,
    clock: Clock,
    reports: Vec<ConflictReport>,
    sealed_reports: Option<Vec<u8>>,
    unsaved: Unsaved,
}

/// What a replica must persist next.
#[derive(Debug)]
pub enum Unpersisted {
    /// Nothing changed since the last save.
    Nothing,
    /// Only versions were added: the changed items' versions, the version
    /// vector and the clock (see [`crate::format::ContainerEntry`]).
    Delta(crate::format::ContainerEntry),
    /// Something a delta cannot carry: write the whole container.
    Whole,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("account_id", &self.account_id)
            .field("epoch", &self.epoch)
            .field("device_id", &self.device_id)
            .field("device_name", &self.device_name)
            .field("items", &self.state.item_count())
            .field("versions", &self.state.version_count())
            .field("clock", &self.clock.last())
            .field("reports", &self.reports.len())
            .finish_non_exhaustive()
    }
}

impl Clone for Replica {
    /// Clones everything but the plaintext cache.
    fn clone(&self) -> Self {
        Replica {
            account_id: self.account_id,
            epoch: self.epoch,
            device_id: self.device_id,
            device_name: self.device_name.clone(),
            state: self.state.clone(),
            clock: self.clock,
            reports: self.reports.clone(),
            sealed_reports: self.sealed_reports.clone(),
            cache: Mutex::default(),
            unsaved: self.unsaved.clone(),
        }
    }
}

/// The persisted parts of a replica, as a container stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaParts {
    /// The account.
    pub account_id: Uuid,
    /// Its epoch.
    pub epoch: u64,
    /// This device.
    pub device_id: DeviceId,
    /// Its friendly name.
    pub device_name: String,
    /// The vault state.
    pub state: VaultState,
    /// The clock's last stamp.
    pub clock: Hlc,
    /// The conflict reports, sealed (see [`Replica::sealed_reports`]).
    pub sealed_reports: Option<Vec<u8>>,
}

impl Replica {
    /// An empty vault for a device that just signed up or logged in.
    pub fn new(account_id: Uuid, epoch: u64, device_id: DeviceId, device_name: String) -> Self {
        Replica::from_parts(ReplicaParts {
            account_id,
            epoch,
            device_id,
            device_name,
            state: VaultState::new(),
            clock: Hlc::default(),
            sealed_reports: None,
        })
    }

    /// A replica from its persisted parts (locked: nothing is opened).
    pub fn from_parts(p: ReplicaParts) -> Self {
        Replica {
            account_id: p.account_id,
            epoch: p.epoch,
            device_id: p.device_id,
            device_name: p.device_name,
            state: p.state,
            clock: Clock::resume(p.clock),
            reports: Vec::new(),
            sealed_reports: p.sealed_reports,
            cache: Mutex::default(),
            unsaved: Unsaved::default(),
        }
    }

    /// The persisted parts (a copy of the state).
    pub fn to_parts(&self) -> ReplicaParts {
        ReplicaParts {
            account_id: self.account_id,
            epoch: self.epoch,
            device_id: self.device_id,
            device_name: self.device_name.clone(),
            state: self.state.clone(),
            clock: self.clock.last(),
            sealed_reports: self.sealed_reports.clone(),
        }
    }

    /// The account.
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    /// The account epoch this vault belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// This device.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// This device's friendly name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Renames this device.
    pub fn set_device_name(&mut self, name: String) {
        self.device_name = name;
        self.unsaved.whole = true;
    }

    /// The vault state (sealed records).
    pub fn state(&self) -> &VaultState {
        &self.state
    }

    /// The clock's last stamp.
    pub fn clock(&self) -> Hlc {
        self.clock.last()
    }

    /// The conflict reports opened at unlock plus those made since, oldest
    /// first (empty while locked).
    pub fn reports(&self) -> &[ConflictReport] {
        &self.reports
    }

    /// The conflict reports as stored: sealed under a subkey of the vault
    /// key, since titles and field names are item data.
    pub fn sealed_reports(&self) -> Option<&[u8]> {
        self.sealed_reports.as_deref()
    }

    /// Drops every opened plaintext (item cache and reports); call on lock.
    pub fn forget_plaintext(&mut self) {
        *self.cache_lock() = PlainCache::default();
        self.reports.clear();
    }

    /// What changed since the last [`mark_persisted`](Self::mark_persisted)
    /// (or since the replica was built from its parts): nothing, a delta
    /// that a container can append (the current versions of every changed
    /// item, the whole version vector and the clock), or something only a
    /// whole container can hold (versions dropped at unlock, new conflict
    /// reports, a new device name).
    pub fn unsaved_delta(&self) -> Unpersisted {
        let u = &self.unsaved;
        if u.whole {
            return Unpersisted::Whole;
        }
        if u.items.is_empty() && !u.vv {
            return Unpersisted::Nothing;
        }
        let mut state = VaultState::new();
        for id in &u.items {
            for v in self.state.versions(id) {
                state.insert(v.clone());
            }
        }
        state.join_vv(self.state.vv());
        Unpersisted::Delta(crate::format::ContainerEntry {
            clock: self.clock.last(),
            state,
        })
    }

    /// Remembers what a change to `ids` (and items it creates) moves, so
    /// that [`rollback`](Self::rollback) can undo it, as when the change
    /// could not be persisted. Items the change creates need not be named.
    pub fn undo_point(&self, ids: &[ItemId]) -> UndoPoint {
        UndoPoint {
            items: ids
                .iter()
                .map(|id| (*id, self.state.versions(id).to_vec()))
                .collect(),
            vv: self.state.vv().clone(),
            clock: self.clock,
            reports: self.reports.clone(),
            sealed_reports: self.sealed_reports.clone(),
            unsaved: self.unsaved.clone(),
        }
    }

    /// Undoes every local change since `undo` was taken: versions written
    /// since (their dots are past the version vector of then) go, the named
    /// items get their versions back, and the version vector, clock,
    /// reports and unsaved set are as they were. Only for local writes
    /// (add, edit, delete, resolve) to the named items or new ones; a merge
    /// in between is not undone.
    pub fn rollback(&mut self, undo: UndoPoint) {
        let mut touched: std::collections::BTreeSet<ItemId> = self
            .unsaved
            .items
            .difference(&undo.unsaved.items)
            .copied()
            .collect();
        touched.extend(undo.items.iter().map(|(id, _)| *id));
        for id in &touched {
            let newer: Vec<Dot> = self
                .state
                .versions(id)
                .iter()
                .filter(|v| !undo.vv.covers(&v.dot))
                .map(|v| v.dot)
                .collect();
            for dot in newer {
                self.state.remove(id, &dot);
            }
        }
        for (_, versions) in undo.items {
            for v in versions {
                self.state.insert(v);
            }
        }
        self.state.reset_vv(undo.vv);
        self.clock = undo.clock;
        self.reports = undo.reports;
        self.sealed_reports = undo.sealed_reports;
        self.unsaved = undo.unsaved;
        let mut cache = self.cache_lock();
        for id in &touched {
            cache.items.remove(id);
        }
    }

    /// Records that everything up to now is persisted.
    pub fn mark_persisted(&mut self) {
        self.unsaved = Unsaved::default();
    }

    /// Takes in another device's state.
    ///
    /// Without the key (locked), only a union: nothing is dropped, since a
    /// forged version whose context covers everything could otherwise make
    /// compaction discard real data. With the key, every version not already
    /// here is opened first; those that fail are listed and not merged; then
    /// union and compaction.
    pub fn merge_remote(&mut self, remote: &VaultState, key: Option<&SecretKey>) -> MergeOutcome {
        let vv_before = self.state.vv().clone();
        let Some(key) = key else {
            let changed = self.state.union_foreign(remote, &self.device_id);
            self.note_merged(&changed, &vv_before);
            return MergeOutcome {
                changed_items: changed.len(),
                rejected: Vec::new(),
            };
        };
        let rk = RecordKey::derive(key);
        let mut accepted = VaultState::new();
        let mut rejected = Vec::new();
        for v in remote.iter_versions() {
            if self.state.contains(v) {
                continue;
            }
            match open_record(&rk, self.account_id, self.epoch, v) {
                Ok(plain) => {
                    self.observe(&plain);
                    accepted.insert(v.clone());
                }
                Err(reason) => rejected.push(Rejected {
                    id: v.id,
                    dot: v.dot,
                    reason,
                }),
            }
        }
        accepted.join_vv(remote.vv());
        let changed = self.state.union_foreign(&accepted, &self.device_id);
        for id in &changed {
            self.state.compact_item(id);
        }
        self.note_merged(&changed, &vv_before);
        MergeOutcome {
            changed_items: changed.len(),
            rejected,
        }
    }

    /// At unlock: opens every version, drops those that fail (merged while
    /// locked from a forged or damaged file), compacts, opens the stored
    /// reports and fills the plaintext cache.
    pub fn verify_and_compact(&mut self, key: &SecretKey) -> Vec<Rejected> {
        let rk = RecordKey::derive(key);
        let mut rejected = Vec::new();
        let mut cache = PlainCache {
            key_check: Some(cache_check(key)),
            items: HashMap::new(),
        };
        // Item by item, so that only one item's plaintexts are parsed at a
        // time; the cache keeps the JSON of most.
        let ids: Vec<ItemId> = self.state.records().keys().copied().collect();
        for id in ids {
            let mut opened: Vec<(Dot, Zeroizing<Vec<u8>>)> = Vec::new();
            let mut failed = Vec::new();
            // The lowercased title of the one version an item usually has,
            // taken while it is parsed anyway: the first title lookup after
            // unlock then parses nothing.
            let mut title_lc = None;
            for v in self.state.versions(&id) {
                match open_record_json(&rk, self.account_id, self.epoch, v) {
                    Ok((plain, json)) => {
                        if let Some(seen) = plain.max_stamp() {
                            self.clock.observe(seen);
                        }
                        if let RecordPlain::Item(item) = &plain {
                            title_lc = Some((v.dot, item.title().to_lowercase()));
                        }
                        opened.push((v.dot, json));
                    }
                    Err(reason) => failed.push(Rejected {
                        id,
                        dot: v.dot,
                        reason,
                    }),
                }
            }
            for r in &failed {
                self.state.remove(&id, &r.dot);
                self.unsaved.whole = true;
            }
            rejected.extend(failed);
            self.state.compact_item(&id);
            let versions = self.state.versions(&id);
            if versions.is_empty() {
                continue;
            }
            // Every remaining version was opened above.
            let opened: Vec<Opened> = versions
                .iter()
                .filter_map(|v| {
                    let i = opened.iter().position(|(dot, _)| *dot == v.dot)?;
                    Some(Opened::Json(opened.swap_remove(i).1))
                })
                .collect();
            if opened.len() == versions.len() {
                let entry = CachedItem::new(versions, opened);
                if let ([only], Some((dot, title))) = (versions, title_lc) {
                    if only.dot == dot && !only.deleted {
                        // A single live version: its item is the view.
                        let _ = entry
                            .title_lc
                            .set(Some(Zeroizing::new(title.into_boxed_str())));
                    }
                }
                cache.items.insert(id, entry);
            }
        }
        *self.cache_lock() = cache;
        self.reports = self
            .sealed_reports
            .as_deref()
            .and_then(|sealed| {
                open_reports(key, self.account_id, self.epoch, self.device_id, sealed)
            })
            .unwrap_or_default();
        rejected
    }

    /// Every live item, siblings resolved in memory (a live edit wins over a
    /// concurrent delete), in id order.
    pub fn items(&self, key: &SecretKey) -> Result<Vec<Item>, VaultError> {
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut out = Vec::with_capacity(self.state.item_count());
        for (id, versions) in self.state.records() {
            let entry = self.cached(&mut cache, &rk, *id, versions)?;
            if let Some(item) = entry.view() {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// The live items titled `title` (compared after lowercasing both, as
    /// the CLI's queries are), siblings resolved, in id order. Only the
    /// matches are kept.
    ///
    /// Each cache entry keeps its lowercased title once a lookup has parsed
    /// it (`CachedItem::title_lc`), so only the first lookup after unlock
    /// parses every item; later ones check each entry's signatures, compare
    /// a string and parse only the matches. An entry whose versions changed
    /// (an edit, a merge) is replaced, its title with it.
    pub fn find_by_title(&self, key: &SecretKey, title: &str) -> Result<Vec<Item>, VaultError> {
        let want = Zeroizing::new(title.to_lowercase());
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut out = Vec::new();
        for (id, versions) in self.state.records() {
            let entry = self.cached(&mut cache, &rk, *id, versions)?;
            if entry.title_lc() == Some(want.as_str()) {
                out.extend(entry.view());
            }
        }
        Ok(out)
    }

    /// One live item, siblings resolved; `None` when unknown or deleted.
    pub fn get(&self, key: &SecretKey, id: ItemId) -> Result<Option<Item>, VaultError> {
        let versions = self.state.versions(&id);
        if versions.is_empty() {
            return Ok(None);
        }
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        Ok(self.cached(&mut cache, &rk, id, versions)?.view())
    }

    /// Adds an item with `fields` (names as in [`crate::item`]).
    pub fn add(
        &mut self,
        key: &SecretKey,
        fields: Vec<(String, SecretString)>,
        now_ms: u64,
    ) -> Result<ItemId, VaultError> {
        check_names(fields.iter().map(|(n, _)| n))?;
        let id = ItemId::new_random();
        let mut item = Item::new(id, now_ms);
        let changes = fields.into_iter().map(|(n, v)| (n, Some(v))).collect();
        item.apply(changes, &mut self.clock, now_ms, self.device_id);
        self.write(key, id, RecordPlain::Item(item))?;
        Ok(id)
    }

    /// Edits an item: `None` removes a field. Pending siblings of the item
    /// are resolved (and reported) first. A change that changes nothing
    /// writes nothing.
    pub fn edit(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        changes: Vec<(String, Option<SecretString>)>,
        now_ms: u64,
    ) -> Result<(), VaultError> {
        check_names(changes.iter().map(|(n, _)| n))?;
        let mut item = self.live_for_update(key, id, now_ms)?;
        if item.apply(changes, &mut self.clock, now_ms, self.device_id) {
            self.write(key, id, RecordPlain::Item(item))?;
        }
        Ok(())
    }

    /// Deletes an item (writes a tombstone superseding its versions).
    pub fn delete(&mut self, key: &SecretKey, id: ItemId, now_ms: u64) -> Result<(), VaultError> {
        let item = self.live_for_update(key, id, now_ms)?;
        if let Some(seen) = item.max_stamp() {
            self.clock.observe(seen);
        }
        let stamp = self.clock.tick(now_ms);
        self.write(
            key,
            id,
            RecordPlain::Tombstone(Tombstone {
                id,
                stamp,
                device: self.device_id,
            }),
        )
    }

    /// Resolves every item whose versions' plaintexts differ into one new
    /// version covering them all, and reports what was decided (also kept
    /// in [`reports`](Self::reports)). Siblings with identical plaintexts
    /// are left alone, so devices resolving at once do not ping-pong.
    pub fn resolve_conflicts(
        &mut self,
        key: &SecretKey,
        now_ms: u64,
    ) -> Result<Vec<ConflictReport>, VaultError> {
        let ids: Vec<ItemId> = self
            .state
            .records()
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(id, _)| *id)
            .collect();
        let mut reports = Vec::new();
        for id in ids {
            reports.extend(self.resolve_item(key, id, now_ms)?);
        }
        self.add_reports(key, &reports);
        Ok(reports)
    }

    // ----- internals -----

    fn cache_lock(&self) -> MutexGuard<'_, PlainCache> {
        // The cache holds no invariant a panic could break: recover it.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cache, emptied if it was filled under another key.
    fn checked_cache(&self, key: &SecretKey) -> MutexGuard<'_, PlainCache> {
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
            };
        }
        cache
    }

    fn cached<'c>(
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

    fn plains_of(&self, key: &SecretKey, id: ItemId) -> Result<Vec<RecordPlain>, VaultError> {
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        Ok(self
            .cached(&mut cache, &rk, id, self.state.versions(&id))?
            .plains())
    }

    /// The item to base an edit or delete on: siblings resolved and written
    /// first, so that the reports are made.
    fn live_for_update(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<Item, VaultError> {
        if self.state.versions(&id).len() > 1 {
            let reports = self.resolve_item(key, id, now_ms)?;
            self.add_reports(key, &reports);
        }
        let plains = self.plains_of(key, id)?;
        view_of(&plains).ok_or(VaultError::NoSuchItem(id))
    }

    fn resolve_item(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<Vec<ConflictReport>, VaultError> {
        let versions: Vec<&RecordVersion> = {
            let all = self.state.versions(&id);
            all.iter()
                .zip(current_flags(all))
                .filter(|(_, c)| *c)
                .map(|(v, _)| v)
                .collect()
        };
        let dots: Vec<Dot> = versions.iter().map(|v| v.dot).collect();
        let plains = self.plains_of(key, id)?;
        if plains.len() < 2 || plains.iter().all(|p| *p == plains[0]) {
            return Ok(Vec::new());
        }
        let mut live: Vec<(Dot, Item)> = Vec::new();
        let mut tombs: Vec<Tombstone> = Vec::new();
        for (dot, p) in dots.into_iter().zip(plains) {
            match p {
                RecordPlain::Item(i) => live.push((dot, i)),
                RecordPlain::Tombstone(t) => tombs.push(t),
            }
        }
        let mut reports = Vec::new();
        let resolved = if live.is_empty() {
            let newest = tombs
                .into_iter()
                .max_by_key(|t| (t.stamp, t.device))
                .expect("two or more versions, none live, so at least one tombstone");
            RecordPlain::Tombstone(newest)
        } else {
            let items: Vec<Item> = live.iter().map(|(_, i)| i.clone()).collect();
            let (item, conflicts) = resolve_with_conflicts(&items);
            let title = SecretString::from(item.title());
            if let Some(loser) = tombs.iter().max_by_key(|t| (t.stamp, t.device)) {
                let winner = live
                    .iter()
                    .max_by_key(|(dot, i)| (i.latest_change(), *dot))
                    .map(|(dot, _)| dot.device)
                    .expect("live is not empty");
                reports.push(ConflictReport {
                    item_id: id,
                    title: title.clone(),
                    kind: ConflictKind::DeleteVsEdit,
                    winner_device: winner,
                    loser_device: loser.device,
                    at_ms: now_ms,
                });
            }
            for c in conflicts {
                reports.push(ConflictReport {
                    item_id: id,
                    title: title.clone(),
                    kind: ConflictKind::SameField { field: c.field },
                    winner_device: c.winner_device,
                    loser_device: c.loser_device,
                    at_ms: now_ms,
                });
            }
            RecordPlain::Item(item)
        };
        self.observe(&resolved);
        self.write(key, id, resolved)?;
        Ok(reports)
    }

    /// Seals `plain` as this device's next version of `id`, superseding
    /// every current version, and compacts the item.
    fn write(&mut self, key: &SecretKey, id: ItemId, plain: RecordPlain) -> Result<(), VaultError> {
        let counter = self
            .state
            .vv()
            .get(&self.device_id)
            .checked_add(1)
            .ok_or(VaultError::CounterExhausted)?;
        let dot = Dot::new(self.device_id, counter);
        let mut context = VersionVector::new();
        for v in self.state.versions(&id) {
            context.join(&v.context);
            context.insert_dot(&v.dot);
        }
        let rk = RecordKey::derive(key);
        let version = seal_record(&rk, self.account_id, self.epoch, dot, context, &plain);
        let inserted = self.state.insert(version.clone());
        self.unsaved.items.insert(id);
        debug_assert_eq!(
            inserted,
            Inserted::Added,
            "a fresh dot is never in the state"
        );
        self.state.compact_item(&id);
        // Keep the cache warm: the item now has exactly this version.
        let mut cache = self.checked_cache(key);
        if self.state.versions(&id).len() == 1 {
            cache.items.insert(
                id,
                CachedItem::new(std::slice::from_ref(&version), vec![Opened::Plain(plain)]),
            );
        } else {
            cache.items.remove(&id);
        }
        Ok(())
    }

    fn note_merged(
        &mut self,
        changed: &std::collections::BTreeSet<ItemId>,
        vv_before: &VersionVector,
    ) {
        self.unsaved.items.extend(changed.iter().copied());
        if self.state.vv() != vv_before {
            self.unsaved.vv = true;
        }
    }

    fn observe(&mut self, plain: &RecordPlain) {
        if let Some(s) = plain.max_stamp() {
            self.clock.observe(s);
        }
    }

    fn add_reports(&mut self, key: &SecretKey, new: &[ConflictReport]) {
        if new.is_empty() {
            return;
        }
        if self.reports.is_empty() {
            if let Some(sealed) = &self.sealed_reports {
                self.reports =
                    open_reports(key, self.account_id, self.epoch, self.device_id, sealed)
                        .unwrap_or_default();
            }
        }
        self.reports.extend_from_slice(new);
        if self.reports.len() > MAX_REPORTS {
            let excess = self.reports.len() - MAX_REPORTS;
            self.reports.drain(..excess);
        }
        self.unsaved.whole = true;
        self.sealed_reports = Some(seal_reports(
            key,
            self.account_id,
            self.epoch,
            self.device_id,
            &self.reports,
        ));
    }
}

/// The live view of an item's versions: the resolution of its live
/// siblings, or `None` when every version is a tombstone.
fn view_of(plains: &[RecordPlain]) -> Option<Item> {
    let live: Vec<Item> = plains
        .iter()
        .filter_map(|p| match p {
            RecordPlain::Item(i) => Some(i.clone()),
            RecordPlain::Tombstone(_) => None,
        })
        .collect();
    match live.len() {
        0 => None,
        1 => live.into_iter().next(),
        _ => Some(resolve_with_conflicts(&live).0),
    }
}

fn check_names<'a>(mut names: impl Iterator<Item = &'a String>) -> Result<(), VaultError> {
    match names.find(|n| !is_valid_field_name(n)) {
        Some(bad) => Err(VaultError::BadFieldName(bad.clone())),
        None => Ok(()),
    }
}

fn cache_check(key: &SecretKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(*aead::subkey(key, CACHE_CHECK_PURPOSE).expose())
}

fn reports_ad(account_id: Uuid, epoch: u64, device: DeviceId) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(REPORTS_KEY_PURPOSE);
    ad.extend_from_slice(account_id.as_bytes());
    ad.extend_from_slice(&epoch.to_be_bytes());
    ad.extend_from_slice(device.as_bytes());
    ad
}

fn seal_reports(
    key: &SecretKey,
    account_id: Uuid,
    epoch: u64,
    device: DeviceId,
    reports: &[ConflictReport],
) -> Vec<u8> {
    let json = to_json_zeroizing(&reports, 256 * (reports.len() + 1));
    let k = aead::subkey(key, REPORTS_KEY_PURPOSE);
    aead::seal(&k, &reports_ad(account_id, epoch, device), &json)
}

/// Opens sealed reports; `None` when they do not open (they are only
/// informational, so a damaged blob is dropped rather than fatal).
fn open_reports(
    key: &SecretKey,
    account_id: Uuid,
    epoch: u64,
    device: DeviceId,
    sealed: &[u8],
) -> Option<Vec<ConflictReport>> {
    let k = aead::subkey(key, REPORTS_KEY_PURPOSE);
    let json = aead::open(&k, &reports_ad(account_id, epoch, device), sealed).ok()?;
    serde_json::from_slice(&json).ok()
}
