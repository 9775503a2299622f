//! Items (`/org/freedesktop/secrets/collection/<c>/<i>`): a secret with its
//! label and lookup attributes, read from and written to the store on every
//! call.
//!
//! While the store is locked the secret is refused with `IsLocked`; the
//! label, attributes and dates are shown if the store can read them then,
//! else as empty (a property read fails only for an item that is gone), so
//! that clients reading all properties of a locked item still get
//! `Locked = true`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use zbus::message::Header;
use zbus::zvariant::OwnedObjectPath;

use super::error::DbusError;
use super::paths;
use super::provider::Shared;
use super::session::WireSecret;
use super::store::{CollectionId, ItemId, ItemInfo, StoreError};

/// The `org.freedesktop.Secret.Item` object of one item.
pub struct ItemIface {
    /// Its collection.
    pub collection: CollectionId,
    /// Its id.
    pub item: ItemId,
    /// The provider.
    pub shared: Weak<Shared>,
}

impl ItemIface {
    /// The item's metadata; `None` while locked if the store cannot read it
    /// then.
    async fn info(&self) -> zbus::fdo::Result<(Arc<Shared>, Option<ItemInfo>)> {
        let sh = Shared::upgrade(&self.shared).map_err(DbusError::into_fdo)?;
        match sh
            .store
            .item(self.collection.clone(), self.item.clone())
            .await
        {
            Ok(i) => Ok((sh, Some(i))),
            Err(StoreError::Locked) => Ok((sh, None)),
            Err(e) => Err(DbusError::from(e).into_fdo()),
        }
    }

    async fn changed(&self, sh: &Arc<Shared>) {
        sh.exports
            .item_changed(sh, &self.collection, &self.item)
            .await;
    }

    /// [`Self::changed`] from a property setter. zbus runs setters while
    /// holding its object tree's read lock, and the signals need that tree:
    /// they are sent from a task of their own, after the setter returns.
    fn changed_later(&self, sh: &Arc<Shared>) {
        let sh2 = sh.clone();
        let (c, i) = (self.collection.clone(), self.item.clone());
        sh.rt
            .spawn(async move { sh2.exports.item_changed(&sh2, &c, &i).await });
    }
}

#[zbus::interface(name = "org.freedesktop.Secret.Item")]
impl ItemIface {
    /// Deletes the item (no prompt: `/`).
    async fn delete(&self, #[zbus(header)] hdr: Header<'_>) -> Result<OwnedObjectPath, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Item.Delete").await?;
        sh.store
            .delete_item(self.collection.clone(), self.item.clone())
            .await?;
        sh.exports
            .item_removed(&sh, &self.collection, &self.item)
            .await;
        Ok(paths::none())
    }

    /// The secret, encoded for the caller's `session`.
    #[zbus(out_args("secret"))]
    async fn get_secret(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        session: OwnedObjectPath,
    ) -> Result<(WireSecret,), DbusError> {
        // A one-element tuple: zbus sends a bare struct as its fields
        // (oayays), the spec's reply is one struct ((oayays)).
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Item.GetSecret").await?;
        let session = sh.sessions.get(&session, &peer.unique_name)?;
        let secret = sh
            .store
            .secret(self.collection.clone(), self.item.clone())
            .await?;
        Ok((session.encode(&secret),))
    }

    /// Replaces the secret.
    async fn set_secret(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        secret: WireSecret,
    ) -> Result<(), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Item.SetSecret").await?;
        let session = sh.sessions.get(&secret.session, &peer.unique_name)?;
        let secret = session.decode(&secret)?;
        sh.store
            .set_secret(self.collection.clone(), self.item.clone(), secret)
            .await?;
        self.changed(&sh).await;
        Ok(())
    }

    /// Whether the item (the whole vault) is locked.
    #[zbus(property)]
    async fn locked(&self) -> bool {
        match Shared::upgrade(&self.shared) {
            Ok(sh) => sh.store.is_locked(),
            Err(_) => true,
        }
    }

    /// The lookup attributes.
    #[zbus(property)]
    async fn attributes(&self) -> zbus::fdo::Result<HashMap<String, String>> {
        let (_, info) = self.info().await?;
        Ok(info
            .map(|i| i.attributes.into_iter().collect())
            .unwrap_or_default())
    }

    /// Replaces the lookup attributes.
    #[zbus(property)]
    async fn set_attributes(&self, attributes: HashMap<String, String>) -> zbus::Result<()> {
        let sh = Shared::upgrade(&self.shared).map_err(DbusError::into_fdo)?;
        sh.store
            .set_item_attributes(
                self.collection.clone(),
                self.item.clone(),
                attributes.into_iter().collect(),
            )
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        self.changed_later(&sh);
        Ok(())
    }

    /// The label (the coffer item's title).
    #[zbus(property)]
    async fn label(&self) -> zbus::fdo::Result<String> {
        let (_, info) = self.info().await?;
        Ok(info.map(|i| i.label).unwrap_or_default())
    }

    /// Relabels the item.
    #[zbus(property)]
    async fn set_label(&self, label: String) -> zbus::Result<()> {
        let sh = Shared::upgrade(&self.shared).map_err(DbusError::into_fdo)?;
        sh.store
            .set_item_label(self.collection.clone(), self.item.clone(), label)
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        self.changed_later(&sh);
        Ok(())
    }

    /// When it was made (Unix seconds).
    #[zbus(property)]
    async fn created(&self) -> zbus::fdo::Result<u64> {
        let (_, info) = self.info().await?;
        Ok(info.map(|i| i.created).unwrap_or(0))
    }

    /// When it last changed (Unix seconds).
    #[zbus(property)]
    async fn modified(&self) -> zbus::fdo::Result<u64> {
        let (_, info) = self.info().await?;
        Ok(info.map(|i| i.modified).unwrap_or(0))
    }
}
