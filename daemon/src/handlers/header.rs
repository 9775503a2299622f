//! Changes of the account header within an epoch: `passwd` (a new
//! password, the same one re-stretched with `--same`, optionally a new
//! hint) and `set_hint`.
//!
//! Each change is the next generation of the newest authentic header, signed
//! with this device's id and name and the time, and published in this
//! device's own `header-<device_id>.json` (never in `account.json`, which
//! only signup and reset write). A password change carries the Account Key
//! to every other device whose unlock key this device can authenticate, so
//! that they unlock with the new password alone.

use std::sync::Arc;

use coffer_proto::reply::Done;
use coffer_proto::request::{PasswdParams, SetHintParams};
use coffer_vault::account::{adoptable, AccountHeader, Change, ChangeInfo, ChangeKind};
use serde_json::Value;

use super::{secret, to_reply};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::session::credentials::{self, DeviceOpenError};
use crate::session::{Account, Session};
use crate::store::device::DeviceRecord;
use crate::sync::layout;

fn done(message: impl Into<String>) -> Result<Value> {
    to_reply(Done {
        message: message.into(),
    })
}

fn by(device: &DeviceRecord) -> ChangeInfo {
    ChangeInfo {
        at_ms: now_ms(),
        by_device_id: device.device_id.clone(),
        by_device_name: device.device_name.clone(),
    }
}

fn folder_headers(device: &DeviceRecord) -> Vec<AccountHeader> {
    layout::all_candidates(&device.sync_folders, &device.account_id)
        .into_iter()
        .map(|(_, h)| h)
        .collect()
}

/// Puts `header` (and `device`, when given) in place: the container first,
/// then `device.json`, then this device's header file in every folder. On a
/// write failure the old header is back and nothing was published.
fn install(
    d: &Daemon,
    account: &mut Account,
    header: AccountHeader,
    device: Option<DeviceRecord>,
) -> Result<()> {
    let old = std::mem::replace(&mut account.header, header);
    if let Err(e) = account.write_whole() {
        account.header = old;
        return Err(e);
    }
    if let Some(device) = device {
        if let Err(e) = device.save(&d.dirs.data.join("device.json")) {
            // The old password must keep working: put the old header back.
            account.header = old;
            if let Err(undo) = account.write_whole() {
                tracing::error!(error = %undo, "could not restore the container after a failed header change");
            }
            return Err(Error::nothing_changed(e));
        }
        account.device = device;
    }
    let failed = layout::publish_change(
        &account.device.sync_folders,
        &account.header,
        &account.device.device_id,
    );
    for (path, e) in failed {
        tracing::warn!(path = %path.display(), error = %e, "the header change is not in this folder yet; the next round retries");
    }
    Ok(())
}

/// `passwd`: re-wraps the vault key under the new password (at calibrated
/// parameters); the data is not re-encrypted. The device ends unlocked.
pub async fn passwd(d: &Arc<Daemon>, p: PasswdParams) -> Result<Value> {
    if p.same && p.new_password.expose() != p.old_password.expose() {
        return Err(Error::Invalid(
            "passwd --same keeps the password: give no new one".into(),
        ));
    }
    if p.new_password.expose().is_empty() {
        return Err(Error::Invalid(
            "the new Account Password must not be empty".into(),
        ));
    }
    let mut core = d.core().await;
    let Some(account) = core.session.account() else {
        return Err(Error::NotReady(core.session.state()));
    };
    core.limiter.check()?;
    let (header, device) = (account.header.clone(), account.device.clone());
    // Unlocked, this device has the Account Key (its vault-key box) even
    // when its password box was dropped for a change it adopted: the typed
    // password is still checked by unwrapping the vault key with it.
    let known_key = match &core.session {
        Session::Unlocked(a, k) => a.device.open_account_key_vk(k),
        _ => None,
    };
    let found = folder_headers(&device);
    let old = secret(&p.old_password);
    let new = secret(&p.new_password);
    let hint = p.hint.clone();
    let result = credentials::run(move || {
        let (newest, opened) =
            credentials::open_on_device_newest(&header, found.clone(), &device, &old, known_key)?;
        let vk = &opened.vault_key;
        let recipients = layout::recipients(&device.sync_folders, &device, vk);
        let highest = adoptable(&newest, &found, vk).highest;
        let change = Change {
            kind: ChangeKind::Password {
                password: &new,
                params: Daemon::kdf_params(),
                recipients: &recipients,
            },
            hint,
            at_least: highest.saturating_add(1),
            by: by(&device),
        };
        let (new_header, stretched) = newest
            .change(vk, &opened.account_key, change)
            .map_err(DeviceOpenError::Failed)?;
        let stretched = stretched.ok_or(DeviceOpenError::Failed(
            coffer_vault::account::AccountError::Tampered,
        ))?;
        let mut device = device;
        device.seal_account_key(&opened.account_key, &stretched, vk);
        Ok::<_, DeviceOpenError>((new_header, device, opened.vault_key, recipients.len()))
    })
    .await;
    let (new_header, device, vault_key, sealed_for) = match result {
        Ok(x) => x,
        Err(e) => return Err(core.limiter.device_failure(e)),
    };
    core.limiter.success();
    let Some((account, _)) = core.session.account_mut() else {
        return Err(Error::internal("the account went away during passwd"));
    };
    install(d, account, new_header, Some(device))?;
    account.sync.headers.lost = None;
    let generation = account.header.generation;
    if matches!(core.session, Session::Locked(_)) {
        core.session.unlock(&d.ctx(), vault_key)?;
    }
    d.touch(&mut core);
    drop(core);
    d.kick.notify_one();
    tracing::info!(
        generation,
        devices = sealed_for,
        same = p.same,
        "account header changed by passwd"
    );
    let what = if p.same {
        "the Account Password was re-stretched at this machine's calibrated parameters; it stays the same"
    } else {
        "the Account Password was changed; use the new one from now on"
    };
    done(format!(
        "{what} (header generation {generation}; the other devices take it when the sync folder reaches them, {sealed_for} of them with the new password alone)"
    ))
}

/// `set_hint`: a new hint, as the next generation (unlocked only).
pub async fn set_hint(d: &Arc<Daemon>, p: SetHintParams) -> Result<Value> {
    let mut core = d.core().await;
    d.touch(&mut core);
    let (account, key) = core.session.unlocked()?;
    let key = key.clone();
    let ak = account
        .device
        .open_account_key_vk(&key)
        .ok_or_else(|| Error::internal("the Account Key kept on this device does not open"))?;
    let found = folder_headers(&account.device);
    let highest = adoptable(&account.header, &found, &key).highest;
    let change = Change {
        kind: ChangeKind::HintOnly,
        hint: Some(p.hint),
        at_least: highest.saturating_add(1),
        by: by(&account.device),
    };
    let (header, _) = account
        .header
        .change(&key, &ak, change)
        .map_err(|e| Error::BadInput(format!("the account header cannot change: {e}")))?;
    install(d, account, header, None)?;
    let generation = account.header.generation;
    drop(core);
    d.kick.notify_one();
    done(format!(
        "the password hint was changed (header generation {generation}); every device shows it once the sync folder reaches it"
    ))
}
