//! The vault's trash: `rm` moves an item there; these list, restore and
//! empty it.

use serde::{Deserialize, Serialize};

/// One item in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashEntry {
    /// The item's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its username.
    pub username: String,
    /// Its URL.
    pub url: String,
    /// When it was moved to the trash (ms since the epoch).
    pub trashed_ms: u64,
    /// The device that moved it.
    pub trashed_by: String,
}

/// `trash_empty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrashEmptyParams {
    /// Only items trashed at least this many seconds ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than_secs: Option<u64>,
    /// Only this item (id or exact title of a trashed item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// `trash_empty`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashEmptyReply {
    /// Items whose content was purged.
    pub purged: usize,
    /// Items left in the trash.
    pub kept: usize,
    /// What was done.
    pub message: String,
}
