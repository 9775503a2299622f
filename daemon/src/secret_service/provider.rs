//! Starting and stopping the provider: [`SecretServiceProvider::start`]
//! connects to the session bus, exports the objects, claims
//! `org.freedesktop.secrets` and runs the background tasks (store change
//! notices, lock changes, clients leaving); [`SecretServiceProvider::stop`]
//! releases it all.
//!
//! zbus (with async-io) runs its own executor thread for D-Bus dispatch;
//! every store call is run on the tokio runtime `start` was called on, so
//! the daemon's store can use tokio freely.

use std::future::Future;
use std::sync::{Arc, Weak};

use futures_util::StreamExt;
use tokio::sync::watch;
use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::Connection;

use super::deferred::{self, DeferredSearches};
use super::error::{DbusError, DbusResult, StartError};
use super::exports::Exports;
use super::owner::{self, NameOwner, BUS_NAME};
use super::paths;
use super::peer::{Peer, Peers};
use super::prompt::{self, Prompts};
use super::service::ServiceIface;
use super::session::{SessionIface, SessionStats, Sessions};
use super::store::{
    Attributes, CollectionId, CollectionInfo, Created, ItemId, ItemInfo, NewItem, Secret,
    SecretStore, StoreChange, StoreError, UnlockRequest,
};

/// Which bus to serve on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bus {
    /// The user's session bus (`DBUS_SESSION_BUS_ADDRESS`).
    #[default]
    Session,
    /// A bus at this address (the tests' private bus).
    Address(String),
}

impl Bus {
    fn describe(&self) -> String {
        match self {
            Bus::Session => "the session bus".to_string(),
            Bus::Address(a) => a.clone(),
        }
    }

    /// A connection to this bus.
    pub async fn connect(&self) -> Result<Connection, StartError> {
        let builder = match self {
            Bus::Session => zbus::connection::Builder::session(),
            Bus::Address(a) => zbus::connection::Builder::address(a.as_str()),
        };
        let connect = |source| StartError::Connect {
            address: self.describe(),
            source,
        };
        builder.map_err(connect)?.build().await.map_err(connect)
    }
}

/// The store, with every call run on the daemon's tokio runtime.
#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<dyn SecretStore>,
    rt: tokio::runtime::Handle,
}

impl StoreHandle {
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<dyn SecretStore>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match self.rt.spawn(f(self.store.clone())).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Failed(format!(
                "the vault's store failed while answering ({e}); see the daemon's log"
            ))),
        }
    }

    /// [`SecretStore::collections`].
    pub async fn collections(&self) -> Result<Vec<CollectionInfo>, StoreError> {
        self.run(|s| async move { s.collections().await }).await
    }

    /// One collection, or `NoSuchCollection`.
    pub async fn collection(&self, id: &CollectionId) -> Result<CollectionInfo, StoreError> {
        self.collections()
            .await?
            .into_iter()
            .find(|c| &c.id == id)
            .ok_or_else(|| StoreError::NoSuchCollection(id.clone()))
    }

    /// [`SecretStore::create_collection`].
    pub async fn create_collection(&self, label: String) -> Result<CollectionInfo, StoreError> {
        self.run(|s| async move { s.create_collection(&label).await })
            .await
    }

    /// [`SecretStore::delete_collection`].
    pub async fn delete_collection(&self, c: CollectionId) -> Result<(), StoreError> {
        self.run(|s| async move { s.delete_collection(&c).await })
            .await
    }

    /// [`SecretStore::set_collection_label`].
    pub async fn set_collection_label(
        &self,
        c: CollectionId,
        label: String,
    ) -> Result<(), StoreError> {
        self.run(|s| async move { s.set_collection_label(&c, &label).await })
            .await
    }

    /// [`SecretStore::aliases`].
    pub async fn aliases(&self) -> Result<Vec<(String, CollectionId)>, StoreError> {
        self.run(|s| async move { s.aliases().await }).await
    }

    /// The collection alias `name` names, if any.
    pub async fn alias(&self, name: &str) -> Result<Option<CollectionId>, StoreError> {
        Ok(self
            .aliases()
            .await?
            .into_iter()
            .find(|(a, _)| a == name)
            .map(|(_, c)| c))
    }

    /// [`SecretStore::set_alias`].
    pub async fn set_alias(&self, name: String, c: Option<CollectionId>) -> Result<(), StoreError> {
        self.run(|s| async move { s.set_alias(&name, c.as_ref()).await })
            .await
    }

    /// [`SecretStore::items`].
    pub async fn items(&self, c: CollectionId) -> Result<Vec<ItemInfo>, StoreError> {
        self.run(|s| async move { s.items(&c).await }).await
    }

    /// [`SecretStore::item`].
    pub async fn item(&self, c: CollectionId, i: ItemId) -> Result<ItemInfo, StoreError> {
        self.run(|s| async move { s.item(&c, &i).await }).await
    }

    /// [`SecretStore::search`].
    pub async fn search(
        &self,
        c: Option<CollectionId>,
        attributes: Attributes,
    ) -> Result<Vec<(CollectionId, ItemInfo)>, StoreError> {
        self.run(|s| async move { s.search(c.as_ref(), &attributes).await })
            .await
    }

    /// [`SecretStore::create_item`].
    pub async fn create_item(
        &self,
        c: CollectionId,
        item: NewItem,
        replace: bool,
    ) -> Result<Created, StoreError> {
        self.run(|s| async move { s.create_item(&c, item, replace).await })
            .await
    }

    /// [`SecretStore::delete_item`].
    pub async fn delete_item(&self, c: CollectionId, i: ItemId) -> Result<(), StoreError> {
        self.run(|s| async move { s.delete_item(&c, &i).await })
            .await
    }

    /// [`SecretStore::secret`].
    pub async fn secret(&self, c: CollectionId, i: ItemId) -> Result<Secret, StoreError> {
        self.run(|s| async move { s.secret(&c, &i).await }).await
    }

    /// [`SecretStore::set_secret`].
    pub async fn set_secret(
        &self,
        c: CollectionId,
        i: ItemId,
        secret: Secret,
    ) -> Result<(), StoreError> {
        self.run(|s| async move { s.set_secret(&c, &i, secret).await })
            .await
    }

    /// [`SecretStore::set_item_label`].
    pub async fn set_item_label(
        &self,
        c: CollectionId,
        i: ItemId,
        label: String,
    ) -> Result<(), StoreError> {
        self.run(|s| async move { s.set_item_label(&c, &i, &label).await })
            .await
    }

    /// [`SecretStore::set_item_attributes`].
    pub async fn set_item_attributes(
        &self,
        c: CollectionId,
        i: ItemId,
        attributes: Attributes,
    ) -> Result<(), StoreError> {
        self.run(|s| async move { s.set_item_attributes(&c, &i, &attributes).await })
            .await
    }

    /// [`SecretStore::lock_state`].
    pub fn lock_state(&self) -> watch::Receiver<bool> {
        self.store.lock_state()
    }

    /// [`SecretStore::is_locked`].
    pub fn is_locked(&self) -> bool {
        self.store.is_locked()
    }

    /// [`SecretStore::request_unlock`].
    pub async fn request_unlock(&self, request: UnlockRequest) -> Result<(), StoreError> {
        self.run(|s| async move { s.request_unlock(request).await })
            .await
    }

    /// [`SecretStore::cancel_unlock`].
    pub async fn cancel_unlock(&self, id: u64) {
        let _ = self
            .run(|s| async move {
                s.cancel_unlock(id).await;
                Ok(())
            })
            .await;
    }

    /// [`SecretStore::lock`].
    pub async fn lock(&self) -> Result<(), StoreError> {
        self.run(|s| async move { s.lock().await }).await
    }
}

/// What every object of the provider shares.
pub struct Shared {
    /// The store.
    pub store: StoreHandle,
    /// The bus connection.
    pub conn: Connection,
    /// The bus itself, to identify callers.
    pub dbus: DBusProxy<'static>,
    /// Who has called.
    pub peers: Peers,
    /// The open sessions.
    pub sessions: Sessions,
    /// The pending prompts.
    pub prompts: Prompts,
    /// The exported collections, aliases and items.
    pub exports: Exports,
    /// The searches a locked store deferred until unlock.
    pub deferred: DeferredSearches,
    /// The daemon's tokio runtime.
    pub rt: tokio::runtime::Handle,
}

impl Shared {
    /// The provider behind a weak reference, or `Failed` while it stops.
    pub fn upgrade(weak: &Weak<Shared>) -> DbusResult<Arc<Shared>> {
        weak.upgrade()
            .ok_or_else(|| DbusError::Failed("the Secret Service provider is stopping".into()))
    }

    /// Identifies, checks and logs the caller of `hdr`.
    pub async fn caller(&self, hdr: &Header<'_>, method: &str) -> DbusResult<Arc<Peer>> {
        self.peers.caller(&self.dbus, hdr, method).await
    }

    /// Exports the object of session `n`.
    pub async fn export_session(self: &Arc<Self>, n: u64) -> DbusResult<()> {
        let iface = SessionIface {
            n,
            shared: Arc::downgrade(self),
        };
        self.conn
            .object_server()
            .at(paths::session(n), iface)
            .await?;
        Ok(())
    }

    /// Removes the object of session `n`.
    pub async fn unexport_session(&self, n: u64) {
        if let Err(e) = self
            .conn
            .object_server()
            .remove::<SessionIface, _>(paths::session(n))
            .await
        {
            tracing::debug!(session = n, error = %e, "cannot remove the session object");
        }
    }

    /// A client left the bus: its sessions end, its prompts are dismissed.
    async fn client_left(self: &Arc<Self>, unique_name: &str) {
        self.peers.forget(unique_name);
        for n in self.sessions.close_all_of(unique_name) {
            self.unexport_session(n).await;
        }
        for n in self.prompts.all_of(unique_name) {
            prompt::finish(self, n, true).await;
        }
    }
}

/// A running Secret Service provider. Dropping it without [`Self::stop`]
/// stops its tasks but leaves releasing the name to the connection's end.
pub struct SecretServiceProvider {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    running: watch::Receiver<bool>,
}

impl SecretServiceProvider {
    /// Connects to `bus`, exports the Service, the store's collections,
    /// aliases and items, claims `org.freedesktop.secrets` (refusing with
    /// [`StartError::NameTaken`], which names the owner, when another
    /// provider has it) and starts following the store. Must be called
    /// inside a tokio runtime: the store is called on it.
    pub async fn start(
        store: Arc<dyn SecretStore>,
        bus: &Bus,
    ) -> Result<SecretServiceProvider, StartError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let conn = bus.connect().await?;
        let dbus = DBusProxy::new(&conn).await?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let own_uid = unsafe { libc::getuid() };
        let shared = Arc::new(Shared {
            store: StoreHandle {
                store: store.clone(),
                rt: rt.clone(),
            },
            conn: conn.clone(),
            dbus: dbus.clone(),
            peers: Peers::new(own_uid),
            sessions: Sessions::default(),
            prompts: Prompts::default(),
            exports: Exports::default(),
            deferred: DeferredSearches::default(),
            rt: rt.clone(),
        });
        // Subscribe before exporting, so nothing that happens meanwhile is
        // missed.
        let changes = store.subscribe();
        let lock_state = store.lock_state();
        let owner_changes = dbus.receive_name_owner_changed().await?;
        let name_lost = dbus.receive_name_lost().await?;

        conn.object_server()
            .at(
                paths::SERVICE,
                ServiceIface {
                    shared: Arc::downgrade(&shared),
                },
            )
            .await?;
        shared.exports.sync_all(&shared, false).await?;
        owner::acquire(&conn).await?;
        tracing::info!(
            unique_name = conn.unique_name().map(|n| n.as_str()).unwrap_or(""),
            "cofferd provides org.freedesktop.secrets"
        );

        let (running_tx, running) = watch::channel(true);
        let running_tx = Arc::new(running_tx);
        let tasks = vec![
            rt.spawn(follow_changes(Arc::downgrade(&shared), changes)),
            rt.spawn(follow_lock(Arc::downgrade(&shared), lock_state)),
            rt.spawn(follow_clients(
                Arc::downgrade(&shared),
                owner_changes,
                running_tx.clone(),
            )),
            rt.spawn(follow_name(name_lost, running_tx)),
        ];
        Ok(SecretServiceProvider {
            shared,
            tasks,
            running,
        })
    }

    /// This connection's unique bus name.
    pub fn unique_name(&self) -> Option<String> {
        self.shared.conn.unique_name().map(|n| n.to_string())
    }

    /// How many sessions were opened, of which algorithm, and how many are
    /// open now (for `coffer secret-service status`).
    pub fn session_stats(&self) -> SessionStats {
        self.shared.sessions.stats()
    }

    /// How many unlock prompts are pending.
    pub fn pending_prompts(&self) -> usize {
        self.shared.prompts.len()
    }

    /// Resolves when the provider no longer owns the name (the bus went
    /// away, or the name was taken from it); the daemon logs it and may
    /// start again.
    pub async fn lost(&self) {
        let mut r = self.running.clone();
        let _ = r.wait_for(|running| !*running).await;
    }

    /// Follows whether the provider owns the name: turns `false` when it
    /// lost it (for a task that must not borrow the provider).
    pub fn watch_running(&self) -> watch::Receiver<bool> {
        self.running.clone()
    }

    /// Whether the provider still owns the name.
    pub fn is_running(&self) -> bool {
        *self.running.borrow()
    }

    /// Dismisses pending prompts, releases the name, removes every object
    /// and closes the connection.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let sh = self.shared.clone();
        for n in sh.prompts.all() {
            prompt::finish(&sh, n, true).await;
        }
        if let Err(e) = sh.conn.release_name(BUS_NAME).await {
            tracing::debug!(error = %e, "cannot release org.freedesktop.secrets");
        }
        sh.exports.clear(&sh).await;
        let _ = sh
            .conn
            .object_server()
            .remove::<ServiceIface, _>(paths::SERVICE)
            .await;
        let conn = sh.conn.clone();
        drop(sh);
        drop(self);
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %e, "closing the Secret Service bus connection");
        }
        tracing::info!("cofferd no longer provides org.freedesktop.secrets");
    }
}

impl Drop for SecretServiceProvider {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Who owns `org.freedesktop.secrets` on `bus` now (for `coffer
/// secret-service status`, and to explain a refusal before trying).
pub async fn current_owner(bus: &Bus) -> Result<Option<NameOwner>, StartError> {
    let conn = bus.connect().await?;
    Ok(owner::name_owner(&conn).await?)
}

async fn follow_changes(
    weak: Weak<Shared>,
    mut changes: tokio::sync::broadcast::Receiver<StoreChange>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = match changes.recv().await {
            Ok(c) => c,
            // Missed some: re-read everything.
            Err(RecvError::Lagged(_)) => StoreChange::Resync,
            Err(RecvError::Closed) => return,
        };
        let Some(sh) = weak.upgrade() else { return };
        let r = match change {
            StoreChange::CollectionCreated(_)
            | StoreChange::CollectionDeleted(_)
            | StoreChange::Resync => {
                let all = matches!(change, StoreChange::Resync);
                sh.exports.sync_all(&sh, all).await
            }
            StoreChange::CollectionChanged(c) => {
                sh.exports.collection_changed(&sh, &c).await;
                Ok(())
            }
            StoreChange::ItemCreated(c, i) => {
                sh.exports.item_added(&sh, &c, &i).await;
                Ok(())
            }
            StoreChange::ItemChanged(c, i) => {
                sh.exports.item_changed(&sh, &c, &i).await;
                Ok(())
            }
            StoreChange::ItemDeleted(c, i) => {
                sh.exports.item_removed(&sh, &c, &i).await;
                Ok(())
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot follow a change of the vault on the Secret Service");
        }
    }
}

async fn follow_lock(weak: Weak<Shared>, mut lock_state: watch::Receiver<bool>) {
    let mut last = *lock_state.borrow_and_update();
    while lock_state.changed().await.is_ok() {
        let locked = *lock_state.borrow_and_update();
        if locked == last {
            continue;
        }
        last = locked;
        let Some(sh) = weak.upgrade() else { return };
        if !locked {
            deferred::unexport_all(&sh).await;
        }
        sh.exports.lock_changed(&sh).await;
    }
}

async fn follow_clients(
    weak: Weak<Shared>,
    mut owner_changes: zbus::fdo::NameOwnerChangedStream<'static>,
    running: Arc<watch::Sender<bool>>,
) {
    while let Some(signal) = owner_changes.next().await {
        let Ok(args) = signal.args() else { continue };
        let Some(sh) = weak.upgrade() else { return };
        let name = args.name().as_str();
        if name == BUS_NAME {
            let ours = sh.conn.unique_name().map(|n| n.as_str());
            let new = args.new_owner().as_ref().map(|n| n.as_str());
            if new != ours {
                tracing::warn!(
                    new_owner = new.unwrap_or("nobody"),
                    "lost org.freedesktop.secrets"
                );
                running.send_replace(false);
            }
        } else if name.starts_with(':') && args.new_owner().is_none() {
            sh.client_left(name).await;
        }
    }
    // The bus connection ended.
    running.send_replace(false);
}

async fn follow_name(
    mut name_lost: zbus::fdo::NameLostStream<'static>,
    running: Arc<watch::Sender<bool>>,
) {
    while let Some(signal) = name_lost.next().await {
        if signal.args().is_ok_and(|a| a.name().as_str() == BUS_NAME) {
            tracing::warn!("the bus took org.freedesktop.secrets away from cofferd");
            running.send_replace(false);
        }
    }
}
