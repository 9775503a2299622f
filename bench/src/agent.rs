//! The tools of issue 18 on a vault of 10,000 items, each a whole process
//! timed against a baseline in the same run (interleaved, one of each per
//! round):
//!
//! - `ssh-add -l` and `ssh-keygen -Y sign` through coffer's agent against
//!   OpenSSH's own `ssh-agent` holding the same Ed25519 key;
//! - `coffer run --env X=coffer://ITEM/password -- /bin/true` against
//!   `/bin/true` and against `coffer get ITEM`;
//! - `git credential fill` answered by `credential.helper=coffer` against
//!   a shell helper printing a fixed answer (both through `sh -c` so that
//!   git can read the request from a file);
//! - `coffer add` with `ssh_agent_list_locked = true` (the public-key
//!   index is kept current after every change) against without.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::device::{self, Bins, Device};
use crate::proc;
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::tools;
use crate::Mode;

const SECTION: &str = "SSH agent, git helper, run";
const ITEMS: usize = 10_000;

/// OpenSSH's `ssh-agent` in the foreground on its own socket; killed on drop.
struct OpensshAgent {
    child: Child,
    sock: PathBuf,
}

impl OpensshAgent {
    fn start(agent: &Path, dir: &Path) -> anyhow::Result<OpensshAgent> {
        let sock = dir.join("openssh-agent.sock");
        let child = Command::new(agent)
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start ssh-agent")?;
        let start = Instant::now();
        while !sock.exists() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("ssh-agent made no socket within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(OpensshAgent { child, sock })
    }
}

impl Drop for OpensshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tool ARGS` with a clean environment pointing at the agent `sock`.
fn client(tool: &Path, sock: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SSH_AUTH_SOCK", sock);
    cmd
}

/// Times a process that must exit 0.
fn time_ok(mut cmd: Command) -> anyhow::Result<Duration> {
    let (status, took) = proc::time_process(&mut cmd)?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(took)
}

/// Runs the measurements.
pub fn run(bins: &Bins, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let rounds = mode.pick(30, 150);
    let mut dev = Device::new(bins, "tools", true)?;
    dev.signup("tools@bench.example.org", None)?;
    dev.set_env("COFFER_NO_AUTOSTART", "1");
    let csv = dev.home().join("items.csv");
    device::write_csv(&csv, ITEMS, "item")?;
    dev.import_csv(&csv)?;
    let scratch = tempfile::Builder::new()
        .prefix("cb-ag-")
        .tempdir_in("/tmp")?;

    agents(&dev, scratch.path(), rounds, report)?;
    run_and_git(&dev, bins, scratch.path(), rounds, report)?;
    dev.stop()?;
    add_with_index(bins, mode, report)
}

fn agents(dev: &Device, dir: &Path, rounds: usize, report: &mut Report) -> anyhow::Result<()> {
    let (Some(ssh_add), Some(keygen), Some(agent_bin)) = (
        tools::which("ssh-add"),
        tools::which("ssh-keygen"),
        tools::which("ssh-agent"),
    ) else {
        report.note("ssh-add, ssh-keygen or ssh-agent not found: the agent comparison was skipped (apt-get install openssh-client)");
        return Ok(());
    };
    let public = String::from_utf8_lossy(&dev.run(&["ssh", "generate", "Bench key"])?.stdout)
        .trim()
        .to_owned();
    let private = dev
        .run(&["get", "Bench key", "--field", "ssh-private-key"])?
        .stdout;
    let key = dir.join("bench.key");
    std::fs::write(&key, private)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let pubfile = dir.join("bench.pub");
    std::fs::write(&pubfile, format!("{public}\n"))?;
    let data = dir.join("data");
    std::fs::write(&data, b"signed in the benchmark\n")?;
    let status = dev.status()?;
    let coffer_sock = PathBuf::from(
        status["ssh_agent"]["socket"]
            .as_str()
            .context("status names no agent socket")?,
    );
    let openssh = OpensshAgent::start(&agent_bin, dir)?;
    time_ok(client(
        &ssh_add,
        &openssh.sock,
        dir,
        &[key.to_str().unwrap_or("")],
    ))?;

    let sign = |sock: &Path| -> anyhow::Result<Duration> {
        let _ = std::fs::remove_file(dir.join("data.sig"));
        let p = pubfile.to_string_lossy();
        let d = data.to_string_lossy();
        time_ok(client(
            &keygen,
            sock,
            dir,
            &["-Y", "sign", "-n", "file", "-f", &p, &d],
        ))
    };
    // Warm up both.
    for sock in [&coffer_sock, &openssh.sock] {
        time_ok(client(&ssh_add, sock, dir, &["-l"]))?;
        sign(sock)?;
    }
    let (mut l_c, mut l_o, mut s_c, mut s_o) = (
        Samples::new(),
        Samples::new(),
        Samples::new(),
        Samples::new(),
    );
    for _ in 0..rounds {
        l_c.push(time_ok(client(&ssh_add, &coffer_sock, dir, &["-l"]))?);
        l_o.push(time_ok(client(&ssh_add, &openssh.sock, dir, &["-l"]))?);
        s_c.push(sign(&coffer_sock)?);
        s_o.push(sign(&openssh.sock)?);
    }
    let (l_c, l_o) = (
        l_c.summary().context("no sample")?,
        l_o.summary().context("no sample")?,
    );
    let (s_c, s_o) = (
        s_c.summary().context("no sample")?,
        s_o.summary().context("no sample")?,
    );
    report.add(Row::time(
        SECTION,
        "ssh-add -l, OpenSSH ssh-agent (baseline)",
        l_o,
    ));
    report.add(
        Row::time(SECTION, "ssh-add -l, coffer's agent (10,000 items)", l_c)
            .vs("ssh-agent", &l_o)
            .target("< 2× ssh-agent", l_c.median < 2.0 * l_o.median),
    );
    report.add(Row::time(
        SECTION,
        "ssh-keygen -Y sign, OpenSSH ssh-agent (baseline)",
        s_o,
    ));
    report.add(
        Row::time(
            SECTION,
            "ssh-keygen -Y sign, coffer's agent (10,000 items)",
            s_c,
        )
        .vs("ssh-agent", &s_o)
        .target("< 2× ssh-agent", s_c.median < 2.0 * s_o.median),
    );
    Ok(())
}

fn run_and_git(
    dev: &Device,
    bins: &Bins,
    dir: &Path,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    dev.run(&[
        "add",
        "Bench login",
        "--url",
        "https://git.bench.example.org",
        "--username",
        "bench",
        "--password",
        "bench-pw",
    ])?;
    let (mut t_true, mut t_get, mut t_run) = (Samples::new(), Samples::new(), Samples::new());
    let run_args = [
        "run",
        "--env",
        "X=coffer://Bench%20login/password",
        "--",
        "/bin/true",
    ];
    dev.time(&run_args)?;
    for _ in 0..rounds {
        t_true.push(time_ok(Command::new("/bin/true"))?);
        t_get.push(dev.time(&["get", "Bench login"])?);
        t_run.push(dev.time(&run_args)?);
    }
    let base = t_true.summary().context("no sample")?;
    let get = t_get.summary().context("no sample")?;
    let run = t_run.summary().context("no sample")?;
    report.add(Row::time(SECTION, "/bin/true (baseline)", base));
    report.add(Row::time(SECTION, "coffer get (10,000 items)", get).vs("/bin/true", &base));
    report.add(
        Row::time(
            SECTION,
            "coffer run --env … -- /bin/true (10,000 items)",
            run,
        )
        .vs("/bin/true", &base)
        .vs("coffer get", &get)
        .target("< 1.5× coffer get", run.median < 1.5 * get.median),
    );

    let Some(git) = tools::which("git") else {
        report.note(
            "git not found: the credential helper comparison was skipped (apt-get install git)",
        );
        return Ok(());
    };
    let input = dir.join("fill.txt");
    std::fs::write(&input, "protocol=https\nhost=git.bench.example.org\n\n")?;
    let bin_dir = bins
        .coffer
        .parent()
        .context("coffer has a directory")?
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fill = |helper: &str| -> anyhow::Result<Duration> {
        // The device's environment, with coffer's directory first on PATH.
        let mut cmd = Command::new("sh");
        cmd.env_clear();
        for (k, v) in dev.command(&[]).get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.arg("-c")
            .arg(format!(
                "exec \"$0\" -c credential.helper='{helper}' credential fill < '{}'",
                input.display()
            ))
            .arg(&git)
            .env("PATH", &path)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        time_ok(cmd)
    };
    let shell_helper =
        "!f() { cat >/dev/null; printf \"username=bench\\npassword=bench-pw\\n\"; }; f";
    fill("coffer")?;
    fill(shell_helper)?;
    let (mut t_coffer, mut t_shell) = (Samples::new(), Samples::new());
    for _ in 0..rounds {
        t_coffer.push(fill("coffer")?);
        t_shell.push(fill(shell_helper)?);
    }
    let shell = t_shell.summary().context("no sample")?;
    let coffer = t_coffer.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        "git credential fill, a shell helper (baseline)",
        shell,
    ));
    report.add(
        Row::time(
            SECTION,
            "git credential fill, helper coffer (10,000 items)",
            coffer,
        )
        .vs("shell helper", &shell),
    );
    Ok(())
}

/// `coffer add` on 10,000 items with the public-key index kept current,
/// against without, each on its own device (the option is read at start).
fn add_with_index(bins: &Bins, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    let rounds = mode.pick(30, 100);
    let mut devices = Vec::new();
    for (name, config) in [("plain", ""), ("indexed", "ssh_agent_list_locked = true\n")] {
        let mut dev = Device::new(bins, name, true)?;
        dev.write_config(config)?;
        dev.signup(&format!("{name}@bench.example.org"), None)?;
        dev.set_env("COFFER_NO_AUTOSTART", "1");
        let csv = dev.home().join("items.csv");
        device::write_csv(&csv, ITEMS, "item")?;
        dev.import_csv(&csv)?;
        dev.run(&["ssh", "generate", "Indexed key"])?;
        devices.push(dev);
    }
    let (mut plain, mut indexed) = (Samples::new(), Samples::new());
    for i in 0..rounds {
        for (dev, samples) in devices.iter().zip([&mut plain, &mut indexed]) {
            // Each add on a quiet daemon (the sync round it triggers done).
            std::thread::sleep(Duration::from_millis(150));
            samples.push(dev.time(&["add", &format!("bench-add-{i}"), "--password", "pw"])?);
        }
    }
    let plain = plain.summary().context("no sample")?;
    let indexed = indexed.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        "coffer add (10,000 items, no index)",
        plain,
    ));
    report.add(
        Row::time(
            SECTION,
            "coffer add (10,000 items, ssh_agent_list_locked index kept)",
            indexed,
        )
        .vs("no index", &plain)
        .target(
            "< 1.5× without the index",
            indexed.median < 1.5 * plain.median,
        ),
    );
    for mut dev in devices {
        dev.stop()?;
    }
    Ok(())
}
