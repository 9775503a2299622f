//! Processes: running a command with a deadline, timing a whole process,
//! and reading a process's CPU time, memory and wake-ups from `/proc`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Runs `cmd` with stdin from `/dev/null`, collecting its output; kills it
/// (by its own pid) after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut stdout = child.stdout.take().context("stdout was piped")?;
    let mut stderr = child.stderr.take().context("stderr was piped")?;
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{cmd:?} did not finish within {timeout:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// Runs `cmd` as a whole process with every stream on `/dev/null` and
/// returns its exit status and wall time from spawn to reaped.
pub fn time_process(cmd: &mut Command) -> anyhow::Result<(ExitStatus, Duration)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    Ok((status, start.elapsed()))
}

/// Whether a process with `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_some_and(|s| s.state != 'Z'),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; `false` after `limit`.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while alive(pid) {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Sends `signal` to `pid` (one process this harness started).
pub fn signal(pid: u32, signal: i32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is one
    // that this harness started itself.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The fields of `/proc/PID/stat` this harness uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Process state (`R`, `S`, `Z`, …).
    pub state: char,
    /// User-mode CPU time in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime: u64,
}

/// Parses `/proc/PID/stat` (the command name may hold spaces and
/// parentheses, so fields are counted from the last `)`).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based in
    // proc(5)), i.e. indexes 0, 11 and 12 here.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
    })
}

/// `/proc/PID/stat` of `pid`.
pub fn stat(pid: u32) -> anyhow::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    parse_stat(&text).with_context(|| format!("cannot parse /proc/{pid}/stat"))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Memory figures of `/proc/PID/status`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss: u64,
    /// Peak resident set size.
    pub hwm: u64,
    /// Threads.
    pub threads: u64,
}

/// Parses the `VmRSS`, `VmHWM` and `Threads` lines of `/proc/PID/status`.
pub fn parse_status(text: &str) -> Memory {
    let mut m = Memory::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        match key {
            "VmRSS" => m.rss = number * 1024,
            "VmHWM" => m.hwm = number * 1024,
            "Threads" => m.threads = number,
            _ => {}
        }
    }
    m
}

/// `/proc/PID/status` memory figures of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    Ok(parse_status(&text))
}

/// Context switches (voluntary + involuntary) summed over every thread of
/// `pid`: each one is a wake-up, even when too short to cost a tick.
pub fn context_switches(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for entry in std::fs::read_dir(Path::new(&dir)).with_context(|| format!("cannot list {dir}"))? {
        let path = entry?.path().join("status");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // the thread ended meanwhile
        };
        for line in text.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let line = "1234 (cofferd (x) y) S 1 1234 1234 0 -1 4194560 600 0 0 0 17 5 0 0 20 0 3 0 100 1000 200";
        let s = parse_stat(line).expect("a well-formed stat line");
        assert_eq!(s.state, 'S');
        assert_eq!(s.utime, 17);
        assert_eq!(s.stime, 5);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn status_memory_lines_are_read_in_bytes() {
        let text = "Name:\tcofferd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        let m = parse_status(text);
        assert_eq!(m.rss, 10240 * 1024);
        assert_eq!(m.hwm, 20480 * 1024);
        assert_eq!(m.threads, 3);
    }

    #[test]
    fn this_process_is_alive_and_readable() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(memory(me).expect("our own status").rss > 0);
        assert!(context_switches(me).is_ok());
        assert!(ticks_per_sec() > 0);
    }

    #[test]
    fn a_command_is_timed_and_a_slow_one_killed() {
        let (status, took) = time_process(&mut Command::new("true")).expect("true runs");
        assert!(status.success());
        assert!(took < Duration::from_secs(5));
        let mut sleep = Command::new("sleep");
        sleep.arg("5");
        let err = run_with_timeout(sleep, Duration::from_millis(100)).expect_err("killed");
        assert!(err.to_string().contains("killed"), "{err}");
    }
}
