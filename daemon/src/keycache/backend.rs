//! The stores the key cache can use on this platform, and how each is
//! checked before use.

use super::probe::probe;

/// A key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    SecretService,
    Keyutils,
    Keychain,
    Memory,
}

impl Backend {
    pub(super) fn name(self) -> &'static str {
        match self {
            Backend::SecretService => "secret-service",
            Backend::Keyutils => "keyutils",
            Backend::Keychain => "keychain",
            Backend::Memory => "memory",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Backend> {
        match name {
            "secret-service" => Some(Backend::SecretService),
            "keyutils" => Some(Backend::Keyutils),
            "keychain" => Some(Backend::Keychain),
            "memory" => Some(Backend::Memory),
            _ => None,
        }
    }

    /// The OS stores worth probing on this platform, best first.
    pub(super) fn candidates() -> &'static [Backend] {
        if cfg!(target_os = "macos") {
            &[Backend::Keychain]
        } else if cfg!(target_os = "linux") {
            &[Backend::SecretService, Backend::Keyutils]
        } else if cfg!(any(target_os = "freebsd", target_os = "openbsd")) {
            &[Backend::SecretService]
        } else {
            &[]
        }
    }

    /// Whether calls may block for long (D-Bus, Keychain prompts), so they run under a deadline.
    pub(super) fn may_hang(self) -> bool {
        matches!(self, Backend::SecretService | Backend::Keychain)
    }

    /// Checks the preconditions of the backend, then probes it.
    pub(super) fn check(self) -> Result<(), String> {
        match self {
            Backend::Memory => Ok(()),
            Backend::SecretService => {
                if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
                    return Err("DBUS_SESSION_BUS_ADDRESS is not set (no D-Bus session)".into());
                }
                probe(self)
            }
            Backend::Keyutils | Backend::Keychain => probe(self),
        }
    }
}
