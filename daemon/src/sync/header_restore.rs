//! Putting a missing `account.json` back without racing the other devices.
//!
//! When both folders' `account.json` changed between two runs of rclone
//! bisync, it renames both versions away (`account.json..path1`,
//! `account.json..path2`) and leaves no `account.json` on either side. If
//! every device then wrote it back, the engine would find a new
//! `account.json` on both sides again, which is another conflict, and so on
//! for ever: rclone 1.60 takes even two identical files that are new on
//! both sides for a conflict (seen by running it).
//!
//! So where `account.json` is missing but conflict copies of it are there
//! (every reader takes the headers from those meanwhile), one device writes
//! it back: the one with the smallest id among the device files of the
//! current epoch in the folder, this one included. The engine carries it to
//! the other folders; then every device retires the copies it supersedes.
//! The others wait, each [`RESTORE_WAIT`] longer by its rank, should that
//! device never come back. A device in state `reset` does not write it at
//! all there: nobody may be signed in to the new epoch yet, the copies
//! carry the header, and a login reads them.
//!
//! A folder without any header (a new folder, one that was emptied) gets
//! it at once, as before: nothing else can be writing it.

use std::collections::BTreeSet;
use std::time::Duration;

/// How much longer each device waits than the one before it in id order.
pub const RESTORE_WAIT: Duration = Duration::from_secs(300);

/// When this device (`own_id`) writes back the missing `account.json` of a
/// folder holding copies of it (ms since the Unix epoch): the devices whose
/// current files are in the folder are `current_ids`; the header has been
/// missing (as this device saw it) since `missing_since`.
pub fn restore_at(own_id: &str, current_ids: &BTreeSet<String>, missing_since: u64) -> u64 {
    let rank = current_ids.iter().filter(|id| id.as_str() < own_id).count() as u64;
    missing_since.saturating_add(rank.saturating_mul(RESTORE_WAIT.as_millis() as u64))
}

/// Whether this device writes it back at `now` (see [`restore_at`]).
pub fn may_restore(
    own_id: &str,
    current_ids: &BTreeSet<String>,
    missing_since: u64,
    now: u64,
) -> bool {
    now >= restore_at(own_id, current_ids, missing_since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_smallest_id_restores_at_once_the_others_by_rank() {
        let current = ids(&["a", "b", "c"]);
        let w = RESTORE_WAIT.as_millis() as u64;
        assert!(may_restore("a", &current, 1_000, 1_000));
        assert!(!may_restore("b", &current, 1_000, 1_000));
        assert!(!may_restore("b", &current, 1_000, 1_000 + w - 1));
        assert!(may_restore("b", &current, 1_000, 1_000 + w));
        assert!(!may_restore("c", &current, 1_000, 1_000 + w));
        assert!(may_restore("c", &current, 1_000, 1_000 + 2 * w));
    }

    #[test]
    fn this_device_counts_even_when_its_own_file_is_missing() {
        assert!(may_restore("a", &ids(&["b"]), 5, 5));
        assert!(!may_restore("c", &ids(&["b"]), 5, 5));
    }
}
