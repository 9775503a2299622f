//! A private D-Bus session bus for a test, and the real Secret Service
//! clients the tests drive through it.
//!
//! [`PrivateBus`] runs `dbus-daemon` on a socket in a temporary directory
//! with a generated configuration: nothing answers for
//! `org.freedesktop.secrets` unless the test starts it, and service
//! activation reads only the directory the test names. It asks the bus who
//! owns a name with `dbus-send`, and follows signals with `dbus-monitor`
//! ([`Monitor`]).
//!
//! Clients: `secret-tool` (libsecret), python-keyring's SecretService
//! backend ([`python_with_keyring`]) and `git credential-libsecret`
//! ([`git_credential_libsecret`]: Debian ships only its source, in git's
//! contrib directory, so it is built when libsecret's headers are there).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::run_with_timeout;
use crate::short_tempdir;
use crate::tools::find;

/// How long a bus (or a client command) may take to answer.
pub const BUS_TIMEOUT: Duration = Duration::from_secs(30);

/// A private `dbus-daemon` on a socket in a temporary directory. Dropping
/// it kills the bus (its own child).
pub struct PrivateBus {
    _dir: TempDir,
    child: Child,
    address: String,
}

impl PrivateBus {
    /// Starts a bus; with `services`, activation files are read from that
    /// directory, and activated programs get the bus's environment: only
    /// `PATH`, `HOME` (a directory of its own unless `env` names one) and
    /// `env`.
    pub fn start(services: Option<&Path>, env: &[(&str, &OsStr)]) -> PrivateBus {
        PrivateBus::start_with(services, env, false)
    }

    /// A bus every user may connect to (its socket and directory opened,
    /// `<allow user="*"/>`), so that a provider's own uid check is what
    /// refuses another user.
    pub fn start_open_to_all() -> PrivateBus {
        PrivateBus::start_with(None, &[], true)
    }

    fn start_with(services: Option<&Path>, env: &[(&str, &OsStr)], open: bool) -> PrivateBus {
        let dir = short_tempdir("ssbus");
        let socket = dir.path().join("bus");
        let servicedir = services
            .map(|s| format!("  <servicedir>{}</servicedir>\n", s.display()))
            .unwrap_or_default();
        let users = if open {
            "  <policy context=\"default\"><allow user=\"*\"/></policy>\n"
        } else {
            ""
        };
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
{servicedir}{users}  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        );
        let conf = dir.path().join("bus.conf");
        std::fs::write(&conf, config).expect("write the bus configuration");
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start dbus-daemon");
        let mut stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while stdout.read(&mut b).map(|n| n == 1).unwrap_or(false) {
                if b[0] == b'\n' {
                    break;
                }
                line.push(b[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
            // Keep reading so the bus never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let address = match rx.recv_timeout(BUS_TIMEOUT) {
            Ok(a) if a.starts_with("unix:") => a,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dbus-daemon did not print its address: {other:?}");
            }
        };
        if open {
            use std::os::unix::fs::PermissionsExt;
            let chmod = |p: &Path, m: u32| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
                    .unwrap_or_else(|e| panic!("chmod {m:o} {}: {e}", p.display()))
            };
            chmod(dir.path(), 0o755);
            chmod(&socket, 0o777);
        }
        PrivateBus {
            _dir: dir,
            child,
            address,
        }
    }

    /// The bus's address (`unix:path=…,guid=…`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The bus daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ask(&self, method: &str, arg: &str) -> Option<String> {
        let mut c = Command::new("dbus-send");
        c.args([
            &format!("--bus={}", self.address),
            "--print-reply=literal",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            &format!("org.freedesktop.DBus.{method}"),
            &format!("string:{arg}"),
        ]);
        let out = run_with_timeout(c, BUS_TIMEOUT).ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // `uint32 1234` for a pid, the bare name for an owner.
        Some(text.rsplit(' ').next().unwrap_or("").to_string())
    }

    /// The unique name and pid of the owner of `name`, if someone owns it.
    pub fn owner(&self, name: &str) -> Option<(String, Option<u32>)> {
        let unique = self.ask("GetNameOwner", name)?;
        let pid = self
            .ask("GetConnectionUnixProcessID", &unique)
            .and_then(|p| p.parse().ok());
        Some((unique, pid))
    }

    /// Starts `dbus-monitor` on this bus for `rule` (a match rule).
    pub fn monitor(&self, rule: &str) -> Monitor {
        Monitor::start(&self.address, rule)
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dbus-monitor` following a match rule; what it printed so far is
/// [`Monitor::text`]. Dropping it kills the monitor (its own child).
pub struct Monitor {
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Monitor {
    fn start(address: &str, rule: &str) -> Monitor {
        let mut child = Command::new("dbus-monitor")
            .arg("--address")
            .arg(address)
            .arg(rule)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-monitor");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut out = child.stdout.take().expect("stdout was piped");
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Monitor { child, seen }
    }

    /// What the monitor printed so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python that has keyring with the SecretService backend.
pub fn python_with_keyring() -> Option<PathBuf> {
    for candidate in ["python3", "/usr/bin/python3"] {
        let p = if candidate.contains('/') {
            Some(PathBuf::from(candidate)).filter(|p| p.is_file())
        } else {
            find(candidate)
        };
        let Some(p) = p else { continue };
        let mut c = Command::new(&p);
        c.args([
            "-c",
            "import keyring, secretstorage, keyring.backends.SecretService",
        ]);
        if run_with_timeout(c, BUS_TIMEOUT).is_ok_and(|o| o.status.success()) {
            return Some(p);
        }
    }
    None
}

/// A Python script: `set_password(argv[1], argv[2], stdin)` through the
/// SecretService backend.
pub const PY_SET: &str = r#"
import sys
from keyring.backends.SecretService import Keyring
k = Keyring()
k.set_password(sys.argv[1], sys.argv[2], sys.stdin.read())
"#;

/// python-keyring's SecretService backend, as `-b` names it.
pub const PY_BACKEND: &str = "keyring.backends.SecretService.Keyring";

/// `git-credential-libsecret`: named by `COFFER_GIT_CREDENTIAL_LIBSECRET`,
/// installed, or built from git's contrib source into `dir` when
/// libsecret's headers are installed. `Err` says why there is none.
pub fn git_credential_libsecret(dir: &Path) -> Result<PathBuf, String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if let Some(p) = std::env::var_os("COFFER_GIT_CREDENTIAL_LIBSECRET").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "COFFER_GIT_CREDENTIAL_LIBSECRET={} is not a file",
                p.display()
            ))
        };
    }
    if let Some(p) = find("git-credential-libsecret") {
        return Ok(p);
    }
    if let Some(git) = find("git") {
        let mut c = Command::new(git);
        c.arg("--exec-path");
        if let Ok(out) = run_with_timeout(c, BUS_TIMEOUT) {
            let p = PathBuf::from(text(&out.stdout).trim()).join("git-credential-libsecret");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let source =
        Path::new("/usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret.c");
    if !source.is_file() {
        return Err("git-credential-libsecret is not installed and git's contrib source is not there (Debian packages only the source, in git)".into());
    }
    let mut c = Command::new("pkg-config");
    c.args(["--cflags", "--libs", "glib-2.0", "libsecret-1"]);
    let flags = match find("pkg-config").map(|_| run_with_timeout(c, BUS_TIMEOUT)) {
        Some(Ok(out)) if out.status.success() => text(&out.stdout),
        _ => {
            return Err(
                "git-credential-libsecret is not packaged by Debian, and building it from git's contrib source needs libsecret-1-dev (pkg-config libsecret-1)"
                    .into(),
            )
        }
    };
    let exe = dir.join("git-credential-libsecret");
    let mut c = Command::new("cc");
    c.arg("-o")
        .arg(&exe)
        .arg(source)
        .args(flags.split_whitespace());
    match run_with_timeout(c, Duration::from_secs(120)) {
        Ok(out) if out.status.success() => Ok(exe),
        Ok(out) => Err(format!(
            "building git-credential-libsecret from {} failed: {}",
            source.display(),
            text(&out.stderr)
        )),
        Err(e) => Err(format!("building git-credential-libsecret: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_bus_answers_and_names_owners() {
        if find("dbus-daemon").is_none() || find("dbus-send").is_none() {
            if crate::tools::required() {
                panic!("dbus-daemon and dbus-send are needed (COFFER_REQUIRE_TOOLS=1)");
            }
            eprintln!("SKIP: no dbus-daemon or dbus-send");
            return;
        }
        let bus = PrivateBus::start(None, &[]);
        assert!(bus.address().starts_with("unix:path="));
        let (unique, pid) = bus
            .owner("org.freedesktop.DBus")
            .expect("the bus owns its own name");
        assert_eq!(unique, "org.freedesktop.DBus");
        let _ = pid;
        assert_eq!(bus.owner("org.freedesktop.secrets"), None, "nobody yet");
    }
}
