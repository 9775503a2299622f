//! Which item a query names.
//!
//! Every command takes an id or an exact title (case-insensitive; several
//! items with that title are an ambiguous query listing them). Reading
//! commands (`get`, `history`, `totp`, `clip`) then fall back to search
//! ([`find_or_search`]): one match is taken, several are listed as
//! candidates, none is "no such item". When nothing live matches but the
//! trash has the item, the error says how to restore it.

use coffer_vault::ids::ItemId;
use coffer_vault::item::fields::USERNAME;
use coffer_vault::item::Item;
use coffer_vault::replica::{Replica, TrashedItem};
use coffer_vault::search::{choose, Choice, Hit};
use coffer_vault::secret::SecretKey;

use crate::error::{Candidate, Error, Result};

/// Candidates listed in an ambiguous error at most.
const MAX_CANDIDATES: usize = 20;

fn candidate(item: &Item) -> Candidate {
    Candidate {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        username: item
            .get(USERNAME)
            .map(|u| u.expose().to_owned())
            .unwrap_or_default(),
    }
}

/// The live item with id `q`, or the one titled `q`; `None` when neither.
pub(crate) fn exact(replica: &Replica, key: &SecretKey, q: &str) -> Result<Option<Item>> {
    if let Ok(id) = q.parse::<ItemId>() {
        if let Some(item) = replica.get(key, id).map_err(Error::internal)? {
            return Ok(Some(item));
        }
    }
    let mut hits: Vec<Item> = replica.find_by_title(key, q).map_err(Error::internal)?;
    match hits.len() {
        0 => Ok(None),
        1 => Ok(Some(hits.remove(0))),
        n => Err(Error::Ambiguous {
            message: format!("{n} items are titled {q:?}; name one by its id"),
            candidates: hits.iter().map(candidate).collect(),
        }),
    }
}

/// The live item `query` names exactly, else the one item a search for it
/// finds.
pub(crate) fn find_or_search(replica: &Replica, key: &SecretKey, query: &str) -> Result<Item> {
    let q = query.trim();
    if let Some(item) = exact(replica, key, q)? {
        return Ok(item);
    }
    let found = replica.search(key, q).map_err(Error::internal)?;
    let hits: Vec<Hit> = found.iter().map(|(_, h)| *h).collect();
    let id_at = |index: usize| {
        found
            .iter()
            .find(|(_, h)| h.index == index)
            .map(|(id, _)| *id)
    };
    match choose(&hits) {
        Choice::One(index) => {
            let id = id_at(index).ok_or_else(|| Error::internal("a search hit went missing"))?;
            replica
                .get(key, id)
                .map_err(Error::internal)?
                .ok_or_else(|| not_found(replica, key, q))
        }
        Choice::Several(indexes) => {
            let mut candidates = Vec::new();
            for index in indexes.iter().take(MAX_CANDIDATES) {
                if let Some(item) = id_at(*index)
                    .map(|id| replica.get(key, id))
                    .transpose()
                    .map_err(Error::internal)?
                    .flatten()
                {
                    candidates.push(candidate(&item));
                }
            }
            let more = indexes.len().saturating_sub(MAX_CANDIDATES);
            let tail = if more > 0 {
                format!(" ({more} more: `coffer search {q}` lists them all)")
            } else {
                String::new()
            };
            Err(Error::Ambiguous {
                message: format!(
                    "{} items match {q:?}; name one by its id or exact title{tail}",
                    indexes.len()
                ),
                candidates,
            })
        }
        Choice::None => Err(not_found(replica, key, q)),
    }
}

/// "No such item", saying so when the item is in the trash.
pub(crate) fn not_found(replica: &Replica, key: &SecretKey, q: &str) -> Error {
    match trashed(replica, key, q) {
        Ok(Some(t)) => Error::NoSuchItem(format!(
            "\"{}\" is in the trash: `coffer trash restore {}` brings it back",
            t.item.title(),
            t.item.id
        )),
        _ => Error::NoSuchItem(format!(
            "no item has the id or title {q:?}; `coffer list` shows them, `coffer search TERMS` finds them"
        )),
    }
}

/// The trashed item with id `q`, or the one titled `q` (ambiguous when
/// several are).
pub(crate) fn trashed(replica: &Replica, key: &SecretKey, q: &str) -> Result<Option<TrashedItem>> {
    let q = q.trim();
    if let Ok(id) = q.parse::<ItemId>() {
        if let Some(t) = replica.trashed_item(key, id).map_err(Error::internal)? {
            return Ok(Some(t));
        }
    }
    let want = q.to_lowercase();
    let mut hits: Vec<TrashedItem> = replica
        .trashed(key)
        .map_err(Error::internal)?
        .into_iter()
        .filter(|t| t.item.title().to_lowercase() == want)
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(Some(hits.remove(0))),
        n => Err(Error::Ambiguous {
            message: format!("{n} items in the trash are titled {q:?}; name one by its id"),
            candidates: hits.iter().map(|t| candidate(&t.item)).collect(),
        }),
    }
}
