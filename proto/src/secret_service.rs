//! `coffer secret-service enable|disable|status`: the parameters and
//! replies of the three methods, what `status` shows of the provider, and
//! where the user's D-Bus session bus is (resolved in one place, so the CLI
//! and the daemon agree).
//!
//! The client sends its own session bus address with `enable` and `status`:
//! a daemon started elsewhere (by systemd, or by a CLI in another session)
//! then serves, and reports on, the bus of the session the user typed the
//! command in.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dirs::Env;

/// The variable that names the session bus.
pub const SESSION_BUS_VAR: &str = "DBUS_SESSION_BUS_ADDRESS";

/// The session bus of `env`: `DBUS_SESSION_BUS_ADDRESS`, else
/// `unix:path=$XDG_RUNTIME_DIR/bus` when that socket exists (where systemd
/// and dbus-broker put the user's bus); `None` when there is neither.
pub fn session_bus_address(env: &dyn Env) -> Option<String> {
    if let Some(a) = env.var(SESSION_BUS_VAR) {
        return Some(a.to_string_lossy().into_owned());
    }
    let runtime = PathBuf::from(env.var("XDG_RUNTIME_DIR")?);
    let bus = runtime.join("bus");
    if !runtime.is_absolute() || !is_socket(&bus) {
        return None;
    }
    Some(format!(
        "unix:path={}",
        escape_address_value(&bus.to_string_lossy())
    ))
}

fn is_socket(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// Escapes a value of a D-Bus address: bytes outside `[-0-9A-Za-z_/.\*]`
/// become `%XX`.
pub fn escape_address_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_/.\\*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What no session bus means, and what to do (for `enable`).
pub fn no_bus_message() -> String {
    format!(
        "there is no D-Bus session bus: {SESSION_BUS_VAR} is not set and $XDG_RUNTIME_DIR/bus \
         does not exist; the Secret Service lives on the session bus of a desktop (or `systemd \
         --user`) session: run this command from one, or start one with `dbus-run-session -- \
         $SHELL`"
    )
}

/// `secret_service_enable` and `secret_service_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretServiceParams {
    /// The client's session bus ([`session_bus_address`]); `None`: the
    /// daemon's own.
    #[serde(default)]
    pub bus_address: Option<String>,
}

/// What `coffer status` shows of the Secret Service provider (no bus is
/// asked: this is the daemon's own record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretServiceState {
    /// `coffer secret-service enable` is in force on this device.
    pub enabled: bool,
    /// cofferd owns `org.freedesktop.secrets` now.
    pub providing: bool,
    /// The bus it serves (or last tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_address: Option<String>,
    /// Why it does not provide although enabled (name taken, no bus, lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Clients waiting for `coffer unlock` ("secret-tool (pid 42)").
    #[serde(default)]
    pub waiting: Vec<String>,
}

/// `secret_service_enable`, `secret_service_disable` and
/// `secret_service_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretServiceReport {
    /// What was done, or the state, in one sentence.
    pub message: String,
    /// The daemon's record.
    #[serde(flatten)]
    pub state: SecretServiceState,
    /// Whether the bus answered (status only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_reachable: Option<bool>,
    /// Who owns `org.freedesktop.secrets` on that bus ("cofferd (pid 7)",
    /// "gnome-keyring-daemon (pid 9)"), when someone does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// coffer's D-Bus activation file, when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_file: Option<PathBuf>,
    /// Items in each Secret Service collection (known while unlocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<CollectionCount>>,
}

/// A collection and how many items it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionCount {
    /// The collection's id (`login`).
    pub id: String,
    /// Its items.
    pub items: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    struct MapEnv(HashMap<&'static str, OsString>);

    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<OsString> {
            self.0.get(name).filter(|v| !v.is_empty()).cloned()
        }
    }

    #[test]
    fn the_session_bus_comes_from_the_variable_then_the_runtime_dir() {
        let env = MapEnv(HashMap::from([(
            SESSION_BUS_VAR,
            OsString::from("unix:path=/run/user/1/bus"),
        )]));
        assert_eq!(
            session_bus_address(&env).as_deref(),
            Some("unix:path=/run/user/1/bus")
        );
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv(HashMap::from([(
            "XDG_RUNTIME_DIR",
            dir.path().as_os_str().to_owned(),
        )]));
        assert_eq!(session_bus_address(&env), None, "no bus socket there");
        let _l = std::os::unix::net::UnixListener::bind(dir.path().join("bus")).unwrap();
        assert_eq!(
            session_bus_address(&env),
            Some(format!(
                "unix:path={}",
                escape_address_value(&dir.path().join("bus").to_string_lossy())
            ))
        );
        assert_eq!(session_bus_address(&MapEnv(HashMap::new())), None);
        assert!(no_bus_message().contains(SESSION_BUS_VAR));
    }

    #[test]
    fn address_values_are_escaped() {
        assert_eq!(escape_address_value("/run/user/1/bus"), "/run/user/1/bus");
        assert_eq!(escape_address_value("/tmp/a b,c=d"), "/tmp/a%20b%2Cc%3Dd");
    }
}
