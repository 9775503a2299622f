//! Property tests of the merge (DESIGN §4).
//!
//! A simulation runs 2–4 devices doing random adds, edits, deletes (to the
//! trash), restores, purges (emptying the trash), syncs (locked and
//! unlocked), conflict resolutions and old-file replays, with one device's
//! clock optionally a year ahead. On the states it produces: merge is
//! commutative, associative and idempotent; delivering the states in any
//! order, with duplicates, converges to one state; after a full exchange
//! every device shows the same items and the same trash; no written value
//! is lost (it is the field's value or in its history, in the vault or in
//! the trash) unless the item was purged after it was written; only purged
//! items vanish.
//! A second group checks the union algebra on arbitrary, unrealistic states.

use std::collections::{BTreeMap, BTreeSet};

use coffer_vault::format::ContainerEntry;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, HISTORY_CAP};
use coffer_vault::record::RecordVersion;
use coffer_vault::replica::{Replica, Unpersisted};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::segment::{
    segment_bytes, FileId, Segment, SegmentHeader, SegmentKind, SyncContent,
};
use coffer_vault::state::VaultState;
use coffer_vault::vv::{Dot, VersionVector};
use proptest::prelude::*;
use uuid::Uuid;

const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;
const FIELDS: [&str; 4] = ["title", "username", "password", "field:pin"];

#[derive(Clone, Debug)]
enum Op {
    Add {
        dev: u8,
    },
    Edit {
        dev: u8,
        item: u8,
        field: u8,
        remove: bool,
    },
    Delete {
        dev: u8,
        item: u8,
    },
    Restore {
        dev: u8,
        item: u8,
    },
    Purge {
        dev: u8,
        item: u8,
    },
    Sync {
        from: u8,
        to: u8,
        locked: bool,
    },
    Resolve {
        dev: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<u8>().prop_map(|dev| Op::Add { dev }),
        5 => (any::<u8>(), any::<u8>(), any::<u8>(), prop::bool::weighted(0.15))
            .prop_map(|(dev, item, field, remove)| Op::Edit { dev, item, field, remove }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(dev, item)| Op::Delete { dev, item }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(dev, item)| Op::Restore { dev, item }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(dev, item)| Op::Purge { dev, item }),
        4 => (any::<u8>(), any::<u8>(), prop::bool::weighted(0.3))
            .prop_map(|(from, to, locked)| Op::Sync { from, to, locked }),
        1 => any::<u8>().prop_map(|dev| Op::Resolve { dev }),
    ]
}

struct Sim {
    key: SecretKey,
    reps: Vec<Replica>,
    locked: Vec<bool>,
    skew: Vec<u64>,
    now: u64,
    /// Every value an acknowledged add or edit wrote: (step, item, field, value).
    written: Vec<(usize, ItemId, String, String)>,
    added: BTreeSet<ItemId>,
    /// Every purge (emptying the trash): (item, step).
    purged: BTreeSet<(ItemId, usize)>,
    /// Every sync file ever "written" (for replays and delivery orders).
    files: Vec<VaultState>,
    /// Each device's container as its daemon would persist it: the last
    /// whole state, with every appended entry since unioned in (the
    /// container's reading rule).
    disk: Vec<VaultState>,
    /// Per device, the items merges changed (what it owes its folder
    /// besides its own writes).
    merge_changed: Vec<BTreeSet<ItemId>>,
}

impl Sim {
    fn new(devices: usize, skewed: bool) -> Self {
        let account = Uuid::new_v4();
        let reps = (0..devices)
            .map(|i| Replica::new(account, 1, DeviceId::new_random(), format!("dev{i}")))
            .collect();
        let mut skew = vec![0; devices];
        if skewed {
            skew[0] = YEAR_MS;
        }
        Sim {
            key: SecretKey::generate(),
            reps,
            locked: vec![false; devices],
            skew,
            now: 1_700_000_000_000,
            written: Vec::new(),
            added: BTreeSet::new(),
            purged: BTreeSet::new(),
            files: Vec::new(),
            disk: vec![VaultState::new(); devices],
            merge_changed: vec![BTreeSet::new(); devices],
        }
    }

    /// Persists every device as the daemon does after a change: an entry
    /// appended (through its JSON line) or the whole state.
    fn persist(&mut self) {
        for (r, disk) in self.reps.iter_mut().zip(&mut self.disk) {
            match r.unsaved_delta() {
                Unpersisted::Nothing => {}
                Unpersisted::Whole => *disk = r.state().clone(),
                Unpersisted::Delta(e) => {
                    let line = e.to_line();
                    let read: ContainerEntry =
                        serde_json::from_slice(&line).expect("an entry line parses");
                    disk.union(&read.state);
                }
            }
            r.mark_persisted();
        }
    }

    fn unlock(&mut self, d: usize) {
        if self.locked[d] {
            assert!(self.reps[d].verify_and_compact(&self.key).is_empty());
            self.locked[d] = false;
        }
    }

    fn pick(&self, d: usize, n: u8) -> Option<Item> {
        let items = self.reps[d].items(&self.key).expect("honest records open");
        if items.is_empty() {
            None
        } else {
            Some(items[n as usize % items.len()].clone())
        }
    }

    fn pick_trashed(&self, d: usize, n: u8) -> Option<ItemId> {
        let trash = self.reps[d]
            .trashed(&self.key)
            .expect("honest records open");
        if trash.is_empty() {
            None
        } else {
            Some(trash[n as usize % trash.len()].item.id)
        }
    }

    fn run(&mut self, step: usize, op: &Op) {
        let n = self.reps.len();
        self.now += 7;
        match *op {
            Op::Add { dev } => {
                let d = dev as usize % n;
                self.unlock(d);
                let (t, p) = (format!("t{step}"), format!("p{step}"));
                let fields = vec![
                    ("title".into(), SecretString::from(t.as_str())),
                    ("password".into(), SecretString::from(p.as_str())),
                ];
                let id = self.reps[d]
                    .add(&self.key, fields, self.now + self.skew[d])
                    .expect("valid add");
                self.written.push((step, id, "title".into(), t));
                self.written.push((step, id, "password".into(), p));
                self.added.insert(id);
            }
            Op::Edit {
                dev,
                item,
                field,
                remove,
            } => {
                let d = dev as usize % n;
                self.unlock(d);
                let Some(it) = self.pick(d, item) else { return };
                let field = FIELDS[field as usize % FIELDS.len()].to_owned();
                let value = (!remove).then(|| format!("v{step}"));
                let change = (field.clone(), value.clone().map(SecretString::from));
                self.reps[d]
                    .edit(&self.key, it.id, vec![change], self.now + self.skew[d])
                    .expect("live item");
                if let Some(v) = value {
                    self.written.push((step, it.id, field, v));
                }
            }
            Op::Delete { dev, item } => {
                let d = dev as usize % n;
                self.unlock(d);
                let Some(it) = self.pick(d, item) else { return };
                self.reps[d]
                    .delete(&self.key, it.id, self.now + self.skew[d])
                    .expect("live item");
            }
            Op::Restore { dev, item } => {
                let d = dev as usize % n;
                self.unlock(d);
                let Some(id) = self.pick_trashed(d, item) else {
                    return;
                };
                let back = self.reps[d]
                    .restore(&self.key, id, self.now + self.skew[d])
                    .expect("trashed item");
                assert_eq!(self.reps[d].get(&self.key, id).expect("open"), Some(back));
            }
            Op::Purge { dev, item } => {
                let d = dev as usize % n;
                self.unlock(d);
                let Some(id) = self.pick_trashed(d, item) else {
                    return;
                };
                self.reps[d]
                    .purge(&self.key, id, self.now + self.skew[d])
                    .expect("trashed item");
                assert!(self.reps[d]
                    .trashed_item(&self.key, id)
                    .expect("open")
                    .is_none());
                self.purged.insert((id, step));
            }
            Op::Sync { from, to, locked } => {
                let (f, t) = (from as usize % n, to as usize % n);
                let file = self.reps[f].state().clone();
                let out = if locked {
                    self.reps[t].forget_plaintext();
                    self.locked[t] = true;
                    self.reps[t].merge_remote(&file, None)
                } else {
                    self.unlock(t);
                    self.reps[t].merge_remote(&file, Some(&self.key))
                };
                assert!(out.rejected.is_empty());
                self.merge_changed[t].extend(out.changed);
                self.files.push(file);
            }
            Op::Resolve { dev } => {
                let d = dev as usize % n;
                self.unlock(d);
                self.reps[d]
                    .resolve_conflicts(&self.key, self.now + self.skew[d])
                    .expect("honest records open");
            }
        }
    }

    /// Every device merges every other's state, twice, resolving between.
    fn converge(&mut self) {
        let n = self.reps.len();
        for d in 0..n {
            self.unlock(d);
        }
        for round in 0..3 {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        let file = self.reps[j].state().clone();
                        let out = self.reps[i].merge_remote(&file, Some(&self.key));
                        assert!(out.rejected.is_empty());
                    }
                }
            }
            if round == 0 {
                for d in 0..n {
                    self.reps[d]
                        .resolve_conflicts(&self.key, self.now + 1000)
                        .expect("open");
                }
            }
        }
    }
}

/// Device 0's publications to one folder, as the daemon's ledger makes them.
#[derive(Default)]
struct Writer {
    /// Every file ever written (read back from its bytes), in order.
    files: Vec<Segment>,
    /// The files the writer keeps (snapshot first, then segments).
    live: Vec<usize>,
    /// The items whose current versions it owes the folder.
    pending: BTreeSet<ItemId>,
}

impl Writer {
    fn owe(&mut self, sim: &mut Sim) {
        self.pending.extend(sim.reps[0].take_local_changes());
        self.pending
            .extend(std::mem::take(&mut sim.merge_changed[0]));
    }

    fn write(
        &mut self,
        r: &Replica,
        kind: SegmentKind,
        state: &VaultState,
        supersedes: Vec<FileId>,
    ) -> usize {
        let header = SegmentHeader {
            kind,
            account_id: r.account_id(),
            epoch: r.epoch(),
            device_id: r.device_id(),
            device_name: r.device_name().to_owned(),
            written_hlc: r.clock(),
            file_id: FileId(self.files.len() as u64 + 1),
            seq: self.files.len() as u64 + 1,
            supersedes,
            extends: VersionVector::new(),
            vv: r.state().vv().clone(),
        };
        let seg = Segment::from_bytes(&segment_bytes(&header, state)).expect("own output parses");
        self.files.push(seg);
        self.files.len() - 1
    }

    /// Publishes the pending items (0–5), then merges the newest two to
    /// four segments (4, 5) or writes a snapshot (6); 7 waits.
    fn step(&mut self, sim: &Sim, what: u8) {
        let r = &sim.reps[0];
        if what == 7 {
            return;
        }
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let i = self.write(r, SegmentKind::Delta, &r.state_of(&pending), Vec::new());
            self.live.push(i);
        }
        let ids = |w: &Writer, from: usize| -> Vec<FileId> {
            w.live[from..]
                .iter()
                .map(|&i| w.files[i].header.file_id)
                .collect()
        };
        match what {
            4 | 5 => {
                let segs = self.live.len() - usize::from(self.has_snapshot());
                let take = usize::from(what - 2).min(segs);
                if take >= 2 {
                    let from = self.live.len() - take;
                    let items: BTreeSet<ItemId> = self.live[from..]
                        .iter()
                        .flat_map(|&i| self.files[i].state.records().keys().copied())
                        .collect();
                    let sup = ids(self, from);
                    let i = self.write(r, SegmentKind::Delta, &r.state_of(&items), sup);
                    self.live.truncate(from);
                    self.live.push(i);
                }
            }
            6 => {
                let sup = ids(self, 0);
                let i = self.write(r, SegmentKind::Snapshot, r.state(), sup);
                self.live = vec![i];
            }
            _ => {}
        }
    }

    fn has_snapshot(&self) -> bool {
        self.live
            .first()
            .is_some_and(|&i| self.files[i].header.kind == SegmentKind::Snapshot)
    }
}

fn merged(a: &VaultState, b: &VaultState) -> VaultState {
    let mut m = a.clone();
    m.merge(b);
    m
}

fn scenario() -> impl Strategy<Value = (usize, bool, Vec<Op>)> {
    (
        2usize..=4,
        prop::bool::weighted(0.3),
        prop::collection::vec(op(), 1..60),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative_associative_idempotent((devices, skewed, ops) in scenario(),
                                                   picks in prop::collection::vec(any::<prop::sample::Index>(), 3..6)) {
        let mut sim = Sim::new(devices, skewed);
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
        }
        let mut pool: Vec<VaultState> = sim.reps.iter().map(|r| r.state().clone()).collect();
        pool.extend(sim.files.iter().cloned());
        let chosen: Vec<&VaultState> = picks.iter().map(|i| i.get(&pool)).collect();
        for a in &chosen {
            for b in &chosen {
                let ab = merged(a, b);
                prop_assert_eq!(&ab, &merged(b, a), "commutative");
                prop_assert_eq!(&merged(&ab, &ab), &ab, "idempotent");
                prop_assert_eq!(&merged(&ab, b), &ab, "re-merging an input changes nothing");
                for c in &chosen {
                    prop_assert_eq!(merged(&ab, c), merged(a, &merged(b, c)), "associative");
                }
            }
        }
    }

    /// What a device persisted (whole states and appended deltas) reads
    /// back, once compacted at unlock, as exactly its state in memory.
    #[test]
    fn persisted_deltas_replay_to_the_state_in_memory((devices, skewed, ops) in scenario()) {
        let mut sim = Sim::new(devices, skewed);
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
            sim.persist();
            if i % 3 == 1 {
                for d in 0..devices {
                    let mut from_disk = sim.disk[d].clone();
                    from_disk.compact();
                    let mut mem = sim.reps[d].state().clone();
                    mem.compact();
                    prop_assert_eq!(&from_disk, &mem, "device {} after step {}", d, i);
                    // The live count (kept between changes) follows every change.
                    let listed = sim.reps[d].items(&sim.key).expect("open").len();
                    prop_assert_eq!(sim.reps[d].state().live_item_count(), listed);
                }
            }
        }
        sim.converge();
        sim.persist();
        for d in 0..devices {
            let mut from_disk = sim.disk[d].clone();
            from_disk.compact();
            prop_assert_eq!(&from_disk, sim.reps[d].state(), "device {}", d);
        }
    }

    /// The search index kept up to date change by change (writes, merges,
    /// resolutions, rollbacks) finds what an index built afresh finds.
    #[test]
    fn the_incremental_search_index_matches_a_fresh_one((devices, skewed, ops) in scenario(),
                                                        queries in prop::collection::vec("[tpv][0-9]{0,2}", 1..4)) {
        let mut sim = Sim::new(devices, skewed);
        let found = |r: &Replica, key: &SecretKey, q: &str| {
            let mut hits: Vec<(ItemId, u32)> = r.search(key, q).expect("open")
                .into_iter().map(|(id, h)| (id, h.score)).collect();
            hits.sort();
            hits
        };
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
            for d in 0..devices {
                if sim.locked[d] {
                    continue;
                }
                for q in &queries {
                    let fresh = sim.reps[d].clone();
                    prop_assert_eq!(found(&sim.reps[d], &sim.key, q), found(&fresh, &sim.key, q),
                        "device {} after step {} ({:?}), query {}", d, i, op, q);
                }
            }
        }
    }

    /// Rolling back an add, an edit or a delete (as the daemon does when
    /// the change cannot be persisted) gives the replica it was before:
    /// state, clock, items, and what remains to persist.
    #[test]
    fn rolling_back_a_change_restores_the_replica((devices, skewed, ops) in scenario(),
                                                  kind in 0u8..3, pick in any::<u8>()) {
        let mut sim = Sim::new(devices, skewed);
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
            if i % 5 == 0 {
                sim.persist();
            }
        }
        let key = sim.key.clone();
        for d in 0..devices {
            sim.unlock(d);
            let target = sim.pick(d, pick).map(|it| it.id);
            let r = &mut sim.reps[d];
            let before = r.clone();
            let unsaved = |r: &Replica| match r.unsaved_delta() {
                Unpersisted::Nothing => "nothing".to_owned(),
                Unpersisted::Whole => "whole".to_owned(),
                Unpersisted::Delta(e) => format!("{:?}", e.to_line()),
            };
            let undo = match (kind, target) {
                (0, _) | (_, None) => {
                    let undo = r.undo_point(&[]);
                    r.add(&key, vec![("title".into(), SecretString::from("new"))], sim.now + 99)
                        .expect("add");
                    undo
                }
                (1, Some(id)) => {
                    let undo = r.undo_point(&[id]);
                    r.edit(&key, id, vec![("password".into(), Some(SecretString::from("changed")))], sim.now + 99)
                        .expect("edit");
                    undo
                }
                (_, Some(id)) => {
                    let undo = r.undo_point(&[id]);
                    r.delete(&key, id, sim.now + 99).expect("delete");
                    undo
                }
            };
            prop_assert_ne!(r.state(), before.state(), "the change changed something");
            r.rollback(undo);
            prop_assert_eq!(r.state(), before.state());
            prop_assert_eq!(r.clock(), before.clock());
            prop_assert_eq!(r.sealed_reports(), before.sealed_reports());
            prop_assert_eq!(r.reports(), before.reports());
            prop_assert_eq!(unsaved(r), unsaved(&before));
            let items = |r: &Replica| r.items(&key).expect("open");
            prop_assert_eq!(items(r), items(&before));
        }
    }

    #[test]
    fn any_order_and_duplication_of_delivery_converges((devices, skewed, ops) in scenario(),
                                                       order in prop::collection::vec(any::<u32>(), 64),
                                                       dups in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let mut sim = Sim::new(devices, skewed);
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
        }
        let mut files: Vec<VaultState> = sim.reps.iter().map(|r| r.state().clone()).collect();
        files.extend(sim.files.iter().cloned());
        // Reference: in file order.
        let mut reference = VaultState::new();
        for f in &files {
            reference.merge(f);
        }
        // Shuffled (by the random keys) with duplicates (replays of old files).
        let mut delivery: Vec<usize> = (0..files.len()).collect();
        delivery.sort_by_key(|&i| (order[i % order.len()], i));
        for d in &dups {
            let at = d.index(delivery.len() + 1);
            delivery.insert(at, d.index(files.len()));
        }
        let mut shuffled = VaultState::new();
        for &i in &delivery {
            shuffled.merge(&files[i]);
        }
        prop_assert_eq!(&shuffled, &reference);
        // The same through an unlocked replica (which opens what it merges)
        // and through a locked one that unlocks at the end.
        let mut unlocked = Replica::new(sim.reps[0].account_id(), 1, DeviceId::new_random(), "u".into());
        let mut locked = unlocked.clone();
        for &i in delivery.iter().rev() {
            prop_assert!(unlocked.merge_remote(&files[i], Some(&sim.key)).rejected.is_empty());
            locked.merge_remote(&files[i], None);
        }
        prop_assert!(locked.verify_and_compact(&sim.key).is_empty());
        prop_assert_eq!(unlocked.state(), &reference);
        prop_assert_eq!(locked.state(), &reference);
    }

    #[test]
    fn devices_converge_and_no_written_value_is_lost((devices, skewed, ops) in scenario()) {
        let mut sim = Sim::new(devices, skewed);
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
        }
        sim.converge();
        let key = &sim.key;
        let first = sim.reps[0].items(key).expect("open");
        let trash = sim.reps[0].trashed(key).expect("open");
        for r in &sim.reps[1..] {
            prop_assert_eq!(r.state(), sim.reps[0].state());
            prop_assert_eq!(&r.items(key).expect("open"), &first);
            prop_assert_eq!(&r.trashed(key).expect("open"), &trash);
        }
        // Resolution is stable: nothing more to write.
        let before = sim.reps[0].state().clone();
        prop_assert!(sim.reps[0].resolve_conflicts(key, sim.now + 5000).expect("open").is_empty());
        prop_assert_eq!(sim.reps[0].state(), &before);

        // What a device can still see of an item: live, or in the trash.
        let mut kept: BTreeMap<ItemId, &Item> = first.iter().map(|i| (i.id, i)).collect();
        for t in &trash {
            prop_assert!(!kept.contains_key(&t.item.id), "an item is live and in the trash");
            kept.insert(t.item.id, &t.item);
        }
        let purged_after = |id: &ItemId, step: usize| sim.purged.iter().any(|(p, s)| p == id && *s > step);
        for id in &sim.added {
            prop_assert!(kept.contains_key(id) || purged_after(id, 0), "item vanished without a purge");
        }
        for (step, id, field, value) in &sim.written {
            let Some(item) = kept.get(id) else { continue };
            let current = item.get(field).map(|v| v.expose() == value).unwrap_or(false);
            let hist = item.history_of(field);
            let in_history = hist.iter().any(|h| h.value.expose() == value);
            // A value may only vanish when the history is full, or when a
            // device purged the item from the trash after the write and a
            // concurrent edit then won over that purge: the purge carries
            // nothing, by the user's choice. A deletion to the trash loses
            // nothing: its content joins the winning edit's history.
            prop_assert!(current || in_history || hist.len() == HISTORY_CAP || purged_after(id, *step),
                "value {} of {} lost", value, field);
        }
    }

    /// Device 0 publishes what it owes as the daemon does: a fresh segment
    /// of the items it wrote or merged since, now and then a merge of its
    /// newest segments or a snapshot that takes over every earlier file. A
    /// reader taking all the files ever written in any order, with
    /// duplicates, merged locked or unlocked, skipping every file whose
    /// superseded files it merged already, ends with the writer's state: a
    /// segment arriving before an earlier one never makes that earlier
    /// version be dropped when it comes (the merge is a union, compaction
    /// goes by contexts). So does a reader of only the files the writer
    /// keeps.
    #[test]
    fn segments_in_any_order_with_skips_give_the_writers_state(
        (devices, skewed, ops) in scenario(),
        steps in prop::collection::vec(0u8..8, 60),
        order in prop::collection::vec(any::<u32>(), 128),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        locked_reader in any::<bool>(),
    ) {
        let mut sim = Sim::new(devices, skewed);
        let mut w = Writer::default();
        for (i, op) in ops.iter().enumerate() {
            sim.run(i, op);
            w.owe(&mut sim);
            w.step(&sim, steps[i % steps.len()]);
        }
        w.owe(&mut sim);
        w.step(&sim, 0);
        prop_assert!(w.pending.is_empty());
        sim.unlock(0);
        let writer = sim.reps[0].state().clone();

        let mut delivery: Vec<usize> = (0..w.files.len()).collect();
        delivery.sort_by_key(|&i| (order[i % order.len()], i));
        for d in dups.iter().filter(|_| !w.files.is_empty()) {
            let at = d.index(delivery.len() + 1);
            delivery.insert(at, d.index(w.files.len()));
        }
        let key = (!locked_reader).then_some(&sim.key);
        let mut reader = Replica::new(sim.reps[0].account_id(), 1, DeviceId::new_random(), "r".into());
        let mut merged_ids: BTreeSet<FileId> = BTreeSet::new();
        for &i in &delivery {
            let seg = &w.files[i];
            let h = &seg.header;
            let skip = merged_ids.contains(&h.file_id)
                || (!h.supersedes.is_empty() && h.supersedes.iter().all(|s| merged_ids.contains(s)));
            if !skip {
                let out = reader
                    .merge_sync_content(&SyncContent::Segment(seg.clone()), key)
                    .expect("same account");
                prop_assert!(out.rejected.is_empty());
            }
            for s in &h.supersedes {
                merged_ids.remove(s);
            }
            merged_ids.insert(h.file_id);
        }
        prop_assert!(reader.verify_and_compact(&sim.key).is_empty());
        prop_assert_eq!(reader.state(), &writer, "a reader of every file, delivered as {:?}", delivery);

        let mut fresh = Replica::new(sim.reps[0].account_id(), 1, DeviceId::new_random(), "n".into());
        for &i in w.live.iter().rev() {
            fresh
                .merge_sync_content(&SyncContent::Segment(w.files[i].clone()), Some(&sim.key))
                .expect("same account");
        }
        prop_assert_eq!(fresh.state(), &writer, "a reader of the files kept");
    }

    #[test]
    fn union_algebra_holds_for_arbitrary_states(a in arb_state(), b in arb_state(), c in arb_state()) {
        let u = |x: &VaultState, y: &VaultState| { let mut m = x.clone(); m.union(y); m };
        prop_assert_eq!(u(&a, &b), u(&b, &a));
        prop_assert_eq!(u(&u(&a, &b), &c), u(&a, &u(&b, &c)));
        prop_assert_eq!(u(&a, &a), a.clone());
        // Merge (with compaction) is commutative whatever the contexts say.
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }
}

fn arb_state() -> impl Strategy<Value = VaultState> {
    // Few ids and devices so that versions collide on ids and dots.
    let ids: Vec<ItemId> = (0..3u8)
        .map(|i| ItemId(Uuid::from_bytes([i; 16])))
        .collect();
    let devs: Vec<DeviceId> = (0..3u8)
        .map(|i| DeviceId(Uuid::from_bytes([100 + i; 16])))
        .collect();
    let version = (
        0..3usize,
        0..3usize,
        1..4u64,
        prop::collection::vec((0..3usize, 0..4u64), 0..3),
        any::<bool>(),
        0..3u8,
    )
        .prop_map(move |(i, d, c, ctx, deleted, sealed)| RecordVersion {
            id: ids[i],
            dot: Dot::new(devs[d], c),
            context: ctx
                .into_iter()
                .map(|(d, c)| (devs[d], c))
                .collect::<VersionVector>(),
            deleted,
            sealed: vec![sealed; 4].into(),
        });
    prop::collection::vec(version, 0..8).prop_map(|vs| {
        let mut s = VaultState::new();
        for v in vs {
            s.insert(v);
        }
        s
    })
}
