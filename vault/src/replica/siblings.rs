//! What an item's current versions (its siblings, once opened) say
//! together: the live view, or the trash view when every one is a
//! deletion. Reading and [`Replica::resolve_conflicts`](super::Replica)
//! use the same two functions, so an item reads the same before and after
//! its siblings are resolved.
//!
//! - Live siblings win over deletions. They are resolved field by field
//!   ([`resolve_with_conflicts`]), then the content of every trashing
//!   deletion among the siblings joins the result's history: a value the
//!   deleting device had that the winner does not show goes to that field's
//!   history, with its stamp and device, so nothing the deleting device
//!   wrote vanishes.
//! - When every sibling is a deletion, the newest (by stamp, then device)
//!   says when and by whom; the contents of those still in the trash are
//!   resolved field by field into the trash's content, so a restore brings
//!   back everything any of them held. A purge (no content) concurrent with
//!   a trashing keeps the content: data goes only when nobody still had it
//!   in the trash.
//!
//! Both are functions of the set of plaintexts (not their order), which is
//! what lets devices that resolve the same siblings converge.

use crate::item::{resolve, resolve_with_conflicts, FieldConflict, HistoryEntry, Item};
use crate::record::{RecordPlain, Tombstone};

/// The live view of `plains` and the field conflicts among the live ones;
/// `None` when every plaintext is a deletion.
pub(super) fn live_view(plains: &[RecordPlain]) -> Option<(Item, Vec<FieldConflict>)> {
    let live: Vec<&Item> = plains
        .iter()
        .filter_map(|p| match p {
            RecordPlain::Item(i) => Some(i),
            RecordPlain::Tombstone(_) => None,
        })
        .collect();
    let (mut item, conflicts) = match live.as_slice() {
        [] => return None,
        [one] => ((*one).clone(), Vec::new()),
        many => {
            let owned: Vec<Item> = many.iter().map(|i| (*i).clone()).collect();
            resolve_with_conflicts(&owned)
        }
    };
    let mut folded = false;
    for p in plains {
        if let RecordPlain::Tombstone(Tombstone {
            content: Some(c), ..
        }) = p
        {
            fold_into_history(&mut item, c);
            folded = true;
        }
    }
    if folded {
        item.normalize();
    }
    Some((item, conflicts))
}

/// The deletion `plains` resolve to when none of them is live: the newest
/// one's stamp and device, and the trashed contents resolved together (or
/// nothing, when every one is purged). `None` when one of them is live or
/// there are none.
pub(super) fn trash_view(plains: &[RecordPlain]) -> Option<Tombstone> {
    let mut tombs = Vec::with_capacity(plains.len());
    for p in plains {
        match p {
            RecordPlain::Item(_) => return None,
            RecordPlain::Tombstone(t) => tombs.push(t),
        }
    }
    let newest = tombs.iter().max_by_key(|t| (t.stamp, t.device))?;
    let contents: Vec<Item> = tombs.iter().filter_map(|t| t.content.clone()).collect();
    let content = match contents.len() {
        0 => None,
        1 => contents.into_iter().next(),
        _ => Some(resolve(&contents)),
    };
    Some(Tombstone {
        id: newest.id,
        stamp: newest.stamp,
        device: newest.device,
        content,
    })
}

/// Puts every value of `content` that `item` does not show into `item`'s
/// history (not normalised: the caller does that once).
fn fold_into_history(item: &mut Item, content: &Item) {
    for (name, f) in &content.fields {
        let Some(value) = &f.value else { continue };
        if item.get(name) == Some(value) {
            continue;
        }
        item.history
            .entry(name.clone())
            .or_default()
            .push(HistoryEntry {
                value: value.clone(),
                stamp: f.stamp,
                device: f.device,
            });
    }
    for (name, h) in &content.history {
        item.history
            .entry(name.clone())
            .or_default()
            .extend(h.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::{Clock, Hlc};
    use crate::ids::{DeviceId, ItemId};
    use crate::secret::SecretString;

    fn dev(n: u8) -> DeviceId {
        DeviceId(uuid::Uuid::from_bytes([n; 16]))
    }

    fn item(pairs: &[(&str, &str)], at: u64, d: u8) -> Item {
        let mut it = Item::new(ItemId(uuid::Uuid::from_bytes([7; 16])), 1);
        let changes = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), Some(SecretString::from(*v))))
            .collect();
        it.apply(changes, &mut Clock::new(), at, dev(d));
        it
    }

    fn tomb(content: Option<Item>, at: u64, d: u8) -> RecordPlain {
        RecordPlain::Tombstone(Tombstone {
            id: ItemId(uuid::Uuid::from_bytes([7; 16])),
            stamp: Hlc::new(at, 0),
            device: dev(d),
            content,
        })
    }

    #[test]
    fn a_live_edit_wins_and_the_trashed_values_join_its_history() {
        let edited = item(&[("title", "Bank"), ("username", "new")], 10, 2);
        let trashed = item(&[("title", "Bank"), ("password", "deleter's")], 9, 1);
        let plains = [
            tomb(Some(trashed), 11, 1),
            RecordPlain::Item(edited.clone()),
        ];
        let (view, conflicts) = live_view(&plains).unwrap();
        assert!(conflicts.is_empty());
        assert_eq!(view.get("username"), edited.get("username"));
        assert!(view.get("password").is_none());
        let hist: Vec<&str> = view
            .history_of("password")
            .iter()
            .map(|h| h.value.expose())
            .collect();
        assert_eq!(hist, ["deleter's"]);
        // The shared title is not history: the winner shows it.
        assert!(view.history_of("title").is_empty());
        // Order does not matter.
        let mut rev = plains.clone();
        rev.reverse();
        assert_eq!(live_view(&rev).unwrap().0, view);
        assert!(trash_view(&plains).is_none());
    }

    #[test]
    fn deletions_keep_the_newest_stamp_and_every_trashed_content() {
        let a = item(&[("title", "A"), ("url", "u1")], 5, 1);
        let b = item(&[("title", "B")], 6, 2);
        let plains = [
            tomb(Some(a), 20, 1),
            tomb(None, 30, 3),
            tomb(Some(b), 25, 2),
        ];
        let t = trash_view(&plains).unwrap();
        assert_eq!((t.stamp, t.device), (Hlc::new(30, 0), dev(3)));
        let c = t.content.unwrap();
        assert_eq!(c.title(), "B");
        assert_eq!(c.get("url").unwrap().expose(), "u1");
        assert_eq!(c.history_of("title")[0].value.expose(), "A");
        // Only purges: nothing is kept.
        let purged = trash_view(&[tomb(None, 1, 1), tomb(None, 2, 2)]).unwrap();
        assert!(purged.content.is_none());
        assert!(live_view(&plains).is_none());
        assert!(trash_view(&[]).is_none());
    }
}
