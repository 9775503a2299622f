//! The parts of the process environment that autostart depends on, read
//! once, and the paths derived from them.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{AutostartError, Platform};

/// The LaunchAgent's label, which also names its plist.
pub const LAUNCHD_LABEL: &str = "org.coffer.cofferd";

/// The parts of the environment that decide where the files go and how the
/// service manager is reached.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Which kind of login item to manage.
    pub platform: Platform,
    /// `HOME` (absolute).
    pub home: PathBuf,
    /// `XDG_CONFIG_HOME`, if set to an absolute path.
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`, if set.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `DBUS_SESSION_BUS_ADDRESS`, if set.
    pub dbus_session_bus_address: Option<OsString>,
    /// `COFFER_HOME`, if set: the daemon is told to use it too.
    pub coffer_home: Option<PathBuf>,
    /// `PATH`, to find `systemctl` or `launchctl`.
    pub path: Option<OsString>,
    /// The user's id (for launchd's `gui/<uid>` domain).
    pub uid: u32,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process() -> Result<Environment, AutostartError> {
        let platform = if cfg!(target_os = "macos") {
            Platform::Launchd
        } else if cfg!(target_os = "linux") {
            Platform::Systemd
        } else {
            return Err(AutostartError::Unsupported {
                os: std::env::consts::OS,
            });
        };
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .ok_or(AutostartError::NoHome)?;
        let coffer_home = match var("COFFER_HOME").map(PathBuf::from) {
            Some(p) if !p.is_absolute() => {
                return Err(AutostartError::NotAbsolute {
                    var: "COFFER_HOME",
                    path: p,
                })
            }
            other => other,
        };
        Ok(Environment {
            platform,
            home,
            xdg_config_home: var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            dbus_session_bus_address: var("DBUS_SESSION_BUS_ADDRESS"),
            coffer_home,
            path: var("PATH"),
            // SAFETY: getuid cannot fail and takes no arguments.
            uid: unsafe { libc::getuid() },
        })
    }

    /// Where systemd looks for the user's own units.
    pub fn systemd_unit_dir(&self) -> PathBuf {
        self.xdg_config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
            .join("systemd/user")
    }

    /// Where the LaunchAgent goes.
    pub fn launch_agent_path(&self) -> PathBuf {
        self.home
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist"))
    }

    /// Where launchd writes the daemon's stdout and stderr.
    pub fn launchd_log_dir(&self) -> PathBuf {
        self.home.join("Library/Logs/coffer")
    }

    /// The daemon's socket directory on macOS, as `coffer_proto::dirs`
    /// resolves it there (launchd binds the socket but does not create
    /// the directory).
    pub fn launchd_runtime_dir(&self) -> PathBuf {
        match &self.coffer_home {
            Some(d) => d.join("run"),
            None => self.home.join("Library/Application Support/coffer/run"),
        }
    }

    /// An environment for the unit tests: HOME and nothing else.
    #[cfg(test)]
    pub(super) fn for_tests(home: &Path) -> Environment {
        Environment {
            platform: Platform::Systemd,
            home: home.to_path_buf(),
            xdg_config_home: None,
            xdg_runtime_dir: None,
            dbus_session_bus_address: None,
            coffer_home: None,
            path: None,
            uid: 501,
        }
    }

    /// The first executable `name` in an absolute directory of `PATH`.
    pub(super) fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_only_in_absolute_executable_places() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        let mut e = Environment::for_tests(dir.path());
        assert_eq!(e.find_program("tool"), None, "no PATH, nothing found");
        e.path = Some(std::env::join_paths(["relative/bin", bin.to_str().unwrap()]).unwrap());
        assert_eq!(e.find_program("tool"), None, "not executable yet");
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(e.find_program("tool"), Some(tool));
        assert_eq!(e.find_program("bin"), None, "a directory is no program");
    }

    #[test]
    fn paths_follow_xdg_config_home_and_coffer_home() {
        let mut e = Environment::for_tests(Path::new("/home/ann"));
        assert_eq!(
            e.systemd_unit_dir(),
            Path::new("/home/ann/.config/systemd/user")
        );
        assert_eq!(
            e.launchd_runtime_dir(),
            Path::new("/home/ann/Library/Application Support/coffer/run")
        );
        e.xdg_config_home = Some(PathBuf::from("/cfg"));
        e.coffer_home = Some(PathBuf::from("/ch"));
        assert_eq!(e.systemd_unit_dir(), Path::new("/cfg/systemd/user"));
        assert_eq!(e.launchd_runtime_dir(), Path::new("/ch/run"));
        assert_eq!(
            e.launch_agent_path(),
            Path::new("/home/ann/Library/LaunchAgents/org.coffer.cofferd.plist")
        );
    }
}
