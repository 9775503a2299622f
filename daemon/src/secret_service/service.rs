//! The Service object (`/org/freedesktop/secrets`): sessions, searching
//! across collections, locking and unlocking, reading many secrets at once,
//! aliases, and making collections.
//!
//! Locking is the whole vault's: `Lock` locks the store (the daemon maps it
//! to `coffer lock`; any program of the user could run that anyway), and
//! `Unlock` of a locked store answers with a prompt that `coffer unlock`
//! completes (see [`super::prompt`]).

use std::collections::HashMap;
use std::sync::Weak;

use zbus::message::Header;
use zbus::object_server::SignalContext;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

use super::collection::{string_property, COLLECTION_LABEL};
use super::deferred;
use super::error::DbusError;
use super::paths::{self, Object};
use super::prompt::PromptIface;
use super::provider::Shared;
use super::session::WireSecret;
use super::store::{Attributes, CollectionId, StoreError};

/// The `org.freedesktop.Secret.Service` object.
pub struct ServiceIface {
    /// The provider.
    pub shared: Weak<Shared>,
}

/// The collection a collection or alias path names, if any.
async fn collection_of(
    sh: &Shared,
    path: &ObjectPath<'_>,
) -> Result<Option<CollectionId>, DbusError> {
    match paths::parse(path) {
        Some(Object::Collection(c)) => Ok(Some(c)),
        Some(Object::Alias(a)) => Ok(sh.store.alias(&a).await?),
        _ => Ok(None),
    }
}

/// Whether `path` is one of the provider's collections, aliases or items
/// (the objects `Lock` and `Unlock` act on).
fn lockable(path: &ObjectPath<'_>) -> bool {
    matches!(
        paths::parse(path),
        Some(Object::Collection(_) | Object::Alias(_) | Object::Item(..) | Object::Deferred(..))
    )
}

#[zbus::interface(name = "org.freedesktop.Secret.Service")]
impl ServiceIface {
    /// Opens a session: `plain` (input ignored, output `""`) or
    /// `dh-ietf1024-sha256-aes128-cbc-pkcs7` (input the client's public key
    /// `ay`, output ours).
    #[zbus(out_args("output", "result"))]
    async fn open_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        algorithm: &str,
        input: OwnedValue,
    ) -> Result<(OwnedValue, OwnedObjectPath), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Service.OpenSession").await?;
        let (output, n) = sh.sessions.open(&peer.unique_name, algorithm, &input)?;
        if let Err(e) = sh.export_session(n).await {
            sh.sessions.close(n, &peer.unique_name);
            return Err(e);
        }
        tracing::debug!(session = n, algorithm, "Secret Service session opened");
        Ok((output, paths::session(n)))
    }

    /// Makes a collection labelled by the `Label` property; with a
    /// well-known `alias` that already names one, that one is returned.
    #[zbus(out_args("collection", "prompt"))]
    async fn create_collection(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        properties: HashMap<String, OwnedValue>,
        alias: &str,
    ) -> Result<(OwnedObjectPath, OwnedObjectPath), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Service.CreateCollection").await?;
        if !alias.is_empty() {
            if let Some(c) = sh.store.alias(alias).await? {
                return Ok((paths::collection(&c), paths::none()));
            }
        }
        let label = string_property(&properties, COLLECTION_LABEL)?.unwrap_or_default();
        let info = sh.store.create_collection(label).await?;
        if !alias.is_empty() {
            sh.store
                .set_alias(alias.to_string(), Some(info.id.clone()))
                .await?;
        }
        sh.exports.sync_all(&sh, false).await?;
        Ok((paths::collection(&info.id), paths::none()))
    }

    /// Every item whose attributes include all of `attributes`, split into
    /// unlocked and locked (all of them are one or the other: the vault
    /// locks as a whole). A locked store that cannot search answers with a
    /// deferred search in `locked` (see [`super::deferred`]).
    #[zbus(out_args("unlocked", "locked"))]
    async fn search_items(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        attributes: HashMap<String, String>,
    ) -> Result<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Service.SearchItems").await?;
        let locked = sh.store.is_locked();
        let attributes: Attributes = attributes.into_iter().collect();
        let found = match sh.store.search(None, attributes.clone()).await {
            Ok(f) => f,
            Err(StoreError::Locked) => {
                let stand_in = deferred::object_for(&sh, None, attributes).await?;
                return Ok((Vec::new(), vec![stand_in]));
            }
            Err(e) => return Err(e.into()),
        };
        let found: Vec<OwnedObjectPath> =
            found.iter().map(|(c, i)| paths::item(c, &i.id)).collect();
        Ok(if locked {
            (Vec::new(), found)
        } else {
            (found, Vec::new())
        })
    }

    /// Unlocks: at once when the store is unlocked, else through a prompt
    /// that completes when the user runs `coffer unlock`.
    #[zbus(out_args("unlocked", "prompt"))]
    async fn unlock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        objects: Vec<OwnedObjectPath>,
    ) -> Result<(Vec<OwnedObjectPath>, OwnedObjectPath), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Service.Unlock").await?;
        let requested = objects;
        let mut objects: Vec<OwnedObjectPath> = Vec::new();
        let mut queries = Vec::new();
        for p in requested.into_iter().filter(|p| lockable(p)) {
            match paths::parse(&p) {
                Some(Object::Deferred(_, n)) => queries.extend(sh.deferred.query(n)),
                _ => objects.push(p),
            }
        }
        if !sh.store.is_locked() {
            for q in &queries {
                for found in deferred::resolve(&sh, q).await {
                    if !objects.contains(&found) {
                        objects.push(found);
                    }
                }
            }
            return Ok((objects, paths::none()));
        }
        if objects.is_empty() && queries.is_empty() {
            return Ok((objects, paths::none()));
        }
        let n = sh.prompts.create(&peer.unique_name, objects, queries)?;
        let iface = PromptIface {
            n,
            shared: self.shared.clone(),
        };
        sh.conn.object_server().at(paths::prompt(n), iface).await?;
        tracing::debug!(prompt = n, caller = %peer.describe(), "unlock prompt created");
        Ok((Vec::new(), paths::prompt(n)))
    }

    /// Locks the vault (`coffer lock`); no prompt.
    #[zbus(out_args("locked", "Prompt"))]
    async fn lock(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        objects: Vec<OwnedObjectPath>,
    ) -> Result<(Vec<OwnedObjectPath>, OwnedObjectPath), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Service.Lock").await?;
        let objects: Vec<OwnedObjectPath> = objects.into_iter().filter(|p| lockable(p)).collect();
        if !objects.is_empty() && !sh.store.is_locked() {
            tracing::info!(caller = %peer.describe(), "a Secret Service client locks the vault");
            sh.store.lock().await?;
        }
        Ok((objects, paths::none()))
    }

    /// The secrets of `items` for the caller's `session`; locked and
    /// unknown items are left out.
    #[zbus(out_args("secrets"))]
    async fn get_secrets(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        items: Vec<OwnedObjectPath>,
        session: OwnedObjectPath,
    ) -> Result<HashMap<OwnedObjectPath, WireSecret>, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Service.GetSecrets").await?;
        let session = sh.sessions.get(&session, &peer.unique_name)?;
        let mut out = HashMap::new();
        for path in items {
            let Some(Object::Item(c, i)) = paths::parse(&path) else {
                continue;
            };
            match sh.store.secret(c, i).await {
                Ok(secret) => {
                    out.insert(path, session.encode(&secret));
                }
                Err(
                    StoreError::Locked
                    | StoreError::NoSuchItem(..)
                    | StoreError::NoSuchCollection(_),
                ) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// The collection alias `name` names, or `/`.
    #[zbus(out_args("collection"))]
    async fn read_alias(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: &str,
    ) -> Result<OwnedObjectPath, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Service.ReadAlias").await?;
        Ok(match sh.store.alias(name).await? {
            Some(c) => paths::collection(&c),
            None => paths::none(),
        })
    }

    /// Points alias `name` at `collection`, or removes it (`/`).
    async fn set_alias(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: &str,
        collection: OwnedObjectPath,
    ) -> Result<(), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Service.SetAlias").await?;
        if name.is_empty() {
            return Err(DbusError::InvalidArgs("an alias needs a name".into()));
        }
        let target = if collection.as_str() == paths::NONE {
            None
        } else {
            Some(collection_of(&sh, &collection).await?.ok_or_else(|| {
                DbusError::NoSuchObject(format!("{} is not a collection", collection.as_str()))
            })?)
        };
        sh.store.set_alias(name.to_string(), target).await?;
        sh.exports.sync_all(&sh, false).await?;
        Ok(())
    }

    /// Every collection.
    #[zbus(property)]
    async fn collections(&self) -> zbus::fdo::Result<Vec<OwnedObjectPath>> {
        let sh = Shared::upgrade(&self.shared).map_err(DbusError::into_fdo)?;
        let list = sh
            .store
            .collections()
            .await
            .map_err(|e| DbusError::from(e).into_fdo())?;
        Ok(list.iter().map(|c| paths::collection(&c.id)).collect())
    }

    /// A collection was made.
    #[zbus(signal)]
    pub async fn collection_created(
        ctxt: &SignalContext<'_>,
        collection: ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// A collection was deleted.
    #[zbus(signal)]
    pub async fn collection_deleted(
        ctxt: &SignalContext<'_>,
        collection: ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// A collection changed.
    #[zbus(signal)]
    pub async fn collection_changed(
        ctxt: &SignalContext<'_>,
        collection: ObjectPath<'_>,
    ) -> zbus::Result<()>;
}
