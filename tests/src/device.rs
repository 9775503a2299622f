//! A simulated device: a temporary HOME with its own environment, in which
//! the real `coffer` runs (and starts the real `cofferd`), and [`Call`], one
//! run with extra variables and a timeout. Dropping a device stops its
//! daemon.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use coffer_proto::dirs::{Dirs, Env};
use tempfile::TempDir;

use crate::process::{run_with_timeout, send_signal, wait_gone};
use crate::{coffer_bin, cofferd_bin, short_tempdir, text, utf8};

/// The longest any one `coffer` run may take before it is killed and the
/// test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Device`]'s `Drop` waits for the daemon to exit after `coffer
/// stop` before killing it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Variables passed through from the test's own environment (the keyring
/// tests run under `dbus-run-session` and `keyctl session -`, and CI may
/// force a key cache backend).
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "DBUS_SESSION_BUS_ADDRESS",
    "COFFER_KEYRING",
    "RUST_BACKTRACE",
    "LANG",
    "LC_ALL",
    "TMPDIR",
];

/// One simulated device: a temporary HOME and the environment `coffer`
/// runs with in it. Dropping it stops its daemon.
pub struct Device {
    name: String,
    home: TempDir,
    sync: Option<PathBuf>,
    env: BTreeMap<String, OsString>,
}

impl Device {
    /// A device with a fresh temporary HOME. The environment holds only
    /// `HOME`, `COFFER_LOG=debug`, `COFFER_KDF=fast` and the few variables
    /// of `PASS_THROUGH`; no `XDG_*` is inherited. The daemon's config
    /// names the device `name`.
    pub fn new(name: &str) -> Device {
        let bin = coffer_bin();
        assert!(
            bin.is_file() && cofferd_bin().is_file(),
            "{} or cofferd is missing: build both first (cargo build -p coffer -p cofferd), \
             or point COFFER_BIN_DIR at them",
            bin.display()
        );
        let home = short_tempdir("cb");
        let mut env = BTreeMap::new();
        for var in PASS_THROUGH {
            if let Some(v) = std::env::var_os(var) {
                env.insert((*var).to_string(), v);
            }
        }
        env.insert("HOME".into(), home.path().as_os_str().to_owned());
        env.insert("COFFER_LOG".into(), "debug".into());
        env.insert("COFFER_KDF".into(), "fast".into());
        let device = Device {
            name: name.to_string(),
            home,
            sync: None,
            env,
        };
        let config = device.dirs().config_file();
        let dir = config.parent().expect("the config file has a directory");
        coffer_proto::dirs::create_private_dir(dir).expect("the config directory can be made");
        std::fs::write(&config, format!("device_name = {name:?}\n"))
            .expect("the config file can be written");
        device
    }

    /// A device that uses `folder` as its sync folder (see
    /// [`sync_folder`](Self::sync_folder)).
    pub fn with_sync_folder(name: &str, folder: &Path) -> Device {
        let mut d = Device::new(name);
        d.sync = Some(folder.to_path_buf());
        d
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds `line` (`key = value`) to the daemon's `config.toml`; a running
    /// daemon reads it when it starts again ([`stop_daemon`](Self::stop_daemon)).
    pub fn add_config(&self, line: &str) {
        use std::io::Write;
        let path = self.dirs().config_file();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        writeln!(f, "{line}").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// The temporary HOME.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The shared sync folder, when the device has one.
    pub fn sync_folder(&self) -> Option<&Path> {
        self.sync.as_deref()
    }

    /// Sets a variable for every later run.
    pub fn set_env(&mut self, name: &str, value: impl Into<OsString>) {
        self.env.insert(name.to_string(), value.into());
    }

    /// Removes a variable for every later run.
    pub fn remove_env(&mut self, name: &str) {
        self.env.remove(name);
    }

    /// The paths coffer resolves in this device's environment.
    pub fn dirs(&self) -> Dirs {
        Dirs::resolve(&MapEnv(&self.env)).expect("a device's HOME is absolute")
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.dirs().socket()
    }

    /// The daemon's log file (written when the CLI started it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dirs().log_file()).unwrap_or_default()
    }

    /// A run with extra variables: `device.with_env(&[("COFFER_PASSWORD", "pw")]).ok(&["unlock"])`.
    pub fn with_env<'a>(&'a self, vars: &[(&str, &str)]) -> Call<'a> {
        Call {
            device: self,
            extra: vars
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect(),
            removed: Vec::new(),
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// A run with no extra variables.
    pub fn call(&self) -> Call<'_> {
        self.with_env(&[])
    }

    /// Runs `coffer ARGS` (panics after [`COMMAND_TIMEOUT`]).
    pub fn coffer(&self, args: &[&str]) -> Output {
        self.call().run(args)
    }

    /// Runs `coffer ARGS`, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.call().ok(args)
    }

    /// Runs `coffer ARGS` and returns its exit code.
    pub fn code(&self, args: &[&str]) -> i32 {
        self.call().code(args)
    }

    /// Runs `coffer ARGS`, asserts exit 0, parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.call().json(args)
    }

    /// `coffer signup --email EMAIL --json` (with the sync folder, if any)
    /// with `COFFER_PASSWORD=password`; returns the JSON (account_id,
    /// account_key, …).
    pub fn signup(&self, email: &str, password: &str) -> serde_json::Value {
        self.signup_with_hint(email, password, None)
    }

    /// [`signup`](Self::signup) with `--hint HINT` when `hint` is given
    /// (an empty hint is passed as such).
    pub fn signup_with_hint(
        &self,
        email: &str,
        password: &str,
        hint: Option<&str>,
    ) -> serde_json::Value {
        let mut args = vec!["signup", "--email", email, "--json"];
        if let Some(h) = hint {
            args.extend(["--hint", h]);
        }
        let folder;
        if let Some(f) = &self.sync {
            folder = f.to_string_lossy().into_owned();
            args.extend(["--sync-folder", folder.as_str()]);
        }
        self.with_env(&[("COFFER_PASSWORD", password)]).json(&args)
    }

    /// `coffer login --email EMAIL --sync-folder FOLDER` with the password
    /// and the Account Key in the environment; the run as it went (a test
    /// of wrong secrets looks at the exit code).
    pub fn login(&self, email: &str, password: &str, account_key: &str, folder: &Path) -> Output {
        self.with_env(&[
            ("COFFER_PASSWORD", password),
            ("COFFER_ACCOUNT_KEY", account_key),
        ])
        .run(&["login", "--email", email, "--sync-folder", utf8(folder)])
    }

    /// [`login`](Self::login), asserting exit 0 (the failure names the
    /// device, the exit status and both outputs).
    pub fn login_ok(&self, email: &str, password: &str, account_key: &str, folder: &Path) {
        self.with_env(&[
            ("COFFER_PASSWORD", password),
            ("COFFER_ACCOUNT_KEY", account_key),
        ])
        .ok(&["login", "--email", email, "--sync-folder", utf8(folder)]);
    }

    /// `coffer status --json` (starting the daemon if none runs).
    pub fn status(&self) -> serde_json::Value {
        self.json(&["status", "--json"])
    }

    /// The local container, as `status --json` names it (the device must be
    /// signed in).
    pub fn container(&self) -> PathBuf {
        PathBuf::from(text(&self.status()["container"]))
    }

    /// The daemon's pid from `status --json`, without starting a daemon.
    pub fn daemon_pid(&self) -> Option<u32> {
        let out = self
            .with_env(&[("COFFER_NO_AUTOSTART", "1")])
            .timeout(Duration::from_secs(15))
            .try_run(&["status", "--json"])
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
    }

    /// Stops the daemon, if one runs: `coffer stop`, then SIGKILL if it has
    /// not exited within [`STOP_GRACE`]. Never panics.
    pub fn stop_daemon(&self) {
        let pid = self.daemon_pid();
        let _ = self
            .with_env(&[("COFFER_NO_AUTOSTART", "1")])
            .timeout(Duration::from_secs(15))
            .try_run(&["stop"]);
        if let Some(pid) = pid {
            if !wait_gone(pid, STOP_GRACE) {
                eprintln!(
                    "device {}: cofferd (pid {pid}) ignored `coffer stop`; killing it",
                    self.name
                );
                send_signal(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

/// A map of variables as coffer-proto's [`Env`].
struct MapEnv<'a>(&'a BTreeMap<String, OsString>);

impl Env for MapEnv<'_> {
    fn var(&self, name: &str) -> Option<OsString> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// One `coffer` run with extra environment variables and a timeout.
pub struct Call<'a> {
    device: &'a Device,
    extra: Vec<(String, OsString)>,
    removed: Vec<String>,
    timeout: Duration,
}

impl Call<'_> {
    /// Another timeout than [`COMMAND_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Leaves `name` out of the environment.
    pub fn without(mut self, name: &str) -> Self {
        self.removed.push(name.to_string());
        self
    }

    /// The command, ready to run (`program` instead of coffer, for
    /// wrappers such as setpriv).
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args).env_clear().current_dir(self.device.home());
        for (k, v) in &self.device.env {
            if !self.removed.contains(k) {
                cmd.env(k, v);
            }
        }
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `coffer ARGS`; `Err` on timeout.
    pub fn try_run(&self, args: &[&str]) -> Result<Output, String> {
        run_with_timeout(self.command(&coffer_bin(), args), self.timeout)
    }

    /// Runs `coffer ARGS`; panics on timeout, naming the command line.
    pub fn run(&self, args: &[&str]) -> Output {
        match self.try_run(args) {
            Ok(o) => o,
            Err(e) => panic!(
                "device {}: {e}\ndaemon log:\n{}",
                self.device.name,
                self.device.log()
            ),
        }
    }

    /// Runs, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "device {}: coffer {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.device.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("coffer prints UTF-8")
    }

    /// Runs and returns the exit code (panics when killed by a signal).
    pub fn code(&self, args: &[&str]) -> i32 {
        let out = self.run(args);
        out.status.code().unwrap_or_else(|| {
            panic!(
                "device {}: coffer {args:?} was killed by a signal: {}",
                self.device.name,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Runs, asserts exit 0, parses stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.ok(args);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("coffer {args:?} printed no JSON ({e}):\n{text}"))
    }
}
