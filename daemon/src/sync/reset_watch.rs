//! Noticing resets in the sync folders.
//!
//! Signed in: a header of a newer epoch means the account was reset
//! elsewhere; a header of the same epoch from another reset lineage that
//! wins by precedence means this device was signed in to a reset that lost
//! to a concurrent one. Either way the round reports it and the daemon
//! enters state `reset`.
//!
//! In state `reset`: the details stay current (a newer reset, the winner of
//! concurrent resets), and the folders are kept on the newest header this
//! device knows, since nobody may be signed in to the new epoch yet; this
//! device's own files of the old epoch are retired again should an engine
//! bring one back, and each folder's files are counted ([`census`]):
//! device files of the newest epoch apart from stale ones.

use coffer_proto::dirs::Dirs;
use coffer_proto::reply::ResetDetails;
use coffer_vault::account::AccountHeader;

use super::layout::{self, Rewrite};
use super::stale;
use crate::daemon::now_ms;
use crate::session::{Account, ResetWait};
use crate::store::reset_header;

/// A reset the sync folders show: the winning header, and why this device's
/// own epoch lost when it was a concurrent reset.
pub struct ResetSeen {
    /// The newest header.
    pub header: AccountHeader,
    /// Set when a concurrent reset won over the one this device is signed in to.
    pub lost: Option<String>,
}

/// Whether the folders of `account` show a reset this device has not followed.
pub fn seen(account: &Account) -> Option<ResetSeen> {
    let ours = &account.header;
    let best = layout::best_header(&account.device.sync_folders, &account.device.account_id)?;
    let newer_epoch = best.epoch > ours.epoch;
    let lost_same_epoch = best.epoch == ours.epoch
        && best.reset != ours.reset
        && best.precedence() > ours.precedence();
    (newer_epoch || lost_same_epoch).then(|| ResetSeen {
        header: best,
        lost: lost_same_epoch.then(|| {
            "this device was signed in to a reset that lost to a concurrent one".to_owned()
        }),
    })
}

/// In state `reset`: keeps the kept header and the folders on the newest
/// header, and the details current. Returns the details when they changed
/// (they are saved in `device.json` then).
pub fn in_reset(dirs: &Dirs, wait: &mut ResetWait) -> Option<ResetDetails> {
    let dev = &wait.device;
    let mut details = dev.reset.clone()?;
    let kept = reset_header::kept(dirs).filter(|h| h.account_id == dev.account_id);
    let seen = layout::best_header(&dev.sync_folders, &dev.account_id);
    let best = layout::newest(seen, kept.clone())?;
    tracing::debug!(
        epoch = best.epoch,
        by = best.reset.as_ref().map_or("", |r| r.by_device_id.as_str()),
        kept = kept.is_some(),
        "in reset: the newest header"
    );
    if best.epoch < details.new_epoch {
        return None;
    }
    if kept
        .as_ref()
        .is_none_or(|k| k.precedence() < best.precedence())
    {
        if let Err(e) = reset_header::keep(dirs, &best) {
            tracing::warn!(error = %e, "could not keep the newest account header");
        }
    }
    // Nobody may be signed in to the new epoch yet: keep the folders on the
    // newest header (where an engine renamed account.json away, its copies
    // carry it: see header_restore).
    let folders: Vec<_> = dev
        .sync_folders
        .iter()
        .filter(|f| !layout::header_missing_with_copies(&layout::account_dir(f, &best.account_id)))
        .cloned()
        .collect();
    layout::publish_header(&folders, &best, Rewrite::IfOlder);
    let now = now_ms();
    for f in &dev.sync_folders {
        let health = wait.sync.folders.entry(f.clone()).or_default();
        layout::retire_header_copies(
            &layout::account_dir(f, &best.account_id),
            &mut health.spacing,
            false,
            now,
        );
    }
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
    if !changed {
        return None;
    }
    wait.device.reset = Some(details.clone());
    if let Err(e) = wait.device.save(&dirs.data.join("device.json")) {
        tracing::warn!(error = %e, "could not save the reset details");
    }
    Some(details)
}

/// In state `reset`: for each folder, whether it is reachable; this
/// device's own files of the old epoch retired again if an engine brought
/// one back; and the count of device files of the newest epoch (devices
/// that logged in to it already) apart from stale ones.
pub fn census(wait: &mut ResetWait) {
    let dev = &wait.device;
    let Some(epoch) = dev.reset.as_ref().map(|r| r.new_epoch) else {
        return;
    };
    let now = now_ms();
    for f in &dev.sync_folders {
        let health = wait.sync.folders.entry(f.clone()).or_default();
        if !f.is_dir() {
            health.unreachable = Some(format!("{} is missing or not a folder", f.display()));
            continue;
        }
        health.unreachable = None;
        let back =
            layout::retire_own_files(std::slice::from_ref(f), &dev.account_id, &dev.device_id);
        if back > 0 {
            tracing::info!(folder = %f.display(), files = back, "retired this device's old-epoch files, which came back");
        }
        let dir = layout::account_dir(f, &dev.account_id);
        let counted = stale::census(&dir, epoch, &mut wait.sync.epochs);
        health.device_files = counted.current;
        health.stale.replace(counted.stale, now);
    }
}
