//! What the provider needs from the vault: the [`SecretStore`] trait and
//! its types.
//!
//! The store is the source of truth. The provider keeps no copy of any
//! secret, label or attribute: every D-Bus call reads or writes through the
//! store, and secrets pass through the provider only on their way to or from
//! a client. The daemon implements the trait over the vault (Secret Service
//! items are coffer items in their own collection folder, attributes kept as
//! fields, labels as titles); [`super::memory::MemoryStore`] is the
//! reference implementation the tests run against.
//!
//! # Semantics the provider relies on
//!
//! - Collections are listed even while locked (their ids and labels are not
//!   secret). `login` exists, and the alias `default` points at it.
//! - Item metadata (label, attributes, dates) *may* be readable while locked.
//!   A store that cannot read it while locked answers [`StoreError::Locked`]
//!   to [`SecretStore::items`], [`SecretStore::item`] and
//!   [`SecretStore::search`]; the provider then shows locked collections as
//!   empty and answers searches with nothing. Clients that unlock the
//!   collection first (python-keyring, secretstorage, libsecret's `store`)
//!   still get their prompt; libsecret's `lookup` only asks for an unlock
//!   when a search lists locked items, so it prompts only with a store that
//!   can search while locked.
//! - Secrets are never readable while locked ([`SecretStore::secret`]
//!   answers [`StoreError::Locked`]); writes while locked may be refused the
//!   same way.
//! - [`SecretStore::create_item`] with `replace` replaces the item of the
//!   same collection whose attributes are exactly equal (same id, new label
//!   and secret); without `replace`, or when there is none, it adds one.
//! - Changes that do NOT come through this trait (an item synced from
//!   another device, `coffer edit`, a reset) are announced on
//!   [`SecretStore::subscribe`]; the provider turns them into
//!   `ItemCreated`/`ItemChanged`/`ItemDeleted` signals. Changes made through
//!   the trait need no notice (the provider signals those itself; a notice
//!   anyway costs only a duplicate `ItemChanged`).
//! - [`SecretStore::lock_state`] says when the store locks or unlocks.
//!   [`SecretStore::request_unlock`] tells the daemon that a client waits for
//!   an unlock (it shows "a prompt is pending: run `coffer unlock`"); the
//!   provider completes the prompt when `lock_state` turns unlocked.
//!
//! Times are seconds since the Unix epoch. Ids are any non-empty strings; the
//! provider maps them to D-Bus object path elements itself.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

/// An item's lookup attributes (name → value).
pub type Attributes = BTreeMap<String, String>;

/// A collection's id in the store (`login` for the default one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(pub String);

/// An item's id in the store, unique within its collection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub String);

impl CollectionId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ItemId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the collection that always exists.
pub const LOGIN: &str = "login";
/// The alias that names the default collection.
pub const DEFAULT_ALIAS: &str = "default";

/// What the provider shows of a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Its id.
    pub id: CollectionId,
    /// Its label (the `Label` property).
    pub label: String,
    /// When it was made.
    pub created: u64,
    /// When it or its item list last changed.
    pub modified: u64,
}

/// What the provider shows of an item, the secret apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemInfo {
    /// Its id.
    pub id: ItemId,
    /// Its label (the coffer item's title).
    pub label: String,
    /// Its lookup attributes (kept as the coffer item's fields).
    pub attributes: Attributes,
    /// When it was made.
    pub created: u64,
    /// When it last changed.
    pub modified: u64,
}

/// A secret value and its content type (`text/plain`, usually). The bytes
/// are zeroized on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: Zeroizing<Vec<u8>>,
    content_type: String,
}

impl Secret {
    /// A secret of `value`, with `content_type` (`text/plain` when a
    /// client gives none).
    pub fn new(value: Zeroizing<Vec<u8>>, content_type: impl Into<String>) -> Secret {
        let content_type = content_type.into();
        let content_type = if content_type.is_empty() {
            "text/plain".to_string()
        } else {
            content_type
        };
        Secret {
            value,
            content_type,
        }
    }

    /// The secret bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("len", &self.value.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// An item to create.
#[derive(Clone, Debug)]
pub struct NewItem {
    /// Its label.
    pub label: String,
    /// Its lookup attributes.
    pub attributes: Attributes,
    /// Its secret.
    pub secret: Secret,
}

/// What [`SecretStore::create_item`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The item as it is now.
    pub item: ItemInfo,
    /// True when an existing item (same attributes) was replaced rather
    /// than a new one added.
    pub replaced: bool,
}

/// A change the store made on its own (not through this trait).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreChange {
    /// A collection appeared.
    CollectionCreated(CollectionId),
    /// A collection's label changed.
    CollectionChanged(CollectionId),
    /// A collection and its items went away.
    CollectionDeleted(CollectionId),
    /// An item appeared.
    ItemCreated(CollectionId, ItemId),
    /// An item's label, attributes or secret changed.
    ItemChanged(CollectionId, ItemId),
    /// An item went away.
    ItemDeleted(CollectionId, ItemId),
    /// Anything may have changed (a login, a reset, a restore): the
    /// provider re-reads every collection and item.
    Resync,
}

/// A client waits for the vault to be unlocked (it called `Prompt` on an
/// unlock prompt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockRequest {
    /// Names this request for [`SecretStore::cancel_unlock`].
    pub id: u64,
    /// Who asks, for people: "secret-tool (pid 1234)".
    pub requester: String,
}

/// Why a store call failed. Messages say what is wrong and what to do; none
/// contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The vault is locked.
    #[error("the coffer vault is locked; run `coffer unlock`")]
    Locked,
    /// No such collection.
    #[error("there is no collection {0}")]
    NoSuchCollection(CollectionId),
    /// No such item.
    #[error("there is no item {1} in collection {0}")]
    NoSuchItem(CollectionId, ItemId),
    /// The client's request is malformed or out of bounds (the message says
    /// how).
    #[error("{0}")]
    Invalid(String),
    /// The store does not do this (the message says why).
    #[error("{0}")]
    Unsupported(String),
    /// The store failed (the message says how, and what to do).
    #[error("{0}")]
    Failed(String),
}

/// The vault as the Secret Service provider sees it. See the module docs
/// for the semantics. Every call is async or cheap; the provider runs them
/// on the tokio runtime it was started on.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Every collection (also while locked).
    async fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError>;

    /// Makes a new collection labelled `label` and returns it.
    async fn create_collection(&self, label: &str) -> Result<CollectionInfo, StoreError>;

    /// Deletes a collection and all its items. Aliases that named it go
    /// away.
    async fn delete_collection(&self, collection: &CollectionId) -> Result<(), StoreError>;

    /// Relabels a collection.
    async fn set_collection_label(
        &self,
        collection: &CollectionId,
        label: &str,
    ) -> Result<(), StoreError>;

    /// Every alias and the collection it names.
    async fn aliases(&self) -> Result<Vec<(String, CollectionId)>, StoreError>;

    /// Points alias `name` at `collection`, or removes it (`None`).
    async fn set_alias(
        &self,
        name: &str,
        collection: Option<&CollectionId>,
    ) -> Result<(), StoreError>;

    /// The items of a collection.
    async fn items(&self, collection: &CollectionId) -> Result<Vec<ItemInfo>, StoreError>;

    /// One item.
    async fn item(&self, collection: &CollectionId, item: &ItemId) -> Result<ItemInfo, StoreError>;

    /// The items whose attributes include every pair of `attributes` (all
    /// items for an empty map), in one collection or in all of them.
    async fn search(
        &self,
        collection: Option<&CollectionId>,
        attributes: &Attributes,
    ) -> Result<Vec<(CollectionId, ItemInfo)>, StoreError>;

    /// Adds an item, or with `replace` replaces the one whose attributes are
    /// equal.
    async fn create_item(
        &self,
        collection: &CollectionId,
        item: NewItem,
        replace: bool,
    ) -> Result<Created, StoreError>;

    /// Deletes an item.
    async fn delete_item(&self, collection: &CollectionId, item: &ItemId)
        -> Result<(), StoreError>;

    /// An item's secret ([`StoreError::Locked`] while locked).
    async fn secret(&self, collection: &CollectionId, item: &ItemId) -> Result<Secret, StoreError>;

    /// Replaces an item's secret.
    async fn set_secret(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        secret: Secret,
    ) -> Result<(), StoreError>;

    /// Relabels an item.
    async fn set_item_label(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        label: &str,
    ) -> Result<(), StoreError>;

    /// Replaces an item's attributes.
    async fn set_item_attributes(
        &self,
        collection: &CollectionId,
        item: &ItemId,
        attributes: &Attributes,
    ) -> Result<(), StoreError>;

    /// Follows the lock state: `true` while locked.
    fn lock_state(&self) -> watch::Receiver<bool>;

    /// Whether the store is locked now.
    fn is_locked(&self) -> bool {
        *self.lock_state().borrow()
    }

    /// A client waits for an unlock: tell the user to run `coffer unlock`.
    /// Returns at once; the provider watches [`SecretStore::lock_state`].
    async fn request_unlock(&self, request: UnlockRequest) -> Result<(), StoreError>;

    /// The client of `request_unlock(id)` no longer waits (it dismissed the
    /// prompt, or left the bus).
    async fn cancel_unlock(&self, id: u64);

    /// Locks the store (`coffer lock`), or refuses with
    /// [`StoreError::Unsupported`].
    async fn lock(&self) -> Result<(), StoreError>;

    /// Notices of changes made by other means than this trait.
    fn subscribe(&self) -> broadcast::Receiver<StoreChange>;
}
