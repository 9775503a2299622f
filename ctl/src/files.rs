//! Local files: writing exports and backups privately and atomically, and
//! making paths absolute before they are sent to the daemon.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// A path as the daemon must see it: canonical when it exists, else made
/// absolute against the current directory.
pub fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(_) => std::path::absolute(path)
            .map_err(|e| CliError::io(format!("cannot resolve {}", path.display()), e)),
    }
}

/// Writes `bytes` to `path` with mode 0600: into `.NAME.tmp` in the same
/// directory, fsync, rename over `path`, fsync the directory. On any
/// failure the temp file is removed and `path` is left as it was.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let guard = TempGuard(Some(tmp.clone()));
    let ctx = |what: &str| format!("cannot {what} {}", path.display());

    // A leftover from a crashed run is ours by its name; a symlink there is
    // removed, never followed.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::io(ctx("write"), e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| CliError::io(ctx("write"), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::io(ctx("write"), e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| CliError::io(ctx("write"), e))?;
    guard.disarm();
    if let Ok(d) = File::open(&dir) {
        // Best effort: the rename is done; a failed directory fsync only
        // weakens durability across a power loss.
        let _ = d.sync_all();
    }
    Ok(())
}

/// When stdout is a regular file (`coffer inject > FILE`), makes it 0600
/// before secrets are written to it; pipes and terminals are left alone.
/// An error (a file of another user, say) means nothing may be written.
pub fn make_stdout_private() -> Result<(), CliError> {
    // SAFETY: fstat writes into the zeroed struct we own; fd 1 may be
    // closed, which fstat reports as an error.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(1, &mut st) } != 0 {
        return Ok(());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_mode & 0o077 == 0 {
        return Ok(());
    }
    // SAFETY: fchmod on our own stdout descriptor.
    if unsafe { libc::fchmod(1, 0o600) } != 0 {
        return Err(CliError::io(
            "stdout is a file coffer cannot make private (mode 0600), so nothing was written; \
             write with -o FILE instead",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes the temp file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_0600_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(dir.path().join(".out.csv.tmp"), "stale").unwrap();
        write_private(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.csv")]);
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails.
        let p = dir.path().join("taken");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), "x").unwrap();
        let e = write_private(&p, b"data").unwrap_err();
        assert!(e.to_string().contains("taken"), "{e}");
        assert!(!dir.path().join(".taken.tmp").exists());
        let e = write_private(&dir.path().join("missing/out"), b"d").unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
    }

    #[test]
    fn absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(absolute(dir.path()).unwrap(), real);
        let missing = absolute(Path::new("no/such/dir")).unwrap();
        assert!(missing.is_absolute());
        assert!(missing.ends_with("no/such/dir"));
    }
}
