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
//! (`removal`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use coffer_vault::format::SyncFile;
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, device_file_name, Entry};

use super::layout::{self, file_stamp, MAX_FILE};
use super::removal::{self, Removal};
use super::stale::{self, Policy};
use super::{header_restore, own_file};
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
        total.merged_files += p.merged_files;
        total.copies_removed += p.copies_removed;
        total.changed_items += p.changed_items;
        total.stale_retired += p.stale_retired;
    }
    total
}

/// One file of another device (or a conflict copy) and what it is.
struct Found {
    path: PathBuf,
    /// A conflict copy, not the device file itself.
    copy: bool,
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
    let mut published = account.sync.published.get(folder).and_then(|p| p.stamp);
    own_file::check(&mut published, &mut health.own_losses, &own, now);
    if published.is_none() {
        if let Some(p) = account.sync.published.get_mut(folder) {
            p.stamp = None;
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
    let mut seen_problems = BTreeMap::new();
    let mut stale_seen = Vec::new();
    let mut device_files = 0;
    // The devices whose current files are here (for header_restore).
    let mut current_ids = BTreeSet::from([device_id.clone()]);
    for (path, entry) in entries {
        let found = match &entry {
            Entry::DeviceFile { device_id: d } if *d == device_id => {
                device_files += 1;
                continue; // ours: published separately
            }
            Entry::DeviceFile { .. } => Found { path, copy: false },
            Entry::DeviceConflict { .. } => Found { path, copy: true },
            // Another device's header changes and unlock keys (and their
            // copies) are read by `header_watch`; here they are only
            // counted when of an earlier epoch, so that they go with the
            // rest of a device that never came back.
            e if e.owner().is_some_and(|o| o != device_id) => {
                if let Some(found) = stale::epoch_of(&path, e, &mut account.sync.epochs) {
                    if found < epoch {
                        stale_seen.push((path.clone(), found, stale::modified_ms(&path)));
                    }
                }
                continue;
            }
            _ => continue, // the header and its copies: see `header` below
        };
        // Unchanged since it was merged (same inode, size and mtime): skip.
        let stamp = file_stamp(&found.path);
        if stamp.is_some() && account.sync.stamps.get(&found.path) == stamp.as_ref() {
            if found.copy {
                out.copies_removed += remove_copy(account, folder, &found, now);
            } else {
                device_files += 1;
                current_ids.extend(entry.device_id().map(str::to_owned));
            }
            continue;
        }
        // A stale file already read: not again.
        if let Some((s, e)) = account.sync.epochs.get(&found.path) {
            if Some(*s) == stamp && *e < epoch {
                stale_seen.push((found.path.clone(), *e, stale::modified_ms(&found.path)));
                continue;
            }
        }
        let parsed = fsutil::read_bounded(&found.path, MAX_FILE)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|b| {
                SyncFile::from_bytes(&b).map_err(|e| format!("cannot parse ({e}); will retry"))
            });
        let file = match parsed {
            Ok(f) => f,
            Err(reason) => {
                seen_problems.insert(found.path, reason);
                continue;
            }
        };
        if file.account_id != account_id {
            seen_problems.insert(
                found.path,
                format!(
                    "belongs to account {}, not this one; ignored",
                    file.account_id
                ),
            );
            continue;
        }
        if file.epoch < epoch {
            // Stale: never merged; its device retires it, or it goes later.
            if let Some(st) = stamp {
                account
                    .sync
                    .epochs
                    .insert(found.path.clone(), (st, file.epoch));
            }
            stale_seen.push((
                found.path.clone(),
                file.epoch,
                stale::modified_ms(&found.path),
            ));
            continue;
        }
        if file.epoch != epoch {
            seen_problems.insert(
                found.path,
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
                    account.sync.stamps.insert(found.path.clone(), st);
                }
                out.merged_files += 1;
                out.changed_items += outcome.changed_items;
                if !outcome.rejected.is_empty() {
                    seen_problems.insert(
                        found.path,
                        format!(
                            "{} record(s) do not open (tampered, or moved from elsewhere); they were not merged",
                            outcome.rejected.len()
                        ),
                    );
                } else if found.copy {
                    // Its content is merged: the copy can go.
                    out.copies_removed += remove_copy(account, folder, &found, now);
                } else {
                    device_files += 1;
                    current_ids.extend(entry.device_id().map(str::to_owned));
                }
            }
            Err(e) => {
                seen_problems.insert(found.path, format!("not merged: {e}"));
            }
        }
    }
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    // A problem writing this device's own file stands until a write
    // succeeds (the publish step), which happens after the state lock is
    // released: a status in between must still show it.
    let own_problem = health.problems.remove(&own);
    health.set_problems(seen_problems);
    if let Some(problem) = own_problem {
        health.problems.entry(own.clone()).or_insert(problem);
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
    health.publish_hold_until = if own.exists() {
        None
    } else {
        layout::own_files(&dir, &device_id)
            .iter()
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    matches!(classify(&n.to_string_lossy()), Entry::DeviceConflict { .. })
                })
            })
            .filter_map(|c| removal::settles_at(c))
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
fn remove_copy(account: &mut Account, folder: &Path, found: &Found, now: u64) -> usize {
    let health = account.sync.folders.entry(folder.to_owned()).or_default();
    let gone = health
        .spacing
        .remove_with(&found.path, now, removal::unlink)
        .done();
    if gone {
        account.sync.stamps.remove(&found.path);
    }
    usize::from(gone)
}
