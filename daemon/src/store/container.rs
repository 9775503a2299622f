//! The local container file: it holds every acknowledged change, so a
//! change is acknowledged only once it is here (DESIGN §3).
//!
//! A [`ContainerStore`] owns the file of one signed-in account: its path,
//! the inode this daemon last wrote (so the watcher can tell our writes from
//! anybody else's) and its layout (a whole JSON document, then appended
//! entries). [`ContainerStore::save`] appends one entry per change and
//! `fdatasync`s it (a few hundred bytes), or writes the whole file
//! atomically when an entry cannot say it or the entries would pass half
//! the document.

use std::io;
use std::path::{Path, PathBuf};

use coffer_proto::dirs::Dirs;
use coffer_vault::account::AccountHeader;
use coffer_vault::format::Container;
use coffer_vault::replica::{Replica, Unpersisted, VaultError};
use uuid::Uuid;

use super::fsutil;

/// The container file of `account_id` in the data directory.
pub fn path_for(dirs: &Dirs, account_id: &Uuid) -> PathBuf {
    dirs.data.join(format!("{account_id}.coffer"))
}

/// The container file's layout: a whole document of `base_len` bytes, then
/// appended entries up to `len` (see `coffer_vault::format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    base_len: u64,
    len: u64,
}

impl Layout {
    fn whole(len: usize) -> Self {
        Layout {
            base_len: len as u64,
            len: len as u64,
        }
    }

    /// Whether `extra` more appended bytes stay within the budget: half the
    /// document or 256 KiB, whichever is more. Past it the container is
    /// written whole again, so start-up never replays more than that and a
    /// change costs one append almost always (a whole write per ~4,000
    /// changes at 10,000 items).
    fn room_for(&self, extra: usize) -> bool {
        let budget = (self.base_len / 2).max(256 * 1024);
        self.len - self.base_len + extra as u64 <= budget
    }
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The header and replica do not belong together (a bug).
    #[error("{0}")]
    Mismatch(#[from] VaultError),
    /// Writing failed; the file holds what it held before (or at worst an
    /// entry that was never acknowledged), and the next save writes it whole.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The container file of one signed-in account.
#[derive(Debug)]
pub struct ContainerStore {
    path: PathBuf,
    /// Inode of the file this daemon last wrote (0: none).
    ino: u64,
    /// The file as this daemon last left it; `None` when the next save must
    /// write the whole file (none yet, a torn append, a failed write, a file
    /// someone else wrote).
    layout: Option<Layout>,
}

/// The inode of `path` (0 when it cannot be read).
pub fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

impl ContainerStore {
    /// Reads the container at `path`: its header and replica (appended
    /// entries replayed). An interrupted append (a change never
    /// acknowledged) is skipped and dropped at the next write.
    pub fn load(path: &Path) -> Result<(AccountHeader, Replica, ContainerStore), String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the container {}: {e}", path.display()))?;
        let c = Container::from_bytes(&bytes).map_err(|e| {
            format!(
                "the container {} cannot be read ({e}); it was left untouched",
                path.display()
            )
        })?;
        let a = c.appended;
        let layout = if a.torn_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = a.torn_bytes,
                "the container ends in an interrupted append (a change that was never acknowledged); it is dropped at the next write"
            );
            None
        } else {
            Some(Layout {
                base_len: a.base_len as u64,
                len: (a.base_len + a.entry_bytes) as u64,
            })
        };
        if a.entries > 0 {
            tracing::debug!(
                entries = a.entries,
                "replayed the container's appended changes"
            );
        }
        let (header, replica) = c.into_replica();
        let store = ContainerStore {
            path: path.to_owned(),
            ino: inode(path),
            layout,
        };
        Ok((header, replica, store))
    }

    /// Writes a new container at `path` (a sign-in).
    pub fn create(
        path: &Path,
        header: &AccountHeader,
        replica: &mut Replica,
    ) -> Result<ContainerStore, SaveError> {
        let mut store = ContainerStore {
            path: path.to_owned(),
            ino: 0,
            layout: None,
        };
        store.write_whole(header, replica)?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file on disk is the one this daemon last wrote.
    pub fn is_own_file(&self) -> bool {
        let ino = inode(&self.path);
        ino != 0 && ino == self.ino
    }

    /// The file is not the one this daemon wrote: the next save writes it whole.
    pub fn forget_layout(&mut self) {
        self.layout = None;
    }

    /// Persists what changed in `replica` before a change is acknowledged:
    /// usually one entry appended and flushed to disk, else the whole
    /// container written atomically (see [`Unpersisted`]).
    pub fn save(&mut self, header: &AccountHeader, replica: &mut Replica) -> Result<(), SaveError> {
        let Some(layout) = self.layout else {
            return self.write_whole(header, replica);
        };
        let entry = match replica.unsaved_delta() {
            Unpersisted::Nothing => return Ok(()),
            Unpersisted::Whole => return self.write_whole(header, replica),
            Unpersisted::Delta(entry) => entry,
        };
        let line = entry.to_line();
        if !layout.room_for(line.len()) {
            return self.write_whole(header, replica);
        }
        match fsutil::append_durable(&self.path, self.ino, layout.len, &line) {
            Ok(true) => {
                self.layout = Some(Layout {
                    len: layout.len + line.len() as u64,
                    ..layout
                });
                replica.mark_persisted();
                Ok(())
            }
            // Not the file this daemon wrote (replaced, truncated, gone).
            Ok(false) => self.write_whole(header, replica),
            Err(e) => {
                self.layout = None;
                Err(e.into())
            }
        }
    }

    /// Writes the whole container atomically (temp file, fsync, rename).
    pub fn write_whole(
        &mut self,
        header: &AccountHeader,
        replica: &mut Replica,
    ) -> Result<(), SaveError> {
        let bytes = replica.container_bytes(header)?;
        fsutil::write_atomic(&self.path, &bytes, 0o600)?;
        self.ino = inode(&self.path);
        self.layout = Some(Layout::whole(bytes.len()));
        replica.mark_persisted();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_stay_within_half_the_document_or_256_kib() {
        // A small vault: 256 KiB of entries before a whole write.
        let small = Layout::whole(2_000);
        assert!(small.room_for(256 * 1024));
        assert!(!small.room_for(256 * 1024 + 1));
        let used = Layout {
            len: 2_000 + 200 * 1024,
            ..small
        };
        assert!(used.room_for(56 * 1024));
        assert!(!used.room_for(56 * 1024 + 1));
        // A large one: half its size.
        let large = Layout::whole(7_000_000);
        assert!(large.room_for(3_500_000));
        assert!(!large.room_for(3_500_001));
    }
}
