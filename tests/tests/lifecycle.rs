//! The daemon's life: the lock timeout (where `status` is not use), a
//! second daemon refused with its own exit code, graceful shutdown on
//! SIGTERM, and a bad config file named with its line and key.

use std::time::{Duration, Instant};

use coffer_blackbox::{cofferd_bin, pid_alive, Device};

fn state(d: &Device) -> String {
    d.json(&["status", "--json"])["state"].as_str().unwrap_or("").to_owned()
}

#[test]
fn the_lock_timeout_locks_and_status_is_not_use() {
    let d = Device::new("timeout");
    let config = d.dirs().config_file();
    std::fs::write(&config, "device_name = \"timeout\"\nlock_timeout = \"2s\"\n").unwrap();
    d.signup("t@example.org", "pw");
    d.ok(&["add", "X", "--password", "x"]);
    assert_eq!(d.json(&["status", "--json"])["lock_timeout_secs"], 2);
    // Polling status does not keep the vault unlocked.
    let start = Instant::now();
    while state(&d) == "unlocked" {
        assert!(start.elapsed() < Duration::from_secs(10), "never locked");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(start.elapsed() >= Duration::from_millis(1500), "locked too early: {:?}", start.elapsed());
    assert_eq!(state(&d), "locked");
    assert_eq!(d.code(&["get", "X"]), 3);
    // Use pushes the deadline back.
    d.with_env(&[("COFFER_PASSWORD", "pw")]).ok(&["unlock"]);
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(700));
        d.ok(&["get", "X"]);
    }
    assert_eq!(state(&d), "unlocked", "use within the timeout must keep it unlocked");
}

#[test]
fn a_second_daemon_says_already_running_and_sigterm_stops_gracefully() {
    let d = Device::new("single");
    d.signup("s@example.org", "pw");
    let pid = d.daemon_pid().expect("a daemon runs");
    let out = d.call().command(&cofferd_bin(), &[]).output().expect("cofferd runs");
    assert_eq!(out.status.code(), Some(17));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running") && err.contains(&pid.to_string()), "{err}");
    // SIGTERM: the daemon finishes and exits; the next command starts a new one.
    // SAFETY: kill sends a signal to a process we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let start = Instant::now();
    while pid_alive(pid) {
        assert!(start.elapsed() < Duration::from_secs(10), "cofferd ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(d.log().contains("SIGTERM"), "{}", d.log());
    assert!(d.log().contains("cofferd stopped"));
    assert!(!d.socket().exists(), "the socket is removed on a clean exit");
    let again = d.json(&["status", "--json"])["pid"].as_u64().expect("a new daemon");
    assert_ne!(again, u64::from(pid));
}

#[test]
fn a_bad_config_names_the_file_line_and_key() {
    let d = Device::new("badconfig");
    let config = d.dirs().config_file();
    std::fs::write(&config, "device_name = \"x\"\nlock_timout = \"5m\"\n").unwrap();
    let out = d.call().command(&cofferd_bin(), &[]).output().expect("cofferd runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:", config.display())), "{err}");
    assert!(err.contains("lock_timout"), "{err}");
    // The CLI reports that the daemon did not start and where to look.
    let out = d.coffer(&["status"]);
    assert_ne!(out.status.code(), Some(0));
}
