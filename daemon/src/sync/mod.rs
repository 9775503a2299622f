//! Sync rounds: read every device file (and every engine's conflict copy)
//! in every sync folder, merge them into the local replica, publish this
//! device's own file, and notice account resets.
//!
//! A sync folder `F` holds the account in `F/<account_id>/`:
//! `account.json` and one `device-<id>.cofsync` per device, each written
//! only by its own device. A round ([`merge_step`]) changes only the
//! account's data (its replica, its folders' health) and returns what it
//! saw ([`RoundOutcome`]); moving the session (into state `reset`) is the
//! daemon's, in [`round`].
//!
//! # Layout
//!
//! - this file: the bookkeeping ([`SyncState`]), the round and the
//!   container watch;
//! - [`layout`]: the account directory and its files, headers;
//! - [`pull`]: merging other devices' files;
//! - [`publish`]: writing this device's file;
//! - [`health`]: each folder's health;
//! - [`reset_watch`]: resets seen in the folders;
//! - [`header_files`]: every device's header changes and unlock key;
//! - [`header_watch`]: adopting authentic newer headers of this epoch.
//! - [`stale`]: files of an earlier epoch, and clearing those nobody retires;
//! - [`own_file`]: noticing this device's own file being removed by others;
//! - [`removal`]: others' files leave a folder one at a time;
//! - [`header_restore`]: one device at a time puts back an `account.json`
//!   an engine renamed away.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::reply::{Event, ResetDetails, SyncReport};
use coffer_vault::segment::FileId;

use crate::daemon::{Ctx, Daemon};
use crate::session::{ResetCause, Session};

pub mod compaction;
pub mod header_files;
pub mod header_restore;
pub mod header_watch;
pub mod health;
pub mod layout;
pub mod ledger;
pub mod own_file;
pub mod publish;
pub mod pull;
pub mod read;
pub mod removal;
pub mod reset_watch;
pub mod stale;

pub use health::{folder_infos, FolderHealth};
pub use layout::FileStamp;

/// What this device knows about its sync folders.
#[derive(Debug, Default)]
pub struct SyncState {
    /// Each folder's health.
    pub folders: BTreeMap<PathBuf, FolderHealth>,
    /// This device's own files in each folder, and what it owes each.
    pub ledgers: BTreeMap<PathBuf, ledger::Ledger>,
    /// Other devices' files already taken, by inode/size/mtime.
    pub stamps: HashMap<PathBuf, FileStamp>,
    /// What the folders' headers of this epoch showed (unlocked rounds).
    pub headers: header_watch::HeaderStatus,
    /// The epoch of files read but not merged (stale ones), by stamp.
    pub epochs: stale::EpochCache,
    /// Per folder and device, the ids of the version-3 files merged from it
    /// (or found to hold nothing new), to skip what supersedes only them.
    pub seen: HashMap<PathBuf, HashMap<String, HashSet<FileId>>>,
}

impl SyncState {
    /// Fresh bookkeeping for `folders`.
    pub fn for_folders(folders: &[PathBuf]) -> SyncState {
        SyncState {
            folders: folders
                .iter()
                .map(|f| (f.clone(), FolderHealth::default()))
                .collect(),
            ..SyncState::default()
        }
    }

    /// Whether any folder has a problem (the sync task then retries).
    pub fn has_problems(&self) -> bool {
        self.folders
            .values()
            .any(|h| !h.problems.is_empty() || h.unreachable.is_some())
    }

    /// Starts a round over the account `account_id`'s directories: no
    /// removal waits until the round says so.
    pub fn new_round(&mut self, account_id: &uuid::Uuid) {
        for (f, h) in self.folders.iter_mut() {
            let files = removal::count_files(&layout::account_dir(f, account_id));
            h.spacing.new_round(files);
        }
    }

    /// When a round should run although nothing changed (ms since the Unix
    /// epoch): a removal that had to wait for its turn, an own segment an
    /// engine brought back that settles (`ledger`), and when signed in
    /// (`signed_in`: only such a device clears stale files and puts back a
    /// header) a stale file that comes due, or this device's turn to put
    /// back an `account.json` an engine renamed away. `None` when nothing
    /// waits.
    pub fn wake_at_ms(&self, policy: stale::Policy, signed_in: bool) -> Option<u64> {
        self.folders
            .values()
            .flat_map(|h| {
                let stale = signed_in
                    .then(|| h.stale.next_due_ms(policy))
                    .flatten()
                    .map(|due| due.max(h.spacing.earliest_ms()));
                let header = h.header_restore_at.filter(|_| signed_in);
                let hold = h.publish_hold_until.filter(|_| signed_in);
                [h.spacing.next_ms(), stale, header, hold]
            })
            // Only ahead: one due while the session cannot publish (locked)
            // waits for the next publication, not a round after round.
            .chain(self.ledgers.values().map(|l| {
                l.strays_settle_at
                    .filter(|at| *at > crate::daemon::now_ms())
            }))
            .flatten()
            .min()
    }

    /// Forgets a folder this device no longer syncs with.
    pub fn remove_folder(&mut self, folder: &PathBuf) {
        self.folders.remove(folder);
        self.ledgers.remove(folder);
        self.seen.remove(folder);
    }

    /// Marks `items` as pending for every folder (a change that came from
    /// no folder, such as the local container changed on disk).
    pub fn pending_everywhere(&mut self, items: &[coffer_vault::ids::ItemId]) {
        for l in self.ledgers.values_mut() {
            l.pending.extend(items.iter().copied());
        }
    }
}

/// What the state-holding part of a round saw and left to do.
#[derive(Default)]
pub struct RoundOutcome {
    /// What it merged.
    pub report: SyncReport,
    /// A reset the folders show (signed in only).
    pub reset_seen: Option<reset_watch::ResetSeen>,
    /// New reset details (in state reset only).
    pub reset_details: Option<ResetDetails>,
    /// This device's file, to write without the lock.
    pub publish: Option<publish::Publish>,
    /// A newer header of this epoch that this device adopted.
    pub adopted: Option<coffer_vault::account::AccountHeader>,
}

/// The part of a round that needs the state: resets, merging the other
/// devices' files, saving the container; and what to publish (with
/// `publish`, even when nothing changed).
pub fn merge_step(ctx: &Ctx, session: &mut Session, publish: bool) -> RoundOutcome {
    let mut out = RoundOutcome::default();
    match session {
        Session::SignedOut => {}
        Session::Reset(wait) => {
            wait.sync.new_round(&wait.device.account_id);
            out.reset_details = reset_watch::in_reset(ctx.dirs, wait);
            reset_watch::census(wait);
            out.report.folders = folder_infos(&wait.sync.folders);
        }
        Session::Locked(account) | Session::Unlocked(account, _) => {
            if let Some(seen) = reset_watch::seen(account) {
                out.reset_seen = Some(seen);
                return out;
            }
            let key = match &*session {
                Session::Unlocked(_, k) => Some(k.clone()),
                _ => None,
            };
            let Some((account, _)) = session.account_mut() else {
                return out;
            };
            if let Some(k) = &key {
                out.adopted = header_watch::round(&ctx.dirs.data.join("device.json"), account, k);
            }
            // Before merging: what this device published before it started
            // (and what it still owes) is read from each folder once.
            publish::load_ledgers(account);
            let pulled = pull::pull_all(account, key.as_ref(), stale::Policy::of(ctx.config));
            out.report.merged_files = pulled.merged_files;
            out.report.conflict_copies_removed = pulled.copies_removed;
            out.report.stale_files_retired = pulled.stale_retired;
            out.report.new_versions = pulled.changed_items;
            if pulled.changed_items > 0 {
                let changed: Vec<_> = pulled.changed.iter().copied().collect();
                let saved = match &key {
                    Some(k) => account.resolve_and_save_items(ctx, k, &changed).map(drop),
                    None => account.save(),
                };
                if let Err(e) = saved {
                    tracing::error!(error = %e, "could not save the merged container");
                }
            }
            out.publish = publish::plan(account, publish);
            out.report.folders = folder_infos(&account.sync.folders);
            tracing::debug!(
                merged_files = out.report.merged_files,
                new_versions = out.report.new_versions,
                conflict_copies_removed = out.report.conflict_copies_removed,
                "sync round"
            );
        }
    }
    out
}

/// Runs one round. With `publish`, this device's file is (re)written even
/// when nothing new arrived.
pub async fn round(daemon: &Arc<Daemon>, publish: bool) -> SyncReport {
    // One round at a time, so that files are published in order.
    let _one = daemon.round_lock.lock().await;
    let mut core = daemon.core().await;
    let ctx = daemon.ctx();
    let mut outcome = merge_step(&ctx, &mut core.session, publish);
    if let Some(seen) = outcome.reset_seen.take() {
        let cause = ResetCause::Remote {
            header: seen.header,
            lost: seen.lost,
        };
        if let Err(e) = core.session.enter_reset(&ctx, cause) {
            tracing::error!(error = %e, "could not follow the reset");
        }
        if let Some(sync) = core.session.sync() {
            outcome.report.folders = folder_infos(&sync.folders);
        }
    }
    if let Some(details) = outcome.reset_details.take() {
        ctx.emit(Event::Reset(details));
    }
    if let Some(plan) = outcome.publish.take() {
        // Serializing and writing the state (tens of ms at 10,000 items)
        // happens without the state lock: requests go on meanwhile.
        drop(core);
        let written = match tokio::task::spawn_blocking(move || plan.write()).await {
            Ok(w) => w,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        core = daemon.core().await;
        written.commit(&mut core.session);
        if let Some(sync) = core.session.sync() {
            outcome.report.folders = folder_infos(&sync.folders);
        }
    }
    let problems: usize = core
        .session
        .sync()
        .map_or(0, |s| s.folders.values().map(|h| h.problems.len()).sum());
    drop(core);
    // Keys that arrived from other devices join the locked-listing index.
    crate::handlers::ssh::keep_current(daemon).await;
    daemon.emit(Event::Synced {
        new_versions: outcome.report.new_versions,
        problems,
    });
    outcome.report
}

/// The local container changed on disk without this daemon writing it (a
/// user put an old copy back, a backup tool restored it): merge what it
/// holds into the replica (nothing in memory is lost, the merge is a union)
/// and write the container again, so the file never stays behind what was
/// acknowledged.
pub async fn container_changed(daemon: &Arc<Daemon>) {
    let mut core = daemon.core().await;
    let ctx = daemon.ctx();
    let Some((account, key)) = core.session.account_mut() else {
        return;
    };
    if account.container.is_own_file() {
        return; // our own write
    }
    let key = key.cloned();
    let path = account.container.path().to_owned();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the container vanished; writing it again");
            if let Err(e) = account.write_whole() {
                tracing::error!(error = %e, "could not write the container");
            }
            return;
        }
    };
    match coffer_vault::format::Container::from_bytes(&bytes) {
        Ok(c) => {
            let (header, other) = c.into_replica();
            if header.account_id == account.device.account_id
                && header.epoch == account.device.epoch
            {
                let outcome = account.replica.merge_remote(other.state(), key.as_ref());
                account.sync.pending_everywhere(&outcome.changed);
                tracing::info!(
                    changed = outcome.changed_items,
                    "merged a container changed on disk"
                );
            } else {
                tracing::warn!(path = %path.display(), "the container on disk belongs to another account or epoch; replacing it with this device's");
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the container on disk is damaged; writing it again")
        }
    }
    // The file is not the one this daemon wrote: the next save writes it whole.
    account.container.forget_layout();
    let saved = match &key {
        Some(k) => account.resolve_and_save(&ctx, k).map(drop),
        None => account.save(),
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "could not write the container");
    }
    drop(core);
    daemon.kick.notify_one();
}
