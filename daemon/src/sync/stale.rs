//! Stale files: the files a device writes (its sync file, its header
//! changes, its unlock key, and conflict copies of them) of an earlier
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
//! - a device's stale files go together (its sync file, its unlock key and
//!   its header changes: once the newest of them is past the grace), and
//!   at most one device's per folder per `stale_file_pace` (an hour by
//!   default), each file within the spacing of every removal of others'
//!   files (`removal`);
//! - only by a signed-in device: its login authenticated the new epoch, so
//!   a forged reset, which nobody can log in to, never makes any device
//!   remove another device's file.
//!
//! The same census runs in state `reset`, where it tells current files
//! (of the newest epoch: devices that logged in again) from stale ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_vault::account::AccountHeader;
use coffer_vault::format::SyncFile;
use coffer_vault::sync_names::{classify, Entry};
use coffer_vault::unlock_key::UnlockKeyFile;

use coffer_vault::segment::{read_segment_header, sync_file_version, MAX_HEADER, SEGMENT_VERSION};

use super::layout::{file_stamp, read_head, FileStamp, MAX_FILE};
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
    /// The device whose files are going (the rest of them are due within
    /// the pace: a device's files go together).
    retiring: Option<String>,
}

/// The device that wrote the file at `path` (by its name), or its name
/// when it has no owner (so that it goes on its own).
fn owner_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    classify(&name).owner().map_or(name, str::to_owned)
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

    /// Each device's stale files, with when the group is due (when its
    /// newest file has gone unwritten for the grace).
    fn groups(&self, grace: Duration) -> BTreeMap<String, (u64, Vec<PathBuf>)> {
        let mut out: BTreeMap<String, (u64, Vec<PathBuf>)> = BTreeMap::new();
        for (path, f) in &self.files {
            let g = out.entry(owner_of(path)).or_default();
            g.0 = g.0.max(f.due_ms(grace));
            g.1.push(path.clone());
        }
        out
    }

    /// The rest of the files of the device whose files are going.
    fn rest_of_retiring(&self) -> Option<PathBuf> {
        let owner = self.retiring.as_ref()?;
        self.files.keys().find(|p| owner_of(p) == *owner).cloned()
    }

    /// When one of them may go (`None` when none is waiting).
    pub fn next_due_ms(&self, policy: Policy) -> Option<u64> {
        if self.rest_of_retiring().is_some() {
            return self.last_retired_ms.or(Some(0));
        }
        let earliest = self.groups(policy.grace).values().map(|g| g.0).min()?;
        let paced = self
            .last_retired_ms
            .map_or(0, |l| l.saturating_add(policy.pace.as_millis() as u64));
        Some(earliest.max(paced))
    }

    /// The file to move away at `now`, if one is due and the pace allows:
    /// the rest of the device whose files are going, else one of the device
    /// whose files have gone unwritten longest.
    pub fn due(&self, policy: Policy, now: u64) -> Option<PathBuf> {
        if let Some(rest) = self.rest_of_retiring() {
            return Some(rest);
        }
        if self.next_due_ms(policy)? > now {
            return None;
        }
        self.groups(policy.grace)
            .into_values()
            .filter(|g| g.0 <= now)
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
            .and_then(|g| g.1.into_iter().next())
    }

    /// Records that `path` went at `now`.
    pub fn retired(&mut self, path: &Path, now: u64) {
        self.files.remove(path);
        self.last_retired_ms = Some(now);
        self.retiring = Some(owner_of(path));
    }

    /// Records an attempt at `now` that failed: the next one comes a pace
    /// later (so a file that cannot be moved is not retried in a loop).
    pub fn attempted(&mut self, now: u64) {
        self.last_retired_ms = Some(now);
        self.retiring = None;
    }
}

/// The epoch of the device-owned file at `path` (a sync file, a header
/// change, an unlock key, or a copy of one: `entry` says which), read (and
/// cached by its stamp) only when it changed since it was last read;
/// `None` when it cannot be read or parsed now.
pub fn epoch_of(path: &Path, entry: &Entry, cache: &mut EpochCache) -> Option<u64> {
    let stamp = file_stamp(path)?;
    if let Some((s, epoch)) = cache.get(path) {
        if *s == stamp {
            return Some(*epoch);
        }
    }
    let epoch = match entry {
        Entry::HeaderChange { .. } | Entry::HeaderChangeConflict { .. } => {
            let bytes = fsutil::read_bounded(path, MAX_FILE).ok()?;
            AccountHeader::from_json(&bytes).ok()?.epoch
        }
        Entry::UnlockKey { .. } | Entry::UnlockKeyConflict { .. } => {
            let bytes = fsutil::read_bounded(path, MAX_FILE).ok()?;
            UnlockKeyFile::from_json(&bytes).ok()?.epoch
        }
        _ => {
            // A snapshot or segment says its epoch in its header; a
            // version-2 file only once read whole.
            let head = read_head(path, MAX_HEADER + 64).ok()?;
            if sync_file_version(&head).ok()? == SEGMENT_VERSION {
                read_segment_header(&head).ok()?.epoch
            } else {
                let bytes = fsutil::read_bounded(path, MAX_FILE).ok()?;
                SyncFile::from_bytes(&bytes).ok()?.epoch
            }
        }
    };
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
    /// Files (device files, header changes, unlock keys, and conflict
    /// copies of them) of earlier epochs, with their epoch and modification
    /// time.
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
        if entry.owner().is_none() {
            continue;
        }
        let path = e.path();
        match epoch_of(&path, &entry, cache) {
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
    fn a_devices_files_go_together_once_the_newest_is_past_the_grace() {
        let mut s = StaleFiles::default();
        let now = 100 * DAY;
        let c = "6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6";
        let d = "0b2c3d4e-2b4d-4f8a-b1c7-93d2e5f0a8b6";
        let (c_sync, c_key) = (
            PathBuf::from(format!("/f/device-{c}.cofsync")),
            PathBuf::from(format!("/f/unlock-{c}.json")),
        );
        let d_sync = PathBuf::from(format!("/f/device-{d}.cofsync"));
        s.replace(
            vec![
                (c_sync.clone(), 1, now - 30 * DAY),
                (c_key.clone(), 1, now - 3 * DAY),
                (d_sync.clone(), 1, now - 9 * DAY),
            ],
            now,
        );
        // c's newest file is 3 days old: d goes first, c's files wait.
        assert_eq!(s.due(policy(), now), Some(d_sync.clone()));
        s.retired(&d_sync, now);
        assert_eq!(s.due(policy(), now + 4 * DAY - 1), None);
        let first = s.due(policy(), now + 4 * DAY).expect("c is due");
        s.retired(&first, now + 4 * DAY);
        // The rest of c's files do not wait for the pace.
        let second = s.due(policy(), now + 4 * DAY).expect("the rest of c");
        assert_ne!(first, second);
        assert!([&c_sync, &c_key].contains(&&second));
        s.retired(&second, now + 4 * DAY);
        assert!(s.is_empty());
        assert_eq!(s.next_due_ms(policy()), None);
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
