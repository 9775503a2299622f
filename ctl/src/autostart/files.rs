//! The login item's files on disk: written atomically only when they
//! change, linked, removed, and compared with what `enable` would write.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::{AutostartError, AutostartReport};

/// Writes `contents` to `path` (mode 0644) unless it already holds exactly
/// that; returns whether it wrote. The file is replaced by a rename, so a
/// service manager never reads half a unit.
pub(super) fn write_if_changed(path: &Path, contents: &str) -> Result<bool, AutostartError> {
    if fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(false);
    }
    let dir = path
        .parent()
        .expect("login item files are absolute paths inside a directory");
    fs::create_dir_all(dir).map_err(|e| AutostartError::file("create the directory", dir, e))?;
    let name = path
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_default();
    let mut tmp_name = OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(AutostartError::file("write", path, e));
    }
    Ok(true)
}

/// Removes `path` if it exists; returns whether it did.
pub(super) fn remove_if_present(path: &Path) -> Result<bool, AutostartError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AutostartError::file("remove", path, e)),
    }
}

/// Makes `link` a symlink to `target`; returns whether it changed.
pub(super) fn link_to(link: &Path, target: &Path) -> Result<bool, AutostartError> {
    if fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(false);
    }
    if is_symlink(link) {
        fs::remove_file(link).map_err(|e| AutostartError::file("remove", link, e))?;
    }
    let dir = link.parent().expect("wants links live in a directory");
    fs::create_dir_all(dir)
        .map_err(|e| AutostartError::file("create the directory for", link, e))?;
    symlink(target, link).map_err(|e| AutostartError::file("link", link, e))?;
    Ok(true)
}

/// Whether `path` is a symlink (not following it).
pub(super) fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Creates `dir` and its parents, the new ones with mode 0700.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), AutostartError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| AutostartError::file("create the directory", dir, e))
}

/// Looks at one installed file for `status`: records it in the report and
/// returns (whether it exists, whether it is what `enable` would write).
pub(super) fn check_file(
    path: &Path,
    expected: Option<&str>,
    report: &mut AutostartReport,
) -> Result<(bool, bool), AutostartError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.say(format!("{} is not installed", path.display()));
            return Ok((false, false));
        }
        Err(e) => return Err(AutostartError::file("read", path, e)),
    };
    report.files.push(path.to_path_buf());
    let current = expected == Some(text.as_str());
    let shown = path.display();
    report.say(match expected {
        _ if current => format!("{shown} is installed"),
        Some(_) => {
            let exec = text
                .lines()
                .find(|l| l.starts_with("ExecStart="))
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            format!(
                "{shown} is installed but differs from what `coffer autostart enable` would \
                 write now{exec}; run `coffer autostart enable` to update it"
            )
        }
        None => format!("{shown} is installed (no usable cofferd found to compare it with)"),
    });
    Ok((true, current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_only_what_changed_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a/b/unit");
        assert!(write_if_changed(&f, "one\n").unwrap());
        assert!(!write_if_changed(&f, "one\n").unwrap());
        assert!(write_if_changed(&f, "two\n").unwrap());
        assert_eq!(fs::read_to_string(&f).unwrap(), "two\n");
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let names: Vec<_> = fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(remove_if_present(&f).unwrap());
        assert!(!remove_if_present(&f).unwrap());
    }

    #[test]
    fn links_are_made_once_and_repointed() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("wants/x");
        assert!(link_to(&link, Path::new("/one")).unwrap());
        assert!(!link_to(&link, Path::new("/one")).unwrap());
        assert!(link_to(&link, Path::new("/two")).unwrap());
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("/two"));
        assert!(is_symlink(&link));
        // A regular file of that name is not ours to replace.
        let file = dir.path().join("wants/y");
        fs::write(&file, "").unwrap();
        let err = link_to(&file, Path::new("/one")).unwrap_err();
        assert!(err.to_string().starts_with("cannot link"), "{err}");
    }
}
