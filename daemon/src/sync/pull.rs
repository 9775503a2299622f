//! Reading other devices' files (and every engine's conflict copy of them)
//! in a sync folder and merging them into the replica.
//!
//! Nothing is ever concluded from a missing file (the merge is a union),
//! and a file that cannot be read or parsed is reported and retried, never
//! written over. A conflict copy is removed once its content is merged
//! (that is not user data any more); header copies go to the trash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coffer_vault::format::SyncFile;
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, device_file_name, Entry};

use super::layout::{self, file_stamp, MAX_FILE};
use crate::daemon::now_ms;
use crate::session::Account;
use crate::store::fsutil;

/// What pulling one folder did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Files merged.
    pub merged_files: usize,
    /// Conflict copies merged and removed.
    pub copies_removed: usize,
    /// Items whose versions changed.
    pub changed_items: usize,
}

/// Pulls every sync folder of `account`: merges the files that changed
/// since they were last merged, and updates each folder's health.
pub fn pull_all(account: &mut Account, key: Option<&SecretKey>) -> Pulled {
    let mut total = Pulled::default();
    let folders = account.device.sync_folders.clone();
    for folder in &folders {
        let p = pull_folder(account, key, folder);
        total.merged_files += p.merged_files;
        total.copies_removed += p.copies_removed;
        total.changed_items += p.changed_items;
    }
    total
}

fn pull_folder(account: &mut Account, key: Option<&SecretKey>, folder: &Path) -> Pulled {
    let mut out = Pulled::default();
    let dev = &account.device;
    let (account_id, epoch, device_id) = (dev.account_id, dev.epoch, dev.device_id.clone());
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
    let mut seen_problems = BTreeMap::new();
    let mut device_files = 0;
    for (path, entry) in entries {
        let is_copy = match &entry {
            Entry::DeviceFile { device_id: d } => {
                device_files += 1;
                if *d == device_id {
                    continue; // ours: published separately
                }
                false
            }
            Entry::DeviceConflict { .. } => true,
            Entry::AccountHeaderConflict { .. } => {
                // Headers were weighed before the pull; the copy is retired.
                layout::retire(&path);
                continue;
            }
            _ => continue,
        };
        // Unchanged since it was merged (same inode, size and mtime): skip.
        let stamp = file_stamp(&path);
        if stamp.is_some() && account.sync.stamps.get(&path) == stamp.as_ref() {
            continue;
        }
        let parsed = fsutil::read_bounded(&path, MAX_FILE)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|b| {
                SyncFile::from_bytes(&b).map_err(|e| format!("cannot parse ({e}); will retry"))
            });
        let file = match parsed {
            Ok(f) => f,
            Err(reason) => {
                seen_problems.insert(path, reason);
                continue;
            }
        };
        if file.account_id != account_id {
            seen_problems.insert(
                path,
                format!(
                    "belongs to account {}, not this one; ignored",
                    file.account_id
                ),
            );
            continue;
        }
        if file.epoch != epoch {
            seen_problems.insert(
                path,
                format!(
                    "is from epoch {} but this device is on epoch {epoch}; not merged",
                    file.epoch
                ),
            );
            continue;
        }
        match account.replica.merge_sync_file(&file, key) {
            Ok(outcome) => {
                if let Some(st) = stamp {
                    account.sync.stamps.insert(path.clone(), st);
                }
                out.merged_files += 1;
                out.changed_items += outcome.changed_items;
                if !outcome.rejected.is_empty() {
                    seen_problems.insert(
                        path,
                        format!(
                            "{} record(s) do not open (tampered, or moved from elsewhere); they were not merged",
                            outcome.rejected.len()
                        ),
                    );
                } else if is_copy {
                    // Its content is merged: the copy can go.
                    if std::fs::remove_file(&path).is_ok() {
                        out.copies_removed += 1;
                    }
                }
            }
            Err(e) => {
                seen_problems.insert(path, format!("not merged: {e}"));
            }
        }
    }
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    // A problem writing this device's own file stands until a write
    // succeeds (the publish step), which happens after the state lock is
    // released: a status in between must still show it.
    let own = dir.join(device_file_name(&device_id));
    let own_problem = health.problems.remove(&own);
    health.set_problems(seen_problems);
    if let Some(problem) = own_problem {
        health.problems.entry(own).or_insert(problem);
    }
    health.device_files = device_files;
    health.last_merge_ms = Some(now_ms());
    out
}
