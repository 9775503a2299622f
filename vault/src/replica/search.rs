//! The replica's search index: a [`SearchIndex`] of every live item's
//! title, username, URLs and tags, kept with the plaintext cache (built on
//! the first search after unlock, dropped with the cache at lock) and
//! brought up to date item by item: every write, merge and rollback marks
//! the items it touched, and the next search re-reads only those.

use std::collections::{BTreeSet, HashMap};

use super::cache::PlainCache;
use super::{Replica, VaultError};
use crate::ids::ItemId;
use crate::item::fields::{reserved, CUSTOM_PREFIX, URL, USERNAME};
use crate::item::Item;
use crate::record::RecordKey;
use crate::search::{Hit, Query, SearchIndex, Searchable};
use crate::secret::SecretKey;

/// The index and what it stands for.
#[derive(Default)]
pub(super) struct SearchCache {
    index: SearchIndex,
    /// Position in the index → item.
    ids: Vec<ItemId>,
    /// Item → position.
    slots: HashMap<ItemId, usize>,
    /// Items changed since they were indexed.
    dirty: BTreeSet<ItemId>,
}

impl SearchCache {
    fn put(&mut self, id: ItemId, item: Option<&Item>) {
        let fields = item.map(SearchFields::of);
        match (self.slots.get(&id).copied(), fields) {
            (Some(slot), Some(f)) => {
                self.index.replace(slot, &f.searchable());
            }
            (None, Some(f)) => {
                let slot = self.index.push(&f.searchable());
                self.ids.push(id);
                self.slots.insert(id, slot);
            }
            (Some(slot), None) => {
                self.index.swap_remove(slot);
                self.ids.swap_remove(slot);
                self.slots.remove(&id);
                if let Some(moved) = self.ids.get(slot) {
                    self.slots.insert(*moved, slot);
                }
            }
            (None, None) => {}
        }
    }
}

/// The searchable text of one item (never a secret field).
struct SearchFields<'a> {
    title: &'a str,
    username: &'a str,
    urls: Vec<&'a str>,
    tags: Vec<&'a str>,
}

impl<'a> SearchFields<'a> {
    fn of(item: &'a Item) -> SearchFields<'a> {
        let mut urls: Vec<&str> = item.get(URL).map(|u| u.expose()).into_iter().collect();
        // Imports keep further URLs as custom fields `url 2`, `url 3` …
        for (name, value) in item.live_fields() {
            let Some(user) = name.strip_prefix(CUSTOM_PREFIX) else {
                continue;
            };
            if is_extra_url(user) {
                urls.push(value.expose());
            }
        }
        urls.retain(|u| !u.trim().is_empty());
        let tags = item
            .get(&crate::item::custom_field(reserved::TAGS))
            .map(|t| {
                t.expose()
                    .lines()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        SearchFields {
            title: item.title(),
            username: item.get(USERNAME).map(|u| u.expose()).unwrap_or(""),
            urls,
            tags,
        }
    }

    fn searchable(&self) -> Searchable<'_> {
        Searchable {
            title: self.title,
            username: self.username,
            urls: &self.urls,
            tags: &self.tags,
        }
    }
}

/// `url 2`, `URL 3` …: the names imports give an item's further URLs.
fn is_extra_url(user_name: &str) -> bool {
    let Some((head, n)) = user_name.rsplit_once(' ') else {
        return false;
    };
    head.eq_ignore_ascii_case(URL) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

impl PlainCache {
    /// Marks items whose versions changed, for the next search.
    pub(super) fn search_touched<'i>(&mut self, ids: impl IntoIterator<Item = &'i ItemId>) {
        if let Some(s) = &mut self.search {
            s.dirty.extend(ids);
        }
    }
}

impl Replica {
    /// The live items matching `query`, best first (see [`crate::search`]
    /// for the matching and the ranking): each item's id and how it
    /// matched. Only titles, usernames, URLs and tags are searched.
    ///
    /// The first search after unlock indexes every item; later ones
    /// re-index only the items changed since (by this device or a merge).
    pub fn search(&self, key: &SecretKey, query: &str) -> Result<Vec<(ItemId, Hit)>, VaultError> {
        let query = Query::parse(query);
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut search = cache.search.take().unwrap_or_else(|| SearchCache {
            dirty: self.state.records().keys().copied().collect(),
            ..SearchCache::default()
        });
        let result = (|| {
            while let Some(id) = search.dirty.pop_first() {
                let entry = self.cached(&mut cache, &rk, id, self.state.versions(&id));
                match entry {
                    Ok(entry) => search.put(id, entry.view().as_ref()),
                    Err(e) => {
                        search.dirty.insert(id);
                        return Err(e);
                    }
                }
            }
            Ok(search
                .index
                .search_query(&query)
                .into_iter()
                .map(|hit| (search.ids[hit.index], hit))
                .collect())
        })();
        cache.search = Some(search);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_url_names() {
        assert!(is_extra_url("url 2") && is_extra_url("URL 10"));
        assert!(!is_extra_url("url") && !is_extra_url("url x") && !is_extra_url("curl 2"));
    }
}
