//! Moving files to the user's trash: coffer never unlinks user data.
//!
//! Linux follows the freedesktop.org Trash specification: the home trash
//! `$XDG_DATA_HOME/Trash` (`~/.local/share/Trash`) for files on the same
//! filesystem, else the top-directory trash `$topdir/.Trash-$uid`; each
//! trashed file gets a `.trashinfo` with its original path and deletion
//! date, so desktop file managers can restore it. macOS uses `~/.Trash`.
//! If neither trash can take the file by rename, it is copied into the home
//! trash, the copy is synced, and only then is the original removed.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Moves `path` (file or directory) to the trash and returns where it went.
pub fn move_to_trash(path: &Path) -> io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    let home_trash = home_trash_dir()?;
    if cfg!(target_os = "macos") {
        fs::create_dir_all(&home_trash)?;
        let dest = unique_dest(&home_trash, &path)?;
        fs::rename(&path, &dest)?;
        return Ok(dest);
    }
    let meta = fs::symlink_metadata(&path)?;
    let candidates = {
        let mut c = vec![home_trash.clone()];
        if let Some(top) = topdir_trash(&path, meta.dev()) {
            c.push(top);
        }
        c
    };
    for trash in &candidates {
        if let Ok(dest) = trash_by_rename(trash, &path) {
            return Ok(dest);
        }
    }
    // Different filesystem and no usable top-directory trash: copy, then remove.
    trash_by_copy(&home_trash, &path)
}

fn home_trash_dir() -> io::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "HOME is not set"))?;
    if cfg!(target_os = "macos") {
        return Ok(home.join(".Trash"));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".local/share"));
    Ok(data.join("Trash"))
}

fn topdir_trash(path: &Path, dev: u64) -> Option<PathBuf> {
    // Walk up to the mount point: the highest ancestor on the same device.
    let mut top = path.parent()?.to_path_buf();
    while let Some(parent) = top.parent() {
        match fs::metadata(parent) {
            Ok(m) if m.dev() == dev => top = parent.to_path_buf(),
            _ => break,
        }
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    Some(top.join(format!(".Trash-{uid}")))
}

fn trash_by_rename(trash: &Path, path: &Path) -> io::Result<PathBuf> {
    let (dest, info_file) = reserve_in(trash, path)?;
    match fs::rename(path, &dest) {
        Ok(()) => Ok(dest),
        Err(e) => {
            let _ = fs::remove_file(&info_file);
            Err(e)
        }
    }
}

fn trash_by_copy(trash: &Path, path: &Path) -> io::Result<PathBuf> {
    let (dest, _) = reserve_in(trash, path)?;
    if fs::symlink_metadata(path)?.is_dir() {
        copy_dir(path, &dest)?;
        fs::remove_dir_all(path)?;
    } else {
        fs::copy(path, &dest)?;
        fs::File::open(&dest)?.sync_all()?;
        fs::remove_file(path)?;
    }
    Ok(dest)
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            fs::copy(e.path(), &target)?;
            fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

/// Names to try for `path` in a trash: its own name, then `NAME<sep>1`, …
fn candidate_names(path: &Path, sep: &'static str) -> impl Iterator<Item = String> {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "coffer-file".into());
    (0..10_000u32).map(move |n| {
        if n == 0 {
            base.clone()
        } else {
            format!("{base}{sep}{n}")
        }
    })
}

/// [`reserve`] in the `files/` and `info/` folders of `trash` (created 0700).
fn reserve_in(trash: &Path, path: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let files = trash.join("files");
    let info = trash.join("info");
    coffer_proto::dirs::create_private_dir(&files)?;
    coffer_proto::dirs::create_private_dir(&info)?;
    reserve(&files, &info, path)
}

/// Claims a unique name in `files` by creating its `.trashinfo` first
/// (O_EXCL), as the spec asks.
fn reserve(files: &Path, info: &Path, path: &Path) -> io::Result<(PathBuf, PathBuf)> {
    for name in candidate_names(path, ".") {
        let info_file = info.join(format!("{name}.trashinfo"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&info_file)
        {
            Ok(mut f) => {
                let body = format!(
                    "[Trash Info]\nPath={}\nDeletionDate={}\n",
                    percent_encode(&path.to_string_lossy()),
                    deletion_date()
                );
                f.write_all(body.as_bytes())?;
                f.sync_all()?;
                if files.join(&name).exists() {
                    let _ = fs::remove_file(&info_file);
                    continue;
                }
                return Ok((files.join(&name), info_file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free name in the trash"))
}

fn unique_dest(dir: &Path, path: &Path) -> io::Result<PathBuf> {
    candidate_names(path, " ")
        .map(|name| dir.join(name))
        .find(|dest| !dest.exists())
        .ok_or_else(|| io::Error::other("no free name in the trash"))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn deletion_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes into the tm we own.
    unsafe { libc::localtime_r(&now, &mut tm) };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
