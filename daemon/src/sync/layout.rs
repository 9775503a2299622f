//! The account's directory in a sync folder, `<folder>/<account_id>/`, and
//! the files in it: reading and writing `account.json` (the one place that
//! writes it), reading every device's header changes (`header-<id>.json`),
//! choosing among competing headers (the one place that weighs them),
//! every file of one device ([`own_files`]), and retiring this device's
//! own files.

use std::path::{Path, PathBuf};

use coffer_vault::account::AccountHeader;
use coffer_vault::sync_names::{classify, Entry, ACCOUNT_FILE};

pub use super::header_files::{
    all_candidates, header_changes_in, publish_change, publish_unlock_key, recipients,
};

use super::removal::{self, Spacing};
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

/// When `account.json` in a folder should be (re)written with a header (an
/// empty one counts as missing once it has stayed empty for
/// `removal::SETTLE_MS`: an engine may be writing it in place).
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
    let needs = |path: &Path| {
        let stale = when == Rewrite::Always
            || match read_header(path) {
                Ok(h) if when == Rewrite::IfNotOurs => {
                    h.epoch < header.epoch || (h.epoch == header.epoch && h.reset != header.reset)
                }
                Ok(h) => h.precedence() < header.precedence(),
                // An empty file may be one an engine is writing in place
                // (rclone does): only one that stayed empty is replaced.
                Err(_) => {
                    !path.exists()
                        || (std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
                            && removal::settles_at(path)
                                .is_none_or(|at| at <= crate::daemon::now_ms()))
                }
            };
        if stale && when == Rewrite::IfOlder {
            tracing::info!(path = %path.display(), epoch = header.epoch, "putting the newest account header back");
        }
        stale
    };
    let bytes = header.to_json();
    write_in_folders(
        folders,
        &header.account_id,
        ACCOUNT_FILE,
        &bytes,
        "the account header",
        needs,
    )
}

/// Writes `bytes` as the file `name` of the account directory of each
/// reachable folder in `folders` where `needs` (given its path) says it
/// must be written; the account directory is created, a missing folder
/// never is. `what` names the file in the log. The paths that could not be
/// written, with why.
pub fn write_in_folders(
    folders: &[PathBuf],
    account_id: &uuid::Uuid,
    name: &str,
    bytes: &[u8],
    what: &str,
    mut needs: impl FnMut(&Path) -> bool,
) -> Vec<(PathBuf, std::io::Error)> {
    let mut failed = Vec::new();
    for f in folders.iter().filter(|f| f.is_dir()) {
        let dir = account_dir(f, account_id);
        let path = dir.join(name);
        if !needs(&path) {
            continue;
        }
        if let Err(e) = coffer_proto::dirs::create_private_dir(&dir)
            .and_then(|()| fsutil::write_atomic(&path, bytes, 0o644))
        {
            tracing::warn!(path = %path.display(), error = %e, what, "could not write a file of the account");
            failed.push((path, e));
        }
    }
    failed
}

/// Retires the header conflict copies in `dir` that its `account.json`
/// supersedes (precedence at least the copy's), to the trash, one at a time
/// (`spacing`; within the half of its window when `half`: see `removal`).
/// Nothing goes while `account.json` is missing or unreadable: the copies
/// are the folder's header then. Returns how many went.
pub fn retire_header_copies(dir: &Path, spacing: &mut Spacing, half: bool, now: u64) -> usize {
    let Ok(current) = read_header(&dir.join(ACCOUNT_FILE)) else {
        return 0;
    };
    let mut retired = 0;
    for (copy, h) in headers_in(dir) {
        let is_copy = copy.file_name().is_some_and(|n| {
            matches!(
                classify(&n.to_string_lossy()),
                Entry::AccountHeaderConflict { .. }
            )
        });
        if is_copy
            && h.account_id == current.account_id
            && h.precedence() <= current.precedence()
            && if half {
                spacing.remove_with(&copy, now, removal::to_trash).done()
            } else {
                spacing.remove_spaced(&copy, now, removal::to_trash).done()
            }
        {
            retired += 1;
        }
    }
    retired
}

/// The conflict copies of `account.json` in `dir`, by name (readable or not).
pub fn header_copies(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| {
            matches!(
                classify(&e.file_name().to_string_lossy()),
                Entry::AccountHeaderConflict { .. }
            )
        })
        .map(|e| e.path())
        .collect()
}

/// Whether `account.json` is missing from `dir` while conflict copies of
/// it are there (an engine renamed it away: see `header_restore`).
pub fn header_missing_with_copies(dir: &Path) -> bool {
    !dir.join(ACCOUNT_FILE).exists() && !header_copies(dir).is_empty()
}

/// Every file of `device_id` in the account directory `dir`, with what each
/// is: its device file (snapshot, or a version-2 whole state), its delta
/// segments, its header changes, its unlock key, and every engine's copy of
/// them ([`Entry::owner`]). The one place that answers "which files are
/// device X's" (the ledger, compaction, retiring, the publish hold).
pub fn own_files(dir: &Path, device_id: &str) -> Vec<(PathBuf, Entry)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Entry)> = rd
        .flatten()
        .filter_map(|e| {
            let entry = classify(&e.file_name().to_string_lossy());
            (entry.owner() == Some(device_id)).then(|| (e.path(), entry))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Moves this device's files of a retired epoch (snapshot, segments, header
/// changes, unlock key, and their conflict copies) out of every sync
/// folder, into the trash: a device removes its own files, and only those
/// (DESIGN §2). Returns how many went.
pub fn retire_own_files(folders: &[PathBuf], account_id: &uuid::Uuid, device_id: &str) -> usize {
    let mut retired = 0;
    for f in folders {
        for (path, _) in own_files(&account_dir(f, account_id), device_id) {
            match trash::move_to_trash(&path) {
                Ok(_) => retired += 1,
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "could not move a stale sync file to the trash")
                }
            }
        }
    }
    retired
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::sync_names::{device_file_name, header_file_name, unlock_file_name};

    #[test]
    fn own_files_are_every_file_a_device_writes_and_their_copies() {
        let dir = tempfile::tempdir().unwrap();
        let me = "6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6";
        let other = "0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90";
        let mine = [
            device_file_name(me),
            header_file_name(me),
            unlock_file_name(me),
            format!("header-{me}.sync-conflict-20250101-120000-ABCDEFG.json"),
            format!("unlock-{me} (1).json"),
            format!("device-{me} 2.cofsync"),
            coffer_vault::sync_names::delta_file_name(me, 3, 0xabc),
        ];
        let theirs = [
            device_file_name(other),
            header_file_name(other),
            unlock_file_name(other),
            ACCOUNT_FILE.to_owned(),
            format!(".{}.123-0.tmp", header_file_name(me)),
            "notes.txt".to_owned(),
        ];
        for n in mine.iter().chain(&theirs) {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let mut want: Vec<PathBuf> = mine.iter().map(|n| dir.path().join(n)).collect();
        want.sort();
        let found: Vec<PathBuf> = own_files(dir.path(), me).into_iter().map(|f| f.0).collect();
        assert_eq!(found, want);
        assert!(own_files(&dir.path().join("missing"), me).is_empty());
    }
}
