//! Reading other devices' files (and every engine's conflict copy of them)
//! in a sync folder and merging them into the replica.
//!
//! Nothing is ever concluded from a missing file (the merge is a union),
//! and a file that cannot be read or parsed is reported and retried, never
//! written over. A conflict copy is removed once its content is merged
//! (that is not user data any more); header copies go to the trash. Files
//! of an earlier epoch are never merged: they are stale (`stale`), counted
//! apart, and the ones nobody retires go to the trash after a grace period.
//! What is not this device's own leaves a folder one file at a time
//! (`removal`). Which of a device's files need reading at all is
//! [`super::read`]'s.
//!
//! What a merge from one folder changed is pending for this device's other
//! folders (a device in two folders carries changes between them), not for
//! the folder it came from, which has it already.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use coffer_vault::ids::ItemId;
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, device_file_name, Entry};

use super::layout::{self, file_stamp};
use super::read::{read_device, Candidate};
use super::removal::{self, Removal};
use super::stale::{self, Policy};
use super::{header_restore, own_file};
use crate::daemon::now_ms;
use crate::session::Account;

/// What pulling one folder did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Files merged.
    pub merged_files: usize,
    /// Conflict copies merged and removed.
    pub copies_removed: usize,
    /// Items whose versions changed.
    pub changed_items: usize,
    /// Those items.
    pub changed: BTreeSet<ItemId>,
    /// Stale files of an earlier epoch moved to the trash.
    pub stale_retired: usize,
}

/// Pulls every sync folder of `account`: merges the files that changed
/// since they were last merged, and updates each folder's health.
pub fn pull_all(account: &mut Account, key: Option<&SecretKey>, policy: Policy) -> Pulled {
    let mut total = Pulled::default();
    let folders = account.device.sync_folders.clone();
    for folder in &folders {
        let p = pull_folder(account, key, folder, policy);
        for (other, ledger) in account.sync.ledgers.iter_mut() {
            if other != folder {
                ledger.pending.extend(p.changed.iter().copied());
            }
        }
        total.merged_files += p.merged_files;
        total.copies_removed += p.copies_removed;
        total.stale_retired += p.stale_retired;
        total.changed.extend(p.changed);
    }
    total.changed_items = total.changed.len();
    total
}

fn pull_folder(
    account: &mut Account,
    key: Option<&SecretKey>,
    folder: &Path,
    policy: Policy,
) -> Pulled {
    let mut out = Pulled::default();
    let now = now_ms();
    let dev = &account.device;
    let (account_id, epoch, device_id) = (dev.account_id, dev.epoch, dev.device_id.clone());
    let dir = layout::account_dir(folder, &account_id);
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    health.spacing.new_round(removal::count_files(&dir));
    if !folder.is_dir() {
        health.unreachable = Some(format!("{} is missing or not a folder", folder.display()));
        return out;
    }
    health.unreachable = None;
    if let Err(e) = coffer_proto::dirs::create_private_dir(&dir) {
        health.unreachable = Some(format!("cannot create {}: {e}", dir.display()));
        return out;
    }
    let own = dir.join(device_file_name(&device_id));
    // This device's snapshot as it published it: gone or replaced now means
    // something else did it (the ledger writes it again this round). Each
    // disappearance counts once (the snapshot written again has a new
    // stamp), however many rounds pass before it is written again.
    let snapshot = account
        .sync
        .ledgers
        .get(folder)
        .and_then(|l| l.snapshot_stamp());
    if snapshot.is_some() && health.own_loss_noted != snapshot {
        let mut published = snapshot;
        own_file::check(&mut published, &mut health.own_losses, &own, now);
        if published.is_none() {
            health.own_loss_noted = snapshot;
        }
    }
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut entries: Vec<(PathBuf, Entry)> = rd
        .flatten()
        .map(|e| (e.path(), classify(&e.file_name().to_string_lossy())))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = BTreeMap::new();
    let mut stale_seen = Vec::new();
    let mut by_device: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    // Device files found unchanged since they were taken, or taken now.
    let mut taken_files = BTreeSet::new();
    // Forget files that are gone (a device retired them).
    account
        .sync
        .stamps
        .retain(|p, _| !p.starts_with(&dir) || entries.iter().any(|(q, _)| q == p));
    for (path, entry) in &entries {
        let Some(owner) = entry.device_id() else {
            // Another device's header changes and unlock keys (and their
            // copies) are read by `header_watch`; here they are only
            // counted when of an earlier epoch, so that they go with the
            // rest of a device that never came back. The header and its
            // copies: see `header` below.
            if entry.owner().is_some_and(|o| o != device_id) {
                if let Some(found) = stale::epoch_of(path, entry, &mut account.sync.epochs) {
                    if found < epoch {
                        stale_seen.push((path.clone(), found, stale::modified_ms(path)));
                    }
                }
            }
            continue;
        };
        if owner == device_id && !entry.is_conflict() {
            continue; // ours: published separately
        }
        // Unchanged since it was taken (same inode, size and mtime): skip.
        let stamp = file_stamp(path);
        if stamp.is_some() && account.sync.stamps.get(path) == stamp.as_ref() {
            if entry.is_conflict() {
                out.copies_removed += remove_copy(account, folder, path, now);
            } else {
                taken_files.insert(path.clone());
            }
            continue;
        }
        // A stale file already read: not again.
        if let Some((s, e)) = account.sync.epochs.get(path) {
            if Some(*s) == stamp && *e < epoch {
                stale_seen.push((path.clone(), *e, stale::modified_ms(path)));
                continue;
            }
        }
        by_device
            .entry(owner.to_owned())
            .or_default()
            .push(Candidate {
                path: path.clone(),
                stamp,
                is_copy: entry.is_conflict(),
            });
    }
    let seen = account.sync.seen.entry(folder.to_owned()).or_default();
    let mut copies_done = Vec::new();
    for (owner, candidates) in by_device {
        let merged = seen.entry(owner).or_default();
        let r = read_device(&mut account.replica, key, merged, candidates);
        out.merged_files += r.merged;
        out.changed.extend(r.changed);
        for (path, stamp) in r.taken {
            if let Some(st) = stamp {
                account.sync.stamps.insert(path.clone(), st);
            }
            taken_files.insert(path);
        }
        for (path, stamp, found) in r.stale {
            // Stale: never merged; its device retires it, or it goes later.
            if let Some(st) = stamp {
                account.sync.epochs.insert(path.clone(), (st, found));
            }
            let modified = stale::modified_ms(&path);
            stale_seen.push((path, found, modified));
        }
        copies_done.extend(r.copies_done);
        problems.extend(r.problems);
    }
    for path in copies_done {
        // Its content is merged: the copy can go.
        out.copies_removed += remove_copy(account, folder, &path, now);
    }
    out.changed_items = out.changed.len();
    // The devices whose current files are here (for header_restore), and
    // how many device files are current.
    let mut current_ids = BTreeSet::from([device_id.clone()]);
    let own_here = own.exists();
    let mut device_files = usize::from(own_here);
    for (path, entry) in &entries {
        if let Entry::DeviceFile { device_id: d } = entry {
            if *d != device_id && taken_files.contains(path) && !problems.contains_key(path) {
                device_files += 1;
                current_ids.insert(d.clone());
            }
        }
    }
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    // A problem writing one of this device's own files stands until a write
    // succeeds (the publish step), which happens after the state lock is
    // released: a status in between must still show it.
    let own_problems: Vec<(PathBuf, (String, u64))> = health
        .problems
        .iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| classify(&n.to_string_lossy()).owner() == Some(device_id.as_str()))
        })
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect();
    health.set_problems(problems);
    for (path, problem) in own_problems {
        health.problems.entry(path).or_insert(problem);
    }
    health.stale.replace(stale_seen, now);
    if let Some(path) = health.stale.due(policy, now) {
        match health.spacing.remove_with(&path, now, removal::to_trash) {
            Removal::Done => {
                tracing::info!(path = %path.display(), "moved a stale sync file of an earlier epoch, which nobody retired, to the trash");
                health.stale.retired(&path, now);
                out.stale_retired += 1;
            }
            Removal::Failed => health.stale.attempted(now),
            Removal::Waiting => {}
        }
    }
    health.device_files = device_files;
    health.last_merge_ms = Some(now);
    // This device's file renamed away by an engine (its copies just made):
    // written again only once the engine is done with them.
    health.publish_hold_until = if own_here {
        None
    } else {
        entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::DeviceConflict { device_id: d } if *d == device_id))
            .filter_map(|(c, _)| removal::settles_at(c))
            .max()
            .filter(|at| *at > now)
    };
    header(account, folder, &dir, &current_ids, now);
    out
}

/// The folder's `account.json`: ours goes where it is missing or older, and
/// a header of the same epoch from a reset that lost is replaced too; where
/// an engine renamed it away, one device at a time puts it back
/// (`header_restore`). Then the copies it supersedes are retired.
fn header(account: &mut Account, folder: &Path, dir: &Path, current: &BTreeSet<String>, now: u64) {
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    let restore = if layout::header_missing_with_copies(dir) {
        let since = *health.header_missing_since.get_or_insert(now);
        // Not before the engine is done with the copies it just made.
        let settled = layout::header_copies(dir)
            .iter()
            .filter_map(|c| removal::settles_at(c))
            .max()
            .unwrap_or(0);
        let at = header_restore::restore_at(&account.device.device_id, current, since).max(settled);
        health.header_restore_at = (now < at).then_some(at);
        if now < at {
            tracing::debug!(folder = %folder.display(), "account.json was renamed away by an engine; another device puts it back");
        }
        now >= at
    } else {
        health.header_missing_since = None;
        health.header_restore_at = None;
        true
    };
    if restore {
        layout::publish_header(
            std::slice::from_ref(&folder.to_owned()),
            &account.header,
            layout::Rewrite::IfNotOurs,
        );
    }
    layout::retire_header_copies(dir, &mut health.spacing, true, now);
}

/// Removes a merged conflict copy when the folder's spacing allows (see
/// `removal`: a copy of this device's own file too). Returns 1 when it went.
fn remove_copy(account: &mut Account, folder: &Path, path: &Path, now: u64) -> usize {
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    let gone = health
        .spacing
        .remove_with(path, now, removal::unlink)
        .done();
    if gone {
        account.sync.stamps.remove(path);
    }
    usize::from(gone)
}
