//! Which collection, alias and item objects are on the bus, kept in step
//! with the store, and the signals that announce the differences.
//!
//! zbus serves only objects registered one by one, so every store item has
//! an object. This module registers them at start, as items come and go
//! (through the provider or from the store's change notices) and after a
//! resync, and emits `CollectionCreated/Deleted/Changed`,
//! `ItemCreated/Deleted/Changed` and `PropertiesChanged` for what changed.
//! Registering is idempotent, so an item announced twice (by the call that
//! made it and by a notice) is created once and signalled once. Only ids are
//! kept here; everything else is read from the store when asked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use zbus::object_server::SignalContext;
use zbus::zvariant::OwnedObjectPath;

use super::collection::{CollectionIface, Target};
use super::item::ItemIface;
use super::paths;
use super::provider::Shared;
use super::service::ServiceIface;
use super::store::{CollectionId, ItemId, StoreError};

#[derive(Default)]
struct Exported {
    collections: BTreeMap<CollectionId, BTreeSet<ItemId>>,
    aliases: BTreeMap<String, CollectionId>,
}

/// The objects on the bus.
#[derive(Default)]
pub struct Exports {
    inner: tokio::sync::Mutex<Exported>,
}

#[derive(Clone, Copy)]
enum ItemSignal {
    Created,
    Changed,
    Deleted,
}

#[derive(Clone, Copy)]
enum CollectionSignal {
    Created,
    Changed,
    Deleted,
}

fn log_err<T>(what: &str, r: zbus::Result<T>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "Secret Service: cannot {what}");
    }
}

async fn service_signal(sh: &Shared, kind: CollectionSignal, c: &CollectionId) {
    let path = paths::collection(c);
    let ctxt = match SignalContext::new(&sh.conn, paths::SERVICE) {
        Ok(x) => x,
        Err(e) => return log_err::<()>("make a signal context", Err(e)),
    };
    let r = match kind {
        CollectionSignal::Created => ServiceIface::collection_created(&ctxt, path.as_ref()).await,
        CollectionSignal::Changed => ServiceIface::collection_changed(&ctxt, path.as_ref()).await,
        CollectionSignal::Deleted => ServiceIface::collection_deleted(&ctxt, path.as_ref()).await,
    };
    log_err("emit a Service signal", r);
}

/// The paths under which collection `c` is served: its own and its
/// aliases'.
fn collection_paths(ex: &Exported, c: &CollectionId) -> Vec<OwnedObjectPath> {
    let mut out = vec![paths::collection(c)];
    out.extend(
        ex.aliases
            .iter()
            .filter(|(_, t)| *t == c)
            .map(|(a, _)| paths::alias(a)),
    );
    out
}

async fn item_signal(sh: &Shared, ex: &Exported, kind: ItemSignal, c: &CollectionId, i: &ItemId) {
    let item = paths::item(c, i);
    for path in collection_paths(ex, c) {
        let ctxt = match SignalContext::new(&sh.conn, path) {
            Ok(x) => x,
            Err(e) => return log_err::<()>("make a signal context", Err(e)),
        };
        let r = match kind {
            ItemSignal::Created => CollectionIface::item_created(&ctxt, item.as_ref()).await,
            ItemSignal::Changed => CollectionIface::item_changed(&ctxt, item.as_ref()).await,
            ItemSignal::Deleted => CollectionIface::item_deleted(&ctxt, item.as_ref()).await,
        };
        log_err("emit a Collection signal", r);
    }
}

/// Which properties of a collection changed.
#[derive(Clone, Copy)]
enum CollectionProps {
    Items,
    Label,
    Locked,
}

async fn collection_props(sh: &Shared, ex: &Exported, c: &CollectionId, which: &[CollectionProps]) {
    for path in collection_paths(ex, c) {
        let iface = match sh
            .conn
            .object_server()
            .interface::<_, CollectionIface>(path)
            .await
        {
            Ok(i) => i,
            Err(_) => continue,
        };
        let ctxt = iface.signal_context();
        let obj = iface.get().await;
        for w in which {
            let r = match w {
                CollectionProps::Items => obj.items_invalidate(ctxt).await,
                CollectionProps::Label => obj.label_changed(ctxt).await,
                CollectionProps::Locked => obj.locked_changed(ctxt).await,
            };
            log_err("emit PropertiesChanged for a collection", r);
            if matches!(w, CollectionProps::Items | CollectionProps::Label) {
                log_err(
                    "emit PropertiesChanged for a collection",
                    obj.modified_changed(ctxt).await,
                );
            }
        }
    }
}

/// Item properties that changed: the label, attributes and modification
/// time together (a notice does not say which), or the lock state.
#[derive(Clone, Copy)]
enum ItemProps {
    Content,
    Locked,
}

async fn item_props(sh: &Shared, c: &CollectionId, i: &ItemId, which: ItemProps) {
    let iface = match sh
        .conn
        .object_server()
        .interface::<_, ItemIface>(paths::item(c, i))
        .await
    {
        Ok(x) => x,
        Err(_) => return,
    };
    let ctxt = iface.signal_context();
    let obj = iface.get().await;
    match which {
        ItemProps::Content => {
            log_err(
                "emit PropertiesChanged for an item",
                obj.label_changed(ctxt).await,
            );
            log_err(
                "emit PropertiesChanged for an item",
                obj.attributes_changed(ctxt).await,
            );
            log_err(
                "emit PropertiesChanged for an item",
                obj.modified_changed(ctxt).await,
            );
        }
        ItemProps::Locked => log_err(
            "emit PropertiesChanged for an item",
            obj.locked_changed(ctxt).await,
        ),
    }
}

async fn service_collections_changed(sh: &Shared) {
    if let Ok(iface) = sh
        .conn
        .object_server()
        .interface::<_, ServiceIface>(paths::SERVICE)
        .await
    {
        let obj = iface.get().await;
        log_err(
            "emit PropertiesChanged for the Service",
            obj.collections_changed(iface.signal_context()).await,
        );
    }
}

impl Exports {
    async fn export_item(&self, sh: &Arc<Shared>, c: &CollectionId, i: &ItemId) -> bool {
        let iface = ItemIface {
            collection: c.clone(),
            item: i.clone(),
            shared: Arc::downgrade(sh),
        };
        match sh.conn.object_server().at(paths::item(c, i), iface).await {
            Ok(added) => added,
            Err(e) => {
                log_err::<()>("export an item", Err(e));
                false
            }
        }
    }

    async fn unexport_item(&self, sh: &Shared, c: &CollectionId, i: &ItemId) {
        log_err(
            "remove an item object",
            sh.conn
                .object_server()
                .remove::<ItemIface, _>(paths::item(c, i))
                .await,
        );
    }

    async fn export_collection(&self, sh: &Arc<Shared>, path: OwnedObjectPath, target: Target) {
        let iface = CollectionIface {
            target,
            shared: Arc::downgrade(sh),
        };
        log_err(
            "export a collection",
            sh.conn.object_server().at(path, iface).await,
        );
    }

    async fn unexport_collection(&self, sh: &Shared, path: OwnedObjectPath) {
        log_err(
            "remove a collection object",
            sh.conn
                .object_server()
                .remove::<CollectionIface, _>(path)
                .await,
        );
    }

    /// Brings every object in step with the store; with `all_changed`
    /// (after a resync notice) every remaining item is announced as changed
    /// too.
    pub async fn sync_all(&self, sh: &Arc<Shared>, all_changed: bool) -> Result<(), StoreError> {
        let collections = sh.store.collections().await?;
        let aliases = sh.store.aliases().await?;
        let mut ex = self.inner.lock().await;
        let wanted: BTreeSet<CollectionId> = collections.iter().map(|c| c.id.clone()).collect();
        let mut list_changed = false;

        let gone: Vec<CollectionId> = ex
            .collections
            .keys()
            .filter(|c| !wanted.contains(*c))
            .cloned()
            .collect();
        for c in gone {
            self.drop_collection(sh, &mut ex, &c).await;
            list_changed = true;
        }
        for c in &wanted {
            if !ex.collections.contains_key(c) {
                self.export_collection(sh, paths::collection(c), Target::Id(c.clone()))
                    .await;
                ex.collections.insert(c.clone(), BTreeSet::new());
                service_signal(sh, CollectionSignal::Created, c).await;
                list_changed = true;
            }
        }

        // Aliases before items, so item signals reach the alias paths too.
        let wanted_aliases: BTreeMap<String, CollectionId> = aliases
            .into_iter()
            .filter(|(_, c)| wanted.contains(c))
            .collect();
        let stale: Vec<String> = ex
            .aliases
            .keys()
            .filter(|a| !wanted_aliases.contains_key(*a))
            .cloned()
            .collect();
        for a in stale {
            self.unexport_collection(sh, paths::alias(&a)).await;
            ex.aliases.remove(&a);
        }
        for (a, c) in &wanted_aliases {
            if !ex.aliases.contains_key(a) {
                self.export_collection(sh, paths::alias(a), Target::Alias(a.clone()))
                    .await;
            }
            ex.aliases.insert(a.clone(), c.clone());
        }

        for c in &wanted {
            let items = match sh.store.items(c.clone()).await {
                Ok(items) => items,
                // Unreadable while locked: keep what is exported.
                Err(StoreError::Locked) => continue,
                Err(e) => {
                    tracing::warn!(collection = %c, error = %e, "cannot list a collection's items for the Secret Service");
                    continue;
                }
            };
            let want: BTreeSet<ItemId> = items.into_iter().map(|i| i.id).collect();
            let have = ex.collections.get(c).cloned().unwrap_or_default();
            let mut changed = false;
            for i in have.difference(&want) {
                self.unexport_item(sh, c, i).await;
                item_signal(sh, &ex, ItemSignal::Deleted, c, i).await;
                changed = true;
            }
            for i in want.difference(&have) {
                self.export_item(sh, c, i).await;
                item_signal(sh, &ex, ItemSignal::Created, c, i).await;
                changed = true;
            }
            if all_changed {
                for i in want.intersection(&have) {
                    item_signal(sh, &ex, ItemSignal::Changed, c, i).await;
                    item_props(sh, c, i, ItemProps::Content).await;
                }
            }
            ex.collections.insert(c.clone(), want);
            if changed {
                collection_props(sh, &ex, c, &[CollectionProps::Items]).await;
            }
            if all_changed {
                collection_props(sh, &ex, c, &[CollectionProps::Label]).await;
            }
        }
        drop(ex);
        if list_changed {
            service_collections_changed(sh).await;
        }
        Ok(())
    }

    async fn drop_collection(&self, sh: &Arc<Shared>, ex: &mut Exported, c: &CollectionId) {
        if let Some(items) = ex.collections.remove(c) {
            for i in &items {
                self.unexport_item(sh, c, i).await;
            }
        }
        self.unexport_collection(sh, paths::collection(c)).await;
        let aliases: Vec<String> = ex
            .aliases
            .iter()
            .filter(|(_, t)| *t == c)
            .map(|(a, _)| a.clone())
            .collect();
        for a in aliases {
            self.unexport_collection(sh, paths::alias(&a)).await;
            ex.aliases.remove(&a);
        }
        service_signal(sh, CollectionSignal::Deleted, c).await;
    }

    /// A collection was deleted (through the provider).
    pub async fn collection_removed(&self, sh: &Arc<Shared>, c: &CollectionId) {
        let mut ex = self.inner.lock().await;
        if ex.collections.contains_key(c) {
            self.drop_collection(sh, &mut ex, c).await;
            drop(ex);
            service_collections_changed(sh).await;
        }
    }

    /// A collection's label changed.
    pub async fn collection_changed(&self, sh: &Arc<Shared>, c: &CollectionId) {
        let ex = self.inner.lock().await;
        if ex.collections.contains_key(c) {
            service_signal(sh, CollectionSignal::Changed, c).await;
            collection_props(sh, &ex, c, &[CollectionProps::Label]).await;
        }
    }

    /// An item appeared; announced once however often this is called.
    pub async fn item_added(&self, sh: &Arc<Shared>, c: &CollectionId, i: &ItemId) {
        let mut ex = self.inner.lock().await;
        let Some(items) = ex.collections.get_mut(c) else {
            // A collection we have not seen yet: re-read everything.
            drop(ex);
            if let Err(e) = self.sync_all(sh, false).await {
                tracing::warn!(error = %e, "cannot follow a new Secret Service item");
            }
            return;
        };
        if !items.insert(i.clone()) {
            return;
        }
        self.export_item(sh, c, i).await;
        item_signal(sh, &ex, ItemSignal::Created, c, i).await;
        collection_props(sh, &ex, c, &[CollectionProps::Items]).await;
    }

    /// An item's label, attributes or secret changed.
    pub async fn item_changed(&self, sh: &Arc<Shared>, c: &CollectionId, i: &ItemId) {
        let ex = self.inner.lock().await;
        if !ex.collections.get(c).is_some_and(|s| s.contains(i)) {
            drop(ex);
            // Not ours yet (a notice raced its creation): treat as new.
            self.item_added(sh, c, i).await;
            return;
        }
        item_signal(sh, &ex, ItemSignal::Changed, c, i).await;
        item_props(sh, c, i, ItemProps::Content).await;
    }

    /// An item went away.
    pub async fn item_removed(&self, sh: &Arc<Shared>, c: &CollectionId, i: &ItemId) {
        let mut ex = self.inner.lock().await;
        let removed = ex.collections.get_mut(c).is_some_and(|s| s.remove(i));
        if !removed {
            return;
        }
        self.unexport_item(sh, c, i).await;
        item_signal(sh, &ex, ItemSignal::Deleted, c, i).await;
        collection_props(sh, &ex, c, &[CollectionProps::Items]).await;
    }

    /// The store locked or unlocked: every `Locked` property changed, and
    /// an unlocked store may list items it could not before.
    pub async fn lock_changed(&self, sh: &Arc<Shared>) {
        {
            let ex = self.inner.lock().await;
            for (c, items) in &ex.collections {
                collection_props(sh, &ex, c, &[CollectionProps::Locked]).await;
                for i in items {
                    item_props(sh, c, i, ItemProps::Locked).await;
                }
            }
        }
        if !sh.store.is_locked() {
            if let Err(e) = self.sync_all(sh, false).await {
                tracing::warn!(error = %e, "cannot re-read the vault's Secret Service items after unlock");
            }
        }
    }

    /// Removes every collection, alias and item object (at stop).
    pub async fn clear(&self, sh: &Arc<Shared>) {
        let mut ex = self.inner.lock().await;
        let aliases: Vec<String> = ex.aliases.keys().cloned().collect();
        for a in aliases {
            self.unexport_collection(sh, paths::alias(&a)).await;
        }
        ex.aliases.clear();
        let collections = std::mem::take(&mut ex.collections);
        for (c, items) in collections {
            for i in &items {
                self.unexport_item(sh, &c, i).await;
            }
            self.unexport_collection(sh, paths::collection(&c)).await;
        }
    }

    /// The exported collections (for the `Collections` property's order
    /// and for tests).
    pub async fn collection_ids(&self) -> Vec<CollectionId> {
        self.inner
            .lock()
            .await
            .collections
            .keys()
            .cloned()
            .collect()
    }
}
