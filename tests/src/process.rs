//! Processes: running a command with a deadline (its output captured, its
//! stdin fed or closed), and watching or signalling a pid the test started.
//!
//! Liveness is read from `/proc/PID/stat` (Linux): a pid without an entry is
//! gone, and a zombie or dead entry (state `Z` or `X`: killed, not yet
//! reaped) counts as gone too, since it runs no code any more.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a wait on a process looks again.
const POLL: Duration = Duration::from_millis(5);

/// Runs `cmd` (stdin from /dev/null, stdout and stderr captured) and kills
/// it after `timeout`. `Err` says what happened, with the command line.
pub fn run_with_timeout(cmd: Command, timeout: Duration) -> Result<Output, String> {
    run(cmd, None, timeout)
}

/// [`run_with_timeout`] with `input` written to the command's stdin (then
/// closed), for tools that read a password or a script there.
pub fn run_with_input(cmd: Command, input: &[u8], timeout: Duration) -> Result<Output, String> {
    run(cmd, Some(input), timeout)
}

fn run(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Result<Output, String> {
    let line = format!("{cmd:?}");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {line}: {e}"))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        let bytes = bytes.to_vec();
        // A writer thread: a child that never reads must not block the deadline. A child
        // that exits without reading all of it makes the write fail, which is its business.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let pipes: [(u8, Option<Box<dyn Read + Send>>); 2] = [
        (1, child.stdout.take().map(|p| Box::new(p) as _)),
        (2, child.stderr.take().map(|p| Box::new(p) as _)),
    ];
    for (n, pipe) in pipes {
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
        std::thread::sleep(POLL);
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

/// `pid` as a `pid_t` that can name a process (not 0, not negative, not
/// beyond `pid_t`).
fn as_pid_t(pid: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(pid).ok().filter(|p| *p > 0)
}

/// The state letter of a `/proc/PID/stat` line: the first field after the
/// command name, which is in parentheses and may itself hold `)`.
fn stat_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = as_pid_t(pid) else {
        return false;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat_state(&stat), Some('Z' | 'X')),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // /proc unreadable (not mounted, or hidden): ask the kernel instead; EPERM means
        // the process exists but belongs to someone else.
        // SAFETY: signal 0 sends nothing; kill(2) only checks that the pid exists.
        Err(_) => unsafe {
            libc::kill(pid, 0) == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        },
    }
}

/// Sends `signal` to `pid`, a process this test started (its daemon, or a
/// child); `false` when the pid names no process or the signal was refused.
pub fn send_signal(pid: u32, signal: libc::c_int) -> bool {
    let Some(pid) = as_pid_t(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is one the test started.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Waits until `pid` is gone (see [`pid_alive`]); `false` if it still runs
/// after `limit`.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// SIGKILL to `pid`, then waits until it is gone; panics when it survives
/// 10 s (a kernel that cannot kill it is no place to go on testing).
pub fn kill9(pid: u32) {
    send_signal(pid, libc::SIGKILL);
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "process {pid} survived SIGKILL"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_read_after_the_last_parenthesis() {
        assert_eq!(stat_state("42 (cofferd) S 1 42"), Some('S'));
        assert_eq!(stat_state("42 (a) b) Z 1 42"), Some('Z'));
        assert_eq!(stat_state("garbage"), None);
    }

    #[test]
    fn this_process_lives_and_impossible_pids_do_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert!(!send_signal(0, 0), "pid 0 would signal the process group");
    }

    #[test]
    fn a_reaped_child_is_gone_and_a_zombie_counts_as_gone() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let pid = child.id();
        assert!(pid_alive(pid));
        assert!(send_signal(pid, libc::SIGKILL));
        // Not reaped yet: a zombie, which runs nothing any more.
        assert!(
            wait_gone(pid, Duration::from_secs(10)),
            "a killed child stays alive"
        );
        child.wait().expect("reap");
        assert!(!pid_alive(pid));
    }

    #[test]
    fn output_input_and_timeouts() {
        let mut cat = Command::new("cat");
        cat.arg("-");
        let out = run_with_input(cat, b"fed\n", Duration::from_secs(20)).expect("cat runs");
        assert_eq!(out.stdout, b"fed\n");
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = run_with_timeout(sh, Duration::from_secs(20)).expect("sh runs");
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(out.status.code(), Some(3));
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let err = run_with_timeout(sleep, Duration::from_millis(200)).expect_err("killed");
        assert!(err.contains("did not finish within"), "{err}");
        let err = run_with_timeout(Command::new("/nonexistent/tool"), Duration::from_secs(5))
            .expect_err("no such program");
        assert!(err.contains("cannot run"), "{err}");
    }
}
