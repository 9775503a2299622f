//! Socket activation end to end: `systemd-socket-activate` holds the
//! listening socket (as systemd's `cofferd.socket` would), the first
//! `coffer` connection starts `cofferd` with `LISTEN_FDS`, the daemon
//! answers, and a second command reaches the same daemon instead of
//! starting another.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coffer_blackbox::{cofferd_bin, tools, Device};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_first_connection_starts_the_daemon_and_a_second_reuses_it() {
    let Some(activate) = tools::require_tool("systemd-socket-activate") else {
        return;
    };
    let mut d = Device::new("activated");
    let runtime = d.home().join("rt");
    coffer_proto::dirs::create_private_dir(&runtime.join("coffer")).unwrap();
    d.set_env("XDG_RUNTIME_DIR", runtime.as_os_str());
    d.set_env("COFFER_NO_AUTOSTART", "1");
    let socket = d.socket();
    assert_eq!(socket, runtime.join("coffer/coffer.sock"));
    let mut cmd = Command::new(&activate);
    cmd.arg("-l").arg(&socket);
    for var in [
        "HOME",
        "XDG_RUNTIME_DIR",
        "COFFER_KDF",
        "COFFER_LOG",
        "PATH",
    ] {
        if var == "HOME" {
            cmd.arg("-E").arg(format!("HOME={}", d.home().display()));
        } else if var == "XDG_RUNTIME_DIR" {
            cmd.arg("-E")
                .arg(format!("XDG_RUNTIME_DIR={}", runtime.display()));
        } else {
            cmd.arg("-E").arg(var);
        }
    }
    cmd.arg(cofferd_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let activator = Kill(cmd.spawn().expect("systemd-socket-activate starts"));
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the activator never bound {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = d.json(&["status", "--json"]);
    assert_eq!(first["state"], "signed-out");
    let pid = first["pid"].as_u64().expect("a pid");
    // systemd-socket-activate execs cofferd in its own process on the first connection.
    assert_eq!(
        pid as u32,
        activator.0.id(),
        "the status came from the activated daemon"
    );
    // A second command reaches the same daemon, and a second cofferd refuses to start.
    let second = d.json(&["status", "--json"]);
    assert_eq!(
        second["pid"].as_u64(),
        Some(pid),
        "a second daemon was started"
    );
    let out = d
        .call()
        .command(&cofferd_bin(), &[])
        .output()
        .expect("cofferd runs");
    assert_eq!(
        out.status.code(),
        Some(17),
        "a second cofferd must say it is already running"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    // It works as a daemon: sign up and use it through the activated socket.
    d.signup("act@example.org", "pw");
    d.ok(&["add", "Item", "--password", "x"]);
    assert_eq!(d.ok(&["get", "Item"]).trim(), "x");
    d.ok(&["stop"]);
    // The socket file belongs to the activator and survives the daemon.
    assert!(socket.exists());
    drop(activator);
}
