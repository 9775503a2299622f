//! What a replica has not persisted yet, and undoing a local change that
//! could not be persisted.

use crate::hlc::Clock;
use crate::ids::ItemId;
use crate::record::RecordVersion;
use crate::state::VaultState;
use crate::vv::{Dot, VersionVector};

use super::{ConflictReport, Replica};

/// What changed since the replica was last persisted (see
/// [`Replica::unsaved_delta`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Unsaved {
    /// Items with versions written or merged since.
    pub(super) items: std::collections::BTreeSet<ItemId>,
    /// The version vector grew without an item changing.
    pub(super) vv: bool,
    /// Something only a whole new container can say (versions removed,
    /// reports, the device name).
    pub(super) whole: bool,
}

/// What [`Replica::rollback`] needs to undo a change to a few items: the
/// versions those items had, and everything else a change moves (version
/// vector, clock, conflict reports, what is unsaved). Far cheaper than a
/// clone of the replica, which copies every item.
#[derive(Debug)]
pub struct UndoPoint {
    pub(super) items: Vec<(ItemId, Vec<RecordVersion>)>,
    pub(super) vv: VersionVector,
    pub(super) clock: Clock,
    pub(super) reports: Vec<ConflictReport>,
    pub(super) sealed_reports: Option<Vec<u8>>,
    pub(super) unsaved: Unsaved,
}

/// What a replica must persist next.
#[derive(Debug)]
pub enum Unpersisted {
    /// Nothing changed since the last save.
    Nothing,
    /// Only versions were added: the changed items' versions, the version
    /// vector and the clock (see [`crate::format::ContainerEntry`]).
    Delta(crate::format::ContainerEntry),
    /// Something a delta cannot carry: write the whole container.
    Whole,
}

impl Replica {
    /// What changed since the last [`mark_persisted`](Self::mark_persisted)
    /// (or since the replica was built from its parts): nothing, a delta
    /// that a container can append (the current versions of every changed
    /// item, the whole version vector and the clock), or something only a
    /// whole container can hold (versions dropped at unlock, new conflict
    /// reports, a new device name).
    pub fn unsaved_delta(&self) -> Unpersisted {
        let u = &self.unsaved;
        if u.whole {
            return Unpersisted::Whole;
        }
        if u.items.is_empty() && !u.vv {
            return Unpersisted::Nothing;
        }
        let mut state = VaultState::new();
        for id in &u.items {
            for v in self.state.versions(id) {
                state.insert(v.clone());
            }
        }
        state.join_vv(self.state.vv());
        Unpersisted::Delta(crate::format::ContainerEntry {
            clock: self.clock.last(),
            state,
        })
    }

    /// Remembers what a change to `ids` (and items it creates) moves, so
    /// that [`rollback`](Self::rollback) can undo it, as when the change
    /// could not be persisted. Items the change creates need not be named.
    pub fn undo_point(&self, ids: &[ItemId]) -> UndoPoint {
        UndoPoint {
            items: ids
                .iter()
                .map(|id| (*id, self.state.versions(id).to_vec()))
                .collect(),
            vv: self.state.vv().clone(),
            clock: self.clock,
            reports: self.reports.clone(),
            sealed_reports: self.sealed_reports.clone(),
            unsaved: self.unsaved.clone(),
        }
    }

    /// Undoes every local change since `undo` was taken: versions written
    /// since (their dots are past the version vector of then) go, the named
    /// items get their versions back, and the version vector, clock,
    /// reports and unsaved set are as they were. Only for local writes
    /// (add, edit, delete, resolve) to the named items or new ones; a merge
    /// in between is not undone.
    pub fn rollback(&mut self, undo: UndoPoint) {
        let mut touched: std::collections::BTreeSet<ItemId> = self
            .unsaved
            .items
            .difference(&undo.unsaved.items)
            .copied()
            .collect();
        touched.extend(undo.items.iter().map(|(id, _)| *id));
        for id in &touched {
            let newer: Vec<Dot> = self
                .state
                .versions(id)
                .iter()
                .filter(|v| !undo.vv.covers(&v.dot))
                .map(|v| v.dot)
                .collect();
            for dot in newer {
                self.state.remove(id, &dot);
            }
        }
        for (_, versions) in undo.items {
            for v in versions {
                self.state.insert(v);
            }
        }
        self.state.reset_vv(undo.vv);
        self.clock = undo.clock;
        self.reports = undo.reports;
        self.sealed_reports = undo.sealed_reports;
        self.unsaved = undo.unsaved;
        let mut cache = self.cache_lock();
        for id in &touched {
            cache.items.remove(id);
        }
        cache.search_touched(&touched);
    }

    /// Records that everything up to now is persisted.
    pub fn mark_persisted(&mut self) {
        self.unsaved = Unsaved::default();
    }
}
