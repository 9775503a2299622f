//! Black-box test harness: each [`Device`] is a temporary HOME in which the
//! real `coffer` binary runs (and starts the real `cofferd`), with hard
//! timeouts on everything, so that no test ever hangs.
//!
//! # Layout
//!
//! - [`Device`]: a temporary HOME, its environment, and `coffer` runs in it.
//! - [`Call`]: one run with extra environment variables.
//! - [`RawConn`]: a raw socket connection to a device's daemon, for
//!   protocol tests.
//! - [`run_with_timeout`]: spawning any command with a deadline.
//!
//! Binaries are found in `COFFER_BIN_DIR`, else next to the test
//! executable's parent (`target/debug/deps/..`).
#![warn(missing_docs)]

pub mod replicator;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coffer_proto::dirs::{Dirs, Env};
use tempfile::TempDir;

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

/// The directory holding `coffer` and `cofferd`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("COFFER_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("the test executable knows its own path");
    // target/debug/deps/cli-HASH -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The `coffer` binary.
pub fn coffer_bin() -> PathBuf {
    bin_dir().join("coffer")
}

/// The `cofferd` binary.
pub fn cofferd_bin() -> PathBuf {
    bin_dir().join("cofferd")
}

/// A directory under `/tmp` with a short name, so that socket paths inside
/// it stay far below the 108-byte limit.
pub fn short_tempdir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("a temporary directory can be made under /tmp")
}

/// A folder shared by several devices, standing in for a sync engine's.
pub fn shared_folder() -> TempDir {
    short_tempdir("cs")
}

/// Runs `cmd` (stdin from /dev/null, stdout and stderr captured) and kills
/// it after `timeout`. `Err` says what happened, with the command line.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    let line = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {line}: {e}"))?;
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    for (n, pipe) in [
        (
            1u8,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            2u8,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let tx = tx.clone();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((n, buf));
            });
        }
    }
    drop(tx);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for {line}: {e}")),
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = Vec::new();
            while let Ok((n, buf)) = rx.recv_timeout(Duration::from_secs(2)) {
                if n == 2 {
                    stderr = buf;
                }
            }
            return Err(format!(
                "{line} did not finish within {} s and was killed; stderr so far:\n{}",
                timeout.as_secs(),
                String::from_utf8_lossy(&stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((1, buf)) => stdout = buf,
            Ok((_, buf)) => stderr = buf,
            Err(_) => {
                return Err(format!(
                    "{line} exited ({status}) but its output stayed open: a process it started \
                     inherited stdout or stderr"
                ))
            }
        }
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

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
    /// of [`PASS_THROUGH`]; no `XDG_*` is inherited. The daemon's config
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
        let mut args = vec!["signup", "--email", email, "--json"];
        let folder;
        if let Some(f) = &self.sync {
            folder = f.to_string_lossy().into_owned();
            args.extend(["--sync-folder", folder.as_str()]);
        }
        self.with_env(&[("COFFER_PASSWORD", password)]).json(&args)
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
            let deadline = Instant::now() + STOP_GRACE;
            while pid_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if pid_alive(pid) {
                eprintln!(
                    "device {}: cofferd (pid {pid}) ignored `coffer stop`; killing it",
                    self.name
                );
                // SAFETY: plain kill(2) on a pid this test's daemon had.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
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

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(p, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
    {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

/// A raw connection to a daemon's socket, for protocol tests. Every read
/// has a timeout.
pub struct RawConn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawConn {
    /// Connects without saying hello.
    pub fn connect(socket: &Path) -> std::io::Result<RawConn> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(RawConn {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Connects and exchanges hellos; returns the daemon's hello line.
    pub fn hello(socket: &Path) -> std::io::Result<(RawConn, serde_json::Value)> {
        let mut c = RawConn::connect(socket)?;
        c.send_line(&format!(
            r#"{{"hello":{{"protocol":{},"software":"coffer-blackbox","pid":{}}}}}"#,
            coffer_proto::PROTOCOL_VERSION,
            std::process::id()
        ))?;
        let hello = c.read_json()?;
        Ok((c, hello))
    }

    /// Another handle on the socket, to write from another thread (its
    /// writes time out too).
    pub fn writer(&self) -> std::io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Sends `line` and a newline.
    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Reads one line and parses it as JSON.
    pub fn read_json(&mut self) -> std::io::Result<serde_json::Value> {
        let mut line = String::new();
        let n = (&mut self.reader).take(1024 * 1024).read_line(&mut line)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            ));
        }
        serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e}: {line}"))
        })
    }

    /// Sends a request line and reads the response.
    pub fn request(&mut self, line: &str) -> std::io::Result<serde_json::Value> {
        self.send_line(line)?;
        self.read_json()
    }
}

/// The file mode bits (`0o777` part) of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// stderr of an output, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout of an output, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
