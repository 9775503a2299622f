//! Reading one other device's files in a folder: which to merge, which to
//! skip, and what merging them changed.
//!
//! A file unchanged since this daemon last took it (same inode, size and
//! mtime) is not opened again. Of the others, a version-3 file is first
//! read only as far as its header: a file whose id was already merged (a
//! conflict copy of it, say) or whose superseded files were all merged
//! here brings nothing new and is skipped. So a reader reads and
//! authenticates only what it has not merged yet: the new fresh segments,
//! and a snapshot or merged segment only when it missed part of what that
//! takes over.
//!
//! Order: fresh segments and version-2 files first (they take over
//! nothing), then the others oldest first while they can be skipped, then
//! what is left newest first, so that reading a new snapshot makes every
//! file it takes over unnecessary. Whatever the order, merging is a union:
//! nothing read here is ever taken as a deletion, and a file that cannot be
//! read now is retried.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use coffer_vault::ids::ItemId;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;
use coffer_vault::segment::{
    read_segment_header, read_sync_file, sync_file_version, FileId, SegmentHeader, SegmentKind,
    SEGMENT_VERSION,
};

use super::layout::{read_head, FileStamp, MAX_FILE};
use crate::store::fsutil;

/// Files at most this large are read whole at once; larger ones header first.
const READ_WHOLE: u64 = 1024 * 1024;

/// One file of the device, found changed since it was last taken.
pub struct Candidate {
    /// Where it is.
    pub path: PathBuf,
    /// Its stamp now.
    pub stamp: Option<FileStamp>,
    /// An engine's conflict copy (removed once merged).
    pub is_copy: bool,
}

/// What reading one device's files did.
#[derive(Default)]
pub struct DeviceRead {
    /// Files merged (read whole).
    pub merged: usize,
    /// Files taken without reading them whole (nothing new in them).
    pub skipped: usize,
    /// Files that are taken: their stamps, to skip them until they change.
    pub taken: Vec<(PathBuf, Option<FileStamp>)>,
    /// Conflict copies whose content is merged: to remove.
    pub copies_done: Vec<PathBuf>,
    /// Items whose versions changed.
    pub changed: BTreeSet<ItemId>,
    /// Files of an earlier epoch (never merged): their stamps and epochs.
    pub stale: Vec<(PathBuf, Option<FileStamp>, u64)>,
    /// Files that could not be used, and why.
    pub problems: Vec<(PathBuf, String)>,
}

struct Read {
    c: Candidate,
    header: Option<SegmentHeader>,
    bytes: Option<Vec<u8>>,
}

/// Reads the `candidates` of one device, given the ids of its files merged
/// from this folder before (`merged`, kept up to date), and merges what is
/// new into `replica`.
pub fn read_device(
    replica: &mut Replica,
    key: Option<&SecretKey>,
    merged: &mut HashSet<FileId>,
    candidates: Vec<Candidate>,
) -> DeviceRead {
    let mut out = DeviceRead::default();
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for c in candidates {
        match open(c) {
            // Of an earlier epoch: stale, whatever else it holds.
            Ok(r) if r.header.as_ref().is_some_and(|h| h.epoch < replica.epoch()) => {
                let epoch = r.header.as_ref().map_or(0, |h| h.epoch);
                out.stale.push((r.c.path, r.c.stamp, epoch));
            }
            Ok(r) => match &r.header {
                Some(h) if !(h.kind == SegmentKind::Delta && h.supersedes.is_empty()) => {
                    rest.push(r)
                }
                _ => first.push(r),
            },
            Err((path, why)) => out.problems.push((path, why)),
        }
    }
    for r in first {
        if r.header
            .as_ref()
            .is_some_and(|h| merged.contains(&h.file_id))
        {
            out.skipped += 1;
            done(r.c, &mut out);
            continue;
        }
        take(replica, key, merged, r, &mut out);
    }
    // Skippable files, oldest first (one may make the next skippable).
    rest.sort_by_key(|r| r.header.as_ref().map_or(0, |h| h.seq));
    let mut left = Vec::new();
    for r in rest {
        let h = r.header.as_ref().expect("only version-3 files are here");
        if merged.contains(&h.file_id)
            || (!h.supersedes.is_empty() && h.supersedes.iter().all(|id| merged.contains(id)))
        {
            note_merged(merged, h);
            out.skipped += 1;
            done(r.c, &mut out);
        } else {
            left.push(r);
        }
    }
    // The rest newest first: a snapshot read whole takes over what it supersedes.
    left.reverse();
    let mut covered: HashSet<FileId> = HashSet::new();
    for r in left {
        let h = r.header.as_ref().expect("only version-3 files are here");
        if covered.contains(&h.file_id) || merged.contains(&h.file_id) {
            note_merged(merged, h);
            out.skipped += 1;
            done(r.c, &mut out);
            continue;
        }
        let supersedes = h.supersedes.clone();
        if take(replica, key, merged, r, &mut out) {
            covered.extend(supersedes);
        }
    }
    out
}

/// Records that the file with header `h` is merged: its id in, the ids it
/// takes over out (no later file refers to them).
fn note_merged(merged: &mut HashSet<FileId>, h: &SegmentHeader) {
    for id in &h.supersedes {
        merged.remove(id);
    }
    merged.insert(h.file_id);
}

/// Reads the first line (and the header of a version-3 file).
fn open(c: Candidate) -> Result<Read, (PathBuf, String)> {
    let size = c.stamp.map_or(0, |s| s.1);
    let head = if size <= READ_WHOLE {
        fsutil::read_bounded(&c.path, MAX_FILE)
    } else {
        read_head(&c.path, coffer_vault::segment::MAX_HEADER + 64)
    }
    .map_err(|e| (c.path.clone(), format!("cannot read: {e}")))?;
    let whole = size <= READ_WHOLE;
    let unusable = |e: coffer_vault::error::FormatError| {
        (c.path.clone(), format!("cannot parse ({e}); will retry"))
    };
    let header = match sync_file_version(&head).map_err(unusable)? {
        SEGMENT_VERSION => Some(read_segment_header(&head).map_err(unusable)?),
        _ => None,
    };
    Ok(Read {
        bytes: (whole || header.is_none()).then_some(head),
        c,
        header,
    })
}

/// Reads a file whole and merges it; `true` when it was merged cleanly.
fn take(
    replica: &mut Replica,
    key: Option<&SecretKey>,
    merged: &mut HashSet<FileId>,
    r: Read,
    out: &mut DeviceRead,
) -> bool {
    let path = r.c.path.clone();
    let bytes = match r.bytes {
        // A version-2 file read as far as its first line only: read it whole.
        Some(b) if r.header.is_some() || b.len() as u64 >= r.c.stamp.map_or(0, |s| s.1) => b,
        _ => match fsutil::read_bounded(&path, MAX_FILE) {
            Ok(b) => b,
            Err(e) => {
                out.problems.push((path, format!("cannot read: {e}")));
                return false;
            }
        },
    };
    let file = match read_sync_file(&bytes) {
        Ok(f) => f,
        Err(e) => {
            out.problems
                .push((path, format!("cannot parse ({e}); will retry")));
            return false;
        }
    };
    if file.account_id() != replica.account_id() {
        let why = format!(
            "belongs to account {}, not this one; ignored",
            file.account_id()
        );
        out.problems.push((path, why));
        return false;
    }
    if file.epoch() < replica.epoch() {
        out.stale.push((path, r.c.stamp, file.epoch()));
        return false;
    }
    if file.epoch() != replica.epoch() {
        let why = format!(
            "is from epoch {} but this device is on epoch {}; not merged",
            file.epoch(),
            replica.epoch()
        );
        out.problems.push((path, why));
        return false;
    }
    match replica.merge_sync_content(&file, key) {
        Ok(outcome) => {
            out.merged += 1;
            out.changed.extend(outcome.changed);
            if !outcome.rejected.is_empty() {
                // Taken (not read again until it changes), but never counted
                // as merged: a later file that supersedes it is read whole.
                out.taken.push((path.clone(), r.c.stamp));
                out.problems.push((
                    path,
                    format!(
                        "{} record(s) do not open (tampered, or moved from elsewhere); they were not merged",
                        outcome.rejected.len()
                    ),
                ));
                return false;
            }
            if let Some(h) = &r.header {
                note_merged(merged, h);
            }
            done(r.c, out);
            true
        }
        Err(e) => {
            out.problems.push((path, format!("not merged: {e}")));
            false
        }
    }
}

fn done(c: Candidate, out: &mut DeviceRead) {
    out.taken.push((c.path.clone(), c.stamp));
    if c.is_copy {
        out.copies_done.push(c.path);
    }
}
