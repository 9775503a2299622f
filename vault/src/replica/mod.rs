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
//!
//! # Layout
//!
//! - this file: the replica, its identity and accessors;
//! - `types`: errors, conflict reports, merge outcomes;
//! - `cache`: the plaintext cache;
//! - `read`, `write`: reading items; adding, editing, deleting (to the
//!   trash), resolving;
//! - `siblings`: what an item's current versions say together (the live
//!   view, or the trash view);
//! - `trash`: listing, restoring and purging trashed items;
//! - `search`: the search index, kept with the plaintext cache;
//! - `merge`: taking in other devices' states, verifying at unlock;
//! - `undo`: what is unsaved, undo points and rollback;
//! - `reports`: sealed conflict reports;
//! - `persist`: the replica in container and sync files;
//! - `publish`: what this device has to publish (its local changes, the
//!   versions of given items, what a version vector does not cover).

use std::fmt;
use std::sync::Mutex;

use uuid::Uuid;

use crate::hlc::{Clock, Hlc};
use crate::ids::DeviceId;
use crate::state::VaultState;

mod cache;
mod merge;
mod persist;
mod publish;
mod read;
mod reports;
mod search;
mod siblings;
mod trash;
mod types;
mod undo;
mod write;

pub use crate::format::ReplicaParts;
use cache::PlainCache;
pub use trash::TrashedItem;
pub use types::{ConflictKind, ConflictReport, MergeOutcome, Rejected, VaultError};
use undo::Unsaved;
pub use undo::{UndoPoint, Unpersisted};

/// How many conflict reports a replica keeps (the newest).
pub const MAX_REPORTS: usize = 100;
/// HKDF purpose of the key that seals the stored conflict reports.
pub const REPORTS_KEY_PURPOSE: &[u8] = b"coffer reports v1";
const CACHE_CHECK_PURPOSE: &[u8] = b"coffer cache check v1";

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
    /// Items this device wrote since [`Replica::take_local_changes`] last
    /// took them (what it has to publish, besides what it merged).
    local_changes: std::collections::BTreeSet<crate::ids::ItemId>,
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
            local_changes: self.local_changes.clone(),
        }
    }
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
            local_changes: Default::default(),
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
}
