//! The health of each sync folder, as `status` and `sync list` show it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use coffer_proto::reply::{FileProblem, SyncFolderInfo};

use super::own_file::{self, Losses};
use super::removal::Spacing;
use super::stale::StaleFiles;
use crate::daemon::now_ms;

/// Health of one sync folder.
#[derive(Debug, Clone, Default)]
pub struct FolderHealth {
    /// When the last round merged it.
    pub last_merge_ms: Option<u64>,
    /// Device files of the current epoch seen in it.
    pub device_files: usize,
    /// Files of an earlier epoch in it.
    pub stale: StaleFiles,
    /// Files that could not be used, with why and since when.
    pub problems: BTreeMap<PathBuf, (String, u64)>,
    /// Why the folder itself cannot be used.
    pub unreachable: Option<String>,
    /// Whether it is polled (the OS cannot watch it).
    pub polled: bool,
    /// When this device's own file disappeared from it.
    pub own_losses: Losses,
    /// The stamp of this device's snapshot whose disappearance was last
    /// counted in `own_losses` (so that it counts once).
    pub own_loss_noted: Option<super::layout::FileStamp>,
    /// Removals of files that are not this device's own, one at a time.
    pub spacing: Spacing,
    /// Since when `account.json` is missing while copies of it are there.
    pub header_missing_since: Option<u64>,
    /// When this device puts it back unless another device did first.
    pub header_restore_at: Option<u64>,
    /// This device's file is not written here before this time (an engine
    /// just renamed it away and is still at work on the copies).
    pub publish_hold_until: Option<u64>,
    /// This device's own files in it (snapshot, segments, superseded ones
    /// not yet removed).
    pub own_files: usize,
    /// Bytes this daemon has written into it since it started.
    pub written_bytes: u64,
}

impl FolderHealth {
    /// Replaces the file problems with `seen` (keeping when each began).
    pub fn set_problems(&mut self, seen: BTreeMap<PathBuf, String>) {
        let now = now_ms();
        let old = std::mem::take(&mut self.problems);
        for (p, reason) in seen {
            let since = old.get(&p).map_or(now, |(_, s)| *s);
            tracing::warn!(path = %p.display(), %reason, "sync file problem");
            self.problems.insert(p, (reason, since));
        }
    }

    /// Records a problem with `path` (keeping when it began).
    pub fn note_problem(&mut self, path: PathBuf, reason: String) {
        let since = self.problems.get(&path).map_or_else(now_ms, |(_, s)| *s);
        self.problems.insert(path, (reason, since));
    }
}

/// The folders as `status` and `sync list` show them.
pub fn folder_infos(folders: &BTreeMap<PathBuf, FolderHealth>) -> Vec<SyncFolderInfo> {
    let now = now_ms();
    let window = own_file::window();
    folders
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
            if let Some((p, reason, since_ms)) = h.own_losses.warning(now, window) {
                problems.push(FileProblem {
                    path: p,
                    reason,
                    since_ms,
                });
            }
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
                } else if problems.is_empty() {
                    "ok".into()
                } else {
                    "problems".into()
                },
                last_merge_ms: h.last_merge_ms,
                device_files: h.device_files,
                stale_files: h.stale.len(),
                problems,
                own_files: h.own_files,
                written_bytes: h.written_bytes,
                watch: if h.polled {
                    "poll".into()
                } else {
                    "notify".into()
                },
            }
        })
        .collect()
}
