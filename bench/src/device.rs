//! A coffer device for measurements: a temporary HOME in which the real
//! `coffer` runs (and starts the real `cofferd`), with the secrets in the
//! environment. The daemon can also be started directly, so that its start
//! can be timed; either way it is stopped when the device is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::proc::{self, run_with_timeout};

/// The Account Password of every bench account.
pub const PASSWORD: &str = "bench correct horse battery staple";
/// How long one `coffer` command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Where `coffer` and `cofferd` are.
#[derive(Clone, Debug)]
pub struct Bins {
    /// The client.
    pub coffer: PathBuf,
    /// The daemon.
    pub cofferd: PathBuf,
}

impl Bins {
    /// In `dir`, or else next to this executable (so `cargo build --release
    /// --workspace` puts all three together in `target/release`).
    pub fn locate(dir: Option<&Path>) -> anyhow::Result<Bins> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_exe()
                .context("cannot find this executable's path")?
                .parent()
                .context("this executable has no directory")?
                .to_path_buf(),
        };
        let bins = Bins {
            coffer: dir.join("coffer"),
            cofferd: dir.join("cofferd"),
        };
        for b in [&bins.coffer, &bins.cofferd] {
            if !b.is_file() {
                bail!(
                    "{} not found: build it with `cargo build --release --workspace`, or pass --bin-dir",
                    b.display()
                );
            }
        }
        Ok(bins)
    }
}

/// One device: its own HOME, optionally a daemon started directly.
pub struct Device {
    name: String,
    home: TempDir,
    bins: Bins,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Device {
    /// A fresh device. With `fast_kdf`, signup and login use the cheap test
    /// KDF parameters (`COFFER_KDF=fast`).
    pub fn new(bins: &Bins, name: &str, fast_kdf: bool) -> anyhow::Result<Device> {
        // Short paths: the socket path must fit in sockaddr_un.
        let home = tempfile::Builder::new()
            .prefix(&format!("cb-{name}-"))
            .tempdir_in("/tmp")
            .context("cannot create a temporary HOME")?;
        let mut env = vec![
            (
                "HOME".to_owned(),
                home.path().to_string_lossy().into_owned(),
            ),
            ("COFFER_PASSWORD".to_owned(), PASSWORD.to_owned()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            // Never the user's own keyring; the unlock measurement sets its own.
            ("COFFER_KEYRING".to_owned(), "memory".to_owned()),
        ];
        if fast_kdf {
            env.push(("COFFER_KDF".to_owned(), "fast".to_owned()));
        }
        if let Some(path) = std::env::var_os("PATH") {
            env.push(("PATH".to_owned(), path.to_string_lossy().into_owned()));
        }
        Ok(Device {
            name: name.to_owned(),
            home,
            bins: bins.clone(),
            env,
            child: None,
        })
    }

    /// Sets an environment variable for every later command and daemon.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Its HOME.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Its config file (coffer's XDG default under HOME).
    pub fn config_file(&self) -> PathBuf {
        self.home().join(".config/coffer/config.toml")
    }

    /// Its data directory (where the container lives).
    pub fn data_dir(&self) -> PathBuf {
        self.home().join(".local/share/coffer")
    }

    /// `coffer ARGS` in this device's environment (the daemon is not
    /// started on demand when one was started directly).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins.coffer);
        cmd.args(args).env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.child.is_some() {
            cmd.env("COFFER_NO_AUTOSTART", "1");
        }
        cmd
    }

    /// Runs `coffer ARGS`; an error (with its stderr) unless it succeeds.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let out = self.try_run(args)?;
        if !out.status.success() {
            bail!(
                "device {}: `coffer {}` failed ({}): {}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out)
    }

    /// Runs `coffer ARGS`, whatever its exit status.
    pub fn try_run(&self, args: &[&str]) -> anyhow::Result<Output> {
        run_with_timeout(self.command(args), COMMAND_TIMEOUT)
    }

    /// Runs `coffer ARGS --json`-style commands and parses stdout.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let out = self.run(args)?;
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`coffer {}` printed no JSON: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Times `coffer ARGS` as a whole process (output discarded); an error
    /// unless it succeeds.
    pub fn time(&self, args: &[&str]) -> anyhow::Result<Duration> {
        let (status, took) = proc::time_process(&mut self.command(args))?;
        if !status.success() {
            bail!(
                "device {}: `coffer {}` failed ({status})",
                self.name,
                args.join(" ")
            );
        }
        Ok(took)
    }

    /// `coffer signup` (with `folder` as its sync folder); returns the
    /// Account Key.
    pub fn signup(&self, email: &str, folder: Option<&Path>) -> anyhow::Result<String> {
        let mut args = vec!["signup", "--email", email, "--json"];
        let f;
        if let Some(folder) = folder {
            f = folder.to_string_lossy().into_owned();
            args.extend(["--sync-folder", &f]);
        }
        let v = self.json(&args)?;
        v["account_key"]
            .as_str()
            .map(str::to_owned)
            .context("signup --json printed no account_key")
    }

    /// `coffer login` from `folder` with `account_key`.
    pub fn login(&self, email: &str, folder: &Path, account_key: &str) -> anyhow::Result<()> {
        let f = folder.to_string_lossy().into_owned();
        let mut cmd = self.command(&["login", "--email", email, "--sync-folder", &f]);
        cmd.env("COFFER_ACCOUNT_KEY", account_key);
        let out = run_with_timeout(cmd, COMMAND_TIMEOUT)?;
        if !out.status.success() {
            bail!(
                "device {}: login failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// `coffer status --json`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.json(&["status", "--json"])
    }

    /// The daemon's pid, from `status`.
    pub fn pid(&self) -> anyhow::Result<u32> {
        let v = self.status()?;
        v["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .context("status --json has no pid")
    }

    /// Imports `csv` (generic CSV) into the vault.
    pub fn import_csv(&self, csv: &Path) -> anyhow::Result<()> {
        let p = csv.to_string_lossy().into_owned();
        self.run(&["import", "csv", &p]).map(|_| ())
    }

    /// Writes the daemon's config file (read at daemon start).
    pub fn write_config(&self, toml: &str) -> anyhow::Result<()> {
        let path = self.config_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, toml).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Starts `cofferd` directly (not through the CLI) and returns the
    /// instant it was spawned; later `coffer` runs do not autostart.
    pub fn start_daemon(&mut self) -> anyhow::Result<Instant> {
        if self.child.is_some() {
            bail!("device {}: the daemon was already started", self.name);
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.home().join("cofferd-bench.log"))
            .context("cannot open the daemon log")?;
        let mut cmd = Command::new(&self.bins.cofferd);
        cmd.env_clear();
        for (k, v) in &self.env {
            // The daemon gets no secret, as when the CLI starts it.
            if !k.starts_with("COFFER_PASSWORD") && k != "COFFER_ACCOUNT_KEY" {
                cmd.env(k, v);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot share the log file")?)
            .stderr(log);
        let start = Instant::now();
        let child = cmd.spawn().context("cannot start cofferd")?;
        self.child = Some(child);
        Ok(start)
    }

    /// Polls `coffer status` until it answers (and, with `want_state`,
    /// reports that state); returns when it did.
    pub fn wait_ready(
        &mut self,
        want_state: Option<&str>,
        limit: Duration,
    ) -> anyhow::Result<Instant> {
        let start = Instant::now();
        loop {
            let out = self.try_run(&["status", "--json"])?;
            if out.status.success() {
                let done = match want_state {
                    None => true,
                    Some(s) => serde_json::from_slice::<serde_json::Value>(&out.stdout)
                        .is_ok_and(|v| v["state"] == s),
                };
                if done {
                    return Ok(Instant::now());
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "device {}: cofferd exited ({status}) while starting; log:\n{}",
                        self.name,
                        self.log_tail()
                    );
                }
            }
            if start.elapsed() > limit {
                bail!(
                    "device {}: cofferd not ready after {limit:?}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
        }
    }

    /// Stops the daemon (whichever way it was started) and waits for it to
    /// exit; kills it by pid after 10 s.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let pid = match &self.child {
            Some(c) => Some(c.id()),
            None => self.pid().ok(),
        };
        let Some(pid) = pid else {
            return Ok(()); // no daemon running
        };
        let mut cmd = self.command(&["stop"]);
        cmd.env("COFFER_NO_AUTOSTART", "1");
        let _ = run_with_timeout(cmd, Duration::from_secs(30));
        let gone = match self.child.as_mut() {
            Some(child) => {
                let start = Instant::now();
                loop {
                    if child.try_wait()?.is_some() {
                        break true;
                    }
                    if start.elapsed() > Duration::from_secs(10) {
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            None => proc::wait_gone(pid, Duration::from_secs(10)),
        };
        if !gone {
            proc::signal(pid, libc::SIGKILL);
            if let Some(child) = self.child.as_mut() {
                let _ = child.wait();
            }
        }
        self.child = None;
        Ok(())
    }

    /// The end of the daemon's log (the CLI's log file, or ours).
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        for p in [
            self.home().join("cofferd-bench.log"),
            self.home().join(".local/state/coffer/cofferd.log"),
        ] {
            if let Ok(t) = std::fs::read_to_string(&p) {
                text.push_str(&t);
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Writes a generic CSV (`title,username,password,url,notes`) of `n`
/// items titled `item-000000`… to `path`.
pub fn write_csv(path: &Path, n: usize, prefix: &str) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(n * 96 + 64);
    text.push_str("title,username,password,url,notes\n");
    for i in 0..n {
        let _ = writeln!(
            text,
            "{prefix}-{i:06},user{i}@example.org,pw-{i:06}-{:016x},https://site{i}.example.org/login,note {i}",
            rand::random::<u64>()
        );
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A new device with a vault of `items` items (imported from a CSV), signed
/// up in `folder` and running (started by the CLI); and its Account Key.
pub fn with_items(
    bins: &Bins,
    name: &str,
    items: usize,
    folder: &Path,
) -> anyhow::Result<(Device, String)> {
    let d = Device::new(bins, name, true)?;
    let key = d.signup(&format!("{name}@bench.example.org"), Some(folder))?;
    if items > 0 {
        let csv = d.home().join("items.csv");
        write_csv(&csv, items, "item")?;
        d.import_csv(&csv)?;
        std::fs::remove_file(&csv).ok();
    }
    Ok((d, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_one_line_per_item() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().join("x.csv");
        write_csv(&p, 3, "item").expect("written");
        let text = std::fs::read_to_string(&p).expect("read back");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "title,username,password,url,notes");
        assert_eq!(lines.len(), 4);
        assert!(lines[3].starts_with("item-000002,user2@example.org,pw-000002-"));
        assert_eq!(lines[1].split(',').count(), 5);
    }
}
