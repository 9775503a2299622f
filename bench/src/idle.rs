//! Idle cost: the daemon's CPU time (utime + stime from `/proc/PID/stat`)
//! and wake-ups (context switches of all its threads) over an idle window,
//! and its resident memory (VmRSS now, VmHWM peak) with 0, 1,000, 10,000
//! and 100,000 items.
//!
//! Each vault is filled by a CSV import, then its daemon is restarted (a
//! fresh process, started directly), unlocked and asked for one item, so
//! the memory is what a user's long-running daemon holds rather than what
//! the import left behind. The daemons then sit idle side by side, each
//! watching its sync folder, through one common window.

use std::time::Duration;

use anyhow::Context;

use crate::device::{self, Bins, Device};
use crate::proc;
use crate::report::{Report, Row, Value};
use crate::Mode;

const SECTION: &str = "Idle";

struct Idle {
    items: usize,
    dev: Device,
    pid: u32,
    after_import: proc::Memory,
    fresh: proc::Memory,
    _folder: tempfile::TempDir,
}

/// How long every daemon's CPU time and thread count must stay unchanged
/// before the window opens.
const QUIET: Duration = Duration::from_secs(3);

/// Waits until the work the set-up caused is over: the unlock's sync round
/// (hundreds of ms at 100,000 items, more on a loaded machine) and the
/// blocking-pool threads it used, which tokio lets go after 10 s unused —
/// a thread that exits inside the window would wake the daemon once and
/// take its context-switch count with it. Gives up after 60 s (the window
/// then shows whatever is still going on).
fn settle(pids: &[u32]) -> anyhow::Result<Duration> {
    let start = std::time::Instant::now();
    let probe = || -> anyhow::Result<Vec<(u64, u64)>> {
        pids.iter()
            .map(|&pid| {
                let s = proc::stat(pid)?;
                Ok((s.utime + s.stime, proc::memory(pid)?.threads))
            })
            .collect()
    };
    let mut last = probe()?;
    let mut quiet_since = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        let now = probe()?;
        if now != last {
            last = now;
            quiet_since = std::time::Instant::now();
        } else if quiet_since.elapsed() >= QUIET {
            break;
        }
    }
    Ok(start.elapsed())
}

/// Runs the idle measurements.
pub fn run(bins: &Bins, mode: Mode, max_items: usize, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let window = Duration::from_secs(mode.pick(60, 300));
    let mut daemons = Vec::new();
    for items in [0usize, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max_items)
    {
        let folder = tempfile::Builder::new()
            .prefix("cb-idle-")
            .tempdir_in("/tmp")?;
        let (mut dev, _) = device::with_items(bins, &format!("idle{items}"), items, folder.path())?;
        dev.run(&["sync", "now"])?;
        let after_import = proc::memory(dev.pid()?)?;
        dev.stop()?;
        dev.start_daemon()?;
        dev.wait_ready(None, Duration::from_secs(120))?;
        dev.run(&["unlock"])?;
        if items > 0 {
            dev.run(&["get", "item-000000"])?;
        }
        let pid = dev.pid()?;
        // Let the unlock's sync round and the allocator settle.
        std::thread::sleep(Duration::from_secs(2));
        let fresh = proc::memory(pid)?;
        println!(
            "  {items} items: daemon {pid} ready, RSS {}",
            crate::stats::bytes(fresh.rss)
        );
        daemons.push(Idle {
            items,
            dev,
            pid,
            after_import,
            fresh,
            _folder: folder,
        });
    }

    let pids: Vec<u32> = daemons.iter().map(|d| d.pid).collect();
    let settled = settle(&pids)?;
    println!(
        "  settled after {:.1} s (CPU time and thread count unchanged for {} s)",
        settled.as_secs_f64(),
        QUIET.as_secs()
    );
    println!("  idle window: {} s, all daemons at once", window.as_secs());
    let before: Vec<(proc::Stat, u64)> = daemons
        .iter()
        .map(|d| Ok((proc::stat(d.pid)?, proc::context_switches(d.pid)?)))
        .collect::<anyhow::Result<_>>()?;
    std::thread::sleep(window);
    let per_sec = proc::ticks_per_sec();
    let empty_rss = daemons.first().map(|d| d.fresh.rss).unwrap_or(0);
    for (d, (s0, c0)) in daemons.iter_mut().zip(before) {
        let s1 = proc::stat(d.pid).context("the daemon died while idle")?;
        let c1 = proc::context_switches(d.pid)?;
        let ticks = (s1.utime + s1.stime).saturating_sub(s0.utime + s0.stime);
        let n = d.items;
        report.add(
            Row::new(
                SECTION,
                format!("cofferd CPU over {} s idle ({n} items)", window.as_secs()),
                Value::Ticks { ticks, per_sec },
            )
            .target("zero ticks", ticks == 0),
        );
        report.add(Row::new(
            SECTION,
            format!("cofferd wake-ups (context switches) over the window ({n} items)"),
            Value::Text {
                text: format!("{}", c1.saturating_sub(c0)),
            },
        ));
        let now = proc::memory(d.pid)?;
        let mut rss = Row::new(
            SECTION,
            format!("cofferd VmRSS, restarted + unlocked, after idling ({n} items)"),
            Value::Bytes { bytes: now.rss },
        );
        if empty_rss > 0 {
            rss = rss.ratio("empty vault", now.rss as f64 / empty_rss as f64);
        }
        if n == 10_000 {
            rss = rss.target("< 30 MB", now.rss < 30_000_000);
        }
        report.add(rss);
        report.add(Row::new(
            SECTION,
            format!("cofferd VmHWM (peak) since restart ({n} items)"),
            Value::Bytes {
                bytes: d.fresh.hwm.max(now.hwm),
            },
        ));
        report.add(Row::new(
            SECTION,
            format!("cofferd VmRSS right after the import, before restart ({n} items)"),
            Value::Bytes {
                bytes: d.after_import.rss,
            },
        ));
        let _ = d.fresh.threads;
        d.dev.stop()?;
    }
    Ok(())
}
