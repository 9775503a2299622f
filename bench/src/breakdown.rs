//! Where a request's time goes: the daemon's per-request steps timed one
//! by one in process, on a replica of 10,000 real sealed items, through
//! coffer-vault's public API. `coffer add` answers after cloning the replica
//! (to undo a failed save), adding one sealed record and writing the whole
//! container (serialize, write, fsync, rename); the sync round it then
//! triggers serializes and writes this device's whole sync file. `coffer
//! get TITLE` is `Replica::find_by_title`, timed on its first call after
//! unlock and repeated on a warm cache.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use coffer_vault::ids::ItemId;
use coffer_vault::replica::Unpersisted;

use crate::merge::{fields, fixture};
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::Mode;

const SECTION: &str = "Breakdown (in process, 10,000 items)";

fn time(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<crate::stats::Summary> {
    let mut s = Samples::new();
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        s.push(t.elapsed());
    }
    s.summary().context("no sample")
}

/// Runs the breakdown.
pub fn run(mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let runs = mode.pick(10, 40);
    let n = 10_000;
    let fx = fixture(n)?;
    let (a, key, header) = (&fx.a, &fx.key, &fx.header);
    let dir = tempfile::Builder::new()
        .prefix("cb-bd-")
        .tempdir_in("/tmp")?;

    let clone = time(runs, || {
        std::hint::black_box(a.clone());
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "Replica::clone (what add/edit/rm kept to undo, before UndoPoint)",
        clone,
    ));
    let some: Vec<ItemId> = a.state().records().keys().take(1).copied().collect();
    let undo = time(runs, || {
        std::hint::black_box(a.undo_point(&some));
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "Replica::undo_point (what add/edit/rm keep to undo now)",
        undo,
    ));

    let mut r = a.clone();
    let mut i = n;
    let add = time(runs, || {
        r.add(key, fields(i, "pw"), 1)?;
        i += 1;
        Ok(())
    })?;
    report.add(Row::time(SECTION, "Replica::add (seal one record)", add));

    let mut container = Vec::new();
    let ser = time(runs, || {
        container = a.container_bytes(header)?;
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        format!("Replica::container_bytes ({} KiB)", container.len() / 1024),
        ser,
    ));

    let path = dir.path().join("container.tmp");
    let write = time(runs, || {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&container)?;
        f.sync_all()?;
        std::fs::rename(&path, dir.path().join("container"))?;
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "write + fsync + rename of that container",
        write,
    ));

    // What an add persists instead: one entry appended to the container.
    let log = dir.path().join("container");
    let mut r = a.clone();
    let mut j = 0;
    let mut line_len = 0;
    let append = time(runs, || {
        r.add(key, fields(n + 1_000_000 + j, "pw"), 1)?;
        j += 1;
        let entry = match r.unsaved_delta() {
            Unpersisted::Delta(e) => e,
            other => anyhow::bail!("an add should give a delta, not {other:?}"),
        };
        let line = entry.to_line();
        line_len = line.len();
        let mut f = std::fs::OpenOptions::new().append(true).open(&log)?;
        f.write_all(&line)?;
        f.sync_data()?;
        r.mark_persisted();
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        format!("add + its container entry ({line_len} B) appended + fdatasync"),
        append,
    ));

    let mut sync = Vec::new();
    let sync_ser = time(runs, || {
        sync = a.sync_file_bytes();
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        format!(
            "Replica::sync_file_bytes ({} KiB; every sync round)",
            sync.len() / 1024
        ),
        sync_ser,
    ));

    let parse = time(runs, || {
        std::hint::black_box(coffer_vault::format::SyncFile::from_bytes(&sync)?);
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "SyncFile::from_bytes of that file",
        parse,
    ));

    // `get TITLE` right after unlock: the cache holds every item's opened
    // plaintext (verify_and_compact filled it), but no title was looked at
    // yet. Each sample unlocks a fresh clone first, outside the timing.
    let want = "ITEM-005000";
    let mut s = Samples::new();
    for _ in 0..mode.pick(5, 10) {
        let mut fresh = a.clone();
        let rejected = fresh.verify_and_compact(key);
        anyhow::ensure!(rejected.is_empty(), "the fixture's records open");
        let t = Instant::now();
        let hit = fresh.find_by_title(key, want)?;
        s.push(t.elapsed());
        anyhow::ensure!(hit.len() == 1, "one item titled {want}");
    }
    report.add(Row::time(
        SECTION,
        "Replica::find_by_title, 1st after unlock (cold)",
        s.summary().context("no sample")?,
    ));

    // Warm the plaintext cache, as an unlocked daemon has it.
    let _ = a.find_by_title(key, want)?;
    let find = time(runs, || {
        let hit = a.find_by_title(key, want)?;
        anyhow::ensure!(hit.len() == 1, "one item titled {want}");
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "Replica::find_by_title, repeated (get TITLE)",
        find,
    ));

    let items = time(runs, || {
        std::hint::black_box(a.items(key)?);
        Ok(())
    })?;
    report.add(Row::time(SECTION, "Replica::items (list, warm)", items));

    let id: ItemId = *a.state().records().keys().nth(n / 2).context("an item")?;
    let get = time(runs, || {
        std::hint::black_box(a.get(key, id)?);
        Ok(())
    })?;
    report.add(Row::time(SECTION, "Replica::get by id (get ID)", get));

    let count = time(runs, || {
        std::hint::black_box(a.state().live_item_count());
        Ok(())
    })?;
    report.add(Row::time(
        SECTION,
        "VaultState::live_item_count (status)",
        count,
    ));
    Ok(())
}
