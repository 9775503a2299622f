//! Stale files: sync files (and conflict copies of them) of an earlier
//! epoch, left in a folder after a reset.
//!
//! A reset is carried by as few file changes as possible: the resetting
//! device writes the new `account.json` and retires only its own files;
//! every other device, seeing the new epoch, retires its own (and does so
//! again should an engine bring one back while it waits in state `reset`).
//! What stays behind is the files of devices that never come back. They
//! are never merged (a round refuses a file of another epoch, and their
//! records are sealed to the old epoch anyway); `status` counts them apart
//! from the current device files; and a device signed in to the newer
//! epoch moves them to the trash:
//!
//! - only once nobody wrote the file for `stale_file_grace` (7 days by
//!   default), counted from its modification time or from when this daemon
//!   first saw it, whichever is earlier (so a file stamped in the future
//!   by a wrong clock still ages);
//! - at most one per folder per `stale_file_pace` (an hour by default),
//!   and within the spacing of every removal of others' files (`removal`);
//! - only by a signed-in device: its login authenticated the new epoch, so
//!   a forged reset, which nobody can log in to, never makes any device
//!   remove another device's file.
//!
//! The same census runs in state `reset`, where it tells current files
//! (of the newest epoch: devices that logged in again) from stale ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_vault::format::SyncFile;
use coffer_vault::sync_names::{classify, Entry};

use super::layout::{file_stamp, FileStamp, MAX_FILE};
use crate::store::fsutil;

/// The epoch each sync file was found to be of, by path, with the stamp
/// of the version read (so an unchanged file is not parsed again).
pub type EpochCache = HashMap<PathBuf, (FileStamp, u64)>;

/// When stale files may go: `stale_file_grace` and `stale_file_pace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a stale file must have gone unwritten.
    pub grace: Duration,
    /// At most one stale file per folder per this long.
    pub pace: Duration,
}

impl Policy {
    /// The policy of `config`.
    pub fn of(config: &crate::config::Config) -> Policy {
        Policy {
            grace: config.stale_file_grace,
            pace: config.stale_file_pace,
        }
    }
}

/// One stale file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    /// The epoch it is of.
    pub epoch: u64,
    /// Its modification time (ms since the Unix epoch).
    pub modified_ms: u64,
    /// When this daemon first saw it.
    pub first_seen_ms: u64,
}

impl StaleFile {
    /// When it has gone unwritten for `grace`.
    fn due_ms(&self, grace: Duration) -> u64 {
        self.modified_ms
            .min(self.first_seen_ms)
            .saturating_add(grace.as_millis() as u64)
    }
}

/// The stale files of one folder, and when one was last moved away.
#[derive(Debug, Clone, Default)]
pub struct StaleFiles {
    files: BTreeMap<PathBuf, StaleFile>,
    last_retired_ms: Option<u64>,
}

impl StaleFiles {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The files seen this round, `(path, epoch, modified_ms)`, replace
    /// the ones known (each keeps when it was first seen).
    pub fn replace(&mut self, seen: Vec<(PathBuf, u64, u64)>, now: u64) {
        let old = std::mem::take(&mut self.files);
        for (path, epoch, modified_ms) in seen {
            let first_seen_ms = old.get(&path).map_or(now, |f| f.first_seen_ms);
            self.files.insert(
                path,
                StaleFile {
                    epoch,
                    modified_ms,
                    first_seen_ms,
                },
            );
        }
    }

    /// When one of them may go (`None` when none is waiting).
    pub fn next_due_ms(&self, policy: Policy) -> Option<u64> {
        let earliest = self.files.values().map(|f| f.due_ms(policy.grace)).min()?;
        let paced = self
            .last_retired_ms
            .map_or(0, |l| l.saturating_add(policy.pace.as_millis() as u64));
        Some(earliest.max(paced))
    }

    /// The file to move away at `now`, if one is due and the pace allows
    /// (the one that has gone unwritten longest).
    pub fn due(&self, policy: Policy, now: u64) -> Option<PathBuf> {
        if self.next_due_ms(policy)? > now {
            return None;
        }
        self.files
            .iter()
            .filter(|(_, f)| f.due_ms(policy.grace) <= now)
            .min_by_key(|(p, f)| (f.due_ms(policy.grace), (*p).clone()))
            .map(|(p, _)| p.clone())
    }

    /// Records that `path` went at `now`.
    pub fn retired(&mut self, path: &Path, now: u64) {
        self.files.remove(path);
        self.last_retired_ms = Some(now);
    }

    /// Records an attempt at `now` that failed: the next one comes a pace
    /// later (so a file that cannot be moved is not retried in a loop).
    pub fn attempted(&mut self, now: u64) {
        self.last_retired_ms = Some(now);
    }
}

/// The epoch of the sync file at `path`, read (and cached by its stamp)
/// only when it changed since it was last read; `None` when it cannot be
/// read or parsed now.
pub fn epoch_of(path: &Path, cache: &mut EpochCache) -> Option<u64> {
    let stamp = file_stamp(path)?;
    if let Some((s, epoch)) = cache.get(path) {
        if *s == stamp {
            return Some(*epoch);
        }
    }
    let bytes = fsutil::read_bounded(path, MAX_FILE).ok()?;
    let epoch = SyncFile::from_bytes(&bytes).ok()?.epoch;
    cache.insert(path.to_owned(), (stamp, epoch));
    Some(epoch)
}

/// The modification time of `path` in ms since the Unix epoch (0 when it
/// cannot be read).
pub fn modified_ms(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the census of an account directory found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Census {
    /// Device files of `epoch`.
    pub current: usize,
    /// Files (device files and conflict copies) of earlier epochs, with
    /// their epoch and modification time.
    pub stale: Vec<(PathBuf, u64, u64)>,
}

/// Tells the device files of `epoch` in `dir` from the stale ones (files
/// that cannot be parsed now are neither: they may be half delivered).
pub fn census(dir: &Path, epoch: u64, cache: &mut EpochCache) -> Census {
    let mut out = Census::default();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let entry = classify(&e.file_name().to_string_lossy());
        if entry.device_id().is_none() {
            continue;
        }
        let path = e.path();
        match epoch_of(&path, cache) {
            Some(found) if found < epoch => {
                let modified = modified_ms(&path);
                out.stale.push((path, found, modified));
            }
            Some(found) if found == epoch && matches!(entry, Entry::DeviceFile { .. }) => {
                out.current += 1;
            }
            _ => {}
        }
    }
    out.stale.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;
    const DAY: u64 = 24 * HOUR;

    fn policy() -> Policy {
        Policy {
            grace: Duration::from_millis(7 * DAY),
            pace: Duration::from_millis(HOUR),
        }
    }

    #[test]
    fn nothing_goes_before_the_grace_period() {
        let mut s = StaleFiles::default();
        let now = 100 * DAY;
        s.replace(vec![(PathBuf::from("/f/a"), 1, now - DAY)], now);
        assert_eq!(s.due(policy(), now), None);
        assert_eq!(s.next_due_ms(policy()), Some(now - DAY + 7 * DAY));
        assert_eq!(s.due(policy(), now + 6 * DAY), Some(PathBuf::from("/f/a")));
    }

    #[test]
    fn one_per_pace_oldest_first() {
        let mut s = StaleFiles::default();
        let now = 100 * DAY;
        s.replace(
            vec![
                (PathBuf::from("/f/young"), 1, now - 8 * DAY),
                (PathBuf::from("/f/old"), 1, now - 30 * DAY),
            ],
            now,
        );
        let first = s.due(policy(), now).expect("one is due");
        assert_eq!(first, PathBuf::from("/f/old"));
        s.retired(&first, now);
        assert_eq!(s.len(), 1);
        assert_eq!(s.due(policy(), now + HOUR - 1), None, "paced");
        assert_eq!(s.next_due_ms(policy()), Some(now + HOUR));
        assert_eq!(s.due(policy(), now + HOUR), Some(PathBuf::from("/f/young")));
    }

    #[test]
    fn a_file_stamped_in_the_future_still_ages_from_when_it_was_seen() {
        let mut s = StaleFiles::default();
        let now = 100 * DAY;
        s.replace(vec![(PathBuf::from("/f/a"), 1, now + 365 * DAY)], now);
        // Seen again later: it keeps when it was first seen.
        s.replace(vec![(PathBuf::from("/f/a"), 1, now + 365 * DAY)], now + DAY);
        assert_eq!(s.next_due_ms(policy()), Some(now + 7 * DAY));
    }

    #[test]
    fn files_that_left_are_forgotten() {
        let mut s = StaleFiles::default();
        s.replace(vec![(PathBuf::from("/f/a"), 1, 0)], 10);
        s.replace(vec![], 20);
        assert!(s.is_empty());
        assert_eq!(s.next_due_ms(policy()), None);
    }
}
