//! Dots and version vectors: which writes a device has seen.
//!
//! A [`Dot`] names one write: the device that made it and that device's
//! running counter. A [`VersionVector`] maps each device to the highest
//! counter seen from it, and so covers every dot at or below it. Each
//! device's writes of one item form a single line (it always supersedes its
//! own previous version), which is why a counter, not a set of dots, is
//! enough per device.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

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
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct VersionVector(BTreeMap<DeviceId, u64>);

impl VersionVector {
    /// The empty vector (covers nothing).
    pub fn new() -> Self {
        VersionVector::default()
    }

    /// The highest counter seen from `device` (0 when none).
    pub fn get(&self, device: &DeviceId) -> u64 {
        self.0.get(device).copied().unwrap_or(0)
    }

    /// True when `dot` is at or below what this vector has seen.
    pub fn covers(&self, dot: &Dot) -> bool {
        dot.counter <= self.get(&dot.device)
    }

    /// Raises every entry to the larger of the two vectors.
    pub fn join(&mut self, other: &VersionVector) {
        for (device, &counter) in &other.0 {
            self.raise(*device, counter);
        }
    }

    /// Records that `dot` has been seen.
    pub fn insert_dot(&mut self, dot: &Dot) {
        self.raise(dot.device, dot.counter);
    }

    /// True when every dot `other` covers is covered here too.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(d, &c)| self.get(d) >= c)
    }

    /// The (device, counter) entries in device order.
    pub fn iter(&self) -> impl Iterator<Item = (&DeviceId, &u64)> {
        self.0.iter()
    }

    /// Number of devices seen.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing has been seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn raise(&mut self, device: DeviceId, counter: u64) {
        if counter == 0 {
            return;
        }
        let entry = self.0.entry(device).or_insert(0);
        if counter > *entry {
            *entry = counter;
        }
    }
}

impl FromIterator<(DeviceId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (DeviceId, u64)>>(iter: I) -> Self {
        let mut vv = VersionVector::new();
        for (d, c) in iter {
            vv.raise(d, c);
        }
        vv
    }
}

impl<'de> Deserialize<'de> for VersionVector {
    /// Zero entries are dropped, so the in-memory vector is canonical.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<DeviceId, u64>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
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
    fn serde_round_trip() {
        let v: VersionVector = [(DeviceId::new_random(), 4), (DeviceId::new_random(), 9)]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<VersionVector>(&json).unwrap(), v);
    }
}
