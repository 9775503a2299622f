//! The file names of a sync folder (`account.json`, `device-ID.cofsync`,
//! `delta-ID.SEQ.FILEID.cofsync`, the conflict copies of every engine), as
//! the daemon reads them, and what an account's folder holds by those rules
//! (device files, one device's files, its newest segment, conflict copies).
//!
//! The rules are the vault crate's (`coffer_vault::sync_names`),
//! re-exported here so that every test names them through this one module.

pub use coffer_vault::sync_names::*;

use std::collections::BTreeSet;
use std::path::Path;

/// The device ids whose device files (not conflict copies) are in `dir`.
pub fn device_files(dir: &Path) -> BTreeSet<String> {
    crate::folder::names(dir)
        .iter()
        .filter_map(|n| match classify(n) {
            Entry::DeviceFile { device_id } => Some(device_id),
            _ => None,
        })
        .collect()
}

/// The device ids whose published unlock keys (`unlock-ID.json`, not copies) are in `dir`.
pub fn unlock_keys(dir: &Path) -> BTreeSet<String> {
    crate::folder::names(dir)
        .iter()
        .filter_map(|n| match classify(n) {
            Entry::UnlockKey { device_id } => Some(device_id),
            _ => None,
        })
        .collect()
}

/// Whether `dir` holds `account.json`, the device files of exactly `ids`,
/// delta segments and unlock keys of some of them, and nothing else (no
/// conflict copy, no file of another device).
pub fn holds_only(dir: &Path, ids: &BTreeSet<String>) -> bool {
    let names = crate::folder::names(dir);
    device_files(dir) == *ids
        && names.contains(ACCOUNT_FILE)
        && names.iter().all(|n| match classify(n) {
            Entry::AccountHeader => true,
            Entry::DeviceFile { device_id }
            | Entry::DeltaFile { device_id, .. }
            | Entry::UnlockKey { device_id } => ids.contains(&device_id),
            _ => false,
        })
}

/// Whether every one of `dirs` holds the same `account.json` and, by
/// [`holds_only`], the device files of exactly `ids` and nothing else
/// but their unlock keys: a replicated folder with nothing left behind.
pub fn all_clean(dirs: &[std::path::PathBuf], ids: &BTreeSet<String>) -> bool {
    let header = |d: &std::path::PathBuf| std::fs::read(d.join("account.json")).ok();
    let first = dirs.first().and_then(header);
    first.is_some()
        && dirs
            .iter()
            .all(|d| header(d) == first && holds_only(d, ids))
}

/// Every sync file of device `id` in `dir` (device file, delta segments, conflict copies of
/// either).
pub fn files_of(dir: &Path, id: &str) -> Vec<String> {
    crate::folder::names(dir)
        .into_iter()
        .filter(|n| classify(n).device_id() == Some(id))
        .collect()
}

/// The name of device `id`'s newest delta segment in `dir` (highest sequence number).
pub fn newest_delta(dir: &Path, id: &str) -> Option<String> {
    crate::folder::names(dir)
        .into_iter()
        .filter_map(|n| match classify(&n) {
            Entry::DeltaFile { device_id, seq, .. } if device_id == id => Some((seq, n)),
            _ => None,
        })
        .max()
        .map(|(_, n)| n)
}

/// The conflict copies (of the header, a device file or a delta segment) in `dir`, sorted.
pub fn conflict_copies(dir: &Path) -> Vec<String> {
    crate::folder::names(dir)
        .into_iter()
        .filter(|n| classify(n).is_conflict())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_files_and_conflict_copies_are_told_apart() {
        let d = crate::short_tempdir("cn");
        let id = "6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6";
        for name in [
            ACCOUNT_FILE.to_owned(),
            device_file_name(id),
            format!("device-{id}.sync-conflict-20250101-120000-ABCDEFG.cofsync"),
            format!(".{}.12-3.tmp", device_file_name(id)),
        ] {
            std::fs::write(d.path().join(name), b"x").unwrap();
        }
        assert_eq!(device_files(d.path()), BTreeSet::from([id.to_owned()]));
        let copies = conflict_copies(d.path());
        assert_eq!(copies.len(), 1, "{copies:?}");
        assert!(copies[0].contains("sync-conflict"));
    }
}
