//! How fast coffer removes files from a sync folder that are not this
//! device's own.
//!
//! Engines guard against mass deletions: rclone bisync stops every run
//! once more than half of a folder's files went since its last run ("too
//! many deletes", until someone runs it with `--force`), Nextcloud and
//! Dropbox ask the user first. So no step of coffer deletes more than one
//! file of a folder at a time, except a device removing its own files (its
//! device file and the conflict copies of it, which only it writes).
//!
//! Everything else coffer takes out of a folder (a merged conflict copy of
//! another device's file, a superseded copy of `account.json`, a stale file
//! of a device that never came back) goes one at a time: at most one such
//! removal per folder per [`SPACING`]. What has to wait is left for a later
//! round, which the sync task runs when the spacing is over
//! ([`Spacing::next_ms`]). Stale files are paced much further (an hour by
//! default, see `stale`).

use std::path::Path;

use crate::store::trash;

/// The least time between two removals of files that are not this
/// device's own in one folder: longer than one run of an engine that is run
/// in a loop (about a second), short enough that conflict copies still go
/// within seconds.
pub const SPACING_MS: u64 = 1_000;

/// When this device last removed a file of a folder that was not its own,
/// and whether a removal had to wait.
#[derive(Debug, Clone, Default)]
pub struct Spacing {
    last_ms: Option<u64>,
    deferred: bool,
}

impl Spacing {
    /// Whether a removal may happen at `now`; when it may not, the folder
    /// is marked as having one waiting (see [`next_ms`](Self::next_ms)).
    pub fn allows(&mut self, now: u64) -> bool {
        let ok = self.last_ms.is_none_or(|l| now >= l + SPACING_MS);
        if !ok {
            self.deferred = true;
        }
        ok
    }

    /// Records a removal at `now`.
    pub fn removed(&mut self, now: u64) {
        self.last_ms = Some(now);
    }

    /// Starts a round: nothing waits until the round says so.
    pub fn new_round(&mut self) {
        self.deferred = false;
    }

    /// When a removal that had to wait may happen (`None` when none waits).
    pub fn next_ms(&self) -> Option<u64> {
        self.deferred.then(|| self.earliest_ms())
    }

    /// The earliest time the next removal may happen.
    pub fn earliest_ms(&self) -> u64 {
        self.last_ms.map_or(0, |l| l + SPACING_MS)
    }

    /// [`allows`](Self::allows), then `remove(path)`. An attempt takes the
    /// turn whether it succeeds or not (a file that cannot be removed is
    /// tried again at a later round, not in a loop). Returns whether the
    /// file went.
    pub fn remove_with(
        &mut self,
        path: &Path,
        now: u64,
        remove: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> bool {
        if !self.allows(now) {
            return false;
        }
        self.removed(now);
        match remove(path) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not remove a file");
                false
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_removal_per_spacing_and_the_wait_is_remembered() {
        let mut s = Spacing::default();
        assert_eq!(s.next_ms(), None);
        assert!(s.allows(10_000));
        s.removed(10_000);
        assert!(!s.allows(10_500), "a second removal within the spacing");
        assert_eq!(s.next_ms(), Some(10_000 + SPACING_MS));
        assert!(s.allows(10_000 + SPACING_MS));
        s.new_round();
        assert_eq!(s.next_ms(), None);
    }

    #[test]
    fn every_attempt_takes_the_turn() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&b, b"x").unwrap();
        let mut s = Spacing::default();
        assert!(!s.remove_with(&a, 1, unlink), "a is missing");
        assert!(
            !s.remove_with(&b, 2, unlink),
            "spaced after the failed attempt"
        );
        assert!(b.exists());
        assert!(s.remove_with(&b, 1 + SPACING_MS, unlink));
        assert!(!b.exists());
        std::fs::write(&b, b"x").unwrap();
        assert!(!s.remove_with(&b, 2 + SPACING_MS, unlink), "spaced");
        assert!(b.exists());
        assert_eq!(s.earliest_ms(), 1 + 2 * SPACING_MS);
    }
}
