//! Account requests: signup, login, unlock, lock, logout, kit, hint, stop
//! (`passwd` and `set_hint` are in `header.rs`).
//!
//! The key derivations run on the blocking pool while the request holds
//! the state lock, so that two sign-ins or unlocks never race; `status`
//! waits for them (half a second).

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{self, Done, State};
use coffer_proto::request::{HintParams, LoginParams, SignupParams, UnlockParams};
use coffer_proto::Secret;
use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::ids::DeviceId;
use coffer_vault::secret::SecretKey;
use serde_json::Value;

use super::{
    check_email, check_folders, folders_with, parse_account_key, secret, show_paths, to_reply,
    Extra,
};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::session::Account;
use crate::session::{credentials, Core, Session, SignIn};
use crate::store::device::DeviceRecord;
use crate::store::reset_header;
use crate::sync::layout;

fn done(message: impl Into<String>) -> Result<Value> {
    to_reply(Done {
        message: message.into(),
    })
}

fn refuse_if_signed_in(session: &Session) -> Result<()> {
    match session.state() {
        State::SignedOut => Ok(()),
        State::Reset => Err(Error::AlreadySignedIn(
            "this device is waiting for a login after a reset; run `coffer login`, or `coffer logout` first".into(),
        )),
        _ => Err(Error::AlreadySignedIn(
            "this device is already signed in; run `coffer logout` first".into(),
        )),
    }
}

/// A sign-in (login, container restore) needs a device that is signed out
/// or waiting after a reset, and no pending wrong-password delay.
pub fn ready_to_sign_in(core: &Core, already: &str) -> Result<()> {
    match core.session.state() {
        State::SignedOut | State::Reset => core.limiter.check(),
        _ => Err(Error::AlreadySignedIn(already.into())),
    }
}

/// A new sign-in record for this device, the Account Key sealed in it.
pub fn new_device_record(
    d: &Daemon,
    header: &AccountHeader,
    folders: Vec<PathBuf>,
    ak: &AccountKey,
    stretched: &SecretKey,
    vault_key: &SecretKey,
) -> DeviceRecord {
    DeviceRecord::new(
        header,
        DeviceId::new_random().to_string(),
        d.device_name(),
        folders,
        (ak, stretched, vault_key),
    )
}

/// Signs in (the session's transition) and starts this sign-in's life:
/// watches, the lock timer, and a first round before the reply.
pub async fn sign_in(
    d: &Arc<Daemon>,
    mut core: tokio::sync::MutexGuard<'_, Core>,
    s: SignIn,
) -> Result<()> {
    core.session.sign_in(&d.ctx(), s)?;
    core.limiter.success();
    core.problem = None;
    d.touch(&mut core);
    drop(core);
    d.rewatch.notify_one();
    // Pull everything before answering, so login returns with the vault.
    crate::sync::round(d, true).await;
    Ok(())
}

/// `signup`.
pub async fn signup(d: &Arc<Daemon>, p: SignupParams) -> Result<Value> {
    let email = check_email(&p.email)?;
    if p.password.expose().is_empty() {
        return Err(Error::Invalid(
            "the Account Password must not be empty".into(),
        ));
    }
    let folders = check_folders(&p.sync_folders)?;
    let core = d.core().await;
    refuse_if_signed_in(&core.session)?;
    let password = secret(&p.password);
    let hint = p.hint.clone();
    let (new, stretched) = credentials::run(move || {
        let new = AccountHeader::create(&email, &hint, &password, Daemon::kdf_params(), now_ms())?;
        let stretched =
            coffer_vault::kdf::stretch_password(&password, &new.header.salt, &new.header.kdf)?;
        Ok::<_, anyhow::Error>((new, stretched))
    })
    .await
    .map_err(Error::internal)?;
    let device = new_device_record(
        d,
        &new.header,
        folders,
        &new.account_key,
        &stretched,
        &new.vault_key,
    );
    let reply = reply::NewAccountReply {
        account_id: new.header.account_id.to_string(),
        email: new.header.email.clone(),
        account_key: Secret::new(new.account_key.to_text().expose()),
        epoch: new.header.epoch,
        device_id: device.device_id.clone(),
        created_ms: new.header.created_ms,
        trashed_container: None,
    };
    let s = SignIn::fresh(device, new.header, new.vault_key).map_err(Error::internal)?;
    sign_in(d, core, s).await?;
    tracing::info!(account = %reply.account_id, "signed up");
    to_reply(reply)
}

/// `login`.
pub async fn login(d: &Arc<Daemon>, p: LoginParams) -> Result<Value> {
    let email = check_email(&p.email)?;
    let ak = parse_account_key(p.account_key.expose())?;
    let mut core = d.core().await;
    ready_to_sign_in(
        &core,
        "this device is already signed in; run `coffer logout` first to sign in to another account",
    )?;
    let folders = folders_with(
        core.session.sync_folders(),
        p.sync_folder.as_deref(),
        Extra::First,
    )?;
    if folders.is_empty() {
        return Err(Error::Invalid(
            "say where the account is: coffer login --email EMAIL --sync-folder DIR".into(),
        ));
    }
    // In state reset, the header this device kept counts too (a folder may
    // hold a replayed older one for a moment).
    let kept = matches!(core.session, Session::Reset(_))
        .then(|| reset_header::kept(&d.dirs))
        .flatten()
        .filter(|h| h.email.eq_ignore_ascii_case(&email));
    let header = layout::newest(layout::find_account(&folders, &email), kept).ok_or_else(|| {
        Error::AccountNotFound(format!(
            "no account for {email} in {}",
            show_paths(&folders)
        ))
    })?;
    // Every header of the winning lineage: the base and every device's
    // changes; the newest authentic one must be the one that opens.
    let mut candidates: Vec<AccountHeader> = layout::all_candidates(&folders, &header.account_id)
        .into_iter()
        .map(|(_, h)| h)
        .chain(std::iter::once(header.clone()))
        .collect();
    let top = candidates
        .iter()
        .max_by_key(|h| h.precedence())
        .cloned()
        .unwrap_or(header);
    candidates.retain(|h| h.same_lineage(&top));
    let password = secret(&p.password);
    let result = credentials::run(move || {
        coffer_vault::account::open_newest(&candidates, None, |h| {
            let o = credentials::open_with_key(h, &password, ak.clone())?;
            Ok((o.vault_key.clone(), o))
        })
        .map(|o| (candidates[o.index].clone(), o.extra))
        .map_err(|e| match e {
            coffer_vault::account::OpenFailure::Failed(e) => {
                credentials::DeviceOpenError::Failed(e)
            }
            coffer_vault::account::OpenFailure::Superseded { newest, .. } => {
                credentials::DeviceOpenError::Superseded {
                    by: crate::sync::header_watch::changed_by(&candidates[newest]),
                }
            }
        })
    })
    .await;
    let (header, opened) = match result {
        Ok(o) => o,
        Err(e) => return Err(core.limiter.device_failure(e)),
    };
    let device = new_device_record(
        d,
        &header,
        folders,
        &opened.account_key,
        &opened.stretched,
        &opened.vault_key,
    );
    let s = SignIn::fresh(device, header, opened.vault_key).map_err(Error::internal)?;
    sign_in(d, core, s).await?;
    tracing::info!("logged in");
    super::status::status(d).await
}

/// `unlock`: opens the newest header of this epoch the password opens
/// (the device's own, or a newer one from the folders through this device's
/// unlock envelope); an old password that a newer authentic header replaced
/// is refused. What it learns is kept: the newer header, and the Account Key
/// sealed under the password that opened it.
pub async fn unlock(d: &Arc<Daemon>, p: UnlockParams) -> Result<Value> {
    let mut core = d.core().await;
    let account = match &core.session {
        Session::Locked(a) => a,
        Session::Unlocked(..) => {
            d.touch(&mut core);
            return done("already unlocked");
        }
        other => return Err(Error::NotReady(other.state())),
    };
    core.limiter.check()?;
    let ak = p
        .account_key
        .as_ref()
        .map(|k| parse_account_key(k.expose()))
        .transpose()?;
    let (header, device) = (account.header.clone(), account.device.clone());
    let found: Vec<AccountHeader> =
        layout::all_candidates(&device.sync_folders, &device.account_id)
            .into_iter()
            .map(|(_, h)| h)
            .collect();
    let password = secret(&p.password);
    let result = credentials::run(move || {
        credentials::open_on_device_newest(&header, found, &device, &password, ak)
    })
    .await;
    let (newest, opened) = match result {
        Ok(k) => k,
        Err(e) => return Err(core.limiter.device_failure(e)),
    };
    core.limiter.success();
    d.touch(&mut core);
    if let Some((account, _)) = core.session.account_mut() {
        keep_what_unlock_learnt(d, account, newest, &opened)?;
    }
    core.session.unlock(&d.ctx(), opened.vault_key)?;
    drop(core);
    tracing::info!("unlocked");
    d.kick.notify_one();
    done("unlocked")
}

/// After an unlock: the header that opened becomes this device's (when it
/// was a newer one from the folders), and the Account Key is sealed under
/// the password that opened it (when the box was dropped or is of an older
/// password). On a write failure nothing changes and the unlock fails.
fn keep_what_unlock_learnt(
    d: &Daemon,
    account: &mut Account,
    newest: AccountHeader,
    opened: &credentials::Opened,
) -> Result<()> {
    let adopt = newest != account.header;
    let reseal = adopt
        || account
            .device
            .open_account_key_pw(&opened.stretched)
            .is_none();
    if !reseal {
        return Ok(());
    }
    let mut device = account.device.clone();
    device.seal_account_key(&opened.account_key, &opened.stretched, &opened.vault_key);
    let old = std::mem::replace(&mut account.header, newest);
    if adopt {
        if let Err(e) = account.write_whole() {
            account.header = old;
            return Err(e);
        }
        tracing::info!(
            generation = account.header.generation,
            "unlocked with a newer account header; adopted it"
        );
    }
    if let Err(e) = device.save(&d.dirs.data.join("device.json")) {
        if adopt {
            account.header = old;
            if let Err(undo) = account.write_whole() {
                tracing::error!(error = %undo, "could not put the container back");
            }
        }
        return Err(Error::nothing_changed(e));
    }
    account.device = device;
    Ok(())
}

/// `lock`.
pub async fn lock(d: &Daemon) -> Result<Value> {
    let mut core = d.core().await;
    match core.session.state() {
        State::Locked | State::Unlocked => {}
        s => return Err(Error::NotReady(s)),
    }
    if let Session::Unlocked(account, key) = &core.session {
        d.ssh.before_lock(&account.replica, key);
    }
    core.session.lock(&d.ctx(), "lock requested");
    done("locked")
}

/// `logout`.
pub async fn logout(d: &Daemon) -> Result<Value> {
    let mut core = d.core().await;
    let trashed = core.session.logout(&d.ctx())?;
    drop(core);
    d.rewatch.notify_one();
    match trashed {
        Some(t) => done(format!(
            "signed out; the container is in the trash at {}",
            t.display()
        )),
        None => done("signed out"),
    }
}

/// `hint`: no unlock needed; the newest header wins (after a reset the
/// folder has the new hint; after a hint change on another device, that
/// device's header file). An unlocked device takes a header of its own
/// epoch only when it authenticates under the vault key (a forged hint is
/// not shown); a locked or signed-out device cannot check one.
pub async fn hint(d: &Daemon, p: HintParams) -> Result<Value> {
    let email = check_email(&p.email)?;
    let core = d.core().await;
    let mut folders: Vec<PathBuf> = Vec::new();
    if let Some(f) = &p.sync_folder {
        folders.push(std::path::absolute(f).map_err(Error::nothing_changed)?);
    }
    folders.extend(core.session.sync_folders().iter().cloned());
    let key = match &core.session {
        Session::Unlocked(_, k) => Some(k),
        _ => None,
    };
    let own = core.session.account().map(|a| &a.header);
    let trusted = |h: &AccountHeader| match (key, own) {
        (Some(k), Some(own)) if own.same_lineage(h) => h.verify(k).is_ok(),
        _ => true,
    };
    let from_folder = layout::find_account(&folders, &email).map(|base| {
        layout::all_candidates(&folders, &base.account_id)
            .into_iter()
            .map(|(_, h)| h)
            .filter(|h| trusted(h))
            .fold(base, |best, h| {
                if h.precedence() > best.precedence() {
                    h
                } else {
                    best
                }
            })
    });
    let local = core
        .session
        .account()
        .map(|a| &a.header)
        .filter(|h| h.email.eq_ignore_ascii_case(&email));
    let (hint, source) = match (from_folder, local) {
        (Some(f), Some(l)) if l.precedence() >= f.precedence() => {
            (l.hint.clone(), "this device".to_owned())
        }
        (Some(f), _) => (f.hint.clone(), "the sync folder".to_owned()),
        (None, Some(l)) => (l.hint.clone(), "this device".to_owned()),
        (None, None) => {
            return Err(Error::AccountNotFound(format!(
                "no account for {email} here; pass --sync-folder DIR to look in a sync folder"
            )))
        }
    };
    to_reply(reply::HintReply { hint, source })
}

/// `kit`: the emergency kit again (unlocked only).
pub async fn kit(d: &Daemon) -> Result<Value> {
    let mut core = d.core().await;
    d.touch(&mut core);
    let (account, key) = core.session.unlocked()?;
    let ak = account
        .device
        .open_account_key_vk(key)
        .ok_or_else(|| Error::internal("the Account Key kept on this device does not open"))?;
    let h = &account.header;
    to_reply(reply::KitReply {
        account_id: h.account_id.to_string(),
        email: h.email.clone(),
        account_key: Secret::new(ak.to_text().expose()),
        epoch: h.epoch,
        created_ms: h.created_ms,
    })
}

/// `stop`: the daemon shuts down gracefully.
pub fn stop(d: &Daemon) -> Result<Value> {
    tracing::info!("stop requested");
    let _ = d.shutdown.send(true);
    done("cofferd is stopping")
}
