//! This device's own files in one sync folder: what it published there (its
//! snapshot and delta segments, each with its id, sequence number, size,
//! stamp and the items it holds), what it still has to publish there, and
//! the files it superseded and removes at its next publication.
//!
//! A ledger is filled from the folder the first time a round sees it
//! ([`Ledger::ensure_loaded`]): the device's own files are read (the
//! snapshot's header only), and every item with a version the newest file's
//! version vector does not cover is pending again, so changes a crash kept
//! from being published are published now. From then on the ledger is kept
//! in memory: every round checks that its files are still there and still
//! the ones it wrote ([`Ledger::check_files`]); one that vanished or was
//! replaced (an engine's last-writer-wins, a replay) is written again.
//!
//! Superseded files are removed (their content is this device's own and in
//! its vault: nothing is lost) one publication after the file that takes
//! them over went in, so readers see the new file first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use coffer_vault::ids::ItemId;
use coffer_vault::replica::Replica;
use coffer_vault::segment::{
    read_segment_header, sync_file_version, FileId, Segment, SegmentHeader, SegmentKind, MAX_HEADER,
};
use coffer_vault::sync_names::Entry;
use coffer_vault::vv::VersionVector;

use super::layout::{self, file_stamp, FileStamp, MAX_FILE};
use crate::store::fsutil;

/// One file this device wrote into the folder and still counts on.
#[derive(Debug, Clone)]
pub struct OwnFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its header's id.
    pub file_id: FileId,
    /// Its sequence number.
    pub seq: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Inode, size and mtime as written (or found).
    pub stamp: Option<FileStamp>,
    /// The items it holds (a segment's; a snapshot holds every item).
    pub items: BTreeSet<ItemId>,
}

/// This device's files in one folder and what it owes that folder.
#[derive(Debug, Default)]
pub struct Ledger {
    loaded: bool,
    /// Its snapshot (`None`: none yet, or a version-2 file to replace).
    pub(super) snapshot: Option<OwnFile>,
    /// Its delta segments, in sequence order.
    pub(super) segments: Vec<OwnFile>,
    /// Superseded files, removed at the next publication.
    pub(super) retiring: Vec<PathBuf>,
    /// Items whose current versions the folder may lack.
    pub pending: BTreeSet<ItemId>,
    /// The next sequence number.
    pub(super) next_seq: u64,
    /// The version vector of the last publication (what the next extends).
    pub(super) last_vv: VersionVector,
    /// Whether `pending` is known to be exact since the snapshot (false
    /// after a start-up, until the next snapshot: only then may a snapshot
    /// say which files it supersedes).
    pub(super) exact: bool,
    /// Bytes this daemon wrote into the folder (files renamed into place).
    pub written_bytes: u64,
    /// What a snapshot of the state was last found to cost (bytes): the
    /// segments must outgrow this, not only the snapshot in the folder.
    pub(super) state_bytes: u64,
    /// When the own segments found in the folder that the ledger does not
    /// know, and that have not settled yet, will have (see
    /// [`check_files`](Self::check_files)); `None` when there is none.
    pub strays_settle_at: Option<u64>,
}

/// Who is writing, and where: what a ledger needs besides itself.
pub struct Owner<'a> {
    /// The account directory in the folder.
    pub dir: &'a Path,
    /// This device's id, as in file names.
    pub device_id: &'a str,
    /// The replica (account, epoch, state).
    pub replica: &'a Replica,
    /// Whether this device syncs with this folder only (then every other
    /// device's version it has came from this folder, or will be
    /// published here when it comes from elsewhere).
    pub only_folder: bool,
}

impl Ledger {
    /// Reads this device's files in the folder the first time (nothing when
    /// the account directory is not there yet). Files that are this
    /// device's by name but not readable as its own are retired.
    pub fn ensure_loaded(&mut self, o: &Owner<'_>) {
        if self.loaded || !o.dir.is_dir() {
            return;
        }
        self.loaded = true;
        self.next_seq = 1;
        let mut newest: Option<(u64, VersionVector)> = None;
        for (path, entry) in layout::own_files(o.dir, o.device_id) {
            let found = match entry {
                Entry::DeviceFile { .. } => read_own_snapshot(&path, o),
                Entry::DeltaFile { .. } => read_own_segment(&path, o),
                _ => continue, // conflict copies: merged and removed by the pull
            };
            match found {
                Some((file, header)) => {
                    self.next_seq = self.next_seq.max(header.seq + 1);
                    if newest.as_ref().is_none_or(|(s, _)| header.seq > *s) {
                        newest = Some((header.seq, header.vv.clone()));
                    }
                    match header.kind {
                        SegmentKind::Snapshot => self.snapshot = Some(file),
                        SegmentKind::Delta => self.segments.push(file),
                    }
                }
                // An own delta that does not read as ours: nothing to keep.
                None if matches!(entry, Entry::DeltaFile { .. }) => self.retiring.push(path),
                // A version-2 file (or a damaged one) is written over.
                None => {}
            }
        }
        self.segments.sort_by_key(|f| f.seq);
        if let Some((_, vv)) = newest {
            // What the last publication did not cover: changes a crash (or
            // a stop) kept from being published. With one folder, other
            // devices' versions came from it: only this device's count.
            self.pending
                .extend(o.replica.items_not_covered_by(&vv, o.only_folder));
            self.last_vv = vv;
        }
    }

    /// The stamp of this device's snapshot as written (or found).
    pub fn snapshot_stamp(&self) -> Option<FileStamp> {
        self.snapshot.as_ref().and_then(|s| s.stamp)
    }

    /// Whether the folder has been read.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Checks that every file this device counts on is still there and
    /// still its own: a segment that vanished (not evicted to an iCloud
    /// placeholder) or was replaced has its items published again; a
    /// snapshot likewise is written again. Own segments that the ledger
    /// does not know (a superseded one an engine brought back) are retired
    /// once they have sat still for [`SETTLE_MS`](super::removal::SETTLE_MS)
    /// at `now`: the engine that put one back may still be at work on it
    /// (rclone 1.60's `--resync` copies it over and then lists both sides,
    /// and a file gone in between stops that run and every later one until
    /// the next `--resync`, which brings it back again).
    pub fn check_files(&mut self, o: &Owner<'_>, now: u64) {
        let mut lost: Vec<PathBuf> = Vec::new();
        for f in self.snapshot.iter_mut().chain(self.segments.iter_mut()) {
            match still_ours(f, o) {
                Some(stamp) => f.stamp = stamp,
                None => lost.push(f.path.clone()),
            }
        }
        for path in lost {
            tracing::info!(path = %path.display(), "this device's sync file vanished or changed; publishing it again");
            if self.snapshot.as_ref().is_some_and(|s| s.path == path) {
                self.snapshot = None;
            } else if let Some(i) = self.segments.iter().position(|f| f.path == path) {
                let f = self.segments.remove(i);
                self.pending.extend(f.items);
            }
        }
        self.strays_settle_at = None;
        for (path, entry) in layout::own_files(o.dir, o.device_id) {
            let known =
                self.segments.iter().any(|f| f.path == path) || self.retiring.contains(&path);
            if !matches!(entry, Entry::DeltaFile { .. }) || known {
                continue;
            }
            match super::removal::settles_at(&path) {
                Some(at) if at > now => {
                    self.strays_settle_at = Some(self.strays_settle_at.map_or(at, |s| s.min(at)));
                }
                _ => self.retiring.push(path),
            }
        }
    }

    /// The ids of the files the ledger counts on (snapshot first).
    pub fn live_ids(&self) -> Vec<FileId> {
        self.snapshot
            .iter()
            .chain(&self.segments)
            .map(|f| f.file_id)
            .collect()
    }

    /// What a new snapshot would cost: the larger of the snapshot in the
    /// folder and the state's size as last worked out. Worked out again (one
    /// pass over the versions' lengths) only when the segments or the
    /// `fresh` one might call for a snapshot by that measure, so it costs
    /// the vault about once per snapshot.
    pub fn snapshot_cost(
        &mut self,
        replica: &Replica,
        segments: &[u64],
        fresh: Option<u64>,
    ) -> Option<u64> {
        let in_folder = self.snapshot.as_ref()?.size;
        let known = in_folder.max(self.state_bytes);
        let might = super::compaction::snapshot_due(known, segments)
            || fresh.is_some_and(|f| super::compaction::is_bulk(f, known));
        if might {
            self.state_bytes = replica.state().json_len_hint() as u64;
        }
        Some(in_folder.max(self.state_bytes))
    }

    /// How many files this device has in the folder.
    pub fn file_count(&self) -> usize {
        usize::from(self.snapshot.is_some()) + self.segments.len() + self.retiring.len()
    }

    /// Records a file renamed into place: the files it supersedes move to
    /// `retiring` (never the snapshot's own path, which the new snapshot
    /// replaced in place).
    pub fn committed(&mut self, header: &SegmentHeader, file: OwnFile) {
        self.written_bytes += file.size;
        self.last_vv = header.vv.clone();
        let superseded = |f: &OwnFile| header.supersedes.contains(&f.file_id);
        let mut gone: Vec<PathBuf> = Vec::new();
        self.segments.retain(|f| {
            let keep = !superseded(f);
            if !keep {
                gone.push(f.path.clone());
            }
            keep
        });
        match header.kind {
            SegmentKind::Snapshot => {
                // Every segment before a snapshot is in it.
                gone.extend(self.segments.drain(..).map(|f| f.path));
                self.state_bytes = file.size;
                self.snapshot = Some(file);
                self.exact = true;
            }
            SegmentKind::Delta => {
                self.segments.push(file);
                self.segments.sort_by_key(|f| f.seq);
            }
        }
        for p in gone {
            if !self.retiring.contains(&p) {
                self.retiring.push(p);
            }
        }
    }

    /// Removes the superseded files in `paths` (they were retiring when the
    /// publication was planned). One that cannot be removed stays retiring.
    pub fn retire(&mut self, paths: Vec<PathBuf>) {
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => self.retiring.retain(|r| *r != p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.retiring.retain(|r| *r != p)
                }
                Err(e) => {
                    tracing::debug!(path = %p.display(), error = %e, "could not remove a superseded sync file")
                }
            }
        }
    }
}

/// The header of this device's own snapshot at `path`, read without the
/// rest; `None` for a version-2 file or anything that is not its own.
fn read_own_snapshot(path: &Path, o: &Owner<'_>) -> Option<(OwnFile, SegmentHeader)> {
    let head = layout::read_head(path, MAX_HEADER + 64).ok()?;
    if sync_file_version(&head).ok()? != coffer_vault::segment::SEGMENT_VERSION {
        return None;
    }
    let header = read_segment_header(&head).ok()?;
    if !is_own(&header, o) || header.kind != SegmentKind::Snapshot {
        return None;
    }
    let stamp = file_stamp(path);
    let file = OwnFile {
        path: path.to_owned(),
        file_id: header.file_id,
        seq: header.seq,
        size: stamp.map_or(0, |s| s.1),
        stamp,
        items: BTreeSet::new(),
    };
    Some((file, header))
}

/// This device's own delta segment at `path`, read whole (segments are
/// small) for the items it holds.
fn read_own_segment(path: &Path, o: &Owner<'_>) -> Option<(OwnFile, SegmentHeader)> {
    let bytes = fsutil::read_bounded(path, MAX_FILE).ok()?;
    let seg = Segment::from_bytes(&bytes).ok()?;
    if !is_own(&seg.header, o) || seg.header.kind != SegmentKind::Delta {
        return None;
    }
    let file = OwnFile {
        path: path.to_owned(),
        file_id: seg.header.file_id,
        seq: seg.header.seq,
        size: bytes.len() as u64,
        stamp: file_stamp(path),
        items: seg.state.records().keys().copied().collect(),
    };
    Some((file, seg.header))
}

fn is_own(h: &SegmentHeader, o: &Owner<'_>) -> bool {
    h.account_id == o.replica.account_id()
        && h.epoch == o.replica.epoch()
        && h.device_id.to_string() == o.device_id
}

/// Whether `f` is still in place as written, and its stamp now: the same
/// stamp; evicted to an iCloud placeholder (`.NAME.icloud`); or changed only
/// in its stamp (an engine copied it back) with the same header and a body
/// that reads. `None`: vanished or replaced.
fn still_ours(f: &OwnFile, o: &Owner<'_>) -> Option<Option<FileStamp>> {
    let now = file_stamp(&f.path);
    if now.is_some() && now == f.stamp {
        return Some(now);
    }
    if now.is_none() {
        let name = f.path.file_name()?.to_string_lossy().into_owned();
        let placeholder = f.path.with_file_name(format!(".{name}.icloud"));
        return placeholder.exists().then_some(f.stamp);
    }
    // Changed: ours only if it is the same file, whole.
    let bytes = fsutil::read_bounded(&f.path, MAX_FILE).ok()?;
    let seg = Segment::from_bytes(&bytes).ok()?;
    (seg.header.file_id == f.file_id && is_own(&seg.header, o)).then_some(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::ids::DeviceId;
    use coffer_vault::secret::{SecretKey, SecretString};
    use coffer_vault::segment::segment_bytes;
    use coffer_vault::sync_names::{delta_file_name, device_file_name};

    fn header(r: &Replica, kind: SegmentKind, seq: u64, id: u64) -> SegmentHeader {
        SegmentHeader {
            kind,
            account_id: r.account_id(),
            epoch: r.epoch(),
            device_id: r.device_id(),
            device_name: r.device_name().to_owned(),
            written_hlc: r.clock(),
            file_id: FileId(id),
            seq,
            supersedes: Vec::new(),
            extends: VersionVector::new(),
            vv: r.state().vv().clone(),
        }
    }

    fn add(r: &mut Replica, key: &SecretKey, t: &str) -> ItemId {
        r.add(key, vec![("title".into(), SecretString::from(t))], 5)
            .unwrap()
    }

    /// Loading finds the snapshot (by its header) and segments (with their
    /// items), continues the sequence, and owes again what the newest file
    /// does not cover; a vanished segment is owed again, an evicted one
    /// (iCloud placeholder) is not, an unknown own segment is retired.
    #[test]
    fn load_then_check() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::from_bytes([6; 32]);
        let mut r = Replica::new(uuid::Uuid::new_v4(), 1, DeviceId::new_random(), "me".into());
        let id = r.device_id().to_string();
        let one = add(&mut r, &key, "one");
        let snap = header(&r, SegmentKind::Snapshot, 1, 1);
        std::fs::write(
            dir.path().join(device_file_name(&id)),
            segment_bytes(&snap, r.state()),
        )
        .unwrap();
        let two = add(&mut r, &key, "two");
        let d2 = header(&r, SegmentKind::Delta, 2, 2);
        let d2_path = dir.path().join(delta_file_name(&id, 2, 2));
        std::fs::write(&d2_path, segment_bytes(&d2, &r.state_of([&two]))).unwrap();
        let three = add(&mut r, &key, "three");
        let d3 = header(&r, SegmentKind::Delta, 3, 3);
        let d3_path = dir.path().join(delta_file_name(&id, 3, 3));
        std::fs::write(&d3_path, segment_bytes(&d3, &r.state_of([&three]))).unwrap();
        // Written, never published (a crash).
        let four = add(&mut r, &key, "four");

        let o = Owner {
            dir: dir.path(),
            device_id: &id,
            replica: &r,
            only_folder: true,
        };
        let mut l = Ledger::default();
        l.ensure_loaded(&o);
        assert!(l.is_loaded());
        assert_eq!(l.snapshot.as_ref().map(|s| s.file_id), Some(FileId(1)));
        assert_eq!(
            l.segments.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(l.segments[0].items, BTreeSet::from([two]));
        assert_eq!(l.next_seq, 4);
        assert_eq!(l.pending, BTreeSet::from([four]));
        assert!(!l.exact);
        let _ = one;

        std::fs::remove_file(&d2_path).unwrap();
        let name3 = d3_path.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::rename(&d3_path, dir.path().join(format!(".{name3}.icloud"))).unwrap();
        let stray = dir.path().join(delta_file_name(&id, 9, 9));
        std::fs::write(&stray, segment_bytes(&d2, &r.state_of([&two]))).unwrap();
        let now = crate::daemon::now_ms();
        l.check_files(&o, now);
        assert_eq!(l.pending, BTreeSet::from([two, four]));
        assert_eq!(
            l.segments.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![3],
            "an evicted segment is still there"
        );
        assert!(l.retiring.is_empty(), "the stray has not settled yet");
        let settles = l.strays_settle_at.expect("a wake-up for the stray");
        assert!(settles >= now && settles <= now + super::super::removal::SETTLE_MS);
        l.check_files(&o, settles);
        assert_eq!(l.retiring, vec![stray.clone()]);
        assert_eq!(l.strays_settle_at, None);
        l.retire(l.retiring.clone());
        assert!(!stray.exists() && l.retiring.is_empty());
    }
}
