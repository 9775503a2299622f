//! The plaintext item and its field-by-field conflict resolution.
//!
//! An item is a set of named fields. Standard names are [`TITLE`],
//! [`USERNAME`], [`PASSWORD`], [`URL`] and [`NOTES`]; a custom field is
//! `field:NAME` (see [`custom_field`]), with a non-empty `NAME`. Every field
//! carries the hybrid-logical-clock stamp and the device of its last change,
//! and its earlier values live in the field's history.
//!
//! Editing a field stamps it later than anything the editing device has seen
//! and at least one tick after the value it replaces, and moves the replaced
//! value into the history. Histories are sets: sorted by `(stamp, device,
//! value)`, without duplicates, and capped at the newest [`HISTORY_CAP`]
//! entries per field, so that the same inputs always give the same bytes.
//!
//! [`resolve`] merges concurrent versions (siblings) of one item: for each
//! field the value with the highest `(stamp, device)` wins and every other
//! value goes to that field's history. It is deterministic and does not
//! depend on the order of the siblings.
//!
//! Items are serialized with `serde_json` only inside sealed boxes (records,
//! backups), in a compact form ([`Item`] documents it): stamps as
//! `[wall_ms, counter]` pairs and each device written once per item, in a
//! table that fields and history entries refer to by index. The buffers
//! holding their JSON are zeroized.
//!
//! # Layout
//!
//! - [`fields`]: the field vocabulary (standard names, custom fields, the
//!   names users type).
//! - `codec`: the compact JSON an item is sealed as.
//! - `resolve`: field-by-field resolution of siblings.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hlc::{Clock, Hlc};
use crate::ids::{DeviceId, ItemId};
use crate::secret::SecretString;

mod codec;
pub mod fields;
mod resolve;

use codec::secret_opt;
pub(crate) use codec::secret_str;
pub(crate) use codec::to_json_zeroizing;
pub use fields::*;
pub use resolve::{resolve, resolve_with_conflicts};

/// The current value of one field and when, and by whom, it was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValue {
    /// The value; `None` once the field has been removed.
    #[serde(with = "secret_opt")]
    pub value: Option<SecretString>,
    /// When it was set.
    pub stamp: Hlc,
    /// The device that set it.
    pub device: DeviceId,
}

/// An earlier value of a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The value it had.
    #[serde(with = "secret_str")]
    pub value: SecretString,
    /// When that value was set.
    pub stamp: Hlc,
    /// The device that set it.
    pub device: DeviceId,
}

impl HistoryEntry {
    fn cmp_key(&self, other: &Self) -> Ordering {
        (self.stamp, self.device)
            .cmp(&(other.stamp, other.device))
            .then_with(|| self.value.expose().cmp(other.value.expose()))
    }
}

/// One item's plaintext. `Debug` shows field names and stamps, never values.
///
/// Serialized as one compact JSON object (`docs/FORMAT.md`, part 2, §4.2):
///
/// ```json
/// {"id": "<item id>", "c": <created_ms>,
///  "d": ["<device id>", …],
///  "f": {"<name>": [<value or null>, <wall_ms>, <counter>, <device index>], …},
///  "h": {"<name>": [[<value>, <wall_ms>, <counter>, <device index>], …], …}}
/// ```
///
/// `d` lists the distinct devices of the item's fields and history in byte
/// order; an index points into it. `h` is left out when there is no history.
/// Readers ignore unknown keys; an index outside `d` is an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The item's identifier.
    pub id: ItemId,
    /// When it was created (milliseconds since the Unix epoch).
    pub created_ms: u64,
    /// Fields by name.
    pub fields: BTreeMap<String, FieldValue>,
    /// Earlier values by field name, oldest first.
    pub history: BTreeMap<String, Vec<HistoryEntry>>,
}

/// A field whose concurrent values were resolved to one winner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The field's name.
    pub field: String,
    /// The device whose value won.
    pub winner_device: DeviceId,
    /// The device whose value lost (it is kept in the history).
    pub loser_device: DeviceId,
}

impl Item {
    /// An item without fields.
    pub fn new(id: ItemId, created_ms: u64) -> Self {
        Item {
            id,
            created_ms,
            fields: BTreeMap::new(),
            history: BTreeMap::new(),
        }
    }

    /// The field's current value, if it is set.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.fields.get(name).and_then(|f| f.value.as_ref())
    }

    /// The title, or `""` when the item has none.
    pub fn title(&self) -> &str {
        self.get(TITLE).map(SecretString::expose).unwrap_or("")
    }

    /// The set fields (removed ones left out), by name.
    pub fn live_fields(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.fields
            .iter()
            .filter_map(|(k, f)| f.value.as_ref().map(|v| (k.as_str(), v)))
    }

    /// The earlier values of a field, oldest first.
    pub fn history_of(&self, name: &str) -> &[HistoryEntry] {
        self.history.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Wall time of the latest field change, or the creation time.
    pub fn modified_ms(&self) -> u64 {
        self.fields
            .values()
            .map(|f| f.stamp.wall_ms)
            .max()
            .unwrap_or(self.created_ms)
    }

    /// The highest stamp anywhere in the item (fields and history).
    pub fn max_stamp(&self) -> Option<Hlc> {
        let fields = self.fields.values().map(|f| f.stamp);
        let hist = self.history.values().flatten().map(|h| h.stamp);
        fields.chain(hist).max()
    }

    /// The field with the latest `(stamp, device)`, if any.
    pub fn latest_change(&self) -> Option<(Hlc, DeviceId)> {
        self.fields.values().map(|f| (f.stamp, f.device)).max()
    }

    /// Applies `changes` (`None` removes a field) as one edit by `device`.
    ///
    /// Changes that would not change anything are skipped; the rest share one
    /// stamp, later than every stamp in the item and than the clock's last
    /// stamp. Replaced values move into the history. Returns whether
    /// anything changed.
    pub fn apply(
        &mut self,
        changes: Vec<(String, Option<SecretString>)>,
        clock: &mut Clock,
        now_ms: u64,
        device: DeviceId,
    ) -> bool {
        let mut effective: BTreeMap<String, Option<SecretString>> = BTreeMap::new();
        for (name, value) in changes {
            let current = self.fields.get(&name).and_then(|f| f.value.as_ref());
            if current != value.as_ref() {
                effective.insert(name, value);
            } else {
                effective.remove(&name);
            }
        }
        if effective.is_empty() {
            return false;
        }
        if let Some(seen) = self.max_stamp() {
            clock.observe(seen);
        }
        let mut stamp = clock.tick(now_ms);
        for name in effective.keys() {
            if let Some(old) = self.fields.get(name) {
                // Never below the replaced value's stamp + 1, even if the
                // clock was restored from an old state.
                stamp = stamp.max(old.stamp.successor());
            }
        }
        clock.observe(stamp);
        for (name, value) in effective {
            let new = FieldValue {
                value,
                stamp,
                device,
            };
            if let Some(old) = self.fields.insert(name.clone(), new) {
                if let Some(v) = old.value {
                    let hist = self.history.entry(name).or_default();
                    hist.push(HistoryEntry {
                        value: v,
                        stamp: old.stamp,
                        device: old.device,
                    });
                    normalize_history(hist);
                }
            }
        }
        true
    }

    /// Puts every history in canonical form (sorted, deduplicated, capped)
    /// and drops empty ones.
    pub fn normalize(&mut self) {
        self.history.retain(|_, h| {
            normalize_history(h);
            !h.is_empty()
        });
    }

    /// The item as JSON, in a buffer that is wiped when dropped.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        to_json_zeroizing(self, self.size_hint())
    }

    /// Parses an item from JSON and normalizes its histories.
    pub fn from_json(bytes: &[u8]) -> Result<Item, serde_json::Error> {
        let mut item: Item = serde_json::from_slice(bytes)?;
        item.normalize();
        Ok(item)
    }

    /// An upper bound of the JSON's length, so that the zeroizing buffer
    /// is never reallocated: JSON writes a byte as at most 6 characters
    /// (`\u001f`); an entry's brackets, numbers and index take at most 64,
    /// and its device in the table at most 40 more.
    pub(crate) fn size_hint(&self) -> usize {
        const ENTRY: usize = 64 + 40;
        let f: usize = self
            .fields
            .iter()
            .map(|(k, f)| 6 * (k.len() + f.value.as_ref().map_or(0, |v| v.expose().len())) + ENTRY)
            .sum();
        let h: usize = self
            .history
            .iter()
            .map(|(k, h)| {
                6 * k.len()
                    + 8
                    + h.iter()
                        .map(|e| 6 * e.value.expose().len() + ENTRY)
                        .sum::<usize>()
            })
            .sum();
        128 + f + h
    }

    /// The distinct devices of the fields and history, in byte order.
    fn device_table(&self) -> Vec<DeviceId> {
        let mut devices: Vec<DeviceId> = self
            .fields
            .values()
            .map(|f| f.device)
            .chain(self.history.values().flatten().map(|h| h.device))
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }
}

fn normalize_history(h: &mut Vec<HistoryEntry>) {
    h.sort_by(HistoryEntry::cmp_key);
    h.dedup_by(|a, b| a.cmp_key(b) == Ordering::Equal);
    if h.len() > HISTORY_CAP {
        h.drain(..h.len() - HISTORY_CAP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<SecretString> {
        Some(SecretString::from(v))
    }

    fn dev(n: u8) -> DeviceId {
        DeviceId(uuid::Uuid::from_bytes([n; 16]))
    }

    fn base() -> (Item, Clock) {
        let mut clock = Clock::new();
        let mut it = Item::new(ItemId(uuid::Uuid::from_bytes([9; 16])), 1000);
        it.apply(
            vec![(TITLE.into(), s("Bank")), (PASSWORD.into(), s("old"))],
            &mut clock,
            1000,
            dev(1),
        );
        (it, clock)
    }

    #[test]
    fn field_names() {
        assert!(is_valid_field_name("title"));
        assert!(is_valid_field_name(&custom_field("PIN")));
        assert!(!is_valid_field_name("field:"));
        assert!(!is_valid_field_name("colour"));
    }

    #[test]
    fn edit_moves_old_value_to_history_and_never_goes_below_old_stamp() {
        let (mut it, _) = base();
        // A device whose clock is far behind, and has seen nothing.
        let mut late = Clock::new();
        assert!(it.apply(vec![(PASSWORD.into(), s("new"))], &mut late, 5, dev(2)));
        let f = &it.fields[PASSWORD];
        assert!(f.stamp > Hlc::new(1000, 0));
        assert_eq!(it.get(PASSWORD).unwrap().expose(), "new");
        assert_eq!(it.history_of(PASSWORD)[0].value.expose(), "old");
        // A no-op change writes nothing.
        assert!(!it.apply(vec![(PASSWORD.into(), s("new"))], &mut late, 6, dev(2)));
        // Removal keeps the value in history.
        assert!(it.apply(vec![(PASSWORD.into(), None)], &mut late, 7, dev(2)));
        assert!(it.get(PASSWORD).is_none());
        assert_eq!(it.history_of(PASSWORD).len(), 2);
    }

    #[test]
    fn history_is_capped_and_sorted() {
        let (mut it, mut clock) = base();
        for i in 0..50 {
            it.apply(
                vec![(PASSWORD.into(), s(&format!("p{i}")))],
                &mut clock,
                2000 + i,
                dev(1),
            );
        }
        let h = it.history_of(PASSWORD);
        assert_eq!(h.len(), HISTORY_CAP);
        assert!(h.windows(2).all(|w| w[0].stamp < w[1].stamp));
        assert_eq!(h.last().unwrap().value.expose(), "p48");
    }

    #[test]
    fn different_fields_both_survive_and_same_field_has_one_winner() {
        let (it, clock) = base();
        let (mut a, mut ca) = (it.clone(), clock);
        let (mut b, mut cb) = (it.clone(), clock);
        a.apply(vec![(USERNAME.into(), s("alice"))], &mut ca, 3000, dev(1));
        a.apply(vec![(PASSWORD.into(), s("pa"))], &mut ca, 3001, dev(1));
        b.apply(vec![(URL.into(), s("https://b"))], &mut cb, 3000, dev(2));
        b.apply(vec![(PASSWORD.into(), s("pb"))], &mut cb, 3001, dev(2));
        let (r, conflicts) = resolve_with_conflicts(&[a.clone(), b.clone()]);
        assert_eq!(r, resolve(&[b, a]));
        assert_eq!(r.get(USERNAME).unwrap().expose(), "alice");
        assert_eq!(r.get(URL).unwrap().expose(), "https://b");
        // Same stamp: the higher device id wins, the other is in history.
        assert_eq!(r.get(PASSWORD).unwrap().expose(), "pb");
        let hist: Vec<&str> = r
            .history_of(PASSWORD)
            .iter()
            .map(|h| h.value.expose())
            .collect();
        assert!(hist.contains(&"pa") && hist.contains(&"old"));
        assert_eq!(
            conflicts,
            vec![FieldConflict {
                field: PASSWORD.into(),
                winner_device: dev(2),
                loser_device: dev(1)
            }]
        );
    }

    #[test]
    fn resolving_identical_siblings_is_identity() {
        let (it, _) = base();
        assert_eq!(resolve(std::slice::from_ref(&it)), it);
        assert_eq!(resolve(&[it.clone(), it.clone(), it.clone()]), it);
    }

    #[test]
    fn json_is_compact_with_one_device_table() {
        let (mut it, mut clock) = base();
        it.apply(vec![(PASSWORD.into(), s("new"))], &mut clock, 1001, dev(2));
        let json = String::from_utf8(it.to_json().to_vec()).unwrap();
        let (d1, d2) = (dev(1), dev(2));
        assert_eq!(
            json,
            format!(
                "{{\"id\":\"{}\",\"c\":1000,\"d\":[\"{d1}\",\"{d2}\"],\
                 \"f\":{{\"password\":[\"new\",1001,0,1],\"title\":[\"Bank\",1000,0,0]}},\
                 \"h\":{{\"password\":[[\"old\",1000,0,0]]}}}}",
                it.id
            )
        );
        // No history: no `h`; a removed field is null.
        let (mut it, mut clock) = base();
        it.apply(vec![(TITLE.into(), None)], &mut clock, 1001, dev(1));
        it.history.clear();
        let json = String::from_utf8(it.to_json().to_vec()).unwrap();
        assert!(json.contains("\"title\":[null,1001,0,0]"), "{json}");
        assert!(!json.contains("\"h\""), "{json}");
    }

    #[test]
    fn reader_checks_indexes_and_ignores_unknown_keys() {
        let id = "09090909-0909-0909-0909-090909090909";
        let d = "01010101-0101-0101-0101-010101010101";
        let ok =
            format!(r#"{{"id":"{id}","c":5,"d":["{d}"],"f":{{"title":["x",1,2,0]}},"new":1}}"#);
        let it = Item::from_json(ok.as_bytes()).unwrap();
        assert_eq!(it.fields[TITLE].stamp, Hlc::new(1, 2));
        assert_eq!(it.fields[TITLE].device, dev(1));
        assert!(it.history.is_empty());
        for bad in [
            format!(r#"{{"id":"{id}","c":5,"d":["{d}"],"f":{{"title":["x",1,2,1]}}}}"#),
            format!(r#"{{"id":"{id}","c":5,"f":{{"title":["x",1,2,0]}}}}"#),
            format!(r#"{{"id":"{id}","c":5,"d":["{d}"],"h":{{"url":[["x",1,2,3]]}}}}"#),
            format!(r#"{{"id":"{id}","c":5,"d":["{d}"],"f":{{"title":["x",1,2]}}}}"#),
            format!(r#"{{"id":"{id}","c":5,"d":["{d}"],"f":{{"title":["x",1,4294967296,0]}}}}"#),
            format!(r#"{{"id":"{id}","d":["{d}"]}}"#),
        ] {
            assert!(Item::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn size_hint_bounds_the_json() {
        let mut clock = Clock::new();
        let mut it = Item::new(ItemId::new_random(), u64::MAX);
        for (i, v) in ["\u{1}\u{2}\u{1f}", "\"\\", "é€😀", ""]
            .into_iter()
            .enumerate()
        {
            let name = custom_field(&"\u{7}".repeat(i + 1));
            it.apply(
                vec![(name, s(v))],
                &mut clock,
                u64::MAX - 10,
                DeviceId::new_random(),
            );
            it.apply(
                vec![(PASSWORD.into(), s(v))],
                &mut clock,
                u64::MAX - 10,
                DeviceId::new_random(),
            );
        }
        let json = it.to_json();
        assert!(
            json.len() <= it.size_hint(),
            "{} > {}",
            json.len(),
            it.size_hint()
        );
        assert_eq!(Item::from_json(&json).unwrap(), it);
    }

    #[test]
    fn json_round_trip_keeps_secrets_out_of_debug() {
        let (it, _) = base();
        let json = it.to_json();
        assert_eq!(Item::from_json(&json).unwrap(), it);
        assert!(!format!("{it:?}").contains("old"));
    }
}
