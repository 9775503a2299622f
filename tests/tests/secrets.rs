//! Secrets (issue 7): a unique secret goes through every path (item
//! password, username, notes, a custom field, the history, a wrong
//! password, the Account Password before and after `passwd` and `reset`,
//! both Account Keys, a backup), with trace logging on, on two devices that
//! sync. Afterwards not one file under the test homes (config, data, state,
//! logs, trash), the sync folder or the backup holds any of them in the
//! clear, nor does any error message, nor the daemon's argv or environment.

use std::path::{Path, PathBuf};
use std::process::Output;

use coffer_blackbox::folder::files_under;
use coffer_blackbox::items::add_args;
use coffer_blackbox::{shared_folder, short_tempdir, stderr, Device};

/// A marker no file would hold by chance.
fn secret(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("Zq{what}{nanos:09}{}x", std::process::id())
}

/// The secret pieces of an Account Key text: the whole, without dashes,
/// and its 28-symbol key material (every group without its check symbol).
fn key_forms(key: &str) -> Vec<String> {
    let groups: Vec<&str> = key.split('-').skip(1).collect();
    let material: String = groups.iter().map(|g| &g[..4]).collect();
    vec![key.to_owned(), groups.concat(), material]
}

/// Every regular file under `root` (symlinks not followed).
fn files(root: &Path, out: &mut Vec<PathBuf>) {
    out.extend(
        files_under(root)
            .into_iter()
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())),
    );
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

struct Watch {
    secrets: Vec<(String, String)>,
    outputs: Vec<(String, Vec<u8>)>,
}

impl Watch {
    fn add(&mut self, what: &str, s: &str) {
        self.secrets.push((what.to_owned(), s.to_owned()));
    }
    /// Keeps a run's stderr (always checked) and, for commands that do not
    /// reveal secrets on purpose, its stdout.
    fn keep(&mut self, label: &str, out: &Output, stdout_too: bool) {
        self.outputs
            .push((format!("{label} stderr"), out.stderr.clone()));
        if stdout_too {
            self.outputs
                .push((format!("{label} stdout"), out.stdout.clone()));
        }
    }
}

#[test]
fn no_secret_reaches_any_file_log_or_error() {
    let folder = shared_folder();
    let backup_dir = short_tempdir("cbk");
    let mut a = Device::with_sync_folder("alpha", folder.path());
    let mut b = Device::with_sync_folder("beta", folder.path());
    for d in [&mut a, &mut b] {
        d.set_env("COFFER_LOG", "trace");
    }
    let mut w = Watch {
        secrets: Vec::new(),
        outputs: Vec::new(),
    };
    let email = "secrets@example.org";
    let pw1 = secret("AccountPw");
    let pw2 = secret("ChangedPw");
    let pw3 = secret("ResetPw");
    let wrong = secret("WrongPw");
    let item_pw = secret("ItemPw");
    let old_pw = secret("OldItemPw");
    let user = secret("User");
    let notes = secret("Notes");
    let field = secret("Field");
    let b_pw = secret("BetaItemPw");
    for (what, s) in [
        ("Account Password", &pw1),
        ("changed Account Password", &pw2),
        ("Account Password after reset", &pw3),
        ("wrong password", &wrong),
        ("item password", &item_pw),
        ("old item password (history)", &old_pw),
        ("username", &user),
        ("notes", &notes),
        ("custom field", &field),
        ("item password from beta", &b_pw),
    ] {
        w.add(what, s);
    }

    // Signup (the daemon is started by this very call, with the password in
    // the CLI's environment).
    let signup = a.signup(email, &pw1);
    let key1 = signup["account_key"].as_str().unwrap().to_owned();
    for k in key_forms(&key1) {
        w.add("Account Key", &k);
    }
    let run = |d: &Device, env: &[(&str, &str)], args: &[&str]| d.with_env(env).run(args);

    let add = add_args(
        "Mail",
        &[
            ("username", &user),
            ("password", &old_pw),
            ("notes", &notes),
            ("pin", &field),
        ],
    );
    let out = run(&a, &[], &add.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("add", &out, true);
    let out = run(&a, &[], &["edit", "Mail", "--password", &item_pw]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("edit", &out, true);
    let hist = a.json(&["history", "Mail", "--json"]);
    assert!(
        hist.to_string().contains(&old_pw),
        "the old value is in the history"
    );
    // A failing command that names a secret-bearing item.
    let out = run(&a, &[], &["edit", "Nope", "--password", &item_pw]);
    assert_eq!(out.status.code(), Some(4));
    w.keep("edit of a missing item", &out, true);

    // The second device logs in and adds its own item; both sync.
    let out = b.login(email, &pw1, &key1, folder.path());
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("login", &out, true);
    let out = run(&b, &[], &["add", "Bank", "--password", &b_pw]);
    assert!(out.status.success(), "{}", stderr(&out));
    for d in [&b, &a, &b] {
        d.ok(&["sync", "now"]);
    }
    assert_eq!(b.ok(&["get", "Mail"]).trim(), item_pw);
    assert_eq!(a.ok(&["get", "Bank"]).trim(), b_pw);

    // Wrong passwords, on unlock and on login.
    a.ok(&["lock"]);
    let out = run(&a, &[("COFFER_PASSWORD", &wrong)], &["unlock"]);
    assert_eq!(out.status.code(), Some(5));
    w.keep("wrong unlock", &out, true);
    let out = run(&a, &[("COFFER_PASSWORD", &pw1)], &["unlock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("unlock", &out, true);

    // An encrypted backup.
    let backup = backup_dir.path().join("vault.backup");
    let out = run(&a, &[], &["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("backup", &out, true);

    // Change the password (the old one then fails), then reset the account.
    let out = run(
        &a,
        &[("COFFER_PASSWORD", &pw1), ("COFFER_NEW_PASSWORD", &pw2)],
        &["passwd"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("passwd", &out, true);
    let out = run(
        &a,
        &[("COFFER_PASSWORD", &wrong), ("COFFER_NEW_PASSWORD", &pw3)],
        &["passwd"],
    );
    assert_ne!(out.status.code(), Some(0));
    w.keep("passwd with a wrong password", &out, true);
    let out = run(
        &a,
        &[("COFFER_NEW_PASSWORD", &pw3)],
        &["reset", "--email", email, "--yes", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("reset", &out, false);
    let reset: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key2 = reset["account_key"].as_str().unwrap().to_owned();
    for k in key_forms(&key2) {
        w.add("Account Key after reset", &k);
    }
    let out = a.login(email, &pw3, &key2, folder.path());
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("login after reset", &out, true);
    // beta notices the reset; a login with the old key fails.
    b.ok(&["sync", "now"]);
    let out = b.login(email, &pw1, &key1, folder.path());
    assert_ne!(out.status.code(), Some(0));
    w.keep("login with the old key", &out, true);
    let out = b.login(email, &pw3, &key2, folder.path());
    assert!(out.status.success(), "{}", stderr(&out));
    a.ok(&["add", "After reset", "--password", &item_pw]);
    a.ok(&["sync", "now"]);
    b.ok(&["sync", "now"]);

    // The daemons' argv and environment, and their core-dump limit.
    for d in [&a, &b] {
        let pid = d.daemon_pid().expect("the daemon runs");
        for f in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            w.outputs
                .push((format!("{} daemon /proc/{f}", d.name()), bytes));
        }
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or("");
        assert!(
            core.split_whitespace().nth(4) == Some("0"),
            "core dumps are on: {core}"
        );
    }

    // Stop gracefully (a shutdown writes what it writes), then look.
    a.stop_daemon();
    b.stop_daemon();
    let mut all = Vec::new();
    for root in [a.home(), b.home(), folder.path(), backup_dir.path()] {
        files(root, &mut all);
    }
    let trash_files = all
        .iter()
        .filter(|p| p.to_string_lossy().contains("/Trash/"))
        .count();
    assert!(
        trash_files > 0,
        "the reset put files in the trash, which are scanned too"
    );
    // Delta segments (in the folder, and the old epoch's in the trash) are
    // scanned like every other file.
    let segments = all
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("delta-"))
        })
        .count();
    assert!(segments > 0, "no delta segment was scanned");
    let logs: Vec<_> = all
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .collect();
    assert!(!logs.is_empty(), "the daemons' log files are scanned");
    let log_bytes: u64 = logs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        log_bytes > 10_000,
        "trace logging was on ({log_bytes} bytes of logs)"
    );
    let mut leaks = Vec::new();
    for path in &all {
        let bytes = std::fs::read(path).unwrap_or_default();
        for (what, s) in &w.secrets {
            if find(&bytes, s.as_bytes()) {
                leaks.push(format!("{what} in {}", path.display()));
            }
        }
    }
    for (label, bytes) in &w.outputs {
        for (what, s) in &w.secrets {
            if find(bytes, s.as_bytes()) {
                leaks.push(format!("{what} in {label}"));
            }
        }
    }
    eprintln!(
        "scanned {} files ({trash_files} in the trash, {segments} delta segments, {log_bytes} bytes of trace logs) and {} outputs for {} secrets",
        all.len(),
        w.outputs.len(),
        w.secrets.len()
    );
    assert!(
        leaks.is_empty(),
        "secrets in the clear:\n{}",
        leaks.join("\n")
    );
    // The scan does find a secret where one is.
    assert!(find(format!("..{user}..").as_bytes(), user.as_bytes()));
}
