//! The public-key index that lets the agent list keys while the vault is
//! locked, after a restart too (config `ssh_agent_list_locked = true`).
//!
//! A locked daemon has no key, so nothing in the vault is readable; the
//! only honest way to list keys then is to keep their public halves
//! outside the vault. With the option on, the daemon writes
//! `<data>/ssh-agent-keys.json` (0600, atomically) from the unlocked vault
//! whenever its SSH keys change, and reads it while locked. It holds the
//! account id and epoch it belongs to, and per key the item id, title and
//! public key line; never a private key. A file of another account or
//! epoch is ignored (and removed), as is a damaged one. The file is
//! removed when the option is off, at logout and at a reset: its content
//! is derived from the vault, so nothing is lost.
//!
//! Format (`docs/FORMAT.md`, "SSH agent public-key index"):
//!
//! ```json
//! {"format": "coffer-ssh-agent-index", "version": 1,
//!  "account_id": "…", "epoch": 1,
//!  "keys": [{"id": "…", "title": "Laptop", "public_key": "ssh-ed25519 AAAA… Laptop"}]}
//! ```

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::fsutil;

/// The index's file name in the data directory.
pub const FILE_NAME: &str = "ssh-agent-keys.json";
/// The `format` member every index has.
pub const FORMAT: &str = "coffer-ssh-agent-index";
/// The version this daemon writes and reads.
pub const VERSION: u32 = 1;
/// The largest index read (a vault with thousands of keys stays far below).
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The index in the data directory `data`.
pub fn path_in(data: &Path) -> PathBuf {
    data.join(FILE_NAME)
}

/// One key in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedKey {
    /// The item's id.
    pub id: String,
    /// The item's title when the index was written.
    pub title: String,
    /// The public key line.
    pub public_key: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The account the keys belong to.
    pub account_id: Uuid,
    /// The epoch they belong to.
    pub epoch: u64,
    /// The keys, in the agent's order.
    pub keys: Vec<IndexedKey>,
}

impl Index {
    /// An index of `keys` for `account_id` at `epoch`.
    pub fn new(account_id: Uuid, epoch: u64, keys: Vec<IndexedKey>) -> Index {
        Index {
            format: FORMAT.into(),
            version: VERSION,
            account_id,
            epoch,
            keys,
        }
    }
}

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The file is not an index this daemon reads.
    #[error("{path} is not a coffer SSH agent index of version {VERSION} ({why}); it is rewritten at the next unlock")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// Reads the index at `path`; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<Index>, IndexError> {
    let bytes = match fsutil::read_bounded(path, MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IndexError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let malformed = |why: String| IndexError::Malformed {
        path: path.display().to_string(),
        why,
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    if index.format != FORMAT || index.version != VERSION {
        return Err(malformed(format!(
            "format {:?} version {}",
            index.format, index.version
        )));
    }
    Ok(Some(index))
}

/// Writes `index` to `path` atomically, mode 0600.
pub fn save(path: &Path, index: &Index) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
    bytes.push(b'\n');
    fsutil::write_atomic(path, &bytes, 0o600)
}

/// Removes the index at `path` if there is one (its content is derived
/// from the vault). `true` when a file was removed.
pub fn remove(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the SSH agent's public-key index");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The documented example, byte for byte as FORMAT.md shows it.
    const EXAMPLE: &str = r#"{
  "format": "coffer-ssh-agent-index",
  "version": 1,
  "account_id": "0b8e6f4e-8d0c-4c1e-9b8e-2a3c4d5e6f70",
  "epoch": 2,
  "keys": [
    {
      "id": "7d1c0c3e-5bb0-4ac4-9a0e-0d6f2b1a9e11",
      "title": "Laptop",
      "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1H7pHXrYw2bq3cQkS6cbW2r0k8Dq4b1lYJ8w3fZ1xG Laptop"
    }
  ]
}
"#;

    fn example() -> Index {
        Index::new(
            "0b8e6f4e-8d0c-4c1e-9b8e-2a3c4d5e6f70".parse().unwrap(),
            2,
            vec![IndexedKey {
                id: "7d1c0c3e-5bb0-4ac4-9a0e-0d6f2b1a9e11".into(),
                title: "Laptop".into(),
                public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1H7pHXrYw2bq3cQkS6cbW2r0k8Dq4b1lYJ8w3fZ1xG Laptop".into(),
            }],
        )
    }

    #[test]
    fn the_documented_example_round_trips_and_is_written_0600() {
        let d = tempfile::tempdir().unwrap();
        let p = path_in(d.path());
        assert_eq!(load(&p).unwrap(), None, "no file, no index");
        save(&p, &example()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), EXAMPLE);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load(&p).unwrap(), Some(example()));
        assert!(remove(&p));
        assert!(!remove(&p), "nothing left to remove");
    }

    #[test]
    fn other_versions_and_damage_are_errors_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = path_in(d.path());
        for bad in [
            EXAMPLE.replace("\"version\": 1", "\"version\": 2"),
            EXAMPLE.replace("coffer-ssh-agent-index", "something-else"),
            EXAMPLE[..EXAMPLE.len() / 2].to_string(),
            EXAMPLE.replace("\"epoch\": 2,", "\"epoch\": 2, \"private\": \"x\","),
        ] {
            std::fs::write(&p, bad).unwrap();
            let e = load(&p).unwrap_err();
            assert!(matches!(e, IndexError::Malformed { .. }), "{e}");
            assert!(e.to_string().contains(FILE_NAME), "{e}");
        }
    }
}
