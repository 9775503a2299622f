//! Why the login item could not be installed, removed or inspected.

use std::io;
use std::path::PathBuf;

/// Why the login item could not be installed, removed or inspected. Each
/// message names the file or command and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AutostartError {
    /// There is no usable HOME.
    #[error("HOME is not set to an absolute path; set it to your home directory")]
    NoHome,
    /// A path variable is set to a relative path.
    #[error("{var} must be an absolute path, not {}", path.display())]
    NotAbsolute {
        /// The variable.
        var: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// The daemon's executable is unusable.
    #[error("cannot use {} as the daemon: {problem}; install cofferd next to coffer", path.display())]
    Cofferd {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `enable` needs the daemon's executable and none was found.
    #[error("cofferd was not found next to coffer or on PATH; install it next to coffer")]
    NoCofferd,
    /// A path cannot be written into a unit file or plist.
    #[error("{} cannot go into a login item: {problem}; install coffer under a plainer path", path.display())]
    UnusablePath {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// Reading, writing or removing one of the login item's files failed.
    #[error("cannot {what} {}: {source}; check that you own it and its directory", path.display())]
    File {
        /// "write", "remove", "read", "create the directory", "link".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A command of the service manager failed.
    #[error("`{command}` failed: {detail}{hint}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and error output.
        detail: String,
        /// What to look at next (starts with "; " when not empty).
        hint: String,
    },
    /// This platform has neither systemd nor launchd login items.
    #[error("autostart is supported on Linux (systemd) and macOS (launchd), not on {os}")]
    Unsupported {
        /// The platform.
        os: &'static str,
    },
}

impl AutostartError {
    /// A failed file operation on `path`.
    pub(super) fn file(what: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        AutostartError::File {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}
