//! Black-box test harness: each [`Device`] is a temporary HOME in which the
//! real `coffer` binary runs (and starts the real `cofferd`), with hard
//! timeouts on everything, so that no test ever hangs.
//!
//! # Layout
//!
//! - [`device`]: [`Device`] (a temporary HOME, its environment, and `coffer`
//!   runs in it) and [`Call`] (one run with extra environment variables).
//! - [`process`]: [`run_with_timeout`], [`pid_alive`] and signals.
//! - [`conn`]: [`RawConn`], a raw socket connection to a daemon, for
//!   protocol tests.
//! - [`wait`]: polling with a hard deadline that says what was awaited.
//! - [`fleet`]: N devices signed in to one account, on one shared folder or
//!   on one folder each kept in step by the [`replicator`].
//! - [`items`]: adding items and reading them back (`get`, `list`,
//!   `history`, fields).
//! - [`rng`]: the seeded generator of the randomised tests, whose seed is
//!   printed when such a test fails.
//! - [`folder`]: what a directory holds (names, contents, temp files).
//! - [`names`]: the sync folder's file names (one re-export of the daemon's
//!   rules) and the device files, one device's files and segments a folder
//!   holds.
//! - [`trash`]: the freedesktop trash in a device's HOME, where a reset puts
//!   what it displaces.
//! - [`tools`]: external tools (skipped or required), and re-running a test
//!   inside a session a tool sets up.
//! - [`ssh`]: OpenSSH clients (`ssh-add`, `ssh-keygen -Y`, `ssh`) against
//!   an agent socket, and a throwaway `sshd`.
//! - [`nobody`]: acting as another user (root only).
//! - [`dbus`]: a private D-Bus session bus, and the real Secret Service
//!   clients (secret-tool, python-keyring, git credential-libsecret).
//! - [`replicator`]: the test replicator that plays the sync engine.
//! - [`engines`]: real two-way engines (rclone bisync, unison) between two
//!   folders, run on demand or in a loop.
//!
//! Binaries are found in `COFFER_BIN_DIR`, else next to the test
//! executable's parent (`target/debug/deps/..`).
#![warn(missing_docs)]

pub mod conn;
pub mod dbus;
pub mod device;
pub mod engines;
pub mod fleet;
pub mod folder;
pub mod items;
pub mod names;
pub mod nobody;
pub mod process;
pub mod replicator;
pub mod rng;
pub mod ssh;
pub mod tools;
pub mod trash;
pub mod wait;

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

pub use conn::RawConn;
pub use device::{Call, Device, COMMAND_TIMEOUT, STOP_GRACE};
pub use process::{pid_alive, run_with_timeout};

/// The directory holding `coffer` and `cofferd`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("COFFER_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("the test executable knows its own path");
    // target/debug/deps/cli-HASH -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The `coffer` binary.
pub fn coffer_bin() -> PathBuf {
    bin_dir().join("coffer")
}

/// The `cofferd` binary.
pub fn cofferd_bin() -> PathBuf {
    bin_dir().join("cofferd")
}

/// A directory under `/tmp` with a short name, so that socket paths inside
/// it stay far below the 108-byte limit.
pub fn short_tempdir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("a temporary directory can be made under /tmp")
}

/// A folder shared by several devices, standing in for a sync engine's.
pub fn shared_folder() -> TempDir {
    short_tempdir("cs")
}

/// The file mode bits (`0o777` part) of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// stderr of an output, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout of an output, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `path` as the `&str` a command line takes (every test path is UTF-8:
/// they are made under `/tmp` from ASCII names).
pub fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("test paths are UTF-8: {}", path.display()))
}

/// The JSON string `v`, owned; panics naming what it got instead.
pub fn text(v: &serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tempdirs_leave_room_for_sockets() {
        let d = short_tempdir("cb");
        // `coffer/coffer.sock` under a runtime dir inside it stays far below 108 bytes.
        assert!(d.path().as_os_str().len() < 40, "{}", d.path().display());
        assert!(d.path().starts_with("/tmp"));
    }

    #[test]
    fn text_takes_strings_only() {
        assert_eq!(text(&serde_json::json!("x")), "x");
        let r = std::panic::catch_unwind(|| text(&serde_json::json!(1)));
        assert!(r.is_err(), "a number is no string");
    }

    #[test]
    fn mode_reads_permission_bits() {
        use std::os::unix::fs::PermissionsExt;
        let d = short_tempdir("cm");
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(mode(&f), 0o640);
        assert_eq!(utf8(&f), f.to_str().unwrap());
    }
}
