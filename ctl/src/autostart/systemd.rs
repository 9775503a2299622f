//! The Linux service manager: a systemd user instance, reached through
//! `systemctl --user`. Without one, the `*.target.wants` links that
//! `systemctl --user enable` would make are made by hand, so the units run
//! from the next real login on.

use std::fs;
use std::path::{Path, PathBuf};

use super::command::{Reach, Tool, QUERY_TIMEOUT, START_TIMEOUT};
use super::files::{is_symlink, link_to, remove_if_present};
use super::manager::{LoginFile, ServiceManager, Step, Written};
use super::{render_service, render_socket, AutostartReport, Environment, Manager};

const SERVICE: &str = "cofferd.service";
const SOCKET: &str = "cofferd.socket";
const HINT: &str = "see `systemctl --user status cofferd` and `journalctl --user -u cofferd`";

/// The states of `systemctl --user is-system-running` in which the user
/// manager takes orders.
const ANSWERING: [&str; 5] = [
    "running",
    "degraded",
    "starting",
    "initializing",
    "maintenance",
];

/// systemd user units: `cofferd.service` and `cofferd.socket`.
pub(super) struct Systemd;

/// The (link, target) pairs that `systemctl --user enable` creates.
fn links(env: &Environment) -> [(PathBuf, PathBuf); 2] {
    let dir = env.systemd_unit_dir();
    [
        (
            dir.join("default.target.wants").join(SERVICE),
            dir.join(SERVICE),
        ),
        (
            dir.join("sockets.target.wants").join(SOCKET),
            dir.join(SOCKET),
        ),
    ]
}

impl ServiceManager for Systemd {
    const MANAGER: Manager = Manager::Systemd;
    const NAME: &'static str = "systemd";
    const RUNNING: &'static str =
        "cofferd is running and will start at every login (and on demand through its socket)";

    fn probe<'a>(&self, env: &'a Environment) -> Reach<'a> {
        let Some(systemctl) = Tool::find("systemctl", &["--user"], HINT, env) else {
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
        match systemctl.ask(&["is-system-running"], QUERY_TIMEOUT) {
            Ok(out) if ANSWERING.contains(&out.stdout.trim()) => Reach::Yes(systemctl),
            Ok(out) => Reach::Unreachable(format!(
                "no user systemd is running here: `systemctl --user \
                 is-system-running` says {}",
                out.detail()
            )),
            Err(e) => Reach::Unreachable(format!("no user systemd is running here: {e}")),
        }
    }

    fn files(&self, cofferd: Option<&Path>, env: &Environment) -> Vec<LoginFile> {
        let dir = env.systemd_unit_dir();
        let service = |c: &Path| render_service(c, env);
        vec![
            LoginFile::for_daemon(dir.join(SERVICE), cofferd, service, "ExecStart="),
            LoginFile {
                path: dir.join(SOCKET),
                contents: render_socket(env),
                note: String::new(),
            },
        ]
    }

    fn start(&self, tool: &Tool, written: &[Written], report: &mut AutostartReport) -> Step {
        tool.run(&["daemon-reload"], QUERY_TIMEOUT, report)?;
        let enable = ["enable", "--now", SOCKET, SERVICE];
        tool.run(&enable, START_TIMEOUT, report)?;
        if written.first() == Some(&Written::Updated) {
            // A new ExecStart only takes effect on a restart.
            tool.run(&["try-restart", SERVICE], START_TIMEOUT, report)?;
        }
        Ok(())
    }

    fn enable_offline(&self, env: &Environment, report: &mut AutostartReport) -> Step {
        for (link, target) in links(env) {
            if link_to(&link, &target)? {
                report.say(format!("linked {} -> {}", link.display(), target.display()));
            }
            report.files.push(link);
        }
        Ok(())
    }

    fn at_next_login(&self, manager: Manager) -> &'static str {
        match manager {
            Manager::None => {
                "the units are in place, but nothing on this machine \
                 will run them; start cofferd yourself"
            }
            _ => {
                "the units are enabled, so your user systemd will start cofferd \
                 at your next login on this machine"
            }
        }
    }

    fn stop(&self, tool: &Tool, installed: bool, report: &mut AutostartReport) -> Step {
        if installed {
            let disable = ["disable", "--now", SOCKET, SERVICE];
            tool.run(&disable, START_TIMEOUT, report)?;
        }
        Ok(())
    }

    fn remove_enablement(&self, env: &Environment, report: &mut AutostartReport) -> Step {
        for (link, _) in links(env) {
            // Only links: a regular file of that name is not ours.
            if is_symlink(&link) && remove_if_present(&link)? {
                report.say(format!("removed {}", link.display()));
                report.files.push(link);
            }
        }
        Ok(())
    }

    fn forget(&self, tool: &Tool, installed: bool, report: &mut AutostartReport) -> Step {
        if installed {
            tool.run(&["daemon-reload"], QUERY_TIMEOUT, report)?;
        }
        Ok(())
    }

    fn disabled(&self, reached: bool) -> &'static str {
        if reached {
            "cofferd is stopped and will not start at login"
        } else {
            "autostart is off; cofferd will not start at login"
        }
    }

    fn query(&self, tool: &Tool, report: &mut AutostartReport) -> Step {
        for query in ["is-enabled", "is-active"] {
            // Non-zero when a unit is not enabled/active: the answer is in
            // the output either way.
            let out = tool.ask(&[query, SOCKET, SERVICE], QUERY_TIMEOUT)?;
            let answers: Vec<&str> = out.stdout.lines().map(str::trim).collect();
            for (unit, answer) in [SOCKET, SERVICE].iter().zip(&answers) {
                report.say(format!("systemctl --user {query} {unit}: {answer}"));
                if query == "is-active" && *answer == "active" {
                    report.started = true;
                }
            }
            if answers.len() < 2 {
                report.say(format!("systemctl --user {query}: {}", out.detail()));
            }
        }
        if !report.started {
            report.reason_not_started = Some(if report.installed {
                format!("neither {SOCKET} nor {SERVICE} is active; {HINT}")
            } else {
                "autostart is not installed".into()
            });
        }
        Ok(())
    }

    fn offline_status(&self, env: &Environment, report: &mut AutostartReport) {
        if !report.installed {
            return;
        }
        let linked = links(env)
            .iter()
            .all(|(link, target)| fs::read_link(link).is_ok_and(|t| &t == target));
        report.say(if linked {
            "the units are enabled for login"
        } else {
            "the units are not enabled; run `coffer autostart enable`"
        });
    }
}
