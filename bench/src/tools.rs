//! The peer tools the comparisons need, looked up on `PATH`. Nothing is
//! installed: a missing tool is reported with how to get it, and the
//! comparison that needs it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::proc::run_with_timeout;

/// One external program.
#[derive(Clone, Debug)]
pub struct Tool {
    /// Its executable name.
    pub name: &'static str,
    /// Where it was found.
    pub path: Option<PathBuf>,
    /// Its version line, when it printed one.
    pub version: Option<String>,
    /// Which measurement needs it.
    pub needed_for: &'static str,
    /// How to get it.
    pub how: &'static str,
}

/// Every tool the harness may use, in the order they are reported.
const TOOLS: &[(&str, &str, &str, &[&str])] = &[
    (
        "rbw",
        "cli: the client round trip of rbw (Bitwarden CLI) to its agent",
        "cargo install rbw",
        &["--version"],
    ),
    (
        "rbw-agent",
        "cli: rbw's agent, started with a temporary HOME",
        "cargo install rbw (installs both rbw and rbw-agent)",
        &["--version"],
    ),
    (
        "keepassxc-cli",
        "merge: `keepassxc-cli merge` of equivalent KeePass databases",
        "apt-get install keepassxc (Debian; keepassxc-minimal on newer releases also ships keepassxc-cli)",
        &["--version"],
    ),
    (
        "syncthing",
        "propagation: the delay a Syncthing folder adds by default",
        "apt-get install syncthing",
        &["--version"],
    ),
    (
        "keyctl",
        "unlock: a kernel session keyring (`keyctl session -`) for the key cache",
        "apt-get install keyutils",
        &["--version"],
    ),
    (
        "hyperfine",
        "optional: cross-check of the CLI timings (the harness times everything itself)",
        "cargo install hyperfine, or apt-get install hyperfine",
        &["--version"],
    ),
    (
        "valgrind",
        "optional: profiling what misses a target (valgrind --tool=callgrind)",
        "apt-get install valgrind",
        &["--version"],
    ),
];

/// The first executable `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Looks every tool up (and asks each found one for its version).
pub fn check_all() -> Vec<Tool> {
    TOOLS
        .iter()
        .map(|(name, needed_for, how, version_args)| {
            let path = which(name);
            let version = path.as_ref().and_then(|p| {
                let mut cmd = Command::new(p);
                cmd.args(*version_args);
                let out = run_with_timeout(cmd, Duration::from_secs(10)).ok()?;
                let text = if out.stdout.is_empty() {
                    out.stderr
                } else {
                    out.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .map(|l| l.trim().to_owned())
            });
            Tool {
                name,
                path,
                version,
                needed_for,
                how,
            }
        })
        .collect()
}

/// The tool named `name` from `tools`, if found.
pub fn found<'a>(tools: &'a [Tool], name: &str) -> Option<&'a Path> {
    tools
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| t.path.as_deref())
}

/// What a missing tool's comparison needs, as a sentence.
pub fn missing_note(tools: &[Tool], name: &str) -> String {
    match tools.iter().find(|t| t.name == name) {
        Some(t) => format!(
            "{} not found on PATH: skipped ({}); to run it: {}",
            t.name, t.needed_for, t.how
        ),
        None => format!("{name} not found on PATH: skipped"),
    }
}

/// Prints the table of tools.
pub fn print(tools: &[Tool]) {
    println!("Peer tools (nothing is installed by this harness):");
    for t in tools {
        match &t.path {
            Some(p) => println!(
                "  {:<14} found  {} ({})",
                t.name,
                p.display(),
                t.version.as_deref().unwrap_or("version unknown")
            ),
            None => println!(
                "  {:<14} MISSING — needed for {}; get it with: {}",
                t.name, t.needed_for, t.how
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_shell_and_not_a_made_up_name() {
        assert!(which("sh").is_some(), "sh is on PATH on every Unix");
        assert!(which("no-such-tool-coffer-bench").is_none());
        let tools = vec![Tool {
            name: "rbw",
            path: None,
            version: None,
            needed_for: "cli",
            how: "cargo install rbw",
        }];
        assert!(found(&tools, "rbw").is_none());
        assert!(missing_note(&tools, "rbw").contains("cargo install rbw"));
    }
}
