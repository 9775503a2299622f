//! Black-box tests of `coffer` and `cofferd` (issue 3): each test makes
//! temporary HOMEs, runs the real binaries in them with hard timeouts, and
//! stops its daemons when done.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use coffer_blackbox::nobody::{can_act_as_nobody, NobodysCoffer, OpenSocket};
use coffer_blackbox::{
    coffer_bin, mode, pid_alive, run_with_timeout, shared_folder, short_tempdir, stderr, stdout,
    Device, RawConn,
};

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "alice@example.org";

/// Replaces one data character of group `group` (1-based) of a canonical
/// Account Key with another symbol of the alphabet.
fn mistype_group(key: &str, group: usize) -> String {
    let mut parts: Vec<String> = key.split('-').map(str::to_string).collect();
    let g = &mut parts[group];
    let first = g.chars().next().expect("groups are not empty");
    let other = if first == 'A' { 'B' } else { 'A' };
    g.replace_range(0..1, &other.to_string());
    parts.join("-")
}

#[test]
fn items_lock_unlock_and_restart() {
    let dev = Device::new("laptop");
    let signup = dev.signup(EMAIL, PW);
    let key = signup["account_key"]
        .as_str()
        .expect("signup --json has account_key");
    assert!(key.starts_with("C1-"), "{signup}");
    assert!(
        signup["account_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{signup}"
    );
    assert_eq!(signup["epoch"], 1, "{signup}");
    assert_eq!(signup["email"], EMAIL, "{signup}");

    // add
    let mail = dev
        .ok(&[
            "add",
            "Mail",
            "--username",
            "me",
            "--password",
            "pw1",
            "--url",
            "https://mail.example.org",
            "--field",
            "pin=1234",
            "--field",
            "recovery=a=b",
        ])
        .trim()
        .to_string();
    assert!(!mail.is_empty());
    let bank = dev
        .ok(&["add", "Bank", "--username", "acct", "--password", "pw2"])
        .trim()
        .to_string();
    let note = dev.json(&["add", "Note", "--notes", "line one\nline two", "--json"]);
    assert!(note["id"].as_str().is_some(), "{note}");
    assert_ne!(mail, bank);

    // get, get --field, get --json
    assert_eq!(dev.ok(&["get", "Mail"]), "pw1\n");
    assert_eq!(dev.ok(&["get", "mail", "--field", "username"]), "me\n");
    assert_eq!(dev.ok(&["get", &mail, "--field", "pin"]), "1234\n");
    assert_eq!(dev.ok(&["get", "Mail", "--field", "recovery"]), "a=b\n");
    assert_eq!(
        dev.ok(&["get", "Mail", "--field", "url"]),
        "https://mail.example.org\n"
    );
    assert_eq!(
        dev.ok(&["get", "Note", "--field", "notes"]),
        "line one\nline two\n"
    );
    let item = dev.json(&["get", "Mail", "--json"]);
    assert_eq!(item["id"], mail.as_str(), "{item}");
    assert_eq!(item["title"], "Mail");
    assert_eq!(item["username"], "me");
    assert_eq!(item["password"], "pw1");
    let fields = item["fields"].as_array().expect("fields is an array");
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "pin" && f["value"] == "1234"),
        "{item}"
    );

    // list
    let list = dev.json(&["list", "--json"]);
    let list = list.as_array().expect("list --json is an array");
    assert_eq!(list.len(), 3, "{list:?}");
    for i in list {
        assert!(i["id"].is_string() && i["title"].is_string(), "{i}");
    }
    let table = dev.ok(&["list"]);
    assert!(table.contains("Mail") && table.contains(&bank), "{table}");

    // edit, then history shows the old value
    dev.ok(&[
        "edit",
        "Mail",
        "--password",
        "pw1-new",
        "--remove-field",
        "pin",
    ]);
    assert_eq!(dev.ok(&["get", "Mail"]), "pw1-new\n");
    assert_eq!(dev.code(&["get", "Mail", "--field", "pin"]), 1);
    let history = dev.json(&["history", "Mail", "--json"]);
    let entries = history["entries"].as_array().expect("history has entries");
    assert!(
        entries
            .iter()
            .any(|e| e["field"] == "password" && e["value"] == "pw1"),
        "{history}"
    );
    assert!(dev.ok(&["history", "Mail"]).contains("pw1"));

    // rm, then get exits 4
    dev.ok(&["rm", "Bank"]);
    assert_eq!(dev.code(&["get", "Bank"]), 4);
    assert_eq!(dev.code(&["get", &bank]), 4);
    assert_eq!(dev.code(&["rm", "Bank"]), 4);

    let st = dev.json(&["status", "--json"]);
    assert_eq!(st["state"], "unlocked", "{st}");
    assert_eq!(st["items"], 2, "{st}");
    assert_eq!(st["email"], EMAIL);
    assert_eq!(st["epoch"], 1);
    assert_eq!(st["account_id"], signup["account_id"]);
    for k in ["device_id", "pid", "container", "sync_folders"] {
        assert!(!st[k].is_null(), "status --json lacks {k}: {st}");
    }

    // lock: get exits 3
    dev.ok(&["lock"]);
    assert_eq!(dev.json(&["status", "--json"])["state"], "locked");
    let out = dev.coffer(&["get", "Mail"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("coffer: "), "{}", stderr(&out));

    // no terminal and no variable: a clear error at once, not a hang
    let start = Instant::now();
    let out = dev.call().timeout(Duration::from_secs(20)).run(&["unlock"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: no terminal to ask for the Account Password: set COFFER_PASSWORD or pass --password-file FILE\n"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    // unlock: wrong password exits 5, the right one works
    let out = dev
        .with_env(&[("COFFER_PASSWORD", "Wr0ng-Pa55")])
        .run(&["unlock"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Wr0ng-Pa55"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    assert_eq!(dev.ok(&["get", "Mail"]), "pw1-new\n");

    // --password-file: first line only
    dev.ok(&["lock"]);
    let pwfile = dev.home().join("pw.txt");
    std::fs::write(&pwfile, format!("{PW}\nignored\n")).unwrap();
    dev.ok(&["--password-file", pwfile.to_str().unwrap(), "unlock"]);
    assert_eq!(dev.json(&["status", "--json"])["state"], "unlocked");

    // a mistyped Account Key names its group, before any daemon is asked
    let other = Device::new("desktop");
    let out = other
        .with_env(&[
            ("COFFER_ACCOUNT_KEY", &mistype_group(key, 3)),
            ("COFFER_PASSWORD", PW),
            ("COFFER_NO_AUTOSTART", "1"),
        ])
        .timeout(Duration::from_secs(20))
        .run(&["login", "--email", EMAIL, "--sync-folder", "/nonexistent"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("group 3"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(&key[3..]),
        "the key leaked: {}",
        stderr(&out)
    );
    assert!(!other.socket().exists());

    // stop, then any command starts the daemon again; the key cache
    // decides whether it comes back unlocked
    let pid = st["pid"].as_u64().expect("pid") as u32;
    let out = dev.ok(&["stop"]);
    assert!(out.contains("stopped"), "{out}");
    assert!(
        !pid_alive(pid),
        "cofferd {pid} still runs after `coffer stop` returned"
    );
    let st2 = dev.json(&["status", "--json"]);
    assert_ne!(st2["pid"], st["pid"], "{st2}");
    if st2["key_cache"]["persistent"] == true {
        assert_eq!(st2["state"], "unlocked", "{st2}");
        assert_eq!(dev.ok(&["get", "Mail"]), "pw1-new\n");
    } else {
        eprintln!(
            "key cache is not persistent here ({}): the restarted daemon is locked",
            st2["key_cache"]
        );
        assert_eq!(st2["state"], "locked", "{st2}");
        assert!(st2["key_cache"]["warning"].is_string(), "{st2}");
        dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
        assert_eq!(dev.ok(&["get", "Mail"]), "pw1-new\n");
    }
}

#[test]
fn malformed_account_key_names_the_group_without_the_daemon() {
    let dev = Device::new("phone");
    let start = Instant::now();
    let out = dev
        .with_env(&[
            (
                "COFFER_ACCOUNT_KEY",
                "C1-ABCDE-FGHJK-0BCDE-FGHJK-ABCDE-FGHJK-ABCDE",
            ),
            ("COFFER_PASSWORD", PW),
        ])
        .timeout(Duration::from_secs(20))
        .run(&["login", "--email", EMAIL, "--sync-folder", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("coffer: group 3 of the Account Key"),
        "{err}"
    );
    assert!(!err.contains("0BCDE"), "the key leaked: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Nothing was contacted or started.
    assert!(!dev.socket().exists());
    assert!(!dev.dirs().log_file().exists());

    let out = dev
        .with_env(&[
            ("COFFER_ACCOUNT_KEY", "C1-ABCDE-FGHJK"),
            ("COFFER_PASSWORD", PW),
        ])
        .run(&["login", "--email", EMAIL]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("7 groups"), "{}", stderr(&out));
}

#[test]
fn missing_secrets_fail_fast_naming_their_sources() {
    let dev = Device::new("tablet");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            &["unlock"],
            &[],
            "set COFFER_PASSWORD or pass --password-file FILE",
        ),
        (
            &["signup", "--email", EMAIL],
            &[],
            "set COFFER_PASSWORD or pass --password-file FILE",
        ),
        (
            &["login", "--email", EMAIL],
            &[("COFFER_PASSWORD", PW)],
            "Account Key: set COFFER_ACCOUNT_KEY",
        ),
        (
            &["passwd"],
            &[("COFFER_PASSWORD", PW)],
            "new Account Password: set COFFER_NEW_PASSWORD",
        ),
        (
            &["reset", "--email", EMAIL, "--yes"],
            &[("COFFER_PASSWORD", PW)],
            "set COFFER_NEW_PASSWORD",
        ),
    ];
    for (args, env, needle) in cases {
        let start = Instant::now();
        let out = dev.with_env(env).timeout(Duration::from_secs(20)).run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no terminal"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{args:?} took {:?}",
            start.elapsed()
        );
    }
    // reset without --yes and without a terminal cannot be confirmed
    let out = dev
        .with_env(&[("COFFER_NEW_PASSWORD", PW)])
        .run(&["reset", "--email", EMAIL]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(!dev.socket().exists(), "no daemon is needed to fail");
}

#[test]
fn usage_errors_help_completions_and_stop_without_daemon() {
    let dev = Device::new("cli");
    let help = dev.ok(&["--help"]);
    assert!(
        help.contains("Examples:") && help.contains("coffer get Mail"),
        "{help}"
    );
    assert!(dev.ok(&["get", "--help"]).contains("Examples:"));
    assert_eq!(dev.code(&["get"]), 2);
    assert_eq!(dev.code(&["frobnicate"]), 2);
    let no_daemon = dev.with_env(&[("COFFER_NO_AUTOSTART", "1")]);
    assert_eq!(no_daemon.code(&["edit", "Mail"]), 2);
    assert_eq!(no_daemon.code(&["add", "X", "--field", "novalue"]), 2);
    assert!(dev.ok(&["completions", "bash"]).contains("coffer"));
    assert!(dev.ok(&["completions", "zsh"]).contains("coffer"));
    // stop never starts a daemon just to stop it
    assert!(dev.ok(&["stop"]).contains("not running"));
    assert!(!dev.dirs().log_file().exists());
    // no autostart: a clear error
    let out = no_daemon.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("COFFER_NO_AUTOSTART"),
        "{}",
        stderr(&out)
    );
}

/// A stand-in `cofferd` next to a copy of `coffer`: it records how it was
/// started and exits without listening.
#[test]
fn autostart_detaches_the_daemon_and_passes_no_secrets() {
    let dev = Device::new("fake");
    let bin = short_tempdir("cf");
    let coffer = bin.path().join("coffer");
    std::fs::copy(coffer_bin(), &coffer).unwrap();
    let fake = bin.path().join("cofferd");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         echo \"args: $*\"\n\
         echo \"secret-vars: $(env | grep -c -E '^COFFER_(PASSWORD|ACCOUNT_KEY|NEW_PASSWORD)=')\"\n\
         echo \"session: $(cut -d' ' -f6 /proc/$$/stat) pid: $$\"\n\
         if read -r line; then echo stdin-had-data; else echo stdin-empty; fi\n\
         exit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let cmd = dev
        .with_env(&[
            ("COFFER_PASSWORD", "hunter2"),
            ("COFFER_ACCOUNT_KEY", "C1-X"),
        ])
        .command(&coffer, &["status"]);
    let start = Instant::now();
    let out = run_with_timeout(cmd, Duration::from_secs(40)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log_path = dev.dirs().log_file();
    let err = stderr(&out);
    assert!(err.contains("cofferd did not start"), "{err}");
    assert!(err.contains(&log_path.display().to_string()), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(16),
        "{:?}",
        start.elapsed()
    );

    let log = dev.log();
    assert!(
        log.contains(&format!("args: --log-file {}", log_path.display())),
        "{log}"
    );
    assert!(log.contains("secret-vars: 0"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
    assert!(log.contains("stdin-empty"), "{log}");
    let session_line = log
        .lines()
        .find(|l| l.starts_with("session: "))
        .expect("session line");
    let words: Vec<&str> = session_line.split_whitespace().collect();
    assert_eq!(
        words[1], words[3],
        "cofferd is not a session leader: {session_line}"
    );
    assert_eq!(mode(&log_path), 0o600);
    assert_eq!(mode(&dev.dirs().state), 0o700);
}

#[test]
fn socket_and_directory_modes() {
    let dev = Device::new("modes");
    dev.ok(&["status"]);
    let dirs = dev.dirs();
    assert_eq!(mode(&dirs.runtime), 0o700, "{}", dirs.runtime.display());
    assert_eq!(mode(&dev.socket()), 0o600);
    assert_eq!(mode(&dirs.state), 0o700);
    assert!(
        dev.socket().as_os_str().len() < 100,
        "{}",
        dev.socket().display()
    );
}

#[test]
fn protocol_errors_leave_other_clients_served() {
    let dev = Device::new("proto");
    dev.ok(&["status"]);
    let socket = dev.socket();
    let (mut a, hello) = RawConn::hello(&socket).expect("hello");
    assert_eq!(hello["hello"]["protocol"], 1, "{hello}");
    assert!(hello["hello"]["pid"].is_u64(), "{hello}");
    let (mut b, _) = RawConn::hello(&socket).expect("hello");

    let r = a.request("this is not json").expect("an answer to garbage");
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
    let r = a
        .request(r#"{"id":7,"method":"fly","params":{}}"#)
        .expect("an answer to an unknown method");
    assert_eq!(r["id"], 7, "{r}");
    assert_eq!(r["error"]["code"], "unknown_method", "{r}");
    assert!(r["error"]["message"].is_string(), "{r}");
    let r = a
        .request(r#"{"id":8,"method":"get","params":{}}"#)
        .expect("an answer to bad params");
    assert_eq!(
        (r["id"].as_u64(), r["error"]["code"].as_str()),
        (Some(8), Some("invalid_params")),
        "{r}"
    );

    let r = b.request(r#"{"id":1,"method":"status"}"#).expect("status");
    assert_eq!(r["id"], 1);
    assert!(r["result"]["state"].is_string(), "{r}");

    // An over-long line: the daemon answers line_too_long without reading
    // it all into memory; the write may fail once it closes.
    let (mut c, _) = RawConn::hello(&socket).expect("hello");
    let mut w = c.writer().expect("a second handle");
    let sender = std::thread::spawn(move || {
        let big = vec![b'x'; coffer_proto::MAX_LINE + 1024];
        let _ = std::io::Write::write_all(&mut w, &big);
        let _ = std::io::Write::write_all(&mut w, b"\n");
    });
    let r = c.read_json().expect("an answer to an over-long line");
    assert_eq!(r["error"]["code"], "line_too_long", "{r}");
    sender
        .join()
        .expect("the sender thread ends (its writes time out at worst)");

    // Everyone else is still served, old connections and new.
    let r = b
        .request(r#"{"id":2,"method":"status"}"#)
        .expect("status after");
    assert!(r["result"]["state"].is_string(), "{r}");
    let r = a
        .request(r#"{"id":9,"method":"status"}"#)
        .expect("status on a");
    assert!(r["result"]["state"].is_string(), "{r}");
    let (mut d, _) = RawConn::hello(&socket).expect("a new client");
    let r = d
        .request(r#"{"id":1,"method":"status"}"#)
        .expect("status on d");
    assert!(r["result"]["pid"].is_u64(), "{r}");
    assert_eq!(dev.json(&["status", "--json"])["pid"], r["result"]["pid"]);

    // A client of another protocol gets a clear error.
    let mut e = RawConn::connect(&socket).expect("connect");
    e.send_line(r#"{"hello":{"protocol":999,"software":"coffer 99","pid":1}}"#)
        .unwrap();
    let r = e.read_json().expect("an answer to a future protocol");
    assert_eq!(r["error"]["code"], "protocol_mismatch", "{r}");
}

#[test]
fn other_users_are_refused() {
    if !can_act_as_nobody() {
        eprintln!("SKIPPED other_users_are_refused: needs root and setpriv to act as nobody");
        return;
    }
    let dev = Device::new("owner");
    dev.ok(&["status"]);
    let coffer = NobodysCoffer::new();
    let as_nobody = |dev: &Device| coffer.run(dev, &["status", "--json"]);

    // As things are, the 0700 directories keep nobody from the socket.
    let out = as_nobody(&dev);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).is_empty());

    // Open the path to the socket for this test only (o+x on each directory
    // down to it, and the socket 0666), so that the kernel lets connect()
    // through and the daemon's own peer-uid check is what refuses.
    let opened = OpenSocket::open(&dev);
    let out = as_nobody(&dev);
    // Restore before asserting, so that a failure leaves nothing open.
    opened.restore();
    assert_ne!(
        out.status.code(),
        Some(0),
        "nobody was served: {}",
        stdout(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        !stderr(&out).contains("Permission denied"),
        "the kernel refused, not the daemon: {}",
        stderr(&out)
    );
    eprintln!("as nobody: {}", stderr(&out).trim());
    // The owner is still served.
    assert_eq!(dev.json(&["status", "--json"])["state"], "signed-out");
}

#[test]
fn ambiguous_titles_list_the_candidates() {
    let dev = Device::new("amb");
    dev.signup(EMAIL, PW);
    let a = dev
        .ok(&["add", "Mail", "--username", "home"])
        .trim()
        .to_string();
    let b = dev
        .ok(&["add", "mail", "--username", "work"])
        .trim()
        .to_string();
    let out = dev.coffer(&["get", "MAIL"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("coffer: "), "{err}");
    assert!(err.contains(&a) && err.contains(&b), "{err}");
    assert!(err.contains("home") && err.contains("work"), "{err}");
    dev.ok(&["get", &a]);
}

#[test]
fn kit_hint_and_human_status() {
    let dev = Device::new("kit");
    let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&[
        "signup",
        "--email",
        EMAIL,
        "--hint",
        "the usual one",
    ]);
    assert!(out.contains("EMERGENCY KIT"), "{out}");
    assert!(out.contains(EMAIL), "{out}");
    assert!(out.contains("Nobody can recover"), "{out}");
    let key = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Account Key:"))
        .map(str::trim)
        .expect("the kit shows the Account Key")
        .to_string();
    assert!(key.starts_with("C1-"), "{key}");
    assert!(
        out.contains('█') || out.contains('▀') || out.contains('▄'),
        "no QR code: {out}"
    );
    let kit = dev.ok(&["kit"]);
    assert!(kit.contains(&key), "{kit}");
    let kit_json = dev.json(&["kit", "--json"]);
    assert_eq!(kit_json["account_key"], key.as_str());

    let hint = dev.ok(&["hint", "--email", EMAIL]);
    assert!(hint.contains("the usual one"), "{hint}");

    let status = dev.ok(&["status"]);
    for needle in ["State:", "unlocked", EMAIL, "Key cache:", "Daemon:"] {
        assert!(status.contains(needle), "{needle:?} missing:\n{status}");
    }
    dev.ok(&["lock"]);
    assert!(dev.ok(&["status"]).contains("coffer unlock"));
    assert_eq!(dev.code(&["kit"]), 3);
}

#[test]
fn a_second_device_logs_in_through_the_sync_folder() {
    let folder = shared_folder();
    let a = Device::with_sync_folder("a", folder.path());
    let signup = a.signup(EMAIL, PW);
    let key = signup["account_key"].as_str().unwrap();
    let b = Device::with_sync_folder("b", folder.path());
    let out = b.login(EMAIL, "not it", key, folder.path());
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    b.login_ok(EMAIL, PW, key, folder.path());
    let sa = a.json(&["status", "--json"]);
    let sb = b.json(&["status", "--json"]);
    assert_eq!(sb["state"], "unlocked", "{sb}");
    assert_eq!(sb["account_id"], sa["account_id"]);
    assert_ne!(sb["device_id"], sa["device_id"]);
    assert_eq!(sb["device_name"], "b", "{sb}");
}

#[test]
fn export_and_backup_write_private_files() {
    let dev = Device::new("export");
    dev.signup(EMAIL, PW);
    dev.ok(&["add", "Mail", "--username", "me", "--password", "pw1"]);
    let out_dir = short_tempdir("ce");
    let file = out_dir.path().join("vault.csv");
    let out = dev.coffer(&["export", "csv", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT encrypted"), "{}", stderr(&out));
    assert_eq!(mode(&file), 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains("Mail"));
    let backup = out_dir.path().join("vault.backup");
    let out = dev.coffer(&["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("NOT encrypted"));
    assert_eq!(mode(&backup), 0o600);
    assert!(!std::fs::read(&backup)
        .unwrap()
        .windows(3)
        .any(|w| w == b"pw1"));
    let names: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // A failed export leaves nothing behind.
    let bad = out_dir.path().join("missing").join("x.csv");
    assert_eq!(dev.code(&["export", "csv", bad.to_str().unwrap()]), 1);
    assert!(!out_dir.path().join("missing").exists());
}
