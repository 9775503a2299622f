//! The [`ServiceManager`] trait and the one `enable`/`disable`/`status`
//! flow written against it. The flow owns the report's fields and the
//! steps every manager shares (render, write, remove, compare the files;
//! say why nothing was started); a manager supplies its files and what its
//! own commands do at each point.

use std::path::{Path, PathBuf};

use super::command::{Reach, Tool};
use super::files::{check_file, remove_if_present, write_if_changed};
use super::{AutostartAction, AutostartError, AutostartReport, Environment, Manager};

/// What one step of a flow returns.
pub(super) type Step = Result<(), AutostartError>;

/// One file of the login item, as `enable` would write it.
pub(super) struct LoginFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds; an error when that cannot be known (no daemon path)
    /// or a path cannot go into it. `enable` fails on the error; `status`
    /// then reports the installed file as not comparable or differing.
    pub contents: Result<String, AutostartError>,
    /// What the "wrote PATH" line adds, such as " (ExecStart=/bin/cofferd)".
    pub note: String,
}

impl LoginFile {
    /// The file that starts the daemon: rendered by `render` for
    /// `cofferd`, its "wrote" line naming the daemon after `label`.
    pub fn for_daemon(
        path: PathBuf,
        cofferd: Option<&Path>,
        render: impl FnOnce(&Path) -> Result<String, AutostartError>,
        label: &str,
    ) -> LoginFile {
        LoginFile {
            path,
            contents: cofferd.ok_or(AutostartError::NoCofferd).and_then(render),
            note: cofferd
                .map(|c| format!(" ({label}{})", c.display()))
                .unwrap_or_default(),
        }
    }
}

/// What `enable` did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// It was not there before.
    Created,
    /// It was there with other contents.
    Updated,
    /// It already held exactly this.
    Unchanged,
}

/// One service manager's side of the login item. `tool` is the manager's
/// command line tool, as [`probe`](Self::probe) found it reachable.
pub(super) trait ServiceManager {
    /// The report's `manager` when the manager is installed.
    const MANAGER: Manager;
    /// Its name, in "cannot ask NAME whether cofferd runs".
    const NAME: &'static str;
    /// What `enable` says once the manager runs cofferd.
    const RUNNING: &'static str;

    /// Whether the manager can be asked to act now.
    fn probe<'a>(&self, env: &'a Environment) -> Reach<'a>;
    /// The login item's files, for `cofferd` when it is known.
    fn files(&self, cofferd: Option<&Path>, env: &Environment) -> Vec<LoginFile>;
    /// `enable`, after rendering and before writing anything.
    fn prepare(&self, _env: &Environment) -> Step {
        Ok(())
    }
    /// `enable` with the manager reachable: load and start the item, given
    /// what happened to each of [`files`](Self::files).
    fn start(&self, tool: &Tool, written: &[Written], report: &mut AutostartReport) -> Step;
    /// `enable` without a reachable manager: do by hand what enabling
    /// through the manager would have done to the files.
    fn enable_offline(&self, _env: &Environment, _report: &mut AutostartReport) -> Step {
        Ok(())
    }
    /// `enable` without a reachable manager: what happens next.
    fn at_next_login(&self, manager: Manager) -> &'static str;
    /// `disable` with the manager reachable: stop and unload cofferd.
    /// `installed`: whether any of the files existed.
    fn stop(&self, tool: &Tool, installed: bool, report: &mut AutostartReport) -> Step;
    /// `disable`, before the item's files go: remove what enabling added.
    fn remove_enablement(&self, _env: &Environment, _report: &mut AutostartReport) -> Step {
        Ok(())
    }
    /// `disable` with the manager reachable, once the files are gone.
    fn forget(&self, _tool: &Tool, _installed: bool, _report: &mut AutostartReport) -> Step {
        Ok(())
    }
    /// `disable`'s last line once something was removed; `reached`: the
    /// manager was asked to stop cofferd.
    fn disabled(&self, reached: bool) -> &'static str;
    /// `status` with the manager reachable: whether cofferd runs. Sets the
    /// report's `started` and `reason_not_started`.
    fn query(&self, tool: &Tool, report: &mut AutostartReport) -> Step;
    /// `status` without a reachable manager: what the files alone say.
    fn offline_status(&self, _env: &Environment, _report: &mut AutostartReport) {}
}

/// Runs `action` through `manager`.
pub(super) fn run<M: ServiceManager>(
    manager: &M,
    action: AutostartAction,
    cofferd: Option<&Path>,
    env: &Environment,
    report: &mut AutostartReport,
) -> Step {
    let reach = manager.probe(env);
    report.manager = match reach {
        Reach::Missing(_) => Manager::None,
        _ => M::MANAGER,
    };
    match (action, cofferd) {
        (AutostartAction::Enable, Some(cofferd)) => enable(manager, cofferd, env, reach, report),
        (AutostartAction::Enable, None) => Err(AutostartError::NoCofferd),
        (AutostartAction::Disable, _) => disable(manager, env, reach, report),
        (AutostartAction::Status, _) => status(manager, cofferd, env, reach, report),
    }
}

/// Renders every file (nothing is written when one cannot be), writes the
/// changed ones, then starts the item or says why it could not.
fn enable<M: ServiceManager>(
    manager: &M,
    cofferd: &Path,
    env: &Environment,
    reach: Reach,
    report: &mut AutostartReport,
) -> Step {
    let files = manager
        .files(Some(cofferd), env)
        .into_iter()
        .map(|f| Ok((f.path, f.contents?, f.note)))
        .collect::<Result<Vec<_>, AutostartError>>()?;
    manager.prepare(env)?;
    let mut written = Vec::with_capacity(files.len());
    for (path, contents, note) in &files {
        let existed = path.exists();
        let changed = write_if_changed(path, contents)?;
        report.say(if changed {
            format!("wrote {}{note}", path.display())
        } else {
            format!("{} is already up to date", path.display())
        });
        written.push(match (changed, existed) {
            (false, _) => Written::Unchanged,
            (true, true) => Written::Updated,
            (true, false) => Written::Created,
        });
    }
    report.files = files.into_iter().map(|(path, _, _)| path).collect();
    report.installed = true;
    report.up_to_date = true;
    match reach {
        Reach::Yes(tool) => {
            manager.start(&tool, &written, report)?;
            report.started = true;
            report.say(M::RUNNING);
        }
        Reach::Unreachable(reason) | Reach::Missing(reason) => {
            manager.enable_offline(env, report)?;
            report.say(format!("nothing was started, because {reason}"));
            report.say(manager.at_next_login(report.manager));
            report.reason_not_started = Some(reason);
        }
    }
    Ok(())
}

/// Stops cofferd where the manager answers, then removes the files.
fn disable<M: ServiceManager>(
    manager: &M,
    env: &Environment,
    reach: Reach,
    report: &mut AutostartReport,
) -> Step {
    let paths: Vec<PathBuf> = manager
        .files(None, env)
        .into_iter()
        .map(|f| f.path)
        .collect();
    let installed = paths.iter().any(|p| p.exists());
    let tool = match &reach {
        Reach::Yes(tool) => Some(tool),
        _ => None,
    };
    if let Some(tool) = tool {
        manager.stop(tool, installed, report)?;
    }
    manager.remove_enablement(env, report)?;
    for path in paths {
        if remove_if_present(&path)? {
            report.say(format!("removed {}", path.display()));
            report.files.push(path);
        }
    }
    if let Some(tool) = tool {
        manager.forget(tool, installed, report)?;
    }
    report.say(if report.files.is_empty() {
        "autostart was not installed; there was nothing to remove"
    } else {
        manager.disabled(tool.is_some())
    });
    Ok(())
}

/// Compares every file with what `enable` would write, then asks the
/// manager whether cofferd runs, or says why it cannot.
fn status<M: ServiceManager>(
    manager: &M,
    cofferd: Option<&Path>,
    env: &Environment,
    reach: Reach,
    report: &mut AutostartReport,
) -> Step {
    let mut installed = true;
    let mut current = true;
    for file in manager.files(cofferd, env) {
        let (there, same) = check_file(&file.path, file.contents.ok().as_deref(), report)?;
        installed &= there;
        current &= same;
    }
    report.installed = installed;
    report.up_to_date = current;
    match reach {
        Reach::Yes(tool) => manager.query(&tool, report)?,
        Reach::Unreachable(reason) | Reach::Missing(reason) => {
            manager.offline_status(env, report);
            report.say(format!(
                "cannot ask {} whether cofferd runs: {reason}",
                M::NAME
            ));
            report.reason_not_started = Some(reason);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A manager with two files under HOME that records what the flow asks
    /// of it; `bad` makes the second file impossible to render.
    struct Fake {
        bad: bool,
        calls: RefCell<Vec<String>>,
    }

    impl Fake {
        fn note(&self, call: &str) {
            self.calls.borrow_mut().push(call.to_string());
        }
    }

    impl ServiceManager for Fake {
        const MANAGER: Manager = Manager::Systemd;
        const NAME: &'static str = "fake";
        const RUNNING: &'static str = "running";

        fn probe<'a>(&self, _env: &'a Environment) -> Reach<'a> {
            Reach::Unreachable("it is asleep".into())
        }
        fn files(&self, cofferd: Option<&Path>, env: &Environment) -> Vec<LoginFile> {
            let second = if self.bad {
                Err(AutostartError::UnusablePath {
                    path: env.home.join("b"),
                    problem: "it is odd",
                })
            } else {
                Ok("b\n".to_string())
            };
            let render = |c: &Path| Ok(format!("{}\n", c.display()));
            vec![
                LoginFile::for_daemon(env.home.join("a"), cofferd, render, "a: "),
                LoginFile {
                    path: env.home.join("b"),
                    contents: second,
                    note: String::new(),
                },
            ]
        }
        fn prepare(&self, _env: &Environment) -> Step {
            self.note("prepare");
            Ok(())
        }
        fn start(&self, _: &Tool, _: &[Written], _: &mut AutostartReport) -> Step {
            unreachable!("the fake is never reachable")
        }
        fn enable_offline(&self, _env: &Environment, report: &mut AutostartReport) -> Step {
            self.note("enable_offline");
            report.say("linked by hand");
            Ok(())
        }
        fn at_next_login(&self, manager: Manager) -> &'static str {
            assert_eq!(manager, Manager::Systemd);
            "later"
        }
        fn stop(&self, _: &Tool, _: bool, _: &mut AutostartReport) -> Step {
            unreachable!("the fake is never reachable")
        }
        fn disabled(&self, reached: bool) -> &'static str {
            assert!(!reached);
            "off"
        }
        fn query(&self, _: &Tool, _: &mut AutostartReport) -> Step {
            unreachable!("the fake is never reachable")
        }
        fn offline_status(&self, _env: &Environment, report: &mut AutostartReport) {
            report.say(format!("offline, installed: {}", report.installed));
        }
    }

    /// Runs `action` through a fake in a temporary HOME.
    fn act(
        fake: &Fake,
        action: AutostartAction,
        cofferd: Option<&Path>,
        env: &Environment,
    ) -> Result<AutostartReport, AutostartError> {
        let mut report = AutostartReport::new(action);
        run(fake, action, cofferd, env, &mut report).map(|()| report)
    }

    fn fake(bad: bool) -> (tempfile::TempDir, Environment, Fake) {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::for_tests(dir.path());
        let calls = RefCell::default();
        (dir, env, Fake { bad, calls })
    }

    fn cofferd() -> Option<&'static Path> {
        Some(Path::new("/bin/cofferd"))
    }

    #[test]
    fn nothing_is_written_when_one_file_cannot_be_rendered() {
        let (dir, env, fake) = fake(true);
        let err = act(&fake, AutostartAction::Enable, cofferd(), &env);
        assert!(matches!(err, Err(AutostartError::UnusablePath { .. })));
        assert!(fake.calls.borrow().is_empty(), "{:?}", fake.calls);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_flow_in_order_without_a_reachable_manager() {
        let (dir, env, fake) = fake(false);
        let report = act(&fake, AutostartAction::Enable, cofferd(), &env).unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        assert_eq!(*fake.calls.borrow(), ["prepare", "enable_offline"]);
        assert_eq!(
            report.lines,
            [
                format!("wrote {} (a: /bin/cofferd)", a.display()),
                format!("wrote {}", b.display()),
                "linked by hand".into(),
                "nothing was started, because it is asleep".into(),
                "later".into(),
            ]
        );
        assert_eq!(report.files, [a.clone(), b.clone()]);
        assert!(report.installed && report.up_to_date && !report.started);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "/bin/cofferd\n");

        // Without a daemon path only the first file cannot be compared.
        let status = act(&fake, AutostartAction::Status, None, &env).unwrap();
        assert!(status.installed && !status.up_to_date);
        assert_eq!(
            status.lines,
            [
                format!(
                    "{} is installed (no usable cofferd found to compare it with)",
                    a.display()
                ),
                format!("{} is installed", b.display()),
                "offline, installed: true".into(),
                "cannot ask fake whether cofferd runs: it is asleep".into(),
            ]
        );

        let off = act(&fake, AutostartAction::Disable, None, &env).unwrap();
        assert_eq!(off.files, [a.clone(), b.clone()]);
        assert_eq!(off.lines.last().map(String::as_str), Some("off"));
        assert!(!a.exists() && !b.exists());
    }
}
