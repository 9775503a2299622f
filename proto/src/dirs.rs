//! Every path coffer uses, resolved in one place from the environment, so
//! that the daemon and the CLI always agree on where the socket is.
//!
//! | what | `COFFER_HOME=D` | Linux (XDG) | macOS |
//! | --- | --- | --- | --- |
//! | config | `D/config` | `$XDG_CONFIG_HOME/coffer` (`~/.config/coffer`) | `~/Library/Application Support/coffer` |
//! | data (containers) | `D/data` | `$XDG_DATA_HOME/coffer` (`~/.local/share/coffer`) | `~/Library/Application Support/coffer/data` |
//! | state (logs, lock) | `D/state` | `$XDG_STATE_HOME/coffer` (`~/.local/state/coffer`) | `~/Library/Logs/coffer` |
//! | runtime (sockets) | `D/run` | `$XDG_RUNTIME_DIR/coffer`, else `<state>/run` | `~/Library/Application Support/coffer/run` |
//!
//! The fallback for a missing `XDG_RUNTIME_DIR` lives under the user's own
//! state directory (not in `/tmp`), so it is private by construction and two
//! HOMEs on one machine never share a socket. Directories are created 0700
//! by [`Dirs::create`]; the daemon also checks ownership and modes.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The SSH agent socket's file name in the runtime directory.
pub const SSH_AGENT_SOCKET: &str = "ssh-agent.sock";

/// The resolved paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// `config.toml` lives here.
    pub config: PathBuf,
    /// Containers live here.
    pub data: PathBuf,
    /// The lock file and the log file live here.
    pub state: PathBuf,
    /// The socket's directory (0700).
    pub runtime: PathBuf,
}

/// An environment to resolve paths from (the process's by default; tests
/// pass their own).
pub trait Env {
    /// The value of a variable, if set and not empty.
    fn var(&self, name: &str) -> Option<OsString>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name).filter(|v| !v.is_empty())
    }
}

impl Dirs {
    /// Resolves from the process environment.
    pub fn from_env() -> io::Result<Dirs> {
        Self::resolve(&ProcessEnv)
    }

    /// Resolves from `env`.
    pub fn resolve(env: &dyn Env) -> io::Result<Dirs> {
        if let Some(home) = env.var("COFFER_HOME") {
            let d = absolute(PathBuf::from(home), "COFFER_HOME")?;
            return Ok(Dirs {
                config: d.join("config"),
                data: d.join("data"),
                state: d.join("state"),
                runtime: d.join("run"),
            });
        }
        let home = env.var("HOME").map(PathBuf::from).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "HOME is not set; set HOME or COFFER_HOME to say where coffer keeps its files",
            )
        })?;
        let home = absolute(home, "HOME")?;
        let xdg = |name: &str, default: &str| -> PathBuf {
            env.var(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(default))
                .join("coffer")
        };
        if cfg!(target_os = "macos") {
            let support = home.join("Library/Application Support/coffer");
            return Ok(Dirs {
                config: support.clone(),
                data: support.join("data"),
                state: home.join("Library/Logs/coffer"),
                runtime: support.join("run"),
            });
        }
        let state = xdg("XDG_STATE_HOME", ".local/state");
        let runtime = match env.var("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(r) if r.is_absolute() => r.join("coffer"),
            _ => state.join("run"),
        };
        Ok(Dirs {
            config: xdg("XDG_CONFIG_HOME", ".config"),
            data: xdg("XDG_DATA_HOME", ".local/share"),
            state,
            runtime,
        })
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join("coffer.sock")
    }

    /// The SSH agent's socket, beside the daemon's (`SSH_AUTH_SOCK`).
    pub fn ssh_agent_socket(&self) -> PathBuf {
        self.runtime.join(SSH_AGENT_SOCKET)
    }

    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The single-instance lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.state.join("cofferd.lock")
    }

    /// The log file used when the CLI started the daemon.
    pub fn log_file(&self) -> PathBuf {
        self.state.join("cofferd.log")
    }

    /// Creates every directory with mode 0700 (existing ones are left as
    /// they are; the daemon checks them).
    pub fn create(&self) -> io::Result<()> {
        for d in [&self.config, &self.data, &self.state, &self.runtime] {
            create_private_dir(d)?;
        }
        Ok(())
    }
}

/// Creates `dir` and its missing parents, the last component with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn absolute(p: PathBuf, var: &str) -> io::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{var} must be an absolute path, not {}", p.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);
    impl Env for Map {
        fn var(&self, name: &str) -> Option<OsString> {
            self.0.get(name).map(OsString::from)
        }
    }

    #[test]
    fn coffer_home_wins() {
        let env = Map(HashMap::from([("COFFER_HOME", "/c"), ("HOME", "/h")]));
        let d = Dirs::resolve(&env).unwrap();
        assert_eq!(d.socket(), PathBuf::from("/c/run/coffer.sock"));
        assert_eq!(d.ssh_agent_socket(), PathBuf::from("/c/run/ssh-agent.sock"));
        assert_eq!(d.data, PathBuf::from("/c/data"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn xdg_and_fallback() {
        let env = Map(HashMap::from([("HOME", "/h")]));
        let d = Dirs::resolve(&env).unwrap();
        assert_eq!(d.runtime, PathBuf::from("/h/.local/state/coffer/run"));
        assert_eq!(
            d.config_file(),
            PathBuf::from("/h/.config/coffer/config.toml")
        );
        let env = Map(HashMap::from([
            ("HOME", "/h"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
        ]));
        assert_eq!(
            Dirs::resolve(&env).unwrap().socket(),
            PathBuf::from("/run/user/1/coffer/coffer.sock")
        );
    }

    #[test]
    fn relative_paths_are_refused() {
        let env = Map(HashMap::from([("COFFER_HOME", "rel")]));
        assert!(Dirs::resolve(&env).is_err());
        assert!(Dirs::resolve(&Map(HashMap::new())).is_err());
    }
}
