//! Deferred searches: how a store that cannot read item metadata while
//! locked (the vault: labels and attributes are sealed) still answers a
//! search with something a client can unlock.
//!
//! libsecret's `lookup` (and `secret-tool lookup`, Chromium, …) asks for an
//! unlock only when `SearchItems` lists locked items; a locked vault that
//! answered "nothing" would make every app think its secret is gone. So a
//! search the store refuses with `Locked` is answered with one *deferred
//! search* object, `…/collection/<c>/locked_search_N`, in the `locked` list
//! (for `Collection.SearchItems`, as its one result). It is an Item whose
//! `Locked` is true and whose `Attributes` are the ones searched for; its
//! secret cannot be read. Unlocking it (`Service.Unlock`) makes a prompt
//! that `coffer unlock` completes, and the prompt's result lists the items
//! the search finds *then* — which is what libsecret reads the secret of.
//! When nothing matches, the result is empty and the client finds nothing,
//! as it would have on an unlocked vault.
//!
//! Equal searches share one object; the objects leave the bus when the
//! store unlocks (a search then finds the real items), while their queries
//! are remembered (at most [`MAX_DEFERRED`], the oldest forgotten first) so
//! that an `Unlock` racing with the unlock still resolves.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use zbus::message::Header;
use zbus::zvariant::OwnedObjectPath;

use super::error::{DbusError, DbusResult};
use super::paths;
use super::provider::Shared;
use super::session::WireSecret;
use super::store::{Attributes, CollectionId, LOGIN};

/// The most deferred searches remembered at once.
pub const MAX_DEFERRED: usize = 256;

/// What a deferred search stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The collection searched (`None`: all, from `Service.SearchItems`).
    pub scope: Option<CollectionId>,
    /// The attributes searched for.
    pub attributes: Attributes,
}

struct Entry {
    query: Query,
    /// The collection its path is under.
    under: CollectionId,
    exported: bool,
}

/// The deferred searches of one provider.
#[derive(Default)]
pub struct DeferredSearches {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    next: u64,
    /// Objects of forgotten entries, still to take off the bus.
    stale: Vec<OwnedObjectPath>,
}

impl DeferredSearches {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The query of deferred search `n`, if remembered.
    pub fn query(&self, n: u64) -> Option<Query> {
        self.inner().entries.get(&n).map(|e| e.query.clone())
    }

    /// The number of `query` (made when new) and whether its object must
    /// be put on the bus.
    fn number(&self, query: Query, under: CollectionId) -> (u64, bool) {
        let mut inner = self.inner();
        if let Some((n, e)) = inner.entries.iter_mut().find(|(_, e)| e.query == query) {
            let export = !e.exported;
            e.exported = true;
            return (*n, export);
        }
        while inner.entries.len() >= MAX_DEFERRED {
            // The oldest; its object (if still exported) goes at unlock.
            let Some(oldest) = inner.entries.keys().next().copied() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                if e.exported {
                    inner.stale.push(paths::deferred(&e.under, oldest));
                }
            }
        }
        inner.next += 1;
        let n = inner.next;
        inner.entries.insert(
            n,
            Entry {
                query,
                under,
                exported: true,
            },
        );
        (n, true)
    }

    /// The exported objects, marked as no longer exported.
    fn take_exported(&self) -> Vec<OwnedObjectPath> {
        let mut inner = self.inner();
        let mut out = std::mem::take(&mut inner.stale);
        out.extend(
            inner
                .entries
                .iter_mut()
                .filter(|(_, e)| e.exported)
                .map(|(n, e)| {
                    e.exported = false;
                    paths::deferred(&e.under, *n)
                }),
        );
        out
    }
}

/// The deferred search object for `query` (made and put on the bus when
/// new).
pub async fn object_for(
    sh: &Arc<Shared>,
    scope: Option<CollectionId>,
    attributes: Attributes,
) -> DbusResult<OwnedObjectPath> {
    let under = match &scope {
        Some(c) => c.clone(),
        None => sh
            .store
            .alias(super::store::DEFAULT_ALIAS)
            .await?
            .unwrap_or_else(|| CollectionId(LOGIN.to_string())),
    };
    let (n, export) = sh
        .deferred
        .number(Query { scope, attributes }, under.clone());
    let path = paths::deferred(&under, n);
    if export {
        let iface = DeferredIface {
            n,
            shared: Arc::downgrade(sh),
        };
        sh.conn.object_server().at(path.clone(), iface).await?;
        tracing::debug!(
            search = n,
            "a search of the locked vault is deferred until unlock"
        );
    }
    Ok(path)
}

/// The items `query` finds now (none when the store cannot search).
pub async fn resolve(sh: &Shared, query: &Query) -> Vec<OwnedObjectPath> {
    match sh
        .store
        .search(query.scope.clone(), query.attributes.clone())
        .await
    {
        Ok(found) => found.iter().map(|(c, i)| paths::item(c, &i.id)).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "a deferred search found nothing");
            Vec::new()
        }
    }
}

/// The store unlocked: the deferred search objects leave the bus.
pub async fn unexport_all(sh: &Shared) {
    for path in sh.deferred.take_exported() {
        if let Err(e) = sh
            .conn
            .object_server()
            .remove::<DeferredIface, _>(path)
            .await
        {
            tracing::debug!(error = %e, "cannot remove a deferred search object");
        }
    }
}

/// The Item interface of a deferred search.
pub struct DeferredIface {
    n: u64,
    shared: Weak<Shared>,
}

fn locked() -> DbusError {
    DbusError::IsLocked(
        "the coffer vault is locked; this object stands for the items your search will find once it is unlocked: unlock it (run `coffer unlock`) and search again"
            .into(),
    )
}

impl DeferredIface {
    fn query(&self) -> Option<Query> {
        Shared::upgrade(&self.shared)
            .ok()
            .and_then(|sh| sh.deferred.query(self.n))
    }
}

#[zbus::interface(name = "org.freedesktop.Secret.Item")]
impl DeferredIface {
    /// Refused: nothing to delete until the search runs.
    async fn delete(&self, #[zbus(header)] hdr: Header<'_>) -> Result<OwnedObjectPath, DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Item.Delete (deferred search)").await?;
        Err(locked())
    }

    /// Refused while locked.
    #[zbus(out_args("secret"))]
    async fn get_secret(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        session: OwnedObjectPath,
    ) -> Result<(WireSecret,), DbusError> {
        let _ = session;
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Item.GetSecret (deferred search)").await?;
        Err(locked())
    }

    /// Refused while locked.
    async fn set_secret(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        secret: WireSecret,
    ) -> Result<(), DbusError> {
        let _ = secret;
        let sh = Shared::upgrade(&self.shared)?;
        sh.caller(&hdr, "Item.SetSecret (deferred search)").await?;
        Err(locked())
    }

    /// Always locked: it goes away when the store unlocks.
    #[zbus(property)]
    async fn locked(&self) -> bool {
        true
    }

    /// The attributes searched for.
    #[zbus(property)]
    async fn attributes(&self) -> HashMap<String, String> {
        self.query()
            .map(|q| q.attributes.into_iter().collect())
            .unwrap_or_default()
    }

    /// Refused.
    #[zbus(property)]
    async fn set_attributes(&self, attributes: HashMap<String, String>) -> zbus::Result<()> {
        let _ = attributes;
        Err(locked().into_fdo().into())
    }

    /// Says what it is.
    #[zbus(property)]
    async fn label(&self) -> String {
        "coffer is locked: run `coffer unlock` to see what this search finds".into()
    }

    /// Refused.
    #[zbus(property)]
    async fn set_label(&self, label: String) -> zbus::Result<()> {
        let _ = label;
        Err(locked().into_fdo().into())
    }

    /// Unknown until unlocked.
    #[zbus(property)]
    async fn created(&self) -> u64 {
        0
    }

    /// Unknown until unlocked.
    #[zbus(property)]
    async fn modified(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(attrs: &[(&str, &str)]) -> Query {
        Query {
            scope: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn equal_searches_share_a_number_and_old_ones_are_forgotten() {
        let d = DeferredSearches::default();
        let login = CollectionId(LOGIN.into());
        let (a, new_a) = d.number(q(&[("k", "v")]), login.clone());
        let (b, new_b) = d.number(q(&[("k", "v")]), login.clone());
        assert_eq!((a, new_a, new_b), (b, true, false));
        let (c, _) = d.number(q(&[("k", "w")]), login.clone());
        assert_ne!(a, c);
        assert_eq!(d.take_exported().len(), 2);
        assert!(d.take_exported().is_empty(), "taken once");
        let (a2, again) = d.number(q(&[("k", "v")]), login.clone());
        assert_eq!((a2, again), (a, true), "exported again after an unlock");
        assert_eq!(d.query(a), Some(q(&[("k", "v")])));
        for i in 0..MAX_DEFERRED {
            d.number(q(&[("n", &i.to_string())]), login.clone());
        }
        assert_eq!(d.inner().entries.len(), MAX_DEFERRED);
        assert_eq!(d.query(a), None, "the oldest was forgotten");
        assert_eq!(
            d.take_exported().len(),
            MAX_DEFERRED + 1,
            "every exported object, the forgotten one's too, leaves the bus"
        );
    }
}
