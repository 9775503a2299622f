//! Hostile clients and other users (issue 7): whatever arrives on the
//! socket, the daemon answers others promptly, its memory stays bounded
//! (peak RSS read from `/proc/PID/status`), wrong passwords are slowed
//! down, and nobody but its own user gets in.
//!
//! `COFFER_LONG=1` adds the slow-loris run to its end: a client sending one
//! byte a second is cut off after the daemon's 60 s line timeout.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use coffer_blackbox::nobody::{can_act_as_nobody, is_root, NobodysCoffer, OpenSocket};
use coffer_blackbox::rng::{Rng, Seed};
use coffer_blackbox::{cofferd_bin, mode, short_tempdir, stderr, stdout, Device, RawConn};

const PW: &str = "hostile horse battery";
const EMAIL: &str = "hostile@example.org";
const MIB: u64 = 1024 * 1024;

fn long_run() -> bool {
    std::env::var("COFFER_LONG").is_ok_and(|v| v == "1")
}

/// Peak resident memory (VmHWM) of `pid`, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("/proc/PID/status has VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM is a number of kB");
    kib * 1024
}

/// A signed-up device whose daemon runs; returns it with the daemon's pid.
fn device(name: &str) -> (Device, u32) {
    let dev = Device::new(name);
    dev.signup(EMAIL, PW);
    let pid = dev.daemon_pid().expect("the daemon runs after signup");
    (dev, pid)
}

/// `status` over a fresh connection, timed.
fn timed_status(socket: &Path) -> Duration {
    let start = Instant::now();
    let (mut c, _) = RawConn::hello(socket).expect("a new client gets a hello");
    let r = c
        .request(r#"{"id":1,"method":"status"}"#)
        .expect("status is answered");
    assert!(r["result"]["state"].is_string(), "{r}");
    start.elapsed()
}

#[test]
fn malformed_requests_get_typed_errors_and_the_connection_survives() {
    let (dev, _) = device("malformed");
    let socket = dev.socket();
    let (mut c, _) = RawConn::hello(&socket).expect("hello");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_params = format!(
        r#"{{"id":12,"method":"status","params":{}1{}}}"#,
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let cases: Vec<(&str, Option<u64>, &str)> = vec![
        ("garbage", None, "bad_request"),
        ("{", None, "bad_request"),
        ("{}", None, "bad_request"),
        ("[]", None, "bad_request"),
        ("null", None, "bad_request"),
        ("\"status\"", None, "bad_request"),
        (r#"{"id":"one","method":"status"}"#, None, "bad_request"),
        (r#"{"id":-1,"method":"status"}"#, None, "bad_request"),
        (r#"{"id":1e400,"method":"status"}"#, None, "bad_request"),
        (r#"{"id":3}"#, Some(3), "bad_request"),
        (r#"{"id":4,"method":"fly"}"#, Some(4), "unknown_method"),
        (r#"{"id":5,"method":""}"#, Some(5), "unknown_method"),
        (r#"{"id":6,"method":17}"#, None, "bad_request"),
        (
            r#"{"id":7,"method":"get","params":[1,2]}"#,
            Some(7),
            "invalid_params",
        ),
        (
            r#"{"id":8,"method":"add","params":{"fields":"x"}}"#,
            Some(8),
            "invalid_params",
        ),
        (
            r#"{"id":9,"method":"get","params":{"query":"x","extra":1}}"#,
            Some(9),
            "invalid_params",
        ),
        (
            r#"{"id":10,"method":"unlock","params":{"password":12}}"#,
            Some(10),
            "invalid_params",
        ),
        (&deep, None, "bad_request"),
        (&deep_params, None, "bad_request"),
        (
            "{\"id\":11,\"method\":\"status\"\u{0}}",
            None,
            "bad_request",
        ),
    ];
    for (line, id, code) in &cases {
        let r = c
            .request(line)
            .unwrap_or_else(|e| panic!("no answer to {:.60}: {e}", line));
        assert_eq!(r["error"]["code"], *code, "{:.60} -> {r}", line);
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{r}"
        );
        match id {
            Some(id) => assert_eq!(r["id"], *id, "{r}"),
            None => assert!(r["id"].is_null(), "{r}"),
        }
    }
    // The same connection still works.
    let r = c.request(r#"{"id":99,"method":"status"}"#).expect("status");
    assert_eq!(r["id"], 99);
    assert_eq!(r["result"]["state"], "unlocked", "{r}");

    // Bytes that are not UTF-8: an error, then that connection closes.
    let (mut bad, _) = RawConn::hello(&socket).expect("hello");
    bad.send_raw(b"{\"id\":1,\"method\":\"st\xffatus\"}\n")
        .unwrap();
    let r = bad.read_json().expect("an answer to non-UTF-8 bytes");
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
    // A first line that is no hello, and a hello of another protocol.
    let mut nohello = RawConn::connect(&socket).unwrap();
    let r = nohello
        .request(r#"{"id":1,"method":"status"}"#)
        .expect("an answer without a hello");
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
    assert!(nohello.read_json().is_err(), "the connection is closed");
    // Others are served all along.
    assert!(timed_status(&socket) < Duration::from_secs(5));
    assert_eq!(dev.json(&["status", "--json"])["state"], "unlocked");
}

#[test]
fn a_100_mb_line_is_refused_with_bounded_memory() {
    let (dev, pid) = device("bigline");
    let socket = dev.socket();
    let before = vm_hwm(pid);
    let (mut c, _) = RawConn::hello(&socket).expect("hello");
    let mut w = c.writer().expect("a second handle");
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; MIB as usize];
        let mut sent = 0u64;
        for _ in 0..100 {
            if w.write_all(&chunk).is_err() {
                break;
            }
            sent += MIB;
        }
        let _ = w.write_all(b"\n");
        sent
    });
    // Others are served while the line streams in.
    for _ in 0..5 {
        assert!(timed_status(&socket) < Duration::from_secs(5));
    }
    let r = c.read_json().expect("an answer to the 100 MB line");
    assert_eq!(r["error"]["code"], "line_too_long", "{r}");
    let sent = sender.join().expect("the sender ends");
    assert!(
        sent < 100 * MIB,
        "the daemon read all 100 MiB instead of closing"
    );
    let grew = vm_hwm(pid).saturating_sub(before);
    eprintln!(
        "100 MB line: daemon peak RSS grew by {} MiB (accepted {} MiB before closing)",
        grew / MIB,
        sent / MIB
    );
    assert!(grew < 64 * MIB, "peak RSS grew by {} MiB", grew / MIB);
    assert!(timed_status(&socket) < Duration::from_secs(5));
}

#[test]
fn many_huge_lines_at_once_share_one_budget() {
    let (dev, pid) = device("budget");
    let socket = dev.socket();
    let before = vm_hwm(pid);
    // 12 clients each start a 30 MiB line (360 MiB in all, each under the
    // 32 MiB bound) and hold it open.
    const CLIENTS: usize = 12;
    let mut handles = Vec::new();
    for _ in 0..CLIENTS {
        let (c, _) = RawConn::hello(&socket).expect("hello");
        let mut w = c.writer().expect("a writer");
        handles.push(std::thread::spawn(move || {
            let chunk = vec![b'7'; MIB as usize];
            let mut c = c;
            for _ in 0..30 {
                if w.write_all(&chunk).is_err() {
                    // Refused: the daemon said why before closing.
                    return c.read_json().ok();
                }
            }
            // Held until the daemon answers (or the test ends).
            let _ = w.write_all(b"\n");
            c.read_json().ok()
        }));
    }
    let mut answers = Vec::new();
    for h in handles {
        answers.push(h.join().expect("a client thread ends"));
    }
    let refused = answers
        .iter()
        .flatten()
        .filter(|r| r["error"]["code"] == "rate_limited")
        .count();
    let grew = vm_hwm(pid).saturating_sub(before);
    eprintln!(
        "{CLIENTS} x 30 MiB lines: peak RSS grew by {} MiB; {refused} refused as busy",
        grew / MIB
    );
    for a in answers.iter().flatten() {
        // A line of digits is no request: bad_request once read, or refused.
        let code = a["error"]["code"].as_str().unwrap_or("");
        assert!(
            ["bad_request", "rate_limited"].contains(&code),
            "unexpected answer {a}"
        );
    }
    assert!(
        grew < 220 * MIB,
        "peak RSS grew by {} MiB for {CLIENTS} clients",
        grew / MIB
    );
    assert!(timed_status(&socket) < Duration::from_secs(5));
}

#[test]
fn a_flood_of_json_values_is_refused_before_parsing() {
    let (dev, pid) = device("flood");
    let socket = dev.socket();
    let before = vm_hwm(pid);
    let (mut c, _) = RawConn::hello(&socket).expect("hello");
    // 10 million values in 20 MB: a JSON tree of several hundred MiB.
    let mut line = String::with_capacity(21 * MIB as usize);
    line.push_str(r#"{"id":1,"method":"import","params":{"format":"csv","file_name":"x","content_base64":"","dry_run":["#);
    for _ in 0..10_000_000 {
        line.push_str("0,");
    }
    line.push_str("0]}}");
    let r = c.request(&line).expect("an answer to the flood");
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("JSON values")),
        "{r}"
    );
    let grew = vm_hwm(pid).saturating_sub(before);
    eprintln!("20 MB of JSON values: peak RSS grew by {} MiB", grew / MIB);
    assert!(grew < 96 * MIB, "peak RSS grew by {} MiB", grew / MIB);
    // The connection stays usable.
    let r = c.request(r#"{"id":2,"method":"status"}"#).expect("status");
    assert_eq!(r["id"], 2);
}

#[test]
fn a_thousand_connections_at_once() {
    let (dev, pid) = device("thousand");
    let socket = dev.socket();
    let before = vm_hwm(pid);
    let start = Instant::now();
    let mut conns = Vec::with_capacity(1000);
    for i in 0..1000 {
        match UnixStream::connect(&socket) {
            Ok(s) => conns.push(s),
            Err(e) => panic!("connection {i} failed: {e}"),
        }
    }
    // Every one says hello; half of them send a request too.
    let hello = format!(
        "{{\"hello\":{{\"protocol\":{},\"software\":\"flood\",\"pid\":1}}}}\n",
        coffer_proto::PROTOCOL_VERSION
    );
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(hello.as_bytes()).unwrap();
        if i % 2 == 0 {
            s.write_all(b"{\"id\":1,\"method\":\"status\"}\n").unwrap();
        }
    }
    // While all 1000 are open, a new client is served promptly.
    let latency = timed_status(&socket);
    assert!(latency < Duration::from_secs(10), "{latency:?}");
    let out = dev.call().timeout(Duration::from_secs(30)).run(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Every connection got its hello (and its answer).
    let mut answered = 0;
    for (i, s) in conns.iter_mut().enumerate() {
        let want = if i % 2 == 0 { 2 } else { 1 };
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.iter().filter(|&&b| b == b'\n').count() < want {
            let n = s
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            assert!(n > 0, "connection {i} was closed");
            got.extend_from_slice(&buf[..n]);
        }
        answered += 1;
    }
    assert_eq!(answered, 1000);
    let grew = vm_hwm(pid).saturating_sub(before);
    eprintln!(
        "1000 connections: all served in {:?}; a new client waited {latency:?}; peak RSS grew by {} MiB",
        start.elapsed(),
        grew / MIB
    );
    assert!(grew < 100 * MIB, "peak RSS grew by {} MiB", grew / MIB);
    drop(conns);
    assert!(timed_status(&socket) < Duration::from_secs(5));
}

#[test]
fn slow_clients_hold_only_their_own_connection() {
    let (dev, _) = device("slow");
    let socket = dev.socket();
    // A client that sends its request one byte at a time.
    let (slow, _) = RawConn::hello(&socket).expect("hello");
    let mut w = slow.writer().unwrap();
    let trickle = std::thread::spawn(move || {
        let mut slow = slow;
        for b in b"{\"id\":5,\"method\":\"status\"}\n" {
            w.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
        slow.read_json().expect("the slow request is answered")
    });
    // A client that sends many requests and never reads the answers.
    // It keeps writing from its own thread (its writes block once the
    // daemon, whose answers nobody reads, stops reading).
    let (deaf, _) = RawConn::hello(&socket).expect("hello");
    let mut dw = deaf.writer().unwrap();
    let flood: Vec<u8> = (0..2_000)
        .flat_map(|i| format!("{{\"id\":{i},\"method\":\"status\"}}\n").into_bytes())
        .collect();
    let deaf_thread = std::thread::spawn(move || {
        let _ = dw.write_all(&flood);
    });
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        worst = worst.max(timed_status(&socket));
        let out = dev.call().timeout(Duration::from_secs(20)).run(&["list"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    eprintln!("with a slow and a deaf client, the worst status took {worst:?}");
    assert!(worst < Duration::from_secs(2), "{worst:?}");
    let r = trickle.join().expect("the slow client ends");
    assert_eq!(r["id"], 5, "{r}");
    // Cut the deaf client off; its writer thread then ends.
    let _ = deaf.writer().unwrap().shutdown(std::net::Shutdown::Both);
    deaf_thread.join().expect("the deaf writer ends");
    drop(deaf);

    if long_run() {
        // One byte a second, never a newline: cut off by the line timeout.
        let (mut loris, _) = RawConn::hello(&socket).expect("hello");
        let start = Instant::now();
        let mut cut = None;
        while start.elapsed() < Duration::from_secs(90) {
            if loris.send_raw(b"x").is_err() {
                cut = Some(start.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            assert!(timed_status(&socket) < Duration::from_secs(2));
        }
        let cut = cut.expect("a one-byte-a-second client is cut off");
        eprintln!("the one-byte-a-second client was cut off after {cut:?}");
        assert!(cut < Duration::from_secs(75), "{cut:?}");
    }
}

#[test]
fn repeated_wrong_passwords_are_slowed_down() {
    let (dev, _) = device("guess");
    dev.ok(&["lock"]);
    let socket = dev.socket();
    let (mut c, _) = RawConn::hello(&socket).expect("hello");
    // A tight guessing loop over one connection for 4 seconds.
    let start = Instant::now();
    let (mut wrong, mut limited, mut n) = (0, 0, 0u64);
    while start.elapsed() < Duration::from_secs(4) {
        n += 1;
        let r = c
            .request(&format!(
                r#"{{"id":{n},"method":"unlock","params":{{"password":"guess-{n}"}}}}"#
            ))
            .expect("an answer");
        match r["error"]["code"].as_str() {
            Some("wrong_credentials") => wrong += 1,
            Some("rate_limited") => {
                limited += 1;
                let m = r["error"]["message"].as_str().unwrap_or("");
                assert!(m.contains("try again in"), "{r}");
            }
            _ => panic!("unexpected answer to a wrong password: {r}"),
        }
    }
    eprintln!("4 s of guessing: {wrong} passwords checked, {limited} refused without checking");
    // 3 free tries, then waits of 1, 2, 4 s: at most 5 checks in 4 s.
    assert!(wrong <= 5, "{wrong} guesses were checked in 4 s");
    assert!(limited > 0);
    // While limited, even the right password waits; the CLI says so.
    let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
    if !out.status.success() {
        assert!(stderr(&out).contains("try again in"), "{}", stderr(&out));
        assert!(!stderr(&out).contains(PW));
    }
    // After the wait, the right password works and resets the count.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(dev.json(&["status", "--json"])["state"], "unlocked");
}

// ----- other users -----

/// Runs `cofferd` in the device's environment (not through the CLI) and
/// returns its exit code and stderr. A daemon that starts is stopped.
fn start_daemon_directly(dev: &Device) -> (Option<i32>, String) {
    let mut cmd = dev.call().command(&cofferd_bin(), &[]);
    // stderr to a file: a pipe nobody reads could fill and block the daemon.
    let err_path = dev.home().join("cofferd-direct.err");
    let err_file = std::fs::File::create(&err_path).expect("a file for stderr");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err_file);
    let mut child = cmd.spawn().expect("cofferd starts");
    let read_err = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), read_err());
        }
        if dev.socket().exists() && timed_status_ok(&dev.socket()) {
            dev.stop_daemon();
            let status = child.wait().unwrap();
            return (status.code(), read_err());
        }
        assert!(
            Instant::now() < deadline,
            "cofferd neither served nor exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn timed_status_ok(socket: &Path) -> bool {
    RawConn::hello(socket)
        .and_then(|(mut c, _)| c.request(r#"{"id":1,"method":"status"}"#))
        .is_ok()
}

#[test]
fn unsafe_socket_paths_are_refused_and_loose_dirs_repaired() {
    let dev = Device::new("paths");
    let dirs = dev.dirs();
    let socket = dev.socket();
    coffer_proto::dirs::create_private_dir(&dirs.runtime).unwrap();

    // A symlink planted at the socket path.
    let decoy = short_tempdir("cd");
    let target = decoy.path().join("elsewhere.sock");
    std::os::unix::fs::symlink(&target, &socket).unwrap();
    let (code, err) = start_daemon_directly(&dev);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("symlink"), "{err}");
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the planted symlink was left alone"
    );
    assert!(!target.exists(), "nothing was created through the symlink");
    std::fs::remove_file(&socket).unwrap();

    // A regular file at the socket path.
    std::fs::write(&socket, b"not a socket").unwrap();
    let (code, err) = start_daemon_directly(&dev);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&socket).unwrap(), b"not a socket");

    if is_root() {
        // The same file owned by someone else.
        std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
        let (code, err) = start_daemon_directly(&dev);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("belongs to uid 65534"), "{err}");
        assert!(socket.exists());
    } else {
        eprintln!("SKIPPED the foreign-owned socket file: needs root to chown");
    }
    std::fs::remove_file(&socket).unwrap();

    // A runtime directory with loose permissions is repaired to 0700.
    std::fs::set_permissions(&dirs.runtime, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, err) = start_daemon_directly(&dev);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&dirs.runtime), 0o700);
    dev.ok(&["status"]);
    assert_eq!(mode(&socket), 0o600);
    dev.stop_daemon();

    if is_root() {
        // A runtime directory owned by someone else is refused.
        std::os::unix::fs::chown(&dirs.runtime, Some(65534), Some(65534)).unwrap();
        let (code, err) = start_daemon_directly(&dev);
        std::os::unix::fs::chown(&dirs.runtime, Some(0), Some(0)).unwrap();
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("not to you"), "{err}");
    }
}

#[test]
fn another_uid_is_refused_by_the_daemon() {
    if !can_act_as_nobody() {
        eprintln!("SKIPPED another_uid_is_refused_by_the_daemon: needs root and setpriv");
        return;
    }
    let (dev, _) = device("victim");
    let coffer = NobodysCoffer::new();
    // Open the path (o+x down to the socket, socket 0666) so the kernel lets
    // connect() through and only the daemon's peer check stands.
    let opened = OpenSocket::open(&dev);
    let outs: Vec<_> = [&["list", "--json"][..], &["get", "x"], &["stop"]]
        .into_iter()
        .map(|args| coffer.run(&dev, args))
        .collect();
    opened.restore();
    for out in &outs {
        assert_ne!(out.status.code(), Some(0), "{}", stdout(out));
        assert!(stdout(out).is_empty(), "{}", stdout(out));
        assert!(
            stderr(out).contains("other users are refused"),
            "not refused by the daemon: {}",
            stderr(out)
        );
    }
    // The daemon was not stopped by nobody, and its log names the refusal.
    assert_eq!(dev.json(&["status", "--json"])["state"], "unlocked");
    assert!(dev.log().contains("refused a connection from another user"));
}

// ----- fuzz smoke for the request decoder -----

/// Requests that change nothing dangerous (safe to send a live daemon
/// mutated), then the rest (decoded in process only).
const SAFE_SEEDS: &[&str] = &[
    r#"{"id":1,"method":"status"}"#,
    r#"{"id":2,"method":"list","params":{}}"#,
    r#"{"id":3,"method":"get","params":{"query":"Mail"}}"#,
    r#"{"id":4,"method":"history","params":{"query":"Mail"}}"#,
    r#"{"id":5,"method":"add","params":{"fields":[{"name":"title","value":"F"},{"name":"pin","value":"1"}]}}"#,
    r#"{"id":6,"method":"edit","params":{"query":"F","fields":[{"name":"password","value":"x"},{"name":"pin","value":null}]}}"#,
    r#"{"id":7,"method":"hint","params":{"email":"a@b.c"}}"#,
    r#"{"id":8,"method":"sync_list"}"#,
    r#"{"id":9,"method":"unlock","params":{"password":"p"}}"#,
];
const OTHER_SEEDS: &[&str] = &[
    r#"{"id":10,"method":"signup","params":{"email":"a@b.c","password":"p","hint":"h","sync_folders":["/x"]}}"#,
    r#"{"id":11,"method":"login","params":{"email":"a@b.c","password":"p","account_key":"C1-AAAAA","sync_folder":"/x"}}"#,
    r#"{"id":12,"method":"reset","params":{"email":"a@b.c","new_password":"p","hint":null}}"#,
    r#"{"id":13,"method":"import","params":{"format":"csv","file_name":"f","content_base64":"YQ==","dry_run":true}}"#,
    r#"{"id":14,"method":"restore","params":{"content_base64":"YQ==","password":"p","account_key":"k"}}"#,
    r#"{"id":15,"method":"export","params":{"format":"csv","path":"/tmp/x"}}"#,
    r#"{"id":16,"method":"passwd","params":{"old_password":"a","new_password":"b"}}"#,
    r#"{"id":17,"method":"subscribe"}"#,
    r#"{"id":18,"method":"stop"}"#,
];

/// Tokens that make mutations reach deeper than random bytes do.
const DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "-0",
    "1e999",
    "18446744073709551616",
    "\"id\"",
    "\"method\"",
    "\"params\"",
    "\"fields\"",
    "\"value\"",
    "{}",
    "[]",
];

fn mutate(rng: &mut Rng, seeds: &[&str]) -> Vec<u8> {
    let mut b = seeds[rng.index(seeds.len())].as_bytes().to_vec();
    for _ in 0..1 + rng.index(4) {
        let at = rng.index(b.len() + 1);
        match rng.index(7) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.index(8);
            }
            1 if at < b.len() => {
                let end = (at + 1 + rng.index(8)).min(b.len());
                b.drain(at..end);
            }
            2 => {
                let t = DICT[rng.index(DICT.len())];
                b.splice(at..at, t.bytes());
            }
            3 => b.truncate(at),
            4 => {
                let other = seeds[rng.index(seeds.len())].as_bytes();
                let from = rng.index(other.len());
                b.splice(at..at, other[from..].iter().copied());
            }
            5 => b.insert(at.min(b.len()), rng.byte()),
            _ => {
                let t = DICT[rng.index(DICT.len())];
                let end = (at + t.len()).min(b.len());
                b.splice(at..end, t.bytes());
            }
        }
    }
    b
}

#[test]
fn fuzz_smoke_request_decoder_in_process() {
    let seed = Seed::new("fuzz_smoke_request_decoder_in_process");
    let mut rng = seed.rng();
    let seed = seed.value();
    let iterations: usize = if long_run() { 2_000_000 } else { 50_000 };
    let all: Vec<&str> = SAFE_SEEDS.iter().chain(OTHER_SEEDS).copied().collect();
    let start = Instant::now();
    let (mut ok, mut err) = (0usize, 0usize);
    for n in 0..iterations {
        let bytes = if n % 10 == 0 {
            (0..rng.index(64)).map(|_| rng.byte()).collect()
        } else {
            mutate(&mut rng, &all)
        };
        let Ok(line) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let r = std::panic::catch_unwind(|| coffer_proto::envelope::RawRequest::decode(line))
            .unwrap_or_else(|_| panic!("decode panicked on {line:?} (COFFER_SEED={seed})"));
        match r {
            Ok(_) => ok += 1,
            Err((_, e)) => {
                assert!(!e.message.is_empty(), "an empty error for {line:?}");
                err += 1;
            }
        }
    }
    eprintln!(
        "decoder fuzz smoke: {iterations} inputs in {:?}, {ok} decoded, {err} refused (COFFER_SEED={seed})",
        start.elapsed()
    );
    assert!(ok > 0 && err > 0);
}

#[test]
fn fuzz_smoke_live_socket() {
    let seed = Seed::new("fuzz_smoke_live_socket");
    let lines: usize = if long_run() { 50_000 } else { 2_000 };
    let (dev, pid) = device("fuzz");
    dev.ok(&["add", "Mail", "--password", "m"]);
    let socket = dev.socket();
    let mut rng = seed.rng();
    let seed = seed.value();
    let start = Instant::now();
    let (mut answered, mut closed) = (0usize, 0usize);
    let mut conn = RawConn::hello(&socket).expect("hello").0;
    for _ in 0..lines {
        let mut line = mutate(&mut rng, SAFE_SEEDS);
        line.retain(|&b| b != b'\n');
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        line.push(b'\n');
        let sent = conn.send_raw(&line).and_then(|_| conn.read_json());
        match sent {
            Ok(r) => {
                assert!(
                    r.get("result").is_some() || r["error"]["code"].is_string(),
                    "{r}"
                );
                answered += 1;
                if std::str::from_utf8(&line).is_err() {
                    // Answered, then that connection is closed by design.
                    assert_eq!(r["error"]["code"], "bad_request", "{r}");
                    closed += 1;
                    conn = RawConn::hello(&socket).expect("the daemon still accepts").0;
                }
            }
            Err(e) => panic!(
                "the daemon dropped a connection on {:?}: {e} (COFFER_SEED={seed})",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    eprintln!(
        "socket fuzz smoke: {lines} mutated lines in {:?}: {answered} answered, {closed} closed the connection (COFFER_SEED={seed})",
        start.elapsed()
    );
    assert_eq!(dev.daemon_pid(), Some(pid), "the daemon died or restarted");
    assert!(timed_status(&socket) < Duration::from_secs(5));
}
