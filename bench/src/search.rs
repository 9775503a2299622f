//! Search latency (issue 17): `coffer search` and `coffer get` with search
//! terms at 10,000 and 100,000 items, against `coffer get ID` (the CLI
//! round trip that reads one item) timed in the same rounds; and the first
//! search after an unlock, which builds the daemon's search index.
//!
//! Every item has a title `item-NNNNNN`, a username `userN@example.org`
//! and a URL `https://siteN.example.org/login` (so every URL has the
//! registrable domain `example.org`, and a domain query for one of them
//! matches them all: a row measures that, limited to 20 results); one more
//! item has `https://login.bench-unique.example.net`, the one-hit domain
//! query.

use anyhow::Context;

use crate::device::{self, Bins};
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::Mode;

const SECTION: &str = "Search";

/// Runs the search measurements, sizes up to `max_items`.
pub fn run(bins: &Bins, mode: Mode, max_items: usize, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    for n in [10_000usize, 100_000] {
        if n > max_items {
            report.note(format!(
                "search at {n} items skipped (--max-items {max_items})"
            ));
            continue;
        }
        size(bins, mode, n, report)?;
    }
    Ok(())
}

fn size(bins: &Bins, mode: Mode, n: usize, report: &mut Report) -> anyhow::Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("cb-search-")
        .tempdir_in("/tmp")?;
    let (mut dev, _) = device::with_items(bins, "search", n, folder.path())?;
    dev.set_env("COFFER_NO_AUTOSTART", "1");
    let id = String::from_utf8_lossy(
        &dev.run(&[
            "add",
            "bench-by-id",
            "--password",
            "x",
            "--url",
            "https://login.bench-unique.example.net/",
        ])?
        .stdout,
    )
    .trim()
    .to_owned();
    let k = n / 2;
    let one_title = format!("item-{k:06}");
    let one_domain = "bench-unique.example.net".to_owned();
    let shared_domain = format!("site{k}.example.org");
    let one_user = format!("user{k}@example");
    // A title prefix 100 items share ("item-0500" matches item-050000 to
    // item-050099).
    let hundred = format!("item-{:04}", k / 100);
    let what = |q: &str| format!("{q} ({n} items)");

    // Warm up: the first search builds the index.
    dev.time(&["search", &one_title])?;
    let rounds = mode.pick(30, 100);
    let mut t_id = Samples::new();
    let mut t_title = Samples::new();
    let mut t_domain = Samples::new();
    let mut t_get_terms = Samples::new();
    let mut t_hundred = Samples::new();
    let mut t_shared = Samples::new();
    for _ in 0..rounds {
        t_id.push(dev.time(&["get", &id])?);
        t_title.push(dev.time(&["search", &one_title])?);
        t_domain.push(dev.time(&["search", &one_domain])?);
        t_get_terms.push(dev.time(&["get", &one_user])?);
        t_hundred.push(dev.time(&["search", &hundred, "--limit", "20"])?);
        t_shared.push(dev.time(&["search", &shared_domain, "--limit", "20"])?);
    }
    let base = t_id.summary().context("no get ID sample")?;
    report.add(Row::time(SECTION, what("coffer get ID (baseline)"), base));
    let s = t_title.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, what("coffer search TITLE (1 hit)"), s)
            .vs("get ID", &base)
            .target("< 100 ms", s.median < 0.100),
    );
    let s = t_domain.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, what("coffer search DOMAIN (1 hit)"), s)
            .vs("get ID", &base)
            .target("< 100 ms", s.median < 0.100),
    );
    let s = t_get_terms.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, what("coffer get USERNAME-PART (search, 1 hit)"), s)
            .vs("get ID", &base)
            .target("< 100 ms", s.median < 0.100),
    );
    let s = t_hundred.summary().context("no sample")?;
    report.add(
        Row::time(
            SECTION,
            what("coffer search --limit 20 (100 items match)"),
            s,
        )
        .vs("get ID", &base),
    );
    let s = t_shared.summary().context("no sample")?;
    report.add(
        Row::time(
            SECTION,
            what("coffer search DOMAIN --limit 20 (every item matches)"),
            s,
        )
        .vs("get ID", &base),
    );

    // The first search after an unlock builds the index of every item.
    let build_rounds = mode.pick(3, 8);
    let mut t_build = Samples::new();
    let mut t_unlocked_get = Samples::new();
    for _ in 0..build_rounds {
        dev.run(&["lock"])?;
        dev.run(&["unlock"])?;
        t_unlocked_get.push(dev.time(&["get", &id])?);
        dev.run(&["lock"])?;
        dev.run(&["unlock"])?;
        t_build.push(dev.time(&["search", &one_title])?);
    }
    let after_unlock = t_unlocked_get.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        what("coffer get ID, first after unlock"),
        after_unlock,
    ));
    let b = t_build.summary().context("no sample")?;
    report.add(
        Row::time(
            SECTION,
            what("coffer search, first after unlock (builds the index)"),
            b,
        )
        .vs("get ID first after unlock", &after_unlock),
    );
    dev.stop()?;
    Ok(())
}
