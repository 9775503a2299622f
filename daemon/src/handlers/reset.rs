//! `coffer reset` (DESIGN §2).
//!
//! A reset needs no secret of the old epoch: it makes a new Account Key,
//! vault key and salt, raises the epoch, and keeps the account's id, email,
//! creation time and plan. Every device's stale sync files (conflict copies
//! included) leave every sync folder for the trash; on this device the
//! container goes to the trash and the key is purged (the session enters
//! state `reset`); the new `account.json` is written last, since other
//! devices react to it.

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{NewAccountReply, ResetDetails};
use coffer_proto::request::ResetParams;
use coffer_proto::Secret;
use coffer_vault::account::AccountHeader;
use coffer_vault::sync_names::{classify, Entry};
use serde_json::Value;

use super::{check_email, folders_with, secret, to_reply, Extra};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::session::{credentials, ResetCause, Session};
use crate::store::trash;
use crate::sync::layout::{self, Rewrite};

/// `reset`.
pub async fn reset(d: &Arc<Daemon>, p: ResetParams) -> Result<Value> {
    let email = check_email(&p.email)?;
    if p.new_password.expose().is_empty() {
        return Err(Error::Invalid(
            "the new Account Password must not be empty".into(),
        ));
    }
    let mut core = d.core().await;
    let folders = folders_with(
        core.session.sync_folders(),
        p.sync_folder.as_deref(),
        Extra::Last,
    )?;
    // The account to reset: this device's, or the one in the sync folder.
    let device = core.session.device().cloned();
    let local = core.session.account().map(|a| a.header.clone());
    let found = match &device {
        Some(dev) => {
            layout::find_account(&folders, &email).filter(|h| h.account_id == dev.account_id)
        }
        None => layout::find_account(&folders, &email),
    };
    let Some(current) = layout::newest(found, local) else {
        if device.is_some() {
            return Err(Error::EmailMismatch);
        }
        return Err(Error::AccountNotFound(format!(
            "no account for {email} {}; pass --sync-folder DIR",
            if folders.is_empty() {
                "on this device"
            } else {
                "in the sync folders"
            }
        )));
    };
    if !current.email.eq_ignore_ascii_case(&email)
        || device
            .as_ref()
            .is_some_and(|d| !d.email.eq_ignore_ascii_case(&email))
    {
        return Err(Error::EmailMismatch);
    }
    if folders.is_empty() && device.is_none() {
        return Err(Error::Invalid(
            "pass --sync-folder DIR: the account lives there".into(),
        ));
    }
    // The new header must reach a folder, or no device (this one included)
    // could ever log in again. A folder that is missing now (an unmounted
    // drive) is never created.
    let reachable: Vec<PathBuf> = folders.iter().filter(|f| f.is_dir()).cloned().collect();
    if reachable.is_empty() {
        return Err(Error::SyncFolder(if folders.is_empty() {
            "a reset publishes the new account header in a sync folder, and this device has none: \
             add one with `coffer sync add DIR` (or pass --sync-folder DIR); nothing was changed"
                .to_owned()
        } else {
            "no sync folder of this account is reachable now; nothing was changed".to_owned()
        }));
    }
    let (device_id, device_name) = match &device {
        Some(dev) => (dev.device_id.clone(), dev.device_name.clone()),
        None => (
            "not-signed-in".to_owned(),
            d.config
                .device_name
                .clone()
                .unwrap_or_else(|| "a device that was not signed in".into()),
        ),
    };
    let pw = secret(&p.new_password);
    let hint = p.hint.clone();
    let (did, dname) = (device_id.clone(), device_name.clone());
    let cur = current.clone();
    let new = credentials::run(move || {
        cur.reset(
            &pw,
            hint.as_deref(),
            Daemon::kdf_params(),
            now_ms(),
            &did,
            &dname,
        )
    })
    .await
    .map_err(|e| Error::BadInput(format!("cannot reset: {e}")))?;
    retire_every_device_file(&reachable, &current)?;
    // This device: key purged, container to the trash, state reset.
    let mut trashed = None;
    if let Some(dev) = &device {
        let details = ResetDetails {
            at_ms: now_ms(),
            by_device_id: device_id.clone(),
            by_device_name: device_name.clone(),
            previous_epoch: dev.epoch,
            new_epoch: new.header.epoch,
            trashed_container: None,
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
        let had_container = core.session.account().is_some();
        let cause = ResetCause::Local {
            details,
            header: new.header.clone(),
            folders: folders.clone(),
        };
        let details = core.session.enter_reset(&d.ctx(), cause)?;
        if had_container {
            trashed = details.trashed_container;
        }
    }
    debug_assert!(!matches!(
        core.session,
        Session::Locked(_) | Session::Unlocked(..)
    ));
    // The new header, last: other devices react to it.
    if let Some((path, e)) = layout::publish_header(&reachable, &new.header, Rewrite::Always)
        .into_iter()
        .next()
    {
        return Err(Error::io_after(
            "retiring the old epoch's files",
            format!("could not write {}: {e}", path.display()),
        ));
    }
    tracing::warn!(
        epoch = new.header.epoch,
        "the account was reset from this device"
    );
    to_reply(NewAccountReply {
        account_id: new.header.account_id.to_string(),
        email: new.header.email.clone(),
        account_key: Secret::new(new.account_key.to_text().expose()),
        epoch: new.header.epoch,
        device_id,
        created_ms: new.header.created_ms,
        trashed_container: trashed,
    })
}

/// Moves every device's sync files of the old epoch (conflict copies and
/// header copies included) out of the folders, into the trash.
fn retire_every_device_file(folders: &[PathBuf], current: &AccountHeader) -> Result<()> {
    for f in folders {
        let dir = layout::account_dir(f, &current.account_id);
        coffer_proto::dirs::create_private_dir(&dir).map_err(Error::nothing_changed)?;
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            // Every device's files (device files, delta segments and the
            // copies of either) and the header's copies.
            let entry = classify(&e.file_name().to_string_lossy());
            let retire =
                entry.device_id().is_some() || matches!(entry, Entry::AccountHeaderConflict { .. });
            if retire {
                trash::move_to_trash(&e.path()).map_err(|er| {
                    Error::Io(format!(
                        "could not move {} to the trash: {er}",
                        e.path().display()
                    ))
                })?;
            }
        }
    }
    Ok(())
}
