//! The key cache: keeps the unlocked vault key of a device in the OS keyring so that a restarted
//! daemon comes back unlocked (DESIGN §5).
//!
//! Backends, probed in this order when none is forced:
//! - Secret Service (Linux/BSD; only when `DBUS_SESSION_BUS_ADDRESS` is set), or the Keychain on
//!   macOS;
//! - the kernel key retention service (keyutils, Linux), through the process's session keyring
//!   (the `keyring` crate also links the entry into the user's persistent keyring);
//! - memory, with a warning that says why every OS store was passed over.
//!
//! A backend is used only after a probe wrote, read back and deleted an entry holding a random value
//! within [`PROBE_TIMEOUT`]; the probe runs on its own thread so that a hung D-Bus cannot hang the
//! daemon. `COFFER_KEYRING=secret-service|keyutils|keychain|memory` forces a backend; a forced
//! backend that does not work is an error ([`KeyCache::try_open`]). The `keyring` crate's default
//! store is never used: every entry is built from an explicit credential, so its mock store cannot
//! be picked by accident.
//!
//! Entries: service `coffer`, user `<account_id>/<epoch>/<device_id>` (several devices of one user
//! can share one keyring), value the 32-byte key as 64 lowercase hex digits. Every intermediate copy
//! of a key is zeroized; keys never appear in logs, errors or `Debug` output.
//!
//! All calls block (at most [`OP_TIMEOUT`] for the stores that talk over D-Bus or to the Keychain);
//! the daemon makes them through `Daemon::keyring`, which tells the runtime so
//! (`block_in_place`).
//!
//! # Layout
//!
//! - this file: the cache, its errors and namespaces;
//! - `backend`: which stores exist here and how each is checked;
//! - `probe`: the write-read-delete probe and bounded calls;
//! - `os`: the calls into the `keyring` crate.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use zeroize::Zeroizing;

mod backend;
mod os;
mod probe;

use backend::Backend;
use os::{describe, os_delete, os_get, os_set, scrub};
use probe::{bounded, hex_decode, hex_encode, Bounded};

/// The environment variable that forces a backend.
pub const FORCE_ENV: &str = "COFFER_KEYRING";

/// The service name of every entry.
pub const SERVICE: &str = "coffer";

/// How long a backend probe may take before the backend is declared unusable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one store, load or purge may take on a backend that can hang (Secret Service,
/// Keychain) before it is reported as [`KeyCacheError::Timeout`].
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the key cache. None of them carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyCacheError {
    /// `COFFER_KEYRING` names no backend.
    #[error(
        "{FORCE_ENV}={value:?} names no key cache backend \
         (expected secret-service, keyutils, keychain or memory)"
    )]
    UnknownBackend {
        /// The value found in the environment.
        value: String,
    },
    /// The backend forced by `COFFER_KEYRING` does not work here.
    #[error("the {backend} key cache forced by {FORCE_ENV} does not work here: {reason}")]
    Unavailable {
        /// The forced backend.
        backend: &'static str,
        /// Why its probe failed.
        reason: String,
    },
    /// The backend refused or failed an operation.
    #[error("the {backend} key cache could not {op} the entry {entry}: {reason}")]
    Backend {
        /// The backend in use.
        backend: &'static str,
        /// `store`, `load` or `purge`.
        op: &'static str,
        /// The entry's user name (`<account_id>/<epoch>/<device_id>`).
        entry: String,
        /// The backend's own description of the failure.
        reason: String,
    },
    /// The backend did not answer within [`OP_TIMEOUT`].
    #[error("the {backend} key cache did not answer within {secs} s when asked to {op} the entry {entry}")]
    Timeout {
        /// The backend in use.
        backend: &'static str,
        /// `store`, `load` or `purge`.
        op: &'static str,
        /// The entry's user name.
        entry: String,
        /// The limit that passed.
        secs: u64,
    },
    /// The entry exists but does not hold a 256-bit key in hex.
    #[error("the {backend} key cache holds a malformed entry {entry} (not a 256-bit key)")]
    Corrupt {
        /// The backend in use.
        backend: &'static str,
        /// The entry's user name.
        entry: String,
    },
    /// A namespace part is empty or would make entry names ambiguous.
    #[error("invalid key cache namespace: {reason}")]
    InvalidNamespace {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Which account, epoch and device a cached key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheNamespace {
    /// The account's UUID.
    pub account_id: String,
    /// The account epoch the key belongs to.
    pub epoch: u64,
    /// The device holding the key.
    pub device_id: String,
}

impl CacheNamespace {
    /// A namespace for `account_id` at `epoch` on `device_id`.
    pub fn new(account_id: impl Into<String>, epoch: u64, device_id: impl Into<String>) -> Self {
        CacheNamespace {
            account_id: account_id.into(),
            epoch,
            device_id: device_id.into(),
        }
    }

    /// The entry's user (account) name in the OS store: `<account_id>/<epoch>/<device_id>`.
    pub fn entry_user(&self) -> String {
        format!("{}/{}/{}", self.account_id, self.epoch, self.device_id)
    }

    fn validate(&self) -> Result<(), KeyCacheError> {
        for part in [&self.account_id, &self.device_id] {
            if part.is_empty() {
                return Err(KeyCacheError::InvalidNamespace {
                    reason: "the account id and the device id must not be empty",
                });
            }
            if part.contains('/') || part.contains('@') || part.chars().any(char::is_control) {
                return Err(KeyCacheError::InvalidNamespace {
                    reason: "the account id and the device id must not contain '/', '@' or control characters",
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for CacheNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entry_user())
    }
}
/// The key cache of one daemon. Cheap to share (`Send + Sync`); all calls block.
pub struct KeyCache {
    backend: Backend,
    warning: Option<String>,
    /// The keys themselves, for the memory backend only.
    memory: Mutex<HashMap<CacheNamespace, Zeroizing<[u8; 32]>>>,
    /// Namespaces this cache stored or loaded, so `purge_account` can find them again.
    known: Mutex<BTreeSet<CacheNamespace>>,
    /// The cache every call goes to instead, once this one left the Secret
    /// Service ([`KeyCache::leave_secret_service`]).
    replacement: OnceLock<Box<KeyCache>>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("backend", &self.backend.name())
            .field("warning", &self.warning)
            .field("known_namespaces", &lock(&self.known).len())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// Opens the key cache as [`KeyCache::try_open`] does, but never fails: a forced backend that
    /// does not work (or a bad `COFFER_KEYRING`) gives the memory cache, with the error as its
    /// warning.
    pub fn open() -> KeyCache {
        match KeyCache::try_open() {
            Ok(cache) => cache,
            Err(err) => {
                let warning = format!(
                    "{err}; the unlocked key is kept in memory only, so a restarted daemon must be unlocked again"
                );
                tracing::error!("{warning}");
                KeyCache::with_backend(Backend::Memory, Some(warning))
            }
        }
    }

    /// Opens the key cache, honouring `COFFER_KEYRING` (an empty value counts as unset).
    ///
    /// Errors when `COFFER_KEYRING` names no backend, or names one that does not work here.
    pub fn try_open() -> Result<KeyCache, KeyCacheError> {
        let forced = std::env::var_os(FORCE_ENV).filter(|v| !v.is_empty());
        match forced {
            None => KeyCache::try_open_with(None),
            Some(value) => match value.to_str() {
                Some(name) => KeyCache::try_open_with(Some(name)),
                None => Err(KeyCacheError::UnknownBackend {
                    value: value.to_string_lossy().into_owned(),
                }),
            },
        }
    }

    /// Opens the key cache with `forced` as the backend (`None`: probe them in order), ignoring
    /// `COFFER_KEYRING`.
    pub fn try_open_with(forced: Option<&str>) -> Result<KeyCache, KeyCacheError> {
        let Some(name) = forced else {
            return Ok(KeyCache::probe_all());
        };
        let backend = Backend::parse(name).ok_or_else(|| KeyCacheError::UnknownBackend {
            value: name.to_string(),
        })?;
        if backend != Backend::Memory && !Backend::candidates().contains(&backend) {
            return Err(KeyCacheError::Unavailable {
                backend: backend.name(),
                reason: format!("not available on {}", std::env::consts::OS),
            });
        }
        backend
            .check()
            .map_err(|reason| KeyCacheError::Unavailable {
                backend: backend.name(),
                reason,
            })?;
        tracing::info!(backend = backend.name(), "key cache forced by {FORCE_ENV}");
        Ok(KeyCache::with_backend(backend, None))
    }

    /// A memory-only cache (nothing survives the process), without a warning.
    pub fn memory() -> KeyCache {
        KeyCache::with_backend(Backend::Memory, None)
    }

    /// Opens the key cache as [`KeyCache::open`] does, but never on the
    /// Secret Service: cofferd provides it itself (`coffer secret-service
    /// enable`), and its own key cannot be kept in the vault it unlocks.
    pub fn open_without_secret_service() -> KeyCache {
        let forced = std::env::var(FORCE_ENV).ok().filter(|v| !v.is_empty());
        if forced.as_deref() == Some(Backend::SecretService.name()) {
            let warning = format!(
                "{FORCE_ENV}=secret-service cannot be used while cofferd itself provides the \
                 Secret Service, so the unlocked key is kept in memory only; unset it, or run \
                 `coffer secret-service disable`"
            );
            tracing::error!("{warning}");
            return KeyCache::with_backend(Backend::Memory, Some(warning));
        }
        if forced.is_some() {
            return KeyCache::open();
        }
        KeyCache::probe_all_but(Some(Backend::SecretService))
    }

    /// Stops using the Secret Service, when this cache does (cofferd now
    /// provides it: a key stored there would go into the vault it unlocks,
    /// and the call would wait on cofferd itself): from now on every call
    /// goes to the cache [`KeyCache::open_without_secret_service`] opens.
    /// Returns whether it switched. The key left in the other provider's
    /// store is not purged: that provider is gone (it gave up the name).
    pub fn leave_secret_service(&self) -> bool {
        if self.backend != Backend::SecretService || self.replacement.get().is_some() {
            return false;
        }
        let next = KeyCache::open_without_secret_service();
        tracing::warn!(
            backend = next.backend(),
            "cofferd provides the Secret Service now: the key cache moves off it"
        );
        self.replacement.set(Box::new(next)).is_ok()
    }

    /// The cache calls go to: the replacement once there is one.
    fn active(&self) -> Option<&KeyCache> {
        self.replacement.get().map(|b| b.as_ref())
    }

    fn probe_all() -> KeyCache {
        KeyCache::probe_all_but(None)
    }

    fn probe_all_but(skip: Option<Backend>) -> KeyCache {
        let mut reasons = Vec::new();
        for &backend in Backend::candidates().iter().filter(|b| Some(**b) != skip) {
            match backend.check() {
                Ok(()) => {
                    tracing::info!(backend = backend.name(), "key cache in the OS keyring");
                    return KeyCache::with_backend(backend, None);
                }
                Err(reason) => {
                    tracing::debug!(backend = backend.name(), %reason, "key cache backend unusable");
                    reasons.push(format!("{}: {reason}", backend.name()));
                }
            }
        }
        let why = if reasons.is_empty() {
            format!("no OS keyring is supported on {}", std::env::consts::OS)
        } else {
            reasons.join("; ")
        };
        let warning = format!(
            "no OS keyring works, so the unlocked key is cached in memory only and a restarted \
             daemon must be unlocked again ({why})"
        );
        tracing::warn!("{warning}");
        KeyCache::with_backend(Backend::Memory, Some(warning))
    }

    fn with_backend(backend: Backend, warning: Option<String>) -> KeyCache {
        KeyCache {
            backend,
            warning,
            memory: Mutex::new(HashMap::new()),
            known: Mutex::new(BTreeSet::new()),
            replacement: OnceLock::new(),
        }
    }

    /// The backend in use: `"secret-service"`, `"keyutils"`, `"keychain"` or `"memory"`.
    pub fn backend(&self) -> &'static str {
        if let Some(r) = self.active() {
            return r.backend();
        }
        self.backend.name()
    }

    /// Whether a cached key outlives the daemon (false for memory).
    pub fn persistent(&self) -> bool {
        if let Some(r) = self.active() {
            return r.persistent();
        }
        self.backend != Backend::Memory
    }

    /// Why the cache fell back to memory, if it did.
    pub fn warning(&self) -> Option<&str> {
        if let Some(r) = self.active() {
            return r.warning();
        }
        self.warning.as_deref()
    }

    /// Caches `key` for `ns`, replacing any key cached there. When the store fails, whatever it
    /// may have written for `ns` is removed (best effort), so a failed store leaves no key behind.
    pub fn store(&self, ns: &CacheNamespace, key: &[u8; 32]) -> Result<(), KeyCacheError> {
        if let Some(r) = self.active() {
            return r.store(ns, key);
        }
        ns.validate()?;
        // Known before the attempt: a store that timed out may still land later.
        lock(&self.known).insert(ns.clone());
        if self.backend == Backend::Memory {
            lock(&self.memory).insert(ns.clone(), Zeroizing::new(*key));
            return Ok(());
        }
        let value = hex_encode(key);
        self.os_call("store", ns, move |backend, user| {
            os_set(backend, &user, &value).inspect_err(|_| scrub(backend, &user))
        })?;
        tracing::debug!(backend = self.backend(), entry = %ns, "key cached");
        Ok(())
    }

    /// The key cached for `ns`; `Ok(None)` when there is none. An entry that is not a 256-bit
    /// key in hex is [`KeyCacheError::Corrupt`] (purge it and ask for the password).
    pub fn load(&self, ns: &CacheNamespace) -> Result<Option<Zeroizing<[u8; 32]>>, KeyCacheError> {
        if let Some(r) = self.active() {
            return r.load(ns);
        }
        ns.validate()?;
        if self.backend == Backend::Memory {
            return Ok(lock(&self.memory).get(ns).cloned());
        }
        let Some(value) = self.os_call("load", ns, |backend, user| os_get(backend, &user))? else {
            return Ok(None);
        };
        let key = hex_decode(&value).ok_or_else(|| KeyCacheError::Corrupt {
            backend: self.backend(),
            entry: ns.entry_user(),
        })?;
        lock(&self.known).insert(ns.clone());
        Ok(Some(key))
    }

    /// Removes the key cached for `ns`; no entry is fine.
    pub fn purge(&self, ns: &CacheNamespace) -> Result<(), KeyCacheError> {
        if let Some(r) = self.active() {
            return r.purge(ns);
        }
        ns.validate()?;
        if self.backend == Backend::Memory {
            lock(&self.memory).remove(ns);
        } else {
            let existed = self.os_call("purge", ns, |backend, user| os_delete(backend, &user))?;
            tracing::debug!(backend = self.backend(), entry = %ns, existed, "key purged");
        }
        lock(&self.known).remove(ns);
        Ok(())
    }

    /// Removes every key of `account_id` this cache holds: in memory all of them; in an OS store
    /// every namespace this cache stored or loaded since it was opened (an OS store cannot be
    /// listed through the `keyring` crate, so pass older namespaces to
    /// [`KeyCache::purge_namespaces`]). Tries them all; the first failure is returned.
    pub fn purge_account(&self, account_id: &str) -> Result<(), KeyCacheError> {
        if let Some(r) = self.active() {
            return r.purge_account(account_id);
        }
        let mut targets: BTreeSet<CacheNamespace> = lock(&self.known)
            .iter()
            .filter(|ns| ns.account_id == account_id)
            .cloned()
            .collect();
        if self.backend == Backend::Memory {
            targets.extend(
                lock(&self.memory)
                    .keys()
                    .filter(|ns| ns.account_id == account_id)
                    .cloned(),
            );
        }
        let targets: Vec<CacheNamespace> = targets.into_iter().collect();
        self.purge_namespaces(&targets)
    }

    /// Purges each of `namespaces` (no entry is fine). Tries them all; the first failure is
    /// returned.
    pub fn purge_namespaces(&self, namespaces: &[CacheNamespace]) -> Result<(), KeyCacheError> {
        let mut first_error = None;
        for ns in namespaces {
            if let Err(err) = self.purge(ns) {
                tracing::warn!(entry = %ns, "key cache purge failed: {err}");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs `f` against the OS store, under [`OP_TIMEOUT`] when the store may hang, and maps its
    /// errors.
    fn os_call<T, F>(&self, op: &'static str, ns: &CacheNamespace, f: F) -> Result<T, KeyCacheError>
    where
        T: Send + 'static,
        F: FnOnce(Backend, String) -> Result<T, keyring::Error> + Send + 'static,
    {
        let backend = self.backend;
        let user = ns.entry_user();
        let result = if backend.may_hang() {
            let worker_user = user.clone();
            match bounded(OP_TIMEOUT, move || f(backend, worker_user)) {
                Ok(result) => result,
                Err(Bounded::TimedOut) => {
                    return Err(KeyCacheError::Timeout {
                        backend: backend.name(),
                        op,
                        entry: user,
                        secs: OP_TIMEOUT.as_secs(),
                    })
                }
                Err(Bounded::NoThread(reason)) => {
                    return Err(KeyCacheError::Backend {
                        backend: backend.name(),
                        op,
                        entry: user,
                        reason,
                    })
                }
            }
        } else {
            f(backend, user.clone())
        };
        result.map_err(|err| KeyCacheError::Backend {
            backend: backend.name(),
            op,
            entry: user,
            reason: describe(&err),
        })
    }
}
/// Locks `mutex`, ignoring poisoning: the guarded maps stay consistent whatever panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_the_secret_service_sends_every_call_elsewhere() {
        // Not probed: no call reaches a Secret Service here.
        let cache = KeyCache::with_backend(Backend::SecretService, None);
        assert_eq!(cache.backend(), "secret-service");
        assert!(cache.leave_secret_service());
        assert_ne!(cache.backend(), "secret-service");
        assert!(!cache.leave_secret_service(), "once");
        let ns = CacheNamespace::new(
            format!("unit-{}", std::process::id()),
            1,
            "leave-secret-service",
        );
        let key = [7u8; 32];
        match cache.store(&ns, &key) {
            Ok(()) => {
                assert_eq!(cache.load(&ns).unwrap().as_deref(), Some(&key));
                cache.purge(&ns).unwrap();
                assert_eq!(cache.load(&ns).unwrap(), None);
            }
            // A kernel keyring this process may not use is the new
            // backend's own failure, not the Secret Service's.
            Err(e) => assert!(!e.to_string().contains("secret-service"), "{e}"),
        }
        let memory = KeyCache::memory();
        assert!(
            !memory.leave_secret_service(),
            "only a Secret Service cache moves"
        );
    }
}
