//! Durable file writes and safe reads.
//!
//! [`write_atomic`] is the only way the daemon writes a file that matters:
//! a temp file in the same directory (named `.NAME.<unique>.tmp`, which
//! every sync engine and coffer itself skip), `fsync`, `rename` over the
//! target, then `fsync` of the directory. A crash at any point leaves
//! either the old file or the new one, never a mix; leftover temp files are
//! removed by [`clean_temp_files`] at start-up.
//!
//! Every write also removes the temp files a crashed writer left for the
//! same target (sync folders get no start-up sweep, so this is what keeps
//! them clean).
//!
//! The [`FaultInjector`] seam lets tests make a write fail (disk full, I/O
//! error, a refused rename) without filling a disk, either from start-up
//! (`COFFER_FAULT`) or switched at run time through a file
//! (`COFFER_FAULT_FILE`); only a test build reads them ([`crate::hooks`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a write may be made to fail, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writing the temp file fails with "no space left on device".
    DiskFull,
    /// `fsync` of the temp file fails with an I/O error.
    IoError,
    /// The rename is refused (as when a sync client holds the file).
    RenameRefused,
}

/// A process-wide fault set by tests.
///
/// - `COFFER_FAULT=KIND[:SUBSTRING]` (read once at start-up), where KIND is
///   `disk-full`, `io-error` or `rename-refused`, and SUBSTRING limits the
///   fault to target paths containing it;
/// - `COFFER_FAULT_FILE=PATH`: the file is re-read before every write; its
///   first line, in the same syntax, is the fault in force (a missing or
///   empty file means none), so a test can make writes fail and recover
///   without restarting the daemon;
/// - [`FaultInjector::set`], for unit tests.
pub struct FaultInjector;

type FaultSpec = Option<(Fault, String)>;

static FAULT: Mutex<FaultSpec> = Mutex::new(None);
static FAULT_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Parses `KIND[:SUBSTRING]`; `None` for anything else.
fn parse_fault(v: &str) -> FaultSpec {
    let v = v.trim();
    let (kind, filter) = v.split_once(':').unwrap_or((v, ""));
    let fault = match kind {
        "disk-full" => Fault::DiskFull,
        "io-error" => Fault::IoError,
        "rename-refused" => Fault::RenameRefused,
        _ => return None,
    };
    Some((fault, filter.to_owned()))
}

impl FaultInjector {
    /// Reads `COFFER_FAULT` and `COFFER_FAULT_FILE` once at start-up (in a
    /// test build only: see [`crate::hooks`]).
    pub fn init_from_env() {
        if let Some(v) = crate::hooks::var("COFFER_FAULT") {
            let v = v.to_string_lossy();
            match parse_fault(&v) {
                Some(f) => {
                    tracing::warn!(fault = %v, "COFFER_FAULT is set: writes will fail on purpose");
                    Self::set(Some(f));
                }
                None => tracing::warn!(fault = %v, "COFFER_FAULT names no fault; ignored"),
            }
        }
        if let Some(p) = crate::hooks::var("COFFER_FAULT_FILE") {
            tracing::warn!(path = %Path::new(&p).display(), "COFFER_FAULT_FILE is set: writes may fail on purpose");
            *FAULT_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(PathBuf::from(p));
        }
    }

    /// Sets or clears the fault.
    pub fn set(fault: FaultSpec) {
        *FAULT.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// The fault in force now: the fault file's, else the one set.
    fn current() -> FaultSpec {
        let file = FAULT_FILE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(path) = file {
            // Bounded: the file is ours and tiny; a missing file means no fault.
            let text = read_bounded(&path, 4096).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let first = text.lines().next().unwrap_or("");
            if let Some(f) = parse_fault(first) {
                return Some(f);
            }
        }
        FAULT.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn check(stage: Fault, path: &Path) -> io::Result<()> {
        if let Some((fault, filter)) = Self::current() {
            if fault == stage && path.to_string_lossy().contains(filter.as_str()) {
                return Err(match stage {
                    Fault::DiskFull => io::Error::from_raw_os_error(libc::ENOSPC),
                    Fault::IoError => io::Error::from_raw_os_error(libc::EIO),
                    Fault::RenameRefused => io::Error::from_raw_os_error(libc::EBUSY),
                });
            }
        }
        Ok(())
    }
}

/// The temp name used for `target`: `.NAME.<pid>-<n>.tmp` in the same folder.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `target` atomically and durably, with `mode` (e.g.
/// 0o600). On error the target is untouched and the temp file is removed.
pub fn write_atomic(target: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = write_temp(target, bytes, mode)?;
    commit_temp(&tmp, target)
}

/// The first half of [`write_atomic`]: `bytes` in a new temp file beside
/// `target`, flushed to disk. Returns the temp file's path (removed again
/// on error).
pub fn write_temp(target: &Path, bytes: &[u8], mode: u32) -> io::Result<PathBuf> {
    clean_stale_temps_of(target);
    let tmp = temp_path(target);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        FaultInjector::check(Fault::DiskFull, target)?;
        f.write_all(bytes)?;
        FaultInjector::check(Fault::IoError, target)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The second half of [`write_atomic`]: renames the temp file `tmp` onto
/// `target` and makes the rename durable. On error the temp file is removed.
pub fn commit_temp(tmp: &Path, target: &Path) -> io::Result<()> {
    let result =
        FaultInjector::check(Fault::RenameRefused, target).and_then(|()| fs::rename(tmp, target));
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result?;
    sync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// Appends `bytes` to `target` and flushes them to disk, if `target` is
/// still the file this process left: inode `ino` and `len` bytes long.
/// `Ok(false)` (nothing written) when it is not. On error the file is cut
/// back to `len` (best effort), so it holds what it held before.
pub fn append_durable(target: &Path, ino: u64, len: u64, bytes: &[u8]) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let mut f = match OpenOptions::new().append(true).open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let m = f.metadata()?;
    if m.ino() != ino || m.len() != len {
        return Ok(false);
    }
    FaultInjector::check(Fault::DiskFull, target)?;
    let result = f.write_all(bytes).and_then(|()| {
        FaultInjector::check(Fault::IoError, target)?;
        f.sync_data()
    });
    if result.is_err() && f.set_len(len).is_ok() {
        let _ = f.sync_data();
    }
    result.map(|()| true)
}

/// `fsync` on a directory, so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Is this one of coffer's own temp files (`.….tmp`)?
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Removes the temp files that a writer which is gone left for `target`
/// (`.NAME.<pid>-<n>.tmp` beside it). Best effort: errors are ignored.
fn clean_stale_temps_of(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(rd) = fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in rd.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")) else {
            continue;
        };
        let dead = matches!(temp_writer_pid(rest), Some(p) if p != std::process::id() && !process_alive(p));
        if dead && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a temp file left by an interrupted write");
        }
    }
}

/// Removes the temp files in `dir` that a writer which is gone left for
/// any target (`.NAME.<pid>-<n>.tmp`): a sync folder gets no start-up
/// sweep, and a target that is never written again (a delta segment has a
/// new name each time) would keep its stale temp forever. A live writer's
/// temps (this process's included) are left alone. Best effort.
pub fn clean_dead_writers_temps(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = n
            .strip_prefix('.')
            .and_then(|r| r.strip_suffix(".tmp"))
            .filter(|_| !n.starts_with(".syncthing."))
        else {
            continue;
        };
        let dead = matches!(temp_writer_pid(rest), Some(p) if p != std::process::id() && !process_alive(p));
        if dead && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a temp file left by an interrupted write");
        }
    }
}

/// The pid in a temp name's `<pid>-<n>` part.
fn temp_writer_pid(tail: &str) -> Option<u32> {
    let (pid, n) = tail.rsplit('.').next()?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse::<u32>().ok().filter(|p| *p > 0)
}

/// Removes coffer's leftover temp files in `dir` written by a process that
/// is gone (a crash mid-write). Returns how many were removed. Temp files
/// hold only copies of data whose target is intact, so removing them loses
/// nothing.
pub fn clean_temp_files(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    let me = std::process::id();
    let mut removed = 0;
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_temp_name(&name) || name.starts_with(".syncthing.") {
            continue;
        }
        // Our temp names end in ".<pid>-<n>.tmp": leave a live writer's alone.
        let pid = name
            .trim_end_matches(".tmp")
            .rsplit('.')
            .next()
            .and_then(|s| s.split('-').next())
            .and_then(|s| s.parse::<u32>().ok());
        let dead = matches!(pid, Some(p) if p == me || !process_alive(p));
        if dead && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn process_alive(pid: u32) -> bool {
    // A pid that no process can have (0 or beyond pid_t) is no live writer.
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A zombie (killed, not yet reaped) writes nothing any more.
    exists && !is_zombie(pid)
}

/// Whether `pid` is a zombie (Linux: state `Z` or `X` in /proc/PID/stat).
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| state == 'Z' || state == 'X')
}

/// Reads a file of at most `max` bytes; a larger file is an error (so a
/// hostile file cannot exhaust memory).
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is {len} bytes, over the {max}-byte limit",
                path.display()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn faults_keep_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("faulty-target");
        write_atomic(&p, b"old", 0o600).unwrap();
        for fault in [Fault::DiskFull, Fault::IoError, Fault::RenameRefused] {
            FaultInjector::set(Some((fault, "faulty-target".into())));
            assert!(write_atomic(&p, b"new", 0o600).is_err());
            FaultInjector::set(None);
            assert_eq!(fs::read(&p).unwrap(), b"old");
            assert_eq!(
                fs::read_dir(d.path()).unwrap().count(),
                1,
                "{fault:?} left a temp file"
            );
        }
        write_atomic(&p, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn cleans_only_dead_writers_temp_files() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(".c.999999999-1.tmp"), b"x").unwrap();
        fs::write(d.path().join(".syncthing.c.tmp"), b"x").unwrap();
        fs::write(d.path().join("keep"), b"x").unwrap();
        assert_eq!(clean_temp_files(d.path()), 1);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_write_removes_stale_temps_of_its_target_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dev.cofsync");
        let stale = d.path().join(".dev.cofsync.999999999-3.tmp");
        let other = d.path().join(".other.999999999-3.tmp");
        let engine = d.path().join(".syncthing.dev.cofsync.tmp");
        for f in [&stale, &other, &engine] {
            fs::write(f, b"x").unwrap();
        }
        write_atomic(&p, b"new", 0o600).unwrap();
        assert!(!stale.exists());
        assert!(other.exists() && engine.exists());
        assert_eq!(fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn parses_fault_specs() {
        assert_eq!(
            parse_fault("disk-full"),
            Some((Fault::DiskFull, String::new()))
        );
        assert_eq!(
            parse_fault("rename-refused:.coffer\n"),
            Some((Fault::RenameRefused, ".coffer".into()))
        );
        assert_eq!(
            parse_fault("io-error:x:y"),
            Some((Fault::IoError, "x:y".into()))
        );
        assert_eq!(parse_fault(""), None);
        assert_eq!(parse_fault("melt"), None);
        assert_eq!(temp_writer_pid("12-3"), Some(12));
        assert_eq!(temp_writer_pid("x.12-3"), Some(12));
        assert_eq!(temp_writer_pid("0-3"), None);
        assert_eq!(temp_writer_pid("12"), None);
    }

    #[test]
    fn bounded_reads() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, vec![0u8; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100).unwrap().len(), 100);
        assert!(read_bounded(&p, 99).is_err());
    }
}
