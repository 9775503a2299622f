//! The daemon: the handles every task shares (paths, config, key cache,
//! events, wake-ups) and the one lock over its state ([`Core`]).
//!
//! Lock order: the round lock (sync rounds only) before the state lock;
//! nobody holds the state lock across a key derivation or a sync file
//! write. A change is acknowledged only after the container is durably
//! written.

use std::sync::Arc;
use std::time::Instant;

use coffer_proto::dirs::Dirs;
use coffer_proto::reply::Event;
use coffer_proto::EventEnvelope;
use coffer_vault::kdf::KdfParams;
use coffer_vault::secret::SecretKey;
use tokio::sync::{broadcast, watch, Mutex, MutexGuard, Notify};

use crate::config::Config;
use crate::keycache::KeyCache;
use crate::session::{Account, Core, ResetWait, Session};
use crate::store::container::ContainerStore;
use crate::store::device::DeviceRecord;
use crate::store::fsutil;
use crate::sync::SyncState;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a session transition needs from the daemon: paths, the
/// configuration, the key cache and the event stream.
pub struct Ctx<'a> {
    /// Every path.
    pub dirs: &'a Dirs,
    /// `config.toml`.
    pub config: &'a Config,
    keycache: &'a KeyCache,
    events: &'a broadcast::Sender<EventEnvelope>,
}

impl Ctx<'_> {
    /// Runs a key-cache call (which may block on D-Bus for up to a few
    /// seconds) without stalling the runtime's worker thread.
    pub fn keyring<T>(&self, f: impl FnOnce(&KeyCache) -> T) -> T {
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| f(self.keycache))
            }
            _ => f(self.keycache),
        }
    }

    /// Sends `event` to every subscribed client.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(EventEnvelope {
            event,
            at_ms: now_ms(),
        });
    }
}

/// The daemon.
pub struct Daemon {
    /// Every path.
    pub dirs: Dirs,
    /// `config.toml`.
    pub config: Config,
    pub(crate) keycache: KeyCache,
    core: Mutex<Core>,
    /// Held for a whole sync round (taken before the state lock), which
    /// publishes this device's file after releasing the state lock.
    pub(crate) round_lock: Mutex<()>,
    events: broadcast::Sender<EventEnvelope>,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Wakes the sync task (a local change to publish, a folder added).
    pub(crate) kick: Notify,
    /// Wakes the lock timer (the key arrived or was used).
    pub(crate) activity: Notify,
    /// Re-arms the watchers (folders changed).
    pub(crate) rewatch: Notify,
    /// The freedesktop Secret Service provider (`coffer secret-service`).
    pub(crate) secret_service: crate::secret_service::manager::Manager,
    /// The SSH agent's settings, status and key list.
    pub(crate) ssh: crate::ssh_agent::AgentState,
}

impl Daemon {
    /// Loads the device's state from disk and resumes unlocked from the key
    /// cache when it holds this sign-in's key.
    pub fn load(
        dirs: Dirs,
        config: Config,
        keycache: KeyCache,
        shutdown: watch::Sender<bool>,
    ) -> Arc<Daemon> {
        let (events, _) = broadcast::channel(256);
        let removed = fsutil::clean_temp_files(&dirs.data);
        if removed > 0 {
            tracing::info!(removed, "removed temp files left by an interrupted write");
        }
        let mut core = Core::new();
        match load_session(&dirs) {
            Ok(session) => core.session = session,
            // Never work on top of files we could not read: nothing is overwritten.
            Err(problem) => core.problem = Some(problem),
        }
        resume_from_cache(&mut core.session, &keycache);
        let secret_service = crate::secret_service::manager::Manager::new(
            crate::secret_service::setup::enabled_on_disk(&dirs),
        );
        let ssh = crate::ssh_agent::AgentState::new(config.ssh_agent, &dirs);
        Arc::new(Daemon {
            dirs,
            config,
            keycache,
            core: Mutex::new(core),
            round_lock: Mutex::new(()),
            events,
            shutdown,
            kick: Notify::new(),
            activity: Notify::new(),
            rewatch: Notify::new(),
            secret_service,
            ssh,
        })
    }

    /// The state lock.
    pub async fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().await
    }

    /// What session transitions need.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            dirs: &self.dirs,
            config: &self.config,
            keycache: &self.keycache,
            events: &self.events,
        }
    }

    /// A new event-stream receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.events.subscribe()
    }

    /// Sends `event` to every subscribed client.
    pub fn emit(&self, event: Event) {
        self.ctx().emit(event);
    }

    /// The vault was used: the lock timeout starts again.
    pub(crate) fn touch(&self, core: &mut Core) {
        core.last_use = Instant::now();
        self.activity.notify_one();
    }

    /// The key derivation of new accounts and password changes: calibrated
    /// for this machine (a test build may make it cheap: [`crate::hooks`]).
    pub(crate) fn kdf_params() -> KdfParams {
        if crate::hooks::fast_kdf() {
            KdfParams::fast_insecure_for_tests()
        } else {
            KdfParams::default_calibrated()
        }
    }

    /// This device's friendly name: `device_name` in the config, else the host name.
    pub(crate) fn device_name(&self) -> String {
        self.config.device_name.clone().unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "device".into())
        })
    }

    /// Waits out the lock timeout; locks when it passes without use.
    pub async fn lock_timer(self: Arc<Self>) {
        let Some(timeout) = self.config.lock_timeout else {
            return;
        };
        loop {
            let deadline = {
                let core = self.core().await;
                matches!(core.session, Session::Unlocked(..)).then(|| core.last_use + timeout)
            };
            match deadline {
                // Locked or signed out: no timer at all until the key comes back.
                None => self.activity.notified().await,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {
                            let mut core = self.core().await;
                            if core.last_use + timeout <= Instant::now() {
                                if let Session::Unlocked(account, key) = &core.session {
                                    self.ssh.before_lock(&account.replica, key);
                                }
                                core.session.lock(&self.ctx(), "lock timeout");
                            }
                        }
                        _ = self.activity.notified() => {}
                    }
                }
            }
        }
    }
}

/// The session `device.json` and the container describe.
fn load_session(dirs: &Dirs) -> Result<Session, String> {
    let device = match DeviceRecord::load(&dirs.data.join("device.json")) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(Session::SignedOut),
        Err(e) => return Err(e.to_string()),
    };
    let sync = SyncState::for_folders(&device.sync_folders);
    if device.reset.is_some() {
        return Ok(Session::Reset(Box::new(ResetWait { device, sync })));
    }
    let path = crate::store::container::path_for(dirs, &device.account_id);
    let (header, replica, container) = ContainerStore::load(&path)?;
    Ok(Session::Locked(Box::new(Account {
        device,
        header,
        replica,
        container,
        sync,
    })))
}

/// Resumes unlocked when the key cache holds this sign-in's key.
fn resume_from_cache(session: &mut Session, keycache: &KeyCache) {
    let Some(account) = session.account() else {
        return;
    };
    let ns = account.device.namespace();
    match keycache.load(&ns) {
        Ok(Some(bytes)) => {
            let key = SecretKey::from_bytes(*bytes);
            if account.header.verify(&key).is_ok() {
                session.resume(key);
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
