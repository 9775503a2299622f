//! Noticing when this device's own file keeps disappearing from a folder.
//!
//! Only this device writes its file, and it only removes it when it leaves
//! the epoch (a reset, a logout) or stops syncing with the folder, after
//! which this bookkeeping is gone. So when the file it published is missing
//! at the start of a round, something else removed it: a one-way mirror
//! (`rsync -a --delete` run both ways, a common mistake), an engine that
//! does not sync the folder both ways, an engine's conflict rename. The
//! device writes it again at once, so nothing seems wrong, but its changes
//! may never reach the other devices. Once that happened [`THRESHOLD`]
//! times within the window (an hour), `status` and `sync list` show it for
//! the folder (health `problems`, with the likely causes), until no further
//! disappearance happened for a window.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layout::FileStamp;

/// Disappearances within the window that make a warning.
pub const THRESHOLD: usize = 3;

/// The window: an hour; a test build may shorten it with
/// `COFFER_OWN_FILE_WINDOW` (a duration such as `3s`).
pub fn window() -> Duration {
    crate::hooks::var("COFFER_OWN_FILE_WINDOW")
        .and_then(|v| crate::config::parse_duration(&v.to_string_lossy()))
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(3600))
}

/// When this device's file disappeared from one folder, recently.
#[derive(Debug, Clone, Default)]
pub struct Losses {
    times: VecDeque<u64>,
    path: Option<PathBuf>,
}

impl Losses {
    /// Records that `path` (this device's file) was found missing at `now`.
    pub fn note(&mut self, path: &Path, now: u64, window: Duration) {
        self.forget_before(now.saturating_sub(window.as_millis() as u64));
        self.times.push_back(now);
        self.path = Some(path.to_owned());
    }

    fn forget_before(&mut self, from: u64) {
        while self.times.front().is_some_and(|t| *t < from) {
            self.times.pop_front();
        }
    }

    /// The warning at `now`, if the file disappeared [`THRESHOLD`] times or
    /// more within the window: the file, what to say, and since when.
    pub fn warning(&self, now: u64, window: Duration) -> Option<(PathBuf, String, u64)> {
        let from = now.saturating_sub(window.as_millis() as u64);
        let recent: Vec<u64> = self.times.iter().copied().filter(|t| *t >= from).collect();
        if recent.len() < THRESHOLD {
            return None;
        }
        let reason = format!(
            "this device's file was removed by something else {} times in the last {} (deleted, or replaced by an older copy); \
             coffer wrote it again each time, but its changes may not reach the other devices. \
             A one-way mirror (rsync --delete, or any copy run in one direction) or an engine \
             that does not sync this folder both ways would do that",
            recent.len(),
            words(window)
        );
        Some((self.path.clone()?, reason, recent[0]))
    }
}

/// `1 hour`, `3 seconds`…
fn words(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s >= 60 && s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s.max(1), "second")
    };
    if n == 1 {
        unit.to_owned()
    } else {
        format!("{n} {unit}s")
    }
}

/// At the start of a round: whether this device's file `own`, which it
/// published as `published` (its stamp when written), is gone or was
/// replaced by another copy. If so, it
/// is counted in `losses`, and `published` forgets the file (so it is
/// counted once, and the round writes it again).
pub fn check(published: &mut Option<FileStamp>, losses: &mut Losses, own: &Path, now: u64) {
    let Some(stamp) = *published else {
        return;
    };
    match std::fs::symlink_metadata(own) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %own.display(), "this device's sync file was removed by something else; writing it again");
        }
        // Put back to another copy (a mirror run the other way brings an
        // older one back): the same harm, the device's newest file is gone.
        Ok(_) if super::layout::file_stamp(own).is_some_and(|now| now != stamp) => {
            tracing::warn!(path = %own.display(), "this device's sync file was replaced by something else; writing it again");
        }
        _ => return,
    }
    *published = None;
    losses.note(own, now, window());
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(3600);

    #[test]
    fn a_warning_from_the_third_loss_within_the_window_until_it_is_quiet() {
        let mut l = Losses::default();
        let p = Path::new("/f/a/device-x.cofsync");
        l.note(p, 1_000, W);
        l.note(p, 2_000, W);
        assert_eq!(l.warning(2_000, W), None, "two losses are no pattern");
        l.note(p, 3_000, W);
        let (path, reason, since) = l.warning(3_000, W).expect("a warning");
        assert_eq!(path, p);
        assert_eq!(since, 1_000);
        assert!(reason.contains("3 times in the last hour"), "{reason}");
        assert!(reason.contains("rsync --delete"), "{reason}");
        // A window later with no further loss, the warning is gone.
        assert!(l.warning(1_000 + 3_600_000 - 1, W).is_some());
        assert_eq!(l.warning(1_000 + 3_600_000 + 1, W), None);
    }

    #[test]
    fn losses_spread_wider_than_the_window_are_no_pattern() {
        let mut l = Losses::default();
        let p = Path::new("/f");
        for i in 0..10 {
            l.note(p, i * 3_600_000, W);
            assert_eq!(l.warning(i * 3_600_000, W), None);
        }
    }

    #[test]
    fn only_a_published_file_that_is_gone_counts_once() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("device-x.cofsync");
        let mut losses = Losses::default();
        let mut published = None;
        check(&mut published, &mut losses, &own, 1);
        assert!(losses.times.is_empty(), "never published: nothing to lose");
        std::fs::write(&own, b"x").unwrap();
        published = super::super::layout::file_stamp(&own);
        check(&mut published, &mut losses, &own, 2);
        assert!(
            losses.times.is_empty() && published.is_some(),
            "still there"
        );
        std::fs::remove_file(&own).unwrap();
        check(&mut published, &mut losses, &own, 3);
        check(&mut published, &mut losses, &own, 4);
        assert_eq!(losses.times, [3], "counted once until written again");
        assert_eq!(published, None);
    }

    #[test]
    fn a_published_file_replaced_by_another_copy_counts() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("device-x.cofsync");
        std::fs::write(&own, b"ours").unwrap();
        let mut published = super::super::layout::file_stamp(&own);
        let mut losses = Losses::default();
        // An older copy put back in its place (a new inode, as rsync writes it).
        let older = d.path().join(".older");
        std::fs::write(&older, b"older copy").unwrap();
        std::fs::rename(&older, &own).unwrap();
        check(&mut published, &mut losses, &own, 5);
        assert_eq!(losses.times, [5]);
        assert_eq!(published, None);
    }

    #[test]
    fn window_words() {
        assert_eq!(words(Duration::from_secs(3600)), "hour");
        assert_eq!(words(Duration::from_secs(7200)), "2 hours");
        assert_eq!(words(Duration::from_secs(3)), "3 seconds");
        assert_eq!(words(Duration::from_secs(120)), "2 minutes");
    }
}
