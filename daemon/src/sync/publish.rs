//! Publishing this device's own sync file into each of its folders.
//!
//! The file is taken from the replica under the state lock ([`plan`]),
//! serialized and written to temp files beside the targets without it
//! ([`Publish::write`]: tens of ms at 10,000 items, while requests go on),
//! then, under the lock again, renamed into place only if the device is
//! still signed in to that account and epoch and still syncs with that
//! folder ([`Written::commit`]), so a reset or logout in between never sees
//! an old epoch's file appear after it.

use std::path::{Path, PathBuf};

use coffer_vault::format::SyncFile;
use coffer_vault::replica::Replica;
use coffer_vault::sync_names::device_file_name;

use super::layout::{self, file_stamp};
use super::{fingerprint, Fingerprint, Published};
use crate::session::{Account, Session};
use crate::store::fsutil;

/// A cheap content fingerprint of a written file (not security relevant):
/// FNV-1a over the bytes.
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// This device's file, to write into its folders.
pub struct Publish {
    account_id: uuid::Uuid,
    epoch: u64,
    device_id: String,
    file: SyncFile,
    fingerprint: Fingerprint,
    /// Write even where the file seems current.
    force: bool,
    /// Folder, this device's file in it, and the hash last written there.
    targets: Vec<(PathBuf, PathBuf, Option<u64>)>,
}

/// What to publish after a round, if anything: nothing when nothing
/// changed since the file was written in every folder and each file is
/// still the one written (serializing the whole state again would change
/// nothing); `force` writes even then.
pub fn plan(account: &Account, force: bool, changed: bool) -> Option<Publish> {
    let dev = &account.device;
    let replica: &Replica = &account.replica;
    let fp = fingerprint(replica);
    let own_path = |folder: &PathBuf| {
        layout::account_dir(folder, &dev.account_id).join(device_file_name(&dev.device_id))
    };
    let unchanged = !force
        && !changed
        && dev.sync_folders.iter().all(|folder| {
            account.sync.published.get(folder).is_some_and(|p| {
                p.fingerprint == fp && p.stamp.is_some() && p.stamp == file_stamp(&own_path(folder))
            })
        });
    if unchanged {
        return None;
    }
    Some(Publish {
        account_id: dev.account_id,
        epoch: dev.epoch,
        device_id: dev.device_id.clone(),
        file: replica.to_sync_file(),
        fingerprint: fp,
        force: force || changed,
        targets: dev
            .sync_folders
            .iter()
            .filter(|f| {
                // Held back while an engine finishes with what it renamed away.
                let hold = account
                    .sync
                    .folders
                    .get(*f)
                    .and_then(|h| h.publish_hold_until);
                hold.is_none_or(|until| until <= crate::daemon::now_ms())
            })
            .map(|f| {
                (
                    f.clone(),
                    own_path(f),
                    account.sync.published.get(f).map(|p| p.hash),
                )
            })
            .collect(),
    })
}

/// The outcome of [`Publish::write`] for each folder.
pub struct Written {
    plan: Publish,
    hash: u64,
    outcomes: Vec<(PathBuf, PathBuf, WriteOutcome)>,
}

enum WriteOutcome {
    /// The file already holds these bytes.
    Current,
    /// A temp file with the bytes, to rename onto the target.
    Temp(PathBuf),
    Failed(std::io::Error),
}

impl Publish {
    /// Serializes the file and writes it to a temp file beside each target
    /// (no lock held).
    pub fn write(self) -> Written {
        let bytes = self.file.to_bytes();
        let hash = content_hash(&bytes);
        let mut outcomes = Vec::new();
        for (folder, path, last) in &self.targets {
            if !path.parent().is_some_and(Path::is_dir) {
                continue;
            }
            // Rewrite if the engine replaced or dropped our file.
            let current = !self.force
                && *last == Some(hash)
                && std::fs::read(path).ok().map(|b| content_hash(&b)) == Some(hash);
            let outcome = if current {
                WriteOutcome::Current
            } else {
                match fsutil::write_temp(path, &bytes, 0o644) {
                    Ok(tmp) => WriteOutcome::Temp(tmp),
                    Err(e) => WriteOutcome::Failed(e),
                }
            };
            outcomes.push((folder.clone(), path.clone(), outcome));
        }
        Written {
            plan: self,
            hash,
            outcomes,
        }
    }
}

impl Written {
    /// Renames each temp file into place if the session is still the one
    /// it was written for, and records what was published (or the problem).
    pub fn commit(self, session: &mut Session) {
        let p = &self.plan;
        let mut account = session.account_mut().map(|(a, _)| a).filter(|a| {
            a.device.account_id == p.account_id
                && a.device.epoch == p.epoch
                && a.device.device_id == p.device_id
        });
        for (folder, path, outcome) in self.outcomes {
            let Some(account) = account
                .as_deref_mut()
                .filter(|a| a.device.sync_folders.contains(&folder))
            else {
                if let WriteOutcome::Temp(tmp) = outcome {
                    let _ = std::fs::remove_file(tmp);
                }
                continue;
            };
            let result = match outcome {
                WriteOutcome::Current => Ok(()),
                WriteOutcome::Temp(tmp) => fsutil::commit_temp(&tmp, &path),
                WriteOutcome::Failed(e) => Err(e),
            };
            let health = account.sync.folders.entry(folder.clone()).or_default();
            match result {
                Ok(()) => {
                    health.problems.remove(&path);
                    let stamp = file_stamp(&path);
                    account.sync.published.insert(
                        folder,
                        Published {
                            hash: self.hash,
                            stamp,
                            fingerprint: p.fingerprint.clone(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not publish this device's sync file");
                    health.note_problem(path, format!("cannot write this device's file: {e}"));
                }
            }
        }
    }
}
