//! The daemon's side of the service managers: taking over a listening socket
//! that systemd (`LISTEN_FDS`) or launchd (`launch_activate_socket`) bound
//! for us, telling systemd when we are ready or stopping (`sd_notify`), and
//! noticing that stderr goes to the journal so logs can drop their own
//! timestamps and colours.
//!
//! Only std and libc: the protocols are small and stable, and a library for
//! them would pull in more than it saves. Nothing here mocks the kernel; the
//! tests in `daemon/tests/activation.rs` use real sockets and a real child
//! process.
//!
//! Call [`take_listen_fd`] once, early in `main`, before any thread is
//! started: it removes the `LISTEN_*` variables from the environment.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const SD_LISTEN_FDS_START: RawFd = 3;

/// The name of the socket in the LaunchAgent's `Sockets` dictionary.
pub const LAUNCHD_SOCKET_NAME: &str = "Listeners";

/// Why a socket handed over by the service manager could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationError {
    /// `LISTEN_PID` or `LISTEN_FDS` is not a number.
    #[error("{var}={value:?} is not a number; the service manager set it wrong")]
    BadVariable {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// More than one socket was passed; cofferd listens on exactly one.
    #[error(
        "the service manager passed {count} sockets; cofferd takes exactly one \
         (cofferd.socket must have a single ListenStream=)"
    )]
    TooManySockets {
        /// How many were passed.
        count: usize,
    },
    /// The passed descriptor is not a listening Unix stream socket.
    #[error("file descriptor {fd} passed by the service manager is {problem}")]
    NotAListener {
        /// The descriptor.
        fd: RawFd,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A system call on the passed descriptor failed.
    #[error("checking file descriptor {fd} passed by the service manager: {source}")]
    Io {
        /// The descriptor.
        fd: RawFd,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// launchd refused to hand over the socket for a reason other than
    /// "this job has no such socket" or "not started by launchd".
    #[error("launch_activate_socket({name:?}) failed: {source}")]
    Launchd {
        /// The socket's name in the plist.
        name: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Takes the listening socket the service manager bound for us, if any.
///
/// systemd: when `LISTEN_PID` is our pid and `LISTEN_FDS` is 1, fd 3 is
/// checked to be a listening Unix stream socket, marked close-on-exec and
/// returned. `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` are removed
/// from the environment in every case, so no child inherits them; a second
/// call returns `Ok(None)`. Call it before starting threads.
///
/// macOS: otherwise asks launchd for the socket named
/// [`LAUNCHD_SOCKET_NAME`]; a job without that socket, or a process not
/// started by launchd, gives `Ok(None)`.
///
/// The listener is blocking, as std creates them; an async runtime needs
/// `set_nonblocking(true)` before converting it.
pub fn take_listen_fd() -> Result<Option<UnixListener>, ActivationError> {
    let pid = std::env::var_os("LISTEN_PID");
    let fds = std::env::var_os("LISTEN_FDS");
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // Edition 2021: safe to call; the contract above (no threads yet)
        // is what makes it sound.
        std::env::remove_var(var);
    }
    let from_systemd = listener_from_systemd(
        pid.as_deref(),
        fds.as_deref(),
        std::process::id(),
        SD_LISTEN_FDS_START,
    )?;
    if from_systemd.is_some() {
        return Ok(from_systemd);
    }
    launchd_listener()
}

/// The systemd half of [`take_listen_fd`], with the environment and the
/// first descriptor passed in so that it can be tested on any descriptor.
///
/// Returns `Ok(None)` when `listen_pid` is unset or not `our_pid`, or when
/// `listen_fds` is unset or 0. On success the descriptor `first_fd` is owned
/// by the returned listener: call this at most once per descriptor.
pub fn listener_from_systemd(
    listen_pid: Option<&OsStr>,
    listen_fds: Option<&OsStr>,
    our_pid: u32,
    first_fd: RawFd,
) -> Result<Option<UnixListener>, ActivationError> {
    let Some(pid) = listen_pid else {
        return Ok(None);
    };
    let pid: u32 = parse_var("LISTEN_PID", pid)?;
    if pid != our_pid {
        return Ok(None);
    }
    let count: usize = match listen_fds {
        Some(v) => parse_var("LISTEN_FDS", v)?,
        None => return Ok(None),
    };
    match count {
        0 => Ok(None),
        1 => {
            check_listener(first_fd)?;
            set_cloexec(first_fd)?;
            // SAFETY: the socket-activation protocol hands fd `first_fd` to
            // this process, we checked above that it is an open listening
            // socket, and the caller takes it only once.
            let fd = unsafe { OwnedFd::from_raw_fd(first_fd) };
            Ok(Some(UnixListener::from(fd)))
        }
        count => Err(ActivationError::TooManySockets { count }),
    }
}

fn parse_var<T: std::str::FromStr>(var: &'static str, value: &OsStr) -> Result<T, ActivationError> {
    value
        .to_str()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ActivationError::BadVariable {
            var,
            value: value.to_string_lossy().into_owned(),
        })
}

/// Checks that `fd` is an open, listening, `AF_UNIX` `SOCK_STREAM` socket.
fn check_listener(fd: RawFd) -> Result<(), ActivationError> {
    let io_err = |source: io::Error| ActivationError::Io { fd, source };
    let not = |problem| ActivationError::NotAListener { fd, problem };

    let sock_type = match getsockopt_int(fd, libc::SO_TYPE) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => return Err(not("not open")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => return Err(not("not a socket")),
        Err(e) => return Err(io_err(e)),
    };
    if sock_type != libc::SOCK_STREAM {
        return Err(not("not a stream socket (ListenStream= is needed)"));
    }
    if getsockopt_int(fd, libc::SO_ACCEPTCONN).map_err(io_err)? == 0 {
        return Err(not("a socket that is not listening"));
    }

    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: addr and len are valid for writes and len holds addr's size.
    let rc = unsafe {
        libc::getsockname(
            fd,
            std::ptr::addr_of_mut!(addr).cast::<libc::sockaddr>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io_err(io::Error::last_os_error()));
    }
    if libc::c_int::from(addr.ss_family) != libc::AF_UNIX {
        return Err(not("not a Unix-domain socket"));
    }
    Ok(())
}

fn getsockopt_int(fd: RawFd, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid for writes; len holds value's size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            std::ptr::addr_of_mut!(value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_cloexec(fd: RawFd) -> Result<(), ActivationError> {
    // SAFETY: fcntl on an fd we checked is open; no pointers involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(ActivationError::Io {
            fd,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(target_os = "macos")]
fn launchd_listener() -> Result<Option<UnixListener>, ActivationError> {
    use std::ffi::CString;

    extern "C" {
        // <launch.h>, in libSystem since macOS 10.10.
        fn launch_activate_socket(
            name: *const libc::c_char,
            fds: *mut *mut libc::c_int,
            cnt: *mut libc::size_t,
        ) -> libc::c_int;
    }

    let name = CString::new(LAUNCHD_SOCKET_NAME).expect("the socket name has no NUL byte");
    let mut fds: *mut libc::c_int = std::ptr::null_mut();
    let mut count: libc::size_t = 0;
    // SAFETY: name is a valid C string; fds and count are valid for writes.
    let rc = unsafe { launch_activate_socket(name.as_ptr(), &mut fds, &mut count) };
    match rc {
        0 => {}
        // No such socket in our plist / not a launchd job.
        libc::ENOENT | libc::ESRCH => return Ok(None),
        err => {
            return Err(ActivationError::Launchd {
                name: LAUNCHD_SOCKET_NAME,
                source: io::Error::from_raw_os_error(err),
            })
        }
    }
    // SAFETY: on success launchd returns a malloc'ed array of `count` fds.
    let owned: Vec<OwnedFd> = (0..count)
        .map(|i| unsafe { OwnedFd::from_raw_fd(*fds.add(i)) })
        .collect();
    // SAFETY: the array was allocated by launchd with malloc; we own it.
    unsafe { libc::free(fds.cast::<libc::c_void>()) };

    let mut owned = owned.into_iter();
    let Some(first) = owned.next() else {
        return Ok(None);
    };
    if owned.len() > 0 {
        return Err(ActivationError::TooManySockets { count });
    }
    {
        use std::os::fd::AsRawFd;
        let fd = first.as_raw_fd();
        check_listener(fd)?;
        set_cloexec(fd)?;
    }
    Ok(Some(UnixListener::from(first)))
}

#[cfg(not(target_os = "macos"))]
fn launchd_listener() -> Result<Option<UnixListener>, ActivationError> {
    Ok(None)
}

/// Tells systemd the daemon is ready (socket bound, state loaded):
/// `READY=1`. Returns `Ok(false)` when not run by systemd (`NOTIFY_SOCKET`
/// unset). A failure is worth a warning: a `Type=notify` unit that never
/// hears `READY=1` is killed after its start timeout.
pub fn notify_ready() -> io::Result<bool> {
    notify("READY=1")
}

/// Tells systemd the daemon is shutting down: `STOPPING=1`.
pub fn notify_stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}

/// A one-line status shown by `systemctl --user status cofferd`:
/// `STATUS=...` (newlines are replaced by spaces).
pub fn notify_status(status: &str) -> io::Result<bool> {
    notify(&format!("STATUS={}", status.replace('\n', " ")))
}

fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) {
        Some(addr) => notify_to(&addr, state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends `state` (newline-separated `KEY=VALUE` lines) to the notification
/// socket at `addr`: a path, or `@name` for an address in Linux's abstract
/// namespace, as systemd puts it in `NOTIFY_SOCKET`.
pub fn notify_to(addr: &OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;

    let sock = UnixDatagram::unbound()?;
    let bytes = addr.as_bytes();
    let sent = match bytes.first() {
        Some(b'/') => sock.send_to(state.as_bytes(), addr)?,
        Some(b'@') => send_abstract(&sock, &bytes[1..], state.as_bytes())?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "NOTIFY_SOCKET={:?} is neither a path nor an @abstract address",
                    OsString::from(addr)
                ),
            ))
        }
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the notification was cut short",
        ));
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], msg: &[u8]) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;

    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(msg, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_sock: &UnixDatagram, _name: &[u8], _msg: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket addresses exist only on Linux",
    ))
}

/// Whether stderr is connected to the systemd journal (`JOURNAL_STREAM`
/// names stderr's device and inode). The daemon then logs without its own
/// timestamps and colours: the journal adds the former and shows the
/// latter as escape codes.
pub fn under_systemd_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM")
        .is_some_and(|v| journal_stream_matches(&v, libc::STDERR_FILENO))
}

/// Whether `journal_stream` (`"<device>:<inode>"`, decimal) names the file
/// open on `fd`.
pub fn journal_stream_matches(journal_stream: &OsStr, fd: RawFd) -> bool {
    let Some((dev, ino)) = journal_stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // SAFETY: libc::stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is valid for writes; fstat does not keep the pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    // The field types differ between platforms (u64, i32, u32).
    #[allow(clippy::unnecessary_cast)]
    let (st_dev, st_ino) = (st.st_dev as u64, st.st_ino as u64);
    st_dev == dev && st_ino == ino
}
