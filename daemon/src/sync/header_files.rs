//! The per-device account files in `<folder>/<account_id>/`, each written
//! only by its own device, so no two devices ever write one file:
//!
//! - `header-<device_id>.json`: the account header as that device last
//!   changed it in this epoch (password, hint, KDF parameters); the current
//!   header is the winner among `account.json` (the epoch's base, written at
//!   signup and reset) and all of these ([`all_candidates`]);
//! - `unlock-<device_id>.json`: that device's public unlock key, MACed under
//!   the vault key ([`coffer_vault::unlock_key`]), which password changes
//!   seal the Account Key to ([`recipients`]).

use std::path::{Path, PathBuf};

use coffer_vault::account::{AccountHeader, Recipient};
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, header_file_name, unlock_file_name, Entry};
use coffer_vault::unlock_key::UnlockKeyFile;

use super::layout::{account_dir, headers_in, read_header, write_in_folders};
use crate::store::device::DeviceRecord;
use crate::store::{fsutil, trash};

/// Every readable header change in `dir` (`header-<id>.json` and its
/// conflict copies) with its path.
pub fn header_changes_in(dir: &Path) -> Vec<(PathBuf, AccountHeader)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, AccountHeader)> = rd
        .flatten()
        .filter(|e| {
            matches!(
                classify(&e.file_name().to_string_lossy()),
                Entry::HeaderChange { .. } | Entry::HeaderChangeConflict { .. }
            )
        })
        .filter_map(|e| read_header(&e.path()).ok().map(|h| (e.path(), h)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every header of `account_id` in `folders`: the bases (`account.json` and
/// copies) and every device's header changes, with their paths.
pub fn all_candidates(
    folders: &[PathBuf],
    account_id: &uuid::Uuid,
) -> Vec<(PathBuf, AccountHeader)> {
    folders
        .iter()
        .map(|f| account_dir(f, account_id))
        .flat_map(|dir| {
            let mut v = headers_in(&dir);
            v.extend(header_changes_in(&dir));
            v
        })
        .filter(|(_, h)| h.account_id == *account_id)
        .collect()
}

/// Writes `header` as this device's header change into every reachable
/// folder (and retires the engines' copies of that file, which the winner
/// supersedes). The folders that could not be written, with why.
pub fn publish_change(
    folders: &[PathBuf],
    header: &AccountHeader,
    device_id: &str,
) -> Vec<(PathBuf, std::io::Error)> {
    let needs = |path: &Path| !read_header(path).is_ok_and(|h| h == *header);
    let bytes = header.to_json();
    let name = header_file_name(device_id);
    write_in_folders(
        folders,
        &header.account_id,
        &name,
        &bytes,
        "this device's header change",
        needs,
    )
}

/// Writes this device's unlock key into every reachable folder where it is
/// missing or not this one (the vault key authenticates it).
pub fn publish_unlock_key(
    folders: &[PathBuf],
    device: &DeviceRecord,
    vault_key: &SecretKey,
) -> Vec<(PathBuf, std::io::Error)> {
    let Some(secret) = device.unlock_secret() else {
        return Vec::new();
    };
    let file = UnlockKeyFile::new(
        device.account_id,
        device.epoch,
        &device.device_id,
        &device.device_name,
        secret.public(),
        vault_key,
    );
    let bytes = file.to_json();
    let needs = |path: &Path| !fsutil::read_bounded(path, 64 * 1024).is_ok_and(|b| b == bytes);
    let name = unlock_file_name(&device.device_id);
    write_in_folders(
        folders,
        &device.account_id,
        &name,
        &bytes,
        "this device's unlock key",
        needs,
    )
}

/// The other devices of this account and epoch whose unlock keys in
/// `folders` authenticate under `vault_key` (a forged key gets nothing).
/// Engines' copies of an unlock key file are read too, then retired.
pub fn recipients(
    folders: &[PathBuf],
    device: &DeviceRecord,
    vault_key: &SecretKey,
) -> Vec<Recipient> {
    let mut out: Vec<Recipient> = Vec::new();
    for f in folders {
        let dir = account_dir(f, &device.account_id);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let entry = classify(&e.file_name().to_string_lossy());
            let copy = match &entry {
                Entry::UnlockKey { .. } => false,
                Entry::UnlockKeyConflict { .. } => true,
                _ => continue,
            };
            let Ok(bytes) = fsutil::read_bounded(&e.path(), 64 * 1024) else {
                continue;
            };
            let Ok(file) = UnlockKeyFile::from_json(&bytes) else {
                continue;
            };
            let authentic = file.verify(vault_key)
                && file.account_id == device.account_id
                && file.epoch == device.epoch
                && entry.owner() == Some(file.device_id.as_str());
            if copy {
                // The device republishes its own file; the copy is not needed.
                if let Err(err) = trash::move_to_trash(&e.path()) {
                    tracing::debug!(path = %e.path().display(), error = %err, "could not retire an unlock key copy");
                }
            }
            if !authentic || file.device_id == device.device_id {
                continue;
            }
            let r = Recipient {
                device_id: file.device_id,
                public: file.public_key,
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    out
}
