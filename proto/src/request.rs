//! The typed requests a client can send, one variant per method.
//!
//! On the wire a request is `{"id":N,"method":"NAME","params":{…}}`; the
//! method names are the snake_case variant names (`rm` for
//! [`Request::Remove`], `sync_now` for [`Request::SyncNow`], …).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::clipboard::ClipParams;
use crate::error::{ErrorBody, ErrorCode};
use crate::generate::GenerateParams;
use crate::otp::TotpParams;
use crate::search::SearchParams;
use crate::secret::Secret;
pub use crate::secret_service::SecretServiceParams;
use crate::trash::TrashEmptyParams;

/// Parameters of a method that takes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// The daemon's state; never counts as use for the lock timeout.
    Status(NoParams),
    /// Create a new account on this device.
    Signup(SignupParams),
    /// Sign this device in to an existing account.
    Login(LoginParams),
    /// Unlock with the Account Password.
    Unlock(UnlockParams),
    /// Lock: purge the key from memory and keyring.
    Lock(NoParams),
    /// Sign out; the container goes to the trash.
    Logout(NoParams),
    /// Add an item.
    Add(AddParams),
    /// One item, whole.
    Get(QueryParams),
    /// The live items of one collection (the default one unless named).
    List(ListParams),
    /// Change fields of an item.
    Edit(EditParams),
    /// Delete an item (a tombstone).
    #[serde(rename = "rm")]
    Remove(QueryParams),
    /// The history of an item's fields.
    History(QueryParams),
    /// Run a sync round and wait for it.
    SyncNow(NoParams),
    /// Add a sync folder.
    SyncAdd(PathParams),
    /// Remove a sync folder.
    SyncRemove(PathParams),
    /// The sync folders and their health.
    SyncList(NoParams),
    /// Reset the account (DESIGN §2).
    Reset(ResetParams),
    /// The password hint, without unlocking.
    Hint(HintParams),
    /// Change the Account Password (or re-stretch it, or with a new hint).
    Passwd(PasswdParams),
    /// Change the password hint (unlocked only).
    SetHint(SetHintParams),
    /// The emergency kit (unlocked only).
    Kit(NoParams),
    /// Shut the daemon down gracefully.
    Stop(NoParams),
    /// Turn this connection into an event stream.
    Subscribe(NoParams),
    /// Import items from another manager's export.
    Import(ImportParams),
    /// Export the vault in another manager's format.
    Export(ExportParams),
    /// An encrypted backup of the vault.
    Backup(NoParams),
    /// Restore items from an encrypted backup.
    Restore(RestoreParams),
    /// Provide the freedesktop Secret Service (`org.freedesktop.secrets`).
    SecretServiceEnable(SecretServiceParams),
    /// Stop providing it.
    SecretServiceDisable(NoParams),
    /// Whether it is provided, on which bus, by whom.
    SecretServiceStatus(SecretServiceParams),
    /// Ranked search over titles, usernames, URLs and tags.
    Search(SearchParams),
    /// The current one-time code of an item (HOTP: moves its counter on).
    Totp(TotpParams),
    /// Put a field of an item on the clipboard.
    Clip(ClipParams),
    /// The items in the vault's trash.
    TrashList(NoParams),
    /// Bring an item back from the trash.
    TrashRestore(QueryParams),
    /// Purge items from the trash.
    TrashEmpty(TrashEmptyParams),
    /// Merge the items of a container or backup of an older epoch (or of
    /// this one) into this account, with that epoch's secrets.
    ImportContainer(ImportContainerParams),
    /// Add an SSH-key item from a private key file's text.
    SshImport(crate::ssh::SshImportParams),
    /// Generate an SSH key and store it as an item.
    SshGenerate(crate::ssh::SshGenerateParams),
    /// The SSH keys the agent serves.
    SshList(NoParams),
}

impl Request {
    /// Every method name, as on the wire.
    pub const METHODS: &'static [&'static str] = &[
        "status",
        "signup",
        "login",
        "unlock",
        "lock",
        "logout",
        "add",
        "get",
        "list",
        "edit",
        "rm",
        "history",
        "sync_now",
        "sync_add",
        "sync_remove",
        "sync_list",
        "reset",
        "hint",
        "passwd",
        "kit",
        "stop",
        "subscribe",
        "import",
        "export",
        "backup",
        "restore",
        "secret_service_enable",
        "secret_service_disable",
        "secret_service_status",
        "search",
        "totp",
        "clip",
        "trash_list",
        "trash_restore",
        "trash_empty",
        "set_hint",
        "import_container",
        "ssh_import",
        "ssh_generate",
        "ssh_list",
    ];

    /// Builds a request from a method name and its parameters, telling an
    /// unknown method apart from parameters that do not fit.
    pub fn from_parts(
        method: &str,
        params: Option<serde_json::Value>,
    ) -> Result<Request, ErrorBody> {
        if !Self::METHODS.contains(&method) {
            return Err(ErrorBody::new(
                ErrorCode::UnknownMethod,
                format!("unknown method {method:?}; this daemon may be older than the client"),
            ));
        }
        let params = params.unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let value = serde_json::json!({ "method": method, "params": params });
        serde_json::from_value(value).map_err(|e| {
            ErrorBody::new(
                ErrorCode::InvalidParams,
                format!(
                    "invalid parameters for {method}: {}",
                    redact_serde_error(&e)
                ),
            )
        })
    }

    /// The method name of this request.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Status(_) => "status",
            Request::Signup(_) => "signup",
            Request::Login(_) => "login",
            Request::Unlock(_) => "unlock",
            Request::Lock(_) => "lock",
            Request::Logout(_) => "logout",
            Request::Add(_) => "add",
            Request::Get(_) => "get",
            Request::List(_) => "list",
            Request::Edit(_) => "edit",
            Request::Remove(_) => "rm",
            Request::History(_) => "history",
            Request::SyncNow(_) => "sync_now",
            Request::SyncAdd(_) => "sync_add",
            Request::SyncRemove(_) => "sync_remove",
            Request::SyncList(_) => "sync_list",
            Request::Reset(_) => "reset",
            Request::Hint(_) => "hint",
            Request::Passwd(_) => "passwd",
            Request::Kit(_) => "kit",
            Request::Stop(_) => "stop",
            Request::Subscribe(_) => "subscribe",
            Request::Import(_) => "import",
            Request::Export(_) => "export",
            Request::Backup(_) => "backup",
            Request::Restore(_) => "restore",
            Request::SecretServiceEnable(_) => "secret_service_enable",
            Request::SecretServiceDisable(_) => "secret_service_disable",
            Request::SecretServiceStatus(_) => "secret_service_status",
            Request::Search(_) => "search",
            Request::Totp(_) => "totp",
            Request::Clip(_) => "clip",
            Request::TrashList(_) => "trash_list",
            Request::TrashRestore(_) => "trash_restore",
            Request::TrashEmpty(_) => "trash_empty",
            Request::SetHint(_) => "set_hint",
            Request::ImportContainer(_) => "import_container",
            Request::SshImport(_) => "ssh_import",
            Request::SshGenerate(_) => "ssh_generate",
            Request::SshList(_) => "ssh_list",
        }
    }
}

/// serde's messages quote offending values ("invalid type: string \"…\"",
/// "integer `…`"); hide every quoted segment unless the message is about a
/// field name, so no secret is echoed back.
fn redact_serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        return msg;
    }
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in msg.chars() {
        match quote {
            Some(q) if c == q => {
                out.push_str("(hidden)");
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// `signup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupParams {
    /// The account email.
    pub email: String,
    /// The password hint (may be empty).
    #[serde(default)]
    pub hint: String,
    /// The new Account Password.
    pub password: Secret,
    /// Sync folders to use from the start.
    #[serde(default)]
    pub sync_folders: Vec<PathBuf>,
}

/// `login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    /// The account email.
    pub email: String,
    /// The Account Password.
    pub password: Secret,
    /// The Account Key text.
    pub account_key: Secret,
    /// Where to find the account (required unless this device has it locally).
    #[serde(default)]
    pub sync_folder: Option<PathBuf>,
}

/// `unlock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockParams {
    /// The Account Password.
    pub password: Secret,
    /// The Account Key, when this device cannot know it for the current
    /// password (the password was changed on a device that did not know
    /// this one yet; the daemon answers `account_key_needed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<Secret>,
}

/// A field to set (or, with `value: None`, to remove) on an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    /// `title`, `username`, `password`, `url`, `notes`, or a custom name.
    pub name: String,
    /// The new value; `None` removes a custom field.
    pub value: Option<Secret>,
}

/// `add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// The fields of the new item; `title` is required.
    pub fields: Vec<FieldInput>,
    /// Let the daemon generate the password (then `fields` has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateParams>,
}

/// `edit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditParams {
    /// Id or exact title (case-insensitive).
    pub query: String,
    /// Fields to change.
    pub fields: Vec<FieldInput>,
    /// Let the daemon generate a new password (then `fields` has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateParams>,
}

/// `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only the items of this collection (`login`: the Secret Service's);
    /// `None`: the default collection (items without a `collection` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Every collection's items (overrides `collection`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_collections: bool,
}

/// Methods that name one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// Id or exact title (case-insensitive).
    pub query: String,
}

/// `sync_add` and `sync_remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathParams {
    /// An absolute path.
    pub path: PathBuf,
}

/// `reset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetParams {
    /// The account email, typed to confirm.
    pub email: String,
    /// The new Account Password.
    pub new_password: Secret,
    /// The new hint (`None` keeps the old one).
    #[serde(default)]
    pub hint: Option<String>,
    /// Where the account lives, for a device that is not signed in.
    #[serde(default)]
    pub sync_folder: Option<PathBuf>,
}

/// `hint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HintParams {
    /// The account email.
    pub email: String,
    /// A sync folder to look in when this device has no account.
    #[serde(default)]
    pub sync_folder: Option<PathBuf>,
}

/// `passwd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswdParams {
    /// The current Account Password.
    pub old_password: Secret,
    /// The new Account Password (with `same`, the current one again).
    pub new_password: Secret,
    /// A new hint, or `None` to keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Keep the password: only re-stretch it at this machine's calibrated
    /// parameters (`new_password` must equal `old_password`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same: bool,
}

/// `set_hint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHintParams {
    /// The new hint (may be empty: no hint).
    pub hint: String,
}

/// `import_container`: a container (from the trash) or an encrypted backup,
/// possibly of an older epoch, with the secrets of that epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportContainerParams {
    /// The file's name, for messages.
    pub file_name: String,
    /// The file's bytes, standard base64.
    pub content_base64: Secret,
    /// The Account Password of the file's epoch.
    pub password: Secret,
    /// The Account Key of the file's epoch.
    pub account_key: Secret,
    /// Report what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// The source format name (see `coffer import --help`).
    pub format: String,
    /// The file's name, for messages.
    pub file_name: String,
    /// The file's bytes, standard base64 (plaintext secrets: never logged).
    pub content_base64: Secret,
    /// Report what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// The target format name.
    pub format: String,
}

/// `restore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    /// The backup's bytes, standard base64.
    pub content_base64: Secret,
    /// The Account Password the backup was made under.
    pub password: Secret,
    /// The Account Key the backup was made under.
    pub account_key: Secret,
}
