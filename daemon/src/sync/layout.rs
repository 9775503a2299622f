//! The account's directory in a sync folder, `<folder>/<account_id>/`, and
//! the files in it: reading and writing `account.json` (the one place that
//! writes it), choosing among competing headers (the one place that
//! weighs them), listing and retiring one device's own files.

use std::path::{Path, PathBuf};

use coffer_vault::account::AccountHeader;
use coffer_vault::sync_names::{classify, Entry, ACCOUNT_FILE};

use crate::store::{fsutil, trash};

/// The largest sync file or header coffer reads (a hostile file cannot
/// exhaust memory).
pub const MAX_FILE: u64 = 512 * 1024 * 1024;

/// The account's directory in `folder`.
pub fn account_dir(folder: &Path, account_id: &uuid::Uuid) -> PathBuf {
    folder.join(account_id.to_string())
}

/// What identifies one version of a file: inode, size, mtime.
pub type FileStamp = (u64, u64, i64, i64);

/// The stamp of the file at `path`, if it exists.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// The first `max` bytes of the file at `path` (all of it when shorter).
pub fn read_head(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads one account header file.
pub fn read_header(path: &Path) -> Result<AccountHeader, String> {
    let bytes = fsutil::read_bounded(path, 1024 * 1024).map_err(|e| e.to_string())?;
    AccountHeader::from_json(&bytes).map_err(|e| e.to_string())
}

/// The newer of two headers by [`AccountHeader::precedence`] (`a` on a tie).
pub fn newest(a: Option<AccountHeader>, b: Option<AccountHeader>) -> Option<AccountHeader> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.precedence() > a.precedence() {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Every readable header of the account in `dir` (`account.json` and its
/// conflict copies) with its path.
pub fn headers_in(dir: &Path) -> Vec<(PathBuf, AccountHeader)> {
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
    let mut best = None;
    for f in folders {
        let Ok(rd) = std::fs::read_dir(f) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.path().is_dir() {
                continue;
            }
            let named = e.file_name().to_string_lossy().into_owned();
            let found = headers_in(&e.path())
                .into_iter()
                .map(|(_, h)| h)
                .filter(|h| {
                    h.email.eq_ignore_ascii_case(email) && named == h.account_id.to_string()
                });
            for h in found {
                best = newest(best, Some(h));
            }
        }
    }
    best
}

/// The newest header of `account_id` across `folders`.
pub fn best_header(folders: &[PathBuf], account_id: &uuid::Uuid) -> Option<AccountHeader> {
    folders
        .iter()
        .flat_map(|f| headers_in(&account_dir(f, account_id)))
        .map(|(_, h)| h)
        .filter(|h| h.account_id == *account_id)
        .fold(None, |best, h| newest(best, Some(h)))
}

/// When `account.json` in a folder should be (re)written with a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Always (a password change, a reset, a restore).
    Always,
    /// When it is missing, empty, of an older epoch, or of another lineage
    /// of the same epoch (a concurrent reset that lost): a signed-in device
    /// keeps its folders on its own header.
    IfNotOurs,
    /// When it is missing, empty or older by precedence: a device waiting
    /// after a reset keeps its folders on the newest header it knows.
    IfOlder,
}

/// Writes `header` as `account.json` into the account directory of each
/// reachable folder in `folders`, as `when` says (a file that does not
/// parse may be half delivered: only `Always` replaces it). The account
/// directory is created; a folder that is missing is never created. The
/// folders that could not be written, with why.
pub fn publish_header(
    folders: &[PathBuf],
    header: &AccountHeader,
    when: Rewrite,
) -> Vec<(PathBuf, std::io::Error)> {
    let mut failed = Vec::new();
    for f in folders.iter().filter(|f| f.is_dir()) {
        let dir = account_dir(f, &header.account_id);
        if let Err(e) = coffer_proto::dirs::create_private_dir(&dir) {
            failed.push((dir, e));
            continue;
        }
        let path = dir.join(ACCOUNT_FILE);
        let stale = when == Rewrite::Always
            || match read_header(&path) {
                Ok(h) if when == Rewrite::IfNotOurs => {
                    h.epoch < header.epoch || (h.epoch == header.epoch && h.reset != header.reset)
                }
                Ok(h) => h.precedence() < header.precedence(),
                Err(_) => {
                    !path.exists()
                        || std::fs::metadata(&path)
                            .map(|m| m.len() == 0)
                            .unwrap_or(true)
                }
            };
        if !stale {
            continue;
        }
        if when == Rewrite::IfOlder {
            tracing::info!(path = %path.display(), epoch = header.epoch, "putting the newest account header back");
        }
        if let Err(e) = fsutil::write_atomic(&path, &header.to_json(), 0o644) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the account header");
            failed.push((path, e));
        }
    }
    failed
}

/// Retires the header conflict copies in `dir` that `best` supersedes (to the trash).
pub fn retire_header_copies(dir: &Path, best: &AccountHeader) {
    for (copy, h) in headers_in(dir) {
        let is_copy = copy.file_name().is_some_and(|n| {
            matches!(
                classify(&n.to_string_lossy()),
                Entry::AccountHeaderConflict { .. }
            )
        });
        if is_copy && h.precedence() <= best.precedence() {
            retire(&copy);
        }
    }
}

/// Moves a file coffer no longer needs to the trash (a failure is logged:
/// the file stays and is retried at the next occasion).
pub fn retire(path: &Path) {
    if let Err(e) = trash::move_to_trash(path) {
        tracing::debug!(path = %path.display(), error = %e, "could not move a retired file to the trash");
    }
}

/// Every file of device `device_id` in the account directory `dir`, with
/// what each is: its device file (snapshot, or a version-2 whole state), its
/// delta segments, and every engine's conflict copy of either. The one
/// place that answers "which files are device X's" (compaction, reset).
pub fn own_files(dir: &Path, device_id: &str) -> Vec<(PathBuf, Entry)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Entry)> = rd
        .flatten()
        .filter_map(|e| {
            let entry = classify(&e.file_name().to_string_lossy());
            (entry.device_id() == Some(device_id)).then(|| (e.path(), entry))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Moves this device's sync files of a retired epoch (snapshot, segments
/// and their conflict copies) out of every sync folder, into the trash.
pub fn retire_own_files(folders: &[PathBuf], account_id: &uuid::Uuid, device_id: &str) {
    for f in folders {
        for (path, _) in own_files(&account_dir(f, account_id), device_id) {
            if let Err(err) = trash::move_to_trash(&path) {
                tracing::warn!(path = %path.display(), error = %err, "could not move a stale sync file to the trash");
            }
        }
    }
}
