//! External tools some tests need (`keyctl`, `syncthing`, `keepassxc-cli`,
//! `dbus-run-session` …): a test whose tool is missing is skipped with a
//! note, unless `COFFER_REQUIRE_TOOLS=1` (as in CI), where it fails.
//!
//! Some of those tools set up a session for a command (`keyctl session -`,
//! `dbus-run-session`): such a test re-runs its own test binary inside the
//! session, for itself alone, with a variable naming the inner run; the
//! outer run checks that the inner one really ran that test and passed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::process::run_with_timeout;

/// The variable that turns a missing tool from a skip into a failure.
pub const REQUIRE_TOOLS: &str = "COFFER_REQUIRE_TOOLS";

/// Whether missing tools fail the tests (`COFFER_REQUIRE_TOOLS=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_TOOLS).as_deref() == Ok("1")
}

/// Where the executable `tool` is on PATH (a path with a `/`, such as
/// `/usr/sbin/sshd`, is taken as it is).
pub fn find(tool: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |candidate: &Path| {
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if tool.contains('/') {
        return executable(Path::new(tool)).then(|| PathBuf::from(tool));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| executable(candidate))
}

/// The paths of `tools`, for `test`; `None` after printing a skip note
/// when one is missing (a panic under `COFFER_REQUIRE_TOOLS=1`).
pub fn require(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::with_capacity(tools.len());
    for tool in tools {
        match find(tool) {
            Some(path) => found.push(path),
            None if required() => {
                panic!("{test}: `{tool}` is not installed and {REQUIRE_TOOLS}=1")
            }
            None => {
                eprintln!(
                    "SKIP {test}: `{tool}` is not installed (set {REQUIRE_TOOLS}=1 to fail instead)"
                );
                return None;
            }
        }
    }
    Some(found)
}

/// [`require`] of one `tool` for the running test (named after its thread,
/// which the test harness names after the test).
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    require(test, &[tool]).and_then(|mut found| found.pop())
}

/// Whether this process is the inner run of `test` (`var` names it).
pub fn is_inner(var: &str, test: &str) -> bool {
    std::env::var(var).as_deref() == Ok(test)
}

/// `program BEFORE… THIS-TEST-BINARY --exact TEST …` with `var=test`: the
/// command that re-runs `test` alone (output shown, one thread) inside
/// what `program` sets up.
pub fn self_command(program: &Path, before: &[&str], var: &str, test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut cmd = Command::new(program);
    cmd.args(before)
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, test);
    cmd
}

/// Runs the inner run `cmd` of `test` (killed after `timeout`), prints
/// what it printed, and asserts that it passed and really ran `test` (a
/// filter that matched nothing passes too, with 0 tests). Returns its
/// output.
pub fn run_inner(cmd: Command, test: &str, timeout: Duration) -> Output {
    let out = run_with_timeout(cmd, timeout).unwrap_or_else(|e| panic!("{test}: {e}"));
    let (stdout, stderr) = (crate::stdout(&out), crate::stderr(&out));
    println!(
        "{test}, inner run ({}):\n-- stdout --\n{stdout}-- stderr --\n{stderr}--",
        out.status
    );
    let problem = if !out.status.success() {
        Some(format!("failed ({})", out.status))
    } else if !stdout.contains("test result: ok. 1 passed") {
        Some("did not run the test".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        panic!("{test}: the inner run {problem}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_on_path_are_found_and_missing_ones_are_not() {
        let sh = find("sh").expect("every machine has sh");
        assert!(sh.is_absolute());
        assert_eq!(find("no-such-tool-anywhere-0xc0ffee"), None);
        assert_eq!(
            find(sh.to_str().unwrap()),
            Some(sh.clone()),
            "a path as it is"
        );
        assert_eq!(find("/no/such/dir/sh"), None);
        if !required() {
            assert_eq!(
                require("unit", &["sh", "no-such-tool-anywhere-0xc0ffee"]),
                None
            );
        }
        assert_eq!(require("unit", &["sh"]), Some(vec![sh.clone()]));
        assert_eq!(require_tool("sh"), Some(sh));
    }

    #[test]
    fn the_self_command_runs_one_test_exactly() {
        let cmd = self_command(Path::new("keyctl"), &["session", "-"], "INNER", "t");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..2], ["session", "-"]);
        assert_eq!(
            &args[3..],
            ["--exact", "t", "--nocapture", "--test-threads=1"]
        );
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == "INNER" && v.is_some_and(|v| v == "t")));
    }
}
