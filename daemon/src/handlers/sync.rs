//! Sync-folder requests: `sync now`, `sync add`, `sync remove`, `sync list`.

use std::sync::Arc;

use coffer_proto::reply::{Done, State};
use coffer_proto::request::PathParams;
use serde_json::Value;

use super::{check_folders, to_reply};
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::sync::{folder_infos, FolderHealth};

/// `sync now`: runs a round and waits for it.
pub async fn now(d: &Arc<Daemon>) -> Result<Value> {
    if matches!(d.core().await.session, Session::SignedOut) {
        return Err(Error::NotReady(State::SignedOut));
    }
    to_reply(crate::sync::round(d, true).await)
}

/// `sync add DIR`.
pub async fn add(d: &Arc<Daemon>, p: PathParams) -> Result<Value> {
    let path = check_folders(std::slice::from_ref(&p.path))?.remove(0);
    let mut core = d.core().await;
    let Some(device) = core.session.device() else {
        return Err(Error::NotReady(State::SignedOut));
    };
    if device.sync_folders.contains(&path) {
        return Err(Error::SyncFolder(format!(
            "{} is already a sync folder",
            path.display()
        )));
    }
    let mut device = device.clone();
    device.sync_folders.push(path.clone());
    device
        .save(&d.dirs.data.join("device.json"))
        .map_err(Error::nothing_changed)?;
    if let Some(d) = core.session.device_mut() {
        *d = device;
    }
    if let Some(sync) = core.session.sync_mut() {
        sync.folders.insert(path.clone(), FolderHealth::default());
    }
    drop(core);
    d.rewatch.notify_one();
    crate::sync::round(d, true).await;
    to_reply(Done {
        message: format!("syncing through {}", path.display()),
    })
}

/// `sync remove DIR`: its files are left in place.
pub async fn remove(d: &Arc<Daemon>, p: PathParams) -> Result<Value> {
    let path = std::path::absolute(&p.path).map_err(Error::nothing_changed)?;
    let mut core = d.core().await;
    let Some(device) = core.session.device() else {
        return Err(Error::NotReady(State::SignedOut));
    };
    let mut device = device.clone();
    let before = device.sync_folders.len();
    device.sync_folders.retain(|f| {
        *f != path && std::fs::canonicalize(f).ok() != std::fs::canonicalize(&path).ok()
    });
    if device.sync_folders.len() == before {
        return Err(Error::SyncFolder(format!(
            "{} is not a sync folder; `coffer sync list` shows them",
            path.display()
        )));
    }
    device
        .save(&d.dirs.data.join("device.json"))
        .map_err(Error::nothing_changed)?;
    if let Some(d) = core.session.device_mut() {
        *d = device;
    }
    if let Some(sync) = core.session.sync_mut() {
        sync.remove_folder(&path);
    }
    drop(core);
    d.rewatch.notify_one();
    to_reply(Done {
        message: format!(
            "stopped syncing through {}; its files were left in place",
            path.display()
        ),
    })
}

/// `sync list`.
pub async fn list(d: &Daemon) -> Result<Value> {
    let core = d.core().await;
    let Some(sync) = core.session.sync() else {
        return Err(Error::NotReady(State::SignedOut));
    };
    to_reply(folder_infos(&sync.folders))
}
