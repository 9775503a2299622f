//! The compact JSON an item is sealed as (see [`Item`]'s docs for the
//! layout): stamps as pairs, each device written once per item.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::{FieldValue, HistoryEntry, Item};
use crate::hlc::Hlc;
use crate::ids::{DeviceId, ItemId};
use crate::secret::SecretString;

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

pub(super) mod secret_opt {
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
