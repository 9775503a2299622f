//! `coffer reset` (DESIGN §2).
//!
//! A reset needs no secret of the old epoch: it makes a new Account Key,
//! vault key and salt, raises the epoch, and keeps the account's id, email,
//! creation time and plan. On this device the container goes to the trash,
//! the key is purged and this device's own sync files (conflict copies
//! included) leave every sync folder for the trash (the session enters
//! state `reset`); the new `account.json` is written last, since other
//! devices react to it.
//!
//! The reset touches no other device's file: an engine with a guard
//! against mass deletions (rclone bisync stops at more than half of a
//! folder's files, Nextcloud and Dropbox ask) would refuse to carry it.
//! Each other device retires its own files when it sees the new epoch;
//! those of devices that never come back are cleared later, one at a time
//! (`sync::stale`).

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{NewAccountReply, ResetDetails};
use coffer_proto::request::ResetParams;
use coffer_proto::Secret;
use serde_json::Value;

use super::{check_email, folders_with, secret, to_reply, Extra};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::session::{credentials, ResetCause, Session};
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
            "retiring this device's old-epoch files",
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
