//! `coffer restore CONTAINER` on a device that is signed out or in state
//! `reset`: brings back a container from the trash (after a forged reset,
//! say).
//!
//! The container's embedded account header must open with the Account
//! Password and Account Key given; it is then written back to every sync
//! folder (over the forged `account.json`), and the device is signed in to
//! that epoch again with every item the container held. Devices still
//! waiting in `reset` come back with `coffer login` and the same (old)
//! secrets. If the reset was genuine, another device on the newer epoch
//! puts its header back and this device returns to `reset`: nothing is
//! lost either way.

use std::sync::Arc;

use coffer_proto::reply::RestoredReply;
use coffer_proto::request::RestoreParams;
use coffer_vault::format::Container;
use serde_json::Value;

use super::account::{ready_to_sign_in, sign_in};
use super::{parse_account_key, secret, to_reply};
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::session::{credentials, SignIn};
use crate::store::device::DeviceRecord;
use crate::sync::layout::{self, Rewrite};

/// `restore` of a container.
pub async fn recover(d: &Arc<Daemon>, p: RestoreParams, bytes: Vec<u8>) -> Result<Value> {
    let container = Container::from_bytes(&bytes)
        .map_err(|e| Error::BadInput(format!("the container cannot be read: {e}")))?;
    let (header, mut replica) = container.into_replica();
    let ak = parse_account_key(p.account_key.expose())?;
    let pw = secret(&p.password);
    let mut core = d.core().await;
    ready_to_sign_in(
        &core,
        "this device is signed in: restore a container only when signed out or after a reset (`coffer status`); for backups use an unlocked vault",
    )?;
    let h = header.clone();
    let opened = match credentials::run(move || credentials::open_with_key(&h, &pw, ak)).await {
        Ok(o) => o,
        Err(e) => return Err(core.limiter.failure(e)),
    };
    let rejected = replica.verify_and_compact(&opened.vault_key);
    let folders = core.session.sync_folders().to_vec();
    if let Some((path, e)) = layout::publish_header(&folders, &header, Rewrite::Always)
        .into_iter()
        .next()
    {
        return Err(Error::nothing_changed(format!(
            "could not write {}: {e}",
            path.display()
        )));
    }
    let rec = DeviceRecord::new(
        &header,
        replica.device_id().to_string(),
        replica.device_name().to_owned(),
        folders,
        (&opened.account_key, &opened.stretched, &opened.vault_key),
    );
    let items = replica
        .items(&opened.vault_key)
        .map(|v| v.len())
        .unwrap_or(0);
    let s = SignIn {
        device: rec,
        header,
        replica,
        key: opened.vault_key,
    };
    sign_in(d, core, s).await?;
    tracing::warn!(items, rejected = rejected.len(), "restored a container");
    to_reply(RestoredReply {
        message: format!(
            "restored the container: {items} item(s); this device is signed in and unlocked"
        ),
        items,
    })
}
