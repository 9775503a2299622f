//! The health of each sync folder, as `status` and `sync list` show it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use coffer_proto::reply::{FileProblem, SyncFolderInfo};

use crate::daemon::now_ms;

/// Health of one sync folder.
#[derive(Debug, Clone, Default)]
pub struct FolderHealth {
    /// When the last round merged it.
    pub last_merge_ms: Option<u64>,
    /// Device files seen in it.
    pub device_files: usize,
    /// Files that could not be used, with why and since when.
    pub problems: BTreeMap<PathBuf, (String, u64)>,
    /// Why the folder itself cannot be used.
    pub unreachable: Option<String>,
    /// Whether it is polled (the OS cannot watch it).
    pub polled: bool,
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
