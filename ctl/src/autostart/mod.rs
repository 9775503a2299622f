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
//!
//! # Layout
//!
//! - this file: the actions, the report, [`run`] and [`run_in`].
//! - `manager`: the [`ServiceManager`](manager::ServiceManager) trait and
//!   the one `enable`/`disable`/`status` flow written against it.
//! - `systemd`, `launchd`: the two service managers.
//! - `units`, `plist`: rendering the systemd units and the LaunchAgent
//!   from the templates compiled in here.
//! - `env`: the [`Environment`] and where the files go (and the agent's
//!   label, which names its plist).
//! - `command`: running `systemctl`/`launchctl` with a time limit.
//! - `files`: writing, linking, removing and checking the files.
//! - `error`: [`AutostartError`].
//!
//! Imports between the files go one way: `error` <- `env` <- `command`,
//! `files`, `units`, `plist` <- `manager` <- `systemd`, `launchd`; the
//! files below use this one's shared types, and this one dispatches to
//! them. The module uses nothing else of the CLI (`ctl/tests/autostart.rs`
//! compiles it on its own).

mod command;
mod env;
mod error;
mod files;
mod launchd;
mod manager;
mod plist;
mod systemd;
mod units;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use env::{Environment, LAUNCHD_LABEL};
pub use error::AutostartError;
pub use plist::render_plist;
pub use units::{render_service, render_socket};

/// The systemd service template (its `ExecStart=` is a placeholder).
pub const SERVICE_TEMPLATE: &str = include_str!("../../../systemd/cofferd.service");
/// The systemd socket template.
pub const SOCKET_TEMPLATE: &str = include_str!("../../../systemd/cofferd.socket");
/// The launchd agent template (`@COFFERD@` and `@HOME@` are placeholders).
pub const PLIST_TEMPLATE: &str = include_str!("../../../launchd/org.coffer.cofferd.plist");

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

impl AutostartReport {
    /// The report of `action` before it has done anything.
    fn new(action: AutostartAction) -> AutostartReport {
        AutostartReport {
            action,
            manager: Manager::None,
            installed: false,
            up_to_date: false,
            files: Vec::new(),
            started: false,
            reason_not_started: None,
            lines: Vec::new(),
        }
    }

    /// Records one step.
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
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
    let mut report = AutostartReport::new(action);
    match env.platform {
        Platform::Systemd => manager::run(&systemd::Systemd, action, cofferd, env, &mut report)?,
        Platform::Launchd => manager::run(&launchd::Launchd, action, cofferd, env, &mut report)?,
    }
    Ok(report)
}

/// `enable` refuses a daemon path that launchd or systemd could not run.
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

/// `path` as text fit for a unit file or a plist: UTF-8 without control
/// characters (a newline would end the setting early).
fn path_text(path: &Path) -> Result<&str, AutostartError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn paths_for_login_items_are_plain_text() {
        assert_eq!(path_text(Path::new("/a b/c")).unwrap(), "/a b/c");
        let newline = path_text(Path::new("/a\nb")).unwrap_err();
        assert!(
            newline.to_string().contains("control character"),
            "{newline}"
        );
        let bytes = Path::new(OsStr::from_bytes(b"/a\xffb"));
        let latin1 = path_text(bytes).unwrap_err();
        assert!(latin1.to_string().contains("not valid UTF-8"), "{latin1}");
    }
}
