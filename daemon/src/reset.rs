//! `coffer reset` (DESIGN §2) and the sync-folder requests.
//!
//! A reset needs no secret of the old epoch: it makes a new Account Key,
//! vault key and salt, raises the epoch, and keeps the account's id, email,
//! creation time and plan. On this device the container goes to the trash
//! and the key is purged; every device's stale sync files (conflict copies
//! included) leave every sync folder for the trash; the new `account.json`
//! is written; and the daemon waits for a login (state `reset`). Other
//! devices notice the new epoch in their next sync round.

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{Event, NewAccountReply, ResetDetails, State};
use coffer_proto::request::{PathParams, ResetParams};
use coffer_proto::{ErrorCode, Secret};
use coffer_vault::account::AccountHeader;
use coffer_vault::secret::SecretString;
use serde_json::json;

use crate::daemon::{
    blocking, check_email, check_folders, container_path, err, internal, io_err, not_ready, now_ms,
    to_reply, Daemon, Reply,
};
use crate::sync::FolderHealth;
use crate::sync_names::{classify, Entry, ACCOUNT_FILE};

impl Daemon {
    pub(crate) async fn reset(self: &Arc<Self>, p: ResetParams) -> Reply {
        let email = check_email(&p.email)?;
        if p.new_password.expose().is_empty() {
            return Err(err(
                ErrorCode::InvalidParams,
                "the new Account Password must not be empty",
            ));
        }
        let mut inner = self.inner.lock().await;
        let mut folders: Vec<PathBuf> = inner
            .device
            .as_ref()
            .map(|d| d.sync_folders.clone())
            .unwrap_or_default();
        if let Some(f) = &p.sync_folder {
            for f in check_folders(std::slice::from_ref(f))? {
                if !folders.contains(&f) {
                    folders.push(f);
                }
            }
        }
        // The account to reset: this device's, or the one in the sync folder.
        let local = inner.header.clone();
        let (account_id, local_email) = match (&inner.device, &local) {
            (Some(d), _) => (Some(d.account_id), Some(d.email.clone())),
            _ => (None, None),
        };
        let found = match account_id {
            Some(id) => crate::sync::find_account(&folders, &email).filter(|h| h.account_id == id),
            None => crate::sync::find_account(&folders, &email),
        };
        let current: AccountHeader = match (found, local) {
            (Some(f), Some(l)) => {
                if f.precedence() >= l.precedence() {
                    f
                } else {
                    l
                }
            }
            (Some(f), None) => f,
            (None, Some(l)) => l,
            (None, None) => {
                if local_email.is_some() {
                    return Err(err(
                        ErrorCode::EmailMismatch,
                        "that email is not this account's; nothing was changed",
                    ));
                }
                return Err(err(
                    ErrorCode::AccountNotFound,
                    format!(
                        "no account for {email} {}; pass --sync-folder DIR",
                        if folders.is_empty() {
                            "on this device".to_owned()
                        } else {
                            "in the sync folders".to_owned()
                        }
                    ),
                ));
            }
        };
        if !current.email.eq_ignore_ascii_case(&email)
            || local_email
                .as_ref()
                .is_some_and(|l| !l.eq_ignore_ascii_case(&email))
        {
            return Err(err(
                ErrorCode::EmailMismatch,
                "that email is not this account's; nothing was changed",
            ));
        }
        if folders.is_empty() && inner.device.is_none() {
            return Err(err(
                ErrorCode::InvalidParams,
                "pass --sync-folder DIR: the account lives there",
            ));
        }
        // The new header must reach a folder, or no device (this one included) could ever log
        // in again. A folder that is missing now (an unmounted drive) is never created.
        let reachable: Vec<PathBuf> = folders.iter().filter(|f| f.is_dir()).cloned().collect();
        if reachable.is_empty() {
            return Err(err(
                ErrorCode::SyncFolder,
                if folders.is_empty() {
                    "a reset publishes the new account header in a sync folder, and this device has none: \
                     add one with `coffer sync add DIR` (or pass --sync-folder DIR); nothing was changed"
                        .to_owned()
                } else {
                    "no sync folder of this account is reachable now; nothing was changed"
                        .to_owned()
                },
            ));
        }
        let (device_id, device_name) = match &inner.device {
            Some(d) => (d.device_id.clone(), d.device_name.clone()),
            None => (
                "not-signed-in".to_owned(),
                self.config
                    .device_name
                    .clone()
                    .unwrap_or_else(|| "a device that was not signed in".into()),
            ),
        };
        let pw = SecretString::new(p.new_password.expose().to_owned());
        let hint = p.hint.clone();
        let (did, dname) = (device_id.clone(), device_name.clone());
        let cur = current.clone();
        let new = blocking(move || {
            cur.reset(
                &pw,
                hint.as_deref(),
                Self::kdf_params(),
                now_ms(),
                &did,
                &dname,
            )
        })
        .await
        .map_err(|e| err(ErrorCode::BadInput, format!("cannot reset: {e}")))?;
        let account_dir = |f: &PathBuf| f.join(current.account_id.to_string());
        // Stale sync files of every device leave every folder for the trash.
        for f in &reachable {
            let dir = account_dir(f);
            coffer_proto::dirs::create_private_dir(&dir).map_err(io_err)?;
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let retire = matches!(
                        classify(&e.file_name().to_string_lossy()),
                        Entry::DeviceFile { .. }
                            | Entry::DeviceConflict { .. }
                            | Entry::AccountHeaderConflict { .. }
                    );
                    if retire {
                        crate::trash::move_to_trash(&e.path()).map_err(|er| {
                            err(
                                ErrorCode::Io,
                                format!("could not move {} to the trash: {er}", e.path().display()),
                            )
                        })?;
                    }
                }
            }
        }
        // This device: key purged, container to the trash, state reset.
        let mut trashed = None;
        if let Some(mut dev) = inner.device.clone() {
            if let Some(ns) = inner.namespace() {
                let _ = self.keyring(|k| k.purge(&ns));
            }
            inner.key = None;
            let cpath = container_path(&self.dirs, &dev);
            if cpath.exists() {
                trashed = Some(crate::trash::move_to_trash(&cpath).map_err(|e| {
                    err(ErrorCode::Io, format!("could not move the container to the trash: {e}; nothing else was changed"))
                })?);
            }
            let details = ResetDetails {
                at_ms: now_ms(),
                by_device_id: device_id.clone(),
                by_device_name: device_name.clone(),
                previous_epoch: dev.epoch,
                new_epoch: new.header.epoch,
                // A second reset finds no container: keep pointing at the one trashed before.
                trashed_container: trashed
                    .clone()
                    .or_else(|| dev.reset.as_ref().and_then(|r| r.trashed_container.clone())),
                next_command: format!(
                    "coffer login --email {} --sync-folder {}",
                    dev.email,
                    folders
                        .first()
                        .map(|f| f.display().to_string())
                        .unwrap_or_else(|| "DIR".into())
                ),
                lost_to_concurrent_reset: None,
            };
            // Kept, so that this device can put the header back if an engine replays an old one.
            crate::sync::keep_reset_header(&self.dirs, &new.header).map_err(io_err)?;
            dev.sync_folders = folders.clone();
            dev.reset = Some(details.clone());
            dev.save(&self.dirs.data.join("device.json"))
                .map_err(io_err)?;
            inner.device = Some(dev);
            inner.header = None;
            inner.replica = None;
            inner.published.clear();
            self.emit(Event::Reset(details));
            self.emit(Event::State {
                state: State::Reset,
            });
        }
        // The new header, last: other devices react to it.
        for f in &reachable {
            let path = account_dir(f).join(ACCOUNT_FILE);
            crate::fsutil::write_atomic(&path, &new.header.to_json(), 0o644).map_err(io_err)?;
        }
        tracing::warn!(
            epoch = new.header.epoch,
            "the account was reset from this device"
        );
        let reply = NewAccountReply {
            account_id: new.header.account_id.to_string(),
            email: new.header.email.clone(),
            account_key: Secret::new(new.account_key.to_text().expose()),
            epoch: new.header.epoch,
            device_id,
            created_ms: new.header.created_ms,
        };
        let mut v = serde_json::to_value(reply).map_err(internal)?;
        if let Some(t) = trashed {
            v["trashed_container"] = json!(t);
        }
        Ok(v)
    }

    pub(crate) async fn sync_now(self: &Arc<Self>) -> Reply {
        {
            let inner = self.inner.lock().await;
            if inner.device.is_none() {
                return Err(not_ready(State::SignedOut));
            }
        }
        let report = crate::sync::round(self, true).await;
        to_reply(report)
    }

    pub(crate) async fn sync_add(self: &Arc<Self>, p: PathParams) -> Reply {
        let path = check_folders(std::slice::from_ref(&p.path))?.remove(0);
        let mut inner = self.inner.lock().await;
        let Some(mut dev) = inner.device.clone() else {
            return Err(not_ready(State::SignedOut));
        };
        if dev.sync_folders.contains(&path) {
            return Err(err(
                ErrorCode::SyncFolder,
                format!("{} is already a sync folder", path.display()),
            ));
        }
        dev.sync_folders.push(path.clone());
        dev.save(&self.dirs.data.join("device.json"))
            .map_err(io_err)?;
        inner.device = Some(dev);
        inner.folders.insert(path.clone(), FolderHealth::default());
        drop(inner);
        self.rewatch.notify_one();
        crate::sync::round(self, true).await;
        Ok(json!({"message": format!("syncing through {}", path.display())}))
    }

    pub(crate) async fn sync_remove(self: &Arc<Self>, p: PathParams) -> Reply {
        let path = std::path::absolute(&p.path).map_err(io_err)?;
        let mut inner = self.inner.lock().await;
        let Some(mut dev) = inner.device.clone() else {
            return Err(not_ready(State::SignedOut));
        };
        let before = dev.sync_folders.len();
        dev.sync_folders.retain(|f| {
            *f != path && std::fs::canonicalize(f).ok() != std::fs::canonicalize(&path).ok()
        });
        if dev.sync_folders.len() == before {
            return Err(err(
                ErrorCode::SyncFolder,
                format!(
                    "{} is not a sync folder; `coffer sync list` shows them",
                    path.display()
                ),
            ));
        }
        dev.save(&self.dirs.data.join("device.json"))
            .map_err(io_err)?;
        inner.device = Some(dev);
        inner.folders.remove(&path);
        inner.published.remove(&path);
        drop(inner);
        self.rewatch.notify_one();
        Ok(
            json!({"message": format!("stopped syncing through {}; its files were left in place", path.display())}),
        )
    }

    pub(crate) async fn sync_list(self: &Arc<Self>) -> Reply {
        let inner = self.inner.lock().await;
        if inner.device.is_none() {
            return Err(not_ready(State::SignedOut));
        }
        to_reply(crate::sync::folder_infos(&inner))
    }
}

impl Daemon {
    /// `coffer restore CONTAINER` on a device that is signed out or in state
    /// `reset`: brings back a container from the trash (after a forged
    /// reset, say). The container's embedded account header must open with
    /// the Account Password and Account Key given; it is then written back
    /// to every sync folder (over the forged `account.json`), and the device
    /// is signed in to that epoch again with every item the container held.
    /// Devices still waiting in `reset` come back with `coffer login` and
    /// the same (old) secrets. If the reset was genuine, another device on
    /// the newer epoch puts its header back and this device returns to
    /// `reset`: nothing is lost either way.
    pub(crate) async fn recover(
        self: &Arc<Self>,
        p: coffer_proto::request::RestoreParams,
        bytes: Vec<u8>,
    ) -> Reply {
        use coffer_vault::format::Container;
        let container = Container::from_bytes(&bytes).map_err(|e| {
            err(
                ErrorCode::BadInput,
                format!("the container cannot be read: {e}"),
            )
        })?;
        let (header, mut replica) = container.into_replica();
        let ak = crate::daemon::parse_account_key(p.account_key.expose())?;
        let pw = SecretString::new(p.password.expose().to_owned());
        let mut inner = self.inner.lock().await;
        self.ready_to_sign_in(
            &inner,
            "this device is signed in: restore a container only when signed out or after a reset (`coffer status`); for backups use an unlocked vault",
        )?;
        let h = header.clone();
        let result = blocking(move || {
            let stretched = coffer_vault::kdf::stretch_password(&pw, &h.salt, &h.kdf)?;
            let key = h.unlock_stretched(&stretched, &ak)?;
            Ok::<_, coffer_vault::account::AccountError>((stretched, key, ak))
        })
        .await;
        let (stretched, key, ak) = match result {
            Ok(x) => x,
            Err(e) => return Err(self.credential_failure(&mut inner, e)),
        };
        let rejected = replica.verify_and_compact(&key);
        let folders: Vec<PathBuf> = inner
            .device
            .as_ref()
            .map(|d| d.sync_folders.clone())
            .unwrap_or_default();
        for f in &folders {
            let dir = f.join(header.account_id.to_string());
            coffer_proto::dirs::create_private_dir(&dir).map_err(io_err)?;
            crate::fsutil::write_atomic(&dir.join(ACCOUNT_FILE), &header.to_json(), 0o644)
                .map_err(io_err)?;
        }
        if let Some(old) = inner.namespace() {
            let _ = self.keyring(|k| k.purge(&old));
        }
        let mut device = crate::device::DeviceRecord {
            format: crate::device::FORMAT.into(),
            version: 1,
            account_id: header.account_id,
            email: header.email.clone(),
            epoch: header.epoch,
            device_id: replica.device_id().to_string(),
            device_name: replica.device_name().to_owned(),
            sync_folders: folders,
            account_key_pw: Vec::new(),
            account_key_vk: Vec::new(),
            reset: None,
        };
        device.seal_account_key(&ak, &stretched, &key);
        let items = replica.items(&key).map(|v| v.len()).unwrap_or(0);
        self.sign_in(&mut inner, device, header, replica, key)?;
        drop(inner);
        tracing::warn!(items, rejected = rejected.len(), "restored a container");
        self.after_sign_in().await;
        Ok(json!({
            "message": format!("restored the container: {items} item(s); this device is signed in and unlocked"),
            "items": items,
        }))
    }
}
