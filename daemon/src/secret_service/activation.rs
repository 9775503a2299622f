//! The D-Bus activation file that starts cofferd when a client asks for
//! `org.freedesktop.secrets` and nobody provides it.
//!
//! The template is `systemd/org.freedesktop.secrets.service` (compiled in);
//! [`render`] fills in cofferd's absolute path (and `COFFER_HOME`, through
//! `/usr/bin/env`, for buses that run `Exec=` directly; under systemd the
//! unit's own `Environment=` applies), and keeps `SystemdService=
//! cofferd.service` only when that unit is installed ([`systemd_unit`]): a
//! bus that activates through systemd then starts the unit (and would fail
//! on a unit that does not exist), any other runs `Exec=`. [`install`] writes it as
//! `$XDG_DATA_HOME/dbus-1/services/org.freedesktop.secrets.service`, which
//! the session bus reads before the system's own directories (so it wins
//! over gnome-keyring's activation file), and [`remove`] takes it away. Both
//! leave alone a file there that is not coffer's (another provider's), and
//! say so.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::owner::BUS_NAME;

/// The template (its `Exec=` holds the placeholder [`EXEC_PLACEHOLDER`]).
pub const TEMPLATE: &str = include_str!("../../../systemd/org.freedesktop.secrets.service");
/// The template's `Exec=` line.
pub const EXEC_PLACEHOLDER: &str = "Exec=@COFFERD@";
/// The file's name in a `dbus-1/services` directory.
pub const FILE_NAME: &str = "org.freedesktop.secrets.service";
/// The line that marks the file as coffer's (the template's first).
const MARKER: &str = "# D-Bus activation of cofferd as the Secret Service provider";
/// The template's line naming the systemd unit.
pub const SYSTEMD_LINE: &str = "SystemdService=cofferd.service";

/// Why the activation file could not be made, written or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationFileError {
    /// A path cannot go into the file.
    #[error("{} cannot go into the D-Bus activation file: {problem}; install cofferd under a plainer path", path.display())]
    UnusablePath {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Another program's activation file is in the way.
    #[error("{} belongs to another Secret Service provider, not coffer; move it away, then run `coffer secret-service enable` again", path.display())]
    NotOurs {
        /// The file.
        path: PathBuf,
    },
    /// Reading, writing or removing failed.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was tried.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn checked(path: &Path) -> Result<&str, ActivationFileError> {
    let unusable = |problem| ActivationFileError::UnusablePath {
        path: path.to_path_buf(),
        problem,
    };
    let s = path.to_str().ok_or(unusable("it is not valid UTF-8"))?;
    if !path.is_absolute() {
        return Err(unusable("it is not an absolute path"));
    }
    if s.chars().any(char::is_control) {
        return Err(unusable("it contains a control character"));
    }
    Ok(s)
}

/// `s` as one word of an `Exec=` line (the bus splits it as a shell
/// would): bare when plain, else single-quoted.
fn exec_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._+-,:@=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The activation file for `cofferd` (absolute), with `coffer_home` passed
/// on when set, naming the systemd unit when `systemd_unit` (it is
/// installed).
pub fn render(
    cofferd: &Path,
    coffer_home: Option<&Path>,
    systemd_unit: bool,
) -> Result<String, ActivationFileError> {
    let exe = exec_word(checked(cofferd)?);
    let exec = match coffer_home {
        None => format!("Exec={exe}"),
        Some(h) => format!(
            "Exec=/usr/bin/env {} {exe}",
            exec_word(&format!("COFFER_HOME={}", checked(h)?))
        ),
    };
    let mut out = String::with_capacity(TEMPLATE.len() + exec.len());
    let mut replaced = false;
    for line in TEMPLATE.lines() {
        if line == EXEC_PLACEHOLDER && !replaced {
            out.push_str(&exec);
            replaced = true;
        } else if line == SYSTEMD_LINE && !systemd_unit {
            continue;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    // The template is compiled in, and a unit test checks the line.
    debug_assert!(replaced, "the template has {EXEC_PLACEHOLDER}");
    Ok(out)
}

/// Whether coffer's systemd user unit is installed (`coffer autostart
/// enable` writes it): `$XDG_CONFIG_HOME/systemd/user/cofferd.service`,
/// else `~/.config/systemd/user/cofferd.service`.
pub fn systemd_unit(home: &Path, xdg_config_home: Option<&Path>) -> bool {
    let config = match xdg_config_home.filter(|p| p.is_absolute()) {
        Some(d) => d.to_path_buf(),
        None => home.join(".config"),
    };
    config.join("systemd/user/cofferd.service").is_file()
}

/// Whether `dir` holds coffer's activation file (not another provider's).
pub fn installed(dir: &Path) -> bool {
    fs::read_to_string(dir.join(FILE_NAME)).is_ok_and(|t| is_ours(&t))
}

/// Where the session bus looks for the user's activation files:
/// `$XDG_DATA_HOME/dbus-1/services`, else `~/.local/share/dbus-1/services`.
pub fn services_dir(home: &Path, xdg_data_home: Option<&Path>) -> PathBuf {
    match xdg_data_home.filter(|p| p.is_absolute()) {
        Some(d) => d.join("dbus-1/services"),
        None => home.join(".local/share/dbus-1/services"),
    }
}

fn is_ours(text: &str) -> bool {
    text.lines().any(|l| l.trim() == MARKER)
        && text.lines().any(|l| l.trim() == format!("Name={BUS_NAME}"))
}

/// Writes `contents` as the activation file in `dir` (made if missing),
/// atomically. `Ok(false)` when it already had these contents;
/// [`ActivationFileError::NotOurs`] when another provider's file is there.
pub fn install(dir: &Path, contents: &str) -> Result<bool, ActivationFileError> {
    let path = dir.join(FILE_NAME);
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ActivationFileError::Io { what, path, source }
    };
    match fs::read_to_string(&path) {
        Ok(old) if old == contents => return Ok(false),
        Ok(old) if !is_ours(&old) => return Err(ActivationFileError::NotOurs { path }),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", &path)(e)),
    }
    fs::create_dir_all(dir).map_err(io("create the directory", dir))?;
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io("write", &path)(e));
    }
    Ok(true)
}

/// Removes coffer's activation file from `dir`. `Ok(false)` when there was
/// none; another provider's file is left alone ([`ActivationFileError::NotOurs`]).
pub fn remove(dir: &Path) -> Result<bool, ActivationFileError> {
    let path = dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(old) if !is_ours(&old) => Err(ActivationFileError::NotOurs { path }),
        Ok(_) => match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(ActivationFileError::Io {
                what: "remove",
                path,
                source,
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ActivationFileError::Io {
            what: "read",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_the_lines_render_needs() {
        assert_eq!(
            TEMPLATE.lines().filter(|l| *l == EXEC_PLACEHOLDER).count(),
            1
        );
        assert!(TEMPLATE.contains("[D-BUS Service]"));
        assert!(is_ours(TEMPLATE));
        assert_eq!(TEMPLATE.lines().next(), Some(MARKER));
        assert_eq!(TEMPLATE.lines().filter(|l| *l == SYSTEMD_LINE).count(), 1);
    }

    #[test]
    fn render_fills_in_the_path_and_quotes_when_needed() {
        let f = render(Path::new("/home/a/.local/bin/cofferd"), None, true).unwrap();
        assert!(f.contains("\nExec=/home/a/.local/bin/cofferd\n"));
        assert!(!f.lines().any(|l| l == EXEC_PLACEHOLDER));
        assert!(f.contains("\nName=org.freedesktop.secrets\n"));
        assert!(f.contains("\nSystemdService=cofferd.service\n"));
        let without = render(Path::new("/home/a/.local/bin/cofferd"), None, false).unwrap();
        assert!(
            !without.lines().any(|l| l.starts_with("SystemdService=")),
            "{without}"
        );
        assert!(without.contains("\nExec=/home/a/.local/bin/cofferd\n"));
        assert!(is_ours(&without), "still recognised as coffer's");
        let f = render(
            Path::new("/opt/my apps/it's/cofferd"),
            Some(Path::new("/tmp/c h")),
            true,
        )
        .unwrap();
        assert!(
            f.contains(
                "\nExec=/usr/bin/env 'COFFER_HOME=/tmp/c h' '/opt/my apps/it'\\''s/cofferd'\n"
            ),
            "{f}"
        );
        assert!(matches!(
            render(Path::new("cofferd"), None, true),
            Err(ActivationFileError::UnusablePath { .. })
        ));
        assert!(matches!(
            render(Path::new("/a\nb"), None, true),
            Err(ActivationFileError::UnusablePath { .. })
        ));
    }

    #[test]
    fn the_systemd_unit_is_found_where_autostart_writes_it() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(!systemd_unit(tmp.path(), None));
        let unit = tmp.path().join(".config/systemd/user/cofferd.service");
        fs::create_dir_all(unit.parent().unwrap()).unwrap();
        fs::write(&unit, "[Service]\n").unwrap();
        assert!(systemd_unit(tmp.path(), None));
        assert!(!systemd_unit(tmp.path(), Some(&tmp.path().join("xdg"))));
    }

    #[test]
    fn services_dir_follows_xdg() {
        assert_eq!(
            services_dir(Path::new("/home/a"), None),
            PathBuf::from("/home/a/.local/share/dbus-1/services")
        );
        assert_eq!(
            services_dir(Path::new("/home/a"), Some(Path::new("/x/share"))),
            PathBuf::from("/x/share/dbus-1/services")
        );
        assert_eq!(
            services_dir(Path::new("/home/a"), Some(Path::new("rel"))),
            PathBuf::from("/home/a/.local/share/dbus-1/services")
        );
    }

    #[test]
    fn install_and_remove_leave_other_providers_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dbus-1/services");
        let f = render(Path::new("/usr/bin/cofferd"), None, false).unwrap();
        assert!(!installed(&dir));
        assert!(install(&dir, &f).unwrap());
        assert!(installed(&dir));
        assert!(!install(&dir, &f).unwrap(), "idempotent");
        assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), f);
        let g = render(Path::new("/usr/local/bin/cofferd"), None, true).unwrap();
        assert!(install(&dir, &g).unwrap(), "an update of our own file");
        assert!(remove(&dir).unwrap());
        assert!(!remove(&dir).unwrap());
        let theirs = "[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/usr/bin/keepassxc\n";
        fs::write(dir.join(FILE_NAME), theirs).unwrap();
        assert!(matches!(
            install(&dir, &f),
            Err(ActivationFileError::NotOurs { .. })
        ));
        assert!(matches!(
            remove(&dir),
            Err(ActivationFileError::NotOurs { .. })
        ));
        assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), theirs);
        assert!(!installed(&dir), "another provider's file is not ours");
        assert!(
            fs::read_dir(&dir).unwrap().count() == 1,
            "no temp file left behind"
        );
    }
}
