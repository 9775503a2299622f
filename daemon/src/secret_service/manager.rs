//! The daemon's side of `coffer secret-service enable|disable|status`.
//!
//! - The opt-in is kept in `secret-service.json` in the data directory
//!   ([`super::setup`]), written by the daemon. `config.toml` is the user's
//!   own file, which cofferd only reads; a choice a command makes is state,
//!   like `device.json`.
//! - Enabled, cofferd claims `org.freedesktop.secrets` at start-up (a name
//!   taken, or no session bus, is logged and shown in `status`; start-up
//!   goes on), releases it at shutdown, and gives up when another program
//!   takes the name or the bus goes away (shown in `status`; no fight).
//! - The bus: the one the client names (`enable` and `status` carry the
//!   client's session bus, so a daemon started by systemd or by a CLI of
//!   another session serves the session the user typed the command in);
//!   else the daemon's own: `DBUS_STARTER_ADDRESS` when the bus started it
//!   (D-Bus activation), else `DBUS_SESSION_BUS_ADDRESS`, else
//!   `$XDG_RUNTIME_DIR/bus`. The address is not persisted: a session's
//!   address may not outlive it; at the next start the daemon's own is used.
//! - `enable` claims the name first and writes the files after: a refusal
//!   (another provider, no bus) changes nothing. While cofferd provides the
//!   Secret Service its key cache stays off it ([`KeyCache::leave_secret_service`]).
//!
//! [`KeyCache::leave_secret_service`]: crate::keycache::KeyCache::leave_secret_service

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use coffer_proto::secret_service::{
    no_bus_message, SecretServiceParams, SecretServiceReport, SecretServiceState,
};
use tokio::sync::watch;

use super::activation;
use super::provider::{current_owner, Bus, SecretServiceProvider};
use super::setup::{
    activation_dir, activation_target, own_bus_address, save_choice, vault_counts, BUS_TIMEOUT,
};
use super::vault_store::VaultSecretStore;
use super::StartError;
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::keycache::FORCE_ENV;
use crate::session::Session;

fn start_error(e: StartError) -> Error {
    Error::SecretService(format!("{e}; nothing was changed"))
}

async fn with_timeout<T>(
    what: &str,
    f: impl std::future::Future<Output = std::result::Result<T, StartError>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(BUS_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the session bus did not answer within {} s when asked to {what}",
            BUS_TIMEOUT.as_secs()
        )),
    }
}

struct Running {
    provider: SecretServiceProvider,
    store: Arc<VaultSecretStore>,
    bus: String,
    generation: u64,
}

/// What `coffer status` shows (readable without waiting).
#[derive(Default)]
struct Shown {
    enabled: bool,
    providing: bool,
    bus: Option<String>,
    problem: Option<String>,
    store: Option<Weak<VaultSecretStore>>,
}

/// The provider's life in the daemon. See the module docs.
pub struct Manager {
    running: tokio::sync::Mutex<Option<Running>>,
    shown: Mutex<Shown>,
    generation: AtomicU64,
}

impl Manager {
    /// The manager of a daemon whose choice is `enabled`.
    pub fn new(enabled: bool) -> Manager {
        Manager {
            running: tokio::sync::Mutex::new(None),
            shown: Mutex::new(Shown {
                enabled,
                ..Shown::default()
            }),
            generation: AtomicU64::new(0),
        }
    }

    fn shown(&self) -> MutexGuard<'_, Shown> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `coffer status` shows: `None` while disabled and idle.
    pub fn state(&self) -> Option<SecretServiceState> {
        let s = self.shown();
        if !s.enabled && !s.providing {
            return None;
        }
        let waiting = s
            .store
            .as_ref()
            .and_then(Weak::upgrade)
            .map(|st| st.waiting())
            .unwrap_or_default();
        Some(SecretServiceState {
            enabled: s.enabled,
            providing: s.providing,
            bus_address: s.bus.clone(),
            problem: s.problem.clone(),
            waiting,
        })
    }

    /// At start-up: claims the name when enabled. Never fails: a problem
    /// is logged and shown in `status`.
    pub async fn boot(&self, d: &Arc<Daemon>) {
        if !self.shown().enabled {
            return;
        }
        let Some(bus) = own_bus_address() else {
            let why = "the Secret Service is enabled, but cofferd has no session bus \
                       (DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not \
                       exist); run `coffer secret-service enable` in your desktop session";
            tracing::warn!("{why}");
            self.shown().problem = Some(why.into());
            return;
        };
        let mut running = self.running.lock().await;
        if let Err(e) = self.start(d, &mut running, &bus).await {
            tracing::warn!("cannot provide the Secret Service: {e}");
            let mut s = self.shown();
            s.problem = Some(e.to_string());
            s.bus = Some(bus);
        }
    }

    /// Starts the provider on `bus` (stopping one on another bus first).
    async fn start(&self, d: &Arc<Daemon>, running: &mut Option<Running>, bus: &str) -> Result<()> {
        if running
            .as_ref()
            .is_some_and(|r| r.bus == bus && r.provider.is_running())
        {
            return Ok(());
        }
        if let Some(r) = running.take() {
            r.provider.stop().await;
        }
        if std::env::var(FORCE_ENV).as_deref() == Ok("secret-service") {
            return Err(Error::SecretService(format!(
                "{FORCE_ENV}=secret-service makes cofferd keep its key in the Secret Service, \
                 which cannot be cofferd itself; unset it and restart cofferd (`coffer stop`), \
                 then enable again; nothing was changed"
            )));
        }
        let target = Bus::Address(bus.to_string());
        match with_timeout(
            "name the owner of org.freedesktop.secrets",
            current_owner(&target),
        )
        .await
        {
            Ok(Some(owner)) => {
                return Err(start_error(StartError::NameTaken { owner }));
            }
            Ok(None) => {}
            Err(e) => return Err(Error::SecretService(format!("{e}; nothing was changed"))),
        }
        self.keep_key_cache_off(d).await;
        let store = VaultSecretStore::start(d).await;
        let started = tokio::time::timeout(
            BUS_TIMEOUT,
            SecretServiceProvider::start(store.clone(), &target),
        )
        .await
        .map_err(|_| {
            Error::SecretService(format!(
                "the session bus did not answer within {} s; nothing was changed",
                BUS_TIMEOUT.as_secs()
            ))
        })?;
        let provider = started.map_err(start_error)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::spawn(watch_lost(
            Arc::downgrade(d),
            generation,
            provider.watch_running(),
        ));
        {
            let mut s = self.shown();
            s.providing = true;
            s.bus = Some(bus.to_string());
            s.problem = None;
            s.store = Some(Arc::downgrade(&store));
        }
        *running = Some(Running {
            provider,
            store,
            bus: bus.to_string(),
            generation,
        });
        Ok(())
    }

    /// Moves the key cache off the Secret Service (cofferd is about to be
    /// it), keeping the unlocked key cached in the new store.
    async fn keep_key_cache_off(&self, d: &Daemon) {
        let ctx = d.ctx();
        if !ctx.keyring(|k| k.leave_secret_service()) {
            return;
        }
        let core = d.core().await;
        if let Session::Unlocked(a, key) = &core.session {
            let ns = a.device.namespace();
            if let Err(e) = ctx.keyring(|k| k.store(&ns, key.expose())) {
                tracing::warn!(error = %e, "could not cache the key in the new key cache");
            }
        }
    }

    /// `coffer secret-service enable`.
    pub async fn enable(
        &self,
        d: &Arc<Daemon>,
        p: SecretServiceParams,
    ) -> Result<SecretServiceReport> {
        let bus = p
            .bus_address
            .filter(|a| !a.is_empty())
            .or_else(own_bus_address)
            .ok_or_else(|| Error::SecretService(no_bus_message()))?;
        let mut running = self.running.lock().await;
        let was = running
            .as_ref()
            .is_some_and(|r| r.bus == bus && r.provider.is_running());
        self.start(d, &mut running, &bus).await?;
        let written = activation_target().and_then(|(dir, text)| {
            activation::install(&dir, &text).map_err(|e| Error::SecretService(e.to_string()))?;
            save_choice(&d.dirs, true)?;
            Ok(dir)
        });
        let dir = match written {
            Ok(dir) => dir,
            Err(e) => {
                // Back to how it was: a provider started just now stops.
                if !was {
                    if let Some(r) = running.take() {
                        r.provider.stop().await;
                    }
                    self.shown().providing = false;
                }
                return Err(Error::SecretService(format!(
                    "{e}; cofferd does not provide the Secret Service"
                )));
            }
        };
        self.shown().enabled = true;
        drop(running);
        let file = dir.join(activation::FILE_NAME);
        let message = if was {
            format!("cofferd already provides org.freedesktop.secrets on {bus}")
        } else {
            format!(
                "cofferd now provides org.freedesktop.secrets on {bus}: apps that use the \
                 Secret Service (secret-tool, browsers, git credential-libsecret, \
                 python-keyring …) keep their secrets in the vault's login collection \
                 (`coffer list --collection login`); {} starts cofferd when an app asks for it",
                file.display()
            )
        };
        tracing::info!(bus, "Secret Service enabled");
        Ok(self.report(d, message, Some(bus), false).await)
    }

    /// `coffer secret-service disable`.
    pub async fn disable(&self, d: &Arc<Daemon>) -> Result<SecretServiceReport> {
        let mut running = self.running.lock().await;
        let was = running.is_some();
        if let Some(r) = running.take() {
            r.provider.stop().await;
        }
        {
            let mut s = self.shown();
            s.providing = false;
            s.problem = None;
            s.store = None;
        }
        let mut notes = Vec::new();
        if let Some(dir) = activation_dir() {
            match activation::remove(&dir) {
                Ok(true) => notes.push(format!(
                    "removed the D-Bus activation file {}",
                    dir.join(activation::FILE_NAME).display()
                )),
                Ok(false) => {}
                Err(e) => notes.push(format!("left alone: {e}")),
            }
        }
        save_choice(&d.dirs, false)?;
        self.shown().enabled = false;
        drop(running);
        let mut message = if was {
            "cofferd no longer provides org.freedesktop.secrets; its items stay in the vault \
             (`coffer list --collection login`)"
                .to_string()
        } else {
            "the Secret Service is disabled; its items stay in the vault".to_string()
        };
        for n in notes {
            message.push_str("; ");
            message.push_str(&n);
        }
        tracing::info!("Secret Service disabled");
        Ok(self.report(d, message, None, false).await)
    }

    /// `coffer secret-service status`.
    pub async fn status(&self, d: &Arc<Daemon>, p: SecretServiceParams) -> SecretServiceReport {
        let bus = p.bus_address.filter(|a| !a.is_empty());
        let state = self.state().unwrap_or_default();
        let message = if state.providing {
            format!(
                "cofferd provides org.freedesktop.secrets on {}",
                state.bus_address.as_deref().unwrap_or("the session bus")
            )
        } else if state.enabled {
            format!(
                "enabled, but cofferd does not provide org.freedesktop.secrets: {}",
                state
                    .problem
                    .as_deref()
                    .unwrap_or("it is starting; ask again in a moment")
            )
        } else {
            "disabled: cofferd does not provide the Secret Service; `coffer secret-service \
             enable` turns it on"
                .to_string()
        };
        self.report(d, message, bus, true).await
    }

    /// The report after `message`; with `ask_bus`, who owns the name on
    /// `bus` (else the bus in use, else cofferd's own).
    async fn report(
        &self,
        d: &Daemon,
        message: String,
        bus: Option<String>,
        ask_bus: bool,
    ) -> SecretServiceReport {
        let state = self.state().unwrap_or_default();
        let (bus_reachable, owner) = if ask_bus {
            match bus
                .or_else(|| state.bus_address.clone())
                .or_else(own_bus_address)
            {
                Some(b) => {
                    match with_timeout("name the owner", current_owner(&Bus::Address(b))).await {
                        Ok(o) => (Some(true), o.map(|o| o.to_string())),
                        Err(e) => {
                            tracing::debug!(error = %e, "the session bus is not reachable");
                            (Some(false), None)
                        }
                    }
                }
                None => (Some(false), None),
            }
        } else {
            (None, None)
        };
        let activation_file = activation_dir()
            .filter(|dir| activation::installed(dir))
            .map(|dir| dir.join(activation::FILE_NAME));
        SecretServiceReport {
            message,
            state,
            bus_reachable,
            owner,
            activation_file,
            collections: vault_counts(d).await,
        }
    }

    /// At shutdown: releases the name.
    pub async fn shutdown(&self) {
        if let Some(r) = self.running.lock().await.take() {
            r.provider.stop().await;
        }
        self.shown().providing = false;
    }

    /// The provider of `generation` lost the name: it is stopped and the
    /// reason shown.
    async fn lost(&self, generation: u64) {
        let mut running = self.running.lock().await;
        if running.as_ref().is_none_or(|r| r.generation != generation) {
            return;
        }
        let Some(r) = running.take() else { return };
        let owner = with_timeout(
            "name the owner",
            current_owner(&Bus::Address(r.bus.clone())),
        )
        .await
        .ok()
        .flatten();
        let why = match owner {
            Some(o) => format!(
                "{o} took org.freedesktop.secrets; stop it, then run `coffer secret-service enable` to provide it again"
            ),
            None => "cofferd lost org.freedesktop.secrets (the session bus went away?); run `coffer secret-service enable` to provide it again".to_string(),
        };
        tracing::warn!("{why}");
        drop(r.store);
        r.provider.stop().await;
        let mut s = self.shown();
        s.providing = false;
        s.problem = Some(why);
        s.store = None;
    }
}

async fn watch_lost(d: Weak<Daemon>, generation: u64, mut running: watch::Receiver<bool>) {
    let _ = running.wait_for(|r| !*r).await;
    if let Some(d) = d.upgrade() {
        d.secret_service.lost(generation).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_nothing_until_enabled() {
        assert_eq!(Manager::new(false).state(), None);
        let on = Manager::new(true).state().unwrap();
        assert!(on.enabled && !on.providing && on.waiting.is_empty());
    }
}
