//! What a change costs the sync folder (issue 15): bytes written into the
//! folder per one-item edit, amortized over 1,000 edits including whatever
//! compaction wrote in that span, at 1k, 10k and 100k items, for one item
//! edited over and over and for items picked at random; against today's
//! (version-2) format, which rewrote the device's whole state per change,
//! measured in the same run on the same vault; the files per device after
//! 10,000 edits; and the cost of a sync round on device B when device A
//! changed one item.
//!
//! Bytes into the folder are the daemon's own count (`sync list --json`
//! `written_bytes`: every file renamed into the folder). The daemon's whole
//! write traffic (`/proc/PID/io` `wchar`: folder, container, logs) is shown
//! beside it, as the issue measured. The version-2 baseline is a bench-only
//! path: the bytes of the whole version-2 file of A's vault (what the old
//! daemon wrote at least once per change; the issue saw two writes), built
//! in process from A's container. The old binary itself can be measured
//! with `--baseline-bin-dir DIR` (a `cargo build --release` of the previous
//! commit): its `wchar` per edit, over fewer edits (each costs a whole file).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use coffer_vault::format::Container;

use crate::device::{self, Bins, Device};
use crate::report::{Report, Row, Value};
use crate::stats::Samples;
use crate::Mode;

const SECTION: &str = "Sync cost";
/// The target for bytes per one-item edit.
const TARGET: u64 = 4096;

/// This device's entry of its first folder in `sync list --json`:
/// (bytes written into it, its own files there); `None` from a daemon that
/// does not count (the previous version).
fn folder_stats(d: &Device) -> anyhow::Result<Option<(u64, u64)>> {
    let v = d.json(&["sync", "list", "--json"])?;
    let f = &v[0];
    Ok(f["written_bytes"].as_u64().zip(f["own_files"].as_u64()))
}

/// The daemon's `wchar` (bytes passed to write calls) from `/proc/PID/io`.
fn wchar(d: &Device) -> anyhow::Result<u64> {
    let pid = d.pid()?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .with_context(|| format!("cannot read /proc/{pid}/io"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .context("/proc/PID/io has no wchar")
}

/// The bytes of the whole version-2 sync file of `d`'s vault (the old
/// writer's output for one change), from its container.
fn version2_file_bytes(d: &Device) -> anyhow::Result<u64> {
    let path = d.data_dir();
    let container = std::fs::read_dir(&path)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "coffer"))
        .context("no container")?;
    let c = Container::from_bytes(&std::fs::read(&container)?)?;
    let (_, replica) = c.into_replica();
    Ok(replica.sync_file_bytes().len() as u64)
}

/// `coffer edit TITLE --password P` then `coffer sync now`, as the issue measured.
fn edit(d: &Device, title: &str, i: usize, sync: bool) -> anyhow::Result<()> {
    d.run(&["edit", title, "--password", &format!("edited-{i}")])?;
    if sync {
        d.run(&["sync", "now"])?;
    }
    Ok(())
}

fn title(i: usize) -> String {
    format!("item-{i:06}")
}

/// A on `folder` with `n` items, and B logged in there (its debounce long,
/// so that its timed `sync now` is what merges).
fn pair(bins: &Bins, n: usize, folder: &Path) -> anyhow::Result<(Device, Device)> {
    let (a, key) = device::with_items(bins, "sc-a", n, folder)?;
    let b = Device::new(bins, "sc-b", true)?;
    b.write_config("debounce_ms = 10000\n")?;
    b.login("sc-a@bench.example.org", folder, &key)?;
    let start = std::time::Instant::now();
    while b.status()?["items"].as_u64() != Some(n as u64) {
        b.run(&["sync", "now"])?;
        if start.elapsed() > Duration::from_secs(300) {
            bail!("device B never got A's {n} items");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    a.run(&["sync", "now"])?;
    b.run(&["sync", "now"])?;
    Ok((a, b))
}

/// Runs the sync cost measurements.
pub fn run(
    bins: &Bins,
    baseline: Option<&Bins>,
    mode: Mode,
    max_items: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let edits = 1000;
    let rounds = mode.pick(20, 60);
    for n in [1_000usize, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max_items)
    {
        let folder = tempfile::Builder::new()
            .prefix("cb-sc-")
            .tempdir_in("/tmp")?;
        let (a, b) = pair(bins, n, folder.path())?;
        round_cost(&a, &b, n, rounds, report)?;
        let old = version2_file_bytes(&a)?;
        report.add(Row::new(
            SECTION,
            format!("version 2 (before): the whole file, written per change ({n} items)"),
            Value::Bytes { bytes: old },
        ));
        for random in [false, true] {
            bytes_per_edit(&a, &b, n, edits, random, old, report)?;
        }
        if let Some(old_bins) = baseline {
            old_binary(old_bins, n, mode, report)?;
        }
    }
    files_after(bins, mode, report)
}

/// `sync now` on B when A changed one item, against `sync now` with nothing new.
fn round_cost(
    a: &Device,
    b: &Device,
    n: usize,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mut changed, mut idle) = (Samples::new(), Samples::new());
    for i in 0..rounds {
        edit(a, &title(i % n), i, true)?;
        changed.push(b.time(&["sync", "now"])?);
        idle.push(b.time(&["sync", "now"])?);
    }
    let idle = idle.summary().context("no sample")?;
    let changed = changed.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        format!("coffer sync now on B, nothing new ({n} items)"),
        idle,
    ));
    report.add(
        Row::time(
            SECTION,
            format!("coffer sync now on B merging A's one-item change ({n} items)"),
            changed,
        )
        .vs("sync now with nothing new", &idle),
    );
    Ok(())
}

fn bytes_per_edit(
    a: &Device,
    b: &Device,
    n: usize,
    edits: usize,
    random: bool,
    old: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let what = if random { "random items" } else { "one item" };
    let (w0, _) = folder_stats(a)?.context("this daemon does not count its bytes")?;
    let (bw0, _) = folder_stats(b)?.context("this daemon does not count its bytes")?;
    let io0 = wchar(a)?;
    for i in 0..edits {
        let t = if random {
            title(rand::random::<usize>() % n)
        } else {
            title(0)
        };
        edit(a, &t, i, true)?;
    }
    let (w1, files) = folder_stats(a)?.context("no folder")?;
    let io1 = wchar(a)?;
    b.run(&["sync", "now"])?;
    let (bw1, _) = folder_stats(b)?.context("no folder")?;
    let per = (w1 - w0) / edits as u64;
    report.add(
        Row::new(
            SECTION,
            format!("bytes into the folder per edit, {what}, {edits} edits ({n} items)"),
            Value::Bytes { bytes: per },
        )
        .ratio("version 2", per as f64 / old.max(1) as f64)
        .target("≤ 4 KiB per one-item edit", per <= TARGET),
    );
    report.add(Row::new(
        SECTION,
        format!("daemon wchar per edit, {what} ({n} items; folder, container, logs)"),
        Value::Bytes {
            bytes: (io1 - io0) / edits as u64,
        },
    ));
    report.add(Row::new(
        SECTION,
        format!("A's files in the folder after those edits, {what} ({n} items)"),
        Value::Text {
            text: files.to_string(),
        },
    ));
    report.add(Row::new(
        SECTION,
        format!("bytes B wrote back while merging them, {what} ({n} items)"),
        Value::Bytes { bytes: bw1 - bw0 },
    ));
    Ok(())
}

/// The previous binary: `wchar` per edit (each edit rewrites the whole file,
/// so a few edits say it).
fn old_binary(old: &Bins, n: usize, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("cb-sc-old-")
        .tempdir_in("/tmp")?;
    let (a, _) = device::with_items(old, "sc-old", n, folder.path())?;
    a.run(&["sync", "now"])?;
    let edits = mode.pick(if n >= 100_000 { 3 } else { 10 }, 30);
    let io0 = wchar(&a)?;
    for i in 0..edits {
        edit(&a, &title(0), i, true)?;
    }
    let per = (wchar(&a)? - io0) / edits as u64;
    report.add(Row::new(
        SECTION,
        format!("previous binary: daemon wchar per one-item edit ({n} items, {edits} edits)"),
        Value::Bytes { bytes: per },
    ));
    Ok(())
}

/// 10,000 edits of random items on a 1,000-item vault (one item over and
/// over too, in full mode): how many files A keeps in the folder, at most
/// and at the end.
fn files_after(bins: &Bins, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    let n = 1000;
    let total = 10_000;
    let workloads: &[bool] = mode.pick(&[true], &[true, false]);
    for &random in workloads {
        let folder = tempfile::Builder::new()
            .prefix("cb-sc-files-")
            .tempdir_in("/tmp")?;
        let (a, _) = device::with_items(bins, "sc-files", n, folder.path())?;
        a.run(&["sync", "now"])?;
        let (w0, _) = folder_stats(&a)?.context("no folder")?;
        let mut most = 0;
        for i in 0..total {
            let t = if random {
                title(rand::random::<usize>() % n)
            } else {
                title(0)
            };
            // Each change kicks a round; `sync now` only now and then.
            edit(&a, &t, i, i % 100 == 99)?;
            if i % 100 == 99 {
                let (_, files) = folder_stats(&a)?.context("no folder")?;
                most = most.max(files);
            }
        }
        a.run(&["sync", "now"])?;
        let (w1, files) = folder_stats(&a)?.context("no folder")?;
        let what = if random { "random items" } else { "one item" };
        report.add(Row::new(
            SECTION,
            format!("A's files in the folder after {total} edits, {what} ({n} items)"),
            Value::Text {
                text: format!("{files} (at most {most} along the way)"),
            },
        ));
        // Over 10,000 edits of a 1,000-item vault the snapshot is rewritten
        // several times: this is the long-run cost, snapshots included.
        report.add(Row::new(
            SECTION,
            format!("bytes into the folder per edit over those {total} edits, {what} ({n} items)"),
            Value::Bytes {
                bytes: (w1 - w0) / total as u64,
            },
        ));
    }
    Ok(())
}
