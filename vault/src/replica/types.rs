//! What replica operations return: errors, conflict reports, merge outcomes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{DeviceId, ItemId};
use crate::record::RecordOpenError;
use crate::secret::SecretString;
use crate::vv::Dot;

/// An operation on an unlocked vault failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No live item has this id (never existed, or deleted).
    #[error("no such item: {0}")]
    NoSuchItem(ItemId),
    /// The item is not in the trash (live, purged, or unknown).
    #[error("item {0} is not in the trash")]
    NotInTrash(ItemId),
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
    /// Those items, in id order.
    pub changed: Vec<ItemId>,
    /// Versions refused because they did not open (unlocked merges only).
    pub rejected: Vec<Rejected>,
}
