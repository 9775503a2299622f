//! The single-instance lock: an exclusive `flock` on `cofferd.lock` in the
//! state directory, held for the daemon's life. The kernel drops it when
//! the process dies, so a killed daemon never blocks the next one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The held lock.
pub struct InstanceLock {
    _file: File,
}

/// Taking the lock failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("cofferd is already running for this user (pid {pid}); lock file {path}")]
    AlreadyRunning {
        /// The other daemon's pid, as it wrote it (may be "unknown").
        pid: String,
        /// The lock file.
        path: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// Why.
        source: io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock or says who has it.
    pub fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
        let io_err = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_err)?;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let pid = std::fs::read_to_string(path)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".into());
                return Err(LockError::AlreadyRunning {
                    pid,
                    path: path.display().to_string(),
                });
            }
            return Err(io_err(err));
        }
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(InstanceLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let a = InstanceLock::acquire(&p).unwrap();
        match InstanceLock::acquire(&p) {
            Err(LockError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("{:?}", other.err()),
        }
        drop(a);
        InstanceLock::acquire(&p).unwrap();
    }
}
