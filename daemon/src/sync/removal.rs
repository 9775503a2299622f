//! How fast coffer removes files from a sync folder.
//!
//! Engines guard against mass deletions: rclone bisync stops every run in
//! which more than half of a folder's files went since its last run ("too
//! many deletes", until someone runs it with `--force`), Nextcloud and
//! Dropbox ask the user first. So, except when a device leaves an epoch and
//! retires its own files (one device file and its copies), coffer removes
//! files from a folder one at a time, [`SPACING_MS`] apart, and never more
//! than half of the files the folder held when the first of them went
//! within a [`WINDOW_MS`]: an engine run at least that often (a loop, a
//! timer of a minute) never sees more than half of a folder deleted at
//! once. (One engine conflict, two copies of a file beside a header and two
//! device files, goes at once whatever the interval.)
//!
//! And a file goes only once it has sat unchanged in its place for
//! [`SETTLE_MS`]: an engine that just made it (a conflict copy) is still at
//! work on it. rclone bisync 1.60 renames a file to `NAME..path1`, copies it
//! to the other side and hashes it for its new listing all in one run; a
//! copy that vanishes in between stops that run with a critical error that
//! only `--resync` clears (seen by running it). For the same reason a name
//! an engine just renamed away (this device's file, `account.json`) is not
//! written again until the copies it left have settled ([`settles_at`]).
//!
//! That covers merged conflict copies (this device's own copies too),
//! superseded copies of `account.json` and stale files of an earlier epoch
//! (which `stale` paces further). What has to wait is left for a later
//! round, which the sync task runs when its turn comes
//! ([`Spacing::next_ms`]). A folder whose files are mostly conflict copies
//! is therefore cleaned up over several windows. A device in state `reset`
//! retires superseded header copies outside the half (spaced and settled
//! all the same): it does so only beside an `account.json`, which rclone
//! never leaves after a conflict of it, and such a folder holds little else.

use std::path::Path;

use crate::store::trash;

/// The least time between two removals in one folder: about one run of an
/// engine that is run in a loop, short enough that conflict copies still go
/// within seconds.
pub const SPACING_MS: u64 = 1_000;

/// The window in which at most half of a folder's files may go.
pub const WINDOW_MS: u64 = 60_000;

/// How long a file must have sat unchanged in its place (by its status
/// change time, which a rename or a write moves) before it may go.
pub const SETTLE_MS: u64 = 10_000;

/// What became of a removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The file went.
    Done,
    /// Not its turn yet (spacing, the half of the window, not settled): a
    /// later round tries again.
    Waiting,
    /// It was tried and failed (the turn is spent).
    Failed,
}

impl Removal {
    /// Whether the file went.
    pub fn done(self) -> bool {
        self == Removal::Done
    }
}

/// This device's removals from one folder.
#[derive(Debug, Clone, Default)]
pub struct Spacing {
    last_ms: Option<u64>,
    /// When the current window began, and how many files the folder held then.
    window: Option<(u64, usize)>,
    /// Removals in the current window.
    removed: usize,
    /// Files in the folder now (set by each round).
    files: usize,
    deferred: bool,
    /// The earliest time a file that has not settled yet may go.
    settling: Option<u64>,
}

impl Spacing {
    /// Starts a round over a folder that holds `files` files: nothing waits
    /// until the round says so.
    pub fn new_round(&mut self, files: usize) {
        self.deferred = false;
        self.settling = None;
        self.files = files;
    }

    /// Whether a removal may happen at `now`; when it may not, the folder
    /// is marked as having one waiting (see [`next_ms`](Self::next_ms)).
    pub fn allows(&mut self, now: u64) -> bool {
        self.allows_within(now, true)
    }

    /// [`allows`](Self::allows), within the half of the window or not.
    fn allows_within(&mut self, now: u64, half: bool) -> bool {
        if self
            .window
            .is_some_and(|(start, _)| now >= start + WINDOW_MS)
        {
            self.window = None;
            self.removed = 0;
        }
        let held = self.window.map_or(self.files, |(_, files)| files);
        let spaced = self.last_ms.is_none_or(|l| now >= l + SPACING_MS);
        let ok = spaced && (!half || (self.removed + 1) * 2 <= held);
        if !ok {
            self.deferred = true;
        }
        ok
    }

    /// Records a removal (or an attempt) at `now`.
    pub fn removed(&mut self, now: u64) {
        self.last_ms = Some(now);
        if self.window.is_none() {
            self.window = Some((now, self.files));
        }
        self.removed += 1;
    }

    /// When a removal that had to wait may happen (`None` when none waits).
    pub fn next_ms(&self) -> Option<u64> {
        (self.deferred || self.settling.is_some()).then(|| self.earliest_ms())
    }

    /// The earliest time the next removal may happen: after the spacing,
    /// when the window is over if its half is spent, and once the file
    /// this round found unsettled has settled.
    pub fn earliest_ms(&self) -> u64 {
        let spaced = self.last_ms.map_or(0, |l| l + SPACING_MS);
        let turn = match self.window {
            Some((start, files)) if (self.removed + 1) * 2 > files => spaced.max(start + WINDOW_MS),
            _ => spaced,
        };
        turn.max(self.settling.unwrap_or(0))
    }

    /// Whether `path` has sat unchanged for [`SETTLE_MS`] at `now`; if not,
    /// the round that asked runs again when it has.
    pub fn settled(&mut self, path: &Path, now: u64) -> bool {
        let Some(changed) = changed_ms(path) else {
            return true;
        };
        let at = changed.saturating_add(SETTLE_MS);
        if now >= at {
            return true;
        }
        self.settling = Some(self.settling.map_or(at, |s| s.min(at)));
        false
    }

    /// [`settled`](Self::settled) and [`allows`](Self::allows), then
    /// `remove(path)`. An attempt takes the turn whether it succeeds or not
    /// (a file that cannot be removed is tried again at a later round, not
    /// in a loop).
    pub fn remove_with(
        &mut self,
        path: &Path,
        now: u64,
        remove: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Removal {
        self.remove_as(path, now, true, remove)
    }

    /// [`remove_with`](Self::remove_with) outside the half of the window
    /// (spaced and settled all the same): see the module documentation.
    pub fn remove_spaced(
        &mut self,
        path: &Path,
        now: u64,
        remove: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Removal {
        self.remove_as(path, now, false, remove)
    }

    fn remove_as(
        &mut self,
        path: &Path,
        now: u64,
        half: bool,
        remove: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Removal {
        if !self.settled(path, now) || !self.allows_within(now, half) {
            return Removal::Waiting;
        }
        self.removed(now);
        match remove(path) {
            Ok(()) => {
                self.files = self.files.saturating_sub(1);
                Removal::Done
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not remove a file");
                Removal::Failed
            }
        }
    }
}

/// Unlinks a conflict copy whose content is merged (no longer user data).
pub fn unlink(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)
}

/// Moves a file to the trash (it may still be someone's data).
pub fn to_trash(path: &Path) -> std::io::Result<()> {
    trash::move_to_trash(path).map(drop)
}

/// When `path` will have sat still for [`SETTLE_MS`] (ms since the Unix
/// epoch); `None` when it cannot be read.
pub fn settles_at(path: &Path) -> Option<u64> {
    changed_ms(path).map(|c| c.saturating_add(SETTLE_MS))
}

/// When `path` last changed in its place (its status change time, ms since
/// the Unix epoch); `None` when it cannot be read.
fn changed_ms(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    let ms = m.ctime().checked_mul(1000)? + m.ctime_nsec() / 1_000_000;
    u64::try_from(ms).ok()
}

/// How many files `dir` holds (temp files of coffer and the engines left
/// out: they come and go), as an engine would count them.
pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                !(n.starts_with('.') && n.ends_with(".tmp"))
            })
            .count()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_removal_per_spacing_and_the_wait_is_remembered() {
        let mut s = Spacing::default();
        s.new_round(10);
        assert_eq!(s.next_ms(), None);
        assert!(s.allows(10_000));
        s.removed(10_000);
        assert!(!s.allows(10_500), "a second removal within the spacing");
        assert_eq!(s.next_ms(), Some(10_000 + SPACING_MS));
        assert!(s.allows(10_000 + SPACING_MS));
        s.new_round(9);
        assert_eq!(s.next_ms(), None);
    }

    #[test]
    fn never_more_than_half_of_the_folder_within_the_window() {
        let mut s = Spacing::default();
        // An rclone conflict of the header and a device file: 5 files, 4 of them copies.
        s.new_round(5);
        let mut t = 0;
        let mut gone = 0;
        for _ in 0..4 {
            t += SPACING_MS;
            if s.allows(t) {
                s.removed(t);
                s.files -= 1;
                gone += 1;
            }
        }
        assert_eq!(gone, 2, "half of 5, rounded down");
        assert_eq!(s.next_ms(), Some(SPACING_MS + WINDOW_MS));
        // A window later, half of what is there then.
        s.new_round(3);
        assert!(s.allows(SPACING_MS + WINDOW_MS));
        // One engine conflict (two copies) beside a header and two device files goes at once.
        let mut s = Spacing::default();
        s.new_round(5);
        assert!(s.allows(0));
        s.removed(0);
        assert!(s.allows(SPACING_MS));
        // A folder of one file loses nothing.
        let mut s = Spacing::default();
        s.new_round(1);
        assert!(!s.allows(0));
    }

    #[test]
    fn every_attempt_takes_the_turn_and_fresh_files_wait() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&b, b"x").unwrap();
        let made = changed_ms(&b).unwrap();
        let t = made + SETTLE_MS;
        let mut s = Spacing::default();
        s.new_round(10);
        assert_eq!(s.remove_with(&b, made + 5, unlink), Removal::Waiting);
        assert_eq!(s.next_ms(), Some(made + SETTLE_MS));
        assert_eq!(
            s.remove_with(&a, t, unlink),
            Removal::Failed,
            "a is missing"
        );
        assert_eq!(
            s.remove_with(&b, t + 1, unlink),
            Removal::Waiting,
            "spaced after the failed attempt"
        );
        assert!(b.exists());
        assert!(s.remove_with(&b, t + SPACING_MS, unlink).done());
        assert!(!b.exists());
        std::fs::write(&b, b"x").unwrap();
        let made = changed_ms(&b).unwrap();
        assert_eq!(
            s.remove_with(&b, made + SETTLE_MS, unlink),
            Removal::Waiting,
            "spaced"
        );
        assert!(b.exists());
        assert_eq!(s.earliest_ms(), t + 2 * SPACING_MS);
        assert_eq!(count_files(d.path()), 1);
    }
}
