//! [`MemoryStore`]: a [`SecretStore`] held in memory, the reference for the
//! trait's semantics and the store the provider's tests run against.
//!
//! It behaves as the vault-backed store should: a `login` collection with
//! the `default` alias, writes and secret reads refused while locked, create
//! with replace, change notices for edits made "from elsewhere" (the
//! `external_*` methods stand in for sync and the CLI), and unlock requests
//! recorded until [`MemoryStore::unlock`] (standing in for `coffer unlock`)
//! or a cancel. Whether item metadata stays readable while locked is an
//! option, so both kinds of store are tested.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};

use super::store::{
    Attributes, CollectionId, CollectionInfo, Created, ItemId, ItemInfo, NewItem, Secret,
    SecretStore, StoreChange, StoreError, UnlockRequest, DEFAULT_ALIAS, LOGIN,
};

/// How a [`MemoryStore`] behaves while locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStoreOptions {
    /// Whether labels and attributes stay readable (and searchable) while
    /// locked, as in gnome-keyring; secrets never are.
    pub metadata_while_locked: bool,
    /// Whether the store starts locked.
    pub locked: bool,
}

impl Default for MemoryStoreOptions {
    fn default() -> Self {
        MemoryStoreOptions {
            metadata_while_locked: true,
            locked: false,
        }
    }
}

struct StoredItem {
    info: ItemInfo,
    secret: Secret,
}

struct StoredCollection {
    info: CollectionInfo,
    items: BTreeMap<ItemId, StoredItem>,
}

struct State {
    collections: BTreeMap<CollectionId, StoredCollection>,
    aliases: BTreeMap<String, CollectionId>,
}

/// A [`SecretStore`] in memory. See the module docs.
pub struct MemoryStore {
    state: Mutex<State>,
    options: MemoryStoreOptions,
    locked: watch::Sender<bool>,
    changes: broadcast::Sender<StoreChange>,
    unlock_requests: watch::Sender<Vec<UnlockRequest>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryStoreOptions::default())
    }
}

impl MemoryStore {
    /// An empty store: the `login` collection ("Login"), `default` naming it.
    pub fn new(options: MemoryStoreOptions) -> MemoryStore {
        let t = now();
        let login = CollectionId(LOGIN.to_string());
        let mut collections = BTreeMap::new();
        collections.insert(
            login.clone(),
            StoredCollection {
                info: CollectionInfo {
                    id: login.clone(),
                    label: "Login".to_string(),
                    created: t,
                    modified: t,
                },
                items: BTreeMap::new(),
            },
        );
        let mut aliases = BTreeMap::new();
        aliases.insert(DEFAULT_ALIAS.to_string(), login);
        MemoryStore {
            state: Mutex::new(State {
                collections,
                aliases,
            }),
            options,
            locked: watch::Sender::new(options.locked),
            changes: broadcast::Sender::new(1024),
            unlock_requests: watch::Sender::new(Vec::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn locked_now(&self) -> bool {
        *self.locked.borrow()
    }

    fn check_unlocked(&self) -> Result<(), StoreError> {
        if self.locked_now() {
            Err(StoreError::Locked)
        } else {
            Ok(())
        }
    }

    fn check_metadata(&self) -> Result<(), StoreError> {
        if self.options.metadata_while_locked {
            Ok(())
        } else {
            self.check_unlocked()
        }
    }

    /// Unlocks (as `coffer unlock` does); pending unlock requests are
    /// answered.
    pub fn unlock(&self) {
        self.unlock_requests.send_replace(Vec::new());
        self.locked.send_replace(false);
    }

    /// Locks (as `coffer lock` or the lock timeout does).
    pub fn lock_now(&self) {
        self.locked.send_replace(true);
    }

    /// The clients waiting for an unlock now.
    pub fn unlock_requests(&self) -> watch::Receiver<Vec<UnlockRequest>> {
        self.unlock_requests.subscribe()
    }

    fn notify(&self, change: StoreChange) {
        // No receiver is fine: nobody listens.
        let _ = self.changes.send(change);
    }

    /// Adds an item as sync would (with a change notice); returns its id.
    pub fn external_create(
        &self,
        collection: &CollectionId,
        item: NewItem,
    ) -> Result<ItemId, StoreError> {
        let id = {
            let mut st = self.state();
            let coll = st
                .collections
                .get_mut(collection)
                .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
            insert_item(coll, item, false).item.id
        };
        self.notify(StoreChange::ItemCreated(collection.clone(), id.clone()));
        Ok(id)
    }

    /// Relabels an item as `coffer edit` would (with a change notice).
    pub fn external_set_label(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        label: &str,
    ) -> Result<(), StoreError> {
        {
            let mut st = self.state();
            let it = item_mut(&mut st, collection, item)?;
            it.info.label = label.to_string();
            it.info.modified = now();
        }
        self.notify(StoreChange::ItemChanged(collection.clone(), item.clone()));
        Ok(())
    }

    /// Deletes an item as sync would (with a change notice).
    pub fn external_delete(
        &self,
        collection: &CollectionId,
        item: &ItemId,
    ) -> Result<(), StoreError> {
        {
            let mut st = self.state();
            let coll = st
                .collections
                .get_mut(collection)
                .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
            coll.items
                .remove(item)
                .ok_or_else(|| StoreError::NoSuchItem(collection.clone(), item.clone()))?;
            coll.info.modified = now();
        }
        self.notify(StoreChange::ItemDeleted(collection.clone(), item.clone()));
        Ok(())
    }

    /// Announces that anything may have changed.
    pub fn external_resync(&self) {
        self.notify(StoreChange::Resync);
    }
}

fn new_item_id() -> ItemId {
    ItemId(uuid::Uuid::new_v4().simple().to_string())
}

fn insert_item(coll: &mut StoredCollection, item: NewItem, replace: bool) -> Created {
    let t = now();
    coll.info.modified = t;
    if replace {
        if let Some(existing) = coll
            .items
            .values_mut()
            .find(|i| i.info.attributes == item.attributes)
        {
            existing.info.label = item.label;
            existing.info.modified = t;
            existing.secret = item.secret;
            return Created {
                item: existing.info.clone(),
                replaced: true,
            };
        }
    }
    let id = new_item_id();
    let info = ItemInfo {
        id: id.clone(),
        label: item.label,
        attributes: item.attributes,
        created: t,
        modified: t,
    };
    coll.items.insert(
        id,
        StoredItem {
            info: info.clone(),
            secret: item.secret,
        },
    );
    Created {
        item: info,
        replaced: false,
    }
}

fn item_mut<'a>(
    st: &'a mut State,
    collection: &CollectionId,
    item: &ItemId,
) -> Result<&'a mut StoredItem, StoreError> {
    st.collections
        .get_mut(collection)
        .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?
        .items
        .get_mut(item)
        .ok_or_else(|| StoreError::NoSuchItem(collection.clone(), item.clone()))
}

fn matches(have: &Attributes, want: &Attributes) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// A collection id from a label: its ASCII letters and digits, lower-cased
/// ("collection" when none), with a number added until it is free.
fn collection_id_for(
    label: &str,
    taken: &BTreeMap<CollectionId, StoredCollection>,
) -> CollectionId {
    let base: String = label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(32)
        .collect();
    let base = if base.is_empty() {
        "collection".to_string()
    } else {
        base
    };
    let mut id = CollectionId(base.clone());
    let mut n = 1u64;
    while taken.contains_key(&id) {
        n += 1;
        id = CollectionId(format!("{base}{n}"));
    }
    id
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError> {
        Ok(self
            .state()
            .collections
            .values()
            .map(|c| c.info.clone())
            .collect())
    }

    async fn create_collection(&self, label: &str) -> Result<CollectionInfo, StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let id = collection_id_for(label, &st.collections);
        let t = now();
        let info = CollectionInfo {
            id: id.clone(),
            label: label.to_string(),
            created: t,
            modified: t,
        };
        st.collections.insert(
            id,
            StoredCollection {
                info: info.clone(),
                items: BTreeMap::new(),
            },
        );
        Ok(info)
    }

    async fn delete_collection(&self, collection: &CollectionId) -> Result<(), StoreError> {
        self.check_unlocked()?;
        if collection.as_str() == LOGIN {
            return Err(StoreError::Unsupported(
                "the login collection is coffer's own and cannot be deleted; delete its items instead"
                    .to_string(),
            ));
        }
        let mut st = self.state();
        st.collections
            .remove(collection)
            .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
        st.aliases.retain(|_, c| c != collection);
        Ok(())
    }

    async fn set_collection_label(
        &self,
        collection: &CollectionId,
        label: &str,
    ) -> Result<(), StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let c = st
            .collections
            .get_mut(collection)
            .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
        c.info.label = label.to_string();
        c.info.modified = now();
        Ok(())
    }

    async fn aliases(&self) -> Result<Vec<(String, CollectionId)>, StoreError> {
        Ok(self
            .state()
            .aliases
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect())
    }

    async fn set_alias(
        &self,
        name: &str,
        collection: Option<&CollectionId>,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        match collection {
            None => {
                if name == DEFAULT_ALIAS {
                    return Err(StoreError::Unsupported(
                        "the default alias always names a collection; point it at another one instead of removing it"
                            .to_string(),
                    ));
                }
                st.aliases.remove(name);
            }
            Some(c) => {
                if !st.collections.contains_key(c) {
                    return Err(StoreError::NoSuchCollection(c.clone()));
                }
                st.aliases.insert(name.to_string(), c.clone());
            }
        }
        Ok(())
    }

    async fn items(&self, collection: &CollectionId) -> Result<Vec<ItemInfo>, StoreError> {
        self.check_metadata()?;
        let st = self.state();
        let c = st
            .collections
            .get(collection)
            .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
        Ok(c.items.values().map(|i| i.info.clone()).collect())
    }

    async fn item(&self, collection: &CollectionId, item: &ItemId) -> Result<ItemInfo, StoreError> {
        self.check_metadata()?;
        let mut st = self.state();
        Ok(item_mut(&mut st, collection, item)?.info.clone())
    }

    async fn search(
        &self,
        collection: Option<&CollectionId>,
        attributes: &Attributes,
    ) -> Result<Vec<(CollectionId, ItemInfo)>, StoreError> {
        self.check_metadata()?;
        let st = self.state();
        if let Some(c) = collection {
            if !st.collections.contains_key(c) {
                return Err(StoreError::NoSuchCollection(c.clone()));
            }
        }
        Ok(st
            .collections
            .iter()
            .filter(|(id, _)| collection.is_none_or(|c| c == *id))
            .flat_map(|(id, c)| {
                c.items
                    .values()
                    .filter(|i| matches(&i.info.attributes, attributes))
                    .map(move |i| (id.clone(), i.info.clone()))
            })
            .collect())
    }

    async fn create_item(
        &self,
        collection: &CollectionId,
        item: NewItem,
        replace: bool,
    ) -> Result<Created, StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let coll = st
            .collections
            .get_mut(collection)
            .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
        Ok(insert_item(coll, item, replace))
    }

    async fn delete_item(
        &self,
        collection: &CollectionId,
        item: &ItemId,
    ) -> Result<(), StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let coll = st
            .collections
            .get_mut(collection)
            .ok_or_else(|| StoreError::NoSuchCollection(collection.clone()))?;
        coll.items
            .remove(item)
            .ok_or_else(|| StoreError::NoSuchItem(collection.clone(), item.clone()))?;
        coll.info.modified = now();
        Ok(())
    }

    async fn secret(&self, collection: &CollectionId, item: &ItemId) -> Result<Secret, StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        Ok(item_mut(&mut st, collection, item)?.secret.clone())
    }

    async fn set_secret(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        secret: Secret,
    ) -> Result<(), StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let it = item_mut(&mut st, collection, item)?;
        it.secret = secret;
        it.info.modified = now();
        Ok(())
    }

    async fn set_item_label(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        label: &str,
    ) -> Result<(), StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let it = item_mut(&mut st, collection, item)?;
        it.info.label = label.to_string();
        it.info.modified = now();
        Ok(())
    }

    async fn set_item_attributes(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        attributes: &Attributes,
    ) -> Result<(), StoreError> {
        self.check_unlocked()?;
        let mut st = self.state();
        let it = item_mut(&mut st, collection, item)?;
        it.info.attributes = attributes.clone();
        it.info.modified = now();
        Ok(())
    }

    fn lock_state(&self) -> watch::Receiver<bool> {
        self.locked.subscribe()
    }

    async fn request_unlock(&self, request: UnlockRequest) -> Result<(), StoreError> {
        self.unlock_requests.send_modify(|r| {
            if !r.iter().any(|x| x.id == request.id) {
                r.push(request);
            }
        });
        Ok(())
    }

    async fn cancel_unlock(&self, id: u64) {
        self.unlock_requests
            .send_modify(|r| r.retain(|x| x.id != id));
    }

    async fn lock(&self) -> Result<(), StoreError> {
        self.lock_now();
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn secret(s: &str) -> Secret {
        Secret::new(Zeroizing::new(s.as_bytes().to_vec()), "text/plain")
    }

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn login() -> CollectionId {
        CollectionId(LOGIN.into())
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    }

    #[test]
    fn replace_keeps_the_id_and_plain_create_adds() {
        rt().block_on(async {
            let s = MemoryStore::default();
            let a = attrs(&[("service", "x"), ("user", "u")]);
            let new = |label: &str, pw: &str| NewItem {
                label: label.into(),
                attributes: a.clone(),
                secret: secret(pw),
            };
            let first = s
                .create_item(&login(), new("one", "1"), true)
                .await
                .unwrap();
            assert!(!first.replaced);
            let second = s
                .create_item(&login(), new("two", "2"), true)
                .await
                .unwrap();
            assert!(second.replaced);
            assert_eq!(second.item.id, first.item.id);
            assert_eq!(second.item.label, "two");
            assert_eq!(
                s.secret(&login(), &first.item.id).await.unwrap().value(),
                b"2"
            );
            let third = s
                .create_item(&login(), new("three", "3"), false)
                .await
                .unwrap();
            assert!(!third.replaced);
            assert_ne!(third.item.id, first.item.id);
            assert_eq!(s.items(&login()).await.unwrap().len(), 2);
        });
    }

    #[test]
    fn search_matches_subsets_and_locking_hides_secrets() {
        rt().block_on(async {
            let s = MemoryStore::default();
            for (svc, user) in [("a", "1"), ("a", "2"), ("b", "1")] {
                s.create_item(
                    &login(),
                    NewItem {
                        label: format!("{svc}{user}"),
                        attributes: attrs(&[("service", svc), ("user", user)]),
                        secret: secret("pw"),
                    },
                    false,
                )
                .await
                .unwrap();
            }
            assert_eq!(
                s.search(None, &attrs(&[("service", "a")]))
                    .await
                    .unwrap()
                    .len(),
                2
            );
            assert_eq!(s.search(None, &attrs(&[])).await.unwrap().len(), 3);
            assert_eq!(
                s.search(Some(&login()), &attrs(&[("service", "a"), ("user", "2")]))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(s
                .search(None, &attrs(&[("nope", "x")]))
                .await
                .unwrap()
                .is_empty());
            let id = s.items(&login()).await.unwrap()[0].id.clone();
            s.lock().await.unwrap();
            assert!(s.is_locked());
            assert_eq!(
                s.secret(&login(), &id).await.unwrap_err(),
                StoreError::Locked
            );
            assert_eq!(s.search(None, &attrs(&[])).await.unwrap().len(), 3);
            assert_eq!(
                s.set_item_label(&login(), &id, "x").await.unwrap_err(),
                StoreError::Locked
            );
            s.unlock();
            assert_eq!(s.secret(&login(), &id).await.unwrap().value(), b"pw");
        });
    }

    #[test]
    fn a_store_without_locked_metadata_refuses_searches_while_locked() {
        rt().block_on(async {
            let s = MemoryStore::new(MemoryStoreOptions {
                metadata_while_locked: false,
                locked: true,
            });
            assert_eq!(
                s.search(None, &attrs(&[])).await.unwrap_err(),
                StoreError::Locked
            );
            assert_eq!(s.items(&login()).await.unwrap_err(), StoreError::Locked);
            assert_eq!(
                s.collections().await.unwrap().len(),
                1,
                "collections stay listed"
            );
        });
    }

    #[test]
    fn unlock_requests_are_recorded_until_unlock_or_cancel() {
        rt().block_on(async {
            let s = MemoryStore::new(MemoryStoreOptions {
                locked: true,
                ..Default::default()
            });
            let rx = s.unlock_requests();
            let req = |id| UnlockRequest {
                id,
                requester: "t".into(),
            };
            s.request_unlock(req(1)).await.unwrap();
            s.request_unlock(req(2)).await.unwrap();
            s.request_unlock(req(2)).await.unwrap();
            assert_eq!(rx.borrow().len(), 2);
            s.cancel_unlock(1).await;
            assert_eq!(rx.borrow().as_slice(), &[req(2)]);
            s.unlock();
            assert!(rx.borrow().is_empty());
            assert!(!s.is_locked());
        });
    }

    #[test]
    fn collections_get_ids_from_labels_and_login_stays() {
        rt().block_on(async {
            let s = MemoryStore::default();
            let a = s.create_collection("Work Stuff!").await.unwrap();
            let b = s.create_collection("Work Stuff").await.unwrap();
            let c = s.create_collection("✓").await.unwrap();
            assert_eq!(a.id.as_str(), "workstuff");
            assert_eq!(b.id.as_str(), "workstuff2");
            assert_eq!(c.id.as_str(), "collection");
            s.set_alias("work", Some(&a.id)).await.unwrap();
            s.delete_collection(&a.id).await.unwrap();
            assert!(!s.aliases().await.unwrap().iter().any(|(n, _)| n == "work"));
            assert!(matches!(
                s.delete_collection(&login()).await.unwrap_err(),
                StoreError::Unsupported(_)
            ));
            assert!(matches!(
                s.set_alias(DEFAULT_ALIAS, None).await.unwrap_err(),
                StoreError::Unsupported(_)
            ));
        });
    }

    #[test]
    fn external_edits_send_notices() {
        rt().block_on(async {
            let s = MemoryStore::default();
            let mut rx = s.subscribe();
            let id = s
                .external_create(
                    &login(),
                    NewItem {
                        label: "x".into(),
                        attributes: attrs(&[]),
                        secret: secret("s"),
                    },
                )
                .unwrap();
            s.external_set_label(&login(), &id, "y").unwrap();
            s.external_delete(&login(), &id).unwrap();
            assert_eq!(
                rx.recv().await.unwrap(),
                StoreChange::ItemCreated(login(), id.clone())
            );
            assert_eq!(
                rx.recv().await.unwrap(),
                StoreChange::ItemChanged(login(), id.clone())
            );
            assert_eq!(
                rx.recv().await.unwrap(),
                StoreChange::ItemDeleted(login(), id)
            );
        });
    }
}
