//! Reading other devices' files (and every engine's conflict copy of them)
//! in a sync folder and merging them into the replica.
//!
//! Nothing is ever concluded from a missing file (the merge is a union),
//! and a file that cannot be read or parsed is reported and retried, never
//! written over. A conflict copy is removed once its content is merged
//! (that is not user data any more); header copies go to the trash. Which
//! of a device's files need reading at all is [`super::read`]'s.
//!
//! What a merge from one folder changed is pending for this device's other
//! folders (a device in two folders carries changes between them), not for
//! the folder it came from, which has it already.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use coffer_vault::ids::ItemId;
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, Entry};

use super::layout::{self, file_stamp};
use super::read::{read_device, Candidate};
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
}

/// Pulls every sync folder of `account`: merges the files that changed
/// since they were last merged, and updates each folder's health.
pub fn pull_all(account: &mut Account, key: Option<&SecretKey>) -> Pulled {
    let mut total = Pulled::default();
    let folders = account.device.sync_folders.clone();
    for folder in &folders {
        let p = pull_folder(account, key, folder);
        for (other, ledger) in account.sync.ledgers.iter_mut() {
            if other != folder {
                ledger.pending.extend(p.changed.iter().copied());
            }
        }
        total.merged_files += p.merged_files;
        total.copies_removed += p.copies_removed;
        total.changed.extend(p.changed);
    }
    total.changed_items = total.changed.len();
    total
}

fn pull_folder(account: &mut Account, key: Option<&SecretKey>, folder: &Path) -> Pulled {
    let mut out = Pulled::default();
    let dev = &account.device;
    let (account_id, device_id) = (dev.account_id, dev.device_id.clone());
    let dir = layout::account_dir(folder, &account_id);
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    if !folder.is_dir() {
        health.unreachable = Some(format!("{} is missing or not a folder", folder.display()));
        return out;
    }
    health.unreachable = None;
    if let Err(e) = coffer_proto::dirs::create_private_dir(&dir) {
        health.unreachable = Some(format!("cannot create {}: {e}", dir.display()));
        return out;
    }
    // Our header goes where it is missing or older; a header of the same
    // epoch from a reset that lost is replaced too.
    layout::publish_header(
        std::slice::from_ref(&folder.to_owned()),
        &account.header,
        layout::Rewrite::IfNotOurs,
    );
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut entries: Vec<(PathBuf, Entry)> = rd
        .flatten()
        .map(|e| (e.path(), classify(&e.file_name().to_string_lossy())))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = BTreeMap::new();
    let mut device_files = 0;
    let mut by_device: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    let stamps = &mut account.sync.stamps;
    // Forget files that are gone (a device retired them).
    stamps.retain(|p, _| !p.starts_with(&dir) || entries.iter().any(|(q, _)| q == p));
    for (path, entry) in &entries {
        if matches!(entry, Entry::AccountHeaderConflict { .. }) {
            // Headers were weighed before the pull; the copy is retired.
            layout::retire(path);
            continue;
        }
        if matches!(entry, Entry::DeviceFile { .. }) {
            device_files += 1;
        }
        let Some(owner) = entry.device_id() else {
            continue;
        };
        if owner == device_id && !entry.is_conflict() {
            continue; // ours: published separately
        }
        // Unchanged since it was taken (same inode, size and mtime): skip.
        let stamp = file_stamp(path);
        if stamp.is_some() && stamps.get(path) == stamp.as_ref() {
            continue;
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
    for (owner, candidates) in by_device {
        let merged = seen.entry(owner).or_default();
        let r = read_device(&mut account.replica, key, merged, candidates);
        out.merged_files += r.merged;
        out.changed.extend(r.changed);
        for (path, stamp) in r.taken {
            if let Some(st) = stamp {
                account.sync.stamps.insert(path, st);
            }
        }
        for path in r.copies_done {
            // Its content is merged: the copy can go.
            if std::fs::remove_file(&path).is_ok() {
                out.copies_removed += 1;
            }
        }
        problems.extend(r.problems);
    }
    out.changed_items = out.changed.len();
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    // A problem writing one of this device's own files stands until a write
    // succeeds (the publish step), which happens after the state lock is
    // released: a status in between must still show it.
    let own_problems: Vec<(PathBuf, (String, u64))> = health
        .problems
        .iter()
        .filter(|(p, _)| {
            p.file_name().is_some_and(|n| {
                classify(&n.to_string_lossy()).device_id() == Some(device_id.as_str())
            })
        })
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect();
    health.set_problems(problems);
    for (path, problem) in own_problems {
        health.problems.entry(path).or_insert(problem);
    }
    health.device_files = device_files;
    health.last_merge_ms = Some(now_ms());
    out
}
