//! The freedesktop trash in a device's HOME (`~/.local/share/Trash`), where
//! a reset puts the container and sync files it displaces, each with a
//! `.trashinfo` naming where it was, so that nothing is destroyed.

use std::path::{Path, PathBuf};

use crate::Device;

/// The trash's `files` directory of `dev`.
pub fn files_dir(dev: &Device) -> PathBuf {
    dev.home().join(".local/share/Trash/files")
}

/// The trash's `info` directory of `dev`.
pub fn info_dir(dev: &Device) -> PathBuf {
    dev.home().join(".local/share/Trash/info")
}

/// The `.trashinfo` of a trashed file (in [`info_dir`], named after it).
pub fn info_file(dev: &Device, trashed: &Path) -> PathBuf {
    let name = trashed
        .file_name()
        .unwrap_or_else(|| panic!("a trashed file has a name: {}", trashed.display()))
        .to_string_lossy();
    info_dir(dev).join(format!("{name}.trashinfo"))
}

/// Decodes the `%XX` escapes of a `.trashinfo` `Path=` value (a `%` not
/// followed by two hex digits stays as it is).
pub fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(Ok(b)) = v.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The original path the `.trashinfo` of `trashed` records, checking that
/// it is one (`[Trash Info]` first, a deletion date).
pub fn original_path(dev: &Device, trashed: &Path) -> String {
    let info = info_file(dev, trashed);
    let body = std::fs::read_to_string(&info).unwrap_or_else(|e| panic!("{}: {e}", info.display()));
    assert!(body.starts_with("[Trash Info]\n"), "{body}");
    assert!(body.contains("\nDeletionDate="), "{body}");
    let path = body
        .lines()
        .find_map(|l| l.strip_prefix("Path="))
        .unwrap_or_else(|| panic!("no Path= in {body}"));
    percent_decode(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_stray_percents_kept() {
        assert_eq!(
            percent_decode("/tmp/a%20b/%C3%BC.coffer"),
            "/tmp/a b/ü.coffer"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
