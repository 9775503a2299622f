//! Running the service manager's commands (`systemctl`, `launchctl`): with
//! the session's variables, a time limit and the output captured, so that a
//! failure can say what the command printed.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{AutostartError, AutostartReport, Environment};

/// How long a quick query of the service manager may take.
pub(super) const QUERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long starting or stopping may take (a `Type=notify` start waits for
/// the daemon's readiness).
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether the service manager can be asked to do things right now.
pub(super) enum Reach<'a> {
    /// Yes, through this tool.
    Yes(Tool<'a>),
    /// It is installed but not reachable from here, for this reason.
    Unreachable(String),
    /// It is not installed, for this reason.
    Missing(String),
}

/// A service manager's command line tool (`systemctl`, `launchctl`), found
/// on `PATH`, and how its commands are run.
pub(super) struct Tool<'a> {
    program: PathBuf,
    /// Arguments before every command's own (systemd's `--user`).
    prefix: &'static [&'static str],
    /// Where a failure message sends the user next.
    hint: &'static str,
    env: &'a Environment,
}

impl<'a> Tool<'a> {
    /// The program `name` on the environment's `PATH`, if it is there.
    pub fn find(
        name: &str,
        prefix: &'static [&'static str],
        hint: &'static str,
        env: &'a Environment,
    ) -> Option<Tool<'a>> {
        let program = env.find_program(name)?;
        Some(Tool {
            program,
            prefix,
            hint,
            env,
        })
    }

    /// The environment the tool runs in.
    pub fn env(&self) -> &'a Environment {
        self.env
    }

    fn args<'s>(&'s self, args: &[&'s str]) -> Vec<&'s OsStr> {
        let all = self.prefix.iter().chain(args).copied();
        all.map(OsStr::new).collect()
    }

    /// Runs a query: a non-zero exit is an answer too.
    pub fn ask(&self, args: &[&str], timeout: Duration) -> Result<Output, AutostartError> {
        run_command(&self.program, &self.args(args), self.env, timeout)
    }

    /// Runs a command that must succeed and records `ran COMMAND` in the
    /// report. A failure names the command, what it printed and the hint.
    pub fn run(
        &self,
        args: &[&str],
        timeout: Duration,
        report: &mut AutostartReport,
    ) -> Result<Output, AutostartError> {
        let args = self.args(args);
        let out = run_command(&self.program, &args, self.env, timeout)?;
        let shown = command_line(&self.program, &args);
        if !out.status.success() {
            return Err(AutostartError::Command {
                command: shown,
                detail: out.detail(),
                hint: if self.hint.is_empty() {
                    String::new()
                } else {
                    format!("; {}", self.hint)
                },
            });
        }
        report.say(format!("ran {shown}"));
        Ok(out)
    }
}

/// A finished command.
#[derive(Debug)]
pub(super) struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// What it printed, decoded lossily.
    pub stdout: String,
    /// What it complained, decoded lossily.
    pub stderr: String,
}

impl Output {
    /// Exit status and the first lines of output, for messages.
    pub fn detail(&self) -> String {
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
/// time limit, capturing its output. A non-zero exit is not an error here.
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
    let mut child = spawn(&mut cmd).map_err(|e| fail(format!("could not run it: {e}")))?;
    // Both pipes are drained on threads, so a chatty command cannot block
    // on a full pipe while we wait for it to exit.
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

/// Spawns `cmd`, retrying for a moment while its program is busy
/// (`ETXTBSY`): being written, or still open for writing in a process
/// forked meanwhile, as when a package upgrade replaces `systemctl`, or
/// when another test thread writes a fake one and forks at that instant.
fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 40 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// The command as a person would type it (the program without its
/// directory).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A tool named `tool` in `dir/bin`, running `body`.
    fn tool<'a>(env: &'a Environment, body: &str) -> Tool<'a> {
        let bin = env.home.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let p = bin.join("tool");
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        Tool::find("tool", &["--pre"], "look here", env).unwrap()
    }

    fn env(home: &Path) -> Environment {
        let mut env = Environment::for_tests(home);
        env.path = Some(home.join("bin").into_os_string());
        env.xdg_runtime_dir = Some(home.join("run"));
        env
    }

    #[test]
    fn the_session_is_passed_on_and_output_captured() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(dir.path());
        let tool = tool(
            &env,
            "echo \"$1 $2 $XDG_RUNTIME_DIR ${DBUS_SESSION_BUS_ADDRESS-unset}\"\n",
        );
        let mut r = AutostartReport::new(super::super::AutostartAction::Status);
        let out = tool.run(&["hi"], QUERY_TIMEOUT, &mut r).unwrap();
        let run = dir.path().join("run");
        assert_eq!(
            out.stdout.trim(),
            format!("--pre hi {} unset", run.display())
        );
        assert_eq!(r.lines, ["ran tool --pre hi"]);
    }

    #[test]
    fn failures_name_the_command_its_complaint_and_the_hint() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(dir.path());
        let tool = tool(&env, "echo one; echo 'it broke' >&2; exit 4\n");
        let mut r = AutostartReport::new(super::super::AutostartAction::Status);
        let err = tool.run(&["go"], QUERY_TIMEOUT, &mut r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`tool --pre go` failed: it broke (exit status: 4); look here"
        );
        assert!(r.lines.is_empty(), "a failed step is not reported as run");
        // A query's non-zero exit is an answer.
        let out = tool.ask(&["go"], QUERY_TIMEOUT).unwrap();
        assert_eq!(out.stdout, "one\n");
        assert_eq!(out.detail(), "it broke (exit status: 4)");
    }

    #[test]
    fn a_hanging_command_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let env = env(dir.path());
        let tool = tool(&env, "exec sleep 30\n");
        let err = tool
            .ask(&[], Duration::from_millis(200))
            .expect_err("a timeout");
        assert!(err.to_string().contains("no answer within 0 s"), "{err}");
    }
}
