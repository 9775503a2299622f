//! The macOS service manager: launchd's per-user GUI domain
//! (`gui/<uid>`), reached through `launchctl`. Over ssh there is no such
//! domain; the agent's file is then written and loaded at the next
//! graphical login.

use std::path::Path;
use std::time::Duration;

use super::command::{Reach, Tool, QUERY_TIMEOUT, START_TIMEOUT};
use super::files::create_private_dir;
use super::manager::{LoginFile, ServiceManager, Step, Written};
use super::{render_plist, AutostartError, AutostartReport, Environment, Manager, LAUNCHD_LABEL};

const HINT: &str = "see `launchctl print gui/$(id -u)/org.coffer.cofferd` and \
                    ~/Library/Logs/coffer/cofferd.stderr.log";

/// A LaunchAgent: `~/Library/LaunchAgents/org.coffer.cofferd.plist`.
pub(super) struct Launchd;

fn domain(env: &Environment) -> String {
    format!("gui/{}", env.uid)
}

fn service_target(env: &Environment) -> String {
    format!("gui/{}/{LAUNCHD_LABEL}", env.uid)
}

/// Whether the agent is loaded, and launchd's description of it.
fn loaded(tool: &Tool) -> Result<Option<String>, AutostartError> {
    let out = tool.ask(&["print", &service_target(tool.env())], QUERY_TIMEOUT)?;
    Ok(out.status.success().then_some(out.stdout))
}

/// `launchctl bootstrap`, retried briefly: right after a `bootout` the
/// old job can still be on its way out.
fn bootstrap(tool: &Tool, report: &mut AutostartReport) -> Step {
    let domain = domain(tool.env());
    let plist = tool.env().launch_agent_path();
    let plist = plist.to_string_lossy();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match tool.run(&["bootstrap", &domain, &plist], START_TIMEOUT, report) {
            Err(_) if attempt < 5 => std::thread::sleep(Duration::from_millis(300)),
            result => return result.map(drop),
        }
    }
}

impl ServiceManager for Launchd {
    const MANAGER: Manager = Manager::Launchd;
    const NAME: &'static str = "launchd";
    const RUNNING: &'static str = "cofferd is running and will start at every login";

    fn probe<'a>(&self, env: &'a Environment) -> Reach<'a> {
        let Some(launchctl) = Tool::find("launchctl", &[], HINT, env) else {
            return Reach::Missing("there is no launchctl on PATH".into());
        };
        let domain = domain(env);
        match launchctl.ask(&["print", &domain], QUERY_TIMEOUT) {
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

    fn files(&self, cofferd: Option<&Path>, env: &Environment) -> Vec<LoginFile> {
        let plist = |c: &Path| render_plist(c, env);
        let path = env.launch_agent_path();
        vec![LoginFile::for_daemon(
            path,
            cofferd,
            plist,
            "ProgramArguments: ",
        )]
    }

    /// launchd creates neither the log directory nor the socket's.
    fn prepare(&self, env: &Environment) -> Step {
        create_private_dir(&env.launchd_log_dir())?;
        create_private_dir(&env.launchd_runtime_dir())
    }

    fn start(&self, tool: &Tool, written: &[Written], report: &mut AutostartReport) -> Step {
        let target = service_target(tool.env());
        let changed = written.first() != Some(&Written::Unchanged);
        // Clears a "disabled" override left by `launchctl disable`.
        tool.run(&["enable", &target], START_TIMEOUT, report)?;
        let was_loaded = loaded(tool)?.is_some();
        if was_loaded && changed {
            tool.run(&["bootout", &target], START_TIMEOUT, report)?;
        }
        if !was_loaded || changed {
            bootstrap(tool, report)
        } else {
            tool.run(&["kickstart", &target], START_TIMEOUT, report)
                .map(drop)
        }
    }

    fn at_next_login(&self, _manager: Manager) -> &'static str {
        "launchd loads the agent at your next graphical login"
    }

    fn stop(&self, tool: &Tool, _installed: bool, report: &mut AutostartReport) -> Step {
        // A loaded agent is unloaded even when its file is already gone.
        if loaded(tool)?.is_some() {
            let target = service_target(tool.env());
            tool.run(&["bootout", &target], START_TIMEOUT, report)?;
        }
        Ok(())
    }

    fn disabled(&self, _reached: bool) -> &'static str {
        "cofferd will not start at login"
    }

    fn query(&self, tool: &Tool, report: &mut AutostartReport) -> Step {
        let Some(desc) = loaded(tool)? else {
            report.say("launchd does not have the agent loaded");
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
        report.say(format!("launchd has the agent loaded: {state}{pid}"));
        if !report.started {
            report.reason_not_started = Some(format!("the agent is loaded but {state}; {HINT}"));
        }
        Ok(())
    }
}
