//! Binding the daemon's socket safely.
//!
//! The socket lives in a 0700 directory owned by the user; a directory
//! with loose permissions is repaired when it is ours and refused when it
//! is not. An existing path is replaced only when it is a stale socket of
//! ours (nobody answers on it); a symlink, a foreign-owned file, or a
//! non-socket is refused. Never an abstract socket. The socket file itself
//! is made 0600, and every connection's peer uid is checked anyway.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::uds_local_socket::tokio::Listener;

/// Binding failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The directory or path is unsafe.
    #[error("{0}")]
    Unsafe(String),
    /// Another process answers on the socket.
    #[error("another cofferd answers on {0}")]
    InUse(String),
    /// An I/O error.
    #[error("cannot bind {path}: {source}")]
    Io {
        /// The socket path.
        path: String,
        /// Why.
        source: io::Error,
    },
}

fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Checks (and if ours, repairs) the runtime directory.
pub fn check_runtime_dir(dir: &Path) -> Result<(), SocketError> {
    coffer_proto::dirs::create_private_dir(dir).map_err(|source| SocketError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let meta = fs::symlink_metadata(dir).map_err(|source| SocketError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(SocketError::Unsafe(format!(
            "{} is not a directory (a symlink?); remove it and start cofferd again",
            dir.display()
        )));
    }
    if meta.uid() != my_uid() {
        return Err(SocketError::Unsafe(format!(
            "{} belongs to uid {}, not to you; refusing to put the socket there",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", meta.mode() & 0o777), "runtime directory had loose permissions; setting 0700");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            SocketError::Io {
                path: dir.display().to_string(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Removes a stale socket at `path`, refusing anything unsafe.
pub fn clear_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let shown = path.display();
    if meta.file_type().is_symlink() {
        return Err(SocketError::Unsafe(format!(
            "{shown} is a symlink; refusing to use it (someone may be trying to intercept the socket); remove it"
        )));
    }
    if meta.uid() != my_uid() {
        return Err(SocketError::Unsafe(format!(
            "{shown} belongs to uid {}, not to you; refusing to replace it",
            meta.uid()
        )));
    }
    if !meta.file_type().is_socket() {
        return Err(SocketError::Unsafe(format!(
            "{shown} exists and is not a socket; move it away and start cofferd again"
        )));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(SocketError::InUse(shown.to_string())),
        Err(_) => {
            tracing::info!(path = %shown, "removing a stale socket left by a daemon that is gone");
            fs::remove_file(path).map_err(|source| SocketError::Io {
                path: shown.to_string(),
                source,
            })
        }
    }
}

/// Binds the socket at `path` (after [`check_runtime_dir`] and
/// [`clear_stale`]) and makes it 0600.
pub fn bind(path: &Path) -> Result<Listener, SocketError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    check_runtime_dir(dir)?;
    clear_stale(path)?;
    let io_err = |source| SocketError::Io {
        path: path.display().to_string(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(io_err)?;
    let listener: Listener = ListenerOptions::new()
        .name(name)
        .reclaim_name(true)
        .create_tokio_as::<Listener>()
        .map_err(io_err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(listener)
}

/// Wraps a listening socket handed over by systemd or launchd.
pub fn from_activation(std_listener: std::os::unix::net::UnixListener) -> io::Result<Listener> {
    let fd: std::os::fd::OwnedFd = std_listener.into();
    let mut l = Listener::try_from(fd)?;
    // The socket file belongs to the service manager: never unlink it.
    use interprocess::local_socket::traits::tokio::Listener as _;
    l.do_not_reclaim_name_on_drop();
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_private_and_replaces_stale() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let sock = run.join("s.sock");
        let l = bind(&sock).unwrap();
        assert_eq!(fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&sock).unwrap().mode() & 0o777, 0o600);
        // A live socket is not replaced.
        assert!(matches!(clear_stale(&sock), Err(SocketError::InUse(_))));
        // A socket nobody listens on is stale and is replaced.
        let l2: std::os::fd::OwnedFd = {
            use interprocess::local_socket::traits::tokio::Listener as _;
            let mut l = l;
            l.do_not_reclaim_name_on_drop();
            std::os::fd::OwnedFd::try_from(l).unwrap()
        };
        drop(l2);
        bind(&sock).unwrap();
    }

    #[test]
    fn refuses_symlinks_and_non_sockets_and_repairs_modes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sock");
        std::os::unix::fs::symlink("/tmp/elsewhere", &p).unwrap();
        assert!(matches!(clear_stale(&p), Err(SocketError::Unsafe(m)) if m.contains("symlink")));
        fs::remove_file(&p).unwrap();
        fs::write(&p, b"x").unwrap();
        assert!(
            matches!(clear_stale(&p), Err(SocketError::Unsafe(m)) if m.contains("not a socket"))
        );
        let run = d.path().join("loose");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o777)).unwrap();
        check_runtime_dir(&run).unwrap();
        assert_eq!(fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
    }
}
