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

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::hlc::{Clock, Hlc};
use crate::ids::{DeviceId, ItemId};
use crate::secret::SecretString;

/// The item's name, shown in lists.
pub const TITLE: &str = "title";
/// The login name.
pub const USERNAME: &str = "username";
/// The password.
pub const PASSWORD: &str = "password";
/// The site's address.
pub const URL: &str = "url";
/// Free text.
pub const NOTES: &str = "notes";
/// The standard field names, in display order.
pub const STANDARD_FIELDS: [&str; 5] = [TITLE, USERNAME, PASSWORD, URL, NOTES];
/// Prefix of a custom field's name: `field:NAME`.
pub const CUSTOM_PREFIX: &str = "field:";
/// How many earlier values each field keeps (the newest ones).
pub const HISTORY_CAP: usize = 32;

/// The stored name of the custom field `name` (`field:NAME`).
pub fn custom_field(name: &str) -> String {
    format!("{CUSTOM_PREFIX}{name}")
}

/// True for a standard name or `field:NAME` with a non-empty `NAME`.
pub fn is_valid_field_name(name: &str) -> bool {
    STANDARD_FIELDS.contains(&name)
        || name
            .strip_prefix(CUSTOM_PREFIX)
            .is_some_and(|n| !n.is_empty())
}

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
    fn size_hint(&self) -> usize {
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

/// The fields or history of an item, written against its device table.
struct Wire<'a, T> {
    map: &'a BTreeMap<String, T>,
    devices: &'a [DeviceId],
}

impl<T> Wire<'_, T> {
    fn index(&self, device: &DeviceId) -> usize {
        self.devices
            .binary_search(device)
            .expect("the device table lists every device of the item")
    }
}

impl Serialize for Wire<'_, FieldValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.map.iter().map(|(name, f)| {
            let value = f.value.as_ref().map(SecretString::expose);
            let entry = (
                value,
                f.stamp.wall_ms,
                f.stamp.counter,
                self.index(&f.device),
            );
            (name, entry)
        }))
    }
}

impl Serialize for Wire<'_, Vec<HistoryEntry>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.map.iter().map(|(name, hist)| {
            let entries: Vec<(&str, u64, u32, usize)> = hist
                .iter()
                .map(|h| {
                    let idx = self.index(&h.device);
                    (h.value.expose(), h.stamp.wall_ms, h.stamp.counter, idx)
                })
                .collect();
            (name, entries)
        }))
    }
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let devices = self.device_table();
        let has_history = !self.history.is_empty();
        let mut m = s.serialize_map(Some(4 + usize::from(has_history)))?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("c", &self.created_ms)?;
        m.serialize_entry("d", &devices)?;
        m.serialize_entry(
            "f",
            &Wire {
                map: &self.fields,
                devices: &devices,
            },
        )?;
        if has_history {
            m.serialize_entry(
                "h",
                &Wire {
                    map: &self.history,
                    devices: &devices,
                },
            )?;
        }
        m.end()
    }
}

/// A value read straight into a zeroizing string.
struct WireSecret(SecretString);

impl<'de> Deserialize<'de> for WireSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| WireSecret(SecretString::new(s)))
    }
}

#[derive(Deserialize)]
struct ItemWire {
    id: ItemId,
    c: u64,
    #[serde(default)]
    d: Vec<DeviceId>,
    #[serde(default)]
    f: BTreeMap<String, (Option<WireSecret>, u64, u32, usize)>,
    #[serde(default)]
    h: BTreeMap<String, Vec<(WireSecret, u64, u32, usize)>>,
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ItemWire { id, c, d, f, h } = ItemWire::deserialize(d)?;
        let indexes = f.values().map(|e| e.3);
        if let Some(bad) = indexes
            .chain(h.values().flatten().map(|e| e.3))
            .find(|&i| i >= d.len())
        {
            return Err(D::Error::custom(format!(
                "device index {bad} is not in the table"
            )));
        }
        // Every index was checked against the table just above.
        let fields = f
            .into_iter()
            .map(|(name, (value, wall_ms, counter, dev))| {
                let field = FieldValue {
                    value: value.map(|v| v.0),
                    stamp: Hlc::new(wall_ms, counter),
                    device: d[dev],
                };
                (name, field)
            })
            .collect();
        let history = h
            .into_iter()
            .map(|(name, entries)| {
                let entries = entries
                    .into_iter()
                    .map(|(value, wall_ms, counter, dev)| HistoryEntry {
                        value: value.0,
                        stamp: Hlc::new(wall_ms, counter),
                        device: d[dev],
                    })
                    .collect();
                (name, entries)
            })
            .collect();
        Ok(Item {
            id,
            created_ms: c,
            fields,
            history,
        })
    }
}

/// Serializes `value` into a zeroizing buffer allocated large enough up
/// front that it is not reallocated (which would leave unwiped copies).
pub(crate) fn to_json_zeroizing<T: Serialize>(value: &T, hint: usize) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(hint));
    serde_json::to_writer(&mut *buf, value)
        // Serializing these plain structs into a Vec has no failure mode:
        // all map keys are strings and no Serialize impl returns an error.
        .expect("serializing an in-memory value to JSON cannot fail");
    buf
}

fn normalize_history(h: &mut Vec<HistoryEntry>) {
    h.sort_by(HistoryEntry::cmp_key);
    h.dedup_by(|a, b| a.cmp_key(b) == Ordering::Equal);
    if h.len() > HISTORY_CAP {
        h.drain(..h.len() - HISTORY_CAP);
    }
}

fn cmp_value(a: &Option<SecretString>, b: &Option<SecretString>) -> Ordering {
    a.as_ref()
        .map(SecretString::expose)
        .cmp(&b.as_ref().map(SecretString::expose))
}

fn cmp_field(a: &FieldValue, b: &FieldValue) -> Ordering {
    (a.stamp, a.device)
        .cmp(&(b.stamp, b.device))
        .then_with(|| cmp_value(&a.value, &b.value))
}

/// Resolves siblings field by field (see the module docs).
///
/// # Panics
/// Never for a non-empty slice; an empty slice has nothing to resolve and
/// panics, as it would be a caller bug.
pub fn resolve(siblings: &[Item]) -> Item {
    resolve_with_conflicts(siblings).0
}

/// [`resolve`], also listing the fields where concurrent edits set
/// different values (one entry per losing value; stale values that a
/// sibling had already replaced are not conflicts).
pub fn resolve_with_conflicts(siblings: &[Item]) -> (Item, Vec<FieldConflict>) {
    let first = siblings
        .first()
        .expect("resolve needs at least one sibling (caller invariant)");
    let mut out = Item::new(
        first.id,
        siblings.iter().map(|s| s.created_ms).min().unwrap_or(0),
    );
    let mut conflicts = Vec::new();
    for s in siblings {
        for (name, h) in &s.history {
            out.history
                .entry(name.clone())
                .or_default()
                .extend(h.iter().cloned());
        }
    }

    let mut names: Vec<&String> = siblings.iter().flat_map(|s| s.fields.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let candidates: Vec<&FieldValue> =
            siblings.iter().filter_map(|s| s.fields.get(name)).collect();
        let winner = candidates
            .iter()
            .copied()
            .max_by(|a, b| cmp_field(a, b))
            .expect("a field name comes from at least one sibling");
        let mut losers: Vec<&FieldValue> = candidates
            .iter()
            .copied()
            .filter(|c| c.value.is_some() && cmp_value(&c.value, &winner.value) != Ordering::Equal)
            .collect();
        losers.sort_by(|a, b| cmp_field(a, b));
        losers.dedup_by(|a, b| cmp_field(a, b) == Ordering::Equal);
        for l in losers {
            if let Some(v) = &l.value {
                let entry = HistoryEntry {
                    value: v.clone(),
                    stamp: l.stamp,
                    device: l.device,
                };
                if !is_stale(&entry, name, siblings) {
                    conflicts.push(FieldConflict {
                        field: name.clone(),
                        winner_device: winner.device,
                        loser_device: l.device,
                    });
                }
                out.history.entry(name.clone()).or_default().push(entry);
            }
        }
        out.fields.insert(name.clone(), winner.clone());
    }
    out.normalize();
    (out, conflicts)
}

/// A losing value is stale (not a conflict) when some sibling already
/// replaced it: it is in a sibling's history of that field, or older than
/// everything in a full history (so it was evicted by the cap).
fn is_stale(entry: &HistoryEntry, name: &str, siblings: &[Item]) -> bool {
    siblings.iter().any(|s| {
        let h = s.history_of(name);
        h.iter().any(|k| k.cmp_key(entry) == Ordering::Equal)
            || (h.len() >= HISTORY_CAP
                && h.first().is_some_and(|oldest| entry.stamp < oldest.stamp))
    })
}

pub(crate) mod secret_str {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::SecretString;

    pub fn serialize<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

mod secret_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::SecretString;

    pub fn serialize<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.expose()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::new))
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
