//! Request handlers, one module per area, and the one dispatch where a
//! handler's [`Error`] becomes the wire's error body.
//!
//! # Layout
//!
//! - [`status`]: `status` and the views it is built from;
//! - [`account`]: signup, login, unlock, lock, logout, kit, hint, stop;
//! - [`header`]: passwd and set_hint (changes of the header within an epoch);
//! - [`items`]: add, get, list, edit, rm, history;
//! - [`sync`]: sync now, add, remove, list;
//! - [`reset`]: resetting the account;
//! - [`restore`]: bringing back a container from the trash;
//! - [`secret_service`]: `coffer secret-service enable|disable|status`;
//! - [`lookup`]: which item a query names (id, exact title, search);
//! - [`generate`]: `add`/`edit --generate`;
//! - [`otp`]: `totp`, and one-time-code setups given to add and edit;
//! - [`search`]: the `search` method;
//! - [`clip`]: `clip` (the clipboard);
//! - [`trash`]: `trash_list`, `trash_restore`, `trash_empty`;
//! - [`header`]: `passwd` and `set_hint` (the next header generation);
//! - [`ssh`]: SSH keys (import, generate, list) and the agent's key list;
//! - [`agent`]: the SSH agent's requests, answered from the session;
//! - import, export, backup and restore of backups, and the import of an
//!   older epoch's container: [`crate::interop`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_proto::{ErrorBody, Request};
use coffer_vault::account_key::AccountKey;
use serde_json::Value;

use crate::daemon::Daemon;
use crate::error::{Error, Result};

pub mod account;
pub mod agent;
pub mod clip;
pub mod generate;
pub mod header;
pub mod items;
pub mod lookup;
pub mod otp;
pub mod reset;
pub mod restore;
pub mod search;
pub mod secret_service;
pub mod ssh;
pub mod status;
pub mod sync;
pub mod trash;

/// A successful reply carrying `value`.
pub fn to_reply<T: serde::Serialize>(value: T) -> Result<Value> {
    serde_json::to_value(value).map_err(Error::internal)
}

/// Answers one request: the only place errors turn into wire replies.
pub async fn dispatch(daemon: Arc<Daemon>, req: Request) -> std::result::Result<Value, ErrorBody> {
    answer(daemon, req).await.map_err(ErrorBody::from)
}

/// What follows a request once its reply is sent (so that the reply never
/// waits for it): the SSH agent's public-key index catches up with a
/// change (a no-op unless listing while locked is on).
pub async fn after_reply(daemon: &Daemon, method: &str) {
    if method != "status" {
        ssh::keep_current(daemon).await;
    }
}

async fn answer(d: Arc<Daemon>, req: Request) -> Result<Value> {
    match req {
        Request::Status(_) => status::status(&d).await,
        Request::Signup(p) => account::signup(&d, p).await,
        Request::Login(p) => account::login(&d, p).await,
        Request::Unlock(p) => account::unlock(&d, p).await,
        Request::Lock(_) => account::lock(&d).await,
        Request::Logout(_) => account::logout(&d).await,
        Request::Passwd(p) => header::passwd(&d, p).await,
        Request::SetHint(p) => header::set_hint(&d, p).await,
        Request::ImportContainer(p) => crate::interop::old_epoch::import_container(&d, p).await,
        Request::Kit(_) => account::kit(&d).await,
        Request::Hint(p) => account::hint(&d, p).await,
        Request::Stop(_) => account::stop(&d),
        Request::Add(p) => items::add(&d, p).await,
        Request::Get(p) => items::get(&d, p).await,
        Request::List(p) => items::list(&d, p).await,
        Request::Edit(p) => items::edit(&d, p).await,
        Request::Remove(p) => items::remove(&d, p).await,
        Request::History(p) => items::history(&d, p).await,
        Request::SyncNow(_) => sync::now(&d).await,
        Request::SyncAdd(p) => sync::add(&d, p).await,
        Request::SyncRemove(p) => sync::remove(&d, p).await,
        Request::SyncList(_) => sync::list(&d).await,
        Request::Reset(p) => reset::reset(&d, p).await,
        Request::Import(p) => crate::interop::import(&d, p).await,
        Request::Export(p) => crate::interop::export(&d, p).await,
        Request::Backup(_) => crate::interop::backup::backup(&d).await,
        Request::Restore(p) => {
            let bytes = crate::store::device::b64_decode(p.content_base64.expose())
                .ok_or_else(|| Error::Invalid("the file content is not base64".into()))?;
            if bytes.starts_with(b"COFFER-CONTAINER ") {
                restore::recover(&d, p, bytes).await
            } else {
                crate::interop::backup::restore(&d, p, bytes).await
            }
        }
        Request::SecretServiceEnable(p) => secret_service::enable(&d, p).await,
        Request::SecretServiceDisable(_) => secret_service::disable(&d).await,
        Request::SecretServiceStatus(p) => secret_service::status(&d, p).await,
        Request::Search(p) => search::search(&d, p).await,
        Request::Totp(p) => otp::totp(&d, p).await,
        Request::Clip(p) => clip::clip(&d, p).await,
        Request::TrashList(_) => trash::list(&d).await,
        Request::TrashRestore(p) => trash::restore(&d, p).await,
        Request::TrashEmpty(p) => trash::empty(&d, p).await,
        Request::SshImport(p) => ssh::import(&d, p).await,
        Request::SshGenerate(p) => ssh::generate(&d, p).await,
        Request::SshList(_) => ssh::list(&d).await,
        Request::Subscribe(_) => Err(Error::Invalid(
            "subscribe is handled by the connection".into(),
        )),
        _ => Err(Error::UnknownMethod),
    }
}

/// A plausible email address, trimmed.
pub fn check_email(e: &str) -> Result<String> {
    let e = e.trim();
    if e.is_empty() || !e.contains('@') || e.len() > 254 || e.chars().any(char::is_whitespace) {
        return Err(Error::Invalid(format!("{e:?} is not an email address")));
    }
    Ok(e.to_owned())
}

/// The Account Key in `text`, or which group is mistyped (before any slow derivation).
pub fn parse_account_key(text: &str) -> Result<AccountKey> {
    AccountKey::parse(text)
        .map_err(|e| Error::BadAccountKey(format!("{e}; check the emergency kit")))
}

/// `folders` made absolute, each an existing folder, without repeats.
pub fn check_folders(folders: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in folders {
        let abs = std::path::absolute(f).map_err(Error::nothing_changed)?;
        if !abs.is_dir() {
            return Err(Error::SyncFolder(format!(
                "{} is not a folder; create it (or check the path) and try again",
                abs.display()
            )));
        }
        if !out.contains(&abs) {
            out.push(abs);
        }
    }
    Ok(out)
}

/// Where a folder named in a request goes among this device's folders.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// Before them (a login: the folder named first is where the account is).
    First,
    /// After them.
    Last,
}

/// This device's sync folders with `extra` (checked to be a folder) added
/// where `at` says, without repeats.
pub fn folders_with(device: &[PathBuf], extra: Option<&Path>, at: Extra) -> Result<Vec<PathBuf>> {
    let mut folders = device.to_vec();
    if let Some(f) = extra {
        let f = check_folders(&[f.to_owned()])?.remove(0);
        if !folders.contains(&f) {
            match at {
                Extra::First => folders.insert(0, f),
                Extra::Last => folders.push(f),
            }
        }
    }
    Ok(folders)
}

/// Paths for a message.
pub fn show_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A secret from the wire as a vault secret.
pub fn secret(s: &coffer_proto::Secret) -> coffer_vault::secret::SecretString {
    coffer_vault::secret::SecretString::new(s.expose().to_owned())
}
