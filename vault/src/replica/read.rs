//! Reading items from an unlocked replica.

use zeroize::Zeroizing;

use super::{Replica, VaultError};
use crate::ids::ItemId;
use crate::item::Item;
use crate::record::RecordKey;
use crate::secret::SecretKey;

impl Replica {
    /// Every live item, siblings resolved in memory (a live edit wins over a
    /// concurrent delete), in id order.
    pub fn items(&self, key: &SecretKey) -> Result<Vec<Item>, VaultError> {
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut out = Vec::with_capacity(self.state.item_count());
        for (id, versions) in self.state.records() {
            let entry = self.cached(&mut cache, &rk, *id, versions)?;
            if let Some(item) = entry.view() {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// The live items titled `title` (compared after lowercasing both, as
    /// the CLI's queries are), siblings resolved, in id order. Only the
    /// matches are kept.
    ///
    /// Each cache entry keeps its lowercased title once a lookup has parsed
    /// it (`CachedItem::title_lc`), so only the first lookup after unlock
    /// parses every item; later ones check each entry's signatures, compare
    /// a string and parse only the matches. An entry whose versions changed
    /// (an edit, a merge) is replaced, its title with it.
    pub fn find_by_title(&self, key: &SecretKey, title: &str) -> Result<Vec<Item>, VaultError> {
        let want = Zeroizing::new(title.to_lowercase());
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        let mut out = Vec::new();
        for (id, versions) in self.state.records() {
            let entry = self.cached(&mut cache, &rk, *id, versions)?;
            if entry.title_lc() == Some(want.as_str()) {
                out.extend(entry.view());
            }
        }
        Ok(out)
    }

    /// One live item, siblings resolved; `None` when unknown or deleted.
    pub fn get(&self, key: &SecretKey, id: ItemId) -> Result<Option<Item>, VaultError> {
        let versions = self.state.versions(&id);
        if versions.is_empty() {
            return Ok(None);
        }
        let rk = RecordKey::derive(key);
        let mut cache = self.checked_cache(key);
        Ok(self.cached(&mut cache, &rk, id, versions)?.view())
    }
}
