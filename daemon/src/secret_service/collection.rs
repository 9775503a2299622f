//! Collections (`/org/freedesktop/secrets/collection/<id>`) and aliases
//! (`/org/freedesktop/secrets/aliases/<name>`, the same interface for the
//! collection the alias names, resolved on every call).
//!
//! Items found or made through an alias are given their collection's own
//! path, as gnome-keyring does.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use zbus::message::Header;
use zbus::object_server::SignalContext;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

use super::deferred;
use super::error::DbusError;
use super::paths;
use super::provider::Shared;
use super::session::WireSecret;
use super::store::{Attributes, CollectionId, NewItem, StoreError};

/// The `Label` property of a new item.
pub const ITEM_LABEL: &str = "org.freedesktop.Secret.Item.Label";
/// The `Attributes` property of a new item.
pub const ITEM_ATTRIBUTES: &str = "org.freedesktop.Secret.Item.Attributes";
/// The `Label` property of a new collection.
pub const COLLECTION_LABEL: &str = "org.freedesktop.Secret.Collection.Label";

/// A string property of a `Create*` call, if given.
pub fn string_property(
    properties: &HashMap<String, OwnedValue>,
    name: &str,
) -> Result<Option<String>, DbusError> {
    let Some(v) = properties.get(name) else {
        return Ok(None);
    };
    let bad = || DbusError::InvalidArgs(format!("the property {name} must be a string (s)"));
    let v = v.try_clone().map_err(|_| bad())?;
    String::try_from(v).map(Some).map_err(|_| bad())
}

/// The attributes property of `CreateItem`, if given.
pub fn attributes_property(
    properties: &HashMap<String, OwnedValue>,
) -> Result<Option<Attributes>, DbusError> {
    let Some(v) = properties.get(ITEM_ATTRIBUTES) else {
        return Ok(None);
    };
    let bad = || {
        DbusError::InvalidArgs(format!(
            "the property {ITEM_ATTRIBUTES} must be a string-to-string map (a{{ss}})"
        ))
    };
    let v = v.try_clone().map_err(|_| bad())?;
    let map = HashMap::<String, String>::try_from(v).map_err(|_| bad())?;
    Ok(Some(map.into_iter().collect()))
}

/// What a collection object stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A collection.
    Id(CollectionId),
    /// The collection an alias names (looked up on each call).
    Alias(String),
}

/// The `org.freedesktop.Secret.Collection` object of a collection or alias.
pub struct CollectionIface {
    /// What it stands for.
    pub target: Target,
    /// The provider.
    pub shared: Weak<Shared>,
}

impl CollectionIface {
    async fn resolve(&self, sh: &Shared) -> Result<CollectionId, DbusError> {
        match &self.target {
            Target::Id(c) => Ok(c.clone()),
            Target::Alias(a) => sh.store.alias(a).await?.ok_or_else(|| {
                DbusError::NoSuchObject(format!("the alias {a:?} names no collection now"))
            }),
        }
    }

    async fn resolve_fdo(&self) -> zbus::fdo::Result<(Arc<Shared>, CollectionId)> {
        let sh = Shared::upgrade(&self.shared).map_err(DbusError::into_fdo)?;
        let c = self.resolve(&sh).await.map_err(DbusError::into_fdo)?;
        Ok((sh, c))
    }
}

#[zbus::interface(name = "org.freedesktop.Secret.Collection")]
impl CollectionIface {
    /// Deletes the collection and its items (no prompt: `/`).
    async fn delete(&self, #[zbus(header)] hdr: Header<'_>) -> Result<OwnedObjectPath, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Collection.Delete").await?;
        let c = self.resolve(&sh).await?;
        sh.store.delete_collection(c.clone()).await?;
        sh.exports.collection_removed(&sh, &c).await;
        Ok(paths::none())
    }

    /// The items of this collection whose attributes include all of
    /// `attributes` (a deferred search while a store that cannot search is
    /// locked: see [`super::deferred`]).
    #[zbus(out_args("results"))]
    async fn search_items(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        attributes: HashMap<String, String>,
    ) -> Result<Vec<OwnedObjectPath>, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Collection.SearchItems").await?;
        let c = self.resolve(&sh).await?;
        let attributes: Attributes = attributes.into_iter().collect();
        match sh.store.search(Some(c.clone()), attributes.clone()).await {
            Ok(found) => Ok(found.iter().map(|(c, i)| paths::item(c, &i.id)).collect()),
            // Its one result is locked: unlocking it waits for `coffer
            // unlock` and yields what the search finds then.
            Err(StoreError::Locked) => {
                Ok(vec![deferred::object_for(&sh, Some(c), attributes).await?])
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a secret: a new item, or with `replace` the item of equal
    /// attributes updated. No prompt (`/`); `IsLocked` while locked (the
    /// client then unlocks and retries).
    #[zbus(out_args("item", "prompt"))]
    async fn create_item(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        properties: HashMap<String, OwnedValue>,
        secret: WireSecret,
        replace: bool,
    ) -> Result<(OwnedObjectPath, OwnedObjectPath), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Collection.CreateItem").await?;
        let c = self.resolve(&sh).await?;
        let session = sh.sessions.get(&secret.session, &peer.unique_name)?;
        let secret = session.decode(&secret)?;
        let label = string_property(&properties, ITEM_LABEL)?.unwrap_or_default();
        let attributes = attributes_property(&properties)?.unwrap_or_default();
        let created = sh
            .store
            .create_item(
                c.clone(),
                NewItem {
                    label,
                    attributes,
                    secret,
                },
                replace,
            )
            .await?;
        if created.replaced {
            sh.exports.item_changed(&sh, &c, &created.item.id).await;
        } else {
            sh.exports.item_added(&sh, &c, &created.item.id).await;
        }
        Ok((paths::item(&c, &created.item.id), paths::none()))
    }

    /// The collection's items (none shown while locked, if the store cannot
    /// list them then). Changes are announced by invalidation, not with the
    /// whole list: a PropertiesChanged carrying 10,000 paths on every new
    /// item would make each CreateItem cost as much as listing them all.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn items(&self) -> zbus::fdo::Result<Vec<OwnedObjectPath>> {
        let (sh, c) = self.resolve_fdo().await?;
        match sh.store.items(c.clone()).await {
            Ok(items) => Ok(items.iter().map(|i| paths::item(&c, &i.id)).collect()),
            Err(StoreError::Locked) => Ok(Vec::new()),
            Err(e) => Err(DbusError::from(e).into_fdo()),
        }
    }

    /// The collection's label.
    #[zbus(property)]
    async fn label(&self) -> zbus::fdo::Result<String> {
        let (sh, c) = self.resolve_fdo().await?;
        let info = sh
            .store
            .collection(&c)
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        Ok(info.label)
    }

    /// Relabels the collection.
    #[zbus(property)]
    async fn set_label(&self, label: String) -> zbus::Result<()> {
        let (sh, c) = self.resolve_fdo().await?;
        sh.store
            .set_collection_label(c.clone(), label)
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        // zbus runs setters while holding its object tree's read lock, and
        // the signals need that tree: send them from a task of their own.
        let sh2 = sh.clone();
        sh.rt
            .spawn(async move { sh2.exports.collection_changed(&sh2, &c).await });
        Ok(())
    }

    /// Whether the collection (the whole vault) is locked.
    #[zbus(property)]
    async fn locked(&self) -> bool {
        match Shared::upgrade(&self.shared) {
            Ok(sh) => sh.store.is_locked(),
            Err(_) => true,
        }
    }

    /// When it was made (Unix seconds).
    #[zbus(property)]
    async fn created(&self) -> zbus::fdo::Result<u64> {
        let (sh, c) = self.resolve_fdo().await?;
        let info = sh
            .store
            .collection(&c)
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        Ok(info.created)
    }

    /// When it last changed (Unix seconds).
    #[zbus(property)]
    async fn modified(&self) -> zbus::fdo::Result<u64> {
        let (sh, c) = self.resolve_fdo().await?;
        let info = sh
            .store
            .collection(&c)
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        Ok(info.modified)
    }

    /// An item was added.
    #[zbus(signal)]
    pub async fn item_created(ctxt: &SignalContext<'_>, item: ObjectPath<'_>) -> zbus::Result<()>;

    /// An item was deleted.
    #[zbus(signal)]
    pub async fn item_deleted(ctxt: &SignalContext<'_>, item: ObjectPath<'_>) -> zbus::Result<()>;

    /// An item changed.
    #[zbus(signal)]
    pub async fn item_changed(ctxt: &SignalContext<'_>, item: ObjectPath<'_>) -> zbus::Result<()>;
}
