//! What `coffer secret-service` keeps and finds outside the provider: the
//! choice (`secret-service.json` in the data directory, written by the
//! daemon: `config.toml` is the user's own file, which cofferd only reads),
//! the session bus cofferd itself is in, where the D-Bus activation file
//! goes and what it says, and how many items each collection holds.

use std::path::PathBuf;
use std::time::Duration;

use coffer_proto::dirs::{Dirs, ProcessEnv};
use coffer_proto::secret_service::{session_bus_address, CollectionCount};
use serde::{Deserialize, Serialize};

use super::activation;
use super::store::LOGIN;
use super::vault_items::collection_of;
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::store::fsutil;

/// The file that keeps the choice, in the data directory.
pub const CHOICE_FILE: &str = "secret-service.json";
/// The longest a question to the bus may take.
pub const BUS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Choice {
    enabled: bool,
}

fn choice_path(dirs: &Dirs) -> PathBuf {
    dirs.data.join(CHOICE_FILE)
}

/// Whether `coffer secret-service enable` is in force (read before the
/// daemon is built, to keep its key cache off the Secret Service).
pub fn enabled_on_disk(dirs: &Dirs) -> bool {
    let path = choice_path(dirs);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Choice>(&bytes) {
            Ok(c) => c.enabled,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the Secret Service choice; taking it as disabled");
                false
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the Secret Service choice; taking it as disabled");
            false
        }
    }
}

/// Keeps the choice (atomically, mode 0600).
pub fn save_choice(dirs: &Dirs, enabled: bool) -> Result<()> {
    let path = choice_path(dirs);
    let bytes = serde_json::to_vec(&Choice { enabled }).map_err(Error::internal)?;
    fsutil::write_atomic(&path, &bytes, 0o600)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))
}

/// The session bus cofferd itself is in: `DBUS_STARTER_ADDRESS` when a
/// session bus started it (D-Bus activation), else
/// `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`.
pub fn own_bus_address() -> Option<String> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if var("DBUS_STARTER_BUS_TYPE").as_deref() == Some("session") {
        if let Some(a) = var("DBUS_STARTER_ADDRESS") {
            return Some(a);
        }
    }
    session_bus_address(&ProcessEnv)
}

/// Where the activation file goes, and its contents for this cofferd.
pub fn activation_target() -> Result<(PathBuf, String)> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME").ok_or_else(|| {
        Error::SecretService(
            "HOME is not set, so the D-Bus activation file has nowhere to go".into(),
        )
    })?;
    let dir = activation::services_dir(&home, var("XDG_DATA_HOME").as_deref());
    let exe = std::env::current_exe().map_err(|e| {
        Error::SecretService(format!("cannot tell where cofferd is installed: {e}"))
    })?;
    let unit = activation::systemd_unit(&home, var("XDG_CONFIG_HOME").as_deref());
    let text = activation::render(&exe, var("COFFER_HOME").as_deref(), unit)
        .map_err(|e| Error::SecretService(e.to_string()))?;
    Ok((dir, text))
}

/// The directory coffer's activation file goes to (`None` without HOME).
pub fn activation_dir() -> Option<PathBuf> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    Some(activation::services_dir(
        &var("HOME")?,
        var("XDG_DATA_HOME").as_deref(),
    ))
}

/// The Secret Service items of each collection, while unlocked (`login`
/// always listed).
pub async fn vault_counts(d: &Daemon) -> Option<Vec<CollectionCount>> {
    let core = d.core().await;
    let Session::Unlocked(a, key) = &core.session else {
        return None;
    };
    let items = a.replica.items(key).ok()?;
    let mut counts = std::collections::BTreeMap::from([(LOGIN.to_string(), 0usize)]);
    for c in items.iter().filter_map(collection_of) {
        *counts.entry(c.0).or_insert(0) += 1;
    }
    Some(
        counts
            .into_iter()
            .map(|(id, items)| CollectionCount { id, items })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_kept_and_a_bad_file_counts_as_disabled() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            config: tmp.path().join("c"),
            data: tmp.path().to_path_buf(),
            state: tmp.path().join("s"),
            runtime: tmp.path().join("r"),
        };
        assert!(!enabled_on_disk(&dirs));
        save_choice(&dirs, true).unwrap();
        assert!(enabled_on_disk(&dirs));
        assert_eq!(
            std::fs::read_to_string(choice_path(&dirs)).unwrap(),
            r#"{"enabled":true}"#
        );
        save_choice(&dirs, false).unwrap();
        assert!(!enabled_on_disk(&dirs));
        std::fs::write(choice_path(&dirs), "{nonsense").unwrap();
        assert!(!enabled_on_disk(&dirs));
    }
}
