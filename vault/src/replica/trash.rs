//! The vault's trash: deleted items whose tombstones still seal their last
//! content. [`Replica::delete`] puts an item there; here it is listed,
//! restored, or purged (a tombstone without content: the item's data is
//! gone from this version on, and from every device once they merge it).

use super::Replica;
use super::VaultError;
use crate::hlc::Hlc;
use crate::ids::{DeviceId, ItemId};
use crate::item::Item;
use crate::record::{RecordKey, RecordPlain, Tombstone};
use crate::secret::SecretKey;

/// An item in the trash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrashedItem {
    /// Its last content (what a restore brings back).
    pub item: Item,
    /// When it was deleted.
    pub trashed: Hlc,
    /// The device that deleted it.
    pub device: DeviceId,
}

impl TrashedItem {
    fn of(t: Tombstone) -> Option<TrashedItem> {
        Some(TrashedItem {
            item: t.content?,
            trashed: t.stamp,
            device: t.device,
        })
    }
}

impl Replica {
    /// Every item in the trash (siblings resolved in memory), in id order.
    pub fn trashed(&self, key: &SecretKey) -> Result<Vec<TrashedItem>, VaultError> {
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut out = Vec::new();
        for (id, versions) in self.state.records() {
            let entry = self.cached(&mut cache, &rk, *id, versions)?;
            out.extend(entry.trash().and_then(TrashedItem::of));
        }
        Ok(out)
    }

    /// The item `id` if it is in the trash.
    pub fn trashed_item(
        &self,
        key: &SecretKey,
        id: ItemId,
    ) -> Result<Option<TrashedItem>, VaultError> {
        let versions = self.state.versions(&id);
        if versions.is_empty() {
            return Ok(None);
        }
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        Ok(self
            .cached(&mut cache, &rk, id, versions)?
            .trash()
            .and_then(TrashedItem::of))
    }

    /// Brings an item back from the trash with the content it had there
    /// (its fields keep their stamps: a restore changes no value). Returns
    /// the item.
    pub fn restore(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<Item, VaultError> {
        let trashed = self.trashed_for_update(key, id, now_ms)?;
        let plain = RecordPlain::Item(trashed.item.clone());
        self.observe(&plain);
        self.write(key, id, plain)?;
        Ok(trashed.item)
    }

    /// Empties one item out of the trash: a tombstone without content
    /// supersedes the one that kept it.
    pub fn purge(&mut self, key: &SecretKey, id: ItemId, now_ms: u64) -> Result<(), VaultError> {
        let trashed = self.trashed_for_update(key, id, now_ms)?;
        let seen = trashed.item.max_stamp().max(Some(trashed.trashed));
        self.write_tombstone(key, id, seen, now_ms, None)
    }

    /// The trashed item to restore or purge, siblings resolved first.
    fn trashed_for_update(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<TrashedItem, VaultError> {
        if self.state.versions(&id).len() > 1 {
            let reports = self.resolve_item(key, id, now_ms)?;
            self.add_reports(key, &reports);
        }
        self.trashed_item(key, id)?
            .ok_or(VaultError::NotInTrash(id))
    }
}
