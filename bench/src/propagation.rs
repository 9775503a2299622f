//! Propagation between two devices: from `coffer add` returning on device
//! A to `coffer get` first succeeding on device B, both daemons running and
//! sharing one local folder; at an empty vault, 10,000 and 100,000 items
//! (target, issue 15: median and 95th percentile under 50 ms); B is
//! watched through its container file, then asked by id. Against
//! the delay a Syncthing folder adds by default, measured between two
//! Syncthing instances on loopback carrying a plain file.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::device::{self, Bins, Device};
use crate::report::{Report, Row, Value};
use crate::stats::{Samples, Summary};
use crate::syncthing;
use crate::tools::{self, Tool};
use crate::Mode;

const SECTION: &str = "Propagation";
/// The longest one change may take before the run fails.
const LIMIT: Duration = Duration::from_secs(30);

/// Polls `f` every `every` until it is true; the instant it was.
fn poll_until(
    every: Duration,
    limit: Duration,
    mut f: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        if f()? {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            bail!("not done after {limit:?}");
        }
        std::thread::sleep(every);
    }
}

/// `d`'s container file.
fn container_of(d: &Device) -> anyhow::Result<std::path::PathBuf> {
    std::fs::read_dir(d.data_dir())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "coffer"))
        .context("no container")
}

/// A file's length and modification time (`None` when it is not there).
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Two devices on one folder, A with `items` items already on B.
fn coffer_pair(bins: &Bins, items: usize, folder: &Path) -> anyhow::Result<(Device, Device)> {
    let (a, key) = device::with_items(bins, "prop-a", items, folder)?;
    let b = Device::new(bins, "prop-b", true)?;
    b.login("prop-a@bench.example.org", folder, &key)?;
    poll_until(Duration::from_millis(50), Duration::from_secs(120), || {
        Ok(b.status()?["items"].as_u64() == Some(items as u64))
    })
    .context("device B never got A's items")?;
    Ok((a, b))
}

fn coffer_runs(a: &Device, b: &Device, runs: usize) -> anyhow::Result<(Samples, Samples, Samples)> {
    let (mut prop, mut add, mut get) = (Samples::new(), Samples::new(), Samples::new());
    for i in 0..runs {
        // Let the previous round settle on both sides.
        std::thread::sleep(Duration::from_millis(300));
        let title = format!("prop-{i}-{:08x}", rand::random::<u32>());
        let container = container_of(b)?;
        let before = stamp(&container);
        let t0 = Instant::now();
        let out = a.run(&["add", &title, "--password", "p"])?;
        let returned = Instant::now();
        add.push(returned - t0);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // B has it once its container does (a merge is saved before anything
        // else sees it): watched without asking B's daemon, whose lock a
        // poll would hold (`get` of an id B lacks then tries every title).
        // Then `get ID` confirms; if not yet, it is polled.
        let changed = poll_until(Duration::from_millis(1), LIMIT, || {
            Ok(stamp(&container) != before)
        })
        .with_context(|| format!("item {title} never reached device B"))?;
        let seen = if b.try_run(&["get", &id])?.status.success() {
            changed
        } else {
            poll_until(Duration::from_millis(3), LIMIT, || {
                Ok(b.try_run(&["get", &id])?.status.success())
            })
            .with_context(|| format!("item {title} never reached device B"))?
        };
        prop.push(seen - returned);
        get.push(b.time(&["get", &id])?);
    }
    Ok((prop, add, get))
}

/// Runs the propagation measurements.
pub fn run(
    bins: &Bins,
    tools: &[Tool],
    mode: Mode,
    max_items: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let runs = mode.pick(20, 60);
    let mut coffer_medians: Vec<(usize, Summary)> = Vec::new();
    for items in [0usize, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max_items)
    {
        let folder = tempfile::Builder::new()
            .prefix("cb-prop-")
            .tempdir_in("/tmp")?;
        let (mut a, mut b) = coffer_pair(bins, items, folder.path())?;
        let (prop, add, get) = coffer_runs(&a, &b, runs)?;
        let get = get.summary().context("no sample")?;
        let add = add.summary().context("no sample")?;
        let p = prop.summary().context("no sample")?;
        report.add(Row::time(
            SECTION,
            format!("coffer get ID on B ({items} items; the polling step)"),
            get,
        ));
        report.add(Row::time(
            SECTION,
            format!("coffer add on A ({items} items)"),
            add,
        ));
        report.add(
            Row::time(
                SECTION,
                format!("coffer A add returned → B get succeeds ({items} items)"),
                p,
            )
            .vs("coffer get ID on B", &get)
            .target("median and p95 < 50 ms", p.median < 0.050 && p.p95 < 0.050),
        );
        coffer_medians.push((items, p));
        a.stop()?;
        b.stop()?;
    }

    if tools::found(tools, "syncthing").is_none() {
        report.note(tools::missing_note(tools, "syncthing"));
        return Ok(());
    }
    let st_runs = mode.pick(3, 8);
    let mut variants = vec![("default folder settings", json!({}))];
    if mode == Mode::Full {
        variants.push(("fsWatcherDelayS = 1", json!({"fsWatcherDelayS": 1})));
    }
    for (label, extra) in &variants {
        match syncthing_runs(st_runs, extra) {
            Ok((s, cfg)) => {
                report.add(Row::new(
                    SECTION,
                    format!("syncthing folder as configured ({label})"),
                    Value::Text { text: cfg },
                ));
                report.add(Row::time(
                    SECTION,
                    format!("syncthing: plain file written in A → present in B ({label})"),
                    s,
                ));
                for (items, c) in &coffer_medians {
                    report.add(
                        Row::time(
                            SECTION,
                            format!("coffer ({items} items) vs syncthing ({label})"),
                            *c,
                        )
                        .vs("syncthing", &s),
                    );
                }
            }
            Err(e) => report.note(format!("syncthing ({label}) skipped: {e:#}")),
        }
    }
    Ok(())
}

/// Syncthing's own propagation of a small file, `runs` times.
fn syncthing_runs(runs: usize, extra: &serde_json::Value) -> anyhow::Result<(Summary, String)> {
    let fa = tempfile::Builder::new()
        .prefix("cb-sta-")
        .tempdir_in("/tmp")?;
    let fb = tempfile::Builder::new()
        .prefix("cb-stb-")
        .tempdir_in("/tmp")?;
    let (a, _b) = syncthing::pair(fa.path(), fb.path(), extra)?;
    let cfg = a.folder_config()?;
    let cfg_text = format!(
        "fsWatcherEnabled {}, fsWatcherDelayS {}, rescanIntervalS {}",
        cfg["fsWatcherEnabled"], cfg["fsWatcherDelayS"], cfg["rescanIntervalS"]
    );
    println!("  syncthing folder: {cfg_text}");
    let mut s = Samples::new();
    for i in 0..runs {
        std::thread::sleep(Duration::from_millis(500));
        let name = format!("probe-{i}.txt");
        let content = format!("probe {i} {:016x}\n", rand::random::<u64>());
        let tmp = fa.path().join(format!("{name}.part"));
        std::fs::write(&tmp, &content)?;
        std::fs::rename(&tmp, fa.path().join(&name))?;
        let written = Instant::now();
        let target = fb.path().join(&name);
        let seen = poll_until(Duration::from_millis(5), Duration::from_secs(120), || {
            Ok(std::fs::read_to_string(&target).is_ok_and(|t| t == content))
        })
        .with_context(|| format!("{name} never reached the other syncthing folder"))?;
        let took = seen - written;
        println!("  syncthing run {}: {:.2} s", i + 1, took.as_secs_f64());
        s.push(took);
    }
    Ok((s.summary().context("no sample")?, cfg_text))
}
