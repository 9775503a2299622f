//! SSH-key requests: `ssh_import` (`coffer add TITLE --ssh-key FILE`),
//! `ssh_generate` and `ssh_list`; storing a key as an item (also for the
//! agent's `ssh-add` when the configuration allows it); and keeping the
//! agent's key list current with the session.
//!
//! An SSH-key item has `kind = ssh-key`, the private key as unencrypted
//! OpenSSH text in `ssh-private-key` (the vault encrypts it), and the
//! public key line and fingerprint in `ssh-public-key` and
//! `ssh-fingerprint`. The daemon is the one place that parses keys: the
//! CLI sends the file's text (and its passphrase) as secrets.

use std::sync::MutexGuard;

use coffer_proto::reply::State;
use coffer_proto::ssh::{SshGenerateParams, SshImportParams, SshKeyInfo, SshKeysReply};
use coffer_vault::ids::ItemId;
use coffer_vault::item::fields::{custom_field, reserved};
use coffer_vault::secret::SecretString;
use serde_json::Value;

use super::items::{commit, open, vault_field};
use super::to_reply;
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::session::{Core, Session};
use crate::ssh_agent::keylist::Source;
use crate::ssh_agent::keys::{self, KeyError, KeyKind, KeyMaterial};
use crate::ssh_agent::{KeyList, VaultKey, KIND_SSH_KEY};

/// The fields coffer sets on an SSH-key item, which a user may not give.
const KEY_FIELDS: [&str; 4] = [
    reserved::KIND,
    reserved::SSH_PRIVATE_KEY,
    reserved::SSH_PUBLIC_KEY,
    reserved::SSH_FINGERPRINT,
];

/// A key problem as the request's error (`data.ssh_key` names it).
pub fn key_error(e: KeyError) -> Error {
    let kind = match e {
        KeyError::PassphraseNeeded => "passphrase_needed",
        KeyError::WrongPassphrase => "wrong_passphrase",
        _ => "invalid",
    };
    Error::SshKey {
        message: e.to_string(),
        kind,
    }
}

/// Whether the agent keeps the public-key index for listing while locked.
pub fn keeps_index(d: &Daemon) -> bool {
    d.ssh.keeps_index()
}

/// The agent's key list, brought up to date with `session` (the caller
/// holds the state lock).
pub fn refresh_keys<'d>(d: &'d Daemon, session: &Session) -> MutexGuard<'d, KeyList> {
    let keep = keeps_index(d);
    let mut keys = d.ssh.keys();
    match session {
        Session::Unlocked(a, k) => keys.refresh_unlocked(&a.replica, k, keep),
        Session::Locked(a) if keep => {
            keys.refresh_locked(a.replica.account_id(), a.replica.epoch())
        }
        Session::Locked(_) => keys.sweep(),
        Session::SignedOut | Session::Reset(_) => keys.clear(),
    }
    keys
}

/// After a request's reply or a sync round: keeps the public-key index in step
/// with the vault (only when listing while locked is on; otherwise the
/// list is brought up to date when the agent asks). Every lock refreshes
/// it first too ([`crate::ssh_agent::AgentState::before_lock`]), so a
/// refresh that comes after the lock loses nothing.
pub async fn keep_current(d: &Daemon) {
    if keeps_index(d) {
        let core = d.core().await;
        let start = std::time::Instant::now();
        drop(refresh_keys(d, &core.session));
        tracing::trace!(took = ?start.elapsed(), "SSH agent key list refreshed");
    }
}

fn info(k: &VaultKey) -> SshKeyInfo {
    SshKeyInfo {
        id: k.id.to_string(),
        title: k.title.clone(),
        algorithm: k.public.algorithm().as_str().to_owned(),
        fingerprint: k.fingerprint.clone(),
        public_key: k.public_line(),
    }
}

/// `ssh_list`: the keys the agent serves. While locked only when listing
/// while locked is allowed (from the public-key index).
pub async fn list(d: &Daemon) -> Result<Value> {
    let core = d.core().await;
    let keys = refresh_keys(d, &core.session);
    match core.session.state() {
        State::Unlocked => {}
        State::Locked if keeps_index(d) => {}
        other => return Err(Error::NotReady(other)),
    }
    to_reply(SshKeysReply {
        keys: keys.keys().iter().map(info).collect(),
        from_locked_index: keys.source() == Source::Index,
    })
}

/// Stores `material` as a new SSH-key item titled `title`, with `extra`
/// fields; refuses a key the vault already holds. Needs the vault unlocked.
pub fn store(
    d: &Daemon,
    core: &mut Core,
    title: &str,
    material: &KeyMaterial,
    extra: Vec<(String, SecretString)>,
) -> Result<SshKeyInfo> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::Invalid("an item needs a title".into()));
    }
    if core.session.state() != State::Unlocked {
        return Err(Error::NotReady(core.session.state()));
    }
    let public = keys::parse_public_line(&material.public_line).map_err(key_error)?;
    if let Some(have) = refresh_keys(d, &core.session).find(public.key_data()) {
        return Err(Error::SshKey {
            message: format!(
                "this key is already in coffer as \"{}\" ({}); nothing was added",
                have.title, have.id
            ),
            kind: "duplicate",
        });
    }
    let s = |v: &str| SecretString::new(v.to_owned());
    let mut fields = vec![
        ("title".to_owned(), s(title)),
        (custom_field(reserved::KIND), s(KIND_SSH_KEY)),
        (
            custom_field(reserved::SSH_PRIVATE_KEY),
            s(&material.private_openssh),
        ),
        (
            custom_field(reserved::SSH_PUBLIC_KEY),
            s(&material.public_line),
        ),
        (
            custom_field(reserved::SSH_FINGERPRINT),
            s(&material.fingerprint),
        ),
    ];
    fields.extend(extra);
    let (account, key) = open(d, core)?;
    let undo = account.replica.undo_point(&[]);
    let id: ItemId = account
        .replica
        .add(&key, fields, now_ms())
        .map_err(Error::internal)?;
    commit(d, account, undo)?;
    tracing::info!(item = %id, key = %material.fingerprint, "stored an SSH key");
    Ok(SshKeyInfo {
        id: id.to_string(),
        title: title.to_owned(),
        algorithm: material.algorithm.clone(),
        fingerprint: material.fingerprint.clone(),
        public_key: material.public_line.clone(),
    })
}

/// The user's fields of an import: the title and anything but the fields
/// coffer sets itself.
fn user_fields(p: &SshImportParams) -> Result<(String, Vec<(String, SecretString)>)> {
    let mut title = None;
    let mut extra = Vec::new();
    for f in &p.fields {
        let name = vault_field(&f.name)?;
        let Some(value) = &f.value else { continue };
        if KEY_FIELDS.iter().any(|k| custom_field(k) == name) {
            return Err(Error::Invalid(format!(
                "the field {} is set by coffer from the key; leave it out",
                f.name.trim()
            )));
        }
        if name == "title" {
            title = Some(value.expose().to_owned());
        } else {
            extra.push((name, SecretString::new(value.expose().to_owned())));
        }
    }
    let title = title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::Invalid("an item needs a title".into()))?;
    Ok((title, extra))
}

/// Fails fast (before a slow key derivation) when the vault is not unlocked.
async fn check_unlocked(d: &Daemon) -> Result<()> {
    match d.core().await.session.state() {
        State::Unlocked => Ok(()),
        other => Err(Error::NotReady(other)),
    }
}

/// Runs key work (bcrypt, RSA) on the blocking pool, off the state lock.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, KeyError> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(key_error),
        Err(e) => Err(Error::internal(format!("key work failed: {e}"))),
    }
}

/// `ssh_import`.
pub async fn import(d: &Daemon, p: SshImportParams) -> Result<Value> {
    let (title, extra) = user_fields(&p)?;
    check_unlocked(d).await?;
    let text = p.private_key.clone();
    let passphrase = p.passphrase.clone();
    let material = blocking(move || {
        keys::import(
            text.expose(),
            passphrase.as_ref().map(|s| s.expose().as_bytes()),
            None,
        )
    })
    .await?;
    let mut core = d.core().await;
    to_reply(store(d, &mut core, &title, &material, extra)?)
}

/// `ssh_generate`.
pub async fn generate(d: &Daemon, p: SshGenerateParams) -> Result<Value> {
    let title = p.title.trim().to_owned();
    if title.is_empty() {
        return Err(Error::Invalid("an item needs a title".into()));
    }
    let kind = KeyKind::parse(&p.key_type, p.bits.map(|b| b as usize))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    check_unlocked(d).await?;
    let comment = p
        .comment
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| title.clone());
    let material = blocking(move || keys::generate(kind, &comment)).await?;
    let mut core = d.core().await;
    to_reply(store(d, &mut core, &title, &material, Vec::new())?)
}
