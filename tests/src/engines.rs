//! Real two-way sync engines between two folders, for the engine tests
//! (issue 20): `rclone bisync` and `unison`, run once on demand
//! ([`TwoWay::run`]) or in a loop on a helper thread ([`EngineLoop`]), as a
//! user's cron job or systemd timer would. Every run's outcome is kept, so
//! a test can check that the engine never refused one (rclone's "too many
//! deletes" safety abort).
//!
//! rclone 1.60's bisync stops with "path1 and path2 are out of sync" when
//! a file appears or goes on either side while it runs (it compares both
//! sides' listings once it has copied), and then refuses every later run
//! until one is made with `--resync`: rclone's own message says so, and a
//! wrapper script a user runs from cron does it (newer rclone does it
//! itself with `--resilient --recover`). Any program writing into the
//! folder causes it, so [`EngineLoop`] does what the message says
//! ([`TwoWay::recovery`]) and [`refusals`] tells such a race from a refusal.
//!
//! Each engine keeps its state (rclone's listings, unison's archives) in a
//! temporary directory of its own, never in the user's home, and reads no
//! configuration file: rclone gets a config path that does not exist and
//! uses its defaults, unison a fresh `HOME`. Both run with their default
//! safety settings (no `--force`, no `--max-delete`, no `-confirmbigdeletes
//! false`) and one filter, coffer's temp files (`.*.tmp`), which any setup
//! of these engines for coffer needs (see [`Rclone`], [`Unison`]); unison
//! is given the preferences a test names.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::fleet::Fleet;
use crate::process::run_with_timeout;
use crate::{short_tempdir, text, tools, Device};

/// The longest one engine run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One run of an engine.
#[derive(Debug, Clone)]
pub struct Run {
    /// Whether it exited 0.
    pub ok: bool,
    /// What it printed (stdout, then stderr).
    pub output: String,
    /// When it started.
    pub started: Instant,
    /// How long it took.
    pub took: Duration,
    /// Whether it was the run the engine asked for after a failed one
    /// ([`TwoWay::recovery`]).
    pub recovery: bool,
}

impl Run {
    /// Whether it failed because a file came or went on either side while
    /// the engine ran (rclone's listing check: "out of sync"; a file it
    /// listed and then could not open: "no such file or directory"), not
    /// because the engine refused what it found.
    pub fn raced(&self) -> bool {
        !self.ok
            && (self.output.contains("path1 and path2 are out of sync")
                || self.output.contains("no such file or directory"))
            && !self.output.contains("too many deletes")
    }
}

/// An engine that brings two folders in step when run.
pub trait TwoWay: Send + Sync + 'static {
    /// What to call it in messages.
    fn name(&self) -> &'static str;
    /// The command of one run.
    fn command(&self) -> Command;

    /// One run, to completion (killed after [`RUN_TIMEOUT`]).
    fn run(&self) -> Run {
        run_command(self.command())
    }

    /// The command the engine's own message asks for after `failed`, when
    /// it refuses to go on without it (rclone's `--resync`); `None` when a
    /// plain run is next.
    fn recovery(&self, _failed: &Run) -> Option<Command> {
        None
    }

    /// Runs until a run succeeds, making the recovery the engine asks for
    /// after a failed one, at most five plain runs, a second apart (so that
    /// what a device does about a recovery, such as removing its own
    /// superseded files that a `--resync` brought back, is done between
    /// two runs). Every run.
    fn settle(&self) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for _ in 0..5 {
            if runs.last().is_some_and(|r| !r.ok || r.recovery) {
                std::thread::sleep(Duration::from_secs(1));
            }
            let run = self.run();
            let recovery = (!run.ok).then(|| self.recovery(&run)).flatten();
            let ok = run.ok;
            runs.push(run);
            if ok {
                break;
            }
            if let Some(cmd) = recovery {
                runs.push(recovery_run(cmd));
            }
        }
        runs
    }
}

/// Runs `cmd` as the recovery an engine asked for.
fn recovery_run(cmd: Command) -> Run {
    Run {
        recovery: true,
        ..run_command(cmd)
    }
}

/// Runs `cmd` to completion (killed after [`RUN_TIMEOUT`]).
fn run_command(cmd: Command) -> Run {
    let started = Instant::now();
    let (ok, output) = match run_with_timeout(cmd, RUN_TIMEOUT) {
        Ok(out) => (
            out.status.success(),
            format!("{}{}", crate::stdout(&out), crate::stderr(&out)),
        ),
        Err(e) => (false, e),
    };
    Run {
        ok,
        output,
        started,
        took: started.elapsed(),
        recovery: false,
    }
}

/// `rclone bisync A B` with rclone's default safety settings, and the one
/// filter a folder coffer writes into needs: `--exclude ".*.tmp"`, its
/// temp files (DESIGN §3), which exist for the few milliseconds of a write.
/// rclone 1.60 lists hidden files like any other, and a name that comes and
/// goes during a run stops it with "path1 and path2 are out of sync, run
/// --resync" (seen by running it without the filter).
pub struct Rclone {
    bin: PathBuf,
    a: PathBuf,
    b: PathBuf,
    work: TempDir,
}

impl Rclone {
    /// rclone between `a` (its Path1) and `b` (Path2); `None` after a skip
    /// note when rclone is not installed (a panic under
    /// `COFFER_REQUIRE_TOOLS=1`). Its first run must be [`resync`](Self::resync),
    /// once `a` holds something (rclone refuses to sync an empty listing).
    pub fn between(a: &Path, b: &Path) -> Option<Rclone> {
        Some(Rclone {
            bin: tools::require_tool("rclone")?,
            a: a.to_owned(),
            b: b.to_owned(),
            work: short_tempdir("rw"),
        })
    }

    fn base(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("HOME", self.work.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RCLONE_CONFIG", self.work.path().join("none.conf"))
            .arg("bisync")
            .arg(&self.a)
            .arg(&self.b)
            .arg("--workdir")
            .arg(self.work.path().join("bisync"))
            .args(["--exclude", ".*.tmp"])
            .arg("--verbose");
        cmd
    }

    /// The first run: `--resync` (copies what each side lacks, deletes nothing).
    pub fn resync(&self) -> Run {
        let mut cmd = self.base();
        cmd.arg("--resync");
        let run = run_command(cmd);
        assert!(run.ok, "rclone bisync --resync failed:\n{}", run.output);
        run
    }

    /// The installed version line (`rclone v1.60.1-DEV`).
    pub fn version(&self) -> String {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("version");
        run_with_timeout(cmd, RUN_TIMEOUT)
            .map(|o| crate::stdout(&o).lines().next().unwrap_or("").to_owned())
            .unwrap_or_default()
    }
}

impl TwoWay for Rclone {
    fn name(&self) -> &'static str {
        "rclone bisync"
    }

    fn command(&self) -> Command {
        self.base()
    }

    fn recovery(&self, failed: &Run) -> Option<Command> {
        failed.output.contains("Must run --resync").then(|| {
            let mut cmd = self.base();
            cmd.arg("--resync");
            cmd
        })
    }
}

/// `unison A B -batch -auto -ignore "Name .*.tmp"` with the preferences a
/// test names. The ignore is the one a folder coffer writes into needs:
/// its temp files (DESIGN §3), which exist for the few milliseconds of a
/// write; unison 2.52 otherwise fails a run with "Error in digesting …: No
/// such file or directory" when one vanishes under it (seen by running it).
pub struct Unison {
    bin: PathBuf,
    a: PathBuf,
    b: PathBuf,
    home: TempDir,
    prefs: Vec<String>,
}

impl Unison {
    /// unison between `a` and `b`, run with `-batch -auto` and `prefs`
    /// (e.g. `-prefer newer`, `-copyonconflict`); `None` after a skip note
    /// when unison is not installed (a panic under `COFFER_REQUIRE_TOOLS=1`).
    pub fn between(a: &Path, b: &Path, prefs: &[&str]) -> Option<Unison> {
        Some(Unison {
            bin: tools::require_tool("unison")?,
            a: a.to_owned(),
            b: b.to_owned(),
            home: short_tempdir("uh"),
            prefs: prefs.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    /// The installed version line (`unison version 2.52.1 …`).
    pub fn version(&self) -> String {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-version").env("HOME", self.home.path());
        run_with_timeout(cmd, RUN_TIMEOUT)
            .map(|o| crate::stdout(&o).trim().to_owned())
            .unwrap_or_default()
    }
}

impl TwoWay for Unison {
    fn name(&self) -> &'static str {
        "unison"
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg(&self.a)
            .arg(&self.b)
            .args(["-batch", "-auto", "-ignore", "Name .*.tmp"])
            .args(&self.prefs);
        cmd
    }
}

/// An engine run in a loop on a helper thread, a pause between runs, until
/// stopped (or dropped). After a failed run, the next one is the recovery
/// the engine asks for, if any ([`TwoWay::recovery`]); one still due when
/// the loop is stopped is made before it ends.
pub struct EngineLoop {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    runs: Arc<Mutex<Vec<Run>>>,
}

impl EngineLoop {
    /// Runs `engine` now and then again `pause` after each run ends.
    pub fn start<E: TwoWay>(engine: Arc<E>, pause: Duration) -> EngineLoop {
        let (stop, stopped) = mpsc::channel::<()>();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&runs);
        let handle = std::thread::spawn(move || {
            let mut due: Option<Command> = None;
            loop {
                let run = match due.take() {
                    Some(cmd) => recovery_run(cmd),
                    None => engine.run(),
                };
                if !run.ok {
                    due = engine.recovery(&run);
                }
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(run);
                let go_on = matches!(
                    stopped.recv_timeout(pause),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                if !go_on {
                    if let Some(cmd) = due.take() {
                        let run = recovery_run(cmd);
                        kept.lock().unwrap_or_else(|p| p.into_inner()).push(run);
                    }
                    break;
                }
            }
        });
        EngineLoop {
            stop: Some(stop),
            handle: Some(handle),
            runs,
        }
    }

    /// Every run so far.
    pub fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops after the run in progress and returns every run.
    pub fn stop(mut self) -> Vec<Run> {
        self.halt();
        self.runs()
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for EngineLoop {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The runs that failed, each with its output, for an assertion message
/// (empty when every run succeeded).
pub fn failures(runs: &[Run]) -> String {
    describe(runs.iter().filter(|r| !r.ok))
}

/// The runs that failed for any reason but a race with a writer
/// ([`Run::raced`]), each with its output (empty when there is none): a
/// refused run ("too many deletes"), a failed recovery, any other error.
pub fn refusals(runs: &[Run]) -> String {
    describe(runs.iter().filter(|r| !r.ok && !r.raced()))
}

fn describe<'a>(runs: impl Iterator<Item = &'a Run>) -> String {
    runs.map(|r| {
        let what = if r.recovery { "recovery run" } else { "run" };
        format!("-- a {what} that failed after {:?}:\n{}", r.took, r.output)
    })
    .collect::<Vec<_>>()
    .join("\n")
}

// Two devices, each in its own folder, with an engine between the folders.

/// Both folders of `f` hold the same `account.json` and the files of the
/// devices `ids` only ([`crate::names::all_clean`]).
pub fn pair_clean(f: &Fleet<2>, ids: &std::collections::BTreeSet<String>) -> bool {
    crate::names::all_clean(&[f.account_dir(0), f.account_dir(1)], ids)
}

/// The device ids of `devs`.
pub fn device_ids(devs: &[&Device]) -> std::collections::BTreeSet<String> {
    devs.iter()
        .map(|d| text(&d.status()["device_id"]))
        .collect()
}

/// What both folders of `f` hold.
pub fn listing(f: &Fleet<2>) -> String {
    format!(
        "a: {:?}\nb: {:?}",
        crate::folder::names(&f.account_dir(0)),
        crate::folder::names(&f.account_dir(1))
    )
}

/// What a wait that ran out reports: both folders, both devices' ids and
/// folder health, the engine's last runs.
pub fn context(f: &Fleet<2>, engine: &EngineLoop) -> String {
    let devices: Vec<String> = f
        .devices
        .iter()
        .map(|d| {
            let st = d.status();
            format!(
                "{} = {} ({}): {}",
                d.name(),
                st["device_id"],
                st["state"],
                st["sync_folders"]
            )
        })
        .collect();
    let runs = engine.runs();
    let last: Vec<String> = runs
        .iter()
        .rev()
        .take(3)
        .map(|r| r.output.clone())
        .collect();
    format!(
        "{}\n{}\nlast runs:\n{}",
        listing(f),
        devices.join("\n"),
        last.join("\n--\n")
    )
}

/// Concurrent edits of one item (`Mail`, on both devices of `f`) while the
/// engine does not run: `running` is stopped, a changes the username and
/// b the password, both the notes; then a new loop of `engine` (`pause`
/// between runs) must bring both devices to both edits and one winner for
/// the notes, the loser kept in each device's history (within `limit`).
/// The stopped loop's runs and the new loop.
pub fn concurrent_edits<E: TwoWay>(
    running: EngineLoop,
    engine: &Arc<E>,
    pause: Duration,
    f: &Fleet<2>,
    limit: Duration,
) -> (Vec<Run>, EngineLoop) {
    use crate::items::{field, history_values, item};
    let [a, b] = &f.devices;
    let runs = running.stop();
    a.ok(&[
        "edit",
        "Mail",
        "--username",
        "from-a",
        "--notes",
        "notes of a",
    ]);
    b.ok(&[
        "edit",
        "Mail",
        "--password",
        "from-b",
        "--notes",
        "notes of b",
    ]);
    let next = EngineLoop::start(Arc::clone(engine), pause);
    let merged = crate::wait::wait_until(
        "both devices show both edits and one winner for the notes",
        limit,
        || {
            let (va, vb) = (item(a, "Mail")?, item(b, "Mail")?);
            let both = [&va, &vb]
                .iter()
                .all(|v| field(v, "username") == "from-a" && field(v, "password") == "from-b");
            (both && field(&va, "notes") == field(&vb, "notes")).then_some(va)
        },
        || context(f, &next),
    );
    let loser = if field(&merged, "notes") == "notes of a" {
        "notes of b"
    } else {
        "notes of a"
    };
    for d in [a, b] {
        let history = history_values(d, "Mail", "notes");
        assert!(
            history.iter().any(|h| h == loser),
            "device {}: {loser:?} not in the history {history:?}",
            d.name()
        );
    }
    (runs, next)
}

/// Stops the loop once no device of `f` has anything left to publish, and
/// runs `engine` until a run succeeds ([`TwoWay::settle`]), so that both
/// folders are alike and nothing
/// changes until the test changes something. Every run, the last included.
pub fn quiesce<E: TwoWay>(running: EngineLoop, engine: &Arc<E>, f: &Fleet<2>) -> Vec<Run> {
    let mut runs = running.stop();
    for d in &f.devices {
        d.ok(&["sync", "now"]);
    }
    let last = engine.settle();
    let ok = last.last().is_some_and(|r| r.ok);
    runs.extend(last);
    assert!(ok, "the last runs failed:\n{}", failures(&runs));
    runs
}
