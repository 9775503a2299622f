//! Dots and version vectors: which writes a device has seen.
//!
//! A [`Dot`] names one write: the device that made it and that device's
//! running counter. A [`VersionVector`] maps each device to the highest
//! counter seen from it, and so covers every dot at or below it. Each
//! device's writes of one item form a single line (it always supersedes its
//! own previous version), which is why a counter, not a set of dots, is
//! enough per device.
//!
//! Every record version carries a vector (its context), so the vector is a
//! sorted boxed slice rather than a map: 16 bytes and no allocation when
//! empty, 24 bytes per device otherwise.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::DeviceId;

/// One write: `counter` is the writing device's running count of writes.
/// Ordered by device, then counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    /// The device that made the write.
    pub device: DeviceId,
    /// Its counter value for this write, starting at 1.
    pub counter: u64,
}

impl Dot {
    /// A dot from its parts.
    pub fn new(device: DeviceId, counter: u64) -> Self {
        Dot { device, counter }
    }
}

/// For each device, the highest counter seen. Devices never seen (counter
/// 0) are not stored, so two vectors that cover the same dots are equal.
///
/// Stored as `(device, counter)` pairs sorted by device, without zero
/// counters or repeated devices. Ordered as the sequence of those pairs
/// (the order a map from device to counter would have). Serialized as a
/// map from device id to counter.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionVector(Box<[(DeviceId, u64)]>);

impl VersionVector {
    /// The empty vector (covers nothing).
    pub fn new() -> Self {
        VersionVector::default()
    }

    /// The highest counter seen from `device` (0 when none).
    pub fn get(&self, device: &DeviceId) -> u64 {
        match self.position(device) {
            Ok(i) => self.0[i].1,
            Err(_) => 0,
        }
    }

    /// True when `dot` is at or below what this vector has seen.
    pub fn covers(&self, dot: &Dot) -> bool {
        dot.counter <= self.get(&dot.device)
    }

    /// Raises every entry to the larger of the two vectors.
    pub fn join(&mut self, other: &VersionVector) {
        let mut missing = 0;
        for &(device, counter) in other.0.iter() {
            match self.position(&device) {
                Ok(i) => {
                    if counter > self.0[i].1 {
                        self.0[i].1 = counter;
                    }
                }
                Err(_) => missing += 1,
            }
        }
        if missing == 0 {
            return;
        }
        // Merge two sorted lists; entries of `other` already present were
        // raised above, so a tie keeps ours.
        let mut out = Vec::with_capacity(self.0.len() + missing);
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                    std::cmp::Ordering::Less => out.extend(a.next().copied()),
                    std::cmp::Ordering::Greater => out.extend(b.next().copied()),
                    std::cmp::Ordering::Equal => {
                        out.extend(a.next().copied());
                        b.next();
                    }
                },
                (Some(_), None) => out.extend(a.next().copied()),
                (None, Some(_)) => out.extend(b.next().copied()),
                (None, None) => break,
            }
        }
        self.0 = out.into_boxed_slice();
    }

    /// Records that `dot` has been seen.
    pub fn insert_dot(&mut self, dot: &Dot) {
        self.raise(dot.device, dot.counter);
    }

    /// True when every dot `other` covers is covered here too.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(d, c)| self.get(d) >= *c)
    }

    /// The (device, counter) entries in device order.
    pub fn iter(&self) -> impl Iterator<Item = (&DeviceId, &u64)> {
        self.0.iter().map(|(d, c)| (d, c))
    }

    /// Number of devices seen.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing has been seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, device: &DeviceId) -> Result<usize, usize> {
        self.0.binary_search_by(|(d, _)| d.cmp(device))
    }

    fn raise(&mut self, device: DeviceId, counter: u64) {
        if counter == 0 {
            return;
        }
        match self.position(&device) {
            Ok(i) => {
                if counter > self.0[i].1 {
                    self.0[i].1 = counter;
                }
            }
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (device, counter));
                self.0 = v.into_boxed_slice();
            }
        }
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(DeviceId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (DeviceId, u64)>>(iter: I) -> Self {
        let mut v: Vec<(DeviceId, u64)> = iter.into_iter().filter(|&(_, c)| c > 0).collect();
        // Highest counter first within a device, so dedup keeps it.
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        v.dedup_by(|later, first| later.0 == first.0);
        VersionVector(v.into_boxed_slice())
    }
}

impl Serialize for VersionVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (d, c) in self.0.iter() {
            map.serialize_entry(d, c)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for VersionVector {
    /// Zero entries are dropped and a repeated device keeps its highest
    /// counter, so the in-memory vector is canonical.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VvVisitor;
        impl<'de> Visitor<'de> for VvVisitor {
            type Value = VersionVector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from device id to counter")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<DeviceId, u64>()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(VvVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_join_and_insert() {
        let a = DeviceId::new_random();
        let b = DeviceId::new_random();
        let mut v = VersionVector::new();
        assert!(!v.covers(&Dot::new(a, 1)));
        v.insert_dot(&Dot::new(a, 3));
        v.insert_dot(&Dot::new(a, 2));
        assert_eq!(v.get(&a), 3);
        assert!(v.covers(&Dot::new(a, 3)));
        assert!(!v.covers(&Dot::new(a, 4)));
        let w: VersionVector = [(b, 5), (a, 1)].into_iter().collect();
        v.join(&w);
        assert_eq!((v.get(&a), v.get(&b)), (3, 5));
        assert!(v.dominates(&w) && !w.dominates(&v));
    }

    #[test]
    fn zero_entries_are_not_stored() {
        let a = DeviceId::new_random();
        let json = format!("{{\"{a}\":0}}");
        let v: VersionVector = serde_json::from_str(&json).unwrap();
        assert_eq!(v, VersionVector::new());
        let w: VersionVector = [(a, 0)].into_iter().collect();
        assert!(w.is_empty());
    }

    #[test]
    fn join_adds_missing_devices_in_order() {
        let d: Vec<DeviceId> = (1..=4u8)
            .map(|i| DeviceId(uuid::Uuid::from_bytes([i; 16])))
            .collect();
        let mut v: VersionVector = [(d[1], 5), (d[3], 1)].into_iter().collect();
        let w: VersionVector = [(d[0], 2), (d[1], 3), (d[2], 7), (d[3], 4)]
            .into_iter()
            .collect();
        v.join(&w);
        let got: Vec<(DeviceId, u64)> = v.iter().map(|(d, c)| (*d, *c)).collect();
        assert_eq!(got, vec![(d[0], 2), (d[1], 5), (d[2], 7), (d[3], 4)]);
        // Joining what is already covered changes nothing.
        let before = v.clone();
        v.join(&w);
        assert_eq!(v, before);
    }

    #[test]
    fn order_is_that_of_a_map_from_device_to_counter() {
        use std::collections::BTreeMap;
        let d: Vec<DeviceId> = (0..3u8)
            .map(|i| DeviceId(uuid::Uuid::from_bytes([i; 16])))
            .collect();
        // Every vector over 3 devices with counters 0..3.
        let all: Vec<[u64; 3]> = (0..27u64).map(|n| [n % 3, n / 3 % 3, n / 9]).collect();
        for a in &all {
            for b in &all {
                let vv = |c: &[u64; 3]| -> VersionVector { d.iter().copied().zip(*c).collect() };
                let map = |c: &[u64; 3]| -> BTreeMap<DeviceId, u64> {
                    d.iter().copied().zip(*c).filter(|e| e.1 > 0).collect()
                };
                assert_eq!(vv(a).cmp(&vv(b)), map(a).cmp(&map(b)), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn repeated_devices_keep_the_highest_counter() {
        let a = DeviceId::new_random();
        let json = format!("{{\"{a}\":4,\"{a}\":9,\"{a}\":2}}");
        let v: VersionVector = serde_json::from_str(&json).unwrap();
        assert_eq!((v.len(), v.get(&a)), (1, 9));
        let w: VersionVector = [(a, 2), (a, 9), (a, 4)].into_iter().collect();
        assert_eq!(v, w);
        assert_eq!(format!("{v:?}"), format!("{{{a:?}: 9}}"));
    }

    #[test]
    fn serde_round_trip() {
        let v: VersionVector = [(DeviceId::new_random(), 4), (DeviceId::new_random(), 9)]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<VersionVector>(&json).unwrap(), v);
    }
}
