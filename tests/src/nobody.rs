//! Acting as another user (uid 65534, "nobody") against a device's daemon,
//! to check that the daemon's own peer check refuses them: only root can
//! switch users, through util-linux `setpriv`, so the tests that need it
//! skip elsewhere.
//!
//! The kernel already keeps others out of the 0700 directories around the
//! socket; [`OpenSocket`] opens that path for one test (o+x down to the
//! socket, the socket 0666) so that the daemon is what refuses, and closes
//! it again (also when the test fails).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tempfile::TempDir;

use crate::{coffer_bin, mode, run_with_timeout, short_tempdir, utf8, Device};

/// The uid and gid the tests act as.
pub const NOBODY: u32 = 65534;

const SETPRIV: &str = "/usr/bin/setpriv";

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this machine lets a test act as nobody (root, and `setpriv`).
pub fn can_act_as_nobody() -> bool {
    is_root() && Path::new(SETPRIV).exists()
}

/// Sets the mode bits of `path`, which the test made or opened itself.
fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A copy of `coffer` that nobody may run (the build directory may be
/// closed to them), in a temporary directory of its own.
pub struct NobodysCoffer {
    _dir: TempDir,
    path: PathBuf,
}

impl NobodysCoffer {
    /// Copies the `coffer` under test.
    pub fn new() -> NobodysCoffer {
        let dir = short_tempdir("cn");
        chmod(dir.path(), 0o755);
        let path = dir.path().join("coffer");
        std::fs::copy(coffer_bin(), &path)
            .unwrap_or_else(|e| panic!("copy coffer to {}: {e}", path.display()));
        chmod(&path, 0o755);
        NobodysCoffer { _dir: dir, path }
    }

    /// The copy.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `coffer ARGS` as nobody, in `dev`'s environment without
    /// autostart, from `/` (30 s at most).
    pub fn run(&self, dev: &Device, args: &[&str]) -> Output {
        let ids = format!("--reuid={NOBODY}");
        let gids = format!("--regid={NOBODY}");
        let mut all = vec![
            ids.as_str(),
            gids.as_str(),
            "--clear-groups",
            utf8(&self.path),
        ];
        all.extend(args);
        let mut cmd = dev
            .with_env(&[("COFFER_NO_AUTOSTART", "1")])
            .command(Path::new(SETPRIV), &all);
        cmd.current_dir("/");
        run_with_timeout(cmd, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("coffer {args:?} as nobody: {e}"))
    }
}

impl Default for NobodysCoffer {
    fn default() -> Self {
        Self::new()
    }
}

/// The path to a device's socket, opened to others until [`restore`]
/// (or drop) puts every mode back.
///
/// [`restore`]: OpenSocket::restore
pub struct OpenSocket {
    socket: PathBuf,
    socket_mode: u32,
    dirs: Vec<(PathBuf, u32)>,
}

impl OpenSocket {
    /// Adds o+x to every directory from the socket's up to the device's
    /// HOME, and makes the socket 0666.
    pub fn open(dev: &Device) -> OpenSocket {
        let socket = dev.socket();
        let mut dirs = Vec::new();
        let mut dir = socket.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if !d.starts_with(dev.home()) {
                break;
            }
            let m = mode(&d);
            dirs.push((d.clone(), m));
            chmod(&d, m | 0o001);
            dir = d.parent().map(Path::to_path_buf);
        }
        let socket_mode = mode(&socket);
        chmod(&socket, 0o666);
        OpenSocket {
            socket,
            socket_mode,
            dirs,
        }
    }

    /// Puts the socket's and the directories' modes back.
    pub fn restore(mut self) {
        self.put_back();
    }

    fn put_back(&mut self) {
        // Best effort in drop: a socket the daemon already removed has no mode to restore.
        let _ = std::fs::set_permissions(
            &self.socket,
            std::fs::Permissions::from_mode(self.socket_mode),
        );
        for (d, m) in self.dirs.drain(..) {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m));
        }
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.put_back();
    }
}
