//! `coffer-bench`: coffer measured side by side with the tools a user would
//! otherwise pick, on the same machine in the same run (issue 8).
//!
//! Every result is a median with its spread, and a ratio against a baseline
//! timed in the same run. Peer tools are looked up, never installed: a
//! missing one is reported with how to get it and its comparison skipped.
//!
//! # Layout
//!
//! - [`cli`]: the command line.
//! - [`tools`]: the peer tools and how to get them.
//! - [`stats`], [`report`]: summaries, ratios, targets and output.
//! - [`proc`]: timing processes; CPU time, memory and wake-ups from `/proc`.
//! - [`device`]: a coffer device in a temporary HOME.
//! - [`cli_rt`]: CLI round trips (`status`, `get`, `add`) vs `/bin/true`, rbw.
//! - [`breakdown`]: the daemon's per-request steps, timed in process.
//! - [`merge`], [`keepass`]: merge cost vs `keepassxc-cli merge`.
//! - [`propagation`], [`syncthing`]: device-to-device propagation vs Syncthing.
//! - [`sync_cost`]: bytes a change writes into the sync folder, files per
//!   device, a sync round's cost, against the previous (version-2) format.
//! - [`unlock`]: unlock from the keyring cache vs a full key derivation.
//! - [`idle`]: idle CPU time and resident memory.
//! - [`coldstart`]: daemon start to ready.
//! - [`search`]: search latency at 10k and 100k items vs `coffer get ID`.
//! - [`agent`]: the SSH agent vs OpenSSH's ssh-agent, the git credential
//!   helper, `coffer run`, and `add` with the locked-listing index.
#![warn(missing_docs)]

mod agent;
mod breakdown;
mod cli;
mod cli_rt;
mod coldstart;
mod device;
mod idle;
mod keepass;
mod merge;
mod proc;
mod propagation;
mod report;
mod search;
mod stats;
mod sync_cost;
mod syncthing;
mod tools;
mod unlock;

use clap::Parser;

pub use cli::Mode;

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
