//! Owning `org.freedesktop.secrets`, and saying who owns it when it is
//! taken.
//!
//! The name is requested with `DoNotQueue` (and without
//! `AllowReplacement`): if another provider (gnome-keyring, KWallet,
//! KeePassXC) has it, the request fails at once, and the error names that
//! program and its pid so the user knows what to stop.

use std::fmt;
use std::path::PathBuf;

use zbus::fdo::{DBusProxy, RequestNameFlags, RequestNameReply};
use zbus::names::BusName;
use zbus::Connection;

use super::error::StartError;
use super::peer::program_of;

/// The Secret Service's well-known bus name.
pub const BUS_NAME: &str = "org.freedesktop.secrets";

/// The connection that owns a bus name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameOwner {
    /// Its unique bus name.
    pub unique_name: String,
    /// Its process id, when the bus says.
    pub pid: Option<u32>,
    /// Its executable, when it can be read.
    pub program: Option<PathBuf>,
}

impl fmt::Display for NameOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .program
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        match (name, self.pid) {
            (Some(n), Some(pid)) => write!(f, "{n} (pid {pid})"),
            (None, Some(pid)) => write!(f, "the program with pid {pid}"),
            (Some(n), None) => write!(f, "{n} (bus name {})", self.unique_name),
            (None, None) => write!(f, "the D-Bus client {}", self.unique_name),
        }
    }
}

/// Who owns `org.freedesktop.secrets` on `conn`'s bus, if anyone.
pub async fn name_owner(conn: &Connection) -> zbus::Result<Option<NameOwner>> {
    let dbus = DBusProxy::new(conn).await?;
    let name = BusName::try_from(BUS_NAME)?;
    let unique = match dbus.get_name_owner(name).await {
        Ok(u) => u.to_string(),
        Err(zbus::fdo::Error::NameHasNoOwner(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let pid = dbus
        .get_connection_unix_process_id(BusName::try_from(unique.as_str())?)
        .await
        .ok();
    Ok(Some(NameOwner {
        unique_name: unique,
        pid,
        program: pid.and_then(program_of),
    }))
}

/// Requests the name; `NameTaken` (naming the owner) when someone has it.
pub async fn acquire(conn: &Connection) -> Result<(), StartError> {
    // Twice: the owner may leave between our request and our question.
    for _ in 0..2 {
        match conn
            .request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into())
            .await
        {
            Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => return Ok(()),
            Ok(RequestNameReply::InQueue)
            | Ok(RequestNameReply::Exists)
            | Err(zbus::Error::NameTaken) => {
                if let Some(owner) = name_owner(conn).await? {
                    return Err(StartError::NameTaken { owner });
                }
            }
            Err(e) => return Err(StartError::Bus(e)),
        }
    }
    Err(StartError::Bus(zbus::Error::NameTaken))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_described_for_people() {
        let o = NameOwner {
            unique_name: ":1.3".into(),
            pid: Some(1234),
            program: Some(PathBuf::from("/usr/bin/gnome-keyring-daemon")),
        };
        assert_eq!(o.to_string(), "gnome-keyring-daemon (pid 1234)");
        let e = StartError::NameTaken { owner: o.clone() };
        assert_eq!(
            e.to_string(),
            "gnome-keyring-daemon (pid 1234) already provides org.freedesktop.secrets on this session bus; stop it or turn off its Secret Service support, then run `coffer secret-service enable` again"
        );
        let anon = NameOwner {
            pid: None,
            program: None,
            ..o
        };
        assert_eq!(anon.to_string(), "the D-Bus client :1.3");
    }
}
