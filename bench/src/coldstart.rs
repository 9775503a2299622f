//! Cold start: from spawning `cofferd` to the first successful `coffer
//! status`, with an empty vault and with 10,000 items; against a `coffer
//! status` on the running daemon (the polling step) in the same run.

use std::time::Duration;

use anyhow::Context;

use crate::device::{self, Bins};
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::Mode;

const SECTION: &str = "Cold start";

/// Runs the cold-start measurements.
pub fn run(bins: &Bins, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let runs = mode.pick(10, 30);
    for items in [0usize, 10_000] {
        let folder = tempfile::Builder::new()
            .prefix("cb-cold-")
            .tempdir_in("/tmp")?;
        let (mut dev, _) = device::with_items(bins, &format!("cold{items}"), items, folder.path())?;
        dev.run(&["sync", "now"])?;
        dev.stop()?;
        let (mut cold, mut warm) = (Samples::new(), Samples::new());
        for _ in 0..runs {
            let spawned = dev.start_daemon()?;
            let ready = dev.wait_ready(None, Duration::from_secs(60))?;
            cold.push(ready - spawned);
            for _ in 0..3 {
                warm.push(dev.time(&["status"])?);
            }
            dev.stop()?;
        }
        let warm = warm.summary().context("no sample")?;
        let cold = cold.summary().context("no sample")?;
        report.add(Row::time(
            SECTION,
            format!("coffer status, daemon running ({items} items)"),
            warm,
        ));
        report.add(
            Row::time(
                SECTION,
                format!("cofferd spawn → first successful status ({items} items)"),
                cold,
            )
            .vs("coffer status on a running daemon", &warm),
        );
    }
    Ok(())
}
