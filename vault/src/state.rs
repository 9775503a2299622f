//! A vault state: every live version of every record, and the version
//! vector of every write seen. Merging states needs no key.
//!
//! Merge is union, then compaction:
//!
//! - union keeps every version of both states; two versions claiming the
//!   same dot (which an honest device never writes) are resolved by keeping
//!   the smaller one by `(sealed, deleted, context)`, so that the outcome
//!   does not depend on the order of delivery;
//! - compaction drops every version whose dot is covered by the context of
//!   another version of the same item (it has been superseded).
//!
//! Union is a set union, so merge is commutative and idempotent, and for
//! states that devices wrote (where a version's context includes the
//! contexts of the versions it supersedes) associative too; the property
//! tests in `tests/merge_props.rs` check all three.
//!
//! Compaction trusts contexts, which only the key can authenticate: a locked
//! device therefore only unions (see `Replica::merge_remote`).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{DeviceId, ItemId};
use crate::record::RecordVersion;
use crate::vv::{Dot, VersionVector};

/// What inserting one version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A version with a new dot was added.
    Added,
    /// It replaced a different version that claimed the same dot.
    Replaced,
    /// The state already had it (or a preferred version with its dot).
    Unchanged,
}

/// Every live version of every record, plus the writes seen.
///
/// Versions of one item are kept sorted by dot, one per dot; the version
/// vector covers every dot in the state (and may cover more).
#[derive(Clone, Debug, Default)]
pub struct VaultState {
    records: BTreeMap<ItemId, Vec<RecordVersion>>,
    vv: VersionVector,
    /// [`live_item_count`](Self::live_item_count), worked out once per
    /// change (`coffer status` asks for it on every call); every method that
    /// changes the versions empties it.
    live: std::sync::OnceLock<usize>,
}

/// Equal when they hold the same versions and version vector.
impl PartialEq for VaultState {
    fn eq(&self, other: &Self) -> bool {
        self.records == other.records && self.vv == other.vv
    }
}

impl Eq for VaultState {}

impl VaultState {
    /// The empty state.
    pub fn new() -> Self {
        VaultState::default()
    }

    /// Versions by item, each list sorted by dot.
    pub fn records(&self) -> &BTreeMap<ItemId, Vec<RecordVersion>> {
        &self.records
    }

    /// The versions of one item (empty when unknown).
    pub fn versions(&self, id: &ItemId) -> &[RecordVersion] {
        self.records.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every write seen.
    pub fn vv(&self) -> &VersionVector {
        &self.vv
    }

    /// Puts the version vector back to `vv` (undoing a change that is
    /// being rolled back; `vv` must still cover every dot in the state).
    pub(crate) fn reset_vv(&mut self, vv: VersionVector) {
        self.vv = vv;
    }

    /// Records that writes up to `vv` have been seen (without versions).
    pub fn join_vv(&mut self, vv: &VersionVector) {
        self.vv.join(vv);
    }

    /// Number of items (live or deleted) with at least one version.
    pub fn item_count(&self) -> usize {
        self.records.len()
    }

    /// Number of live items: those with a current version (one that no
    /// other version of the item supersedes) that is not a tombstone. The
    /// same count as the items an unlocked replica lists, without opening
    /// or copying anything: the deleted flag is outside the ciphertext (and
    /// bound to it as associated data).
    pub fn live_item_count(&self) -> usize {
        *self.live.get_or_init(|| self.count_live())
    }

    fn count_live(&self) -> usize {
        self.records
            .values()
            .filter(|list| {
                list.iter().any(|v| {
                    !v.deleted
                        && !list
                            .iter()
                            .any(|w| w.dot != v.dot && w.context.covers(&v.dot))
                })
            })
            .count()
    }

    /// Number of versions over all items.
    pub fn version_count(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }

    /// Iterates over every version, in item then dot order.
    pub fn iter_versions(&self) -> impl Iterator<Item = &RecordVersion> {
        self.records.values().flatten()
    }

    /// True when this exact version is in the state.
    pub fn contains(&self, v: &RecordVersion) -> bool {
        let list = self.versions(&v.id);
        list.binary_search_by(|x| x.dot.cmp(&v.dot))
            .is_ok_and(|i| list[i] == *v)
    }

    /// Adds one version (see the module docs for two versions with one dot).
    pub fn insert(&mut self, v: RecordVersion) -> Inserted {
        self.live.take();
        self.vv.insert_dot(&v.dot);
        let list = match self.records.entry(v.id) {
            Entry::Vacant(e) => {
                // Most items have one version: no spare capacity.
                e.insert(vec![v]);
                return Inserted::Added;
            }
            Entry::Occupied(e) => e.into_mut(),
        };
        match list.binary_search_by(|x| x.dot.cmp(&v.dot)) {
            Ok(i) => {
                if preferred(&v, &list[i]) {
                    list[i] = v;
                    Inserted::Replaced
                } else {
                    Inserted::Unchanged
                }
            }
            Err(i) => {
                list.reserve_exact(1);
                list.insert(i, v);
                Inserted::Added
            }
        }
    }

    /// Removes the version of `id` with `dot`, if present.
    pub fn remove(&mut self, id: &ItemId, dot: &Dot) -> Option<RecordVersion> {
        self.live.take();
        let list = self.records.get_mut(id)?;
        let i = list.binary_search_by(|x| x.dot.cmp(dot)).ok()?;
        let v = list.remove(i);
        if list.is_empty() {
            self.records.remove(id);
        }
        Some(v)
    }

    /// Union of versions and join of version vectors, without compaction.
    pub fn union(&mut self, other: &VaultState) {
        self.union_changed(other);
    }

    /// [`union`](Self::union), returning the items whose versions changed.
    pub fn union_changed(&mut self, other: &VaultState) -> BTreeSet<ItemId> {
        self.live.take();
        let mut changed = BTreeSet::new();
        for (id, theirs) in &other.records {
            match self.records.get_mut(id) {
                None => {
                    self.records.insert(*id, theirs.clone());
                    changed.insert(*id);
                }
                Some(ours) => {
                    if merge_sorted(ours, theirs) {
                        changed.insert(*id);
                    }
                }
            }
        }
        self.vv.join(&other.vv);
        for v in other.iter_versions() {
            self.vv.insert_dot(&v.dot);
        }
        changed
    }

    /// [`union_changed`](Self::union_changed) with another device's state,
    /// ignoring everything it claims about `own` (this device): versions
    /// with this device's dots and its entry in the version vector. Only
    /// this device writes those, so a remote file has nothing to teach it
    /// there, and an unauthenticated claim (a forged counter of `u64::MAX`)
    /// could otherwise stop this device from ever writing again.
    pub fn union_foreign(&mut self, other: &VaultState, own: &DeviceId) -> BTreeSet<ItemId> {
        self.live.take();
        let mut changed = BTreeSet::new();
        for (id, theirs) in &other.records {
            let foreign: Vec<RecordVersion> = theirs
                .iter()
                .filter(|v| v.dot.device != *own)
                .cloned()
                .collect();
            if foreign.is_empty() {
                continue;
            }
            match self.records.get_mut(id) {
                None => {
                    self.records.insert(*id, foreign);
                    changed.insert(*id);
                }
                Some(ours) => {
                    if merge_sorted(ours, &foreign) {
                        changed.insert(*id);
                    }
                }
            }
            for v in theirs.iter().filter(|v| v.dot.device != *own) {
                self.vv.insert_dot(&v.dot);
            }
        }
        let vv: VersionVector = other
            .vv
            .iter()
            .filter(|(d, _)| *d != own)
            .map(|(d, c)| (*d, *c))
            .collect();
        self.vv.join(&vv);
        changed
    }

    /// Drops every version superseded by another version of the same item.
    pub fn compact(&mut self) {
        self.live.take();
        for list in self.records.values_mut() {
            compact_list(list);
        }
    }

    /// [`compact`](Self::compact) for one item only.
    pub fn compact_item(&mut self, id: &ItemId) {
        self.live.take();
        if let Some(list) = self.records.get_mut(id) {
            compact_list(list);
        }
    }

    /// Union, then compaction.
    pub fn merge(&mut self, other: &VaultState) {
        self.union(other);
        self.compact();
    }

    /// An upper bound of the length of this state's JSON, so that a file
    /// writer can allocate its buffer once instead of doubling it (and a
    /// sync writer can tell what a snapshot of it would cost). One pass over
    /// the versions, reading only their lengths.
    pub fn json_len_hint(&self) -> usize {
        // `{"id":"…","dot":{"device":"…","counter":N},"context":{…},
        // "deleted":false,"sealed":"…"},` with 36-character ids.
        const VERSION_FIXED: usize = 160;
        // `"<device>":N,` in a context or in `vv`.
        const VV_ENTRY: usize = 38 + 2 + 20;
        let versions: usize = self
            .iter_versions()
            .map(|v| {
                VERSION_FIXED
                    + decimal_len(v.dot.counter)
                    + v.context.len() * VV_ENTRY
                    + v.sealed.len().div_ceil(3) * 4
            })
            .sum();
        32 + self.vv.len() * VV_ENTRY + versions
    }
}

fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// True when `a` should replace `b`, which claims the same dot.
fn preferred(a: &RecordVersion, b: &RecordVersion) -> bool {
    (&a.sealed, a.deleted, &a.context) < (&b.sealed, b.deleted, &b.context)
}

/// Merges `theirs` into `ours` (both sorted by dot). Returns whether `ours`
/// changed.
fn merge_sorted(ours: &mut Vec<RecordVersion>, theirs: &[RecordVersion]) -> bool {
    let mut changed = false;
    for v in theirs {
        match ours.binary_search_by(|x| x.dot.cmp(&v.dot)) {
            Ok(i) => {
                if ours[i] != *v && preferred(v, &ours[i]) {
                    ours[i] = v.clone();
                    changed = true;
                }
            }
            Err(i) => {
                ours.reserve_exact(1);
                ours.insert(i, v.clone());
                changed = true;
            }
        }
    }
    changed
}

fn compact_list(list: &mut Vec<RecordVersion>) {
    if list.len() < 2 {
        return;
    }
    let covered: Vec<bool> = (0..list.len())
        .map(|i| {
            let dot = &list[i].dot;
            list.iter()
                .enumerate()
                .any(|(j, w)| j != i && w.context.covers(dot))
        })
        .collect();
    let mut i = 0;
    list.retain(|_| {
        let keep = !covered[i];
        i += 1;
        keep
    });
    list.shrink_to_fit();
}

/// JSON shape: `{"vv": {device: counter…}, "records": [version…]}`.
#[derive(Serialize)]
struct StateRef<'a> {
    vv: &'a VersionVector,
    records: Versions<'a>,
}

struct Versions<'a>(&'a BTreeMap<ItemId, Vec<RecordVersion>>);

impl Serialize for Versions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.values().flatten())
    }
}

impl Serialize for VaultState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StateRef {
            vv: &self.vv,
            records: Versions(&self.records),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for VaultState {
    /// Rebuilds the invariants (sorted, one version per dot, the vector
    /// covering every dot) whatever order the file lists versions in. Each
    /// version goes straight into the state, without a list of them all.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("VaultState", &["vv", "records"], StateVisitor)
    }
}

struct StateVisitor;

impl<'de> Visitor<'de> for StateVisitor {
    type Value = VaultState;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a vault state {\"vv\", \"records\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<VaultState, A::Error> {
        let mut state = VaultState::new();
        let (mut vv, mut records) = (None, false);
        while let Some(key) = map.next_key::<StateKey>()? {
            match key {
                StateKey::Vv if vv.is_some() => {
                    return Err(serde::de::Error::duplicate_field("vv"))
                }
                StateKey::Vv => vv = Some(map.next_value::<VersionVector>()?),
                StateKey::Records if records => {
                    return Err(serde::de::Error::duplicate_field("records"))
                }
                StateKey::Records => {
                    map.next_value_seed(InsertAll(&mut state))?;
                    records = true;
                }
                StateKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let vv = vv.ok_or_else(|| serde::de::Error::missing_field("vv"))?;
        if !records {
            return Err(serde::de::Error::missing_field("records"));
        }
        state.vv.join(&vv);
        Ok(state)
    }
}

enum StateKey {
    Vv,
    Records,
    Other,
}

impl<'de> Deserialize<'de> for StateKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match &*key {
            "vv" => StateKey::Vv,
            "records" => StateKey::Records,
            _ => StateKey::Other,
        })
    }
}

/// Reads the `records` array into the state, one version at a time.
struct InsertAll<'s>(&'s mut VaultState);

impl<'de> serde::de::DeserializeSeed<'de> for InsertAll<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for InsertAll<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of record versions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<RecordVersion>()? {
            self.0.insert(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeviceId;

    fn ver(id: ItemId, dot: Dot, ctx: &[Dot], sealed: u8) -> RecordVersion {
        let mut context = VersionVector::new();
        for d in ctx {
            context.insert_dot(d);
        }
        RecordVersion {
            id,
            dot,
            context,
            deleted: false,
            sealed: vec![sealed; 40].into(),
        }
    }

    #[test]
    fn superseded_versions_are_compacted_siblings_kept() {
        let (a, b) = (DeviceId::new_random(), DeviceId::new_random());
        let id = ItemId::new_random();
        let v1 = ver(id, Dot::new(a, 1), &[], 1);
        let v2 = ver(id, Dot::new(a, 2), &[Dot::new(a, 1)], 2);
        let w1 = ver(id, Dot::new(b, 1), &[Dot::new(a, 1)], 3);
        let mut s = VaultState::new();
        for v in [v1, v2.clone(), w1.clone()] {
            s.insert(v);
        }
        s.compact();
        let mut expected = [v2, w1];
        expected.sort_by_key(|v| v.dot);
        assert_eq!(s.versions(&id), &expected[..]);
        assert_eq!(s.vv().get(&a), 2);
    }

    #[test]
    fn same_dot_keeps_the_smaller_version_whatever_the_order() {
        let a = DeviceId::new_random();
        let id = ItemId::new_random();
        let small = ver(id, Dot::new(a, 1), &[], 1);
        let big = ver(id, Dot::new(a, 1), &[], 9);
        let mut s1 = VaultState::new();
        assert_eq!(s1.insert(big.clone()), Inserted::Added);
        assert_eq!(s1.insert(small.clone()), Inserted::Replaced);
        let mut s2 = VaultState::new();
        s2.insert(small.clone());
        assert_eq!(s2.insert(big), Inserted::Unchanged);
        assert_eq!(s1, s2);
        assert!(s1.contains(&small));
    }

    #[test]
    fn json_len_hint_bounds_the_json() {
        let devs: Vec<DeviceId> = (0..4).map(|_| DeviceId::new_random()).collect();
        let mut s = VaultState::new();
        for (i, n) in [0usize, 1, 2, 3, 40, 41, 1000].into_iter().enumerate() {
            let ctx: Vec<Dot> = devs.iter().map(|d| Dot::new(*d, u64::MAX)).collect();
            let mut v = ver(
                ItemId::new_random(),
                Dot::new(devs[i % 4], u64::MAX - i as u64),
                &ctx[..i % 5],
                1,
            );
            v.sealed = vec![7; n].into();
            v.deleted = i % 2 == 0;
            s.insert(v);
        }
        let json = serde_json::to_vec(&s).unwrap();
        assert!(
            json.len() <= s.json_len_hint(),
            "{} > {}",
            json.len(),
            s.json_len_hint()
        );
        assert!(
            serde_json::to_vec(&VaultState::new()).unwrap().len()
                <= VaultState::new().json_len_hint()
        );
    }

    #[test]
    fn reader_refuses_missing_and_repeated_parts() {
        assert!(
            serde_json::from_str::<VaultState>(r#"{"vv":{},"records":[],"later":[1]}"#).is_ok()
        );
        for bad in [
            r#"{"vv":{}}"#,
            r#"{"records":[]}"#,
            r#"{"vv":{},"vv":{},"records":[]}"#,
            r#"{"vv":{},"records":[],"records":[]}"#,
            r#"{"vv":{},"records":{}}"#,
            r#"[{}, []]"#,
        ] {
            assert!(serde_json::from_str::<VaultState>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_round_trip_and_unsorted_input() {
        let a = DeviceId::new_random();
        let id = ItemId::new_random();
        let mut s = VaultState::new();
        s.insert(ver(id, Dot::new(a, 2), &[], 2));
        s.insert(ver(id, Dot::new(a, 1), &[], 1));
        let json = serde_json::to_string(&s).unwrap();
        let back: VaultState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // A file listing versions out of order and with an empty vector
        // still yields the canonical state.
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["records"].as_array_mut().unwrap().reverse();
        value["vv"] = serde_json::json!({});
        let back: VaultState = serde_json::from_value(value).unwrap();
        assert_eq!(back, s);
    }
}
