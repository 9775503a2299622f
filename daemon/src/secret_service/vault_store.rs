//! [`VaultSecretStore`]: the [`SecretStore`] the daemon gives the provider,
//! over the session's vault.
//!
//! Secret Service items are coffer items (see [`super::vault_items`]):
//! every call takes the daemon's state lock, reads or writes the unlocked
//! replica, and a write is acknowledged only once the container is saved
//! (then the sync task is woken to publish it, as for `coffer add`). No
//! call counts as use for the lock timeout: an app reading its secret now
//! and then must not keep the vault unlocked behind the user's back.
//!
//! # Collections
//!
//! One collection, `login` ("Login"), named by the alias `default`. Clients
//! cannot make others (`CreateCollection` answers NotSupported, except for
//! the `default` alias, which returns `login`), nor delete, relabel or
//! re-alias it: every app's secrets land in the one collection that
//! syncs. Items another device put in a collection of another name are
//! shown in `coffer list --collection NAME`, not on the bus.
//!
//! # Locked
//!
//! Labels and attributes are sealed in the vault like everything else, so
//! a locked daemon cannot read them, least of all after a restart; nothing
//! is kept in memory across a lock either. While locked, [`SecretStore::items`],
//! [`SecretStore::item`] and [`SecretStore::search`] answer
//! [`StoreError::Locked`]; the provider then answers a search with a
//! *deferred search* object in its `locked` list, which a client unlocks
//! through a prompt that `coffer unlock` completes, and which resolves to
//! the matching items then (see `deferred.rs`). So `secret-tool
//! lookup` on a locked coffer waits for `coffer unlock` instead of finding
//! nothing, even right after a restart.
//!
//! # Changes from elsewhere
//!
//! A task follows the daemon's events (every sync round, local change,
//! lock, unlock, sign-in, reset ends in one) and brings the
//! [`Index`] in step, announcing what changed on [`SecretStore::subscribe`]
//! and the lock state on [`SecretStore::lock_state`]. Every call also
//! brings the index in step first, so answers never lag behind the vault.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;
use coffer_vault::ids::ItemId as VaultId;
use coffer_vault::item::Item;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;
use tokio::sync::{broadcast, watch};

use super::store::{
    Attributes, CollectionId, CollectionInfo, Created, ItemId, ItemInfo, NewItem, Secret,
    SecretStore, StoreChange, StoreError, UnlockRequest, DEFAULT_ALIAS, LOGIN,
};
use super::vault_index::Index;
use super::vault_items::{self as map, Change};
use crate::daemon::{now_ms, Daemon};
use crate::session::{Account, Core, Session};

/// The label of the `login` collection.
pub const LOGIN_LABEL: &str = "Login";

/// The vault as the Secret Service sees it. See the module docs.
pub struct VaultSecretStore {
    daemon: Weak<Daemon>,
    locked: watch::Sender<bool>,
    changes: broadcast::Sender<StoreChange>,
    waiting: watch::Sender<Vec<UnlockRequest>>,
    index: Mutex<Index>,
}

fn is_locked(session: &Session) -> bool {
    !matches!(session, Session::Unlocked(..))
}

fn login() -> CollectionId {
    CollectionId(LOGIN.to_string())
}

fn check_collection(c: &CollectionId) -> Result<(), StoreError> {
    if c.as_str() == LOGIN {
        Ok(())
    } else {
        Err(StoreError::NoSuchCollection(c.clone()))
    }
}

fn vault_id(c: &CollectionId, i: &ItemId) -> Result<VaultId, StoreError> {
    i.as_str()
        .parse()
        .map_err(|_| StoreError::NoSuchItem(c.clone(), i.clone()))
}

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    tracing::error!(error = %e, "Secret Service: {what}");
    StoreError::Failed(format!(
        "cofferd could not {what} ({e}); see the daemon's log"
    ))
}

fn not_supported(what: &str) -> StoreError {
    StoreError::Unsupported(format!(
        "{what}: coffer keeps every app's secrets in its one collection, login (alias default), which syncs with the vault"
    ))
}

impl VaultSecretStore {
    /// A store over `daemon`'s session, following its events from now on.
    /// Must be called inside the daemon's runtime.
    pub async fn start(daemon: &Arc<Daemon>) -> Arc<VaultSecretStore> {
        let events = daemon.subscribe();
        let locked = is_locked(&daemon.core().await.session);
        let store = Arc::new(VaultSecretStore {
            daemon: Arc::downgrade(daemon),
            locked: watch::Sender::new(locked),
            changes: broadcast::Sender::new(1024),
            waiting: watch::Sender::new(Vec::new()),
            index: Mutex::new(Index::default()),
        });
        store.catch_up().await;
        tokio::spawn(follow(Arc::downgrade(&store), events));
        store
    }

    fn daemon(&self) -> Result<Arc<Daemon>, StoreError> {
        self.daemon
            .upgrade()
            .ok_or_else(|| StoreError::Failed("cofferd is shutting down".into()))
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding it leaves plain data behind; keep going.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn announce(&self, changes: Vec<StoreChange>) {
        for c in changes {
            // No receiver is fine: the provider may be stopping.
            let _ = self.changes.send(c);
        }
    }

    /// Brings the index and the lock state in step with the session.
    async fn catch_up(&self) {
        let Ok(d) = self.daemon() else { return };
        let core = d.core().await;
        let changes = {
            let mut idx = self.index();
            match &core.session {
                Session::Unlocked(a, k) => idx.refresh(&a.replica, k),
                Session::Locked(_) => {
                    idx.locked();
                    Vec::new()
                }
                Session::SignedOut | Session::Reset(_) => idx.clear(),
            }
        };
        let locked = is_locked(&core.session);
        drop(core);
        self.announce(changes);
        self.locked
            .send_if_modified(|l| std::mem::replace(l, locked) != locked);
        if !locked {
            self.waiting.send_if_modified(|w| {
                let had = !w.is_empty();
                w.clear();
                had
            });
        }
    }

    /// The clients waiting for `coffer unlock`, for people.
    pub fn waiting(&self) -> Vec<String> {
        self.waiting
            .borrow()
            .iter()
            .map(|r| r.requester.clone())
            .collect()
    }

    /// The items of each collection, while unlocked.
    pub async fn counts(&self) -> Option<BTreeMap<CollectionId, usize>> {
        self.read(|_, _, idx| Ok(idx.counts())).await.ok()
    }

    /// Runs `f` on the unlocked vault, the index brought in step first.
    async fn read<T>(
        &self,
        f: impl FnOnce(&Replica, &SecretKey, &Index) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let d = self.daemon()?;
        let core = d.core().await;
        let Session::Unlocked(account, key) = &core.session else {
            return Err(StoreError::Locked);
        };
        let mut idx = self.index();
        let changes = idx.refresh(&account.replica, key);
        let out = f(&account.replica, key, &idx);
        drop(idx);
        drop(core);
        self.announce(changes);
        out
    }

    /// Runs the write `f` on the unlocked vault (counts as use), saves,
    /// and records the item `f` names, as it is now, in the index; on a
    /// failed save the vault is rolled back and nothing was changed.
    async fn write<T>(
        &self,
        touches: &[VaultId],
        f: impl FnOnce(&mut Replica, &SecretKey, &Index) -> Result<(T, VaultId), StoreError>,
    ) -> Result<T, StoreError> {
        let d = self.daemon()?;
        let mut core = d.core().await;
        let (result, changes) = {
            let (account, key) = unlocked(&mut core)?;
            let mut idx = self.index();
            let changes = idx.refresh(&account.replica, &key);
            let undo = account.replica.undo_point(touches);
            let result =
                match f(&mut account.replica, &key, &idx) {
                    Err(e) => {
                        account.replica.rollback(undo);
                        Err(e)
                    }
                    Ok((out, id)) => match account.save() {
                        Ok(()) => {
                            let now =
                                account.replica.get(&key, id).ok().flatten().and_then(|i| {
                                    map::collection_of(&i).map(|c| (c, map::info(&i)))
                                });
                            idx.note(&account.replica, id, now);
                            Ok(out)
                        }
                        Err(e) => {
                            account.replica.rollback(undo);
                            Err(StoreError::Failed(format!(
                                "cofferd could not save the vault ({e}); nothing was changed"
                            )))
                        }
                    },
                };
            (result, changes)
        };
        drop(core);
        if result.is_ok() {
            d.kick.notify_one();
        }
        self.announce(changes);
        result
    }

    /// The Secret Service item `i` of collection `c`, opened.
    fn open(
        replica: &Replica,
        key: &SecretKey,
        idx: &Index,
        c: &CollectionId,
        i: &ItemId,
    ) -> Result<(VaultId, Item), StoreError> {
        let id = vault_id(c, i)?;
        if idx.collection(&id) != Some(c) {
            return Err(StoreError::NoSuchItem(c.clone(), i.clone()));
        }
        let item = replica
            .get(key, id)
            .map_err(|e| failed("open a vault item", e))?
            .ok_or_else(|| StoreError::NoSuchItem(c.clone(), i.clone()))?;
        Ok((id, item))
    }

    /// Applies `changes` to Secret Service item `i` of `c`.
    async fn edit(
        &self,
        c: &CollectionId,
        i: &ItemId,
        changes: Vec<Change>,
    ) -> Result<(), StoreError> {
        check_collection(c)?;
        let id = vault_id(c, i)?;
        let (c2, i2) = (c.clone(), i.clone());
        self.write(&[id], move |replica, key, idx| {
            Self::open(replica, key, idx, &c2, &i2)?;
            replica
                .edit(key, id, changes, now_ms())
                .map_err(|e| failed("change a vault item", e))?;
            Ok(((), id))
        })
        .await
    }
}

/// The unlocked account and its key. A Secret Service call does not count
/// as use for the lock timeout: an app that reads its secret every few
/// minutes (a mail client, a network applet) would otherwise keep the vault
/// unlocked for ever behind the user's back; once locked, the app asks
/// through a prompt like any other.
fn unlocked(core: &mut Core) -> Result<(&mut Account, SecretKey), StoreError> {
    let (account, key) = core.session.unlocked().map_err(|_| StoreError::Locked)?;
    Ok((account, key.clone()))
}

/// Follows the daemon's events until the store or the daemon goes away.
async fn follow(
    weak: Weak<VaultSecretStore>,
    mut events: broadcast::Receiver<coffer_proto::EventEnvelope>,
) {
    use broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        let Some(store) = weak.upgrade() else { return };
        store.catch_up().await;
    }
}

#[async_trait]
impl SecretStore for VaultSecretStore {
    async fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError> {
        let d = self.daemon()?;
        let core = d.core().await;
        let created = core
            .session
            .account()
            .map_or(0, |a| a.header.created_ms / 1000);
        let modified = (self.index().modified_ms() / 1000).max(created);
        Ok(vec![CollectionInfo {
            id: login(),
            label: LOGIN_LABEL.to_string(),
            created,
            modified,
        }])
    }

    async fn create_collection(&self, _label: &str) -> Result<CollectionInfo, StoreError> {
        Err(not_supported("new collections cannot be made"))
    }

    async fn delete_collection(&self, collection: &CollectionId) -> Result<(), StoreError> {
        check_collection(collection)?;
        Err(not_supported(
            "the login collection cannot be deleted (delete its items instead)",
        ))
    }

    async fn set_collection_label(
        &self,
        collection: &CollectionId,
        _label: &str,
    ) -> Result<(), StoreError> {
        check_collection(collection)?;
        Err(not_supported("the login collection's label is fixed"))
    }

    async fn aliases(&self) -> Result<Vec<(String, CollectionId)>, StoreError> {
        Ok(vec![(DEFAULT_ALIAS.to_string(), login())])
    }

    async fn set_alias(
        &self,
        name: &str,
        collection: Option<&CollectionId>,
    ) -> Result<(), StoreError> {
        match collection {
            Some(c) if name == DEFAULT_ALIAS && c.as_str() == LOGIN => Ok(()),
            Some(c) => {
                check_collection(c)?;
                Err(not_supported("aliases other than default cannot be set"))
            }
            None => Err(not_supported("the default alias always names login")),
        }
    }

    async fn items(&self, collection: &CollectionId) -> Result<Vec<ItemInfo>, StoreError> {
        check_collection(collection)?;
        self.read(|_, _, idx| {
            Ok(idx
                .members(Some(collection))
                .filter_map(|(_, _, info)| info.cloned())
                .collect())
        })
        .await
    }

    async fn item(&self, collection: &CollectionId, item: &ItemId) -> Result<ItemInfo, StoreError> {
        check_collection(collection)?;
        self.read(|_, _, idx| {
            vault_id(collection, item)
                .ok()
                .filter(|id| idx.collection(id) == Some(collection))
                .and_then(|id| idx.info(&id).cloned())
                .ok_or_else(|| StoreError::NoSuchItem(collection.clone(), item.clone()))
        })
        .await
    }

    async fn search(
        &self,
        collection: Option<&CollectionId>,
        attributes: &Attributes,
    ) -> Result<Vec<(CollectionId, ItemInfo)>, StoreError> {
        if let Some(c) = collection {
            check_collection(c)?;
        }
        self.read(|_, _, idx| {
            Ok(idx
                .members(collection)
                .filter_map(|(_, c, info)| {
                    let info = info.filter(|i| map::matches(&i.attributes, attributes))?;
                    Some((c.clone(), info.clone()))
                })
                .collect())
        })
        .await
    }

    async fn create_item(
        &self,
        collection: &CollectionId,
        item: NewItem,
        replace: bool,
    ) -> Result<Created, StoreError> {
        check_collection(collection)?;
        let c = collection.clone();
        self.write(&[], move |replica, key, idx| {
            let existing = if replace {
                idx.members(Some(&c))
                    .find(|(_, _, info)| info.is_some_and(|i| i.attributes == item.attributes))
                    .map(|(id, _, _)| id)
            } else {
                None
            };
            let (id, replaced) = match existing {
                Some(id) => {
                    let mut changes = vec![map::label_change(&item.label)];
                    changes.extend(map::secret_changes(&item.secret));
                    replica
                        .edit(key, id, changes, now_ms())
                        .map_err(|e| failed("replace a vault item", e))?;
                    (id, true)
                }
                None => {
                    let id = replica
                        .add(key, map::new_fields(&c, &item), now_ms())
                        .map_err(|e| failed("add a vault item", e))?;
                    (id, false)
                }
            };
            let info = replica
                .get(key, id)
                .map_err(|e| failed("open the new vault item", e))?
                .map(|i| map::info(&i))
                .ok_or_else(|| failed("find the new vault item", id))?;
            tracing::debug!(item = %id, replaced, "Secret Service item stored");
            Ok((
                Created {
                    item: info,
                    replaced,
                },
                id,
            ))
        })
        .await
    }

    async fn delete_item(
        &self,
        collection: &CollectionId,
        item: &ItemId,
    ) -> Result<(), StoreError> {
        check_collection(collection)?;
        let id = vault_id(collection, item)?;
        let (c, i) = (collection.clone(), item.clone());
        self.write(&[id], move |replica, key, idx| {
            Self::open(replica, key, idx, &c, &i)?;
            replica
                .delete(key, id, now_ms())
                .map_err(|e| failed("delete a vault item", e))?;
            tracing::debug!(item = %id, "Secret Service item deleted");
            Ok(((), id))
        })
        .await
    }

    async fn secret(&self, collection: &CollectionId, item: &ItemId) -> Result<Secret, StoreError> {
        check_collection(collection)?;
        let d = self.daemon()?;
        let mut core = d.core().await;
        let (account, key) = unlocked(&mut core)?;
        let mut idx = self.index();
        let changes = idx.refresh(&account.replica, &key);
        let out = Self::open(&account.replica, &key, &idx, collection, item)
            .and_then(|(_, i)| map::secret(&i));
        drop(idx);
        drop(core);
        self.announce(changes);
        out
    }

    async fn set_secret(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        secret: Secret,
    ) -> Result<(), StoreError> {
        self.edit(collection, item, map::secret_changes(&secret))
            .await
    }

    async fn set_item_label(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        label: &str,
    ) -> Result<(), StoreError> {
        self.edit(collection, item, vec![map::label_change(label)])
            .await
    }

    async fn set_item_attributes(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        attributes: &Attributes,
    ) -> Result<(), StoreError> {
        check_collection(collection)?;
        let old = self.item(collection, item).await?.attributes;
        self.edit(collection, item, map::attribute_changes(&old, attributes))
            .await
    }

    fn lock_state(&self) -> watch::Receiver<bool> {
        self.locked.subscribe()
    }

    async fn request_unlock(&self, request: UnlockRequest) -> Result<(), StoreError> {
        tracing::info!(requester = %request.requester, "a Secret Service client waits for `coffer unlock`");
        self.waiting.send_modify(|w| {
            if !w.iter().any(|x| x.id == request.id) {
                w.push(request);
            }
        });
        Ok(())
    }

    async fn cancel_unlock(&self, id: u64) {
        self.waiting.send_modify(|w| w.retain(|x| x.id != id));
    }

    async fn lock(&self) -> Result<(), StoreError> {
        let d = self.daemon()?;
        let mut core = d.core().await;
        core.session.lock(&d.ctx(), "a Secret Service client asked");
        drop(core);
        self.catch_up().await;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }
}
