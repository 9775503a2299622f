//! Conflict reports, kept sealed under a subkey of the vault key (titles and
//! field names are item data).

use uuid::Uuid;

use super::{ConflictReport, Replica, MAX_REPORTS, REPORTS_KEY_PURPOSE};
use crate::aead;
use crate::ids::DeviceId;
use crate::item::to_json_zeroizing;
use crate::secret::SecretKey;

impl Replica {
    pub(super) fn add_reports(&mut self, key: &SecretKey, new: &[ConflictReport]) {
        if new.is_empty() {
            return;
        }
        if self.reports.is_empty() {
            if let Some(sealed) = &self.sealed_reports {
                self.reports =
                    open_reports(key, self.account_id, self.epoch, self.device_id, sealed)
                        .unwrap_or_default();
            }
        }
        self.reports.extend_from_slice(new);
        if self.reports.len() > MAX_REPORTS {
            let excess = self.reports.len() - MAX_REPORTS;
            self.reports.drain(..excess);
        }
        self.unsaved.whole = true;
        self.sealed_reports = Some(seal_reports(
            key,
            self.account_id,
            self.epoch,
            self.device_id,
            &self.reports,
        ));
    }
}

pub(super) fn reports_ad(account_id: Uuid, epoch: u64, device: DeviceId) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(REPORTS_KEY_PURPOSE);
    ad.extend_from_slice(account_id.as_bytes());
    ad.extend_from_slice(&epoch.to_be_bytes());
    ad.extend_from_slice(device.as_bytes());
    ad
}

pub(super) fn seal_reports(
    key: &SecretKey,
    account_id: Uuid,
    epoch: u64,
    device: DeviceId,
    reports: &[ConflictReport],
) -> Vec<u8> {
    let json = to_json_zeroizing(&reports, 256 * (reports.len() + 1));
    let k = aead::subkey(key, REPORTS_KEY_PURPOSE);
    aead::seal(&k, &reports_ad(account_id, epoch, device), &json)
}

/// Opens sealed reports; `None` when they do not open (they are only
/// informational, so a damaged blob is dropped rather than fatal).
pub(super) fn open_reports(
    key: &SecretKey,
    account_id: Uuid,
    epoch: u64,
    device: DeviceId,
    sealed: &[u8],
) -> Option<Vec<ConflictReport>> {
    let k = aead::subkey(key, REPORTS_KEY_PURPOSE);
    let json = aead::open(&k, &reports_ad(account_id, epoch, device), sealed).ok()?;
    serde_json::from_slice(&json).ok()
}
