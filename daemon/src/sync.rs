//! Sync rounds: read every device file (and every engine's conflict copy)
//! in every sync folder, merge them into the local replica, publish this
//! device's own file, and notice account resets.
//!
//! A sync folder `F` holds the account in `F/<account_id>/`:
//! `account.json` and one `device-<id>.cofsync` per device, each written
//! only by its own device. Nothing is ever concluded from a missing file
//! (the merge is a union), and a file that cannot be read or parsed is
//! reported (in `status` and `sync list`) and retried, never written over.
//! Conflict copies of device files are removed once merged; other files
//! coffer retires go to the trash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_proto::reply::{Event, FileProblem, ResetDetails, State, SyncFolderInfo, SyncReport};
use coffer_vault::account::AccountHeader;
use coffer_vault::format::SyncFile;

use crate::daemon::{blake_hash, container_path, now_ms, Daemon, Inner};
use crate::sync_names::{classify, device_file_name, Entry, ACCOUNT_FILE};

/// The largest sync file or header coffer reads (a hostile file cannot
/// exhaust memory).
const MAX_FILE: u64 = 512 * 1024 * 1024;

/// Health of one sync folder.
#[derive(Debug, Clone, Default)]
pub struct FolderHealth {
    pub(crate) last_merge_ms: Option<u64>,
    pub(crate) device_files: usize,
    pub(crate) problems: BTreeMap<PathBuf, (String, u64)>,
    pub(crate) unreachable: Option<String>,
    pub(crate) polled: bool,
}

/// The folders as `status` and `sync list` show them.
pub fn folder_infos(inner: &Inner) -> Vec<SyncFolderInfo> {
    inner
        .folders
        .iter()
        .map(|(path, h)| {
            let mut problems: Vec<FileProblem> = h
                .problems
                .iter()
                .map(|(p, (reason, since))| FileProblem {
                    path: p.clone(),
                    reason: reason.clone(),
                    since_ms: *since,
                })
                .collect();
            if let Some(u) = &h.unreachable {
                problems.insert(
                    0,
                    FileProblem {
                        path: path.clone(),
                        reason: u.clone(),
                        since_ms: 0,
                    },
                );
            }
            SyncFolderInfo {
                path: path.clone(),
                health: if h.unreachable.is_some() {
                    "unreachable".into()
                } else if h.problems.is_empty() {
                    "ok".into()
                } else {
                    "problems".into()
                },
                last_merge_ms: h.last_merge_ms,
                device_files: h.device_files,
                problems,
                watch: if h.polled {
                    "poll".into()
                } else {
                    "notify".into()
                },
            }
        })
        .collect()
}

/// What this device last wrote to one sync folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    /// The bytes' hash.
    pub(crate) hash: crate::daemon::blake_hash::Hash,
    /// The file as written (inode, size, mtime), to notice an engine
    /// replacing or dropping it without reading it back.
    pub(crate) stamp: Option<FileStamp>,
    /// The replica they were serialized from.
    pub(crate) fingerprint: Fingerprint,
}

/// What changes whenever this device's sync file would: every write and
/// merge moves the version vector or the clock; the name is in the file.
pub(crate) type Fingerprint = (
    coffer_vault::vv::VersionVector,
    coffer_vault::hlc::Hlc,
    String,
);

fn fingerprint(r: &coffer_vault::replica::Replica) -> Fingerprint {
    (
        r.state().vv().clone(),
        r.clock(),
        r.device_name().to_owned(),
    )
}

/// What identifies one version of a file: inode, size, mtime.
pub(crate) type FileStamp = (u64, u64, i64, i64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

fn read_header(path: &Path) -> Result<AccountHeader, String> {
    let bytes = crate::fsutil::read_bounded(path, 1024 * 1024).map_err(|e| e.to_string())?;
    AccountHeader::from_json(&bytes).map_err(|e| e.to_string())
}

/// Every readable header of the account in `dir` with its path.
fn headers_in(dir: &Path) -> Vec<(PathBuf, AccountHeader)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if matches!(
            classify(&name),
            Entry::AccountHeader | Entry::AccountHeaderConflict { .. }
        ) {
            if let Ok(h) = read_header(&e.path()) {
                out.push((e.path(), h));
            }
        }
    }
    out
}

/// The newest header of the account with `email` in any of `folders`.
pub fn find_account(folders: &[PathBuf], email: &str) -> Option<AccountHeader> {
    let mut best: Option<AccountHeader> = None;
    for f in folders {
        let Ok(rd) = std::fs::read_dir(f) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.path().is_dir() {
                continue;
            }
            for (_, h) in headers_in(&e.path()) {
                if h.email.eq_ignore_ascii_case(email)
                    && e.file_name().to_string_lossy() == h.account_id.to_string()
                    && best
                        .as_ref()
                        .is_none_or(|b| h.precedence() > b.precedence())
                {
                    best = Some(h);
                }
            }
        }
    }
    best
}

/// The best header of `account_id` across `folders`.
fn best_header(folders: &[PathBuf], account_id: &uuid::Uuid) -> Option<AccountHeader> {
    folders
        .iter()
        .flat_map(|f| headers_in(&f.join(account_id.to_string())))
        .map(|(_, h)| h)
        .filter(|h| h.account_id == *account_id)
        .max_by(|a, b| a.precedence().cmp(&b.precedence()))
}

/// The newest header a device in state `reset` knows, kept beside its device record: the
/// device puts it back in any sync folder that holds an older one (an engine replaying an old
/// version), since nobody else may be signed in to do it.
const RESET_HEADER: &str = "reset-header.json";

/// Keeps `header` as the newest one this device knows while in state `reset`.
pub(crate) fn keep_reset_header(
    dirs: &coffer_proto::dirs::Dirs,
    header: &AccountHeader,
) -> std::io::Result<()> {
    crate::fsutil::write_atomic(&dirs.data.join(RESET_HEADER), &header.to_json(), 0o600)
}

/// The header kept by [`keep_reset_header`], if any.
pub(crate) fn kept_reset_header(dirs: &coffer_proto::dirs::Dirs) -> Option<AccountHeader> {
    read_header(&dirs.data.join(RESET_HEADER)).ok()
}

/// Forgets the kept header (a login or logout ends state `reset`).
pub(crate) fn forget_reset_header(dirs: &coffer_proto::dirs::Dirs) {
    let _ = std::fs::remove_file(dirs.data.join(RESET_HEADER));
}

/// Puts `best` as `account.json` in every reachable folder that holds an older header (or none),
/// and retires the header conflict copies that `best` supersedes.
fn republish_header(folders: &[PathBuf], best: &AccountHeader) {
    for f in folders {
        if !f.is_dir() {
            continue;
        }
        let dir = f.join(best.account_id.to_string());
        if coffer_proto::dirs::create_private_dir(&dir).is_err() {
            continue;
        }
        let path = dir.join(ACCOUNT_FILE);
        let stale = match read_header(&path) {
            Ok(h) => h.precedence() < best.precedence(),
            // Missing or empty; a file that does not parse may be half delivered: left alone.
            Err(_) => {
                !path.exists()
                    || std::fs::metadata(&path)
                        .map(|m| m.len() == 0)
                        .unwrap_or(true)
            }
        };
        if stale {
            tracing::info!(path = %path.display(), epoch = best.epoch, "putting the newest account header back");
            if let Err(e) = crate::fsutil::write_atomic(&path, &best.to_json(), 0o644) {
                tracing::warn!(path = %path.display(), error = %e, "could not write the account header");
                continue;
            }
        }
        for (copy, h) in headers_in(&dir) {
            let is_copy = copy.file_name().is_some_and(|n| {
                matches!(
                    classify(&n.to_string_lossy()),
                    Entry::AccountHeaderConflict { .. }
                )
            });
            if is_copy && h.precedence() <= best.precedence() {
                if let Err(e) = crate::trash::move_to_trash(&copy) {
                    tracing::debug!(path = %copy.display(), error = %e, "could not trash a header conflict copy");
                }
            }
        }
    }
}

/// Runs one round. With `publish`, this device's file is (re)written even
/// when nothing new arrived.
pub async fn round(daemon: &Arc<Daemon>, publish: bool) -> SyncReport {
    // One round at a time, so that files are published in order.
    let _one = daemon.round_lock.lock().await;
    let mut inner = daemon.inner.lock().await;
    let mut plan = None;
    let mut report = round_merge(daemon, &mut inner, publish, &mut plan);
    if let Some(plan) = plan {
        // Serializing and writing the state (tens of ms at 10,000 items)
        // happens without the state lock: requests go on meanwhile.
        drop(inner);
        let written = match tokio::task::spawn_blocking(move || plan.write()).await {
            Ok(w) => w,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        inner = daemon.inner.lock().await;
        written.commit(&mut inner);
        report.folders = folder_infos(&inner);
    }
    let problems: usize = inner.folders.values().map(|h| h.problems.len()).sum();
    drop(inner);
    daemon.emit(Event::Synced {
        new_versions: report.new_versions,
        problems,
    });
    report
}

/// The part of a round that needs the state: headers, resets, merging the
/// other devices' files; sets `plan` to what to publish.
fn round_merge(
    daemon: &Daemon,
    inner: &mut Inner,
    publish: bool,
    plan: &mut Option<Publish>,
) -> SyncReport {
    let mut report = SyncReport {
        merged_files: 0,
        conflict_copies_removed: 0,
        new_versions: 0,
        folders: vec![],
    };
    let Some(dev) = inner.device.clone() else {
        return report;
    };
    let folders = dev.sync_folders.clone();
    if dev.reset.is_some() {
        watch_reset_state(daemon, inner);
        report.folders = folder_infos(inner);
        return report;
    }
    let Some(our_header) = inner.header.clone() else {
        return report;
    };
    // 1. The account header: resets and concurrent resets.
    if let Some(best) = best_header(&folders, &dev.account_id) {
        let newer_epoch = best.epoch > our_header.epoch;
        let lost_same_epoch = best.epoch == our_header.epoch
            && best.reset != our_header.reset
            && best.precedence() > our_header.precedence();
        if newer_epoch || lost_same_epoch {
            enter_reset(
                daemon,
                inner,
                &best,
                lost_same_epoch.then(|| {
                    "this device was signed in to a reset that lost to a concurrent one".to_owned()
                }),
            );
            report.folders = folder_infos(inner);
            return report;
        }
    }
    let key = inner.key.clone();
    let mut changed = 0usize;
    for folder in &folders {
        let dir = folder.join(dev.account_id.to_string());
        let health = inner.folders.entry(folder.clone()).or_default();
        if !folder.is_dir() {
            health.unreachable = Some(format!("{} is missing or not a folder", folder.display()));
            continue;
        }
        health.unreachable = None;
        if let Err(e) = coffer_proto::dirs::create_private_dir(&dir) {
            health.unreachable = Some(format!("cannot create {}: {e}", dir.display()));
            continue;
        }
        // Our header goes where it is missing or older; a newer-lineage
        // header of the same epoch that lost is replaced too.
        let header_path = dir.join(ACCOUNT_FILE);
        let rewrite = match read_header(&header_path) {
            Ok(h) => {
                h.epoch < our_header.epoch
                    || (h.epoch == our_header.epoch && h.reset != our_header.reset)
            }
            Err(_) => {
                !header_path.exists()
                    || std::fs::metadata(&header_path)
                        .map(|m| m.len() == 0)
                        .unwrap_or(true)
            }
        };
        if rewrite {
            if let Err(e) = crate::fsutil::write_atomic(&header_path, &our_header.to_json(), 0o644)
            {
                tracing::warn!(path = %header_path.display(), error = %e, "could not write the account header");
            }
        }
        let mut seen_problems = BTreeMap::new();
        let mut device_files = 0;
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<(PathBuf, Entry)> = rd
            .flatten()
            .map(|e| (e.path(), classify(&e.file_name().to_string_lossy())))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, entry) in entries {
            let is_copy = match &entry {
                Entry::DeviceFile { device_id } => {
                    device_files += 1;
                    if *device_id == dev.device_id {
                        continue; // ours: published below
                    }
                    false
                }
                Entry::DeviceConflict { .. } => true,
                Entry::AccountHeaderConflict { .. } => {
                    // Headers were weighed above; the copy is retired to the trash.
                    if let Err(e) = crate::trash::move_to_trash(&path) {
                        tracing::debug!(path = %path.display(), error = %e, "could not trash a header conflict copy");
                    }
                    continue;
                }
                _ => continue,
            };
            // Unchanged since it was merged (same inode, size and mtime): skip.
            let stamp = file_stamp(&path);
            if stamp.is_some() && inner.file_stamps.get(&path) == stamp.as_ref() {
                continue;
            }
            let parsed = crate::fsutil::read_bounded(&path, MAX_FILE)
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
            if file.account_id != dev.account_id {
                seen_problems.insert(
                    path,
                    format!(
                        "belongs to account {}, not this one; ignored",
                        file.account_id
                    ),
                );
                continue;
            }
            if file.epoch != dev.epoch {
                seen_problems.insert(
                    path,
                    format!(
                        "is from epoch {} but this device is on epoch {}; not merged",
                        file.epoch, dev.epoch
                    ),
                );
                continue;
            }
            let Some(replica) = inner.replica.as_mut() else {
                break;
            };
            match replica.merge_sync_file(&file, key.as_ref()) {
                Ok(outcome) => {
                    if let Some(st) = stamp {
                        inner.file_stamps.insert(path.clone(), st);
                    }
                    report.merged_files += 1;
                    changed += outcome.changed_items;
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
                            report.conflict_copies_removed += 1;
                        }
                    }
                }
                Err(e) => {
                    seen_problems.insert(path, format!("not merged: {e}"));
                }
            }
        }
        let health = inner.folders.entry(folder.clone()).or_default();
        let now = now_ms();
        let mut old = std::mem::take(&mut health.problems);
        for (p, reason) in seen_problems {
            let since = old.get(&p).map_or(now, |(_, s)| *s);
            tracing::warn!(path = %p.display(), %reason, "sync file problem");
            health.problems.insert(p, (reason, since));
        }
        // A problem writing this device's own file stands until a write
        // succeeds (`Written::commit`), which happens after the lock is
        // released: a status in between must still show it.
        let own = dir.join(device_file_name(&dev.device_id));
        if let Some(problem) = old.remove(&own) {
            health.problems.entry(own).or_insert(problem);
        }
        health.device_files = device_files;
        health.last_merge_ms = Some(now);
    }
    report.new_versions = changed;
    if changed > 0 {
        let saved = if inner.key.is_some() {
            daemon.resolve_and_save(inner)
        } else {
            daemon.save_container(inner)
        };
        if let Err(e) = saved {
            tracing::error!(error = %e.message, "could not save the merged container");
        }
    }
    // 2. This device's file: written after the state lock is released
    // (see `Publish`), unless nothing changed since it was written in every
    // folder and each file is still the one it wrote (serializing the whole
    // state again, tens of ms at 10,000 items, would change nothing).
    if let Some(replica) = inner.replica.as_ref() {
        let fp = fingerprint(replica);
        let own_path = |folder: &PathBuf| {
            folder
                .join(dev.account_id.to_string())
                .join(device_file_name(&dev.device_id))
        };
        let unchanged = !publish
            && changed == 0
            && folders.iter().all(|folder| {
                inner.published.get(folder).is_some_and(|p| {
                    p.fingerprint == fp
                        && p.stamp.is_some()
                        && p.stamp == file_stamp(&own_path(folder))
                })
            });
        if !unchanged {
            *plan = Some(Publish {
                account_id: dev.account_id,
                epoch: dev.epoch,
                device_id: dev.device_id.clone(),
                file: replica.to_sync_file(),
                fingerprint: fp,
                force: publish || changed > 0,
                targets: folders
                    .iter()
                    .map(|f| {
                        (
                            f.clone(),
                            own_path(f),
                            inner.published.get(f).map(|p| p.hash),
                        )
                    })
                    .collect(),
            });
        }
    }
    report.folders = folder_infos(inner);
    tracing::debug!(
        merged_files = report.merged_files,
        new_versions = report.new_versions,
        conflict_copies_removed = report.conflict_copies_removed,
        "sync round"
    );
    report
}

/// This device's sync file to write into its folders, taken from the
/// replica under the state lock and written without it: serialized, and
/// written to temp files beside the targets ([`Publish::write`]); then,
/// under the lock again, renamed into place only if the device is still
/// signed in to that account and epoch and still syncs with that folder
/// ([`Written::commit`]), so a reset or logout in between never sees an old
/// epoch's file appear after it.
struct Publish {
    account_id: uuid::Uuid,
    epoch: u64,
    device_id: String,
    file: coffer_vault::format::SyncFile,
    fingerprint: Fingerprint,
    /// Write even where the file seems current.
    force: bool,
    /// Folder, this device's file in it, and the hash last written there.
    targets: Vec<(PathBuf, PathBuf, Option<blake_hash::Hash>)>,
}

/// The outcome of [`Publish::write`] for each folder.
struct Written {
    plan: Publish,
    hash: blake_hash::Hash,
    outcomes: Vec<(PathBuf, PathBuf, WriteOutcome)>,
}

enum WriteOutcome {
    /// The file already holds these bytes.
    Current,
    /// A temp file with the bytes, to rename onto the target.
    Temp(PathBuf),
    Failed(std::io::Error),
}

impl Publish {
    fn write(self) -> Written {
        let bytes = self.file.to_bytes();
        let hash = blake_hash::of(&bytes);
        let mut outcomes = Vec::new();
        for (folder, path, last) in &self.targets {
            if !path.parent().is_some_and(Path::is_dir) {
                continue;
            }
            // Rewrite if the engine replaced or dropped our file.
            let current = !self.force
                && *last == Some(hash)
                && std::fs::read(path).ok().map(|b| blake_hash::of(&b)) == Some(hash);
            let outcome = if current {
                WriteOutcome::Current
            } else {
                match crate::fsutil::write_temp(path, &bytes, 0o644) {
                    Ok(tmp) => WriteOutcome::Temp(tmp),
                    Err(e) => WriteOutcome::Failed(e),
                }
            };
            outcomes.push((folder.clone(), path.clone(), outcome));
        }
        Written {
            plan: self,
            hash,
            outcomes,
        }
    }
}

impl Written {
    fn commit(self, inner: &mut Inner) {
        let p = &self.plan;
        let still = |folder: &PathBuf| {
            inner.device.as_ref().is_some_and(|d| {
                d.reset.is_none()
                    && d.account_id == p.account_id
                    && d.epoch == p.epoch
                    && d.device_id == p.device_id
                    && d.sync_folders.contains(folder)
            })
        };
        for (folder, path, outcome) in self.outcomes {
            if !still(&folder) {
                if let WriteOutcome::Temp(tmp) = outcome {
                    let _ = std::fs::remove_file(tmp);
                }
                continue;
            }
            let result = match outcome {
                WriteOutcome::Current => Ok(()),
                WriteOutcome::Temp(tmp) => crate::fsutil::commit_temp(&tmp, &path),
                WriteOutcome::Failed(e) => Err(e),
            };
            let problems = &mut inner.folders.entry(folder.clone()).or_default().problems;
            match result {
                Ok(()) => {
                    problems.remove(&path);
                    let stamp = file_stamp(&path);
                    inner.published.insert(
                        folder,
                        Published {
                            hash: self.hash,
                            stamp,
                            fingerprint: p.fingerprint.clone(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not publish this device's sync file");
                    let since = problems.get(&path).map_or_else(now_ms, |(_, s)| *s);
                    problems.insert(
                        path,
                        (format!("cannot write this device's file: {e}"), since),
                    );
                }
            }
        }
    }
}

/// In state `reset`: keep the details current, and learn whether our own
/// reset lost to a concurrent one.
fn watch_reset_state(daemon: &Daemon, inner: &mut Inner) {
    let Some(mut dev) = inner.device.clone() else {
        return;
    };
    let Some(mut details) = dev.reset.clone() else {
        return;
    };
    let kept = kept_reset_header(&daemon.dirs).filter(|h| h.account_id == dev.account_id);
    let seen = best_header(&dev.sync_folders, &dev.account_id);
    let best = match (seen, kept.clone()) {
        (Some(s), Some(k)) => {
            if s.precedence() > k.precedence() {
                s
            } else {
                k
            }
        }
        (Some(s), None) => s,
        (None, Some(k)) => k,
        (None, None) => return,
    };
    tracing::debug!(
        epoch = best.epoch,
        by = best.reset.as_ref().map_or("", |r| r.by_device_id.as_str()),
        kept = kept.is_some(),
        "in reset: the newest header"
    );
    if best.epoch < details.new_epoch {
        return;
    }
    if kept
        .as_ref()
        .is_none_or(|k| k.precedence() < best.precedence())
    {
        if let Err(e) = keep_reset_header(&daemon.dirs, &best) {
            tracing::warn!(error = %e, "could not keep the newest account header");
        }
    }
    // Nobody may be signed in to the new epoch yet: keep the folders on the newest header.
    republish_header(&dev.sync_folders, &best);
    let mut changed = false;
    if let Some(info) = &best.reset {
        let we_reset = details.by_device_id == dev.device_id;
        if we_reset
            && info.by_device_id != dev.device_id
            && details.lost_to_concurrent_reset.is_none()
        {
            details.lost_to_concurrent_reset = Some(format!(
                "a reset from device {} ({}) at the same time won; the Account Key this device printed is void: use the one shown on {}",
                info.by_device_name, info.by_device_id, info.by_device_name
            ));
            changed = true;
        }
        if best.epoch > details.new_epoch || info.by_device_id != details.by_device_id {
            if !we_reset || best.epoch > details.new_epoch {
                details.by_device_id = info.by_device_id.clone();
                details.by_device_name = info.by_device_name.clone();
                details.at_ms = info.at_ms;
            }
            details.new_epoch = best.epoch;
            changed = true;
        }
    }
    if changed {
        dev.reset = Some(details.clone());
        if let Err(e) = dev.save(&daemon.dirs.data.join("device.json")) {
            tracing::warn!(error = %e, "could not save the reset details");
        }
        inner.device = Some(dev);
        daemon.emit(Event::Reset(details));
    }
}

/// The account was reset (elsewhere, or a concurrent reset won): purge the
/// key, put the container and our old sync files in the trash, and wait
/// for a login. Nothing of the old epoch is merged into the new one.
pub(crate) fn enter_reset(
    daemon: &Daemon,
    inner: &mut Inner,
    best: &AccountHeader,
    lost: Option<String>,
) {
    let Some(mut dev) = inner.device.clone() else {
        return;
    };
    tracing::warn!(
        from_epoch = dev.epoch,
        to_epoch = best.epoch,
        "the account was reset; waiting for a new login"
    );
    if let Some(ns) = inner.namespace() {
        if let Err(e) = daemon.keyring(|k| k.purge(&ns)) {
            tracing::warn!(error = %e, "could not purge the key from the keyring");
        }
    }
    inner.key = None;
    let cpath = container_path(&daemon.dirs, &dev);
    let trashed = if cpath.exists() {
        match crate::trash::move_to_trash(&cpath) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "could not move the stale container to the trash; it stays in place");
                None
            }
        }
    } else {
        None
    };
    retire_own_files(&dev.sync_folders, &dev.account_id, &dev.device_id);
    if let Err(e) = keep_reset_header(&daemon.dirs, best) {
        tracing::warn!(error = %e, "could not keep the newest account header");
    }
    let info = best.reset.clone();
    let folder = dev
        .sync_folders
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "DIR".into());
    let details = ResetDetails {
        at_ms: info.as_ref().map_or(0, |i| i.at_ms),
        by_device_id: info
            .as_ref()
            .map_or_else(|| "unknown".into(), |i| i.by_device_id.clone()),
        by_device_name: info
            .as_ref()
            .map_or_else(|| "unknown".into(), |i| i.by_device_name.clone()),
        previous_epoch: dev.epoch,
        new_epoch: best.epoch,
        trashed_container: trashed,
        next_command: format!("coffer login --email {} --sync-folder {folder}", dev.email),
        lost_to_concurrent_reset: lost,
    };
    dev.reset = Some(details.clone());
    if let Err(e) = dev.save(&daemon.dirs.data.join("device.json")) {
        tracing::error!(error = %e, "could not record the reset in device.json");
    }
    inner.device = Some(dev);
    inner.header = None;
    inner.replica = None;
    inner.published.clear();
    inner.file_stamps.clear();
    daemon.emit(Event::Reset(details));
    daemon.emit(Event::State {
        state: State::Reset,
    });
}

/// Moves this device's sync files of a retired epoch (and their conflict
/// copies) out of every sync folder, into the trash.
pub(crate) fn retire_own_files(folders: &[PathBuf], account_id: &uuid::Uuid, device_id: &str) {
    for f in folders {
        let dir = f.join(account_id.to_string());
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let ours = match classify(&e.file_name().to_string_lossy()) {
                Entry::DeviceFile { device_id: d } | Entry::DeviceConflict { device_id: d } => {
                    d == device_id
                }
                _ => false,
            };
            if ours {
                if let Err(err) = crate::trash::move_to_trash(&e.path()) {
                    tracing::warn!(path = %e.path().display(), error = %err, "could not move a stale sync file to the trash");
                }
            }
        }
    }
}

/// The local container changed on disk without this daemon writing it (a
/// user put an old copy back, a backup tool restored it): merge what it
/// holds into the replica (nothing in memory is lost, the merge is a union)
/// and write the container again, so the file never stays behind what was
/// acknowledged.
pub async fn container_changed(daemon: &Arc<Daemon>) {
    let mut inner = daemon.inner.lock().await;
    let Some(dev) = inner.device.clone() else {
        return;
    };
    if dev.reset.is_some() || inner.replica.is_none() {
        return;
    }
    let path = container_path(&daemon.dirs, &dev);
    if crate::daemon::is_own_container(&inner, &path) {
        return; // our own write
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the container vanished; writing it again");
            if let Err(e) = daemon.write_whole_container(&mut inner) {
                tracing::error!(error = %e.message, "could not write the container");
            }
            return;
        }
    };
    match coffer_vault::format::Container::from_bytes(&bytes) {
        Ok(c) => {
            let (header, other) = c.into_replica();
            if header.account_id == dev.account_id && header.epoch == dev.epoch {
                let key = inner.key.clone();
                if let Some(r) = inner.replica.as_mut() {
                    let outcome = r.merge_remote(other.state(), key.as_ref());
                    tracing::info!(
                        changed = outcome.changed_items,
                        "merged a container changed on disk"
                    );
                }
            } else {
                tracing::warn!(path = %path.display(), "the container on disk belongs to another account or epoch; replacing it with this device's");
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the container on disk is damaged; writing it again")
        }
    }
    // The file is not the one this daemon wrote: the next save writes it whole.
    inner.container_log = None;
    let saved = if inner.key.is_some() {
        daemon.resolve_and_save(&mut inner)
    } else {
        daemon.save_container(&mut inner)
    };
    if let Err(e) = saved {
        tracing::error!(error = %e.message, "could not write the container");
    }
    drop(inner);
    daemon.kick.notify_one();
}
