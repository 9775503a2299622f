//! The vault's trash: `rm` moves an item there (a deletion that keeps its
//! last content, sealed); `trash list`, `trash restore` and `trash empty`
//! (which purges the content for good, on every device once synced).

use coffer_proto::reply::ItemRef;
use coffer_proto::request::QueryParams;
use coffer_proto::trash::{TrashEmptyParams, TrashEmptyReply, TrashEntry};
use coffer_vault::item::fields::{URL, USERNAME};
use coffer_vault::replica::TrashedItem;
use serde_json::Value;

use super::items::{commit, open};
use super::{lookup, to_reply};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};

fn entry(t: &TrashedItem) -> TrashEntry {
    let get = |name: &str| {
        t.item
            .get(name)
            .map(|v| v.expose().to_owned())
            .unwrap_or_default()
    };
    TrashEntry {
        id: t.item.id.to_string(),
        title: t.item.title().to_owned(),
        username: get(USERNAME),
        url: get(URL),
        trashed_ms: t.trashed.wall_ms,
        trashed_by: t.device.to_string(),
    }
}

/// `trash_list`: newest first.
pub async fn list(d: &Daemon) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let mut entries: Vec<TrashEntry> = account
        .replica
        .trashed(&key)
        .map_err(Error::internal)?
        .iter()
        .map(entry)
        .collect();
    entries.sort_by(|a, b| b.trashed_ms.cmp(&a.trashed_ms).then(a.id.cmp(&b.id)));
    to_reply(entries)
}

fn not_in_trash(q: &str) -> Error {
    Error::NoSuchItem(format!(
        "nothing in the trash has the id or title {q:?}; `coffer trash list` shows what is there"
    ))
}

/// `trash_restore`.
pub async fn restore(d: &Daemon, p: QueryParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let t = lookup::trashed(&account.replica, &key, &p.query)?
        .ok_or_else(|| not_in_trash(p.query.trim()))?;
    let undo = account.replica.undo_point(&[t.item.id]);
    let item = account
        .replica
        .restore(&key, t.item.id, now_ms())
        .map_err(Error::internal)?;
    commit(d, account, undo)?;
    to_reply(ItemRef {
        id: item.id.to_string(),
        title: Some(item.title().to_owned()),
        generated: None,
    })
}

/// `trash_empty`: purges every trashed item (or the one named), keeping
/// those trashed less than `older_than_secs` ago.
pub async fn empty(d: &Daemon, p: TrashEmptyParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let now = now_ms();
    let cutoff = p
        .older_than_secs
        .map(|s| now.saturating_sub(s.saturating_mul(1000)));
    let all = account.replica.trashed(&key).map_err(Error::internal)?;
    let candidates: Vec<TrashedItem> =
        match &p.query {
            Some(q) => vec![lookup::trashed(&account.replica, &key, q)?
                .ok_or_else(|| not_in_trash(q.trim()))?],
            None => all.clone(),
        };
    let chosen: Vec<&TrashedItem> = candidates
        .iter()
        .filter(|t| cutoff.is_none_or(|c| t.trashed.wall_ms <= c))
        .collect();
    if !chosen.is_empty() {
        let ids: Vec<_> = chosen.iter().map(|t| t.item.id).collect();
        let undo = account.replica.undo_point(&ids);
        for id in &ids {
            if let Err(e) = account.replica.purge(&key, *id, now) {
                account.replica.rollback(undo);
                return Err(Error::internal(e));
            }
        }
        commit(d, account, undo)?;
    }
    let purged = chosen.len();
    let kept = all.len() - purged;
    let message = match (purged, kept) {
        (0, 0) => "The trash is empty.".to_owned(),
        (0, k) => format!("Nothing purged; {k} item(s) in the trash are newer than that."),
        (n, 0) => format!("Purged {n} item(s); the trash is empty."),
        (n, k) => format!("Purged {n} item(s); {k} newer one(s) stay in the trash."),
    };
    to_reply(TrashEmptyReply {
        purged,
        kept,
        message,
    })
}
