//! SSH-key requests and replies: importing a key as an item, generating
//! one, listing the keys the agent serves, and the agent's line in
//! `status`.
//!
//! The private key travels only client → daemon (in [`SshImportParams`]),
//! as a [`Secret`]; the daemon parses and checks it (it is the one place
//! that knows key formats) and stores it in the `ssh-private-key` field.
//! Replies carry public halves only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::request::FieldInput;
use crate::secret::Secret;

/// `ssh_import`: `coffer add TITLE --ssh-key FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshImportParams {
    /// The item's fields besides the key (`title` is required; username,
    /// notes, url and custom fields as `add` takes them).
    pub fields: Vec<FieldInput>,
    /// The key file's text: an OpenSSH private key (encrypted or not), or
    /// an unencrypted RSA key in PEM or PKCS#8.
    pub private_key: Secret,
    /// The key file's passphrase, when it is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
}

/// `ssh_generate`: `coffer ssh generate TITLE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshGenerateParams {
    /// The new item's title.
    pub title: String,
    /// `ed25519` (the default), `rsa` or `ecdsa`.
    #[serde(default = "default_key_type")]
    pub key_type: String,
    /// RSA: 2048 to 16384 (default 3072); ECDSA: 256 or 384.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// The comment in the public key line (default: the title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn default_key_type() -> String {
    "ed25519".into()
}

/// One SSH key as the agent offers it (`ssh_import`, `ssh_generate`, and
/// each entry of `ssh_list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyInfo {
    /// The item's id.
    pub id: String,
    /// The item's title (the comment `ssh-add -l` shows).
    pub title: String,
    /// The key's algorithm: `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256` …
    pub algorithm: String,
    /// The SHA256 fingerprint, `SHA256:…`.
    pub fingerprint: String,
    /// The public key line, as `authorized_keys` takes it.
    pub public_key: String,
}

/// `ssh_list`: the keys the agent serves now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeysReply {
    /// The keys, by title.
    pub keys: Vec<SshKeyInfo>,
    /// True when the list came from the public-key index kept for a locked
    /// vault (`ssh_agent_list_locked = true`): keys that arrived from other
    /// devices since the last unlock are not in it.
    #[serde(default)]
    pub from_locked_index: bool,
}

/// The SSH agent in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAgentInfo {
    /// The agent's socket (`SSH_AUTH_SOCK`).
    pub socket: PathBuf,
    /// Whether the agent serves on it; false when binding failed.
    pub serving: bool,
    /// Why it does not serve, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether keys are listed while the vault is locked.
    pub list_locked: bool,
    /// What happens to keys offered with `ssh-add`: `refuse` or `store`.
    pub add_policy: String,
}
