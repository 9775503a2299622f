//! The one owner of the daemon's state: a [`Session`] holds exactly the
//! data of its state (DESIGN §5: `signed-out` → `unlocked` ⇄ `locked`, any
//! → `reset` → login), and its transitions (`transitions.rs`) are the only
//! way to move between them. Dropping an [`Account`] drops everything that
//! belonged to that sign-in: its container store, its sync bookkeeping, its
//! plaintext cache.
//!
//! # Layout
//!
//! - this file: [`Session`], [`Account`], [`ResetWait`] and [`Core`] (what
//!   the daemon's lock guards);
//! - `transitions`: sign in, unlock, lock, log out, enter reset;
//! - `credentials`: turning the Account Password (and Account Key) into the
//!   vault key, in one place;
//! - `limiter`: the wrong-password delay.

use std::path::PathBuf;
use std::time::Instant;

use coffer_proto::reply::State;
use coffer_vault::account::AccountHeader;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;

use crate::error::Error;
use crate::keycache::CacheNamespace;
use crate::store::container::ContainerStore;
use crate::store::device::DeviceRecord;
use crate::sync::SyncState;

pub mod credentials;
pub mod limiter;
mod transitions;

pub use limiter::Limiter;
pub use transitions::{ResetCause, SignIn};

/// What the daemon's state lock guards.
pub struct Core {
    /// The session.
    pub session: Session,
    /// Wrong-password delays.
    pub limiter: Limiter,
    /// When the vault was last used (for the lock timeout).
    pub last_use: Instant,
    /// A problem with the local files that keeps the daemon from working
    /// (shown in `status`; nothing is written over such files).
    pub problem: Option<String>,
}

impl Core {
    /// A signed-out daemon.
    pub fn new() -> Core {
        Core {
            session: Session::SignedOut,
            limiter: Limiter::default(),
            last_use: Instant::now(),
            problem: None,
        }
    }
}

impl Default for Core {
    fn default() -> Self {
        Core::new()
    }
}

/// The daemon's state and the data that belongs to it.
#[derive(Default)]
pub enum Session {
    /// No account on this device.
    #[default]
    SignedOut,
    /// Signed in, no key in memory: merges still run (union only).
    Locked(Box<Account>),
    /// Signed in with the vault key.
    Unlocked(Box<Account>, SecretKey),
    /// The account was reset; waiting for a login with the new secrets.
    Reset(Box<ResetWait>),
}

/// One signed-in account on this device.
pub struct Account {
    /// The sign-in record (`device.json`).
    pub device: DeviceRecord,
    /// The account header of this epoch.
    pub header: AccountHeader,
    /// The vault.
    pub replica: Replica,
    /// The container file.
    pub container: ContainerStore,
    /// The sync folders' bookkeeping.
    pub sync: SyncState,
}

/// A device waiting for a login after a reset.
pub struct ResetWait {
    /// The sign-in record, with the reset details.
    pub device: DeviceRecord,
    /// The sync folders' health, for `status`.
    pub sync: SyncState,
}

impl Session {
    /// The state as the protocol names it.
    pub fn state(&self) -> State {
        match self {
            Session::SignedOut => State::SignedOut,
            Session::Locked(_) => State::Locked,
            Session::Unlocked(..) => State::Unlocked,
            Session::Reset(_) => State::Reset,
        }
    }

    /// The signed-in account (locked or unlocked).
    pub fn account(&self) -> Option<&Account> {
        match self {
            Session::Locked(a) | Session::Unlocked(a, _) => Some(a),
            _ => None,
        }
    }

    /// The signed-in account, mutably, with the key when unlocked.
    pub fn account_mut(&mut self) -> Option<(&mut Account, Option<&SecretKey>)> {
        match self {
            Session::Locked(a) => Some((a, None)),
            Session::Unlocked(a, k) => Some((a, Some(k))),
            _ => None,
        }
    }

    /// The unlocked account and its key, or the "not unlocked" error of this state.
    pub fn unlocked(&mut self) -> Result<(&mut Account, &SecretKey), Error> {
        match self {
            Session::Unlocked(a, k) => Ok((a, k)),
            other => Err(Error::NotReady(other.state())),
        }
    }

    /// The sign-in record of any state but signed out.
    pub fn device(&self) -> Option<&DeviceRecord> {
        match self {
            Session::SignedOut => None,
            Session::Locked(a) | Session::Unlocked(a, _) => Some(&a.device),
            Session::Reset(w) => Some(&w.device),
        }
    }

    /// The sync bookkeeping of any state but signed out.
    pub fn sync(&self) -> Option<&SyncState> {
        match self {
            Session::SignedOut => None,
            Session::Locked(a) | Session::Unlocked(a, _) => Some(&a.sync),
            Session::Reset(w) => Some(&w.sync),
        }
    }

    /// The sign-in record, mutably.
    pub fn device_mut(&mut self) -> Option<&mut DeviceRecord> {
        match self {
            Session::SignedOut => None,
            Session::Locked(a) | Session::Unlocked(a, _) => Some(&mut a.device),
            Session::Reset(w) => Some(&mut w.device),
        }
    }

    /// The sync bookkeeping, mutably.
    pub fn sync_mut(&mut self) -> Option<&mut SyncState> {
        match self {
            Session::SignedOut => None,
            Session::Locked(a) | Session::Unlocked(a, _) => Some(&mut a.sync),
            Session::Reset(w) => Some(&mut w.sync),
        }
    }

    /// The sync folders of this device (none when signed out).
    pub fn sync_folders(&self) -> &[PathBuf] {
        self.device().map_or(&[], |d| &d.sync_folders)
    }

    /// Where this device's key is cached (any state but signed out).
    pub fn namespace(&self) -> Option<CacheNamespace> {
        self.device().map(DeviceRecord::namespace)
    }
}

impl DeviceRecord {
    /// Where this sign-in's key is cached.
    pub fn namespace(&self) -> CacheNamespace {
        CacheNamespace {
            account_id: self.account_id.to_string(),
            epoch: self.epoch,
            device_id: self.device_id.clone(),
        }
    }
}
