//! A real engine between two folders: `rclone bisync` run every interval on
//! a helper thread, as a user's cron or systemd timer would, with its own
//! work directory and no configuration (local paths only, nothing leaves
//! the machine). Each run's outcome is kept, so a test can say how many
//! runs there were, how many made conflict copies, and how many failed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::process::run_with_timeout;

/// What the runs so far did.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    /// Runs that finished.
    pub total: usize,
    /// Runs that failed (a `--resync` follows each).
    pub failed: usize,
    /// Runs whose log names a conflict (`..path1` / `..path2` copies).
    pub with_conflicts: usize,
}

/// `rclone bisync A B` every interval until dropped.
pub struct Bisync {
    stop: Arc<AtomicBool>,
    runs: Arc<Mutex<Runs>>,
    handle: Option<JoinHandle<()>>,
    _work: tempfile::TempDir,
}

fn bisync(rclone: &Path, a: &Path, b: &Path, work: &Path, resync: bool) -> (bool, String) {
    let mut cmd = Command::new(rclone);
    cmd.arg("bisync")
        .arg(a)
        .arg(b)
        .arg("--workdir")
        .arg(work)
        .arg("--config")
        .arg(work.join("none.conf"))
        .arg("--force");
    if resync {
        cmd.arg("--resync");
    }
    match run_with_timeout(cmd, Duration::from_secs(60)) {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(e) => (false, e),
    }
}

impl Bisync {
    /// Makes the two folders one (`--resync`), then runs `rclone bisync`
    /// between them every `every`.
    pub fn start(rclone: &Path, a: &Path, b: &Path, every: Duration) -> Bisync {
        let work = crate::short_tempdir("rcw");
        let (ok, log) = bisync(rclone, a, b, work.path(), true);
        assert!(ok, "rclone bisync --resync failed:\n{log}");
        let stop = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(Mutex::new(Runs::default()));
        let (rclone, a, b, w): (PathBuf, PathBuf, PathBuf, PathBuf) =
            (rclone.into(), a.into(), b.into(), work.path().into());
        let (stop2, runs2) = (Arc::clone(&stop), Arc::clone(&runs));
        let handle = std::thread::spawn(move || {
            let mut resync = false;
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                let (ok, log) = bisync(&rclone, &a, &b, &w, resync);
                let mut r = runs2.lock().unwrap_or_else(|e| e.into_inner());
                r.total += 1;
                if !ok {
                    r.failed += 1;
                    eprintln!("rclone bisync failed (a --resync follows):\n{log}");
                }
                if log.contains("..path1") || log.contains("..path2") {
                    r.with_conflicts += 1;
                    eprintln!("rclone bisync made conflict copies:\n{log}");
                }
                resync = !ok;
            }
        });
        Bisync {
            stop,
            runs,
            handle: Some(handle),
            _work: work,
        }
    }

    /// What the runs so far did.
    pub fn runs(&self) -> Runs {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Bisync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
