//! `coffer autostart` against a temporary HOME: the files it writes and
//! removes, what it reports, and how it talks to the service manager. A
//! small shell script stands in for `systemctl`/`launchctl` where a running
//! manager is needed (recording its arguments); `systemd-analyze verify`
//! and a plist parser check what is written.

#[allow(dead_code)]
#[path = "../src/autostart/mod.rs"]
mod autostart;

use autostart::{
    render_plist, render_service, render_socket, run_in, AutostartAction, AutostartError,
    Environment, Manager, Platform,
};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use AutostartAction::{Disable, Enable, Status};

/// A temporary HOME with a fake `cofferd` and an empty `bin/` for fakes.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir(home.bin()).unwrap();
        fs::create_dir_all(home.path().join("opt/coffer")).unwrap();
        script(&home.cofferd(), "exit 0\n");
        home
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }
    fn cofferd(&self) -> PathBuf {
        self.path().join("opt/coffer/cofferd")
    }
    fn log(&self) -> String {
        fs::read_to_string(self.path().join("calls.log")).unwrap_or_default()
    }
    fn env(&self, platform: Platform) -> Environment {
        Environment {
            platform,
            home: self.path().to_path_buf(),
            xdg_config_home: None,
            xdg_runtime_dir: None,
            dbus_session_bus_address: None,
            coffer_home: None,
            path: Some(OsString::from(self.bin())),
            uid: 501,
        }
    }
    fn units(&self) -> PathBuf {
        self.path().join(".config/systemd/user")
    }
    /// A fake `systemctl` answering `is-system-running` with `state`, and
    /// failing `fail_on` with a message; every call is logged.
    fn fake_systemctl(&self, state: &str, fail_on: &str) {
        let log = self.path().join("calls.log");
        script(
            &self.bin().join("systemctl"),
            &format!(
                r#"echo "$*" >> '{log}'
case " $* " in
  *" is-system-running "*) echo '{state}'; [ '{state}' = running ] ;;
  *" {fail_on} "*) echo "Job for cofferd.service failed." >&2; exit 1 ;;
  *" is-enabled "*) echo enabled; echo enabled ;;
  *" is-active "*) echo active; echo inactive; exit 3 ;;
  *) exit 0 ;;
esac
"#,
                log = log.display()
            ),
        );
    }
}

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn joined(lines: &[String]) -> String {
    lines.join("\n")
}

#[test]
fn templates_carry_the_settings_and_placeholders() {
    let service = autostart::SERVICE_TEMPLATE;
    for want in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "ExecStart=%h/.local/bin/cofferd",
        "KeyringMode=inherit",
        "UMask=0077",
        "LimitCORE=0",
        "NoNewPrivileges=yes",
        "WantedBy=default.target",
    ] {
        assert!(service.lines().any(|l| l == want), "service lacks {want}");
    }
    let socket = autostart::SOCKET_TEMPLATE;
    for want in [
        "ListenStream=%t/coffer/coffer.sock",
        "SocketMode=0600",
        "DirectoryMode=0700",
        "WantedBy=sockets.target",
    ] {
        assert!(socket.lines().any(|l| l == want), "socket lacks {want}");
    }

    let home = Home::new();
    let env = home.env(Platform::Systemd);
    let rendered = render_service(&home.cofferd(), &env).unwrap();
    let exec: Vec<&str> = rendered
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(exec, [format!("ExecStart={}", home.cofferd().display())]);
    assert!(!rendered.contains("Environment="));
    assert_eq!(render_socket(&env).unwrap(), socket);
}

#[test]
fn enable_status_disable_without_a_user_systemd() {
    let home = Home::new();
    // A systemctl exists, but there is no session to reach it through.
    home.fake_systemctl("running", "");
    let env = home.env(Platform::Systemd);
    let units = home.units();

    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    let text = joined(&r.lines);
    let service = units.join("cofferd.service");
    let socket = units.join("cofferd.socket");
    let service_text = fs::read_to_string(&service).unwrap();
    assert!(service_text.contains(&format!("\nExecStart={}\n", home.cofferd().display())));
    assert_eq!(
        fs::read_to_string(&socket).unwrap(),
        autostart::SOCKET_TEMPLATE
    );
    let wants = [
        units.join("default.target.wants/cofferd.service"),
        units.join("sockets.target.wants/cofferd.socket"),
    ];
    assert_eq!(fs::read_link(&wants[0]).unwrap(), service);
    assert_eq!(fs::read_link(&wants[1]).unwrap(), socket);
    assert_eq!(r.manager, Manager::Systemd);
    assert!(r.installed && r.up_to_date && !r.started);
    assert_eq!(
        r.files,
        [
            service.clone(),
            socket.clone(),
            wants[0].clone(),
            wants[1].clone()
        ]
    );
    let reason = r.reason_not_started.clone().expect("a reason");
    assert!(reason.contains("XDG_RUNTIME_DIR is not set"), "{reason}");
    assert!(
        text.contains(&format!("wrote {}", service.display())),
        "{text}"
    );
    assert!(
        text.contains("nothing was started, because no user systemd"),
        "{text}"
    );
    assert!(text.contains("at your next login"), "{text}");
    assert_eq!(
        home.log(),
        "",
        "systemctl must not be called without a session"
    );

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["action"], "enable");
    assert_eq!(json["manager"], "systemd");
    assert_eq!(json["installed"], true);
    assert_eq!(json["started"], false);
    assert_eq!(json["files"][0], service.to_str().unwrap());
    assert!(json["reason_not_started"].is_string());
    assert!(json.get("lines").is_none());

    // Idempotent.
    let again = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    let text = joined(&again.lines);
    assert!(text.contains("already up to date"), "{text}");
    assert!(!text.contains("linked"), "{text}");

    let s = run_in(Status, Some(&home.cofferd()), &env).unwrap();
    assert!(s.installed && s.up_to_date && !s.started);
    assert_eq!(s.files, [service.clone(), socket.clone()]);
    let text = joined(&s.lines);
    assert!(text.contains("enabled for login"), "{text}");
    assert!(s.reason_not_started.is_some());

    // A different daemon path: installed, but not what enable would write.
    let other = home.path().join("cofferd-2");
    script(&other, "exit 0\n");
    let s = run_in(Status, Some(&other), &env).unwrap();
    assert!(s.installed && !s.up_to_date);
    assert!(joined(&s.lines).contains("differs"), "{:?}", s.lines);

    let d = run_in(Disable, Some(&home.cofferd()), &env).unwrap();
    assert!(!d.installed && !d.started);
    for f in [&service, &socket, &wants[0], &wants[1]] {
        assert!(fs::symlink_metadata(f).is_err(), "{} remains", f.display());
        assert!(d.files.contains(f), "{} not reported", f.display());
    }
    assert!(joined(&d.lines).contains(&format!("removed {}", service.display())));

    let s = run_in(Status, Some(&home.cofferd()), &env).unwrap();
    assert!(!s.installed && !s.up_to_date && s.files.is_empty());
    assert!(joined(&s.lines).contains("is not installed"));

    let d = run_in(Disable, Some(&home.cofferd()), &env).unwrap();
    assert!(d.files.is_empty());
    assert!(joined(&d.lines).contains("nothing to remove"));
}

#[test]
fn no_systemctl_and_an_offline_manager_are_explained() {
    let home = Home::new();
    let env = home.env(Platform::Systemd);
    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert_eq!(r.manager, Manager::None);
    assert!(!r.started);
    assert!(r
        .reason_not_started
        .unwrap()
        .contains("no systemctl on PATH"));
    assert!(joined(&r.lines).contains("nothing on this machine will run them"));

    home.fake_systemctl("offline", "");
    let mut env = home.env(Platform::Systemd);
    env.xdg_runtime_dir = Some(home.path().join("run"));
    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert_eq!(r.manager, Manager::Systemd);
    let reason = r.reason_not_started.unwrap();
    assert!(
        reason.contains("is-system-running` says offline"),
        "{reason}"
    );
    assert_eq!(home.log(), "--user is-system-running\n");
}

#[test]
fn xdg_config_home_is_respected() {
    let home = Home::new();
    let mut env = home.env(Platform::Systemd);
    let config = home.path().join("elsewhere");
    env.xdg_config_home = Some(config.clone());
    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert_eq!(r.files[0], config.join("systemd/user/cofferd.service"));
    assert!(r.files[0].is_file());
    assert!(!home.units().exists());
}

#[test]
fn with_a_user_systemd_the_units_are_enabled_and_started() {
    let home = Home::new();
    home.fake_systemctl("running", "");
    let mut env = home.env(Platform::Systemd);
    env.xdg_runtime_dir = Some(home.path().join("run"));

    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert!(r.started && r.installed && r.reason_not_started.is_none());
    assert_eq!(
        home.log(),
        "--user is-system-running\n--user daemon-reload\n\
         --user enable --now cofferd.socket cofferd.service\n"
    );
    let text = joined(&r.lines);
    assert!(
        text.contains("ran systemctl --user enable --now cofferd.socket cofferd.service"),
        "{text}"
    );
    // systemctl makes the wants links itself.
    assert!(!home.units().join("default.target.wants").exists());

    // A new daemon path restarts the running service.
    let other = home.path().join("cofferd-2");
    script(&other, "exit 0\n");
    run_in(Enable, Some(&other), &env).unwrap();
    assert!(home.log().ends_with(
        "--user enable --now cofferd.socket cofferd.service\n--user try-restart cofferd.service\n"
    ));

    let s = run_in(Status, Some(&other), &env).unwrap();
    assert!(s.installed && s.up_to_date && s.started);
    let text = joined(&s.lines);
    assert!(text.contains("is-active cofferd.socket: active"), "{text}");
    assert!(
        text.contains("is-active cofferd.service: inactive"),
        "{text}"
    );
    assert!(
        text.contains("is-enabled cofferd.service: enabled"),
        "{text}"
    );

    let d = run_in(Disable, Some(&other), &env).unwrap();
    assert!(home
        .log()
        .ends_with("--user disable --now cofferd.socket cofferd.service\n--user daemon-reload\n"));
    assert_eq!(d.files.len(), 2);
    assert!(!home.units().join("cofferd.service").exists());
}

#[test]
fn a_failing_systemctl_is_an_error_that_says_where_to_look() {
    let home = Home::new();
    home.fake_systemctl("running", "enable");
    let mut env = home.env(Platform::Systemd);
    env.xdg_runtime_dir = Some(home.path().join("run"));
    let err = run_in(Enable, Some(&home.cofferd()), &env).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AutostartError::Command { .. }), "{err:?}");
    assert!(msg.contains("systemctl --user enable --now"), "{msg}");
    assert!(msg.contains("Job for cofferd.service failed."), "{msg}");
    assert!(msg.contains("journalctl --user -u cofferd"), "{msg}");
    // The files were still written.
    assert!(home.units().join("cofferd.service").is_file());
}

#[test]
fn the_daemon_path_must_be_an_absolute_executable() {
    let home = Home::new();
    let env = home.env(Platform::Systemd);
    let plain = home.path().join("plain");
    fs::write(&plain, "").unwrap();
    for (path, problem) in [
        (PathBuf::from("cofferd"), "not an absolute path"),
        (home.path().join("missing"), "No such file"),
        (home.path().to_path_buf(), "not a file"),
        (plain, "not executable"),
    ] {
        let err = run_in(Enable, Some(&path), &env).unwrap_err();
        assert!(matches!(err, AutostartError::Cofferd { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(problem), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
    assert!(!home.units().exists());
}

#[test]
fn without_a_daemon_only_enable_fails() {
    let home = Home::new();
    let env = home.env(Platform::Systemd);
    let err = run_in(Enable, None, &env).unwrap_err();
    assert!(matches!(err, AutostartError::NoCofferd), "{err:?}");
    assert!(!home.units().exists());

    run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    let s = run_in(Status, None, &env).unwrap();
    assert!(s.installed && !s.up_to_date);
    assert!(
        joined(&s.lines).contains("no usable cofferd found"),
        "{:?}",
        s.lines
    );
    let d = run_in(Disable, None, &env).unwrap();
    assert_eq!(d.files.len(), 4);
    assert!(!home.units().join("cofferd.service").exists());

    let env = home.env(Platform::Launchd);
    assert!(matches!(
        run_in(Enable, None, &env),
        Err(AutostartError::NoCofferd)
    ));
}

#[test]
fn odd_paths_are_escaped_so_that_systemd_reads_them_back() {
    let home = Home::new();
    // systemd itself refuses quotes and backslashes in an executable's path.
    let env = home.env(Platform::Systemd);
    for odd in [r#"a"b"#, "it's", r"back\slash"] {
        let dir = home.path().join(odd);
        fs::create_dir(&dir).unwrap();
        script(&dir.join("cofferd"), "exit 0\n");
        let err = run_in(Enable, Some(&dir.join("cofferd")), &env).unwrap_err();
        assert!(
            matches!(err, AutostartError::UnusablePath { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(odd), "{err}");
    }
    assert!(
        !home.units().exists(),
        "nothing is written for a refused path"
    );

    let dir = home.path().join("my apps 100% $HOME;x");
    fs::create_dir(&dir).unwrap();
    let cofferd = dir.join("cofferd");
    script(&cofferd, "exit 0\n");
    let mut env = home.env(Platform::Systemd);
    env.coffer_home = Some(home.path().join(r#"coffer "50%" \x"#));

    let service = render_service(&cofferd, &env).unwrap();
    let socket = render_socket(&env).unwrap();
    assert!(
        service.contains("/my apps 100%% $HOME;x/cofferd\"\n"),
        "{service}"
    );
    assert!(service.contains(r#"/coffer \"50%%\" \\x""#), "{service}");
    assert!(
        socket.contains(r#"coffer "50%%" \x/run/coffer.sock"#),
        "{socket}"
    );

    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze not installed; escaping checked by content only");
        return;
    };
    let units = home.path().join("units");
    let runtime = home.path().join("xdg-run");
    fs::create_dir(&units).unwrap();
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(units.join("cofferd.service"), &service).unwrap();
    fs::write(units.join("cofferd.socket"), &socket).unwrap();
    let out = Command::new(analyze)
        .args(["--user", "verify", "--man=no"])
        .arg(units.join("cofferd.service"))
        .arg(units.join("cofferd.socket"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let complaints: Vec<&str> = all.lines().filter(|l| l.contains("cofferd")).collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze: {all}\n{service}"
    );
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn the_launch_agent_parses_and_has_the_keys() {
    // The template itself is a valid plist.
    plist::parse(autostart::PLIST_TEMPLATE).unwrap();

    let home = Home::new();
    let mut env = home.env(Platform::Launchd);
    env.home = PathBuf::from("/Users/ann & <bob>");
    let cofferd = Path::new("/Applications/Coffer & Co.app/Contents/MacOS/cofferd");
    let text = render_plist(cofferd, &env).unwrap();
    assert!(!text.contains('@'), "a placeholder is left:\n{text}");
    let doc = plist::parse(&text).unwrap();

    assert_eq!(doc.get("Label").string(), "org.coffer.cofferd");
    assert_eq!(
        doc.get("ProgramArguments").array()[0].string(),
        cofferd.to_str().unwrap()
    );
    assert!(doc.get("RunAtLoad").boolean());
    assert!(!doc.get("KeepAlive").get("SuccessfulExit").boolean());
    for key in ["StandardOutPath", "StandardErrorPath"] {
        let p = doc.get(key).string();
        assert!(
            p.starts_with("/Users/ann & <bob>/Library/Logs/coffer/"),
            "{p}"
        );
    }
    let listener = doc.get("Sockets").get("Listeners");
    assert_eq!(
        listener.get("SockPathName").string(),
        "/Users/ann & <bob>/Library/Application Support/coffer/run/coffer.sock"
    );
    assert_eq!(listener.get("SockPathMode").integer(), 0o600);
    assert_eq!(doc.get("Umask").integer(), 0o077);
    assert!(doc.find("EnvironmentVariables").is_none());

    env.coffer_home = Some(PathBuf::from("/Volumes/vault/coffer"));
    let doc = plist::parse(&render_plist(cofferd, &env).unwrap()).unwrap();
    assert_eq!(
        doc.get("EnvironmentVariables").get("COFFER_HOME").string(),
        "/Volumes/vault/coffer"
    );
    assert_eq!(
        doc.get("Sockets")
            .get("Listeners")
            .get("SockPathName")
            .string(),
        "/Volumes/vault/coffer/run/coffer.sock"
    );

    // A second opinion where a real plist reader is at hand.
    let file = home.path().join("agent.plist");
    fs::write(&file, &text).unwrap();
    if let Ok(plutil) = which("plutil") {
        let out = Command::new(plutil)
            .arg("-lint")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", out);
    }
    if let Ok(python) = which("python3") {
        let out = Command::new(python)
            .args([
                "-c",
                "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); \
                 assert d['KeepAlive']=={'SuccessfulExit': False}; print(d['Label'])",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "org.coffer.cofferd"
        );
    }
}

#[test]
fn plist_checker_rejects_broken_documents() {
    for bad in [
        "",
        "<plist version=\"1.0\"><dict><key>a</key></dict></plist>",
        "<plist version=\"1.0\"><dict><key>a</key><string>x</dict></plist>",
        "<plist version=\"1.0\"><dict><key>a</key><true/><key>a</key><true/></dict></plist>",
        "<plist version=\"1.0\"><string>a & b</string></plist>",
        "<plist version=\"1.0\"><integer>x</integer></plist>",
        "<plist version=\"1.0\"><true/></plist> trailing",
    ] {
        assert!(plist::parse(bad).is_err(), "accepted {bad:?}");
    }
}

impl Home {
    /// A fake `launchctl` that keeps whether the agent is loaded in a file.
    fn fake_launchctl(&self, gui_session: bool) {
        let log = self.path().join("calls.log");
        let state = self.path().join("loaded");
        script(
            &self.bin().join("launchctl"),
            &format!(
                r#"echo "$*" >> '{log}'
case "$1 $2" in
  "print gui/501") {gui} ;;
  "print gui/501/org.coffer.cofferd")
    [ -e '{state}' ] || {{ echo "Could not find service" >&2; exit 113; }}
    printf 'gui/501/org.coffer.cofferd = {{\n\tstate = running\n\tpid = 4242\n}}\n' ;;
  "bootstrap gui/501") touch '{state}' ;;
  "bootout gui/501/org.coffer.cofferd") rm '{state}' ;;
  *) exit 0 ;;
esac
"#,
                log = log.display(),
                state = state.display(),
                gui = if gui_session {
                    "echo 'gui/501 = {'"
                } else {
                    "echo 'Could not find domain for port identifier' >&2; exit 113"
                },
            ),
        );
    }
}

#[test]
fn launch_agent_flow_with_launchctl() {
    let home = Home::new();
    home.fake_launchctl(true);
    let env = home.env(Platform::Launchd);
    let plist_path = home
        .path()
        .join("Library/LaunchAgents/org.coffer.cofferd.plist");

    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert_eq!(r.manager, Manager::Launchd);
    assert!(r.installed && r.started && r.reason_not_started.is_none());
    assert_eq!(r.files, std::slice::from_ref(&plist_path));
    let doc = plist::parse(&fs::read_to_string(&plist_path).unwrap()).unwrap();
    assert_eq!(
        doc.get("ProgramArguments").array()[0].string(),
        home.cofferd().to_str().unwrap()
    );
    for dir in [
        "Library/Logs/coffer",
        "Library/Application Support/coffer/run",
    ] {
        let mode = fs::metadata(home.path().join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}");
    }
    assert_eq!(
        home.log(),
        format!(
            "print gui/501\nenable gui/501/org.coffer.cofferd\n\
             print gui/501/org.coffer.cofferd\nbootstrap gui/501 {}\n",
            plist_path.display()
        )
    );

    // Unchanged: only make sure it runs.
    run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert!(home
        .log()
        .ends_with("kickstart gui/501/org.coffer.cofferd\n"));

    let s = run_in(Status, Some(&home.cofferd()), &env).unwrap();
    assert!(s.installed && s.up_to_date && s.started);
    assert!(
        joined(&s.lines).contains("running, pid 4242"),
        "{:?}",
        s.lines
    );

    // A new daemon path: unload the old job, load the new one.
    let other = home.path().join("cofferd-2");
    script(&other, "exit 0\n");
    run_in(Enable, Some(&other), &env).unwrap();
    let log = home.log();
    assert!(
        log.ends_with(&format!(
            "bootout gui/501/org.coffer.cofferd\nbootstrap gui/501 {}\n",
            plist_path.display()
        )),
        "{log}"
    );

    let d = run_in(Disable, Some(&other), &env).unwrap();
    assert_eq!(d.files, std::slice::from_ref(&plist_path));
    assert!(!plist_path.exists());
    assert!(home.log().ends_with("bootout gui/501/org.coffer.cofferd\n"));
    let s = run_in(Status, Some(&other), &env).unwrap();
    assert!(!s.installed && !s.started);
    assert_eq!(
        s.reason_not_started.as_deref(),
        Some("the agent is not loaded")
    );
}

#[test]
fn launch_agent_without_a_gui_session() {
    let home = Home::new();
    home.fake_launchctl(false);
    let env = home.env(Platform::Launchd);
    let r = run_in(Enable, Some(&home.cofferd()), &env).unwrap();
    assert!(r.installed && !r.started);
    let reason = r.reason_not_started.unwrap();
    assert!(reason.contains("no GUI login session"), "{reason}");
    assert!(reason.contains("Could not find domain"), "{reason}");
    assert!(joined(&r.lines).contains("next graphical login"));
    assert_eq!(home.log(), "print gui/501\n");
}

/// `run` reads the real process environment: re-run this test binary with
/// only a temporary HOME, as a user would in a container.
#[cfg(target_os = "linux")]
#[test]
fn run_uses_the_process_environment() {
    const MARKER: &str = "COFFER_AUTOSTART_TEST_CHILD";
    if let Some(cofferd) = std::env::var_os(MARKER) {
        let r = autostart::run(Enable, Some(Path::new(&cofferd))).unwrap();
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(
            r.files[0],
            home.join(".config/systemd/user/cofferd.service")
        );
        assert!(r.files[0].is_file());
        assert!(!r.started && r.reason_not_started.is_some());
        return;
    }
    let home = Home::new();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "run_uses_the_process_environment",
            "--test-threads=1",
        ])
        .env(MARKER, home.cofferd())
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("COFFER_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.units().join("cofferd.socket").is_file());
}

/// Just enough of an XML property-list reader to check the agent: dict,
/// array, string, integer, true and false, with the five XML entities.
mod plist {
    #[derive(Debug, PartialEq)]
    pub enum Value {
        Dict(Vec<(String, Value)>),
        Array(Vec<Value>),
        String(String),
        Integer(i64),
        Bool(bool),
    }

    impl Value {
        pub fn find(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }
        pub fn get(&self, key: &str) -> &Value {
            self.find(key)
                .unwrap_or_else(|| panic!("no key {key} in {self:?}"))
        }
        pub fn string(&self) -> &str {
            match self {
                Value::String(s) => s,
                v => panic!("not a string: {v:?}"),
            }
        }
        pub fn integer(&self) -> i64 {
            match self {
                Value::Integer(i) => *i,
                v => panic!("not an integer: {v:?}"),
            }
        }
        pub fn boolean(&self) -> bool {
            match self {
                Value::Bool(b) => *b,
                v => panic!("not a boolean: {v:?}"),
            }
        }
        pub fn array(&self) -> &[Value] {
            match self {
                Value::Array(a) => a,
                v => panic!("not an array: {v:?}"),
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser { rest: text };
        p.skip_misc();
        if p.rest.starts_with("<?xml") {
            p.skip_past("?>")?;
        }
        p.skip_misc();
        if p.rest.starts_with("<!DOCTYPE") {
            p.skip_past(">")?;
        }
        p.skip_misc();
        p.expect("<plist version=\"1.0\">")?;
        let value = p.value()?;
        p.skip_misc();
        p.expect("</plist>")?;
        p.skip_misc();
        if p.rest.is_empty() {
            Ok(value)
        } else {
            Err(format!("trailing text: {:?}", p.rest))
        }
    }

    struct Parser<'a> {
        rest: &'a str,
    }

    impl Parser<'_> {
        fn skip_misc(&mut self) {
            loop {
                self.rest = self.rest.trim_start();
                if self.rest.starts_with("<!--") {
                    match self.rest.find("-->") {
                        Some(i) => self.rest = &self.rest[i + 3..],
                        None => return,
                    }
                } else {
                    return;
                }
            }
        }
        fn skip_past(&mut self, end: &str) -> Result<(), String> {
            let i = self.rest.find(end).ok_or(format!("no {end}"))?;
            self.rest = &self.rest[i + end.len()..];
            Ok(())
        }
        fn expect(&mut self, tag: &str) -> Result<(), String> {
            self.skip_misc();
            match self.rest.strip_prefix(tag) {
                Some(r) => {
                    self.rest = r;
                    Ok(())
                }
                None => Err(format!("expected {tag} at {:?}", snippet(self.rest))),
            }
        }
        fn text_until(&mut self, close: &str) -> Result<String, String> {
            let i = self.rest.find('<').ok_or("unterminated text")?;
            let raw = &self.rest[..i];
            self.rest = &self.rest[i..];
            self.expect(close)?;
            unescape(raw)
        }
        fn value(&mut self) -> Result<Value, String> {
            self.skip_misc();
            let tags = [
                "<dict>",
                "<array>",
                "<string>",
                "<integer>",
                "<true/>",
                "<false/>",
            ];
            let tag = tags
                .into_iter()
                .find(|t| self.rest.starts_with(t))
                .ok_or_else(|| format!("expected a value at {:?}", snippet(self.rest)))?;
            self.rest = &self.rest[tag.len()..];
            Ok(match tag {
                "<dict>" => {
                    let mut entries: Vec<(String, Value)> = Vec::new();
                    loop {
                        self.skip_misc();
                        if self.rest.starts_with("</dict>") {
                            self.rest = &self.rest["</dict>".len()..];
                            break Value::Dict(entries);
                        }
                        self.expect("<key>")?;
                        let key = self.text_until("</key>")?;
                        if entries.iter().any(|(k, _)| *k == key) {
                            return Err(format!("duplicate key {key}"));
                        }
                        let v = self.value()?;
                        entries.push((key, v));
                    }
                }
                "<array>" => {
                    let mut items = Vec::new();
                    loop {
                        self.skip_misc();
                        if self.rest.starts_with("</array>") {
                            self.rest = &self.rest["</array>".len()..];
                            break Value::Array(items);
                        }
                        items.push(self.value()?);
                    }
                }
                "<string>" => Value::String(self.text_until("</string>")?),
                "<integer>" => {
                    let t = self.text_until("</integer>")?;
                    Value::Integer(t.trim().parse().map_err(|_| format!("bad integer {t:?}"))?)
                }
                "<true/>" => Value::Bool(true),
                _ => Value::Bool(false),
            })
        }
    }

    fn snippet(s: &str) -> &str {
        &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]
    }

    fn unescape(raw: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = raw;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            let end = rest.find(';').ok_or("unterminated entity")?;
            out.push(match &rest[..=end] {
                "&amp;" => '&',
                "&lt;" => '<',
                "&gt;" => '>',
                "&quot;" => '"',
                "&apos;" => '\'',
                e => return Err(format!("unknown entity {e}")),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
