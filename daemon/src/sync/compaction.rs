//! When this device compacts its own files in a sync folder: a pure policy
//! over the sizes of its snapshot and delta segments.
//!
//! Every publication adds one small delta segment. Segments are merged
//! size-tiered, as a log-structured merge tree does: a segment's *level* is
//! how many times [`FAN_IN`] its size is above [`LEVEL_BASE`]; once the
//! newest run of segments at or below some level holds [`FAN_IN`] segments
//! of that level, that run is merged into one segment (the current versions
//! of the items they hold, so 1,000 edits of one item merge into one
//! version). Each change is thus rewritten about once per level, and a
//! folder holds at most `FAN_IN - 1` segments per level.
//!
//! The snapshot (the whole state) is rewritten only when the segments
//! together outgrow what a new snapshot would cost (the state's size, and
//! [`SNAPSHOT_MIN`]): so its cost, spread over the changes that made the
//! segments grow, stays about one item's size per change, whatever the
//! vault's size. (The old snapshot's size is no measure of that: a device
//! that signed in before it merged anything wrote an empty one.)
//! [`MAX_SEGMENTS`] bounds the file count whatever happens.

/// How many segments of one level are merged into one.
pub const FAN_IN: usize = 8;
/// The size below which a segment is of level 0 is `LEVEL_BASE * FAN_IN`
/// (4 KiB): a fresh segment of one item is level 0, and eight of them
/// merged are level 1, so a change is not merged twice at level 0.
pub const LEVEL_BASE: u64 = 512;
/// Segments never cause a snapshot before they hold this many bytes.
pub const SNAPSHOT_MIN: u64 = 64 * 1024;
/// More segments than this and the next step is a snapshot.
pub const MAX_SEGMENTS: usize = 64;

/// What to do after this publication's fresh segment (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing more.
    Nothing,
    /// Merge the segments from this index (in sequence order) to the newest.
    Merge {
        /// The first segment of the run.
        from: usize,
    },
    /// Write a new snapshot, which takes over every segment.
    Snapshot,
}

/// Whether segments of `segments` bytes have outgrown a snapshot of
/// `snapshot` bytes (or are too many).
pub fn snapshot_due(snapshot: u64, segments: &[u64]) -> bool {
    let total: u64 = segments.iter().sum();
    segments.len() > MAX_SEGMENTS || total > snapshot.max(SNAPSHOT_MIN)
}

/// Whether a fresh segment of `fresh` bytes is a bulk change (an import):
/// [`SNAPSHOT_MIN`] or more, and half of what a snapshot would cost or
/// more. It then goes into a new snapshot instead, which costs about the
/// same and saves rewriting both.
pub fn is_bulk(fresh: u64, snapshot: u64) -> bool {
    fresh >= SNAPSHOT_MIN && fresh.saturating_mul(2) >= snapshot
}

/// A segment's level: 0 below `LEVEL_BASE * FAN_IN` bytes (4 KiB), 1 below
/// `LEVEL_BASE * FAN_IN²` (32 KiB), and so on.
pub fn level(size: u64) -> u32 {
    let mut level = 0;
    let mut cap = LEVEL_BASE.saturating_mul(FAN_IN as u64);
    while size >= cap && cap < u64::MAX {
        level += 1;
        cap = cap.saturating_mul(FAN_IN as u64);
    }
    level
}

/// The next step for a folder where a snapshot would cost `snapshot`
/// bytes (`None`: there is none yet, or it is a version-2 file) and whose
/// segments, in sequence order, have `segments` bytes each.
pub fn next_step(snapshot: Option<u64>, segments: &[u64]) -> Step {
    let Some(snapshot) = snapshot else {
        return Step::Snapshot;
    };
    if snapshot_due(snapshot, segments) {
        return Step::Snapshot;
    }
    let levels: Vec<u32> = segments.iter().map(|s| level(*s)).collect();
    let top = levels.iter().copied().max().unwrap_or(0);
    for l in 0..=top {
        let from = levels.iter().rposition(|x| *x > l).map_or(0, |i| i + 1);
        if levels[from..].iter().filter(|x| **x == l).count() >= FAN_IN {
            return Step::Merge { from };
        }
    }
    Step::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level(0), 0);
        assert_eq!(level(4 * 1024 - 1), 0);
        assert_eq!(level(4 * 1024), 1);
        assert_eq!(level(32 * 1024), 2);
        assert_eq!(level(u64::MAX), level(u64::MAX - 1));
    }

    #[test]
    fn bulk_changes() {
        assert!(is_bulk(5_000_000, 8_000_000));
        assert!(!is_bulk(3000, 8_000_000));
        // A small vault: one item is half of it, but no bulk change.
        assert!(!is_bulk(1300, 2000));
    }

    #[test]
    fn no_snapshot_means_a_snapshot() {
        assert_eq!(next_step(None, &[]), Step::Snapshot);
    }

    #[test]
    fn small_segments_merge_by_eight() {
        let snap = Some(10_000_000);
        assert_eq!(next_step(snap, &[1300; 7]), Step::Nothing);
        assert_eq!(next_step(snap, &[1300; 8]), Step::Merge { from: 0 });
        // A bigger older segment stays out of a level-0 merge.
        let mut s = vec![20_000];
        s.extend([1300; 8]);
        assert_eq!(next_step(snap, &s), Step::Merge { from: 1 });
        // Eight level-1 segments (and the small ones after them) merge.
        let mut s = vec![20_000; 8];
        s.extend([1300; 3]);
        assert_eq!(next_step(snap, &s), Step::Merge { from: 0 });
    }

    #[test]
    fn segments_outgrowing_the_snapshot_make_a_snapshot() {
        assert_eq!(next_step(Some(100_000), &[60_000, 50_000]), Step::Snapshot);
        // Small vaults: not before SNAPSHOT_MIN.
        assert_eq!(next_step(Some(500), &[1300; 3]), Step::Nothing);
        assert_eq!(next_step(Some(500), &[9000; 8]), Step::Snapshot);
        assert_eq!(next_step(Some(u64::MAX), &[10; 65]), Step::Snapshot);
    }

    /// Simulated one-item edits and random edits: the file count stays
    /// bounded, and one-item edits never outgrow level 0.
    #[test]
    fn simulated_workloads_stay_bounded() {
        for (per_merge_growth, snap) in [(false, 80_000_000u64), (true, 80_000_000)] {
            let mut segs: Vec<u64> = Vec::new();
            let mut max_files = 0;
            for _ in 0..10_000 {
                segs.push(1300);
                if let Step::Merge { from } = next_step(Some(snap), &segs) {
                    let merged: u64 = segs[from..].iter().sum();
                    segs.truncate(from);
                    // One item edited over and over merges into one version;
                    // random items add up.
                    segs.push(if per_merge_growth { merged } else { 1300 });
                }
                max_files = max_files.max(segs.len());
            }
            assert!(max_files <= 7 * 6 + 1, "{max_files}");
            if !per_merge_growth {
                assert!(max_files <= FAN_IN, "{max_files}");
            }
        }
    }
}
