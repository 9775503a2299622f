//! The command line: which measurements to run, quick or full, where the
//! binaries are and where to write the results.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::device::Bins;
use crate::report::Report;
use crate::tools;

/// How many samples to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Few samples: the whole harness in a few minutes.
    Quick,
    /// More samples and sizes: tighter spreads, longer runs.
    Full,
}

impl Mode {
    /// `quick` in quick mode, `full` in full mode.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    fn name(self) -> &'static str {
        self.pick("quick", "full")
    }
}

/// coffer measured side by side with rbw, keepassxc-cli and Syncthing.
#[derive(Parser, Debug)]
#[command(
    name = "coffer-bench",
    version,
    after_help = "Examples:\n  cargo build --release --workspace\n  target/release/coffer-bench all\n  target/release/coffer-bench --full --markdown results.md merge\n\n\
Nothing is installed: `coffer-bench tools` says which peer tools were found and how to get\n\
the others (cargo install rbw; apt-get install keepassxc syncthing keyutils)."
)]
pub struct Args {
    /// More samples and sizes (the default is a quick run of a few minutes).
    #[arg(long, global = true)]
    pub full: bool,
    /// Directory holding `coffer` and `cofferd` (default: next to this binary).
    #[arg(long, global = true, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Also write the results as Markdown tables to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Skip vault sizes above N items (merge and idle).
    #[arg(long, global = true, value_name = "N", default_value_t = 100_000)]
    pub max_items: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Directory holding the previous `coffer` and `cofferd` (a release build
    /// of the commit before the change): `sync-cost` measures them too.
    #[arg(long, global = true, value_name = "DIR")]
    pub baseline_bin_dir: Option<PathBuf>,
    /// What to measure.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The measurements.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// Which peer tools are installed, and how to get the others.
    Tools,
    /// CLI round trips: status vs /bin/true and rbw; get and add on 10,000 items.
    Cli,
    /// Merging two vaults (in process and through the daemon) vs keepassxc-cli merge.
    Merge,
    /// Propagation between two devices through a shared folder vs Syncthing.
    Propagation,
    /// Bytes a change writes into the sync folder, files per device, a sync round's cost.
    SyncCost,
    /// Unlock from the keyring cache after a restart vs a full key derivation.
    Unlock,
    /// The daemon's idle CPU time and resident memory at 1k, 10k, 100k items.
    Idle,
    /// Daemon start to ready.
    Coldstart,
    /// The daemon's per-request steps timed in process at 10,000 items.
    Breakdown,
    /// Search latency at 10,000 and 100,000 items vs `coffer get ID`.
    Search,
    /// The SSH agent vs ssh-agent, git's helper, coffer run, add with the agent's index.
    Agent,
    /// Everything above, in turn.
    All,
    /// (internal) the unlock measurement inside a kernel session keyring.
    #[command(hide = true)]
    UnlockInner,
}

/// Runs what `args` asks for.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mode = if args.full { Mode::Full } else { Mode::Quick };
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: coffer-bench is a debug build, and so are the coffer binaries next to it; \
             numbers are only meaningful from `cargo build --release --workspace`"
        );
    }
    let tools = tools::check_all();
    let mut report = Report::new(mode.name());
    if args.command == Cmd::Tools {
        tools::print(&tools);
        return Ok(());
    }
    let bins = Bins::locate(args.bin_dir.as_deref())?;
    let baseline = match &args.baseline_bin_dir {
        Some(dir) => Some(Bins::locate(Some(dir))?),
        None => None,
    };
    if args.command != Cmd::UnlockInner {
        println!("coffer-bench ({} mode) on {}", mode.name(), report.machine);
        let load: f64 = crate::report::load_average().parse().unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if load > cores / 2.0 {
            eprintln!(
                "warning: the load average is {load:.1} on {cores} cores: other work is running, \
                 and whole-process timings will be inflated; measure on a quiet machine"
            );
        }
        println!(
            "binaries: {} and {}",
            bins.coffer.display(),
            bins.cofferd.display()
        );
        tools::print(&tools);
    }
    let all = args.command == Cmd::All;
    let mut failures = Vec::new();
    let mut step = |name: &str, cmd: Cmd, report: &mut Report| -> anyhow::Result<()> {
        // `all` runs every measurement but not the internal half of `unlock`.
        if !((all && cmd != Cmd::UnlockInner) || args.command == cmd) {
            return Ok(());
        }
        let result = match cmd {
            Cmd::Cli => crate::cli_rt::run(&bins, &tools, mode, report),
            Cmd::Merge => crate::merge::run(&bins, &tools, mode, args.max_items, report),
            Cmd::Breakdown => crate::breakdown::run(mode, report),
            Cmd::Propagation => {
                crate::propagation::run(&bins, &tools, mode, args.max_items, report)
            }
            Cmd::SyncCost => {
                crate::sync_cost::run(&bins, baseline.as_ref(), mode, args.max_items, report)
            }
            Cmd::Unlock => crate::unlock::run(&bins, &tools, mode, report),
            Cmd::Idle => crate::idle::run(&bins, mode, args.max_items, report),
            Cmd::Coldstart => crate::coldstart::run(&bins, mode, report),
            Cmd::Agent => crate::agent::run(&bins, mode, report),
            Cmd::UnlockInner => crate::unlock::run_inner(&bins, mode, report),
            Cmd::Search => crate::search::run(&bins, mode, args.max_items, report),
            Cmd::Tools | Cmd::All => Ok(()),
        };
        if let Err(e) = result {
            if all {
                // One failed measurement does not lose the others.
                eprintln!("coffer-bench: {name} failed: {e:#}");
                report.note(format!("{name} failed: {e:#}"));
                failures.push(name.to_owned());
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    };
    step("cli", Cmd::Cli, &mut report)?;
    step("breakdown", Cmd::Breakdown, &mut report)?;
    step("coldstart", Cmd::Coldstart, &mut report)?;
    step("unlock", Cmd::Unlock, &mut report)?;
    step("merge", Cmd::Merge, &mut report)?;
    step("propagation", Cmd::Propagation, &mut report)?;
    step("sync-cost", Cmd::SyncCost, &mut report)?;
    step("idle", Cmd::Idle, &mut report)?;
    step("search", Cmd::Search, &mut report)?;
    step("agent", Cmd::Agent, &mut report)?;
    step("unlock-inner", Cmd::UnlockInner, &mut report)?;
    if args.command == Cmd::UnlockInner {
        // The parent reads the rows back from this JSON.
        return report.write(None, args.json.as_deref());
    }
    report.print_targets();
    report.write(args.markdown.as_deref(), args.json.as_deref())?;
    if !failures.is_empty() {
        anyhow::bail!("some measurements failed: {}", failures.join(", "));
    }
    Ok(())
}
