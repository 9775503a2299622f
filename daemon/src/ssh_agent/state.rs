//! What the daemon keeps for its SSH agent: the settings, whether the
//! socket is served (for `status`), and the vault's keys ([`KeyList`])
//! behind their own lock, taken only while the state lock is held.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use coffer_proto::dirs::Dirs;
use coffer_proto::ssh::SshAgentInfo;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;

use super::index;
use super::keylist::KeyList;
use super::server::AddPolicy;
use crate::config::SshAgentConfig;

/// The agent's part of the daemon.
pub struct AgentState {
    config: SshAgentConfig,
    socket: PathBuf,
    /// `None` before start-up tried to bind; then whether it worked.
    bound: Mutex<Option<Result<(), String>>>,
    keys: Mutex<KeyList>,
}

impl AgentState {
    /// The agent of a daemon with these paths and settings (not bound yet).
    pub fn new(config: SshAgentConfig, dirs: &Dirs) -> AgentState {
        AgentState {
            config,
            socket: dirs.ssh_agent_socket(),
            bound: Mutex::new(None),
            keys: Mutex::new(KeyList::new(index::path_in(&dirs.data))),
        }
    }

    /// The settings.
    pub fn config(&self) -> SshAgentConfig {
        self.config
    }

    /// Where the agent's socket is (or would be).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Records whether binding the socket worked (`Err`: why not).
    pub fn set_bound(&self, result: Result<(), String>) {
        *self.bound.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    }

    /// The agent as `status` shows it; `None` when it is off.
    pub fn info(&self) -> Option<SshAgentInfo> {
        if !self.config.enabled {
            return None;
        }
        let bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        let (serving, error) = match &*bound {
            Some(Ok(())) => (true, None),
            Some(Err(e)) => (false, Some(e.clone())),
            None => (false, Some("the daemon is starting".to_owned())),
        };
        Some(SshAgentInfo {
            socket: self.socket.clone(),
            serving,
            error,
            list_locked: self.config.list_locked,
            add_policy: match self.config.add {
                AddPolicy::Refuse => "refuse",
                AddPolicy::Store => "store",
            }
            .to_owned(),
        })
    }

    /// Whether the public-key index for listing while locked is kept.
    pub fn keeps_index(&self) -> bool {
        self.config.enabled && self.config.list_locked
    }

    /// Called with the unlocked vault just before it locks (on request or
    /// at the lock timeout): the index then holds the keys as they were at
    /// the lock, whatever refresh after a change is still to come.
    pub fn before_lock(&self, replica: &Replica, key: &SecretKey) {
        if self.keeps_index() {
            self.keys().refresh_unlocked(replica, key, true);
        }
    }

    /// The vault's keys. Take it only while holding the daemon's state
    /// lock (the lock order: state, then keys).
    pub fn keys(&self) -> MutexGuard<'_, KeyList> {
        // A panic while the list was held leaves a list that is at worst
        // stale; the next refresh repairs it.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}
