//! Secrets (issue 7): a unique secret goes through every path (item
//! password, username, notes, a custom field, the history, a wrong
//! password, the Account Password before and after `passwd` and `reset`,
//! both Account Keys, a backup; from issue 17 a generated password, a
//! one-time-code secret used for HOTP codes, and a trashed item's
//! content), with trace logging on, on two devices that sync; the paths of
//! issue 16: a password change that reaches a locked device (the old
//! password refused there, the new one opening its unlock envelope),
//! `passwd --same --hint`, and `import coffer-container` of the old
//! epoch's trashed container and backup with wrong and right old secrets.
//! Afterwards not one file under the test homes (config, data, state,
//! logs, trash), the sync folder or the backup holds any of them in the
//! clear, nor does any error message, nor the daemon's argv or environment.
//! The same for the Secret Service's paths (issue 19): secrets apps store
//! and read through cofferd on the session bus. Issue 20's paths too: a third device that never comes back after the
//! reset has its stale file (holding its own item's secret, sealed) moved
//! to alpha's trash after the grace period, and beta's own file is removed
//! behind its back until its status warns about it.
//!
//! A further test does the same for issue 18's paths: SSH keys (imported
//! with a passphrase, generated), the agent signing, git's credential
//! helper, `coffer run` and `coffer inject`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

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

/// A one-time-code secret no file would hold by chance: 32 base32
/// characters (a 20-byte key) made unique like [`secret`].
fn otp_secret() -> String {
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut x = nanos ^ (u128::from(std::process::id()) << 64);
    let mut out = String::from("ZQOTP");
    while out.len() < 32 {
        out.push(B32[(x % 32) as usize] as char);
        x = x / 32 + 0x9e37_79b9_7f4a_7c15;
    }
    out
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
    let mut g = Device::with_sync_folder("gamma", folder.path());
    for d in [&mut a, &mut b, &mut g] {
        d.set_env("COFFER_LOG", "trace");
    }
    // alpha clears the stale files nobody retires after a second (the default is a week).
    a.add_config("stale_file_grace = \"1s\"");
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
    let g_pw = secret("GammaItemPw");
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
        ("item password from gamma", &g_pw),
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

    // Issue 17: a generated password (never typed), a one-time-code
    // secret, HOTP codes, and a trashed item's content; all synced.
    let out = run(&a, &[], &["add", "Generated", "--generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("add --generate", &out, true);
    let generated = a.ok(&["get", "Generated"]).trim().to_owned();
    assert_eq!(generated.chars().count(), 20);
    w.add("generated password", &generated);
    let out = run(&a, &[], &["edit", "Generated", "--generate", "--show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("edit --generate --show", &out, false);
    let regenerated = a.ok(&["get", "Generated"]).trim().to_owned();
    assert_ne!(regenerated, generated);
    w.add("second generated password", &regenerated);
    let otp = otp_secret();
    w.add("one-time-code secret", &otp);
    let out = run(
        &a,
        &[],
        &[
            "add",
            "Codes",
            "--otp",
            &format!("otpauth://hotp/X:me?secret={otp}&counter=0"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("add --otp", &out, true);
    let out = run(
        &a,
        &[],
        &[
            "add",
            "Bad",
            "--otp",
            &format!("otpauth://totp/X?secret={otp}&digits=11"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    w.keep("add with a bad --otp", &out, true);
    for n in 0..3 {
        let out = run(&a, &[], &["totp", "Codes"]);
        assert!(out.status.success(), "{}", stderr(&out));
        w.keep(&format!("totp {n}"), &out, false);
        let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Six digits could occur anywhere by chance: codes are not scanned.
        assert_eq!(code.len(), 6);
    }
    let trashed_pw = secret("TrashedPw");
    let trashed_note = secret("TrashedNotes");
    w.add("trashed item's password", &trashed_pw);
    w.add("trashed item's notes", &trashed_note);
    let out = run(
        &a,
        &[],
        &[
            "add",
            "Old forum",
            "--password",
            &trashed_pw,
            "--notes",
            &trashed_note,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&a, &[], &["rm", "Old forum"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("rm", &out, true);
    let out = run(&a, &[], &["trash", "list", "--json"]);
    w.keep("trash list", &out, true);
    let out = run(&a, &[], &["get", "Old forum"]);
    assert_eq!(out.status.code(), Some(4));
    w.keep("get of a trashed item", &out, true);
    let out = run(&a, &[], &["search", "forum"]);
    w.keep("search", &out, true);
    for d in [&a, &b, &a, &b] {
        d.ok(&["sync", "now"]);
    }
    assert_eq!(b.ok(&["get", "Generated"]).trim(), regenerated);
    let out = run(&b, &[], &["totp", "Codes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("totp on beta", &out, false);
    let trash = b.json(&["trash", "list", "--json"]);
    assert_eq!(
        trash[0]["title"], "Old forum",
        "the trashed item synced: {trash}"
    );
    // gamma signs in, adds an item and is never heard of again.
    let out = g.login(email, &pw1, &key1, folder.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&g, &[], &["add", "Gamma", "--password", &g_pw]);
    assert!(out.status.success(), "{}", stderr(&out));
    g.ok(&["sync", "now"]);
    let g_id = g.status()["device_id"].as_str().unwrap().to_owned();
    g.stop_daemon();

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
    // beta is locked when the change arrives.
    b.ok(&["lock"]);
    let out = run(
        &a,
        &[("COFFER_PASSWORD", &pw1), ("COFFER_NEW_PASSWORD", &pw2)],
        &["passwd"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("passwd", &out, true);
    b.ok(&["sync", "now"]);
    let out = run(&b, &[("COFFER_PASSWORD", &pw1)], &["unlock"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    w.keep("unlock with the replaced password", &out, true);
    let out = run(&b, &[("COFFER_PASSWORD", &pw2)], &["unlock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("unlock through the envelope", &out, true);
    let out = run(
        &a,
        &[("COFFER_PASSWORD", &pw2)],
        &["passwd", "--same", "--hint", "not a secret"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("passwd --same", &out, true);
    b.ok(&["sync", "now"]);
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
    // The old epoch's items come back with the old secrets (wrong ones first).
    let trashed = reset["trashed_container"].as_str().unwrap().to_owned();
    for (label, file, pw, key, ok) in [
        (
            "import of the old container, wrong",
            &trashed,
            &wrong,
            &key1,
            false,
        ),
        (
            "import of the old container, new key",
            &trashed,
            &pw2,
            &key2,
            false,
        ),
        ("import of the old container", &trashed, &pw2, &key1, true),
        (
            "import of the old backup",
            &backup.to_str().unwrap().to_owned(),
            &pw1,
            &key1,
            true,
        ),
    ] {
        let out = run(
            &a,
            &[("COFFER_OLD_PASSWORD", pw), ("COFFER_OLD_ACCOUNT_KEY", key)],
            &["import", "coffer-container", file],
        );
        assert_eq!(out.status.success(), ok, "{label}: {}", stderr(&out));
        w.keep(label, &out, true);
    }
    assert_eq!(a.ok(&["get", "Mail"]).trim(), item_pw);
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
    // gamma's stale file goes to alpha's trash once the grace (and the engines' settling time)
    // is over; the status of both counts it meanwhile.
    let gamma_in_trash = || {
        files_under(&a.home().join(".local/share/Trash/files"))
            .iter()
            .any(|p| p.to_string_lossy().contains(&g_id))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !gamma_in_trash() {
        assert!(
            std::time::Instant::now() < deadline,
            "gamma's stale file stays"
        );
        w.keep("status with a stale file", &a.coffer(&["status"]), true);
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Something keeps removing beta's own file: its status says so.
    let account_dir = std::fs::read_dir(folder.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("the account directory")
        .path();
    let b_id = b.status()["device_id"].as_str().unwrap().to_owned();
    let b_file = account_dir.join(format!("device-{b_id}.cofsync"));
    for _ in 0..3 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !b_file.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "beta wrote its file again"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::fs::remove_file(&b_file).unwrap();
        b.ok(&["sync", "now"]);
    }
    let out = b.coffer(&["status"]);
    assert!(
        stderr(&out).is_empty()
            && String::from_utf8_lossy(&out.stdout).contains("removed by something else")
    );
    w.keep("status with the own-file warning", &out, true);
    w.keep(
        "sync list with the own-file warning",
        &b.coffer(&["sync", "list", "--json"]),
        true,
    );

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
    for root in [
        a.home(),
        b.home(),
        g.home(),
        folder.path(),
        backup_dir.path(),
    ] {
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
    // Each device's unlock secret (X25519, kept in its device.json by
    // design, docs/SECURITY.md) is in no other file and no output.
    for d in [&a, &b] {
        let own = d.dirs().data.join("device.json");
        let dev: serde_json::Value = serde_json::from_slice(&std::fs::read(&own).unwrap()).unwrap();
        let unlock_secret = dev["unlock_secret"]
            .as_str()
            .expect("an unlock secret")
            .to_owned();
        assert!(unlock_secret.len() >= 40, "{unlock_secret}");
        for path in all.iter().filter(|p| **p != own) {
            if find(
                &std::fs::read(path).unwrap_or_default(),
                unlock_secret.as_bytes(),
            ) {
                leaks.push(format!(
                    "{}'s unlock secret in {}",
                    d.name(),
                    path.display()
                ));
            }
        }
        for (label, bytes) in &w.outputs {
            if find(bytes, unlock_secret.as_bytes()) {
                leaks.push(format!("{}'s unlock secret in {label}", d.name()));
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

/// The Secret Service paths (issue 19): a secret an app stores through
/// cofferd's Secret Service on one device, read back there and, after sync,
/// on the other (through a prompt that `coffer unlock` completes), then
/// wiped by a reset, is in no file under both homes, the sync folder or the
/// trash, in no trace log, in no stderr of coffer or of the clients, and
/// not in the daemons' argv or environment.
#[test]
fn no_secret_service_secret_reaches_any_file_log_or_error() {
    use coffer_blackbox::dbus::PrivateBus;
    use coffer_blackbox::process::{run_with_input, run_with_timeout};
    use coffer_blackbox::tools::require;

    let name = "no_secret_service_secret_reaches_any_file_log_or_error";
    if require(name, &["dbus-daemon", "secret-tool"]).is_none() {
        return;
    }
    let folder = shared_folder();
    let (bus_a, bus_b) = (PrivateBus::start(None, &[]), PrivateBus::start(None, &[]));
    let mut a = Device::with_sync_folder("alpha", folder.path());
    let mut b = Device::with_sync_folder("beta", folder.path());
    for (d, bus) in [(&mut a, &bus_a), (&mut b, &bus_b)] {
        d.set_env("COFFER_LOG", "trace");
        d.set_env("DBUS_SESSION_BUS_ADDRESS", bus.address());
    }
    let mut w = Watch {
        secrets: Vec::new(),
        outputs: Vec::new(),
    };
    let (pw, stored, replaced) = (
        secret("SsAccount"),
        secret("SsStored"),
        secret("SsReplaced"),
    );
    w.add("Account Password", &pw);
    w.add("secret stored through D-Bus", &stored);
    w.add("secret replaced through D-Bus", &replaced);
    let signup = a.signup("ss-secrets@example.org", &pw);
    let key = signup["account_key"].as_str().unwrap().to_owned();
    b.login_ok("ss-secrets@example.org", &pw, &key, folder.path());
    for d in [&a, &b] {
        let out = d.coffer(&["secret-service", "enable"]);
        assert!(out.status.success(), "{}", stderr(&out));
        w.keep("secret-service enable", &out, true);
    }
    let tool = |d: &Device, args: &[&str], input: Option<&str>| {
        let cmd = d.call().command(Path::new("secret-tool"), args);
        match input {
            Some(i) => run_with_input(cmd, i.as_bytes(), Duration::from_secs(60)),
            None => run_with_timeout(cmd, Duration::from_secs(60)),
        }
        .expect("secret-tool finishes")
    };
    let out = tool(
        &a,
        &["store", "--label=token", "app", "hygiene"],
        Some(&stored),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("secret-tool store", &out, true);
    let out = tool(
        &a,
        &["store", "--label=token", "app", "hygiene"],
        Some(&replaced),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("secret-tool store (replace)", &out, true);
    for d in [&a, &b, &a, &b] {
        d.ok(&["sync", "now"]);
    }
    // On beta, locked: the lookup waits for `coffer unlock`.
    b.ok(&["lock"]);
    let cmd = b
        .call()
        .command(Path::new("secret-tool"), &["lookup", "app", "hygiene"]);
    let lookup = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(60)));
    coffer_blackbox::wait::wait_for("beta's prompt", Duration::from_secs(30), || {
        let st = b.status();
        st["secret_service"]["waiting"]
            .as_array()
            .is_some_and(|w| !w.is_empty())
            .then_some(())
    });
    let out = b.with_env(&[("COFFER_PASSWORD", &pw)]).run(&["unlock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("unlock answering a prompt", &out, true);
    let out = lookup.join().unwrap().expect("lookup finishes");
    assert_eq!(String::from_utf8_lossy(&out.stdout), replaced.as_str());
    w.keep("secret-tool lookup", &out, false);
    let out = b.coffer(&["list", "--collection", "login", "--json"]);
    w.keep("list --collection login", &out, true);
    for d in [&a, &b] {
        let pid = d.daemon_pid().expect("the daemon runs");
        for f in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            w.outputs
                .push((format!("{} daemon /proc/{f}", d.name()), bytes));
        }
    }
    // A reset moves the items away like any other.
    let out = a.with_env(&[("COFFER_NEW_PASSWORD", &pw)]).run(&[
        "reset",
        "--email",
        "ss-secrets@example.org",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("reset", &out, false);
    b.ok(&["sync", "now"]);
    a.stop_daemon();
    b.stop_daemon();
    let mut all = Vec::new();
    for root in [a.home(), b.home(), folder.path()] {
        files(root, &mut all);
    }
    assert!(
        all.iter().any(|p| p.to_string_lossy().contains("/Trash/")),
        "the reset put the container in the trash, which is scanned too"
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
    assert!(
        leaks.is_empty(),
        "secrets in the clear:\n{}",
        leaks.join("\n")
    );
}

/// The lines of an OpenSSH private key's base64 body that say something
/// about the private half: every line that is not also part of the public
/// key's base64 (the body repeats the public key, which is no secret).
fn private_lines(private: &str, public_line: &str) -> Vec<String> {
    let public_b64 = public_line.split_whitespace().nth(1).unwrap_or("");
    private
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .filter(|l| !public_b64.contains(*l))
        .map(str::to_owned)
        .collect()
}

/// Issue 18's paths: an SSH key imported with a passphrase and one
/// generated, the agent listing and signing (with the public-key index of
/// listing while locked on), git's credential helper storing, getting and
/// erasing, `coffer run` and `coffer inject`, all with trace logging.
/// Afterwards no private key, passphrase or password is in any file under
/// the device's home (config, data and the index, state and logs,
/// runtime), in any stderr, or in the daemon's argv or environment.
#[test]
fn no_ssh_key_git_password_or_run_secret_reaches_any_file_log_or_argv() {
    use coffer_blackbox::process::run_with_input;
    use coffer_blackbox::ssh::{keygen_file, AgentClient};
    use coffer_blackbox::{bin_dir, tools};

    let Some(t) = tools::require("secrets_of_issue_18", &["ssh-keygen", "git"]) else {
        return;
    };
    let (keygen, git) = (&t[0], &t[1]);
    let mut a = Device::new("tools");
    a.set_env("COFFER_LOG", "trace");
    let config = a.dirs().config_file();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("ssh_agent_list_locked = true\n");
    std::fs::write(&config, text).unwrap();
    let mut w = Watch {
        secrets: Vec::new(),
        outputs: Vec::new(),
    };
    let pw = secret("AccountPw");
    let passphrase = secret("KeyPassphrase");
    let git_pw = secret("GitPw");
    let run_pw = secret("RunPw");
    for (what, s) in [
        ("Account Password", &pw),
        ("SSH key passphrase", &passphrase),
        ("git password", &git_pw),
        ("run/inject secret", &run_pw),
    ] {
        w.add(what, s);
    }
    a.signup("tools@example.org", &pw);
    // The user's own key file lives outside the scanned home.
    let outside = short_tempdir("cso");
    let (file, _) = keygen_file(
        keygen,
        outside.path(),
        "imported",
        &["-t", "ed25519", "-N", &passphrase],
    );
    let out = a.with_env(&[("COFFER_SSH_PASSPHRASE", &passphrase)]).run(&[
        "add",
        "Imported",
        "--ssh-key",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("add --ssh-key", &out, true);
    let out = a.call().run(&[
        "ssh",
        "generate",
        "Generated",
        "--type",
        "rsa",
        "--bits",
        "2048",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("ssh generate", &out, true);
    for title in ["Imported", "Generated"] {
        let private = a.ok(&["get", title, "--field", "ssh-private-key"]);
        let public = a.ok(&["ssh", "public", title]);
        let lines = private_lines(&private, &public);
        assert!(lines.len() >= 2, "{title}: {lines:?}");
        for l in lines {
            w.add(&format!("private key of {title}"), &l);
        }
    }

    // The agent lists and signs (through the daemon, with trace logs).
    let socket = a.dirs().ssh_agent_socket();
    let c = AgentClient::new(&socket, outside.path());
    for title in ["Imported", "Generated"] {
        let public = a.ok(&["ssh", "public", title]);
        let sig = c.y_sign(keygen, public.trim(), b"data\n");
        assert!(sig.is_ok(), "{title}: {sig:?}");
    }
    a.ok(&["lock"]);
    assert!(c
        .y_sign(keygen, a.ok(&["ssh", "public", "Imported"]).trim(), b"x")
        .is_err());
    let out = a.with_env(&[("COFFER_PASSWORD", &pw)]).run(&["unlock"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // git stores, gets and erases a password.
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let git_env = [
        ("PATH", path.as_str()),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    let credential =
        format!("url=https://alice@git.example.test/org/repo.git\npassword={git_pw}\n\n");
    for (op, input) in [
        ("approve", credential.as_str()),
        ("fill", "url=https://git.example.test/org/repo.git\n\n"),
        ("reject", credential.as_str()),
    ] {
        let cmd = a
            .with_env(&git_env)
            .command(git, &["-c", "credential.helper=coffer", "credential", op]);
        let out = run_with_input(cmd, input.as_bytes(), Duration::from_secs(60)).unwrap();
        assert!(
            out.status.success(),
            "git credential {op}: {}",
            stderr(&out)
        );
        w.keep(&format!("git credential {op}"), &out, op != "fill");
        if op == "fill" {
            assert!(
                coffer_blackbox::stdout(&out).contains(&git_pw),
                "coffer answered git"
            );
        }
    }

    // coffer run and coffer inject.
    a.ok(&["add", "Run secret", "--password", &run_pw]);
    let out = a.call().run(&[
        "run",
        "--env",
        "S=coffer://Run%20secret/password",
        "--",
        "sh",
        "-c",
        "test -n \"$S\"",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("run", &out, true);
    let tmpl = outside.path().join("t.tmpl");
    std::fs::write(&tmpl, "s: {{ coffer://Run%20secret/password }}\n").unwrap();
    let rendered = outside.path().join("rendered");
    let out = a.call().run(&[
        "inject",
        "-i",
        tmpl.to_str().unwrap(),
        "-o",
        rendered.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.keep("inject -o", &out, true);
    assert!(std::fs::read_to_string(&rendered)
        .unwrap()
        .contains(&run_pw));
    assert_eq!(coffer_blackbox::mode(&rendered), 0o600);

    // The daemon's argv and environment.
    let pid = a.daemon_pid().expect("the daemon runs");
    for f in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
        w.outputs.push((format!("daemon /proc/{f}"), bytes));
    }
    a.stop_daemon();

    let mut all = Vec::new();
    files(a.home(), &mut all);
    assert!(
        all.iter().any(|p| p.ends_with("ssh-agent-keys.json")),
        "the public-key index is scanned too: {all:?}"
    );
    let log_bytes: u64 = all
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        log_bytes > 10_000,
        "trace logging was on ({log_bytes} bytes)"
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
        "scanned {} files ({log_bytes} bytes of trace logs) and {} outputs for {} secrets",
        all.len(),
        w.outputs.len(),
        w.secrets.len()
    );
    assert!(
        leaks.is_empty(),
        "secrets in the clear:\n{}",
        leaks.join("\n")
    );
}
