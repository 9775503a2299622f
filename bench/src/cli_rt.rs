//! CLI round trips, each a whole process from spawn to exit: `coffer
//! status` against `/bin/true` and against `rbw unlocked` (rbw's client
//! asking its agent, which has an email configured but no account and is
//! locked: one request over its socket, one answer); then
//! `coffer get` and `coffer add` on a vault of 10,000 items.
//!
//! The commands are interleaved (one of each per round), so that a burst of
//! noise on the machine hits every contender alike.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::device::{self, Bins, Device};
use crate::proc;
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::tools::{self, Tool};
use crate::Mode;

const SECTION: &str = "CLI round trip";

/// rbw's agent with a throwaway HOME and XDG directories, and no account.
struct RbwAgent {
    dir: TempDir,
    rbw: PathBuf,
    child: Child,
}

impl RbwAgent {
    /// Starts `rbw-agent --no-daemonize` and waits until `rbw unlocked`
    /// gets an answer from it (the agent says it is locked).
    fn start(rbw: &Path, agent: &Path) -> anyhow::Result<RbwAgent> {
        let dir = tempfile::Builder::new()
            .prefix("cb-rbw-")
            .tempdir_in("/tmp")
            .context("cannot create rbw's temporary HOME")?;
        for sub in ["config", "cache", "data", "runtime"] {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
        }
        // An email is all the config rbw needs to run its agent; no
        // account, no server is ever contacted.
        let mut config = Command::new(rbw);
        config.args(["config", "set", "email", "bench@example.org"]);
        apply_env(&mut config, dir.path());
        let out = proc::run_with_timeout(config, Duration::from_secs(10))?;
        if !out.status.success() {
            bail!(
                "rbw config set email failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut cmd = Command::new(agent);
        cmd.arg("--no-daemonize");
        apply_env(&mut cmd, dir.path());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start rbw-agent")?;
        let agent = RbwAgent {
            dir,
            rbw: rbw.to_path_buf(),
            child,
        };
        let start = Instant::now();
        loop {
            let out = proc::run_with_timeout(agent.command(), Duration::from_secs(10))?;
            let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
            if err.contains("locked") {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!(
                    "rbw unlocked never got an answer from rbw-agent: {}",
                    err.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(agent)
    }

    /// `rbw unlocked` in the agent's environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.rbw);
        cmd.arg("unlocked");
        apply_env(&mut cmd, self.dir.path());
        cmd
    }
}

impl Drop for RbwAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn apply_env(cmd: &mut Command, dir: &Path) {
    cmd.env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
}

/// Times a process that must exit 0.
fn time_ok(cmd: &mut Command) -> anyhow::Result<Duration> {
    let (status, took) = proc::time_process(cmd)?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(took)
}

/// Runs the CLI round-trip measurements.
pub fn run(bins: &Bins, tools: &[Tool], mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let rounds = mode.pick(100, 400);
    let folder = tempfile::Builder::new()
        .prefix("cb-sync-")
        .tempdir_in("/tmp")?;
    let mut dev = Device::new(bins, "cli", true)?;
    dev.signup("cli@bench.example.org", Some(folder.path()))?;
    // The daemon was started by the CLI; every later run just connects.
    dev.set_env("COFFER_NO_AUTOSTART", "1");

    let rbw = match (tools::found(tools, "rbw"), tools::found(tools, "rbw-agent")) {
        (Some(r), Some(a)) => match RbwAgent::start(r, a) {
            Ok(agent) => Some(agent),
            Err(e) => {
                report.note(format!("rbw skipped: {e:#}"));
                None
            }
        },
        _ => {
            report.note(tools::missing_note(tools, "rbw"));
            None
        }
    };

    // Warm up every contender once (page cache, dynamic loader).
    time_ok(&mut Command::new("/bin/true"))?;
    dev.time(&["status"])?;
    if let Some(agent) = &rbw {
        proc::time_process(&mut agent.command())?;
    }

    let (mut t_true, mut t_status, mut t_rbw) = (Samples::new(), Samples::new(), Samples::new());
    for _ in 0..rounds {
        t_true.push(time_ok(&mut Command::new("/bin/true"))?);
        t_status.push(dev.time(&["status"])?);
        if let Some(agent) = &rbw {
            // rbw exits 1 ("the agent is locked"): the answer is what counts.
            t_rbw.push(proc::time_process(&mut agent.command())?.1);
        }
    }
    let base = t_true.summary().context("no /bin/true sample")?;
    let status = t_status.summary().context("no status sample")?;
    report.add(Row::time(SECTION, "/bin/true (baseline)", base));
    let mut row = Row::time(SECTION, "coffer status (empty vault)", status).vs("/bin/true", &base);
    let under3 = status.median < 3.0 * base.median;
    if let Some(rbw_s) = t_rbw.summary() {
        report.add(
            Row::time(SECTION, "rbw unlocked (agent, no account)", rbw_s).vs("/bin/true", &base),
        );
        row = row.vs("rbw unlocked", &rbw_s).target(
            "< 3× /bin/true and faster than rbw",
            under3 && status.median < rbw_s.median,
        );
    } else {
        row = row.target("< 3× /bin/true (rbw not measured)", under3);
    }
    report.add(row);
    drop(rbw);

    // A vault of 10,000 items.
    let n = 10_000;
    let csv = dev.home().join("items.csv");
    device::write_csv(&csv, n, "item")?;
    dev.import_csv(&csv)?;
    let id = String::from_utf8_lossy(&dev.run(&["add", "bench-by-id", "--password", "x"])?.stdout)
        .trim()
        .to_owned();
    let title = format!("item-{:06}", n / 2);
    let get_rounds = mode.pick(40, 200);
    let (mut t_true, mut t_status, mut t_get_title, mut t_get_id) = (
        Samples::new(),
        Samples::new(),
        Samples::new(),
        Samples::new(),
    );
    dev.time(&["get", &title])?;
    for _ in 0..get_rounds {
        t_true.push(time_ok(&mut Command::new("/bin/true"))?);
        t_status.push(dev.time(&["status"])?);
        t_get_title.push(dev.time(&["get", &title])?);
        t_get_id.push(dev.time(&["get", &id])?);
    }
    let base = t_true.summary().context("no /bin/true sample")?;
    report.add(Row::time(SECTION, "/bin/true (baseline, 10k run)", base));
    let s = t_status.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, "coffer status (10,000 items)", s)
            .vs("/bin/true", &base)
            .target("< 3× /bin/true", s.median < 3.0 * base.median),
    );
    let g = t_get_title.summary().context("no sample")?;
    report.add(Row::time(SECTION, "coffer get TITLE (10,000 items)", g).vs("/bin/true", &base));
    let g = t_get_id.summary().context("no sample")?;
    report.add(Row::time(SECTION, "coffer get ID (10,000 items)", g).vs("/bin/true", &base));

    // Adds: each on a quiet daemon (the sync round an add triggers after
    // its answer is let finish first), then back to back.
    let add_rounds = mode.pick(30, 100);
    let mut t_add = Samples::new();
    for i in 0..add_rounds {
        std::thread::sleep(Duration::from_millis(150));
        t_add.push(dev.time(&["add", &format!("bench-add-{i}"), "--password", "pw"])?);
    }
    let mut t_burst = Samples::new();
    for i in 0..add_rounds {
        t_burst.push(dev.time(&["add", &format!("bench-burst-{i}"), "--password", "pw"])?);
    }
    let a = t_add.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, "coffer add (10,000 items, quiet daemon)", a)
            .vs("/bin/true", &base)
            .target("< 20 ms", a.median < 0.020),
    );
    let b = t_burst.summary().context("no sample")?;
    report.add(
        Row::time(SECTION, "coffer add (10,000 items, back to back)", b).vs("/bin/true", &base),
    );
    dev.stop()?;
    Ok(())
}
