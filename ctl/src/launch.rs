//! Starting `cofferd` on demand: found next to this executable, then on
//! `PATH`; run in its own session with its output appended to the log
//! file; then waited for until its socket answers.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coffer_proto::dirs::{create_private_dir, Dirs};

use crate::error::CliError;

/// How long to wait for a started daemon to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How often to try connecting while it starts.
const POLL: Duration = Duration::from_millis(20);

/// How many times to start it within [`START_TIMEOUT`]: a start can lose
/// to a daemon that is still shutting down and holds the lock.
const MAX_STARTS: u32 = 3;

/// Environment variables that carry secrets: never passed to the daemon.
const SECRET_VARS: &[&str] = &[
    "COFFER_PASSWORD",
    "COFFER_ACCOUNT_KEY",
    "COFFER_NEW_PASSWORD",
    "COFFER_OLD_PASSWORD",
    "COFFER_OLD_ACCOUNT_KEY",
];

/// The daemon's executable: next to ours, else the first `cofferd` on
/// `PATH`.
pub fn find_daemon() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("cofferd")));
    if let Some(p) = beside.filter(|p| is_executable(p)) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join("cofferd"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Starts the daemon and returns a connection to it once it listens.
pub fn start_and_connect(dirs: &Dirs) -> Result<UnixStream, CliError> {
    let exe = find_daemon().ok_or_else(|| {
        CliError::Failed(
            "cofferd is not running and was not found next to coffer or on PATH; install it or start it yourself"
                .into(),
        )
    })?;
    let log = dirs.log_file();
    let socket = dirs.socket();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut child = spawn(&exe, dirs)?;
    let mut starts = 1;
    let mut last_exit = None;
    loop {
        match UnixStream::connect(&socket) {
            Ok(stream) => return Ok(stream),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(source) => {
                return Err(CliError::Connect {
                    path: socket,
                    source,
                })
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        // A daemon that exited without listening may have lost the lock to
        // one that was shutting down: start it again, a few times.
        if let Ok(Some(status)) = child.try_wait() {
            last_exit = Some(status);
            if starts >= MAX_STARTS {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(stream) = UnixStream::connect(&socket) {
                return Ok(stream);
            }
            child = spawn(&exe, dirs)?;
            starts += 1;
        }
        std::thread::sleep(POLL);
    }
    let how = match last_exit {
        Some(status) => format!(" (it exited with {status})"),
        None => String::new(),
    };
    Err(CliError::Failed(format!(
        "cofferd did not start{how}; see {}",
        log.display()
    )))
}

/// Runs `exe --log-file LOG` in a new session, stdin from /dev/null,
/// stdout and stderr appended to LOG, without the secret variables.
fn spawn(exe: &Path, dirs: &Dirs) -> Result<Child, CliError> {
    create_private_dir(&dirs.state).map_err(|e| {
        CliError::io(
            format!("cannot create the state directory {}", dirs.state.display()),
            e,
        )
    })?;
    let log_path = dirs.log_file();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| {
            CliError::io(
                format!("cannot open the log file {}", log_path.display()),
                e,
            )
        })?;
    let log2 = log
        .try_clone()
        .map_err(|e| CliError::io("cannot open the log file", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--log-file")
        .arg(&log_path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the
    // parent; it detaches the daemon from our terminal and process group.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| CliError::io(format!("cannot start {}", exe.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_listed() {
        for v in [
            "COFFER_PASSWORD",
            "COFFER_ACCOUNT_KEY",
            "COFFER_NEW_PASSWORD",
            "COFFER_OLD_PASSWORD",
            "COFFER_OLD_ACCOUNT_KEY",
        ] {
            assert!(SECRET_VARS.contains(&v));
        }
    }

    #[test]
    fn executables_are_told_apart() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cofferd");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!is_executable(&f));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&f));
        assert!(!is_executable(dir.path()));
    }
}
