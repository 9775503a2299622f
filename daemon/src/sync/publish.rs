//! Publishing this device's changes into each of its folders: a fresh delta
//! segment with the current versions of the items it owes the folder, and
//! now and then a merge of segments or a new snapshot ([`super::compaction`]).
//!
//! The plan is made from the replica under the state lock ([`plan`]): the
//! fresh segment (small) is serialized there, a merge or snapshot takes a
//! copy of the versions it needs. The files are serialized and written to
//! temp files beside their targets without the lock ([`Publish::write`]),
//! then, under the lock again, renamed into place in order only if the
//! device is still signed in to that account and epoch and still syncs with
//! that folder ([`Written::commit`]), so a reset or logout in between never
//! sees an old epoch's file appear after it. Files a new one supersedes are
//! removed at the next publication (write new, then retire old).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_vault::ids::ItemId;
use coffer_vault::replica::Replica;
use coffer_vault::segment::{segment_bytes, FileId, SegmentHeader, SegmentKind};
use coffer_vault::state::VaultState;
use coffer_vault::sync_names::{classify, delta_file_name, device_file_name};

use super::compaction::{is_bulk, next_step, Step};
use super::layout::{self, file_stamp};
use super::ledger::{Ledger, OwnFile, Owner};
use crate::session::{Account, Session};
use crate::store::fsutil;

/// What to write into this device's folders, planned under the lock.
pub struct Publish {
    account_id: uuid::Uuid,
    epoch: u64,
    device_id: String,
    folders: Vec<FolderPlan>,
}

/// The files of one folder, in the order they go in.
struct FolderPlan {
    folder: PathBuf,
    files: Vec<NewFile>,
    /// Superseded files to remove once the new ones are in.
    retire: Vec<PathBuf>,
    /// The pending items this publication takes (back to pending unless a
    /// file carrying them goes in).
    taken: BTreeSet<ItemId>,
}

struct NewFile {
    path: PathBuf,
    header: SegmentHeader,
    body: Body,
    /// The items it holds (a segment's).
    items: BTreeSet<ItemId>,
    /// Whether it holds every item of `taken`.
    carries_taken: bool,
}

enum Body {
    /// Serialized under the lock (a fresh segment is small).
    Bytes(Vec<u8>),
    /// Versions to serialize without the lock (a merge, a snapshot).
    State(Arc<VaultState>),
}

/// Reads this device's files in each reachable folder the first time a
/// round sees it (see [`Ledger::ensure_loaded`]).
pub fn load_ledgers(account: &mut Account) {
    let dev = &account.device;
    for folder in &dev.sync_folders {
        let dir = layout::account_dir(folder, &dev.account_id);
        let ledger = account.sync.ledgers.entry(folder.clone()).or_default();
        ledger.ensure_loaded(&Owner {
            dir: &dir,
            device_id: &dev.device_id,
            replica: &account.replica,
            only_folder: dev.sync_folders.len() == 1,
        });
    }
}

/// What to publish after a round, if anything: takes what this device
/// wrote since the last round into every folder's pending set, checks its
/// files in each folder, and plans each folder's publication. `None` when
/// no folder needs anything written or removed. (`_force`, from `sync now`,
/// needs nothing more: own files are checked every round.)
pub fn plan(account: &mut Account, _force: bool) -> Option<Publish> {
    let local = account.replica.take_local_changes();
    let local: Vec<ItemId> = local.into_iter().collect();
    account.sync.pending_everywhere(&local);
    let dev = &account.device;
    let replica = &account.replica;
    let mut snapshot: Option<Arc<VaultState>> = None;
    let mut folders = Vec::new();
    for folder in &dev.sync_folders {
        let dir = layout::account_dir(folder, &dev.account_id);
        if !dir.is_dir() {
            continue;
        }
        // Held back while an engine finishes with what it renamed away
        // (what is pending waits for the next round).
        let hold = account
            .sync
            .folders
            .get(folder)
            .and_then(|h| h.publish_hold_until);
        if hold.is_some_and(|until| until > crate::daemon::now_ms()) {
            continue;
        }
        let ledger = account.sync.ledgers.entry(folder.clone()).or_default();
        let owner = Owner {
            dir: &dir,
            device_id: &dev.device_id,
            replica,
            only_folder: dev.sync_folders.len() == 1,
        };
        ledger.ensure_loaded(&owner);
        ledger.check_files(&owner, crate::daemon::now_ms());
        if let Some(p) = plan_folder(ledger, &owner, folder, &mut snapshot) {
            folders.push(p);
        }
    }
    (!folders.is_empty()).then(|| Publish {
        account_id: dev.account_id,
        epoch: dev.epoch,
        device_id: dev.device_id.clone(),
        folders,
    })
}

fn plan_folder(
    ledger: &mut Ledger,
    o: &Owner<'_>,
    folder: &Path,
    snapshot: &mut Option<Arc<VaultState>>,
) -> Option<FolderPlan> {
    let replica = o.replica;
    let taken = std::mem::take(&mut ledger.pending);
    let mut files: Vec<NewFile> = Vec::new();
    let mut sizes: Vec<u64> = ledger.segments.iter().map(|f| f.size).collect();
    if !taken.is_empty() {
        let state = replica.state_of(&taken);
        let header = next_header(ledger, replica, SegmentKind::Delta, Vec::new());
        let bytes = segment_bytes(&header, &state);
        sizes.push(bytes.len() as u64);
        files.push(NewFile {
            path: o
                .dir
                .join(delta_file_name(o.device_id, header.seq, header.file_id.0)),
            header,
            body: Body::Bytes(bytes),
            items: taken.clone(),
            carries_taken: true,
        });
    }
    let fresh = (!files.is_empty()).then(|| sizes.last().copied().unwrap_or(0));
    let snapshot_cost = ledger.snapshot_cost(replica, &sizes, fresh);
    let bulk = matches!((snapshot_cost, fresh), (Some(c), Some(f)) if is_bulk(f, c));
    let step = if bulk {
        Step::Snapshot
    } else {
        next_step(snapshot_cost, &sizes)
    };
    match step {
        Step::Nothing => {}
        Step::Snapshot => {
            // A bulk change (an import) goes into the snapshot alone, read
            // whole: writing its segment beside it would cost as much again.
            let supersedes = if ledger.exact && !bulk {
                // Readers that merged every file so far (the fresh segment
                // included) find nothing new in it.
                let mut ids = ledger.live_ids();
                ids.extend(files.iter().map(|f| f.header.file_id));
                ids
            } else {
                // Not known to hold only what the folder has (or not worth
                // it): every reader reads it; the fresh segment's items are
                // in it anyway.
                files.clear();
                Vec::new()
            };
            let state = snapshot
                .get_or_insert_with(|| Arc::new(replica.state().clone()))
                .clone();
            let header = next_header(ledger, replica, SegmentKind::Snapshot, supersedes);
            files.push(NewFile {
                path: o.dir.join(device_file_name(o.device_id)),
                header,
                body: Body::State(state),
                items: BTreeSet::new(),
                carries_taken: true,
            });
        }
        Step::Merge { from } => {
            let inputs: Vec<(FileId, &BTreeSet<ItemId>)> = ledger.segments
                [from.min(ledger.segments.len())..]
                .iter()
                .map(|f| (f.file_id, &f.items))
                .chain(files.iter().map(|f| (f.header.file_id, &f.items)))
                .collect();
            if inputs.len() >= 2 {
                let items: BTreeSet<ItemId> =
                    inputs.iter().flat_map(|(_, i)| i.iter().copied()).collect();
                let supersedes = inputs.iter().map(|(id, _)| *id).collect();
                let state = Arc::new(replica.state_of(&items));
                let header = next_header(ledger, replica, SegmentKind::Delta, supersedes);
                files.push(NewFile {
                    path: o
                        .dir
                        .join(delta_file_name(o.device_id, header.seq, header.file_id.0)),
                    header,
                    body: Body::State(state),
                    items,
                    carries_taken: !taken.is_empty(),
                });
            }
        }
    }
    let retire = ledger.retiring.clone();
    if files.is_empty() && retire.is_empty() {
        ledger.pending = taken;
        return None;
    }
    Some(FolderPlan {
        folder: folder.to_owned(),
        files,
        retire,
        taken,
    })
}

/// The header of the folder's next file, with the next sequence number.
fn next_header(
    ledger: &mut Ledger,
    replica: &Replica,
    kind: SegmentKind,
    supersedes: Vec<FileId>,
) -> SegmentHeader {
    let seq = ledger.next_seq.max(1);
    ledger.next_seq = seq + 1;
    SegmentHeader {
        kind,
        account_id: replica.account_id(),
        epoch: replica.epoch(),
        device_id: replica.device_id(),
        device_name: replica.device_name().to_owned(),
        written_hlc: replica.clock(),
        file_id: FileId::new_random(),
        seq,
        supersedes,
        extends: ledger.last_vv.clone(),
        vv: replica.state().vv().clone(),
    }
}

/// The outcome of [`Publish::write`].
pub struct Written {
    plan: Publish,
    /// Per folder, per file: its temp file and size, or why it failed.
    outcomes: Vec<Vec<WriteOutcome>>,
}

enum WriteOutcome {
    /// A temp file with the bytes, to rename onto the target.
    Temp(PathBuf, u64),
    Failed(std::io::Error),
    /// Not tried: an earlier file of the folder failed.
    Skipped,
}

impl Publish {
    /// Serializes the files and writes each to a temp file beside its
    /// target (no lock held). In a folder, a failure stops the files after it.
    pub fn write(self) -> Written {
        let mut outcomes = Vec::new();
        for fp in &self.folders {
            if let Some(dir) = fp.files.first().and_then(|f| f.path.parent()) {
                fsutil::clean_dead_writers_temps(dir);
            }
            let mut failed = false;
            let mut per = Vec::new();
            for f in &fp.files {
                if failed || !f.path.parent().is_some_and(Path::is_dir) {
                    per.push(WriteOutcome::Skipped);
                    failed = true;
                    continue;
                }
                let bytes = match &f.body {
                    Body::Bytes(b) => std::borrow::Cow::Borrowed(b),
                    Body::State(s) => std::borrow::Cow::Owned(segment_bytes(&f.header, s)),
                };
                per.push(match fsutil::write_temp(&f.path, &bytes, 0o644) {
                    Ok(tmp) => WriteOutcome::Temp(tmp, bytes.len() as u64),
                    Err(e) => {
                        failed = true;
                        WriteOutcome::Failed(e)
                    }
                });
            }
            outcomes.push(per);
        }
        Written {
            plan: self,
            outcomes,
        }
    }
}

impl Written {
    /// Renames each temp file into place, in order, if the session is still
    /// the one it was written for; records what went in (or the problem);
    /// removes the files superseded earlier; puts back what did not go in.
    pub fn commit(self, session: &mut Session) {
        let p = self.plan;
        let mut account = session.account_mut().map(|(a, _)| a).filter(|a| {
            a.device.account_id == p.account_id
                && a.device.epoch == p.epoch
                && a.device.device_id == p.device_id
        });
        for (fp, outcomes) in p.folders.into_iter().zip(self.outcomes) {
            let Some(account) = account
                .as_deref_mut()
                .filter(|a| a.device.sync_folders.contains(&fp.folder))
            else {
                for o in outcomes {
                    if let WriteOutcome::Temp(tmp, _) = o {
                        let _ = std::fs::remove_file(tmp);
                    }
                }
                continue;
            };
            commit_folder(account, fp, outcomes);
        }
    }
}

fn commit_folder(account: &mut Account, fp: FolderPlan, outcomes: Vec<WriteOutcome>) {
    let Some(ledger) = account.sync.ledgers.get_mut(&fp.folder) else {
        return;
    };
    let health = account.sync.folders.entry(fp.folder.clone()).or_default();
    let mut carried = false;
    let mut failed = false;
    for (f, outcome) in fp.files.into_iter().zip(outcomes) {
        let result = match outcome {
            WriteOutcome::Temp(tmp, _) if failed => {
                let _ = std::fs::remove_file(tmp);
                continue;
            }
            WriteOutcome::Temp(tmp, size) => fsutil::commit_temp(&tmp, &f.path).map(|()| size),
            WriteOutcome::Failed(e) => Err(e),
            WriteOutcome::Skipped => continue,
        };
        match result {
            Ok(size) => {
                health.problems.remove(&f.path);
                carried |= f.carries_taken;
                let own = OwnFile {
                    stamp: file_stamp(&f.path),
                    path: f.path,
                    file_id: f.header.file_id,
                    seq: f.header.seq,
                    size,
                    items: f.items,
                };
                ledger.committed(&f.header, own);
            }
            Err(e) => {
                failed = true;
                tracing::warn!(path = %f.path.display(), error = %e, "could not publish this device's sync file");
                health.note_problem(f.path, format!("cannot write this device's file: {e}"));
            }
        }
    }
    if !carried {
        ledger.pending.extend(fp.taken);
    }
    if !failed {
        // Everything owed went in: earlier failures to write this device's
        // files (each attempt has a new name) are over.
        let own = account.device.device_id.as_str();
        health.problems.retain(|p, _| {
            p.file_name()
                .is_none_or(|n| classify(&n.to_string_lossy()).device_id() != Some(own))
        });
    }
    ledger.retire(fp.retire);
    health.own_files = ledger.file_count();
    health.written_bytes = ledger.written_bytes;
}
