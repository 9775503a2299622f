//! What a directory holds, as the tests compare it: the names in it (temp
//! files of coffer and the engines left out), every file with its bytes,
//! every file below it, and the temp files a writer left.
//!
//! Temp files are the hidden `.NAME….tmp` that coffer (and Syncthing)
//! write before renaming into place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Whether `name` is a hidden temp file (`.….tmp`), which no engine
/// replicates and no reader takes for a real file.
pub fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

fn entry_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The names in `dir` (empty when it does not exist), without temp files.
pub fn names(dir: &Path) -> BTreeSet<String> {
    entry_names(dir)
        .into_iter()
        .filter(|n| !is_temp(n))
        .collect()
}

/// The temp files in `dir` (empty when it does not exist), sorted.
pub fn temp_names(dir: &Path) -> Vec<String> {
    let mut temps: Vec<String> = entry_names(dir)
        .into_iter()
        .filter(|n| is_temp(n))
        .collect();
    temps.sort();
    temps
}

/// Writes `bytes` to `path` as a restore, an editor or most engines would:
/// a temp file beside it, then a rename, so that no daemon reads it half
/// written.
pub fn put(path: &Path, bytes: &[u8]) {
    let name = path
        .file_name()
        .unwrap_or_else(|| panic!("{} has no file name", path.display()))
        .to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.put.tmp"));
    std::fs::write(&temp, bytes).unwrap_or_else(|e| panic!("{}: {e}", temp.display()));
    std::fs::rename(&temp, path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Every file in `dir` (not below it, temps left out) with its bytes.
pub fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    names(dir)
        .into_iter()
        .filter_map(|n| std::fs::read(dir.join(&n)).ok().map(|b| (n, b)))
        .collect()
}

/// Every entry below `root` that is not a directory (symlinks not
/// followed), as full paths, sorted; empty when `root` does not exist.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path(), out),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

/// [`files_under`], relative to `root`.
pub fn relative_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temps_are_told_apart_and_files_are_found_below() {
        let d = crate::short_tempdir("cf");
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/deep"), b"1").unwrap();
        std::fs::write(root.join("top"), b"2").unwrap();
        std::fs::write(root.join(".top.123-4.tmp"), b"3").unwrap();
        assert_eq!(
            names(root),
            BTreeSet::from(["a".to_owned(), "top".to_owned()])
        );
        assert_eq!(temp_names(root), [".top.123-4.tmp"]);
        assert_eq!(
            contents(root).get("top").map(Vec::as_slice),
            Some(&b"2"[..])
        );
        assert_eq!(
            relative_files(root),
            [
                PathBuf::from(".top.123-4.tmp"),
                PathBuf::from("a/b/deep"),
                PathBuf::from("top")
            ]
        );
        assert!(names(&root.join("missing")).is_empty());
        assert!(!is_temp("account.json") && !is_temp("x.tmp") && is_temp(".x.tmp"));
    }
}
