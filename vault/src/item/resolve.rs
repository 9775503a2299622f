//! Field-by-field resolution of an item's concurrent versions (siblings):
//! for each field the value with the highest `(stamp, device)` wins and
//! every other value goes to that field's history.

use std::cmp::Ordering;

use super::{FieldConflict, FieldValue, HistoryEntry, Item, HISTORY_CAP};
use crate::secret::SecretString;

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
