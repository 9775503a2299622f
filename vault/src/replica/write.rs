//! Local writes: adding, editing, deleting and resolving items.

use super::cache::{current_flags, view_of, CachedItem, Opened};
use super::siblings::{live_view, trash_view};
use super::{ConflictKind, ConflictReport, Replica, VaultError};
use crate::hlc::Hlc;
use crate::ids::ItemId;
use crate::item::{is_valid_field_name, Item};
use crate::record::{seal_record, RecordKey, RecordPlain, RecordVersion, Tombstone};
use crate::secret::{SecretKey, SecretString};
use crate::state::Inserted;
use crate::vv::{Dot, VersionVector};

impl Replica {
    /// Adds an item with `fields` (names as in [`crate::item`]).
    pub fn add(
        &mut self,
        key: &SecretKey,
        fields: Vec<(String, SecretString)>,
        now_ms: u64,
    ) -> Result<ItemId, VaultError> {
        check_names(fields.iter().map(|(n, _)| n))?;
        let id = ItemId::new_random();
        let mut item = Item::new(id, now_ms);
        let changes = fields.into_iter().map(|(n, v)| (n, Some(v))).collect();
        item.apply(changes, &mut self.clock, now_ms, self.device_id);
        self.write(key, id, RecordPlain::Item(item))?;
        Ok(id)
    }

    /// Edits an item: `None` removes a field. Pending siblings of the item
    /// are resolved (and reported) first. A change that changes nothing
    /// writes nothing.
    pub fn edit(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        changes: Vec<(String, Option<SecretString>)>,
        now_ms: u64,
    ) -> Result<(), VaultError> {
        check_names(changes.iter().map(|(n, _)| n))?;
        let mut item = self.live_for_update(key, id, now_ms)?;
        if item.apply(changes, &mut self.clock, now_ms, self.device_id) {
            self.write(key, id, RecordPlain::Item(item))?;
        }
        Ok(())
    }

    /// Deletes an item by moving it to the vault's trash: a tombstone
    /// superseding its versions that still seals its last content, so that
    /// it can be restored ([`restore`](Self::restore)), and so that a
    /// concurrent edit that wins over the deletion takes this device's
    /// values into its history. [`purge`](Self::purge) drops the content.
    pub fn delete(&mut self, key: &SecretKey, id: ItemId, now_ms: u64) -> Result<(), VaultError> {
        let item = self.live_for_update(key, id, now_ms)?;
        let seen = item.max_stamp();
        self.write_tombstone(key, id, seen, now_ms, Some(item))
    }

    /// Writes a tombstone for `id` holding `content` (the deleted item, or
    /// nothing once purged), stamped after `seen`, the newest stamp of what
    /// it takes over.
    pub(super) fn write_tombstone(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        seen: Option<Hlc>,
        now_ms: u64,
        content: Option<Item>,
    ) -> Result<(), VaultError> {
        if let Some(seen) = seen {
            self.clock.observe(seen);
        }
        let stamp = self.clock.tick(now_ms);
        self.write(
            key,
            id,
            RecordPlain::Tombstone(Tombstone {
                id,
                stamp,
                device: self.device_id,
                content,
            }),
        )
    }

    /// Resolves every item whose versions' plaintexts differ into one new
    /// version covering them all, and reports what was decided (also kept
    /// in [`reports`](Self::reports)). Siblings with identical plaintexts
    /// are left alone, so devices resolving at once do not ping-pong.
    pub fn resolve_conflicts(
        &mut self,
        key: &SecretKey,
        now_ms: u64,
    ) -> Result<Vec<ConflictReport>, VaultError> {
        let ids: Vec<ItemId> = self
            .state
            .records()
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(id, _)| *id)
            .collect();
        let mut reports = Vec::new();
        for id in ids {
            reports.extend(self.resolve_item(key, id, now_ms)?);
        }
        self.add_reports(key, &reports);
        Ok(reports)
    }

    /// [`resolve_conflicts`](Self::resolve_conflicts) for the items `ids`
    /// only (those a merge changed): costs what they cost, not the vault.
    pub fn resolve_conflicts_in(
        &mut self,
        key: &SecretKey,
        ids: &[ItemId],
        now_ms: u64,
    ) -> Result<Vec<ConflictReport>, VaultError> {
        let mut reports = Vec::new();
        for id in ids {
            if self.state.versions(id).len() > 1 {
                reports.extend(self.resolve_item(key, *id, now_ms)?);
            }
        }
        self.add_reports(key, &reports);
        Ok(reports)
    }

    /// The item to base an edit or delete on: siblings resolved and written
    /// first, so that the reports are made.
    pub(super) fn live_for_update(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<Item, VaultError> {
        if self.state.versions(&id).len() > 1 {
            let reports = self.resolve_item(key, id, now_ms)?;
            self.add_reports(key, &reports);
        }
        let plains = self.plains_of(key, id)?;
        view_of(&plains).ok_or(VaultError::NoSuchItem(id))
    }

    pub(super) fn resolve_item(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        now_ms: u64,
    ) -> Result<Vec<ConflictReport>, VaultError> {
        let versions: Vec<&RecordVersion> = {
            let all = self.state.versions(&id);
            all.iter()
                .zip(current_flags(all))
                .filter(|(_, c)| *c)
                .map(|(v, _)| v)
                .collect()
        };
        let dots: Vec<Dot> = versions.iter().map(|v| v.dot).collect();
        let plains = self.plains_of(key, id)?;
        if plains.len() < 2 || plains.iter().all(|p| *p == plains[0]) {
            return Ok(Vec::new());
        }
        let mut live_devices = Vec::new();
        let mut loser = None;
        for (dot, p) in dots.iter().zip(&plains) {
            match p {
                RecordPlain::Item(i) => live_devices.push((i.latest_change(), *dot)),
                RecordPlain::Tombstone(t) => {
                    loser = loser.max(Some((t.stamp, t.device)));
                }
            }
        }
        let mut reports = Vec::new();
        let resolved = match live_view(&plains) {
            None => RecordPlain::Tombstone(
                trash_view(&plains).expect("two or more versions, none live: all tombstones"),
            ),
            Some((item, conflicts)) => {
                let title = SecretString::from(item.title());
                if let Some((_, loser_device)) = loser {
                    let winner = live_devices
                        .iter()
                        .max()
                        .map(|(_, dot)| dot.device)
                        .expect("a live view comes from a live version");
                    reports.push(ConflictReport {
                        item_id: id,
                        title: title.clone(),
                        kind: ConflictKind::DeleteVsEdit,
                        winner_device: winner,
                        loser_device,
                        at_ms: now_ms,
                    });
                }
                for c in conflicts {
                    reports.push(ConflictReport {
                        item_id: id,
                        title: title.clone(),
                        kind: ConflictKind::SameField { field: c.field },
                        winner_device: c.winner_device,
                        loser_device: c.loser_device,
                        at_ms: now_ms,
                    });
                }
                RecordPlain::Item(item)
            }
        };
        self.observe(&resolved);
        self.write(key, id, resolved)?;
        Ok(reports)
    }

    /// Seals `plain` as this device's next version of `id`, superseding
    /// every current version, and compacts the item.
    pub(super) fn write(
        &mut self,
        key: &SecretKey,
        id: ItemId,
        plain: RecordPlain,
    ) -> Result<(), VaultError> {
        let counter = self
            .state
            .vv()
            .get(&self.device_id)
            .checked_add(1)
            .ok_or(VaultError::CounterExhausted)?;
        let dot = Dot::new(self.device_id, counter);
        let mut context = VersionVector::new();
        for v in self.state.versions(&id) {
            context.join(&v.context);
            context.insert_dot(&v.dot);
        }
        let rk = RecordKey::derive(key);
        let version = seal_record(&rk, self.account_id, self.epoch, dot, context, &plain);
        let inserted = self.state.insert(version.clone());
        self.unsaved.items.insert(id);
        self.local_changes.insert(id);
        debug_assert_eq!(
            inserted,
            Inserted::Added,
            "a fresh dot is never in the state"
        );
        self.state.compact_item(&id);
        // Keep the cache warm: the item now has exactly this version.
        let mut cache = self.checked_cache(key);
        cache.search_touched([&id]);
        if self.state.versions(&id).len() == 1 {
            cache.items.insert(
                id,
                CachedItem::new(std::slice::from_ref(&version), vec![Opened::Plain(plain)]),
            );
        } else {
            cache.items.remove(&id);
        }
        Ok(())
    }
}

pub(super) fn check_names<'a>(
    mut names: impl Iterator<Item = &'a String>,
) -> Result<(), VaultError> {
    match names.find(|n| !is_valid_field_name(n)) {
        Some(bad) => Err(VaultError::BadFieldName(bad.clone())),
        None => Ok(()),
    }
}
