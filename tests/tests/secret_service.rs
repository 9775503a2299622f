//! cofferd as the desktop's keyring (issue 19): the real `cofferd`, started
//! by the real `coffer`, provides `org.freedesktop.secrets` on a private
//! session bus of each device (its own `dbus-daemon`, its own HOME), and real
//! clients store and read back through it: `secret-tool`, python-keyring
//! (`python3 -m keyring`) and `git credential-libsecret` (built from git's
//! contrib source: Debian ships no binary). What they store is an ordinary
//! coffer item: `coffer get` and `coffer list --collection login` see it,
//! it syncs to another device (whose `secret-tool lookup` reads it, and whose
//! bus announces it), a locked vault answers a lookup with a prompt that
//! `coffer unlock` completes (also right after a restart, with cofferd
//! started by D-Bus activation), another provider owning the name makes
//! `enable` refuse and change nothing, and a reset moves the items away like
//! any other. None of the secrets reaches a file in the clear or a log.
//!
//! Missing tools skip a test with a note, unless `COFFER_REQUIRE_TOOLS=1`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use coffer_blackbox::dbus::{
    git_credential_libsecret, python_with_keyring, PrivateBus, BUS_TIMEOUT, PY_BACKEND, PY_SET,
};
use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::folder::files_under;
use coffer_blackbox::nobody::{can_act_as_nobody, NOBODY};
use coffer_blackbox::process::{run_with_input, run_with_timeout};
use coffer_blackbox::tools::{require, required};
use coffer_blackbox::wait::{wait_for, wait_until};
use coffer_blackbox::{cofferd_bin, shared_folder, stderr, stdout, text, utf8, Device};
use serde_json::Value;

const EMAIL: &str = "ss@example.org";
const PASSWORD: &str = "ss-account-password";
/// How long a change may take to reach another device or the bus.
const SETTLE: Duration = Duration::from_secs(30);
const ITEM_PATH_PREFIX: &str = "/org/freedesktop/secrets/collection/login/";

/// A device with a session bus of its own.
struct Desk {
    dev: Device,
    bus: PrivateBus,
}

impl Desk {
    /// `dev` on a new private bus (whose activation reads `services`).
    fn on_bus(mut dev: Device, services: Option<&Path>, bus_env: &[(&str, &OsStr)]) -> Desk {
        let bus = PrivateBus::start(services, bus_env);
        dev.set_env("DBUS_SESSION_BUS_ADDRESS", bus.address());
        Desk { dev, bus }
    }

    /// A signed-up device on a new private bus.
    fn signed_up(name: &str) -> Desk {
        let desk = Desk::on_bus(Device::new(name), None, &[]);
        desk.dev.signup(EMAIL, PASSWORD);
        desk
    }

    /// `program ARGS` in this device's environment (HOME, the bus).
    fn client(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let program = PathBuf::from(program.as_ref());
        self.dev.call().command(&program, args)
    }

    fn run(&self, program: impl AsRef<OsStr>, args: &[&str], input: Option<&[u8]>) -> Output {
        let cmd = self.client(program, args);
        let r = match input {
            Some(bytes) => run_with_input(cmd, bytes, BUS_TIMEOUT),
            None => run_with_timeout(cmd, BUS_TIMEOUT),
        };
        r.unwrap_or_else(|e| panic!("device {}: {e}", self.dev.name()))
    }

    fn ok(&self, program: impl AsRef<OsStr>, args: &[&str], input: Option<&[u8]>) -> String {
        let out = self.run(program, args, input);
        assert!(
            out.status.success(),
            "device {}: {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            self.dev.name(),
            out.status,
            stdout(&out),
            stderr(&out),
            self.dev.log()
        );
        stdout(&out)
    }

    /// `secret-tool store --label=LABEL ATTRS…` with `secret` on stdin.
    fn store(&self, label: &str, attrs: &[&str], secret: &str) {
        let mut args = vec!["store".to_string(), format!("--label={label}")];
        args.extend(attrs.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok("secret-tool", &args, Some(secret.as_bytes()));
    }

    /// `secret-tool lookup ATTRS…`: the secret, or `None` when nothing
    /// matches.
    fn lookup(&self, attrs: &[&str]) -> Option<String> {
        let mut args = vec!["lookup"];
        args.extend(attrs);
        let out = self.run("secret-tool", &args, None);
        out.status.success().then(|| stdout(&out))
    }

    /// A gnome-keyring-daemon on this bus providing the Secret Service
    /// (`--unlock`, with `unlock_password` on its stdin, when given).
    fn gnome_keyring(&self, unlock_password: Option<&[u8]>) -> std::process::Child {
        let control = format!("--control-directory={}", utf8(&self.dev.home().join("gk")));
        let mut args = vec!["--foreground"];
        if unlock_password.is_some() {
            args.push("--unlock");
        }
        args.extend(["--components=secrets", &control]);
        let stdin = if unlock_password.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        };
        let mut gk = self
            .client("gnome-keyring-daemon", &args)
            .stdin(stdin)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        if let Some(password) = unlock_password {
            use std::io::Write;
            let mut stdin = gk.stdin.take().expect("stdin was piped");
            stdin.write_all(password).expect("unlock gnome-keyring");
        }
        gk
    }

    /// Stops `gk` and waits until nobody owns the Secret Service's name.
    fn stop_provider(&self, mut gk: std::process::Child) {
        let _ = gk.kill();
        let _ = gk.wait();
        wait_for("gnome-keyring-daemon to leave the bus", SETTLE, || {
            self.bus
                .owner("org.freedesktop.secrets")
                .is_none()
                .then_some(())
        });
    }

    /// `coffer secret-service enable`, asserting it worked.
    fn enable(&self) -> String {
        self.dev.ok(&["secret-service", "enable"])
    }

    /// The items of the login collection (`list --collection login --json`).
    fn login_items(&self) -> Vec<Value> {
        let v = self.dev.json(&["list", "--collection", "login", "--json"]);
        v.as_array().cloned().unwrap_or_default()
    }

    /// The `secret_service` part of `status --json`.
    fn ss_status(&self) -> Value {
        self.dev.status()["secret_service"].clone()
    }
}

fn tools(test: &str, extra: &[&str]) -> bool {
    let mut all = vec!["dbus-daemon", "dbus-send", "dbus-monitor", "secret-tool"];
    all.extend(extra);
    require(test, &all).is_some()
}

fn skip(test: &str, why: &str) {
    assert!(!required(), "{test}: {why}, and COFFER_REQUIRE_TOOLS=1");
    eprintln!("SKIP {test}: {why} (set COFFER_REQUIRE_TOOLS=1 to fail instead)");
}

/// A marker no file would hold by chance.
fn secret(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("Ss{what}{nanos:09}{}q", std::process::id())
}

/// Fails if any file under `roots` (logs, containers, trash, sync
/// folders) holds one of `secrets` in the clear.
fn assert_in_no_file(roots: &[&Path], secrets: &[&str]) {
    for root in roots {
        for f in files_under(root) {
            if !std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            for s in secrets {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "the secret {s:?} is in {} in the clear",
                    f.display()
                );
            }
        }
    }
}

fn item_by_title<'a>(items: &'a [Value], title: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["title"] == title)
        .unwrap_or_else(|| panic!("no item titled {title:?} in {items:#?}"))
}

/// The D-Bus path element of a coffer item id (`-` escaped as `_2d`).
fn item_path(id: &str) -> String {
    format!("{ITEM_PATH_PREFIX}{}", id.replace('-', "_2d"))
}

// ---------------------------------------------------------------- real clients

#[test]
fn real_clients_store_and_read_back_through_cofferd() {
    let name = "real_clients_store_and_read_back_through_cofferd";
    if !tools(name, &[]) {
        return;
    }
    let mut dev = Device::new("desk");
    // Every level, zbus's own included: still no secret in the log.
    dev.set_env("COFFER_LOG", "trace");
    let desk = Desk::on_bus(dev, None, &[]);
    desk.dev.signup(EMAIL, PASSWORD);
    let said = desk.enable();
    assert!(
        said.contains("cofferd now provides org.freedesktop.secrets"),
        "{said}"
    );
    let st = desk.ss_status();
    assert_eq!(
        (st["enabled"].clone(), st["providing"].clone()),
        (true.into(), true.into())
    );
    let report = desk.dev.json(&["secret-service", "status", "--json"]);
    let pid = desk.dev.status()["pid"].as_u64().unwrap();
    assert_eq!(
        report["owner"],
        format!("cofferd (pid {pid})"),
        "{report:#}"
    );
    assert_eq!(report["bus_reachable"], true);
    assert_eq!(
        desk.bus
            .owner("org.freedesktop.secrets")
            .and_then(|(_, p)| p),
        Some(pid as u32)
    );

    // secret-tool: store, lookup, replace, search, clear.
    let (s1, s2, s3) = (secret("tool1"), secret("tool2"), secret("tool3"));
    desk.store("GitHub token", &["service", "github", "user", "alice"], &s1);
    assert_eq!(
        desk.lookup(&["service", "github", "user", "alice"]),
        Some(s1.clone())
    );
    let items = desk.login_items();
    assert_eq!(items.len(), 1, "{items:#?}");
    let gh = item_by_title(&items, "GitHub token");
    assert_eq!(gh["collection"], "login");
    assert_eq!(gh["attributes"]["service"], "github");
    assert_eq!(gh["attributes"]["user"], "alice");
    let id = text(&gh["id"]);
    assert_eq!(
        desk.dev.ok(&["get", &id]),
        format!("{s1}\n"),
        "coffer get by id"
    );
    let whole = desk.dev.json(&["get", &id, "--json"]);
    let fields: Vec<(String, String)> = whole["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (text(&f["name"]), text(&f["value"])))
        .collect();
    for want in [
        ("kind", "secret"),
        ("collection", "login"),
        ("attribute:service", "github"),
    ] {
        assert!(
            fields.iter().any(|(n, v)| n == want.0 && v == want.1),
            "{want:?} not among {fields:?}"
        );
    }
    desk.store(
        "GitHub token (new)",
        &["service", "github", "user", "alice"],
        &s2,
    );
    let items = desk.login_items();
    assert_eq!(items.len(), 1, "same attributes replace: {items:#?}");
    assert_eq!(items[0]["id"], id, "replaced in place");
    assert_eq!(
        desk.lookup(&["service", "github", "user", "alice"]),
        Some(s2.clone())
    );
    let history = desk.dev.json(&["history", &id, "--json"]);
    assert!(
        history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "password" && e["value"] == s1.as_str()),
        "the replaced secret is in the item's history: {history:#}"
    );
    desk.store("GitLab token", &["service", "gitlab", "user", "alice"], &s3);
    let found = desk.ok("secret-tool", &["search", "--all", "user", "alice"], None);
    assert!(
        found.contains("GitHub token (new)") && found.contains("GitLab token"),
        "{found}"
    );
    desk.ok("secret-tool", &["clear", "service", "gitlab"], None);
    assert_eq!(desk.lookup(&["service", "gitlab"]), None);
    assert_eq!(desk.login_items().len(), 1);

    // python-keyring.
    let s4 = secret("py");
    match python_with_keyring() {
        None => skip(
            name,
            "no python3 with keyring and secretstorage (Debian: python3-keyring)",
        ),
        Some(py) => {
            let py = py.as_os_str();
            desk.ok(
                py,
                &["-c", PY_SET, "coffer-test", "bob"],
                Some(s4.as_bytes()),
            );
            let got = desk.ok(
                py,
                &[
                    "-m",
                    "keyring",
                    "-b",
                    PY_BACKEND,
                    "get",
                    "coffer-test",
                    "bob",
                ],
                None,
            );
            assert_eq!(got.trim_end_matches('\n'), s4);
            let items = desk.login_items();
            assert!(
                items
                    .iter()
                    .any(|i| i["attributes"]["service"] == "coffer-test"
                        && i["attributes"]["username"] == "bob"),
                "{items:#?}"
            );
            desk.ok(
                py,
                &[
                    "-m",
                    "keyring",
                    "-b",
                    PY_BACKEND,
                    "del",
                    "coffer-test",
                    "bob",
                ],
                None,
            );
            assert!(!desk
                .login_items()
                .iter()
                .any(|i| i["attributes"]["service"] == "coffer-test"));
        }
    }

    // git credential-libsecret.
    let s5 = secret("git");
    let build = tempfile::tempdir().expect("a build directory");
    match git_credential_libsecret(build.path()) {
        Err(why) => skip(name, &why),
        Ok(helper) => {
            let helper = helper.as_os_str();
            let input =
                format!("protocol=https\nhost=git.example.com\nusername=bob\npassword={s5}\n\n");
            desk.ok(helper, &["store"], Some(input.as_bytes()));
            let got = desk.ok(
                helper,
                &["get"],
                Some(b"protocol=https\nhost=git.example.com\n\n"),
            );
            assert!(
                got.contains("username=bob\n") && got.contains(&format!("password={s5}\n")),
                "{got}"
            );
            let items = desk.login_items();
            assert!(
                items
                    .iter()
                    .any(|i| i["attributes"]["server"] == "git.example.com"),
                "{items:#?}"
            );
            desk.ok(
                helper,
                &["erase"],
                Some(b"protocol=https\nhost=git.example.com\nusername=bob\n\n"),
            );
            let got = desk.ok(
                helper,
                &["get"],
                Some(b"protocol=https\nhost=git.example.com\n\n"),
            );
            assert!(!got.contains("password="), "erased: {got}");
        }
    }

    // Plain `coffer list` shows the default collection and counts the rest.
    desk.dev.ok(&["add", "Mail", "--username", "me"]);
    let plain = desk.dev.json(&["list", "--json"]);
    assert_eq!(plain.as_array().map(Vec::len), Some(1), "{plain:#}");
    assert_eq!(plain[0]["title"], "Mail");
    let human = desk.dev.ok(&["list"]);
    assert!(
        human.contains("Mail")
            && human.contains("(+ 1 item in collection login: `coffer list --collection login`)"),
        "{human}"
    );
    let table = desk.dev.ok(&["list", "--collection", "login"]);
    assert!(table.contains("service=github user=alice"), "{table}");

    // Every caller is logged at debug with its program and pid; no secret
    // is in a log or a file.
    let log = desk.dev.log();
    assert!(log.contains("TRACE"), "trace logging is on");
    assert!(
        log.lines().any(|l| l.contains("Secret Service call")
            && l.contains("secret-tool")
            && l.contains("pid=")),
        "callers are logged:\n{log}"
    );
    let all = [
        s1.as_str(),
        s2.as_str(),
        s3.as_str(),
        s4.as_str(),
        s5.as_str(),
    ];
    assert_in_no_file(&[desk.dev.home()], &all);
    desk.dev.ok(&["secret-service", "disable"]);
    assert_eq!(desk.bus.owner("org.freedesktop.secrets"), None, "released");
    assert_eq!(desk.login_items().len(), 1, "the items stay in the vault");
}

// ---------------------------------------------------------------- sync

#[test]
fn a_secret_stored_on_one_device_is_read_on_the_other_after_sync() {
    let name = "a_secret_stored_on_one_device_is_read_on_the_other_after_sync";
    if !tools(name, &[]) {
        return;
    }
    let fleet = Fleet::<2>::shared(["laptop", "desktop"], Account::new(EMAIL, PASSWORD));
    let [a, b] = fleet.devices;
    let a = Desk::on_bus(a, None, &[]);
    let b = Desk::on_bus(b, None, &[]);
    a.enable();
    b.enable();
    let signals = b
        .bus
        .monitor("type='signal',interface='org.freedesktop.Secret.Collection'");
    let s1 = secret("sync1");
    a.store("wifi home", &["ssid", "home-net"], &s1);
    let got = wait_until(
        "device B's secret-tool to read what A stored",
        SETTLE,
        || b.lookup(&["ssid", "home-net"]),
        || format!("B's log:\n{}", b.dev.log()),
    );
    assert_eq!(got, s1);
    let id = text(&item_by_title(&b.login_items(), "wifi home")["id"]);
    let path = item_path(&id);
    wait_for("B's bus to announce the item", SETTLE, || {
        let t = signals.text();
        (t.contains("member=ItemCreated") && t.contains(&path)).then_some(())
    });

    // An edit with coffer on A is a change on B's bus; a delete, a deletion.
    a.dev.ok(&["edit", &id, "--title", "wifi (home)"]);
    wait_for("B's bus to announce the change", SETTLE, || {
        signals.text().contains("member=ItemChanged").then_some(())
    });
    let found = b.ok("secret-tool", &["search", "ssid", "home-net"], None);
    assert!(found.contains("label = wifi (home)"), "{found}");

    // B replaces the secret (same attributes): A reads the new one.
    let s2 = secret("sync2");
    b.store("wifi (home)", &["ssid", "home-net"], &s2);
    assert_eq!(b.login_items().len(), 1);
    let got = wait_until(
        "device A to read B's new secret",
        SETTLE,
        || a.lookup(&["ssid", "home-net"]).filter(|s| *s == s2),
        || format!("A's log:\n{}", a.dev.log()),
    );
    assert_eq!(got, s2);
    a.dev.ok(&["rm", &id]);
    wait_for("B's bus to announce the deletion", SETTLE, || {
        let t = signals.text();
        (t.contains("member=ItemDeleted") && t.contains(&path)).then_some(())
    });
    assert_eq!(b.lookup(&["ssid", "home-net"]), None);
    assert_in_no_file(
        &[a.dev.home(), b.dev.home(), fleet.folders[0].as_path()],
        &[&s1, &s2],
    );
}

// ---------------------------------------------------------------- locked

#[test]
fn a_locked_vault_answers_lookup_with_a_prompt_that_coffer_unlock_completes() {
    let name = "a_locked_vault_answers_lookup_with_a_prompt_that_coffer_unlock_completes";
    if !tools(name, &[]) {
        return;
    }
    // The bus activates through the device's own activation file, with the
    // device's environment (as a login session's bus would).
    let dev = Device::new("locked");
    let services = dev.home().join(".local/share/dbus-1/services");
    let home = dev.home().as_os_str().to_owned();
    let mut bus_env: Vec<(&str, &OsStr)> = vec![
        ("HOME", home.as_os_str()),
        ("COFFER_LOG", OsStr::new("debug")),
        ("COFFER_KDF", OsStr::new("fast")),
    ];
    let forced = std::env::var_os("COFFER_KEYRING");
    if let Some(k) = &forced {
        bus_env.push(("COFFER_KEYRING", k.as_os_str()));
    }
    let desk = Desk::on_bus(dev, Some(&services), &bus_env);
    desk.dev.signup(EMAIL, PASSWORD);
    desk.enable();
    let file = std::fs::read_to_string(services.join("org.freedesktop.secrets.service"))
        .expect("enable wrote the activation file");
    assert!(
        file.contains(&format!("\nExec={}\n", cofferd_bin().display())),
        "{file}"
    );
    assert!(
        !file.lines().any(|l| l.starts_with("SystemdService=")),
        "no systemd unit is installed: {file}"
    );
    let s1 = secret("locked");
    desk.store("vpn", &["host", "vpn.example.org"], &s1);

    let unlock_completes = |desk: &Desk, what: &str| {
        let cmd = desk.client("secret-tool", &["lookup", "host", "vpn.example.org"]);
        let lookup = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(90)));
        let waiting = wait_until(
            &format!("{what}: secret-tool's prompt shown in coffer status"),
            SETTLE,
            || {
                let w = desk.ss_status()["waiting"].clone();
                w.as_array().filter(|w| !w.is_empty()).cloned()
            },
            || format!("log:\n{}", desk.dev.log()),
        );
        assert!(
            text(&waiting[0]).starts_with("secret-tool (pid "),
            "{waiting:?}"
        );
        let human = desk.dev.ok(&["status"]);
        assert!(
            human.contains(
                "A Secret Service prompt is waiting: run `coffer unlock` (secret-tool (pid "
            ),
            "{human}"
        );
        assert!(!lookup.is_finished(), "{what}: lookup waits while locked");
        desk.dev
            .with_env(&[("COFFER_PASSWORD", PASSWORD)])
            .ok(&["unlock"]);
        let out = lookup
            .join()
            .expect("the lookup thread")
            .expect("lookup finishes");
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert_eq!(stdout(&out), s1, "{what}");
        assert_eq!(desk.ss_status()["waiting"], Value::Array(vec![]));
    };

    desk.dev.ok(&["lock"]);
    unlock_completes(&desk, "locked");

    // Restarted while locked (nothing of the vault readable, nothing kept in
    // memory): the lookup starts cofferd through D-Bus activation, and
    // still waits for `coffer unlock`.
    desk.dev.ok(&["lock"]);
    let old = desk.dev.daemon_pid().expect("a daemon runs");
    desk.dev.ok(&["stop"]);
    wait_for("the old daemon to exit", SETTLE, || {
        (!coffer_blackbox::pid_alive(old)).then_some(())
    });
    assert_eq!(
        desk.bus.owner("org.freedesktop.secrets"),
        None,
        "released at stop"
    );
    let cmd = desk.client("secret-tool", &["lookup", "host", "vpn.example.org"]);
    let activated = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(90)));
    let (_, pid) = wait_for("D-Bus activation to start cofferd", SETTLE, || {
        desk.bus.owner("org.freedesktop.secrets")
    });
    let pid = pid.expect("the bus knows the pid");
    assert_ne!(pid, old);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).ok(),
        Some(cofferd_bin()),
        "the activation file's Exec="
    );
    wait_for("the activated daemon to show the prompt", SETTLE, || {
        let w = desk.ss_status()["waiting"].clone();
        w.as_array().is_some_and(|w| !w.is_empty()).then_some(())
    });
    assert_eq!(desk.dev.status()["state"], "locked");
    assert_eq!(
        desk.dev.daemon_pid(),
        Some(pid),
        "coffer talks to the activated daemon"
    );
    desk.dev
        .with_env(&[("COFFER_PASSWORD", PASSWORD)])
        .ok(&["unlock"]);
    let out = activated
        .join()
        .expect("the lookup thread")
        .expect("lookup finishes");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), s1);
    assert_in_no_file(&[desk.dev.home()], &[&s1]);
}

// ---------------------------------------------------------------- refusals

#[test]
fn another_provider_owning_the_name_makes_enable_refuse_and_change_nothing() {
    let name = "another_provider_owning_the_name_makes_enable_refuse_and_change_nothing";
    if !tools(name, &["gnome-keyring-daemon"]) {
        return;
    }
    let desk = Desk::signed_up("refuse");
    let gk = desk.gnome_keyring(None);
    let gk_pid = gk.id();
    let owner = wait_until(
        "gnome-keyring-daemon to own org.freedesktop.secrets",
        SETTLE,
        || desk.bus.owner("org.freedesktop.secrets"),
        String::new,
    );
    assert_eq!(owner.1, Some(gk_pid));

    let out = desk.dev.coffer(&["secret-service", "enable"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "gnome-keyring-daemon (pid {gk_pid}) already provides org.freedesktop.secrets"
        )) && err.contains("coffer secret-service enable")
            && err.contains("nothing was changed"),
        "{err}"
    );
    // Nothing changed: not enabled, no activation file, no choice kept.
    assert_eq!(desk.dev.status()["secret_service"], Value::Null);
    let services = desk.dev.home().join(".local/share/dbus-1/services");
    assert!(!services.join("org.freedesktop.secrets.service").exists());
    assert!(!desk.dev.dirs().data.join("secret-service.json").exists());
    let report = desk.dev.json(&["secret-service", "status", "--json"]);
    assert_eq!(
        report["owner"],
        format!("gnome-keyring-daemon (pid {gk_pid})"),
        "{report:#}"
    );
    assert_eq!(report["enabled"], false);

    // Once it is gone, enable works.
    desk.stop_provider(gk);
    desk.enable();
    assert!(services.join("org.freedesktop.secrets.service").exists());

    // At start-up an enabled cofferd whose name is taken says so in
    // `status` and runs on.
    desk.dev.ok(&["stop"]);
    let gk = desk.gnome_keyring(None);
    let gk_pid = gk.id();
    wait_for("gnome-keyring-daemon to own the name again", SETTLE, || {
        (desk.bus.owner("org.freedesktop.secrets").and_then(|o| o.1) == Some(gk_pid)).then_some(())
    });
    let st = wait_for(
        "the restarted daemon to report the taken name",
        SETTLE,
        || {
            let st = desk.ss_status();
            st["problem"].is_string().then_some(st)
        },
    );
    assert_eq!(
        (st["enabled"].clone(), st["providing"].clone()),
        (true.into(), false.into())
    );
    assert!(
        text(&st["problem"]).contains(&format!("gnome-keyring-daemon (pid {gk_pid})")),
        "{st:#}"
    );
    assert!(desk
        .dev
        .ok(&["status"])
        .contains("Secret Service: enabled, not provided: gnome-keyring-daemon"));
    desk.stop_provider(gk);
    desk.enable();
    assert_eq!(desk.ss_status()["providing"], true);

    // The bus going away is shown too; the daemon runs on.
    coffer_blackbox::process::kill9(desk.bus.pid());
    let st = wait_for("the daemon to notice its bus is gone", SETTLE, || {
        let st = desk.ss_status();
        (st["providing"] == false).then_some(st)
    });
    assert!(
        text(&st["problem"]).contains("lost org.freedesktop.secrets"),
        "{st:#}"
    );
    let state = desk.dev.status()["state"].clone();
    assert!(
        state == "locked" || state == "unlocked",
        "still signed in: {state}"
    );
}

#[test]
fn a_key_cache_on_another_provider_moves_off_when_cofferd_takes_over() {
    let name = "a_key_cache_on_another_provider_moves_off_when_cofferd_takes_over";
    if !tools(name, &["gnome-keyring-daemon"]) {
        return;
    }
    let mut dev = Device::new("takeover");
    dev.remove_env("COFFER_KEYRING");
    let desk = Desk::on_bus(dev, None, &[]);
    // An unlocked gnome-keyring provides the Secret Service first, and the
    // daemon caches its key there.
    let gk = desk.gnome_keyring(Some(b"gk-login-password"));
    wait_for("gnome-keyring-daemon to own the name", SETTLE, || {
        desk.bus.owner("org.freedesktop.secrets").map(|_| ())
    });
    desk.dev.signup(EMAIL, PASSWORD);
    let st = desk.dev.status();
    if st["key_cache"]["backend"] != "secret-service" {
        desk.stop_provider(gk);
        skip(
            name,
            &format!("gnome-keyring did not take the key cache here: {st:#}"),
        );
        return;
    }
    // It goes away; cofferd takes the name, and its key cache moves off
    // the Secret Service (it would be asking itself for its own key).
    desk.stop_provider(gk);
    desk.enable();
    let st = desk.dev.status();
    assert_ne!(st["key_cache"]["backend"], "secret-service", "{st:#}");
    let s1 = secret("takeover");
    desk.store("after takeover", &["app", "takeover"], &s1);
    // Locking and unlocking touch the key cache: no call waits on cofferd.
    desk.dev.ok(&["lock"]);
    desk.dev
        .with_env(&[("COFFER_PASSWORD", PASSWORD)])
        .timeout(Duration::from_secs(20))
        .ok(&["unlock"]);
    assert_eq!(desk.lookup(&["app", "takeover"]), Some(s1));
    // Restarted, an enabled daemon never opens the Secret Service cache.
    desk.dev.ok(&["stop"]);
    let st = desk.dev.status();
    assert_ne!(st["key_cache"]["backend"], "secret-service", "{st:#}");
    wait_for("the restarted daemon to provide again", SETTLE, || {
        (desk.ss_status()["providing"] == true).then_some(())
    });
}

#[test]
fn without_a_session_bus_enable_says_so() {
    let mut dev = Device::new("nobus");
    dev.remove_env("DBUS_SESSION_BUS_ADDRESS");
    dev.remove_env("XDG_RUNTIME_DIR");
    let out = dev.coffer(&["secret-service", "enable"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("there is no D-Bus session bus")
            && err.contains("DBUS_SESSION_BUS_ADDRESS")
            && err.contains("$XDG_RUNTIME_DIR/bus"),
        "{err}"
    );
    let st = dev.json(&["secret-service", "status", "--json"]);
    assert_eq!(
        (st["enabled"].clone(), st["bus_reachable"].clone()),
        (false.into(), false.into())
    );
}

#[test]
fn another_user_is_refused_by_the_provider() {
    let name = "another_user_is_refused_by_the_provider";
    if !can_act_as_nobody() {
        eprintln!("SKIPPED {name}: needs root and setpriv to act as nobody");
        return;
    }
    if !tools(name, &[]) {
        return;
    }
    // A bus that lets every user in: the provider's own check must refuse.
    let bus = PrivateBus::start_open_to_all();
    let mut dev = Device::new("owner");
    dev.set_env("DBUS_SESSION_BUS_ADDRESS", bus.address());
    let desk = Desk { dev, bus };
    desk.dev.signup(EMAIL, PASSWORD);
    desk.enable();
    let s1 = secret("uid");
    desk.store("mine", &["app", "uid-check"], &s1);
    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
        "secret-tool",
        "lookup",
        "app",
        "uid-check",
    ])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", "/")
    .env("DBUS_SESSION_BUS_ADDRESS", desk.bus.address())
    .current_dir("/");
    let out = run_with_timeout(cmd, BUS_TIMEOUT).expect("secret-tool as nobody");
    assert!(!out.status.success(), "nobody was served: {}", stdout(&out));
    assert!(!stdout(&out).contains(&s1));
    assert!(
        stderr(&out).contains(&format!("serves only its own user, not uid {NOBODY}")),
        "{}",
        stderr(&out)
    );
    assert!(
        desk.dev
            .log()
            .contains("Secret Service call from another user refused"),
        "{}",
        desk.dev.log()
    );
    assert_eq!(
        desk.lookup(&["app", "uid-check"]),
        Some(s1),
        "the owner still is"
    );
}

// ---------------------------------------------------------------- reset

#[test]
fn a_reset_moves_secret_service_items_away_like_any_item() {
    let name = "a_reset_moves_secret_service_items_away_like_any_item";
    if !tools(name, &[]) {
        return;
    }
    let folder = shared_folder();
    let desk = Desk::on_bus(Device::with_sync_folder("reset", folder.path()), None, &[]);
    desk.dev.signup(EMAIL, PASSWORD);
    desk.enable();
    let signals = desk
        .bus
        .monitor("type='signal',interface='org.freedesktop.Secret.Collection'");
    let s1 = secret("reset");
    desk.store("token", &["app", "resetting"], &s1);
    let id = text(&desk.login_items()[0]["id"]);
    let reset = desk
        .dev
        .with_env(&[("COFFER_NEW_PASSWORD", "ss-new-password")])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    let key = text(&reset["account_key"]);
    // The bus hears that the item went away with the old epoch.
    wait_for("the deletion on the bus", SETTLE, || {
        let t = signals.text();
        (t.contains("member=ItemDeleted") && t.contains(&item_path(&id))).then_some(())
    });
    let trash = desk.dev.home().join(".local/share/Trash/files");
    assert!(
        files_under(&trash)
            .iter()
            .any(|f| f.to_string_lossy().contains(".coffer")),
        "the old container is in the trash: {:?}",
        files_under(&trash)
    );
    desk.dev
        .login_ok(EMAIL, "ss-new-password", &key, folder.path());
    assert_eq!(
        desk.lookup(&["app", "resetting"]),
        None,
        "nothing of the old epoch"
    );
    assert!(desk.login_items().is_empty());
    assert_eq!(desk.ss_status()["providing"], true, "still the provider");
    assert_in_no_file(&[desk.dev.home(), folder.path()], &[&s1]);
}

// ---------------------------------------------------------------- measurements

/// Timings, printed (not asserted: the machine is shared): one `secret-tool
/// lookup` and one `secret-tool store` through cofferd with 1 item in the
/// login collection, and again with `COFFER_SS_ITEMS` (default 2,000)
/// imported there, as a ratio. Run with
/// `cargo nextest run -p coffer-blackbox --test secret_service --run-ignored only measure --no-capture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_lookup_and_store_as_the_collection_grows() {
    let name = "measure_lookup_and_store_as_the_collection_grows";
    if !tools(name, &[]) {
        return;
    }
    let n: usize = std::env::var("COFFER_SS_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let desk = Desk::signed_up("measure");
    desk.enable();
    desk.store("probe", &["app", "probe"], "probe-secret");
    let median_ms = |f: &dyn Fn()| {
        f();
        let mut t: Vec<f64> = (0..15)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        t.sort_by(|a, b| a.total_cmp(b));
        t[t.len() / 2]
    };
    let lookup = || {
        assert_eq!(
            desk.lookup(&["app", "probe"]).as_deref(),
            Some("probe-secret")
        )
    };
    let store = || desk.store("probe", &["app", "probe"], "probe-secret");
    let (lookup_1, store_1) = (median_ms(&lookup), median_ms(&store));

    let mut csv = String::from("title,password,kind,collection,attribute:app\n");
    for i in 0..n {
        csv.push_str(&format!("app {i},secret-{i},secret,login,app-{i}\n"));
    }
    let file = desk.dev.home().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    desk.dev.ok(&["import", "csv", utf8(&file)]);
    wait_for("the provider to see every item", SETTLE, || {
        let r = desk.dev.json(&["secret-service", "status", "--json"]);
        (r["collections"][0]["items"] == n + 1).then_some(())
    });
    let (lookup_n, store_n) = (median_ms(&lookup), median_ms(&store));
    println!(
        "secret-tool lookup: {lookup_1:.1} ms with 1 item, {lookup_n:.1} ms with {} ({:.2}x)",
        n + 1,
        lookup_n / lookup_1
    );
    println!(
        "secret-tool store (replace): {store_1:.1} ms with 1 item, {store_n:.1} ms with {} ({:.2}x)",
        n + 1,
        store_n / store_1
    );
}
