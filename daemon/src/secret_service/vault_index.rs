//! Which vault items are Secret Service items, and what changed since the
//! provider last looked.
//!
//! The provider must hear of changes that do not come through the
//! [`SecretStore`](super::store::SecretStore) trait: an item synced from
//! another device, `coffer edit`/`rm`/`add`, an import or restore, a reset.
//! The [`Index`] keeps, per vault record, a signature of its versions (the
//! dots and deleted flags: no key needed, nothing secret) and, for the
//! Secret Service items, their collection. [`Index::refresh`] compares the
//! vault with it (quickly: nothing to do when the version vector is the
//! same), opens only the records whose versions changed, and returns the
//! `ItemCreated`/`ItemChanged`/`ItemDeleted` notices. Writes made through
//! the trait are recorded with [`Index::note`], so that they are not
//! announced twice.
//!
//! While unlocked it also keeps each Secret Service item's label,
//! attributes and dates ([`ItemInfo`]), so that a search or a listing opens
//! no record (a lookup in a collection of thousands would otherwise open
//! every one of them). While locked nothing can be opened: [`Index::locked`]
//! drops those, keeps the signatures and the membership (which item ids
//! are Secret Service items, in which collection: no labels, attributes or
//! secrets) and makes the next refresh compare every record and read the
//! members again. Signed out or reset, [`Index::clear`] forgets everything
//! and announces every known item as deleted.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use coffer_vault::ids::ItemId as VaultId;
use coffer_vault::record::RecordVersion;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;
use coffer_vault::vv::VersionVector;
use uuid::Uuid;

use super::store::{CollectionId, ItemId, ItemInfo, StoreChange};
use super::vault_items::{collection_of, info};
use crate::daemon::now_ms;

/// A Secret Service item as the index knows it.
#[derive(Debug)]
struct Member {
    collection: CollectionId,
    /// What the provider shows of it; `None` while locked.
    info: Option<ItemInfo>,
}

/// The Secret Service items of one vault, and the signature of every record.
#[derive(Debug, Default)]
pub struct Index {
    account: Option<(Uuid, u64)>,
    vv: Option<VersionVector>,
    sigs: HashMap<VaultId, u64>,
    members: BTreeMap<VaultId, Member>,
    /// When a Secret Service item last changed as far as this index saw
    /// (ms since the epoch): the collection's `Modified`.
    modified_ms: u64,
}

/// A signature of a record's versions: which writes they are and which are
/// tombstones.
fn signature(versions: &[RecordVersion]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in versions {
        v.dot.device.hash(&mut h);
        v.dot.counter.hash(&mut h);
        v.deleted.hash(&mut h);
    }
    h.finish()
}

fn ss_id(id: &VaultId) -> ItemId {
    ItemId(id.to_string())
}

impl Index {
    /// Brings the index in step with `replica` (unlocked with `key`) and
    /// returns what changed for the provider. A record that does not open
    /// is logged and left out (the vault reports it elsewhere).
    pub fn refresh(&mut self, replica: &Replica, key: &SecretKey) -> Vec<StoreChange> {
        let mut out = Vec::new();
        let account = (replica.account_id(), replica.epoch());
        if self.account != Some(account) {
            out.extend(self.clear());
            self.account = Some(account);
        }
        let state = replica.state();
        if self.vv.as_ref() == Some(state.vv()) {
            return out;
        }
        let records = state.records();
        let gone: Vec<VaultId> = self
            .sigs
            .keys()
            .filter(|id| !records.contains_key(*id))
            .copied()
            .collect();
        for id in gone {
            self.sigs.remove(&id);
            out.extend(self.set_member(id, None));
        }
        for (id, versions) in records {
            let sig = signature(versions);
            if self.sigs.get(id) == Some(&sig) {
                continue;
            }
            let now = match replica.get(key, *id) {
                Ok(item) => item
                    .as_ref()
                    .and_then(|i| collection_of(i).map(|c| (c, info(i)))),
                Err(e) => {
                    tracing::warn!(item = %id, error = %e, "a vault item does not open; the Secret Service leaves it out");
                    None
                }
            };
            self.sigs.insert(*id, sig);
            out.extend(self.set_member(*id, now));
        }
        // Members known from before a lock: their records did not change,
        // only what the provider shows of them is read again.
        for (id, m) in self.members.iter_mut().filter(|(_, m)| m.info.is_none()) {
            m.info = replica.get(key, *id).ok().flatten().as_ref().map(info);
        }
        self.vv = Some(state.vv().clone());
        out
    }

    /// Records a write made through the trait to `id`: now the item `now`
    /// shows in its collection, or no Secret Service item (`None`). No
    /// notice follows.
    pub fn note(&mut self, replica: &Replica, id: VaultId, now: Option<(CollectionId, ItemInfo)>) {
        self.sigs
            .insert(id, signature(replica.state().versions(&id)));
        self.set_member(id, now);
        // Only this record moved since the last refresh, if the vector was
        // current then: keep it current.
        if self.vv.is_some() {
            self.vv = Some(replica.state().vv().clone());
        }
    }

    /// The vault locked: forget what the items show, keep which they are,
    /// and compare every record at the next refresh (records may be dropped
    /// at unlock without the version vector moving).
    pub fn locked(&mut self) {
        self.vv = None;
        for m in self.members.values_mut() {
            m.info = None;
        }
    }

    /// Signed out or reset: forget everything; every known item is
    /// announced as deleted.
    pub fn clear(&mut self) -> Vec<StoreChange> {
        let out = std::mem::take(&mut self.members)
            .into_iter()
            .map(|(id, m)| StoreChange::ItemDeleted(m.collection, ss_id(&id)))
            .collect();
        *self = Index::default();
        out
    }

    /// Makes `id` the item `now` (or no Secret Service item), and says what
    /// that changed.
    fn set_member(
        &mut self,
        id: VaultId,
        now: Option<(CollectionId, ItemInfo)>,
    ) -> Vec<StoreChange> {
        let stamp = match &now {
            Some((_, i)) => i.modified * 1000,
            None => now_ms(),
        };
        let after = now.as_ref().map(|(c, _)| c.clone());
        let before = match now {
            Some((collection, info)) => self.members.insert(
                id,
                Member {
                    collection,
                    info: Some(info),
                },
            ),
            None => self.members.remove(&id),
        }
        .map(|m| m.collection);
        if before.is_some() || after.is_some() {
            self.modified_ms = self.modified_ms.max(stamp);
        }
        let sid = ss_id(&id);
        match (before, after) {
            (None, None) => vec![],
            (None, Some(c)) => vec![StoreChange::ItemCreated(c, sid)],
            (Some(c), None) => vec![StoreChange::ItemDeleted(c, sid)],
            (Some(a), Some(b)) if a == b => vec![StoreChange::ItemChanged(b, sid)],
            (Some(a), Some(b)) => vec![
                StoreChange::ItemDeleted(a, sid.clone()),
                StoreChange::ItemCreated(b, sid),
            ],
        }
    }

    /// The collection of Secret Service item `id`, if it is one.
    pub fn collection(&self, id: &VaultId) -> Option<&CollectionId> {
        self.members.get(id).map(|m| &m.collection)
    }

    /// What the provider shows of Secret Service item `id` (unlocked only).
    pub fn info(&self, id: &VaultId) -> Option<&ItemInfo> {
        self.members.get(id).and_then(|m| m.info.as_ref())
    }

    /// The Secret Service items (in `collection`, or all), in id order,
    /// with what they show (`None` while locked).
    pub fn members<'a>(
        &'a self,
        collection: Option<&'a CollectionId>,
    ) -> impl Iterator<Item = (VaultId, &'a CollectionId, Option<&'a ItemInfo>)> + 'a {
        self.members
            .iter()
            .filter(move |(_, m)| collection.is_none_or(|want| m.collection == *want))
            .map(|(id, m)| (*id, &m.collection, m.info.as_ref()))
    }

    /// When a Secret Service item last changed (ms; 0 when none was seen).
    pub fn modified_ms(&self) -> u64 {
        self.modified_ms
    }

    /// How many items each collection holds.
    pub fn counts(&self) -> BTreeMap<CollectionId, usize> {
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            *out.entry(m.collection.clone()).or_insert(0) += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::ids::DeviceId;
    use coffer_vault::secret::SecretString;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, SecretString)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
            .collect()
    }

    fn secret_item(label: &str) -> Vec<(String, SecretString)> {
        fields(&[
            ("title", label),
            ("field:kind", "secret"),
            ("field:collection", "login"),
            ("field:attribute:service", label),
            ("password", "pw"),
        ])
    }

    fn login() -> CollectionId {
        CollectionId("login".into())
    }

    fn replica() -> Replica {
        Replica::new(Uuid::new_v4(), 1, DeviceId::new_random(), "d".into())
    }

    #[test]
    fn changes_made_elsewhere_are_announced_once() {
        let key = SecretKey::generate();
        let mut r = replica();
        let mut idx = Index::default();
        let plain = r.add(&key, fields(&[("title", "Mail")]), 1).unwrap();
        let a = r.add(&key, secret_item("a"), 2).unwrap();
        assert_eq!(
            idx.refresh(&r, &key),
            vec![StoreChange::ItemCreated(login(), ss_id(&a))]
        );
        assert!(idx.refresh(&r, &key).is_empty(), "nothing new");
        assert_eq!(idx.counts(), BTreeMap::from([(login(), 1)]));
        assert_eq!(idx.info(&a).map(|i| i.label.as_str()), Some("a"));

        // An edit of the login item is no Secret Service change; one of
        // the secret item is.
        r.edit(&key, plain, vec![("notes".into(), Some("n".into()))], 3)
            .unwrap();
        r.edit(&key, a, vec![("title".into(), Some("A".into()))], 4)
            .unwrap();
        assert_eq!(
            idx.refresh(&r, &key),
            vec![StoreChange::ItemChanged(login(), ss_id(&a))]
        );
        // Moving an item out of the Secret Service (its kind removed) and
        // deleting one are deletions.
        let b = r.add(&key, secret_item("b"), 5).unwrap();
        idx.refresh(&r, &key);
        r.edit(&key, b, vec![("field:kind".into(), None)], 6)
            .unwrap();
        r.delete(&key, a, 7).unwrap();
        let mut ch = idx.refresh(&r, &key);
        ch.sort_by_key(|c| format!("{c:?}"));
        let mut want = vec![
            StoreChange::ItemDeleted(login(), ss_id(&a)),
            StoreChange::ItemDeleted(login(), ss_id(&b)),
        ];
        want.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(ch, want);
        assert_eq!(idx.members(None).count(), 0);
    }

    #[test]
    fn noted_writes_are_not_announced_and_locking_keeps_membership() {
        let key = SecretKey::generate();
        let mut r = replica();
        let mut idx = Index::default();
        assert!(idx.refresh(&r, &key).is_empty());
        let a = r.add(&key, secret_item("a"), 1_000_000).unwrap();
        let shown = info(&r.get(&key, a).unwrap().unwrap());
        idx.note(&r, a, Some((login(), shown.clone())));
        assert!(idx.refresh(&r, &key).is_empty(), "noted, not announced");
        assert_eq!(idx.info(&a), Some(&shown));
        assert_eq!(idx.modified_ms(), 1_000_000);
        idx.locked();
        assert_eq!(idx.collection(&a), Some(&login()));
        assert_eq!(
            idx.info(&a),
            None,
            "nothing the item shows is kept while locked"
        );
        assert!(
            idx.refresh(&r, &key).is_empty(),
            "a full comparison after unlock finds nothing new"
        );
        assert_eq!(idx.info(&a), Some(&shown), "read again at unlock");
        assert_eq!(
            idx.clear(),
            vec![StoreChange::ItemDeleted(login(), ss_id(&a))]
        );
        assert_eq!(idx.members(None).count(), 0);
    }

    #[test]
    fn another_account_replaces_everything() {
        let key = SecretKey::generate();
        let mut r = replica();
        let mut idx = Index::default();
        let a = r.add(&key, secret_item("a"), 1).unwrap();
        idx.refresh(&r, &key);
        let mut other = replica();
        let b = other.add(&key, secret_item("b"), 1).unwrap();
        assert_eq!(
            idx.refresh(&other, &key),
            vec![
                StoreChange::ItemDeleted(login(), ss_id(&a)),
                StoreChange::ItemCreated(login(), ss_id(&b)),
            ]
        );
    }
}
