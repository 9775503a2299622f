//! The typed results of requests.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The daemon's state machine (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// No account on this device.
    SignedOut,
    /// Signed in, key not in memory.
    Locked,
    /// Signed in, key in memory.
    Unlocked,
    /// The account was reset elsewhere or here: log in again.
    Reset,
}

impl State {
    /// The name as shown to users and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            State::SignedOut => "signed-out",
            State::Locked => "locked",
            State::Unlocked => "unlocked",
            State::Reset => "reset",
        }
    }
}

/// Where the unlocked key is cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCacheInfo {
    /// `secret-service`, `keyutils`, `keychain` or `memory`.
    pub backend: String,
    /// False when the key only lives in the daemon's memory (lost on restart).
    pub persistent: bool,
    /// Why the cache fell back to memory, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// One problem file in a sync folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it, and that it is left in place.
    pub reason: String,
    /// When it was first seen bad (ms since the epoch).
    pub since_ms: u64,
}

/// A sync folder and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFolderInfo {
    /// The folder (the account lives in `<path>/<account_id>/`).
    pub path: PathBuf,
    /// `ok`, `problems` or `unreachable`.
    pub health: String,
    /// When the last merge from this folder finished (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_merge_ms: Option<u64>,
    /// Device files of the current epoch seen in the folder at the last
    /// round (in state `reset`: of the newest epoch, so those of devices
    /// that logged in to it already).
    pub device_files: usize,
    /// Sync files (and conflict copies of them) of an earlier epoch still
    /// in the folder: each device retires its own when it sees the reset;
    /// those of devices that never come back are moved to the trash one at
    /// a time after a grace period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stale_files: usize,
    /// This device's own files in the folder (its snapshot and delta
    /// segments, and superseded ones not yet removed).
    #[serde(default)]
    pub own_files: usize,
    /// Bytes this daemon has written into the folder since it started.
    #[serde(default)]
    pub written_bytes: u64,
    /// Files that could not be merged.
    #[serde(default)]
    pub problems: Vec<FileProblem>,
    /// How the folder is watched: `notify` or `poll`.
    pub watch: String,
}

/// What a reset changed, shown in state `reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDetails {
    /// When the reset happened (ms since the epoch).
    pub at_ms: u64,
    /// The device that reset the account.
    pub by_device_id: String,
    /// That device's friendly name.
    pub by_device_name: String,
    /// The epoch this device was on.
    pub previous_epoch: u64,
    /// The new epoch.
    pub new_epoch: u64,
    /// Where this device's old container went (in the trash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_container: Option<PathBuf>,
    /// The exact command to run next.
    pub next_command: String,
    /// Set when this device's own reset lost to a concurrent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_to_concurrent_reset: Option<String>,
}

/// A conflict the merge resolved, reported to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictInfo {
    /// The item.
    pub item_id: String,
    /// Its title when known.
    pub title: String,
    /// `delete-vs-edit` or `same-field`.
    pub kind: String,
    /// Plain description of how it was resolved.
    pub message: String,
    /// When it was resolved (ms since the epoch).
    pub at_ms: u64,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The state.
    pub state: State,
    /// The account, when signed in (or reset).
    pub account_id: Option<String>,
    /// The account email.
    pub email: Option<String>,
    /// The epoch this device is on.
    pub epoch: Option<u64>,
    /// This device's id.
    pub device_id: Option<String>,
    /// This device's friendly name.
    pub device_name: Option<String>,
    /// Live items (known only when unlocked; absent otherwise).
    pub items: Option<usize>,
    /// The daemon's pid.
    pub pid: u32,
    /// The local container.
    pub container: Option<PathBuf>,
    /// The sync folders.
    pub sync_folders: Vec<SyncFolderInfo>,
    /// The key cache.
    pub key_cache: KeyCacheInfo,
    /// Seconds of no use before the daemon locks itself.
    pub lock_timeout_secs: u64,
    /// Reset details, in state `reset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetDetails>,
    /// Set when the account header stretches the password more weakly than
    /// coffer's floor: what is wrong and the fix (`coffer passwd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf_warning: Option<String>,
    /// Recent conflicts the merge resolved.
    #[serde(default)]
    pub conflicts: Vec<ConflictInfo>,
    /// The account header of this device: its generation, the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderInfo>,
    /// The daemon's version.
    pub version: String,
    /// The Secret Service provider, once it was ever enabled on this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_service: Option<crate::secret_service::SecretServiceState>,
    /// The SSH agent, when it is on (config `ssh_agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_agent: Option<crate::ssh::SshAgentInfo>,
}

/// The account header as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderInfo {
    /// 0 at creation and reset, +1 at every change (password, hint).
    pub generation: u64,
    /// When the header last changed (ms since the epoch), if it did since
    /// the epoch began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at_ms: Option<u64>,
    /// The device that changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by_device_id: Option<String>,
    /// That device's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by_device_name: Option<String>,
    /// Set when this device's own change lost to a concurrent one: which
    /// password holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_change: Option<String>,
    /// Headers in the sync folders that do not authenticate (ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forged: Vec<PathBuf>,
    /// Header files put back to an older generation (refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replayed: Vec<PathBuf>,
}

/// `signup` and `reset`: the new secrets to show once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAccountReply {
    /// The account id.
    pub account_id: String,
    /// The account email.
    pub email: String,
    /// The new Account Key text.
    pub account_key: Secret,
    /// The epoch (1 at signup).
    pub epoch: u64,
    /// This device's id.
    pub device_id: String,
    /// When the account was created (ms since the epoch).
    pub created_ms: u64,
    /// `reset` on a signed-in device: where its old container went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_container: Option<PathBuf>,
}

/// `edit`, `rm` and `trash_restore`: the item the request changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRef {
    /// The item's id.
    pub id: String,
    /// Its title (`rm` and `trash_restore` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `edit --generate`: what was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<crate::generate::Generated>,
}

/// `restore` of a container from the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredReply {
    /// What was done.
    pub message: String,
    /// Items the container held.
    pub items: usize,
}

/// `subscribe`: events follow on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// Always true.
    pub subscribed: bool,
}

/// `add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddReply {
    /// The new item's id.
    pub id: String,
    /// `add --generate`: what was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<crate::generate::Generated>,
}

/// One field of an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldView {
    /// The field's name.
    pub name: String,
    /// Its value.
    pub value: Secret,
}

/// A whole item, as `get --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    /// The id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The username.
    pub username: String,
    /// The password.
    pub password: Secret,
    /// The URL.
    pub url: String,
    /// The notes.
    pub notes: Secret,
    /// Custom fields.
    pub fields: Vec<FieldView>,
    /// When created (ms since the epoch).
    pub created_ms: u64,
    /// When last modified (ms since the epoch).
    pub modified_ms: u64,
}

/// One entry of `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSummary {
    /// The id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The username.
    pub username: String,
    /// The URL.
    pub url: String,
    /// When last modified (ms since the epoch).
    pub modified_ms: u64,
    /// The collection it is in, when not the default one (`login` for a
    /// Secret Service item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// A Secret Service item's lookup attributes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// What the item is when not a login (`ssh-key`, …): its `kind` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One overwritten value of a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntryView {
    /// The field.
    pub field: String,
    /// The value it had.
    pub value: Secret,
    /// When that value was set (ms since the epoch).
    pub set_ms: u64,
    /// The device that set it.
    pub device_id: String,
}

/// `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReply {
    /// The item's id.
    pub id: String,
    /// The item's title.
    pub title: String,
    /// Overwritten values, newest first.
    pub entries: Vec<HistoryEntryView>,
}

/// `hint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintReply {
    /// The hint.
    pub hint: String,
    /// Where it was read from.
    pub source: String,
}

/// `kit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KitReply {
    /// The account id.
    pub account_id: String,
    /// The account email.
    pub email: String,
    /// The Account Key text.
    pub account_key: Secret,
    /// The epoch.
    pub epoch: u64,
    /// When the account was created (ms since the epoch).
    pub created_ms: u64,
}

/// `sync_now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Device files merged this round.
    pub merged_files: usize,
    /// Conflict copies merged and removed.
    pub conflict_copies_removed: usize,
    /// Stale files of an earlier epoch moved to the trash this round.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stale_files_retired: usize,
    /// Record versions new to this device.
    pub new_versions: usize,
    /// Folders and their health after the round.
    pub folders: Vec<SyncFolderInfo>,
}

/// `import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReply {
    /// Items read from the file.
    pub read: usize,
    /// Items added (or that would be, with a dry run).
    pub imported: usize,
    /// Items skipped, each with why.
    pub skipped: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// `export` and `backup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlobReply {
    /// The bytes, standard base64 (secret: plaintext for exports).
    pub content_base64: Secret,
    /// Items in it.
    pub items: usize,
}

/// A plain acknowledgement with a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// What was done.
    pub message: String,
}

/// An event on a subscribed connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The state changed.
    State {
        /// The new state.
        state: State,
    },
    /// A sync round finished.
    Synced {
        /// Record versions new to this device.
        new_versions: usize,
        /// Files that could not be merged.
        problems: usize,
    },
    /// The merge resolved a conflict.
    Conflict(ConflictInfo),
    /// The account was reset.
    Reset(ResetDetails),
    /// A long request (an import or a restore) advanced; sent every few
    /// hundred items, then once more when all are done.
    Progress {
        /// `import` or `restore`.
        operation: String,
        /// Items done so far.
        done: usize,
        /// Items in all.
        total: usize,
    },
}

/// `skip_serializing_if` for counts that are usually zero (older peers
/// read them as zero).
fn is_zero(n: &usize) -> bool {
    *n == 0
}
