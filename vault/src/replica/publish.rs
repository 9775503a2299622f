//! What this device has to publish to its sync folders: the items it wrote
//! since it last looked, the current versions of given items (the content
//! of a delta segment), and the items a version vector does not cover (what
//! a folder may lack after a restart).

use std::collections::BTreeSet;

use super::Replica;
use crate::ids::ItemId;
use crate::state::VaultState;
use crate::vv::VersionVector;

impl Replica {
    /// The items this device wrote (added, edited, deleted, resolved) since
    /// the last call, which forgets them. Merged items are not among them:
    /// a merge says which items it changed ([`super::MergeOutcome::changed`]).
    pub fn take_local_changes(&mut self) -> BTreeSet<ItemId> {
        std::mem::take(&mut self.local_changes)
    }

    /// The current versions of `ids` (unknown ids are skipped), as a state
    /// whose version vector covers just those versions: the content of a
    /// delta segment. Costs what those items cost, not the vault.
    pub fn state_of<'a>(&self, ids: impl IntoIterator<Item = &'a ItemId>) -> VaultState {
        let mut out = VaultState::new();
        for id in ids {
            for v in self.state.versions(id) {
                out.insert(v.clone());
            }
        }
        out
    }

    /// The items with a version whose dot `vv` does not cover: what this
    /// device learned or wrote after a publication that had `vv`; with
    /// `own_only`, only versions this device wrote count. One pass over the
    /// vault (used once per folder when the daemon starts).
    pub fn items_not_covered_by(&self, vv: &VersionVector, own_only: bool) -> BTreeSet<ItemId> {
        let counts = |d: &crate::ids::DeviceId| !own_only || *d == self.device_id;
        self.state
            .records()
            .iter()
            .filter(|(_, versions)| {
                versions
                    .iter()
                    .any(|v| counts(&v.dot.device) && !vv.covers(&v.dot))
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeviceId;
    use crate::item::TITLE;
    use crate::secret::{SecretKey, SecretString};

    #[test]
    fn local_changes_state_of_and_coverage() {
        let key = SecretKey::from_bytes([4; 32]);
        let acct = uuid::Uuid::from_bytes([1; 16]);
        let mut a = Replica::new(acct, 1, DeviceId::new_random(), "a".into());
        let mut b = Replica::new(acct, 1, DeviceId::new_random(), "b".into());
        let one = a
            .add(&key, vec![(TITLE.into(), SecretString::from("One"))], 10)
            .unwrap();
        let vv_then = a.state().vv().clone();
        let two = a
            .add(&key, vec![(TITLE.into(), SecretString::from("Two"))], 11)
            .unwrap();
        assert_eq!(a.take_local_changes(), BTreeSet::from([one, two]));
        assert!(a.take_local_changes().is_empty());
        // A merge is not a local change, but says what it changed.
        let out = b.merge_remote(a.state(), Some(&key));
        assert_eq!(out.changed, vec![one.min(two), one.max(two)]);
        assert!(b.take_local_changes().is_empty());
        let delta = a.state_of([&two]);
        assert_eq!(delta.item_count(), 1);
        assert_eq!(delta.versions(&two), a.state().versions(&two));
        assert_eq!(
            a.items_not_covered_by(&vv_then, false),
            BTreeSet::from([two])
        );
        assert!(a.items_not_covered_by(a.state().vv(), false).is_empty());
        // b learned both from a: none of its own.
        assert_eq!(
            b.items_not_covered_by(&VersionVector::new(), false).len(),
            2
        );
        assert!(b
            .items_not_covered_by(&VersionVector::new(), true)
            .is_empty());
    }
}
