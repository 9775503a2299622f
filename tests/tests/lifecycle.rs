//! The daemon's life: the lock timeout (where `status` is not use), a
//! second daemon refused with its own exit code, graceful shutdown on
//! SIGTERM, and a bad config file named with its line and key.

use std::time::{Duration, Instant};

use coffer_blackbox::process::{send_signal, wait_gone};
use coffer_blackbox::{cofferd_bin, Device};

fn state(d: &Device) -> String {
    d.json(&["status", "--json"])["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn the_lock_timeout_locks_and_status_is_not_use() {
    let d = Device::new("timeout");
    let config = d.dirs().config_file();
    std::fs::write(
        &config,
        "device_name = \"timeout\"\nlock_timeout = \"2s\"\n",
    )
    .unwrap();
    d.signup("t@example.org", "pw");
    d.ok(&["add", "X", "--password", "x"]);
    assert_eq!(d.json(&["status", "--json"])["lock_timeout_secs"], 2);
    // Polling status does not keep the vault unlocked.
    let start = Instant::now();
    while state(&d) == "unlocked" {
        assert!(start.elapsed() < Duration::from_secs(10), "never locked");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "locked too early: {:?}",
        start.elapsed()
    );
    assert_eq!(state(&d), "locked");
    assert_eq!(d.code(&["get", "X"]), 3);
    // Use pushes the deadline back.
    d.with_env(&[("COFFER_PASSWORD", "pw")]).ok(&["unlock"]);
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(700));
        d.ok(&["get", "X"]);
    }
    assert_eq!(
        state(&d),
        "unlocked",
        "use within the timeout must keep it unlocked"
    );
}

#[test]
fn a_second_daemon_says_already_running_and_sigterm_stops_gracefully() {
    let d = Device::new("single");
    d.signup("s@example.org", "pw");
    let pid = d.daemon_pid().expect("a daemon runs");
    let out = d
        .call()
        .command(&cofferd_bin(), &[])
        .output()
        .expect("cofferd runs");
    assert_eq!(out.status.code(), Some(17));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&pid.to_string()),
        "{err}"
    );
    // SIGTERM: the daemon finishes and exits; the next command starts a new one.
    send_signal(pid, libc::SIGTERM);
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "cofferd ignored SIGTERM"
    );
    assert!(d.log().contains("SIGTERM"), "{}", d.log());
    assert!(d.log().contains("cofferd stopped"));
    assert!(
        !d.socket().exists(),
        "the socket is removed on a clean exit"
    );
    let again = d.json(&["status", "--json"])["pid"]
        .as_u64()
        .expect("a new daemon");
    assert_ne!(again, u64::from(pid));
}

#[test]
fn a_bad_config_names_the_file_line_and_key() {
    let d = Device::new("badconfig");
    let config = d.dirs().config_file();
    std::fs::write(&config, "device_name = \"x\"\nlock_timout = \"5m\"\n").unwrap();
    let out = d
        .call()
        .command(&cofferd_bin(), &[])
        .output()
        .expect("cofferd runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:", config.display())), "{err}");
    assert!(err.contains("lock_timout"), "{err}");
    // The CLI reports that the daemon did not start and where to look.
    let out = d.coffer(&["status"]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn an_old_container_put_back_on_disk_is_merged_and_rewritten() {
    let d = Device::new("container");
    d.signup("c@example.org", "pw");
    d.ok(&["add", "First", "--password", "1"]);
    let container = d.container();
    let old = std::fs::read(&container).unwrap();
    d.ok(&["add", "Second", "--password", "2"]);
    let current = std::fs::read(&container).unwrap();
    assert_ne!(old, current);
    // Somebody puts the old copy back (atomically, as a restore tool would).
    let tmp = container.with_extension("restoring");
    std::fs::write(&tmp, &old).unwrap();
    std::fs::rename(&tmp, &container).unwrap();
    let start = Instant::now();
    while std::fs::read(&container).unwrap() == old {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the daemon left the stale container on disk"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The rewritten container holds both items: a restarted daemon still has them.
    d.stop_daemon();
    // Without a keyring the restarted daemon is locked; unlock if so.
    let _ = d.with_env(&[("COFFER_PASSWORD", "pw")]).code(&["unlock"]);
    assert_eq!(d.ok(&["get", "Second"]).trim(), "2");
    assert_eq!(d.ok(&["get", "First"]).trim(), "1");
}

/// A change is one entry appended to the container; an append cut short
/// (power lost in the middle) is never acknowledged, is skipped at start-up
/// and gone after the first write, which writes the container whole.
#[test]
fn an_interrupted_append_is_skipped_and_the_next_write_folds_the_container() {
    use coffer_vault::format::Container;
    let mut d = Device::new("append");
    // No key cache: the restarted daemon starts locked whatever the machine has.
    d.set_env("COFFER_KEYRING", "memory");
    d.signup("a@example.org", "pw");
    for (t, p) in [("One", "1"), ("Two", "2"), ("Three", "3")] {
        d.ok(&["add", t, "--password", p]);
    }
    let container = d.container();
    let bytes = std::fs::read(&container).unwrap();
    let c = Container::from_bytes(&bytes).unwrap();
    assert_eq!(c.appended.entries, 3, "each add is one appended entry");
    assert_eq!(c.appended.base_len + c.appended.entry_bytes, bytes.len());
    d.stop_daemon();
    // Half of a fourth entry, as a crash in the middle of the append leaves it.
    let entry = &bytes[c.appended.base_len..c.appended.base_len + c.appended.entry_bytes / 3];
    let mut torn = bytes.clone();
    torn.extend_from_slice(&entry[..entry.len() / 2]);
    std::fs::write(&container, &torn).unwrap();

    // The restarted daemon starts locked (no keyring here); it skips the
    // torn bytes, and its first write (unlock's) is whole: they are gone.
    assert_eq!(state(&d), "locked");
    d.with_env(&[("COFFER_PASSWORD", "pw")]).ok(&["unlock"]);
    let list = d.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let c = Container::from_bytes(&std::fs::read(&container).unwrap()).unwrap();
    assert_eq!((c.appended.entries, c.appended.torn_bytes), (0, 0));
    assert_eq!(c.replica.state.live_item_count(), 3);
    // The changes after it are appended again.
    d.ok(&["add", "Four", "--password", "4"]);
    d.ok(&["edit", "One", "--password", "uno"]);
    let c = Container::from_bytes(&std::fs::read(&container).unwrap()).unwrap();
    assert_eq!((c.appended.entries, c.appended.torn_bytes), (2, 0));
    d.stop_daemon();
    let _ = d.with_env(&[("COFFER_PASSWORD", "pw")]).code(&["unlock"]);
    assert_eq!(d.ok(&["get", "One"]).trim(), "uno");
    assert_eq!(d.ok(&["get", "Four"]).trim(), "4");
}

#[test]
fn passwd_rewraps_the_key_and_new_devices_use_the_new_password() {
    let folder = coffer_blackbox::shared_folder();
    let a = Device::with_sync_folder("pa", folder.path());
    let key = a.signup("p@example.org", "old pw")["account_key"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["add", "Kept", "--password", "k"]);
    assert_eq!(
        a.with_env(&[
            ("COFFER_PASSWORD", "wrong"),
            ("COFFER_NEW_PASSWORD", "new pw")
        ])
        .code(&["passwd"]),
        5
    );
    a.with_env(&[
        ("COFFER_PASSWORD", "old pw"),
        ("COFFER_NEW_PASSWORD", "new pw"),
    ])
    .ok(&["passwd"]);
    // The data was not re-encrypted, and this device unlocks with the new password only.
    a.ok(&["lock"]);
    assert_eq!(
        a.with_env(&[("COFFER_PASSWORD", "old pw")])
            .code(&["unlock"]),
        5
    );
    std::thread::sleep(Duration::from_millis(1100)); // past the rate limit after two failures
    a.with_env(&[("COFFER_PASSWORD", "new pw")]).ok(&["unlock"]);
    assert_eq!(a.ok(&["get", "Kept"]).trim(), "k");
    // A new device finds the new header in the sync folder.
    let b = Device::with_sync_folder("pb", folder.path());
    let dir = folder.path().to_string_lossy().into_owned();
    let old = b
        .with_env(&[
            ("COFFER_PASSWORD", "old pw"),
            ("COFFER_ACCOUNT_KEY", key.as_str()),
        ])
        .code(&["login", "--email", "p@example.org", "--sync-folder", &dir]);
    assert_eq!(
        old, 5,
        "the old password must not open the account any more"
    );
    std::thread::sleep(Duration::from_millis(1100));
    b.with_env(&[
        ("COFFER_PASSWORD", "new pw"),
        ("COFFER_ACCOUNT_KEY", key.as_str()),
    ])
    .ok(&["login", "--email", "p@example.org", "--sync-folder", &dir]);
    assert_eq!(b.ok(&["get", "Kept"]).trim(), "k");
}

#[test]
fn a_weak_kdf_is_flagged_until_passwd_re_stretches_it() {
    let folder = coffer_blackbox::shared_folder();
    let mut d = Device::with_sync_folder("kdf", folder.path());
    // The test build honours COFFER_KDF=fast: the account is stretched at 8 MiB, one pass.
    d.signup("k@example.org", "pw");
    let status = d.json(&["status", "--json"]);
    let warning = status["kdf_warning"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.contains("8 MiB") && warning.contains("coffer passwd"),
        "{status}"
    );
    assert!(
        d.ok(&["status"]).contains("Warning"),
        "the text status shows it"
    );
    // Without the seam, passwd re-stretches at calibrated parameters.
    d.stop_daemon();
    d.remove_env("COFFER_KDF");
    d.with_env(&[("COFFER_PASSWORD", "pw"), ("COFFER_NEW_PASSWORD", "pw2")])
        .ok(&["passwd"]);
    let status = d.json(&["status", "--json"]);
    assert!(status.get("kdf_warning").is_none(), "{status}");
    // The change is published in this device's own header file (account.json
    // is the epoch's base, written at signup and reset only).
    let device_id = status["device_id"].as_str().unwrap().to_owned();
    let account = folder
        .path()
        .join(status["account_id"].as_str().unwrap())
        .join(coffer_blackbox::names::header_file_name(&device_id));
    let header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&account).unwrap()).unwrap();
    assert_eq!(header["generation"], 1, "{header}");
    let kdf = &header["kdf"];
    assert!(kdf["m_kib"].as_u64().unwrap() >= 64 * 1024, "{header}");
    assert!(kdf["t"].as_u64().unwrap() >= 2, "{header}");
}
