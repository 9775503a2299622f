//! Errors: [`DbusError`], what a D-Bus call answers (with the spec's names,
//! `org.freedesktop.Secret.Error.IsLocked`, `NoSession`, `NoSuchObject`,
//! and the bus's standard ones), and [`StartError`], why the provider could
//! not start.

use zbus::message::{Header, Message};
use zbus::names::ErrorName;

use super::owner::NameOwner;
use super::store::StoreError;

/// An error answer to a D-Bus method call. The text says what is wrong and
/// what to do; it never holds a secret.
#[derive(Debug)]
pub enum DbusError {
    /// `org.freedesktop.Secret.Error.IsLocked`: the object is locked.
    IsLocked(String),
    /// `org.freedesktop.Secret.Error.NoSession`: no such session (or not
    /// the caller's).
    NoSession(String),
    /// `org.freedesktop.Secret.Error.NoSuchObject`: no such collection or
    /// item.
    NoSuchObject(String),
    /// `org.freedesktop.DBus.Error.InvalidArgs`.
    InvalidArgs(String),
    /// `org.freedesktop.DBus.Error.NotSupported`.
    NotSupported(String),
    /// `org.freedesktop.DBus.Error.AccessDenied`.
    AccessDenied(String),
    /// `org.freedesktop.DBus.Error.LimitsExceeded`.
    LimitsExceeded(String),
    /// `org.freedesktop.DBus.Error.Failed`.
    Failed(String),
}

impl DbusError {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            DbusError::IsLocked(m) => ("org.freedesktop.Secret.Error.IsLocked", m),
            DbusError::NoSession(m) => ("org.freedesktop.Secret.Error.NoSession", m),
            DbusError::NoSuchObject(m) => ("org.freedesktop.Secret.Error.NoSuchObject", m),
            DbusError::InvalidArgs(m) => ("org.freedesktop.DBus.Error.InvalidArgs", m),
            DbusError::NotSupported(m) => ("org.freedesktop.DBus.Error.NotSupported", m),
            DbusError::AccessDenied(m) => ("org.freedesktop.DBus.Error.AccessDenied", m),
            DbusError::LimitsExceeded(m) => ("org.freedesktop.DBus.Error.LimitsExceeded", m),
            DbusError::Failed(m) => ("org.freedesktop.DBus.Error.Failed", m),
        }
    }

    /// The same error for a property getter or setter, which zbus lets
    /// answer only with the bus's standard errors: the Secret Service names
    /// become `Failed` with the same text.
    pub fn into_fdo(self) -> zbus::fdo::Error {
        match self {
            DbusError::InvalidArgs(m) => zbus::fdo::Error::InvalidArgs(m),
            DbusError::NotSupported(m) => zbus::fdo::Error::NotSupported(m),
            DbusError::AccessDenied(m) => zbus::fdo::Error::AccessDenied(m),
            DbusError::LimitsExceeded(m) => zbus::fdo::Error::LimitsExceeded(m),
            DbusError::NoSuchObject(m) => zbus::fdo::Error::UnknownObject(m),
            DbusError::IsLocked(m) | DbusError::NoSession(m) | DbusError::Failed(m) => {
                zbus::fdo::Error::Failed(m)
            }
        }
    }
}

impl std::fmt::Display for DbusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, msg) = self.parts();
        write!(f, "{name}: {msg}")
    }
}

impl std::error::Error for DbusError {}

impl zbus::DBusError for DbusError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        let (name, msg) = self.parts();
        // zbus 4's own DBusError derive builds replies this way; the
        // replacement (`Message::method_error`) needs the whole call message,
        // which interface methods do not get.
        #[allow(deprecated)]
        zbus::message::Builder::error(call, ErrorName::from_static_str_unchecked(name))?
            .build(&(msg,))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.parts().0)
    }

    fn description(&self) -> Option<&str> {
        Some(self.parts().1)
    }
}

impl From<StoreError> for DbusError {
    fn from(e: StoreError) -> Self {
        let msg = e.to_string();
        match e {
            StoreError::Locked => DbusError::IsLocked(msg),
            StoreError::NoSuchCollection(_) | StoreError::NoSuchItem(..) => {
                DbusError::NoSuchObject(msg)
            }
            StoreError::Invalid(_) => DbusError::InvalidArgs(msg),
            StoreError::Unsupported(_) => DbusError::NotSupported(msg),
            StoreError::Failed(_) => DbusError::Failed(msg),
        }
    }
}

impl From<zbus::Error> for DbusError {
    fn from(e: zbus::Error) -> Self {
        DbusError::Failed(format!(
            "the Secret Service provider hit a D-Bus error: {e}"
        ))
    }
}

/// The result of a D-Bus method.
pub type DbusResult<T> = Result<T, DbusError>;

/// Why the provider could not start (or tell who owns the name).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// `start` was called outside a tokio runtime.
    #[error("the Secret Service provider must be started from inside the daemon's tokio runtime")]
    NoRuntime,
    /// The session bus could not be reached.
    #[error("cannot connect to the session bus ({address}): {source}; the Secret Service needs a desktop session (DBUS_SESSION_BUS_ADDRESS)")]
    Connect {
        /// The bus address tried ("the session bus" when taken from the
        /// environment).
        address: String,
        /// Why.
        #[source]
        source: zbus::Error,
    },
    /// Another program provides the Secret Service.
    #[error("{owner} already provides org.freedesktop.secrets on this session bus; stop it or turn off its Secret Service support, then run `coffer secret-service enable` again")]
    NameTaken {
        /// Who owns the name.
        owner: NameOwner,
    },
    /// The bus refused something else.
    #[error("the session bus refused the Secret Service provider: {0}")]
    Bus(#[from] zbus::Error),
    /// The store could not be read.
    #[error("cannot read the vault's Secret Service collections: {0}")]
    Store(#[from] StoreError),
}
