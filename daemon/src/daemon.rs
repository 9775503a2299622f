//! The daemon's state machine and request handlers.
//!
//! States (DESIGN §5): `signed-out` → (signup | login) → `unlocked` ⇄
//! `locked`; any → `reset` → login. Everything lives in [`Inner`] behind one
//! async mutex; slow key derivations run on the blocking pool. A change is
//! acknowledged only after the container is durably written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_proto::dirs::Dirs;
use coffer_proto::reply::{self, ConflictInfo, Event, KeyCacheInfo, State, StatusInfo};
use coffer_proto::request::*;
use coffer_proto::{ErrorBody, ErrorCode, EventEnvelope, Request, Secret};
use coffer_vault::account::{AccountError, AccountHeader};
use coffer_vault::account_key::AccountKey;
use coffer_vault::format::Container;
use coffer_vault::ids::DeviceId;
use coffer_vault::kdf::KdfParams;
use coffer_vault::replica::{Replica, Unpersisted};
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch, Mutex, Notify};

use crate::config::Config;
use crate::device::DeviceRecord;
use crate::keycache::{CacheNamespace, KeyCache};
use crate::sync::FolderHealth;

/// A handler's result.
pub type Reply = Result<Value, ErrorBody>;

/// A successful reply carrying `value`.
pub(crate) fn to_reply<T: serde::Serialize>(value: T) -> Reply {
    serde_json::to_value(value).map_err(internal)
}

pub(crate) fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, msg)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Everything mutable.
pub struct Inner {
    pub(crate) device: Option<DeviceRecord>,
    pub(crate) header: Option<AccountHeader>,
    pub(crate) replica: Option<Replica>,
    pub(crate) key: Option<SecretKey>,
    pub(crate) last_use: Instant,
    pub(crate) failures: u32,
    pub(crate) not_before: Option<Instant>,
    pub(crate) folders: BTreeMap<PathBuf, FolderHealth>,
    /// What this device last published, per sync folder.
    pub(crate) published: BTreeMap<PathBuf, crate::sync::Published>,
    /// A problem with the local files that keeps the daemon from working.
    pub(crate) problem: Option<String>,
    /// Inode of the container file this daemon last wrote (0: none).
    pub(crate) container_ino: std::sync::atomic::AtomicU64,
    /// The container file as this daemon last left it; `None` when the
    /// next save must write the whole file (none yet, a torn append, a
    /// failed write).
    pub(crate) container_log: Option<ContainerLog>,
    /// Remote files already merged, by inode/size/mtime.
    pub(crate) file_stamps: std::collections::HashMap<PathBuf, crate::sync::FileStamp>,
}

/// The container file's layout: a whole document of `base_len` bytes, then
/// appended entries up to `len` (see `coffer_vault::format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContainerLog {
    pub(crate) base_len: u64,
    pub(crate) len: u64,
}

impl ContainerLog {
    fn whole(len: usize) -> Self {
        ContainerLog {
            base_len: len as u64,
            len: len as u64,
        }
    }

    /// Whether `extra` more appended bytes stay within the budget: half the
    /// document or 256 KiB, whichever is more. Past it the container is
    /// written whole again, so start-up never replays more than that and a
    /// change costs one append almost always (a whole write per ~4,000
    /// changes at 10,000 items).
    fn room_for(&self, extra: usize) -> bool {
        let budget = (self.base_len / 2).max(256 * 1024);
        self.len - self.base_len + extra as u64 <= budget
    }
}

pub(crate) mod blake_hash {
    /// A cheap content fingerprint (not security relevant).
    pub type Hash = u64;
    /// FNV-1a over the bytes.
    pub fn of(bytes: &[u8]) -> Hash {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }
}

impl Inner {
    pub(crate) fn state(&self) -> State {
        match &self.device {
            None => State::SignedOut,
            Some(d) if d.reset.is_some() => State::Reset,
            Some(_) if self.key.is_some() => State::Unlocked,
            Some(_) => State::Locked,
        }
    }

    pub(crate) fn namespace(&self) -> Option<CacheNamespace> {
        self.device.as_ref().map(|d| CacheNamespace {
            account_id: d.account_id.to_string(),
            epoch: d.epoch,
            device_id: d.device_id.clone(),
        })
    }
}

/// The daemon.
pub struct Daemon {
    pub(crate) dirs: Dirs,
    pub(crate) config: Config,
    pub(crate) keycache: KeyCache,
    pub(crate) inner: Mutex<Inner>,
    /// Held for a whole sync round (taken before `inner`), which publishes
    /// this device's file after releasing `inner`.
    pub(crate) round_lock: Mutex<()>,
    events: broadcast::Sender<EventEnvelope>,
    shutdown: watch::Sender<bool>,
    /// Wakes the sync task (a local change to publish, a folder added).
    pub(crate) kick: Notify,
    /// Wakes the lock timer (the key arrived or was used).
    pub(crate) activity: Notify,
    /// Re-arms the watchers (folders changed).
    pub(crate) rewatch: Notify,
}

impl Daemon {
    /// Loads the device's state from disk and the key cache.
    pub fn load(
        dirs: Dirs,
        config: Config,
        keycache: KeyCache,
        shutdown: watch::Sender<bool>,
    ) -> Arc<Daemon> {
        let (events, _) = broadcast::channel(256);
        let mut inner = Inner {
            device: None,
            header: None,
            replica: None,
            key: None,
            last_use: Instant::now(),
            failures: 0,
            not_before: None,
            folders: BTreeMap::new(),
            published: BTreeMap::new(),
            problem: None,
            file_stamps: Default::default(),
            container_ino: Default::default(),
            container_log: None,
        };
        let removed = crate::fsutil::clean_temp_files(&dirs.data);
        if removed > 0 {
            tracing::info!(removed, "removed temp files left by an interrupted write");
        }
        match DeviceRecord::load(&dirs.data.join("device.json")) {
            Ok(Some(dev)) => {
                if dev.reset.is_none() {
                    let cpath = container_path(&dirs, &dev);
                    match load_container(&cpath) {
                        Ok((header, replica, log)) => {
                            inner.header = Some(header);
                            inner.replica = Some(replica);
                            inner.container_log = log;
                            remember_container_write(&inner, &cpath);
                        }
                        Err(e) => inner.problem = Some(e),
                    }
                }
                for f in &dev.sync_folders {
                    inner.folders.insert(f.clone(), FolderHealth::default());
                }
                inner.device = Some(dev);
            }
            Ok(None) => {}
            Err(e) => inner.problem = Some(e.to_string()),
        }
        if inner.problem.is_some() {
            // Never work on top of files we could not read: nothing is overwritten.
            inner.device = None;
        }
        // Resume unlocked from the key cache.
        if let (Some(ns), Some(header)) = (inner.namespace(), inner.header.as_ref()) {
            match keycache.load(&ns) {
                Ok(Some(bytes)) => {
                    let key = SecretKey::from_bytes(*bytes);
                    if header.verify(&key).is_ok() {
                        if let Some(r) = inner.replica.as_mut() {
                            let rejected = r.verify_and_compact(&key);
                            if !rejected.is_empty() {
                                tracing::warn!(
                                    count = rejected.len(),
                                    "dropped versions that do not open"
                                );
                            }
                        }
                        inner.key = Some(key);
                        tracing::info!("resumed unlocked from the key cache");
                    } else {
                        tracing::warn!("the cached key does not fit this account; purging it");
                        let _ = keycache.purge(&ns);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the key cache"),
            }
        }
        Arc::new(Daemon {
            dirs,
            config,
            keycache,
            inner: Mutex::new(inner),
            round_lock: Mutex::new(()),
            events,
            shutdown,
            kick: Notify::new(),
            activity: Notify::new(),
            rewatch: Notify::new(),
        })
    }

    /// Runs a key-cache call (which may block on D-Bus for up to a few
    /// seconds) without stalling the runtime's worker thread.
    pub(crate) fn keyring<T>(&self, f: impl FnOnce(&KeyCache) -> T) -> T {
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| f(&self.keycache))
            }
            _ => f(&self.keycache),
        }
    }

    /// A new event-stream receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(EventEnvelope {
            event,
            at_ms: now_ms(),
        });
    }

    pub(crate) fn kdf_params() -> KdfParams {
        if crate::hooks::fast_kdf() {
            KdfParams::fast_insecure_for_tests()
        } else {
            KdfParams::default_calibrated()
        }
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, req: Request) -> Reply {
        match req {
            Request::Status(_) => self.status().await,
            Request::Signup(p) => self.signup(p).await,
            Request::Login(p) => self.login(p).await,
            Request::Unlock(p) => self.unlock(p).await,
            Request::Lock(_) => self.lock().await,
            Request::Logout(_) => self.logout().await,
            Request::Add(p) => self.add(p).await,
            Request::Get(p) => self.get(p).await,
            Request::List(_) => self.list().await,
            Request::Edit(p) => self.edit(p).await,
            Request::Remove(p) => self.remove(p).await,
            Request::History(p) => self.history(p).await,
            Request::SyncNow(_) => self.sync_now().await,
            Request::SyncAdd(p) => self.sync_add(p).await,
            Request::SyncRemove(p) => self.sync_remove(p).await,
            Request::SyncList(_) => self.sync_list().await,
            Request::Reset(p) => self.reset(p).await,
            Request::Hint(p) => self.hint(p).await,
            Request::Passwd(p) => self.passwd(p).await,
            Request::Kit(_) => self.kit().await,
            Request::Stop(_) => {
                tracing::info!("stop requested");
                let _ = self.shutdown.send(true);
                Ok(json!({"message": "cofferd is stopping"}))
            }
            Request::Import(p) => self.import(p).await,
            Request::Export(p) => self.export(p).await,
            Request::Backup(_) => self.backup().await,
            Request::Restore(p) => {
                let bytes =
                    crate::device::b64_decode(p.content_base64.expose()).ok_or_else(|| {
                        err(ErrorCode::InvalidParams, "the file content is not base64")
                    })?;
                if bytes.starts_with(b"COFFER-CONTAINER ") {
                    self.recover(p, bytes).await
                } else {
                    self.restore(p).await
                }
            }
            Request::Subscribe(_) => Err(err(
                ErrorCode::InvalidParams,
                "subscribe is handled by the connection",
            )),
            _ => Err(err(
                ErrorCode::UnknownMethod,
                "this method is not supported by this cofferd",
            )),
        }
    }

    // ----- status -----

    async fn status(&self) -> Reply {
        let inner = self.inner.lock().await;
        to_reply(self.status_info(&inner))
    }

    pub(crate) fn status_info(&self, inner: &Inner) -> StatusInfo {
        let state = inner.state();
        let dev = inner.device.as_ref();
        let items = match (&inner.replica, &inner.key) {
            (Some(r), Some(_)) => Some(r.state().live_item_count()),
            _ => None,
        };
        let mut conflicts = Vec::new();
        if let Some(r) = &inner.replica {
            for c in r.reports().iter().rev().take(20) {
                conflicts.push(conflict_info(c));
            }
        }
        StatusInfo {
            state,
            account_id: dev.map(|d| d.account_id.to_string()),
            email: dev.map(|d| d.email.clone()),
            epoch: dev.map(|d| d.reset.as_ref().map_or(d.epoch, |r| r.new_epoch)),
            device_id: dev.map(|d| d.device_id.clone()),
            device_name: dev.map(|d| d.device_name.clone()),
            items,
            pid: std::process::id(),
            container: dev
                .filter(|d| d.reset.is_none())
                .map(|d| container_path(&self.dirs, d)),
            sync_folders: crate::sync::folder_infos(inner),
            key_cache: KeyCacheInfo {
                backend: self.keycache.backend().to_owned(),
                persistent: self.keycache.persistent(),
                warning: self
                    .keycache
                    .warning()
                    .map(str::to_owned)
                    .or_else(|| inner.problem.clone()),
            },
            lock_timeout_secs: self.config.lock_timeout.map_or(0, |d| d.as_secs()),
            reset: dev.and_then(|d| d.reset.clone()),
            kdf_warning: inner
                .header
                .as_ref()
                .filter(|_| state != State::Reset)
                .and_then(|h| kdf_warning(&h.kdf)),
            conflicts,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    // ----- account -----

    async fn signup(self: &Arc<Self>, p: SignupParams) -> Reply {
        let email = check_email(&p.email)?;
        if p.password.expose().is_empty() {
            return Err(err(
                ErrorCode::InvalidParams,
                "the Account Password must not be empty",
            ));
        }
        let folders = check_folders(&p.sync_folders)?;
        let mut inner = self.inner.lock().await;
        refuse_if_signed_in(&inner)?;
        let password = SecretString::new(p.password.expose().to_owned());
        let hint = p.hint.clone();
        let (new, stretched) = blocking(move || {
            let new =
                AccountHeader::create(&email, &hint, &password, Self::kdf_params(), now_ms())?;
            let stretched =
                coffer_vault::kdf::stretch_password(&password, &new.header.salt, &new.header.kdf)?;
            Ok::<_, anyhow::Error>((new, stretched))
        })
        .await
        .map_err(internal)?;
        let device = self.new_device_record(
            &new.header,
            folders,
            &new.account_key,
            &stretched,
            &new.vault_key,
        );
        let replica = Replica::new(
            new.header.account_id,
            new.header.epoch,
            device.device_id.parse().map_err(internal)?,
            device.device_name.clone(),
        );
        let reply = reply::NewAccountReply {
            account_id: new.header.account_id.to_string(),
            email: new.header.email.clone(),
            account_key: Secret::new(new.account_key.to_text().expose()),
            epoch: new.header.epoch,
            device_id: device.device_id.clone(),
            created_ms: new.header.created_ms,
        };
        self.sign_in(&mut inner, device, new.header, replica, new.vault_key)?;
        tracing::info!(account = %reply.account_id, "signed up");
        drop(inner);
        self.after_sign_in().await;
        to_reply(reply)
    }

    fn new_device_record(
        &self,
        header: &AccountHeader,
        folders: Vec<PathBuf>,
        ak: &AccountKey,
        stretched: &SecretKey,
        vault_key: &SecretKey,
    ) -> DeviceRecord {
        let mut d = DeviceRecord {
            format: crate::device::FORMAT.into(),
            version: 1,
            account_id: header.account_id,
            email: header.email.clone(),
            epoch: header.epoch,
            device_id: DeviceId::new_random().to_string(),
            device_name: self.device_name(),
            sync_folders: folders,
            account_key_pw: Vec::new(),
            account_key_vk: Vec::new(),
            reset: None,
        };
        d.seal_account_key(ak, stretched, vault_key);
        d
    }

    fn device_name(&self) -> String {
        self.config.device_name.clone().unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "device".into())
        })
    }

    /// Persists a fresh sign-in (container first, then device.json) and caches the key.
    pub(crate) fn sign_in(
        &self,
        inner: &mut Inner,
        device: DeviceRecord,
        header: AccountHeader,
        replica: Replica,
        key: SecretKey,
    ) -> Result<(), ErrorBody> {
        crate::fsutil::clean_temp_files(&self.dirs.data);
        let bytes = replica.container_bytes(&header).map_err(internal)?;
        let cpath = container_path(&self.dirs, &device);
        crate::fsutil::write_atomic(&cpath, &bytes, 0o600).map_err(io_err)?;
        remember_container_write(inner, &cpath);
        inner.container_log = Some(ContainerLog::whole(bytes.len()));
        device
            .save(&self.dirs.data.join("device.json"))
            .map_err(io_err)?;
        crate::sync::forget_reset_header(&self.dirs);
        inner.folders = device
            .sync_folders
            .iter()
            .map(|f| (f.clone(), FolderHealth::default()))
            .collect();
        inner.published.clear();
        inner.file_stamps.clear();
        inner.device = Some(device);
        inner.header = Some(header);
        inner.replica = Some(replica);
        self.cache_key(inner, &key);
        inner.key = Some(key);
        inner.last_use = Instant::now();
        inner.failures = 0;
        inner.problem = None;
        Ok(())
    }

    pub(crate) async fn after_sign_in(self: &Arc<Self>) {
        self.rewatch.notify_one();
        self.activity.notify_one();
        self.emit(Event::State {
            state: State::Unlocked,
        });
        // Pull everything before answering, so login returns with the vault.
        crate::sync::round(self, true).await;
    }

    fn cache_key(&self, inner: &Inner, key: &SecretKey) {
        if let Some(ns) = inner.namespace() {
            if let Err(e) = self.keyring(|k| k.store(&ns, key.expose())) {
                tracing::warn!(error = %e, "could not cache the key in the keyring");
            }
        }
    }

    async fn login(self: &Arc<Self>, p: LoginParams) -> Reply {
        let email = check_email(&p.email)?;
        let ak = parse_account_key(p.account_key.expose())?;
        let mut inner = self.inner.lock().await;
        self.ready_to_sign_in(
            &inner,
            "this device is already signed in; run `coffer logout` first to sign in to another account",
        )?;
        let mut folders: Vec<PathBuf> = inner
            .device
            .as_ref()
            .map(|d| d.sync_folders.clone())
            .unwrap_or_default();
        if let Some(f) = &p.sync_folder {
            let f = check_folders(std::slice::from_ref(f))?.remove(0);
            if !folders.contains(&f) {
                folders.insert(0, f);
            }
        }
        if folders.is_empty() {
            return Err(err(
                ErrorCode::InvalidParams,
                "say where the account is: coffer login --email EMAIL --sync-folder DIR",
            ));
        }
        // In state reset, the header this device kept counts too (a folder may hold a replayed
        // older one for a moment).
        let kept = inner
            .device
            .as_ref()
            .filter(|d| d.reset.is_some())
            .and_then(|_| crate::sync::kept_reset_header(&self.dirs))
            .filter(|h| h.email.eq_ignore_ascii_case(&email));
        let header = match (crate::sync::find_account(&folders, &email), kept) {
            (Some(f), Some(k)) => Some(if k.precedence() > f.precedence() {
                k
            } else {
                f
            }),
            (f, k) => f.or(k),
        };
        let header = header.ok_or_else(|| {
            err(
                ErrorCode::AccountNotFound,
                format!("no account for {email} in {}", show_paths(&folders)),
            )
        })?;
        let password = SecretString::new(p.password.expose().to_owned());
        let h = header.clone();
        let result = blocking(move || {
            let stretched = coffer_vault::kdf::stretch_password(&password, &h.salt, &h.kdf)?;
            let vault_key = h.unlock_stretched(&stretched, &ak)?;
            Ok::<_, AccountError>((stretched, vault_key, ak))
        })
        .await;
        let (stretched, vault_key, ak) = match result {
            Ok(x) => x,
            Err(e) => return Err(self.credential_failure(&mut inner, e)),
        };
        // Leaving state reset: the old sign-in is over.
        if let Some(old) = inner.namespace() {
            let _ = self.keyring(|k| k.purge(&old));
        }
        let device = self.new_device_record(&header, folders, &ak, &stretched, &vault_key);
        let replica = Replica::new(
            header.account_id,
            header.epoch,
            device.device_id.parse().map_err(internal)?,
            device.device_name.clone(),
        );
        self.sign_in(&mut inner, device, header, replica, vault_key)?;
        tracing::info!("logged in");
        drop(inner);
        self.after_sign_in().await;
        self.status().await
    }

    /// A sign-in (login, container restore) needs a device that is signed
    /// out or waiting after a reset, and no pending wrong-password delay.
    pub(crate) fn ready_to_sign_in(&self, inner: &Inner, already: &str) -> Result<(), ErrorBody> {
        match inner.state() {
            State::SignedOut | State::Reset => self.check_rate(inner),
            _ => Err(err(ErrorCode::AlreadySignedIn, already)),
        }
    }

    pub(crate) fn check_rate(&self, inner: &Inner) -> Result<(), ErrorBody> {
        if let Some(t) = inner.not_before {
            let now = Instant::now();
            if t > now {
                return Err(err(
                    ErrorCode::RateLimited,
                    format!(
                        "too many wrong attempts; try again in {} s",
                        (t - now).as_secs() + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn credential_failure(&self, inner: &mut Inner, e: AccountError) -> ErrorBody {
        match e {
            AccountError::WrongCredentials => {
                inner.failures += 1;
                // 0, 0, 1, 2, 4, … 30 s: typos are free, guessing is slow.
                if inner.failures >= 3 {
                    let secs = (1u64 << (inner.failures - 3).min(5)).min(30);
                    inner.not_before = Some(Instant::now() + Duration::from_secs(secs));
                }
                tracing::info!(
                    failures = inner.failures,
                    "wrong Account Password or Account Key"
                );
                err(
                    ErrorCode::WrongCredentials,
                    "Account Password or Account Key is wrong",
                )
            }
            AccountError::Kdf(k) => err(
                ErrorCode::BadInput,
                format!(
                    "the account header asks for key derivation parameters coffer refuses: {k}"
                ),
            ),
            other => err(
                ErrorCode::BadInput,
                format!("the account header is damaged: {other}"),
            ),
        }
    }

    async fn unlock(self: &Arc<Self>, p: UnlockParams) -> Reply {
        let mut inner = self.inner.lock().await;
        match inner.state() {
            State::Locked => {}
            State::Unlocked => {
                inner.last_use = Instant::now();
                return Ok(json!({"message": "already unlocked"}));
            }
            s => return Err(not_ready(s)),
        }
        self.check_rate(&inner)?;
        let header = inner
            .header
            .clone()
            .ok_or_else(|| internal("no account header"))?;
        let device = inner
            .device
            .clone()
            .ok_or_else(|| internal("no device record"))?;
        let password = SecretString::new(p.password.expose().to_owned());
        let result = blocking(move || {
            let stretched =
                coffer_vault::kdf::stretch_password(&password, &header.salt, &header.kdf)?;
            let ak = device
                .open_account_key_pw(&stretched)
                .ok_or(AccountError::WrongCredentials)?;
            header.unlock_stretched(&stretched, &ak)
        })
        .await;
        let key = match result {
            Ok(k) => k,
            Err(e) => return Err(self.credential_failure(&mut inner, e)),
        };
        inner.failures = 0;
        inner.not_before = None;
        self.cache_key(&inner, &key);
        if let Some(r) = inner.replica.as_mut() {
            let rejected = r.verify_and_compact(&key);
            if !rejected.is_empty() {
                tracing::warn!(count = rejected.len(), "dropped versions that do not open");
            }
        }
        inner.key = Some(key);
        inner.last_use = Instant::now();
        self.resolve_and_save(&mut inner)?;
        drop(inner);
        tracing::info!("unlocked");
        self.activity.notify_one();
        self.kick.notify_one();
        self.emit(Event::State {
            state: State::Unlocked,
        });
        Ok(json!({"message": "unlocked"}))
    }

    /// Resolves siblings field by field (unlocked only) and saves.
    pub(crate) fn resolve_and_save(&self, inner: &mut Inner) -> Result<(), ErrorBody> {
        let Some(key) = inner.key.clone() else {
            return Ok(());
        };
        let reports = match inner.replica.as_mut() {
            Some(r) => r.resolve_conflicts(&key, now_ms()).map_err(internal)?,
            None => return Ok(()),
        };
        for r in &reports {
            tracing::info!(item = %r.item_id, "resolved a conflict");
            self.emit(Event::Conflict(conflict_info(r)));
        }
        self.save_container(inner)
    }

    /// Persists what changed in the vault before a change is acknowledged:
    /// usually one entry appended to the container and flushed to disk
    /// (a few hundred bytes), else the whole container written atomically
    /// (see [`ContainerLog::room_for`] and [`Unpersisted`]). On error the
    /// file holds what it held before (a failed append is cut off again),
    /// or at worst an unacknowledged entry, and the next save writes the
    /// whole container.
    pub(crate) fn save_container(&self, inner: &mut Inner) -> Result<(), ErrorBody> {
        let (Some(dev), Some(r)) = (&inner.device, &inner.replica) else {
            return Ok(());
        };
        let Some(log) = inner.container_log else {
            return self.write_whole_container(inner);
        };
        let entry = match r.unsaved_delta() {
            Unpersisted::Nothing => return Ok(()),
            Unpersisted::Whole => return self.write_whole_container(inner),
            Unpersisted::Delta(entry) => entry,
        };
        let line = entry.to_line();
        if !log.room_for(line.len()) {
            return self.write_whole_container(inner);
        }
        let path = container_path(&self.dirs, dev);
        let ino = inner
            .container_ino
            .load(std::sync::atomic::Ordering::Relaxed);
        match crate::fsutil::append_durable(&path, ino, log.len, &line) {
            Ok(true) => {
                inner.container_log = Some(ContainerLog {
                    len: log.len + line.len() as u64,
                    ..log
                });
                if let Some(r) = inner.replica.as_mut() {
                    r.mark_persisted();
                }
                Ok(())
            }
            // Not the file this daemon wrote (replaced, truncated, gone).
            Ok(false) => self.write_whole_container(inner),
            Err(e) => {
                inner.container_log = None;
                Err(io_err(e))
            }
        }
    }

    /// Writes the whole container atomically (temp file, fsync, rename).
    pub(crate) fn write_whole_container(&self, inner: &mut Inner) -> Result<(), ErrorBody> {
        let (Some(dev), Some(h), Some(r)) = (&inner.device, &inner.header, &inner.replica) else {
            return Ok(());
        };
        let path = container_path(&self.dirs, dev);
        let bytes = r.container_bytes(h).map_err(internal)?;
        if let Err(e) = crate::fsutil::write_atomic(&path, &bytes, 0o600) {
            return Err(io_err(e));
        }
        remember_container_write(inner, &path);
        inner.container_log = Some(ContainerLog::whole(bytes.len()));
        if let Some(r) = inner.replica.as_mut() {
            r.mark_persisted();
        }
        Ok(())
    }

    /// Locks: the key leaves memory and the keyring.
    pub(crate) async fn lock_inner(&self, inner: &mut Inner, why: &str) {
        if inner.key.take().is_some() {
            if let Some(ns) = inner.namespace() {
                if let Err(e) = self.keyring(|k| k.purge(&ns)) {
                    tracing::warn!(error = %e, "could not purge the key from the keyring");
                }
            }
            if let Some(r) = inner.replica.as_mut() {
                r.forget_plaintext();
            }
            tracing::info!(why, "locked");
            self.emit(Event::State {
                state: State::Locked,
            });
        }
    }

    async fn lock(&self) -> Reply {
        let mut inner = self.inner.lock().await;
        match inner.state() {
            State::Locked | State::Unlocked => {}
            s => return Err(not_ready(s)),
        }
        self.lock_inner(&mut inner, "lock requested").await;
        Ok(json!({"message": "locked"}))
    }

    async fn logout(&self) -> Reply {
        let mut inner = self.inner.lock().await;
        let Some(dev) = inner.device.clone() else {
            return Err(not_ready(State::SignedOut));
        };
        self.lock_inner(&mut inner, "logout").await;
        let cpath = container_path(&self.dirs, &dev);
        let trashed = if cpath.exists() {
            Some(crate::trash::move_to_trash(&cpath).map_err(|e| {
                err(
                    ErrorCode::Io,
                    format!(
                        "could not move {} to the trash: {e}; nothing was changed",
                        cpath.display()
                    ),
                )
            })?)
        } else {
            None
        };
        let dpath = self.dirs.data.join("device.json");
        std::fs::remove_file(&dpath).map_err(io_err)?;
        crate::sync::forget_reset_header(&self.dirs);
        inner.device = None;
        inner.header = None;
        inner.replica = None;
        inner.folders.clear();
        inner.published.clear();
        drop(inner);
        self.rewatch.notify_one();
        self.emit(Event::State {
            state: State::SignedOut,
        });
        let msg = match trashed {
            Some(t) => format!(
                "signed out; the container is in the trash at {}",
                t.display()
            ),
            None => "signed out".to_owned(),
        };
        Ok(json!({ "message": msg }))
    }

    async fn hint(&self, p: HintParams) -> Reply {
        let email = check_email(&p.email)?;
        let inner = self.inner.lock().await;
        let mut folders: Vec<PathBuf> = Vec::new();
        if let Some(f) = &p.sync_folder {
            folders.push(std::path::absolute(f).map_err(io_err)?);
        }
        if let Some(d) = &inner.device {
            folders.extend(d.sync_folders.iter().cloned());
        }
        // The newest header wins: after a reset the folder has the new hint.
        let from_folder = crate::sync::find_account(&folders, &email);
        let local = inner
            .header
            .as_ref()
            .filter(|h| h.email.eq_ignore_ascii_case(&email));
        let (hint, source) = match (from_folder, local) {
            (Some(f), Some(l)) if l.precedence() >= f.precedence() => {
                (l.hint.clone(), "this device".to_owned())
            }
            (Some(f), _) => (f.hint.clone(), "the sync folder".to_owned()),
            (None, Some(l)) => (l.hint.clone(), "this device".to_owned()),
            (None, None) => {
                return Err(err(
                    ErrorCode::AccountNotFound,
                    format!(
                    "no account for {email} here; pass --sync-folder DIR to look in a sync folder"
                ),
                ))
            }
        };
        to_reply(reply::HintReply { hint, source })
    }

    async fn kit(&self) -> Reply {
        let mut inner = self.inner.lock().await;
        let (dev, header, key) = self.unlocked(&mut inner)?;
        let ak = dev
            .open_account_key_vk(&key)
            .ok_or_else(|| internal("the Account Key kept on this device does not open"))?;
        to_reply(reply::KitReply {
            account_id: header.account_id.to_string(),
            email: header.email.clone(),
            account_key: Secret::new(ak.to_text().expose()),
            epoch: header.epoch,
            created_ms: header.created_ms,
        })
    }

    async fn passwd(self: &Arc<Self>, p: PasswdParams) -> Reply {
        if p.new_password.expose().is_empty() {
            return Err(err(
                ErrorCode::InvalidParams,
                "the new Account Password must not be empty",
            ));
        }
        let mut inner = self.inner.lock().await;
        match inner.state() {
            State::Locked | State::Unlocked => {}
            s => return Err(not_ready(s)),
        }
        self.check_rate(&inner)?;
        let header = inner.header.clone().ok_or_else(|| internal("no header"))?;
        let device = inner.device.clone().ok_or_else(|| internal("no device"))?;
        let old = SecretString::new(p.old_password.expose().to_owned());
        let new = SecretString::new(p.new_password.expose().to_owned());
        let result = blocking(move || {
            let stretched = coffer_vault::kdf::stretch_password(&old, &header.salt, &header.kdf)?;
            let ak = device
                .open_account_key_pw(&stretched)
                .ok_or(AccountError::WrongCredentials)?;
            let vault_key = header.unlock_stretched(&stretched, &ak)?;
            let new_header = header.change_password(&vault_key, &ak, &new, Self::kdf_params())?;
            let new_stretched =
                coffer_vault::kdf::stretch_password(&new, &new_header.salt, &new_header.kdf)?;
            let mut device = device;
            device.seal_account_key(&ak, &new_stretched, &vault_key);
            Ok::<_, AccountError>((new_header, device, vault_key))
        })
        .await;
        let (new_header, device, vault_key) = match result {
            Ok(x) => x,
            Err(e) => return Err(self.credential_failure(&mut inner, e)),
        };
        let old_header = inner.header.replace(new_header);
        if let Err(e) = self.write_whole_container(&mut inner) {
            inner.header = old_header;
            return Err(e);
        }
        if let Err(e) = device.save(&self.dirs.data.join("device.json")) {
            // The old password must keep working: put the old header back.
            inner.header = old_header;
            if let Err(undo) = self.write_whole_container(&mut inner) {
                tracing::error!(error = %undo.message, "could not restore the container after a failed passwd");
            }
            return Err(io_err(e));
        }
        // New logins read the header from the sync folders: give them the new one.
        if let Some(h) = inner.header.as_ref() {
            for f in device.sync_folders.iter().filter(|f| f.is_dir()) {
                let path = f
                    .join(h.account_id.to_string())
                    .join(crate::sync_names::ACCOUNT_FILE);
                if let Err(e) = crate::fsutil::write_atomic(&path, &h.to_json(), 0o644) {
                    tracing::warn!(path = %path.display(), error = %e, "could not publish the new account header");
                }
            }
        }
        inner.device = Some(device);
        inner.key = Some(vault_key);
        inner.last_use = Instant::now();
        drop(inner);
        self.kick.notify_one();
        Ok(json!({"message": "the Account Password was changed; use the new one from now on"}))
    }

    /// The unlocked replica and its key, or the right "not unlocked" error
    /// (counts as use for the lock timeout).
    pub(crate) fn open_vault<'a>(
        &self,
        inner: &'a mut Inner,
    ) -> Result<(&'a mut Replica, SecretKey), ErrorBody> {
        let (_, _, key) = self.unlocked(inner)?;
        let replica = inner
            .replica
            .as_mut()
            .ok_or_else(|| internal("no replica"))?;
        Ok((replica, key))
    }

    /// The device record, header and key, or the right "not unlocked" error.
    pub(crate) fn unlocked(
        &self,
        inner: &mut Inner,
    ) -> Result<(DeviceRecord, AccountHeader, SecretKey), ErrorBody> {
        match inner.state() {
            State::Unlocked => {}
            s => return Err(not_ready(s)),
        }
        inner.last_use = Instant::now();
        self.activity.notify_one();
        Ok((
            inner.device.clone().ok_or_else(|| internal("no device"))?,
            inner.header.clone().ok_or_else(|| internal("no header"))?,
            inner.key.clone().ok_or_else(|| internal("no key"))?,
        ))
    }

    /// Waits out the lock timeout; locks when it passes without use.
    pub async fn lock_timer(self: Arc<Self>) {
        let Some(timeout) = self.config.lock_timeout else {
            return;
        };
        loop {
            let deadline = {
                let inner = self.inner.lock().await;
                (inner.key.is_some()).then(|| inner.last_use + timeout)
            };
            match deadline {
                // Locked or signed out: no timer at all until the key comes back.
                None => self.activity.notified().await,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {
                            let mut inner = self.inner.lock().await;
                            if inner.key.is_some() && inner.last_use + timeout <= Instant::now() {
                                self.lock_inner(&mut inner, "lock timeout").await;
                            }
                        }
                        _ = self.activity.notified() => {}
                    }
                }
            }
        }
    }
}

pub(crate) fn container_path(dirs: &Dirs, dev: &DeviceRecord) -> PathBuf {
    dirs.data.join(format!("{}.coffer", dev.account_id))
}

/// Remembers which container file this daemon wrote (a rename gives each
/// write a new inode), so the watcher can tell our writes from anybody else's.
fn remember_container_write(inner: &Inner, path: &Path) {
    inner
        .container_ino
        .store(inode(path), std::sync::atomic::Ordering::Relaxed);
}

/// Whether the container file at `path` is the one this daemon last wrote.
pub(crate) fn is_own_container(inner: &Inner, path: &Path) -> bool {
    let ino = inode(path);
    ino != 0
        && ino
            == inner
                .container_ino
                .load(std::sync::atomic::Ordering::Relaxed)
}

/// The inode of `path` (0 when it cannot be read).
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

/// The container's header and replica (appended entries replayed) and its
/// layout; `None` layout when an interrupted append left a partial last
/// line, so that the next save writes the whole file.
fn load_container(path: &Path) -> Result<(AccountHeader, Replica, Option<ContainerLog>), String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the container {}: {e}", path.display()))?;
    let c = Container::from_bytes(&bytes).map_err(|e| {
        format!(
            "the container {} cannot be read ({e}); it was left untouched",
            path.display()
        )
    })?;
    let a = c.appended;
    let log = if a.torn_bytes > 0 {
        tracing::warn!(
            path = %path.display(),
            bytes = a.torn_bytes,
            "the container ends in an interrupted append (a change that was never acknowledged); it is dropped at the next write"
        );
        None
    } else {
        Some(ContainerLog {
            base_len: a.base_len as u64,
            len: (a.base_len + a.entry_bytes) as u64,
        })
    };
    if a.entries > 0 {
        tracing::debug!(
            entries = a.entries,
            "replayed the container's appended changes"
        );
    }
    let (header, replica) = c.into_replica();
    Ok((header, replica, log))
}

pub(crate) fn conflict_info(c: &coffer_vault::replica::ConflictReport) -> ConflictInfo {
    use coffer_vault::replica::ConflictKind;
    let (kind, message) = match &c.kind {
        ConflictKind::DeleteVsEdit => (
            "delete-vs-edit",
            format!(
                "deleted on device {} while edited on device {}; the edit was kept",
                c.loser_device, c.winner_device
            ),
        ),
        ConflictKind::SameField { field } => (
            "same-field",
            format!(
                "field {field} changed on two devices; device {}'s value won, device {}'s is in the history",
                c.winner_device, c.loser_device
            ),
        ),
    };
    ConflictInfo {
        item_id: c.item_id.to_string(),
        title: c.title.expose().to_owned(),
        kind: kind.into(),
        message,
        at_ms: c.at_ms,
    }
}

/// What `status` says about an account header whose key derivation is below
/// the floor (an account made by a test build or an old version).
fn kdf_warning(kdf: &KdfParams) -> Option<String> {
    use coffer_vault::kdf::{FLOOR_M_KIB, FLOOR_T};
    kdf.below_floor().then(|| {
        format!(
            "the Account Password is stretched with Argon2id at {} MiB and {} pass(es), below \
             coffer's floor of {} MiB and {FLOOR_T} passes, which makes it cheaper to guess; run \
             `coffer passwd` to re-stretch it at this machine's calibrated parameters",
            kdf.m_kib / 1024,
            kdf.t,
            FLOOR_M_KIB / 1024
        )
    })
}

pub(crate) fn not_ready(s: State) -> ErrorBody {
    match s {
        State::SignedOut => err(
            ErrorCode::SignedOut,
            "this device is not signed in; run `coffer signup --email EMAIL` or `coffer login --email EMAIL --sync-folder DIR`",
        ),
        State::Locked => err(ErrorCode::Locked, "the vault is locked; run `coffer unlock`"),
        State::Reset => err(
            ErrorCode::Reset,
            "the account was reset; run `coffer login --email EMAIL` with the new Account Password and Account Key (see `coffer status`)",
        ),
        State::Unlocked => err(ErrorCode::AlreadySignedIn, "this device is already signed in and unlocked"),
    }
}

fn refuse_if_signed_in(inner: &Inner) -> Result<(), ErrorBody> {
    match inner.state() {
        State::SignedOut => Ok(()),
        State::Reset => Err(err(
            ErrorCode::AlreadySignedIn,
            "this device is waiting for a login after a reset; run `coffer login`, or `coffer logout` first",
        )),
        _ => Err(err(
            ErrorCode::AlreadySignedIn,
            "this device is already signed in; run `coffer logout` first",
        )),
    }
}

pub(crate) fn check_email(e: &str) -> Result<String, ErrorBody> {
    let e = e.trim();
    if e.is_empty() || !e.contains('@') || e.len() > 254 || e.chars().any(char::is_whitespace) {
        return Err(err(
            ErrorCode::InvalidParams,
            format!("{e:?} is not an email address"),
        ));
    }
    Ok(e.to_owned())
}

pub(crate) fn parse_account_key(text: &str) -> Result<AccountKey, ErrorBody> {
    AccountKey::parse(text).map_err(|e| {
        err(
            ErrorCode::BadAccountKey,
            format!("{e}; check the emergency kit"),
        )
    })
}

pub(crate) fn check_folders(folders: &[PathBuf]) -> Result<Vec<PathBuf>, ErrorBody> {
    let mut out = Vec::new();
    for f in folders {
        let abs = std::path::absolute(f).map_err(io_err)?;
        if !abs.is_dir() {
            return Err(err(
                ErrorCode::SyncFolder,
                format!(
                    "{} is not a folder; create it (or check the path) and try again",
                    abs.display()
                ),
            ));
        }
        if !out.contains(&abs) {
            out.push(abs);
        }
    }
    Ok(out)
}

fn show_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!(error = %e, "internal error");
    err(ErrorCode::Internal, format!("internal error: {e}"))
}

pub(crate) fn io_err(e: std::io::Error) -> ErrorBody {
    err(ErrorCode::Io, format!("{e}; nothing was changed"))
}

/// Runs slow work (key derivation) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerLog;

    #[test]
    fn appends_stay_within_half_the_document_or_256_kib() {
        // A small vault: 256 KiB of entries before a whole write.
        let small = ContainerLog::whole(2_000);
        assert!(small.room_for(256 * 1024));
        assert!(!small.room_for(256 * 1024 + 1));
        let used = ContainerLog {
            len: 2_000 + 200 * 1024,
            ..small
        };
        assert!(used.room_for(56 * 1024));
        assert!(!used.room_for(56 * 1024 + 1));
        // A large one: half its size.
        let large = ContainerLog::whole(7_000_000);
        assert!(large.room_for(3_500_000));
        assert!(!large.room_for(3_500_001));
    }
}
