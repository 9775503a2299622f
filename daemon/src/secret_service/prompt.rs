//! Prompts (`/org/freedesktop/secrets/prompt/pN`): how a client waits for
//! the vault to be unlocked.
//!
//! `Unlock` on a locked store answers with a prompt. When the client calls
//! `Prompt`, the provider tells the store ([`SecretStore::request_unlock`],
//! which the daemon shows as "a prompt is pending: run `coffer unlock`") and
//! waits; when the store reports unlocked, the prompt emits
//! `Completed(false, <the unlocked objects>)` and goes away. Deferred
//! searches among the objects are run then, and the result lists the items
//! they find instead (see [`super::deferred`]). `Dismiss`, or
//! the client leaving the bus, emits `Completed(true, [])` and cancels the
//! request. A prompt completes exactly once.
//!
//! [`SecretStore::request_unlock`]: super::store::SecretStore::request_unlock

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use zbus::message::Header;
use zbus::object_server::SignalContext;
use zbus::zvariant::{OwnedObjectPath, Value};

use super::deferred::{self, Query};
use super::error::DbusError;
use super::paths;
use super::provider::Shared;
use super::store::UnlockRequest;

/// The most prompts pending at once.
pub const MAX_PROMPTS: usize = 1024;

struct Pending {
    owner: String,
    objects: Vec<OwnedObjectPath>,
    /// Deferred searches to run when unlocked: what they find is added to
    /// the result.
    queries: Vec<Query>,
    /// The task waiting for the unlock, once `Prompt` was called.
    waiter: Option<tokio::task::AbortHandle>,
}

/// The pending prompts.
#[derive(Default)]
pub struct Prompts {
    map: Mutex<HashMap<u64, Pending>>,
    next: AtomicU64,
}

impl Prompts {
    fn map(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new prompt for `owner` that will unlock `objects` and the items
    /// `queries` find then; its number.
    pub fn create(
        &self,
        owner: &str,
        objects: Vec<OwnedObjectPath>,
        queries: Vec<Query>,
    ) -> Result<u64, DbusError> {
        let mut map = self.map();
        if map.len() >= MAX_PROMPTS {
            return Err(DbusError::LimitsExceeded(format!(
                "{MAX_PROMPTS} unlock prompts are pending; run `coffer unlock` or dismiss some"
            )));
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        map.insert(
            n,
            Pending {
                owner: owner.to_string(),
                objects,
                queries,
                waiter: None,
            },
        );
        Ok(n)
    }

    /// Takes prompt `n` out (so that it completes once); `None` when it is
    /// already done.
    fn take(&self, n: u64) -> Option<Pending> {
        self.map().remove(&n)
    }

    /// The prompts of a client that left.
    pub fn all_of(&self, owner: &str) -> Vec<u64> {
        self.map()
            .iter()
            .filter(|(_, p)| p.owner == owner)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Every pending prompt.
    pub fn all(&self) -> Vec<u64> {
        self.map().keys().copied().collect()
    }

    /// How many prompts are pending.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Completes prompt `n` (once): emits `Completed`, cancels the store's
/// unlock request when dismissed, and removes the object.
pub async fn finish(sh: &Arc<Shared>, n: u64, dismissed: bool) {
    let Some(pending) = sh.prompts.take(n) else {
        return;
    };
    if let Some(w) = &pending.waiter {
        if dismissed {
            w.abort();
        }
    }
    if dismissed && pending.waiter.is_some() {
        sh.store.cancel_unlock(n).await;
    }
    let result: Vec<OwnedObjectPath> = if dismissed {
        Vec::new()
    } else {
        let mut objects = pending.objects;
        for q in &pending.queries {
            for found in deferred::resolve(sh, q).await {
                if !objects.contains(&found) {
                    objects.push(found);
                }
            }
        }
        objects
    };
    let path = paths::prompt(n);
    match SignalContext::new(&sh.conn, path.as_ref()) {
        Ok(ctxt) => {
            if let Err(e) = PromptIface::completed(&ctxt, dismissed, Value::from(result)).await {
                tracing::debug!(prompt = n, error = %e, "cannot emit Prompt.Completed");
            }
        }
        Err(e) => tracing::debug!(prompt = n, error = %e, "bad prompt path"),
    }
    if let Err(e) = sh
        .conn
        .object_server()
        .remove::<PromptIface, _>(path.as_ref())
        .await
    {
        tracing::debug!(prompt = n, error = %e, "cannot remove the prompt object");
    }
}

/// The `org.freedesktop.Secret.Prompt` object of one prompt.
pub struct PromptIface {
    /// The prompt's number.
    pub n: u64,
    /// The provider.
    pub shared: Weak<Shared>,
}

impl PromptIface {
    fn check_owner(&self, sh: &Shared, caller: &str) -> Result<(), DbusError> {
        match sh.prompts.map().get(&self.n) {
            Some(p) if p.owner == caller => Ok(()),
            Some(_) => Err(DbusError::AccessDenied(
                "this prompt belongs to another client".into(),
            )),
            None => Err(DbusError::NoSuchObject(
                "this prompt has already completed".into(),
            )),
        }
    }
}

#[zbus::interface(name = "org.freedesktop.Secret.Prompt")]
impl PromptIface {
    /// Starts waiting for the unlock (the window id is unused: the user
    /// answers with `coffer unlock`, not in a dialog).
    async fn prompt(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        window_id: &str,
    ) -> Result<(), DbusError> {
        let _ = window_id;
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Prompt.Prompt").await?;
        self.check_owner(&sh, &peer.unique_name)?;
        let n = self.n;
        let mut map = sh.prompts.map();
        let Some(pending) = map.get_mut(&n) else {
            return Err(DbusError::NoSuchObject(
                "this prompt has already completed".into(),
            ));
        };
        if pending.waiter.is_some() {
            // Prompting twice waits once.
            return Ok(());
        }
        let weak = self.shared.clone();
        let requester = peer.describe();
        let task = sh.rt.spawn(async move {
            let Some(sh) = weak.upgrade() else { return };
            let mut lock_state = sh.store.lock_state();
            if *lock_state.borrow_and_update() {
                tracing::info!(%requester, "a Secret Service client waits for the vault: run `coffer unlock`");
                if let Err(e) = sh
                    .store
                    .request_unlock(UnlockRequest { id: n, requester })
                    .await
                {
                    tracing::warn!(error = %e, "the store refused an unlock request; the prompt is dismissed");
                    finish(&sh, n, true).await;
                    return;
                }
            }
            drop(sh);
            if lock_state.wait_for(|locked| !*locked).await.is_err() {
                // The store went away: the provider is stopping.
                return;
            }
            if let Some(sh) = weak.upgrade() {
                finish(&sh, n, false).await;
            }
        });
        pending.waiter = Some(task.abort_handle());
        Ok(())
    }

    /// Gives up waiting.
    async fn dismiss(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Prompt.Dismiss").await?;
        self.check_owner(&sh, &peer.unique_name)?;
        finish(&sh, self.n, true).await;
        Ok(())
    }

    /// The prompt is done: dismissed, or the result (for an unlock, the
    /// objects now unlocked, `ao`).
    #[zbus(signal)]
    async fn completed(
        ctxt: &SignalContext<'_>,
        dismissed: bool,
        result: Value<'_>,
    ) -> zbus::Result<()>;
}
