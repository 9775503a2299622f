//! Who is calling: every caller's unique bus name, pid, uid and program,
//! asked of the bus once per connection and cached until it leaves.
//!
//! Each call is logged at debug with the method, the object, the program and
//! the pid (never an argument: attributes, labels and secrets stay out of
//! the log). A caller whose uid is not ours is refused: the session bus
//! already admits only its own user, and this holds even on a bus
//! configured more loosely.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;

use super::error::{DbusError, DbusResult};

/// What the provider knows of a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its unique bus name (`:1.42`).
    pub unique_name: String,
    /// Its process id, when the bus knows it.
    pub pid: Option<u32>,
    /// Its user id, when the bus knows it.
    pub uid: Option<u32>,
    /// Its executable (from `/proc/PID/exe`, else `/proc/PID/comm`).
    pub program: Option<PathBuf>,
}

impl Peer {
    /// The program's file name, or "an unknown program".
    pub fn program_name(&self) -> String {
        match &self.program {
            Some(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            None => "an unknown program".to_string(),
        }
    }

    /// For people: "secret-tool (pid 1234)".
    pub fn describe(&self) -> String {
        match self.pid {
            Some(pid) => format!("{} (pid {pid})", self.program_name()),
            None => format!("{} (bus name {})", self.program_name(), self.unique_name),
        }
    }
}

/// The executable of process `pid`: the target of `/proc/PID/exe` (readable
/// for our own processes), else the name in `/proc/PID/comm`.
pub fn program_of(pid: u32) -> Option<PathBuf> {
    if let Ok(p) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        return Some(p);
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim();
    (!comm.is_empty()).then(|| PathBuf::from(comm))
}

/// Asks the bus who `name` is.
pub async fn identify(dbus: &DBusProxy<'_>, name: &str) -> zbus::Result<Peer> {
    let bus_name = BusName::try_from(name)?;
    let (pid, uid) = match dbus.get_connection_credentials(bus_name.clone()).await {
        Ok(c) => (c.process_id(), c.unix_user_id()),
        // An older bus without GetConnectionCredentials.
        Err(_) => (
            dbus.get_connection_unix_process_id(bus_name.clone())
                .await
                .ok(),
            dbus.get_connection_unix_user(bus_name).await.ok(),
        ),
    };
    Ok(Peer {
        unique_name: name.to_string(),
        pid,
        uid,
        program: pid.and_then(program_of),
    })
}

/// The cache of callers.
pub struct Peers {
    own_uid: u32,
    cache: Mutex<HashMap<String, Arc<Peer>>>,
}

impl Peers {
    /// An empty cache for a provider running as `own_uid`.
    pub fn new(own_uid: u32) -> Peers {
        Peers {
            own_uid,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Peer>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller of the call `hdr`, logged at debug as calling `method`,
    /// or `AccessDenied` for another user (or an unidentifiable caller).
    pub async fn caller(
        &self,
        dbus: &DBusProxy<'_>,
        hdr: &Header<'_>,
        method: &str,
    ) -> DbusResult<Arc<Peer>> {
        let sender = hdr
            .sender()
            .ok_or_else(|| DbusError::AccessDenied("a call without a sender is refused".into()))?
            .to_string();
        let cached = self.cache().get(&sender).cloned();
        let peer = match cached {
            Some(p) => p,
            None => {
                let p = Arc::new(identify(dbus, &sender).await.map_err(|e| {
                    DbusError::AccessDenied(format!(
                        "the bus cannot say which user {sender} runs as ({e}); refused"
                    ))
                })?);
                self.cache().insert(sender.clone(), p.clone());
                p
            }
        };
        let path = hdr.path().map(|p| p.as_str()).unwrap_or("");
        tracing::debug!(
            method,
            path,
            caller = %peer.program.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "unknown".into()),
            pid = peer.pid,
            bus_name = %sender,
            "Secret Service call"
        );
        match peer.uid {
            Some(uid) if uid == self.own_uid => Ok(peer),
            Some(uid) => {
                tracing::warn!(
                    uid,
                    pid = peer.pid,
                    "Secret Service call from another user refused"
                );
                Err(DbusError::AccessDenied(format!(
                    "the Secret Service of uid {} serves only its own user, not uid {uid}",
                    self.own_uid
                )))
            }
            None => Err(DbusError::AccessDenied(format!(
                "the bus cannot say which user {sender} runs as; refused"
            ))),
        }
    }

    /// Forgets a caller that left the bus.
    pub fn forget(&self, unique_name: &str) {
        self.cache().remove(unique_name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_program_is_found() {
        let me = program_of(std::process::id()).expect("our own /proc entry is readable");
        assert_eq!(me, std::env::current_exe().expect("current exe"));
    }

    #[test]
    fn descriptions_name_the_program_and_pid() {
        let p = Peer {
            unique_name: ":1.7".into(),
            pid: Some(42),
            uid: Some(1000),
            program: Some(PathBuf::from("/usr/bin/secret-tool")),
        };
        assert_eq!(p.describe(), "secret-tool (pid 42)");
        let q = Peer {
            pid: None,
            program: None,
            ..p
        };
        assert_eq!(q.describe(), "an unknown program (bus name :1.7)");
    }
}
