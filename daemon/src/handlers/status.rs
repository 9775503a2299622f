//! `status`: what the daemon knows, in one reply (DESIGN §6).

use coffer_proto::reply::{ConflictInfo, HeaderInfo, KeyCacheInfo, State, StatusInfo};
use coffer_vault::kdf::KdfParams;
use coffer_vault::replica::{ConflictKind, ConflictReport};
use serde_json::Value;

use super::to_reply;
use crate::daemon::Daemon;
use crate::error::Result;
use crate::session::{Core, Session};
use crate::store::container;
use crate::sync::folder_infos;

/// `status`.
pub async fn status(d: &Daemon) -> Result<Value> {
    let core = d.core().await;
    to_reply(status_info(d, &core))
}

/// The status of `core`.
pub fn status_info(d: &Daemon, core: &Core) -> StatusInfo {
    let session = &core.session;
    let state = session.state();
    let dev = session.device();
    let account = session.account();
    let items = match session {
        Session::Unlocked(a, _) => Some(a.replica.state().live_item_count()),
        _ => None,
    };
    let conflicts = account
        .map(|a| {
            a.replica
                .reports()
                .iter()
                .rev()
                .take(20)
                .map(conflict_info)
                .collect()
        })
        .unwrap_or_default();
    StatusInfo {
        state,
        account_id: dev.map(|d| d.account_id.to_string()),
        email: dev.map(|d| d.email.clone()),
        epoch: dev.map(|d| d.reset.as_ref().map_or(d.epoch, |r| r.new_epoch)),
        device_id: dev.map(|d| d.device_id.clone()),
        device_name: dev.map(|d| d.device_name.clone()),
        items,
        pid: std::process::id(),
        container: account.map(|a| container::path_for(&d.dirs, &a.device.account_id)),
        sync_folders: session
            .sync()
            .map(|s| folder_infos(&s.folders))
            .unwrap_or_default(),
        key_cache: KeyCacheInfo {
            backend: d.keycache.backend().to_owned(),
            persistent: d.keycache.persistent(),
            warning: d
                .keycache
                .warning()
                .map(str::to_owned)
                .or_else(|| core.problem.clone()),
        },
        lock_timeout_secs: d.config.lock_timeout.map_or(0, |t| t.as_secs()),
        reset: dev.and_then(|d| d.reset.clone()),
        kdf_warning: account.and_then(|a| kdf_warning(&a.header.kdf)),
        conflicts,
        header: account.map(header_info),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        secret_service: d.secret_service.state(),
        ssh_agent: d.ssh.info(),
    }
}

/// The account header's generation, its last change, and what the folders
/// showed that was refused.
fn header_info(a: &crate::session::Account) -> HeaderInfo {
    let h = &a.header;
    let seen = &a.sync.headers;
    HeaderInfo {
        generation: h.generation,
        changed_at_ms: h.changed.as_ref().map(|c| c.at_ms),
        changed_by_device_id: h.changed.as_ref().map(|c| c.by_device_id.clone()),
        changed_by_device_name: h.changed.as_ref().map(|c| c.by_device_name.clone()),
        lost_change: seen.lost.clone(),
        forged: seen.forged.iter().cloned().collect(),
        replayed: seen.replayed.iter().cloned().collect(),
    }
}

/// A conflict report in words.
pub fn conflict_info(c: &ConflictReport) -> ConflictInfo {
    let (kind, message) = match &c.kind {
        ConflictKind::DeleteVsEdit => (
            "delete-vs-edit",
            format!(
                "deleted on device {} while edited on device {}; the edit was kept (values a move to the trash carried are in the item's history: `coffer history`)",
                c.loser_device, c.winner_device
            ),
        ),
        ConflictKind::SameField { field } => (
            "same-field",
            format!(
                "field {field} changed on two devices; device {}'s value won, device {}'s is in the history",
                c.winner_device, c.loser_device
            ),
        ),
    };
    ConflictInfo {
        item_id: c.item_id.to_string(),
        title: c.title.expose().to_owned(),
        kind: kind.into(),
        message,
        at_ms: c.at_ms,
    }
}

/// What `status` says about an account header whose key derivation is below
/// the floor (an account made by a test build or an old version).
fn kdf_warning(kdf: &KdfParams) -> Option<String> {
    use coffer_vault::kdf::{FLOOR_M_KIB, FLOOR_T};
    kdf.below_floor().then(|| {
        format!(
            "the Account Password is stretched with Argon2id at {} MiB and {} pass(es), below \
             coffer's floor of {} MiB and {FLOOR_T} passes, which makes it cheaper to guess; run \
             `coffer passwd` to re-stretch it at this machine's calibrated parameters",
            kdf.m_kib / 1024,
            kdf.t,
            FLOOR_M_KIB / 1024
        )
    })
}

/// Whether `state` lets the vault be used.
pub fn is_signed_in(state: State) -> bool {
    matches!(state, State::Locked | State::Unlocked)
}
