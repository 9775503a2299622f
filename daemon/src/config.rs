//! The daemon's configuration file, `config.toml` in the config directory.
//!
//! Every key is optional; the defaults are:
//!
//! ```toml
//! # Lock and purge the key after this long without use ("status" does not
//! # count as use). A number of seconds or a duration such as "15m", "1h".
//! # "0" never locks.
//! lock_timeout = "15m"
//! # This device's friendly name, shown to other devices (default: hostname).
//! # device_name = "laptop"
//! # How long at most to wait for a burst of file events to settle before a
//! # sync round (less once every file in it is closed or renamed into place).
//! debounce_ms = 75
//! # Folders the OS cannot watch (network mounts) are polled this often.
//! poll_interval_secs = 30
//! # `coffer get --clip` and `totp --clip`: clear the clipboard after this
//! # many seconds (1 to 86400), if it still holds the copied value.
//! clipboard_clear_secs = 30
//! # Serve the vault's SSH keys on $XDG_RUNTIME_DIR/coffer/ssh-agent.sock.
//! ssh_agent = true
//! # List the SSH keys (not sign) while the vault is locked. Needs their
//! # public keys and titles in the clear on disk: see docs/SECURITY.md.
//! ssh_agent_list_locked = false
//! # What the agent does with a key offered by `ssh-add FILE`: "refuse",
//! # or "store" it as an item (the vault must be unlocked).
//! ssh_agent_add = "refuse"
//! # After a reset each device removes its own sync files of the old epoch.
//! # Those of a device that never comes back are moved to the trash by a
//! # device signed in to the new epoch once nobody wrote them for this long,
//! # one device's files at a time, at most one device's per folder per
//! # `stale_file_pace` (so that no engine sees a mass deletion). Durations
//! # as for lock_timeout.
//! stale_file_grace = "7d"
//! stale_file_pace = "1h"
//! ```
//!
//! A bad file is an error naming the file, the line and the key.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::ssh_agent::AddPolicy;

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Idle time before locking (`None` = never).
    pub lock_timeout: Option<Duration>,
    /// Friendly device name.
    pub device_name: Option<String>,
    /// Longest debounce for file events (a burst whose files are all
    /// complete settles sooner: see `watch`).
    pub debounce: Duration,
    /// Polling interval for unwatchable folders.
    pub poll_interval: Duration,
    /// How long a copied value stays on the clipboard.
    pub clipboard_clear: Duration,
    /// The SSH agent (`ssh_agent`, `ssh_agent_list_locked`, `ssh_agent_add`).
    pub ssh_agent: SshAgentConfig,
    /// How long a stale sync file (of an earlier epoch) must have gone
    /// unwritten before a device of the new epoch moves it to the trash.
    pub stale_file_grace: Duration,
    /// At most one device's stale files per folder are moved to the trash
    /// per this long.
    pub stale_file_pace: Duration,
}

/// The SSH agent's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshAgentConfig {
    /// Whether the daemon serves the agent socket at all.
    pub enabled: bool,
    /// Whether keys are listed while the vault is locked.
    pub list_locked: bool,
    /// What to do with keys offered by `ssh-add`.
    pub add: AddPolicy,
}

impl Default for SshAgentConfig {
    fn default() -> Self {
        SshAgentConfig {
            enabled: true,
            list_locked: false,
            add: AddPolicy::Refuse,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lock_timeout: Some(Duration::from_secs(15 * 60)),
            device_name: None,
            debounce: Duration::from_millis(75),
            poll_interval: Duration::from_secs(30),
            clipboard_clear: Duration::from_secs(30),
            ssh_agent: SshAgentConfig::default(),
            stale_file_grace: Duration::from_secs(7 * 86400),
            stale_file_pace: Duration::from_secs(3600),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    lock_timeout: Option<DurationValue>,
    device_name: Option<String>,
    debounce_ms: Option<u64>,
    poll_interval_secs: Option<u64>,
    clipboard_clear_secs: Option<u64>,
    ssh_agent: Option<bool>,
    ssh_agent_list_locked: Option<bool>,
    ssh_agent_add: Option<String>,
    stale_file_grace: Option<DurationValue>,
    stale_file_pace: Option<DurationValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Secs(u64),
    Text(String),
}

/// The configuration file is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

impl Config {
    /// Loads `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                path: path.display().to_string(),
                line: 0,
                message: format!("cannot read the config file: {e}"),
            }),
        }
    }

    /// Parses the text of a config file.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let err = |line: usize, message: String| ConfigError {
            path: path.display().to_string(),
            line,
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            err(line, e.message().to_string())
        })?;
        let line_of = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1)
                .unwrap_or(0)
        };
        let duration = |key: &str, v: DurationValue| match v {
            DurationValue::Secs(s) => Ok(Duration::from_secs(s)),
            DurationValue::Text(t) => parse_duration(&t).ok_or_else(|| {
                err(
                    line_of(key),
                    format!("{key}: {t:?} is not a duration; write e.g. \"15m\", \"90s\" or 900"),
                )
            }),
        };
        let mut c = Config::default();
        if let Some(v) = raw.lock_timeout {
            let d = duration("lock_timeout", v)?;
            c.lock_timeout = (!d.is_zero()).then_some(d);
        }
        for (key, value, slot) in [
            (
                "stale_file_grace",
                raw.stale_file_grace,
                &mut c.stale_file_grace,
            ),
            (
                "stale_file_pace",
                raw.stale_file_pace,
                &mut c.stale_file_pace,
            ),
        ] {
            if let Some(v) = value {
                let d = duration(key, v)?;
                if d.is_zero() {
                    return Err(err(line_of(key), format!("{key}: must be at least 1s")));
                }
                *slot = d;
            }
        }
        if let Some(n) = raw.device_name {
            if n.trim().is_empty() || n.len() > 64 {
                return Err(err(
                    line_of("device_name"),
                    "device_name: must be 1 to 64 characters".into(),
                ));
            }
            c.device_name = Some(n);
        }
        if let Some(ms) = raw.debounce_ms {
            if ms > 10_000 {
                return Err(err(
                    line_of("debounce_ms"),
                    "debounce_ms: at most 10000".into(),
                ));
            }
            c.debounce = Duration::from_millis(ms);
        }
        if let Some(s) = raw.poll_interval_secs {
            if s == 0 {
                return Err(err(
                    line_of("poll_interval_secs"),
                    "poll_interval_secs: must be at least 1".into(),
                ));
            }
            c.poll_interval = Duration::from_secs(s);
        }
        if let Some(s) = raw.clipboard_clear_secs {
            if !(1..=86_400).contains(&s) {
                return Err(err(
                    line_of("clipboard_clear_secs"),
                    "clipboard_clear_secs: must be 1 to 86400 seconds".into(),
                ));
            }
            c.clipboard_clear = Duration::from_secs(s);
        }
        if let Some(on) = raw.ssh_agent {
            c.ssh_agent.enabled = on;
        }
        if let Some(on) = raw.ssh_agent_list_locked {
            c.ssh_agent.list_locked = on;
        }
        if let Some(policy) = raw.ssh_agent_add {
            c.ssh_agent.add = match policy.as_str() {
                "refuse" => AddPolicy::Refuse,
                "store" => AddPolicy::Store,
                other => {
                    return Err(err(
                        line_of("ssh_agent_add"),
                        format!("ssh_agent_add: {other:?} is neither \"refuse\" nor \"store\""),
                    ))
                }
            };
        }
        Ok(c)
    }
}

/// `"90s"`, `"15m"`, `"1h"`, `"2d"`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("/c/config.toml"))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(parse("").unwrap(), Config::default());
        let c = parse("lock_timeout = \"1h\"\ndevice_name = \"pc\"\n").unwrap();
        assert_eq!(c.lock_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(c.device_name.as_deref(), Some("pc"));
        assert_eq!(parse("lock_timeout = 0").unwrap().lock_timeout, None);
        assert_eq!(
            parse("lock_timeout = 5").unwrap().lock_timeout,
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn ssh_agent_settings() {
        let d = parse("").unwrap().ssh_agent;
        assert!(d.enabled && !d.list_locked);
        assert_eq!(d.add, AddPolicy::Refuse);
        let c =
            parse("ssh_agent = false\nssh_agent_list_locked = true\nssh_agent_add = \"store\"\n")
                .unwrap()
                .ssh_agent;
        assert!(!c.enabled && c.list_locked);
        assert_eq!(c.add, AddPolicy::Store);
        let e = parse("\nssh_agent_add = \"keep\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("ssh_agent_add"), "{e}");
        assert!(e.to_string().contains("refuse"), "{e}");
        let e = parse("ssh_agent = \"yes\"").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn stale_file_grace_and_pace() {
        let c = parse("").unwrap();
        assert_eq!(c.stale_file_grace, Duration::from_secs(7 * 86400));
        assert_eq!(c.stale_file_pace, Duration::from_secs(3600));
        let c = parse("stale_file_grace = \"2s\"\nstale_file_pace = 5\n").unwrap();
        assert_eq!(c.stale_file_grace, Duration::from_secs(2));
        assert_eq!(c.stale_file_pace, Duration::from_secs(5));
        let e = parse("\nstale_file_pace = \"0\"").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string()
                .contains("stale_file_pace: must be at least 1s"),
            "{e}"
        );
        let e = parse("stale_file_grace = \"a week\"").unwrap_err();
        assert!(e.to_string().contains("stale_file_grace"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("debounce_ms = 5\nlock_timout = 3\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/c/config.toml:2:"), "{s}");
        assert!(s.contains("lock_timout"), "{s}");
        let e = parse("\n\nlock_timeout = \"soon\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("lock_timeout"));
        let e = parse("debounce_ms = \"x\"").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("clipboard_clear_secs = 0").unwrap_err();
        assert!(e.to_string().contains("clipboard_clear_secs"), "{e}");
        assert_eq!(
            parse("clipboard_clear_secs = 5").unwrap().clipboard_clear,
            Duration::from_secs(5)
        );
    }
}
