//! Account requests: signup, login, unlock, lock, logout, passwd, kit,
//! hint, stop.
//!
//! The key derivations run on the blocking pool while the request holds
//! the state lock, so that two sign-ins or unlocks never race; `status`
//! waits for them (half a second).

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{self, Done, State};
use coffer_proto::request::{HintParams, LoginParams, PasswdParams, SignupParams, UnlockParams};
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
use crate::session::{credentials, Core, Session, SignIn};
use crate::store::device::DeviceRecord;
use crate::store::reset_header;
use crate::sync::layout::{self, Rewrite};

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
    let password = secret(&p.password);
    let h = header.clone();
    let opened = match credentials::run(move || credentials::open_with_key(&h, &password, ak)).await
    {
        Ok(o) => o,
        Err(e) => return Err(core.limiter.failure(e)),
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

/// `unlock`.
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
    let (header, device) = (account.header.clone(), account.device.clone());
    let password = secret(&p.password);
    let result = credentials::run(move || {
        credentials::open_on_device(&header, &device, &password).map(|o| o.vault_key)
    })
    .await;
    let key = match result {
        Ok(k) => k,
        Err(e) => return Err(core.limiter.failure(e)),
    };
    core.limiter.success();
    d.touch(&mut core);
    core.session.unlock(&d.ctx(), key)?;
    drop(core);
    tracing::info!("unlocked");
    d.kick.notify_one();
    done("unlocked")
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
/// folder has the new hint).
pub async fn hint(d: &Daemon, p: HintParams) -> Result<Value> {
    let email = check_email(&p.email)?;
    let core = d.core().await;
    let mut folders: Vec<PathBuf> = Vec::new();
    if let Some(f) = &p.sync_folder {
        folders.push(std::path::absolute(f).map_err(Error::nothing_changed)?);
    }
    folders.extend(core.session.sync_folders().iter().cloned());
    let from_folder = layout::find_account(&folders, &email);
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

/// `passwd`: re-wraps the vault key under the new password (at calibrated
/// parameters); the data is not re-encrypted. The device ends unlocked.
pub async fn passwd(d: &Arc<Daemon>, p: PasswdParams) -> Result<Value> {
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
    let old = secret(&p.old_password);
    let new = secret(&p.new_password);
    let result = credentials::run(move || {
        let opened = credentials::open_on_device(&header, &device, &old)?;
        let new_header = header.change_password(
            &opened.vault_key,
            &opened.account_key,
            &new,
            Daemon::kdf_params(),
        )?;
        let new_stretched =
            coffer_vault::kdf::stretch_password(&new, &new_header.salt, &new_header.kdf)?;
        let mut device = device;
        device.seal_account_key(&opened.account_key, &new_stretched, &opened.vault_key);
        Ok::<_, coffer_vault::account::AccountError>((new_header, device, opened.vault_key))
    })
    .await;
    let (new_header, device, vault_key) = match result {
        Ok(x) => x,
        Err(e) => return Err(core.limiter.failure(e)),
    };
    core.limiter.success();
    let Some((account, _)) = core.session.account_mut() else {
        return Err(Error::internal("the account went away during passwd"));
    };
    let old_header = std::mem::replace(&mut account.header, new_header);
    if let Err(e) = account.write_whole() {
        account.header = old_header;
        return Err(e);
    }
    if let Err(e) = device.save(&d.dirs.data.join("device.json")) {
        // The old password must keep working: put the old header back.
        account.header = old_header;
        if let Err(undo) = account.write_whole() {
            tracing::error!(error = %undo, "could not restore the container after a failed passwd");
        }
        return Err(Error::nothing_changed(e));
    }
    // New logins read the header from the sync folders: give them the new one.
    layout::publish_header(&device.sync_folders, &account.header, Rewrite::Always);
    account.device = device;
    if matches!(core.session, Session::Locked(_)) {
        core.session.unlock(&d.ctx(), vault_key)?;
    }
    d.touch(&mut core);
    drop(core);
    d.kick.notify_one();
    done("the Account Password was changed; use the new one from now on")
}

/// `stop`: the daemon shuts down gracefully.
pub fn stop(d: &Daemon) -> Result<Value> {
    tracing::info!("stop requested");
    let _ = d.shutdown.send(true);
    done("cofferd is stopping")
}
