//! Header changes within an epoch, seen by an unlocked device in a round.
//!
//! The device publishes its unlock key, reads every header of its epoch in
//! the folders (`account.json` and every device's `header-<id>.json`), and
//! adopts the newest one that authenticates under the vault key it holds
//! ([`coffer_vault::account::adoptable`]): the header in its container
//! becomes that one, and the Account Key box sealed under the old password
//! is dropped from `device.json` (the next unlock, with the new password,
//! seals it again). What it refused is kept for `status`: headers that do
//! not authenticate (forged), files that went back to an older generation
//! (replayed), and a change of this device's that lost to a concurrent one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use coffer_proto::time::utc_minutes;
use coffer_vault::account::{adoptable, AccountHeader};
use coffer_vault::secret::SecretKey;
use coffer_vault::sync_names::{classify, Entry};

use super::header_files::{all_candidates, publish_change, publish_unlock_key};
use crate::session::Account;

/// What `status` says about the headers in the folders.
#[derive(Debug, Default, Clone)]
pub struct HeaderStatus {
    /// Headers of this epoch that do not authenticate under the vault key.
    pub forged: BTreeSet<PathBuf>,
    /// Header files that went back to an older generation than they had.
    pub replayed: BTreeSet<PathBuf>,
    /// Set when this device's own change lost to a concurrent one.
    pub lost: Option<String>,
    /// The highest authentic generation seen in each file.
    seen: BTreeMap<PathBuf, u64>,
}

/// Who changed a header, in words: `device NAME (ID) at TIME`.
pub fn changed_by(h: &AccountHeader) -> String {
    match &h.changed {
        Some(c) => format!(
            "device {} ({}) at {}",
            c.by_device_name,
            c.by_device_id,
            utc_minutes(c.at_ms)
        ),
        None => "another device".to_owned(),
    }
}

/// One round's look at the headers (unlocked only). Returns the header
/// adopted, if any.
pub fn round(
    device_json: &Path,
    account: &mut Account,
    vault_key: &SecretKey,
) -> Option<AccountHeader> {
    let folders = account.device.sync_folders.clone();
    let me = account.device.device_id.clone();
    publish_unlock_key(&folders, &account.device, vault_key);
    let found = all_candidates(&folders, &account.device.account_id);
    let headers: Vec<AccountHeader> = found.iter().map(|(_, h)| h.clone()).collect();
    let verdict = adoptable(&account.header, &headers, vault_key);
    let status = &mut account.sync.headers;
    status.forged = verdict.forged.iter().map(|&i| found[i].0.clone()).collect();
    let current = &account.header;
    for (i, (path, h)) in found.iter().enumerate() {
        if verdict.forged.contains(&i) || !current.same_lineage(h) {
            continue;
        }
        let seen = status.seen.entry(path.clone()).or_insert(h.generation);
        // The same file showed a later generation before: someone (an
        // engine restoring an old version, an attacker) put an old one back.
        // (Not flagged across a restart, nor across folders that lag: an
        // older header is refused either way.)
        if h.generation < *seen {
            if status.replayed.insert(path.clone()) {
                tracing::warn!(path = %path.display(), generation = h.generation, "an older account header was put back in a sync folder; refused");
            }
        } else {
            *seen = h.generation;
            status.replayed.remove(path);
        }
    }
    if !status.forged.is_empty() {
        tracing::warn!(
            count = status.forged.len(),
            "account headers that do not authenticate under the vault key; ignored"
        );
    }
    // This device's own last change is kept in its file (put back if an
    // engine or someone replaced it).
    let own_change = current
        .changed
        .as_ref()
        .is_some_and(|c| c.by_device_id == me);
    if own_change {
        publish_change(&folders, current, &me);
    }
    let adopted = match verdict.newest {
        Some(i) => adopt(device_json, account, headers[i].clone()),
        None => None,
    };
    retire_copies(account, &found, vault_key);
    adopted
}

/// Engines' conflict copies of header changes and unlock keys, once read:
/// a header copy is retired when the device's header is at least as new or
/// when it does not authenticate (reported until then); an unlock key copy
/// always (its device publishes its own file again). They leave the folder
/// to the trash one at a time, once settled, like every file that is not
/// this device's own (`removal`).
fn retire_copies(account: &mut Account, found: &[(PathBuf, AccountHeader)], vault_key: &SecretKey) {
    let current = &account.header;
    let mut doomed: Vec<PathBuf> = Vec::new();
    for (path, h) in found {
        let copy = path.file_name().is_some_and(|n| {
            matches!(
                classify(&n.to_string_lossy()),
                Entry::HeaderChangeConflict { .. }
            )
        });
        let superseded = current.same_lineage(h)
            && (h.precedence() <= current.precedence() || h.verify(vault_key).is_err());
        if copy && superseded {
            doomed.push(path.clone());
        }
    }
    for f in &account.device.sync_folders {
        let dir = super::layout::account_dir(f, &account.device.account_id);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        doomed.extend(rd.flatten().map(|e| e.path()).filter(|p| {
            p.file_name().is_some_and(|n| {
                matches!(
                    classify(&n.to_string_lossy()),
                    Entry::UnlockKeyConflict { .. }
                )
            })
        }));
    }
    let now = crate::daemon::now_ms();
    for path in doomed {
        // <folder>/<account_id>/<file>
        let Some(folder) = path.parent().and_then(Path::parent) else {
            continue;
        };
        let health = account.sync.folders.entry(folder.to_owned()).or_default();
        health
            .spacing
            .remove_with(&path, now, super::removal::to_trash);
    }
}

/// Makes `winner` this device's header: the container, and `device.json`
/// without the Account Key box of the old password. On a write failure
/// nothing changes (retried next round).
fn adopt(
    device_json: &Path,
    account: &mut Account,
    winner: AccountHeader,
) -> Option<AccountHeader> {
    let me = account.device.device_id.clone();
    let ours = &account.header;
    let lost = ours.changed.as_ref().is_some_and(|c| c.by_device_id == me)
        && winner.generation == ours.generation
        && winner
            .changed
            .as_ref()
            .is_some_and(|c| c.by_device_id != me);
    let new_password = winner.salt != ours.salt || winner.kdf != ours.kdf;
    let old = std::mem::replace(&mut account.header, winner);
    if let Err(e) = account.write_whole() {
        tracing::error!(error = %e, "could not write the container with the newer account header");
        account.header = old;
        return None;
    }
    let mut device = account.device.clone();
    if new_password {
        device.drop_account_key_pw();
    }
    if let Err(e) = device.save(device_json) {
        tracing::error!(error = %e, "could not update device.json for the newer account header");
        account.header = old;
        if let Err(e) = account.write_whole() {
            tracing::error!(error = %e, "could not put the container back");
        }
        return None;
    }
    account.device = device;
    let h = &account.header;
    if lost {
        let at = old.changed.as_ref().map_or(0, |c| c.at_ms);
        account.sync.headers.lost = Some(format!(
            "the Account Password change made on this device at {} lost to a concurrent change \
             made on {}; the password set there is the one that holds now",
            utc_minutes(at),
            changed_by(h)
        ));
    } else if h.changed.as_ref().is_some_and(|c| c.by_device_id != me) {
        account.sync.headers.lost = None;
    }
    tracing::info!(generation = h.generation, by = %changed_by(h), new_password, "adopted a newer account header");
    Some(h.clone())
}
