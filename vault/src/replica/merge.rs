//! Taking in other devices' states, and verifying every version at unlock.

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::cache::{cache_check, CachedItem, Opened, PlainCache};
use super::reports::open_reports;
use super::{MergeOutcome, Rejected, Replica};
use crate::ids::ItemId;
use crate::record::{open_record, open_record_json, RecordKey, RecordPlain};
use crate::secret::SecretKey;
use crate::state::VaultState;
use crate::vv::{Dot, VersionVector};

impl Replica {
    /// Takes in another device's state.
    ///
    /// Without the key (locked), only a union: nothing is dropped, since a
    /// forged version whose context covers everything could otherwise make
    /// compaction discard real data. With the key, every version not already
    /// here is opened first; those that fail are listed and not merged; then
    /// union and compaction.
    pub fn merge_remote(&mut self, remote: &VaultState, key: Option<&SecretKey>) -> MergeOutcome {
        let vv_before = self.state.vv().clone();
        let Some(key) = key else {
            let changed = self.state.union_foreign(remote, &self.device_id);
            self.note_merged(&changed, &vv_before);
            return MergeOutcome {
                changed_items: changed.len(),
                changed: changed.into_iter().collect(),
                rejected: Vec::new(),
            };
        };
        let rk = RecordKey::derive(key);
        let mut accepted = VaultState::new();
        let mut rejected = Vec::new();
        for v in remote.iter_versions() {
            if self.state.contains(v) {
                continue;
            }
            match open_record(&rk, self.account_id, self.epoch, v) {
                Ok(plain) => {
                    self.observe(&plain);
                    accepted.insert(v.clone());
                }
                Err(reason) => rejected.push(Rejected {
                    id: v.id,
                    dot: v.dot,
                    reason,
                }),
            }
        }
        accepted.join_vv(remote.vv());
        let changed = self.state.union_foreign(&accepted, &self.device_id);
        for id in &changed {
            self.state.compact_item(id);
        }
        self.note_merged(&changed, &vv_before);
        MergeOutcome {
            changed_items: changed.len(),
            changed: changed.into_iter().collect(),
            rejected,
        }
    }

    /// At unlock: opens every version, drops those that fail (merged while
    /// locked from a forged or damaged file), compacts, opens the stored
    /// reports and fills the plaintext cache.
    pub fn verify_and_compact(&mut self, key: &SecretKey) -> Vec<Rejected> {
        let rk = RecordKey::derive(key);
        let mut rejected = Vec::new();
        let mut cache = PlainCache {
            key_check: Some(cache_check(key)),
            items: HashMap::new(),
            search: None,
        };
        // Item by item, so that only one item's plaintexts are parsed at a
        // time; the cache keeps the JSON of most.
        let ids: Vec<ItemId> = self.state.records().keys().copied().collect();
        for id in ids {
            let mut opened: Vec<(Dot, Zeroizing<Vec<u8>>)> = Vec::new();
            let mut failed = Vec::new();
            // The lowercased title of the one version an item usually has,
            // taken while it is parsed anyway: the first title lookup after
            // unlock then parses nothing.
            let mut title_lc = None;
            for v in self.state.versions(&id) {
                match open_record_json(&rk, self.account_id, self.epoch, v) {
                    Ok((plain, json)) => {
                        if let Some(seen) = plain.max_stamp() {
                            self.clock.observe(seen);
                        }
                        if let RecordPlain::Item(item) = &plain {
                            title_lc = Some((v.dot, item.title().to_lowercase()));
                        }
                        opened.push((v.dot, json));
                    }
                    Err(reason) => failed.push(Rejected {
                        id,
                        dot: v.dot,
                        reason,
                    }),
                }
            }
            for r in &failed {
                self.state.remove(&id, &r.dot);
                self.unsaved.whole = true;
            }
            rejected.extend(failed);
            self.state.compact_item(&id);
            let versions = self.state.versions(&id);
            if versions.is_empty() {
                continue;
            }
            // Every remaining version was opened above.
            let opened: Vec<Opened> = versions
                .iter()
                .filter_map(|v| {
                    let i = opened.iter().position(|(dot, _)| *dot == v.dot)?;
                    Some(Opened::Json(opened.swap_remove(i).1))
                })
                .collect();
            if opened.len() == versions.len() {
                let entry = CachedItem::new(versions, opened);
                if let ([only], Some((dot, title))) = (versions, title_lc) {
                    if only.dot == dot && !only.deleted {
                        // A single live version: its item is the view.
                        let _ = entry
                            .title_lc
                            .set(Some(Zeroizing::new(title.into_boxed_str())));
                    }
                }
                cache.items.insert(id, entry);
            }
        }
        *self.cache_lock() = cache;
        self.reports = self
            .sealed_reports
            .as_deref()
            .and_then(|sealed| {
                open_reports(key, self.account_id, self.epoch, self.device_id, sealed)
            })
            .unwrap_or_default();
        rejected
    }

    /// Joins another device's version vector, except this device's own
    /// entry (only this device writes its dots; see
    /// [`VaultState::union_foreign`]).
    pub(super) fn join_foreign_vv(&mut self, vv: &VersionVector) {
        let before = self.state.vv().clone();
        let foreign: VersionVector = vv
            .iter()
            .filter(|(d, _)| **d != self.device_id)
            .map(|(d, c)| (*d, *c))
            .collect();
        self.state.join_vv(&foreign);
        if *self.state.vv() != before {
            self.unsaved.vv = true;
        }
    }

    pub(super) fn note_merged(
        &mut self,
        changed: &std::collections::BTreeSet<ItemId>,
        vv_before: &VersionVector,
    ) {
        self.unsaved.items.extend(changed.iter().copied());
        self.cache_lock().search_touched(changed);
        if self.state.vv() != vv_before {
            self.unsaved.vv = true;
        }
    }

    pub(super) fn observe(&mut self, plain: &RecordPlain) {
        if let Some(s) = plain.max_stamp() {
            self.clock.observe(s);
        }
    }
}
