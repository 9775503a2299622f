//! Socket activation, sd_notify and journal detection against the real
//! kernel: real sockets in a temporary directory, and a child process that
//! receives a listener on fd 3 with `LISTEN_PID`/`LISTEN_FDS` exactly as
//! systemd (or `systemd-socket-activate`) would hand it over.

#[allow(dead_code)]
#[path = "../src/activation.rs"]
mod activation;

use activation::{listener_from_systemd, notify_to, ActivationError};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_MARKER: &str = "COFFER_ACTIVATION_TEST_CHILD";

fn os(s: &str) -> Option<&OsStr> {
    Some(OsStr::new(s))
}

fn cloexec(fd: RawFd) -> bool {
    // SAFETY: fcntl with F_GETFD takes no pointer.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags >= 0, "fcntl(F_GETFD) on {fd} failed");
    flags & libc::FD_CLOEXEC != 0
}

fn recv_string(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8(buf[..n].to_vec()).expect("notifications are UTF-8")
}

#[test]
fn notify_reaches_a_datagram_socket_at_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let server = UnixDatagram::bind(&path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    notify_to(path.as_os_str(), "READY=1").unwrap();
    assert_eq!(recv_string(&server), "READY=1");
    notify_to(path.as_os_str(), "STATUS=unlocked, 3 folders\nX=1").unwrap();
    assert_eq!(recv_string(&server), "STATUS=unlocked, 3 folders\nX=1");
}

#[cfg(target_os = "linux")]
#[test]
fn notify_reaches_an_abstract_address() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;

    let name = format!(
        "coffer-notify-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let server = UnixDatagram::bind_addr(&addr).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    notify_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
    assert_eq!(recv_string(&server), "STOPPING=1");
}

#[test]
fn notify_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens there.
    let missing = dir.path().join("nobody");
    assert!(notify_to(missing.as_os_str(), "READY=1").is_err());
    // Neither a path nor an abstract address.
    let err = notify_to(OsStr::new("relative/notify"), "READY=1").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NOTIFY_SOCKET"), "{err}");
}

#[test]
fn no_activation_without_matching_variables() {
    let pid = std::process::id();
    // The descriptor is never looked at in these cases, so a bogus one
    // shows that nothing was taken.
    let fd = -1;
    assert!(listener_from_systemd(None, None, pid, fd)
        .unwrap()
        .is_none());
    assert!(listener_from_systemd(None, os("1"), pid, fd)
        .unwrap()
        .is_none());
    let other = (pid + 1).to_string();
    assert!(listener_from_systemd(os(&other), os("1"), pid, fd)
        .unwrap()
        .is_none());
    let ours = pid.to_string();
    assert!(listener_from_systemd(os(&ours), None, pid, fd)
        .unwrap()
        .is_none());
    assert!(listener_from_systemd(os(&ours), os("0"), pid, fd)
        .unwrap()
        .is_none());
}

#[test]
fn malformed_variables_are_errors() {
    let pid = std::process::id();
    let ours = pid.to_string();
    match listener_from_systemd(os("12ab"), os("1"), pid, -1) {
        Err(ActivationError::BadVariable { var, value }) => {
            assert_eq!(var, "LISTEN_PID");
            assert_eq!(value, "12ab");
        }
        other => panic!("expected BadVariable, got {other:?}"),
    }
    match listener_from_systemd(os(&ours), os("-1"), pid, -1) {
        Err(ActivationError::BadVariable { var, .. }) => assert_eq!(var, "LISTEN_FDS"),
        other => panic!("expected BadVariable, got {other:?}"),
    }
    match listener_from_systemd(os(&ours), os("2"), pid, -1) {
        Err(e @ ActivationError::TooManySockets { count: 2 }) => {
            assert!(e.to_string().contains("exactly one"), "{e}");
        }
        other => panic!("expected TooManySockets, got {other:?}"),
    }
}

#[test]
fn a_listening_unix_socket_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.sock");
    let fd = UnixListener::bind(&path).unwrap().into_raw_fd();
    // Handed-over descriptors arrive without close-on-exec.
    // SAFETY: fcntl with F_SETFD takes no pointer; fd is open.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    assert!(!cloexec(fd));

    let pid = std::process::id();
    let listener = listener_from_systemd(os(&pid.to_string()), os("1"), pid, fd)
        .unwrap()
        .expect("a listener");
    assert_eq!(listener.as_raw_fd(), fd);
    assert!(cloexec(fd), "the taken socket must be close-on-exec");

    let mut client = UnixStream::connect(&path).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[test]
fn descriptors_that_are_not_listening_unix_streams_are_refused() {
    let pid = std::process::id();
    let ours = pid.to_string();
    let problem_of = |fd: RawFd| match listener_from_systemd(os(&ours), os("1"), pid, fd) {
        Err(ActivationError::NotAListener { fd: got, problem }) => {
            assert_eq!(got, fd);
            problem
        }
        other => panic!("fd {fd}: expected NotAListener, got {other:?}"),
    };

    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("plain")).unwrap();
    assert_eq!(problem_of(file.as_raw_fd()), "not a socket");

    let datagram = UnixDatagram::unbound().unwrap();
    assert!(problem_of(datagram.as_raw_fd()).contains("not a stream socket"));

    let (a, _b) = UnixStream::pair().unwrap();
    assert_eq!(problem_of(a.as_raw_fd()), "a socket that is not listening");

    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(problem_of(tcp.as_raw_fd()), "not a Unix-domain socket");

    // Far above any descriptor limit, so certainly not open.
    assert_eq!(problem_of(RawFd::MAX), "not open");

    // A refused descriptor is left open for its owner.
    assert!(file.metadata().is_ok());
}

#[test]
fn journal_stream_is_matched_by_device_and_inode() {
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("stream")).unwrap();
    let meta = file.metadata().unwrap();
    let fd = file.as_raw_fd();
    let value = format!("{}:{}", meta.dev(), meta.ino());
    assert!(activation::journal_stream_matches(OsStr::new(&value), fd));

    let other = format!("{}:{}", meta.dev(), meta.ino() + 1);
    assert!(!activation::journal_stream_matches(OsStr::new(&other), fd));
    for bad in ["", "12", "a:b", ":", "1:2:3"] {
        assert!(
            !activation::journal_stream_matches(OsStr::new(bad), fd),
            "{bad:?}"
        );
    }
}

/// Both halves of a socket-activation run. The parent binds a listener and
/// a notification socket, then re-runs this test binary (only this test)
/// through `sh -c 'LISTEN_PID=$$ ... exec'` with the listener on fd 3, the
/// way systemd starts a socket-activated service. The child takes the
/// listener, reports readiness, and answers one connection.
#[test]
fn socket_activation_in_a_child_process() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        child_side();
    } else {
        parent_side();
    }
}

fn child_side() {
    let listener = activation::take_listen_fd()
        .expect("a usable listener")
        .expect("LISTEN_PID is ours, so a listener");
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        assert!(std::env::var_os(var).is_none(), "{var} was not removed");
    }
    assert_eq!(listener.as_raw_fd(), activation::SD_LISTEN_FDS_START);
    assert!(cloexec(listener.as_raw_fd()));
    assert!(
        activation::take_listen_fd().unwrap().is_none(),
        "a second call must not take the descriptor again"
    );
    assert!(
        activation::under_systemd_journal(),
        "JOURNAL_STREAM names our stderr"
    );

    assert!(activation::notify_status("loading").unwrap());
    assert!(activation::notify_ready().unwrap());
    let (mut conn, _) = listener.accept().unwrap();
    conn.write_all(b"ok\n").unwrap();
    assert!(activation::notify_stopping().unwrap());
}

fn parent_side() {
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("coffer.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let stderr_path = dir.path().join("child-stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();

    let lfd = listener.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "socket_activation_in_a_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MARKER, "1")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "cofferd.socket")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and
    // exec.
    unsafe {
        cmd.pre_exec(move || {
            if lfd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(lfd, 3) != 3 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();

    assert_eq!(recv_string(&notify), "STATUS=loading");
    assert_eq!(recv_string(&notify), "READY=1");
    // The parent's copy of the listener is the same socket; drop it so
    // that only the child can accept.
    drop(listener);
    let conn = UnixStream::connect(&sock_path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).unwrap();
    assert_eq!(line, "ok\n");
    assert_eq!(recv_string(&notify), "STOPPING=1");

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the child did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "child failed: {status}\n{out}\n{err}");
    assert!(
        out.contains("1 passed"),
        "the child did not run the test:\n{out}\n{err}"
    );
}
