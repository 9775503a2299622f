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
//! While locked nothing can be opened: [`Index::locked`] keeps the
//! signatures and the membership (which item ids are Secret Service items,
//! in which collection: no labels, attributes or secrets) and makes the next
//! refresh compare every record. Signed out or reset, [`Index::clear`]
//! forgets everything and announces every known item as deleted.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use coffer_vault::ids::ItemId as VaultId;
use coffer_vault::record::RecordVersion;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;
use coffer_vault::vv::VersionVector;
use uuid::Uuid;

use super::store::{CollectionId, ItemId, StoreChange};
use super::vault_items::collection_of;

/// The Secret Service items of one vault, and the signature of every record.
#[derive(Debug, Default)]
pub struct Index {
    account: Option<(Uuid, u64)>,
    vv: Option<VersionVector>,
    sigs: HashMap<VaultId, u64>,
    members: BTreeMap<VaultId, CollectionId>,
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
            let member = match replica.get(key, *id) {
                Ok(item) => item.as_ref().and_then(collection_of),
                Err(e) => {
                    tracing::warn!(item = %id, error = %e, "a vault item does not open; the Secret Service leaves it out");
                    None
                }
            };
            self.sigs.insert(*id, sig);
            out.extend(self.set_member(*id, member));
        }
        self.vv = Some(state.vv().clone());
        out
    }

    /// Records a write made through the trait to `id` (now in
    /// `collection`, or no Secret Service item): no notice follows.
    pub fn note(&mut self, replica: &Replica, id: VaultId, collection: Option<CollectionId>) {
        self.sigs
            .insert(id, signature(replica.state().versions(&id)));
        match collection {
            Some(c) => self.members.insert(id, c),
            None => self.members.remove(&id),
        };
        // Only this record moved since the last refresh, if the vector was
        // current then: keep it current.
        if self.vv.is_some() {
            self.vv = Some(replica.state().vv().clone());
        }
    }

    /// The vault locked: keep what is known, compare every record at the
    /// next refresh (records may be dropped at unlock without the version
    /// vector moving).
    pub fn locked(&mut self) {
        self.vv = None;
    }

    /// Signed out or reset: forget everything; every known item is
    /// announced as deleted.
    pub fn clear(&mut self) -> Vec<StoreChange> {
        let out = std::mem::take(&mut self.members)
            .into_iter()
            .map(|(id, c)| StoreChange::ItemDeleted(c, ss_id(&id)))
            .collect();
        *self = Index::default();
        out
    }

    fn set_member(&mut self, id: VaultId, now: Option<CollectionId>) -> Vec<StoreChange> {
        let before = self.members.get(&id).cloned();
        match &now {
            Some(c) => self.members.insert(id, c.clone()),
            None => self.members.remove(&id),
        };
        let sid = ss_id(&id);
        match (before, now) {
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
        self.members.get(id)
    }

    /// The Secret Service items (in `collection`, or all), in id order.
    pub fn members<'a>(
        &'a self,
        collection: Option<&'a CollectionId>,
    ) -> impl Iterator<Item = (VaultId, &'a CollectionId)> + 'a {
        self.members
            .iter()
            .filter(move |(_, c)| collection.is_none_or(|want| *c == want))
            .map(|(id, c)| (*id, c))
    }

    /// How many items each collection holds.
    pub fn counts(&self) -> BTreeMap<CollectionId, usize> {
        let mut out = BTreeMap::new();
        for c in self.members.values() {
            *out.entry(c.clone()).or_insert(0) += 1;
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
        let a = r.add(&key, secret_item("a"), 1).unwrap();
        idx.note(&r, a, Some(login()));
        assert!(idx.refresh(&r, &key).is_empty(), "noted, not announced");
        idx.locked();
        assert_eq!(idx.collection(&a), Some(&login()));
        assert!(
            idx.refresh(&r, &key).is_empty(),
            "a full comparison after unlock finds nothing new"
        );
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
