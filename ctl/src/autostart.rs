//! `coffer autostart enable|disable|status`: the login item that runs
//! `cofferd` for the current user.
//!
//! Linux: the systemd user units from the repository's `systemd/` directory,
//! written to `$XDG_CONFIG_HOME/systemd/user/` (`~/.config/systemd/user/`)
//! with `ExecStart=` pointing at the installed `cofferd`, then enabled and
//! started with `systemctl --user` when a user systemd answers. Where none
//! does (a container, `su`, ssh without a session), the files are still
//! written and linked into `default.target.wants/` and
//! `sockets.target.wants/` exactly as `systemctl --user enable` would, and
//! the report says that nothing was started and why.
//!
//! macOS: the LaunchAgent from `launchd/`, written to
//! `~/Library/LaunchAgents/org.coffer.cofferd.plist` and loaded with
//! `launchctl bootstrap gui/<uid>`.
//!
//! Every step is recorded in [`AutostartReport::lines`] in plain words; the
//! other fields are for `--json`. Everything is idempotent: enabling twice
//! rewrites nothing, disabling what is not installed removes nothing.
//! The environment is read once into an [`Environment`], so the whole flow
//! runs against a temporary HOME (and a fake `systemctl` or `launchctl` on
//! its PATH) in the tests.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The systemd service template (its `ExecStart=` is a placeholder).
pub const SERVICE_TEMPLATE: &str = include_str!("../../systemd/cofferd.service");
/// The systemd socket template.
pub const SOCKET_TEMPLATE: &str = include_str!("../../systemd/cofferd.socket");
/// The launchd agent template (`@COFFERD@` and `@HOME@` are placeholders).
pub const PLIST_TEMPLATE: &str = include_str!("../../launchd/org.coffer.cofferd.plist");

/// The LaunchAgent's label.
pub const LAUNCHD_LABEL: &str = "org.coffer.cofferd";
const SERVICE: &str = "cofferd.service";
const SOCKET: &str = "cofferd.socket";
const EXEC_PLACEHOLDER: &str = "ExecStart=%h/.local/bin/cofferd";
const LISTEN_DEFAULT: &str = "ListenStream=%t/coffer/coffer.sock";
const PLIST_SOCKET_DEFAULT: &str = "@HOME@/Library/Application Support/coffer/run/coffer.sock";
const PLIST_ENV_ANCHOR: &str = "\t<key>StandardOutPath</key>";
/// How long a quick query of the service manager may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long starting or stopping may take (a `Type=notify` start waits for
/// the daemon's readiness).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What to do with the login item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutostartAction {
    /// Install (or update) and start it.
    Enable,
    /// Stop and remove it.
    Disable,
    /// Say whether it is installed, current and running.
    Status,
}

/// The service manager in charge of the login item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    /// A systemd user instance (`systemctl --user`).
    Systemd,
    /// launchd's per-user GUI domain (`launchctl`).
    Launchd,
    /// Neither is installed here (no `systemctl`/`launchctl` on PATH): the
    /// files are written, but nothing on this machine will act on them.
    None,
}

/// Which kind of login item this platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// systemd user units (Linux).
    Systemd,
    /// A launchd LaunchAgent (macOS).
    Launchd,
}

/// What an action did or found. `lines` is for people; the rest is the
/// `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct AutostartReport {
    /// The action that was run.
    pub action: AutostartAction,
    /// The service manager for this platform, or `none` if it is missing.
    pub manager: Manager,
    /// Whether the login item's files are in place (after the action).
    pub installed: bool,
    /// Whether the installed files are exactly what `enable` would write
    /// now (false when not installed).
    pub up_to_date: bool,
    /// enable: the files written or kept; disable: the files removed;
    /// status: the files that exist.
    pub files: Vec<PathBuf>,
    /// Whether the service manager runs (or listens for) cofferd now.
    pub started: bool,
    /// Why cofferd was not started or is not running, when that is known.
    pub reason_not_started: Option<String>,
    /// What happened, one step a line.
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// Why the login item could not be installed, removed or inspected. Each
/// message names the file or command and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AutostartError {
    /// There is no usable HOME.
    #[error("HOME is not set to an absolute path; set it to your home directory")]
    NoHome,
    /// A path variable is set to a relative path.
    #[error("{var} must be an absolute path, not {}", path.display())]
    NotAbsolute {
        /// The variable.
        var: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// The daemon's executable is unusable.
    #[error("cannot use {} as the daemon: {problem}; install cofferd next to coffer", path.display())]
    Cofferd {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `enable` needs the daemon's executable and none was found.
    #[error("cofferd was not found next to coffer or on PATH; install it next to coffer")]
    NoCofferd,
    /// A path cannot be written into a unit file or plist.
    #[error("{} cannot go into a login item: {problem}; install coffer under a plainer path", path.display())]
    UnusablePath {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// Reading, writing or removing one of the login item's files failed.
    #[error("cannot {what} {}: {source}; check that you own it and its directory", path.display())]
    File {
        /// "write", "remove", "read", "create the directory", "link".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A command of the service manager failed.
    #[error("`{command}` failed: {detail}{hint}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and error output.
        detail: String,
        /// What to look at next (starts with "; " when not empty).
        hint: String,
    },
    /// This platform has neither systemd nor launchd login items.
    #[error("autostart is supported on Linux (systemd) and macOS (launchd), not on {os}")]
    Unsupported {
        /// The platform.
        os: &'static str,
    },
}

/// The parts of the environment that decide where the files go and how the
/// service manager is reached.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Which kind of login item to manage.
    pub platform: Platform,
    /// `HOME` (absolute).
    pub home: PathBuf,
    /// `XDG_CONFIG_HOME`, if set to an absolute path.
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`, if set.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `DBUS_SESSION_BUS_ADDRESS`, if set.
    pub dbus_session_bus_address: Option<OsString>,
    /// `COFFER_HOME`, if set: the daemon is told to use it too.
    pub coffer_home: Option<PathBuf>,
    /// `PATH`, to find `systemctl` or `launchctl`.
    pub path: Option<OsString>,
    /// The user's id (for launchd's `gui/<uid>` domain).
    pub uid: u32,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process() -> Result<Environment, AutostartError> {
        let platform = if cfg!(target_os = "macos") {
            Platform::Launchd
        } else if cfg!(target_os = "linux") {
            Platform::Systemd
        } else {
            return Err(AutostartError::Unsupported {
                os: std::env::consts::OS,
            });
        };
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .ok_or(AutostartError::NoHome)?;
        let coffer_home = match var("COFFER_HOME").map(PathBuf::from) {
            Some(p) if !p.is_absolute() => {
                return Err(AutostartError::NotAbsolute {
                    var: "COFFER_HOME",
                    path: p,
                })
            }
            other => other,
        };
        Ok(Environment {
            platform,
            home,
            xdg_config_home: var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            dbus_session_bus_address: var("DBUS_SESSION_BUS_ADDRESS"),
            coffer_home,
            path: var("PATH"),
            // SAFETY: getuid cannot fail and takes no arguments.
            uid: unsafe { libc::getuid() },
        })
    }

    /// Where systemd looks for the user's own units.
    pub fn systemd_unit_dir(&self) -> PathBuf {
        self.xdg_config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
            .join("systemd/user")
    }

    /// Where the LaunchAgent goes.
    pub fn launch_agent_path(&self) -> PathBuf {
        self.home
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist"))
    }

    /// Where launchd writes the daemon's stdout and stderr.
    pub fn launchd_log_dir(&self) -> PathBuf {
        self.home.join("Library/Logs/coffer")
    }

    /// The daemon's socket directory on macOS, as `coffer_proto::dirs`
    /// resolves it there (launchd binds the socket but does not create
    /// the directory).
    pub fn launchd_runtime_dir(&self) -> PathBuf {
        match &self.coffer_home {
            Some(d) => d.join("run"),
            None => self.home.join("Library/Application Support/coffer/run"),
        }
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }
}

/// Runs `action` for the current user. `cofferd` is the absolute path of
/// the daemon's executable: `enable` needs it (and fails without it),
/// `status` compares the installed files against it, `disable` ignores it.
pub fn run(
    action: AutostartAction,
    cofferd: Option<&Path>,
) -> Result<AutostartReport, AutostartError> {
    run_in(action, cofferd, &Environment::from_process()?)
}

/// [`run`] against an explicit environment.
pub fn run_in(
    action: AutostartAction,
    cofferd: Option<&Path>,
    env: &Environment,
) -> Result<AutostartReport, AutostartError> {
    if action == AutostartAction::Enable {
        check_cofferd(cofferd.ok_or(AutostartError::NoCofferd)?)?;
    }
    let mut report = AutostartReport {
        action,
        manager: Manager::None,
        installed: false,
        up_to_date: false,
        files: Vec::new(),
        started: false,
        reason_not_started: None,
        lines: Vec::new(),
    };
    match env.platform {
        Platform::Systemd => systemd::run(action, cofferd, env, &mut report)?,
        Platform::Launchd => launchd::run(action, cofferd, env, &mut report)?,
    }
    Ok(report)
}

fn check_cofferd(cofferd: &Path) -> Result<(), AutostartError> {
    let problem = |p: &str| AutostartError::Cofferd {
        path: cofferd.to_path_buf(),
        problem: p.to_string(),
    };
    if !cofferd.is_absolute() {
        return Err(problem("not an absolute path"));
    }
    let meta = fs::metadata(cofferd).map_err(|e| problem(&e.to_string()))?;
    if !meta.is_file() {
        return Err(problem("not a file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(problem("not executable"));
    }
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn utf8(path: &Path) -> Result<&str, AutostartError> {
    let s = path.to_str().ok_or(AutostartError::UnusablePath {
        path: path.to_path_buf(),
        problem: "it is not valid UTF-8",
    })?;
    if s.chars().any(char::is_control) {
        return Err(AutostartError::UnusablePath {
            path: path.to_path_buf(),
            problem: "it contains a control character",
        });
    }
    Ok(s)
}

/// `s` as one word of a systemd setting: specifiers (`%`)
/// escaped, backslashes and double quotes escaped, quoted when needed.
fn systemd_word(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._+-,:@=$".contains(c));
    let mut out = String::with_capacity(s.len() + 2);
    if !plain {
        out.push('"');
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if !plain {
        out.push('"');
    }
    out
}

/// The service unit `enable` writes.
pub fn render_service(cofferd: &Path, env: &Environment) -> Result<String, AutostartError> {
    let exe = utf8(cofferd)?;
    // systemd refuses these in an executable's path however they are
    // escaped ("Executable name contains special characters").
    if exe.contains(['"', '\'', '\\']) {
        return Err(AutostartError::UnusablePath {
            path: cofferd.to_path_buf(),
            problem: "systemd does not run programs whose path has quotes or backslashes",
        });
    }
    // The executable is not subject to $VARIABLE expansion, only to
    // specifiers.
    let mut exec = format!("ExecStart={}", systemd_word(exe));
    if let Some(home) = &env.coffer_home {
        let assignment = format!("COFFER_HOME={}", utf8(home)?);
        exec.push_str(&format!("\nEnvironment={}", systemd_word(&assignment)));
    }
    Ok(replace_line(SERVICE_TEMPLATE, EXEC_PLACEHOLDER, &exec))
}

/// The socket unit `enable` writes.
pub fn render_socket(env: &Environment) -> Result<String, AutostartError> {
    match &env.coffer_home {
        None => Ok(SOCKET_TEMPLATE.to_string()),
        Some(home) => {
            let sock = home.join("run/coffer.sock");
            let listen = format!("ListenStream={}", utf8(&sock)?.replace('%', "%%"));
            Ok(replace_line(SOCKET_TEMPLATE, LISTEN_DEFAULT, &listen))
        }
    }
}

fn replace_line(template: &str, line: &str, with: &str) -> String {
    let mut out = String::with_capacity(template.len() + with.len());
    let mut found = false;
    for l in template.lines() {
        if l == line && !found {
            out.push_str(with);
            found = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    // The templates are compiled in and tested to contain these lines.
    assert!(found, "template lacks the line {line:?}");
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The LaunchAgent `enable` writes.
pub fn render_plist(cofferd: &Path, env: &Environment) -> Result<String, AutostartError> {
    let cofferd = xml_escape(utf8(cofferd)?);
    let home = xml_escape(utf8(&env.home)?);
    let socket = xml_escape(utf8(&env.launchd_runtime_dir().join("coffer.sock"))?);
    assert!(
        PLIST_TEMPLATE.contains(PLIST_SOCKET_DEFAULT) && PLIST_TEMPLATE.contains(PLIST_ENV_ANCHOR),
        "the plist template has the socket path and log keys"
    );
    let mut out = PLIST_TEMPLATE.replace(PLIST_SOCKET_DEFAULT, &socket);
    if let Some(coffer_home) = &env.coffer_home {
        let vars = format!(
            "\t<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>COFFER_HOME</key>\n\
             \t\t<string>{}</string>\n\t</dict>\n{PLIST_ENV_ANCHOR}",
            xml_escape(utf8(coffer_home)?)
        );
        out = out.replacen(PLIST_ENV_ANCHOR, &vars, 1);
    }
    Ok(out.replace("@COFFERD@", &cofferd).replace("@HOME@", &home))
}

/// Writes `contents` to `path` (mode 0644) unless it already holds exactly
/// that; returns whether it wrote.
fn write_if_changed(path: &Path, contents: &str) -> Result<bool, AutostartError> {
    if fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(false);
    }
    let err = |what, source| AutostartError::File {
        what,
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .expect("login item files are absolute paths inside a directory");
    fs::create_dir_all(dir).map_err(|e| AutostartError::File {
        what: "create the directory",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let name = path
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_default();
    let mut tmp_name = OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err("write", e));
    }
    Ok(true)
}

/// Removes `path` if it exists; returns whether it did.
fn remove_if_present(path: &Path) -> Result<bool, AutostartError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AutostartError::File {
            what: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), AutostartError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| AutostartError::File {
            what: "create the directory",
            path: dir.to_path_buf(),
            source: e,
        })
}

/// Looks at one installed file for `status`: records it in the report and
/// returns (whether it exists, whether it is what `enable` would write).
fn check_file(
    path: &Path,
    expected: Option<&str>,
    report: &mut AutostartReport,
) -> Result<(bool, bool), AutostartError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report
                .lines
                .push(format!("{} is not installed", path.display()));
            return Ok((false, false));
        }
        Err(e) => {
            return Err(AutostartError::File {
                what: "read",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    report.files.push(path.to_path_buf());
    let current = expected == Some(text.as_str());
    let shown = path.display();
    report.lines.push(match expected {
        _ if current => format!("{shown} is installed"),
        Some(_) => {
            let exec = text
                .lines()
                .find(|l| l.starts_with("ExecStart="))
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            format!(
                "{shown} is installed but differs from what `coffer autostart enable` would \
                 write now{exec}; run `coffer autostart enable` to update it"
            )
        }
        None => format!("{shown} is installed (no usable cofferd found to compare it with)"),
    });
    Ok((true, current))
}

/// A finished command.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Exit status and the first lines of output, for messages.
    fn detail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        let text: Vec<&str> = text.lines().take(4).collect();
        if text.is_empty() {
            self.status.to_string()
        } else {
            format!("{} ({})", text.join(" / "), self.status)
        }
    }
}

/// Runs `program args` with the environment's session variables and a
/// time limit, capturing its output.
fn run_command(
    program: &Path,
    args: &[&OsStr],
    env: &Environment,
    timeout: Duration,
) -> Result<Output, AutostartError> {
    let shown = command_line(program, args);
    let fail = |detail: String| AutostartError::Command {
        command: shown.clone(),
        detail,
        hint: String::new(),
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("HOME", &env.home)
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in [
        (
            "XDG_RUNTIME_DIR",
            env.xdg_runtime_dir.as_ref().map(|p| p.as_os_str()),
        ),
        (
            "DBUS_SESSION_BUS_ADDRESS",
            env.dbus_session_bus_address.as_deref(),
        ),
    ] {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("could not run it: {e}")))?;
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = pipe(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = pipe(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer within {} s", timeout.as_secs())));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn command_line(program: &Path, args: &[&OsStr]) -> String {
    let name = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy();
    let mut s = name.into_owned();
    for a in args {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command that must succeed.
fn run_checked(
    program: &Path,
    args: &[&OsStr],
    env: &Environment,
    timeout: Duration,
    hint: &str,
) -> Result<Output, AutostartError> {
    let out = run_command(program, args, env, timeout)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(AutostartError::Command {
            command: command_line(program, args),
            detail: out.detail(),
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!("; {hint}")
            },
        })
    }
}

/// Whether the service manager can be asked to do things right now.
enum Reach {
    /// Yes, through this program.
    Yes(PathBuf),
    /// It is installed but not reachable from here, for this reason.
    Unreachable(String),
    /// It is not installed, for this reason.
    Missing(String),
}

mod systemd {
    //! The Linux half: unit files, `*.target.wants` links, `systemctl --user`.

    use super::*;

    const HINT: &str = "see `systemctl --user status cofferd` and `journalctl --user -u cofferd`";

    struct Paths {
        service: PathBuf,
        socket: PathBuf,
        /// (link, target) pairs that `systemctl enable` would create.
        links: [(PathBuf, PathBuf); 2],
    }

    fn paths(env: &Environment) -> Paths {
        let dir = env.systemd_unit_dir();
        let service = dir.join(SERVICE);
        let socket = dir.join(SOCKET);
        Paths {
            links: [
                (
                    dir.join("default.target.wants").join(SERVICE),
                    service.clone(),
                ),
                (
                    dir.join("sockets.target.wants").join(SOCKET),
                    socket.clone(),
                ),
            ],
            service,
            socket,
        }
    }

    fn probe(env: &Environment) -> Reach {
        let Some(systemctl) = env.find_program("systemctl") else {
            return Reach::Missing(
                "there is no systemd on this machine (no systemctl on PATH)".into(),
            );
        };
        if env.xdg_runtime_dir.is_none() && env.dbus_session_bus_address.is_none() {
            return Reach::Unreachable(
                "no user systemd is running here: XDG_RUNTIME_DIR is not set, so there is \
                 no login session to talk to (usual in containers, under su and in cron)"
                    .into(),
            );
        }
        let args = [OsStr::new("--user"), OsStr::new("is-system-running")];
        match run_command(&systemctl, &args, env, QUERY_TIMEOUT) {
            Ok(out) => {
                let state = out.stdout.trim();
                if [
                    "running",
                    "degraded",
                    "starting",
                    "initializing",
                    "maintenance",
                ]
                .contains(&state)
                {
                    Reach::Yes(systemctl)
                } else {
                    Reach::Unreachable(format!(
                        "no user systemd is running here: `systemctl --user \
                         is-system-running` says {}",
                        out.detail()
                    ))
                }
            }
            Err(e) => Reach::Unreachable(format!("no user systemd is running here: {e}")),
        }
    }

    fn systemctl(
        program: &Path,
        args: &[&str],
        env: &Environment,
        timeout: Duration,
        report: &mut AutostartReport,
    ) -> Result<Output, AutostartError> {
        let mut full: Vec<&OsStr> = vec![OsStr::new("--user")];
        full.extend(args.iter().map(OsStr::new));
        let out = run_checked(program, &full, env, timeout, HINT)?;
        report
            .lines
            .push(format!("ran {}", command_line(program, &full)));
        Ok(out)
    }

    pub(super) fn run(
        action: AutostartAction,
        cofferd: Option<&Path>,
        env: &Environment,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let reach = probe(env);
        report.manager = match reach {
            Reach::Missing(_) => Manager::None,
            _ => Manager::Systemd,
        };
        match (action, cofferd) {
            (AutostartAction::Enable, Some(cofferd)) => enable(cofferd, env, reach, report),
            (AutostartAction::Enable, None) => Err(AutostartError::NoCofferd),
            (AutostartAction::Disable, _) => disable(env, reach, report),
            (AutostartAction::Status, _) => status(cofferd, env, reach, report),
        }
    }

    fn enable(
        cofferd: &Path,
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let p = paths(env);
        let service = render_service(cofferd, env)?;
        let socket = render_socket(env)?;
        let existed = p.service.exists();
        let service_changed = write_if_changed(&p.service, &service)?;
        report.lines.push(if service_changed {
            format!(
                "wrote {} (ExecStart={})",
                p.service.display(),
                cofferd.display()
            )
        } else {
            format!("{} is already up to date", p.service.display())
        });
        report.lines.push(if write_if_changed(&p.socket, &socket)? {
            format!("wrote {}", p.socket.display())
        } else {
            format!("{} is already up to date", p.socket.display())
        });
        report.files = vec![p.service.clone(), p.socket.clone()];
        report.installed = true;
        report.up_to_date = true;

        match reach {
            Reach::Yes(program) => {
                systemctl(&program, &["daemon-reload"], env, QUERY_TIMEOUT, report)?;
                systemctl(
                    &program,
                    &["enable", "--now", SOCKET, SERVICE],
                    env,
                    START_TIMEOUT,
                    report,
                )?;
                if existed && service_changed {
                    // A new ExecStart only takes effect on a restart.
                    systemctl(
                        &program,
                        &["try-restart", SERVICE],
                        env,
                        START_TIMEOUT,
                        report,
                    )?;
                }
                report.started = true;
                report.lines.push(
                    "cofferd is running and will start at every login \
                     (and on demand through its socket)"
                        .into(),
                );
            }
            Reach::Unreachable(reason) | Reach::Missing(reason) => {
                for (link, target) in &p.links {
                    if link_to(link, target)? {
                        report.lines.push(format!(
                            "linked {} -> {}",
                            link.display(),
                            target.display()
                        ));
                    }
                    report.files.push(link.clone());
                }
                report
                    .lines
                    .push(format!("nothing was started, because {reason}"));
                report.lines.push(match report.manager {
                    Manager::None => "the units are in place, but nothing on this machine \
                                      will run them; start cofferd yourself"
                        .into(),
                    _ => "the units are enabled, so your user systemd will start cofferd \
                          at your next login on this machine"
                        .into(),
                });
                report.reason_not_started = Some(reason);
            }
        }
        Ok(())
    }

    /// Makes `link` a symlink to `target`; returns whether it changed.
    fn link_to(link: &Path, target: &Path) -> Result<bool, AutostartError> {
        if fs::read_link(link).is_ok_and(|t| t == target) {
            return Ok(false);
        }
        let err = |what, source| AutostartError::File {
            what,
            path: link.to_path_buf(),
            source,
        };
        if fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(link).map_err(|e| err("remove", e))?;
        }
        let dir = link.parent().expect("wants links live in a directory");
        fs::create_dir_all(dir).map_err(|e| err("create the directory for", e))?;
        symlink(target, link).map_err(|e| err("link", e))?;
        Ok(true)
    }

    fn disable(
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let p = paths(env);
        let present = p.service.exists() || p.socket.exists();
        let program = match &reach {
            Reach::Yes(program) => Some(program),
            _ => None,
        };
        if let (Some(program), true) = (program, present) {
            systemctl(
                program,
                &["disable", "--now", SOCKET, SERVICE],
                env,
                START_TIMEOUT,
                report,
            )?;
        }
        for (link, _) in &p.links {
            // Only links: a regular file of that name is not ours.
            if fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink())
                && remove_if_present(link)?
            {
                report.lines.push(format!("removed {}", link.display()));
                report.files.push(link.clone());
            }
        }
        for file in [&p.service, &p.socket] {
            if remove_if_present(file)? {
                report.lines.push(format!("removed {}", file.display()));
                report.files.push(file.clone());
            }
        }
        if let (Some(program), true) = (program, present) {
            systemctl(program, &["daemon-reload"], env, QUERY_TIMEOUT, report)?;
        }
        if report.files.is_empty() {
            report
                .lines
                .push("autostart was not installed; there was nothing to remove".into());
        } else if program.is_none() {
            report
                .lines
                .push("autostart is off; cofferd will not start at login".into());
        } else {
            report
                .lines
                .push("cofferd is stopped and will not start at login".into());
        }
        Ok(())
    }

    fn status(
        cofferd: Option<&Path>,
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let p = paths(env);
        let service = cofferd.and_then(|c| render_service(c, env).ok());
        let socket = render_socket(env).ok();
        let (service_there, service_current) = check_file(&p.service, service.as_deref(), report)?;
        let (socket_there, socket_current) = check_file(&p.socket, socket.as_deref(), report)?;
        report.installed = service_there && socket_there;
        report.up_to_date = service_current && socket_current;

        match reach {
            Reach::Yes(program) => {
                for query in ["is-enabled", "is-active"] {
                    let args = [
                        OsStr::new("--user"),
                        OsStr::new(query),
                        OsStr::new(SOCKET),
                        OsStr::new(SERVICE),
                    ];
                    // Non-zero when a unit is not enabled/active: the
                    // answer is in the output either way.
                    let out = run_command(&program, &args, env, QUERY_TIMEOUT)?;
                    let answers: Vec<&str> = out.stdout.lines().map(str::trim).collect();
                    for (unit, answer) in [SOCKET, SERVICE].iter().zip(&answers) {
                        report
                            .lines
                            .push(format!("systemctl --user {query} {unit}: {answer}"));
                        if query == "is-active" && *answer == "active" {
                            report.started = true;
                        }
                    }
                    if answers.len() < 2 {
                        report
                            .lines
                            .push(format!("systemctl --user {query}: {}", out.detail()));
                    }
                }
                if !report.started {
                    report.reason_not_started = Some(if report.installed {
                        format!("neither {SOCKET} nor {SERVICE} is active; {HINT}")
                    } else {
                        "autostart is not installed".into()
                    });
                }
            }
            Reach::Unreachable(reason) | Reach::Missing(reason) => {
                let linked = p
                    .links
                    .iter()
                    .all(|(link, target)| fs::read_link(link).is_ok_and(|t| &t == target));
                if report.installed {
                    report.lines.push(if linked {
                        "the units are enabled for login".into()
                    } else {
                        "the units are not enabled; run `coffer autostart enable`".into()
                    });
                }
                report
                    .lines
                    .push(format!("cannot ask systemd whether cofferd runs: {reason}"));
                report.reason_not_started = Some(reason);
            }
        }
        Ok(())
    }
}

mod launchd {
    //! The macOS half: the LaunchAgent plist and `launchctl`.

    use super::*;

    const HINT: &str = "see `launchctl print gui/$(id -u)/org.coffer.cofferd` and \
                        ~/Library/Logs/coffer/cofferd.stderr.log";

    fn probe(env: &Environment) -> Reach {
        let Some(launchctl) = env.find_program("launchctl") else {
            return Reach::Missing("there is no launchctl on PATH".into());
        };
        let domain = format!("gui/{}", env.uid);
        let args = [OsStr::new("print"), OsStr::new(&domain)];
        match run_command(&launchctl, &args, env, QUERY_TIMEOUT) {
            Ok(out) if out.status.success() => Reach::Yes(launchctl),
            Ok(out) => Reach::Unreachable(format!(
                "there is no GUI login session for user {} here (logged in over ssh?): \
                 `launchctl print {domain}` says {}",
                env.uid,
                out.detail()
            )),
            Err(e) => Reach::Unreachable(e.to_string()),
        }
    }

    fn service_target(env: &Environment) -> String {
        format!("gui/{}/{LAUNCHD_LABEL}", env.uid)
    }

    /// Whether the agent is loaded, and launchd's description of it.
    fn loaded(program: &Path, env: &Environment) -> Result<Option<String>, AutostartError> {
        let target = service_target(env);
        let out = run_command(
            program,
            &[OsStr::new("print"), OsStr::new(&target)],
            env,
            QUERY_TIMEOUT,
        )?;
        Ok(out.status.success().then_some(out.stdout))
    }

    fn launchctl(
        program: &Path,
        args: &[&str],
        env: &Environment,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        run_checked(program, &args, env, START_TIMEOUT, HINT)?;
        report
            .lines
            .push(format!("ran {}", command_line(program, &args)));
        Ok(())
    }

    pub(super) fn run(
        action: AutostartAction,
        cofferd: Option<&Path>,
        env: &Environment,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let reach = probe(env);
        report.manager = match reach {
            Reach::Missing(_) => Manager::None,
            _ => Manager::Launchd,
        };
        match (action, cofferd) {
            (AutostartAction::Enable, Some(cofferd)) => enable(cofferd, env, reach, report),
            (AutostartAction::Enable, None) => Err(AutostartError::NoCofferd),
            (AutostartAction::Disable, _) => disable(env, reach, report),
            (AutostartAction::Status, _) => status(cofferd, env, reach, report),
        }
    }

    fn enable(
        cofferd: &Path,
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let plist = env.launch_agent_path();
        let text = render_plist(cofferd, env)?;
        create_private_dir(&env.launchd_log_dir())?;
        create_private_dir(&env.launchd_runtime_dir())?;
        let changed = write_if_changed(&plist, &text)?;
        report.lines.push(if changed {
            format!(
                "wrote {} (ProgramArguments: {})",
                plist.display(),
                cofferd.display()
            )
        } else {
            format!("{} is already up to date", plist.display())
        });
        report.files = vec![plist.clone()];
        report.installed = true;
        report.up_to_date = true;
        let program = match reach {
            Reach::Yes(program) => program,
            Reach::Unreachable(reason) | Reach::Missing(reason) => {
                report
                    .lines
                    .push(format!("nothing was started, because {reason}"));
                report
                    .lines
                    .push("launchd loads the agent at your next graphical login".into());
                report.reason_not_started = Some(reason);
                return Ok(());
            }
        };
        let target = service_target(env);
        let domain = format!("gui/{}", env.uid);
        let plist = plist.to_string_lossy();
        // Clears a "disabled" override left by `launchctl disable`.
        launchctl(&program, &["enable", &target], env, report)?;
        let was_loaded = loaded(&program, env)?.is_some();
        if was_loaded && changed {
            launchctl(&program, &["bootout", &target], env, report)?;
        }
        if !was_loaded || changed {
            bootstrap(&program, &domain, &plist, env, report)?;
        } else {
            launchctl(&program, &["kickstart", &target], env, report)?;
        }
        report.started = true;
        report
            .lines
            .push("cofferd is running and will start at every login".into());
        Ok(())
    }

    fn disable(
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let plist = env.launch_agent_path();
        if let Reach::Yes(program) = &reach {
            if loaded(program, env)?.is_some() {
                launchctl(program, &["bootout", &service_target(env)], env, report)?;
            }
        }
        if remove_if_present(&plist)? {
            report.lines.push(format!("removed {}", plist.display()));
            report.files.push(plist);
            report.lines.push("cofferd will not start at login".into());
        } else {
            report
                .lines
                .push("autostart was not installed; there was nothing to remove".into());
        }
        Ok(())
    }

    fn status(
        cofferd: Option<&Path>,
        env: &Environment,
        reach: Reach,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let expected = cofferd.and_then(|c| render_plist(c, env).ok());
        let (there, current) = check_file(&env.launch_agent_path(), expected.as_deref(), report)?;
        report.installed = there;
        report.up_to_date = current;
        let program = match reach {
            Reach::Yes(program) => program,
            Reach::Unreachable(reason) | Reach::Missing(reason) => {
                report
                    .lines
                    .push(format!("cannot ask launchd whether cofferd runs: {reason}"));
                report.reason_not_started = Some(reason);
                return Ok(());
            }
        };
        let Some(desc) = loaded(&program, env)? else {
            report
                .lines
                .push("launchd does not have the agent loaded".into());
            report.reason_not_started = Some("the agent is not loaded".into());
            return Ok(());
        };
        let field = |name: &str| {
            desc.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let state = field("state =").unwrap_or_else(|| "unknown".into());
        report.started = state == "running";
        let pid = field("pid =")
            .map(|p| format!(", pid {p}"))
            .unwrap_or_default();
        report
            .lines
            .push(format!("launchd has the agent loaded: {state}{pid}"));
        if !report.started {
            report.reason_not_started = Some(format!("the agent is loaded but {state}; {HINT}"));
        }
        Ok(())
    }

    /// `launchctl bootstrap`, retried briefly: right after a `bootout` the
    /// old job can still be on its way out.
    fn bootstrap(
        program: &Path,
        domain: &str,
        plist: &str,
        env: &Environment,
        report: &mut AutostartReport,
    ) -> Result<(), AutostartError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match launchctl(program, &["bootstrap", domain, plist], env, report) {
                Err(_) if attempt < 5 => std::thread::sleep(Duration::from_millis(300)),
                result => return result,
            }
        }
    }
}
