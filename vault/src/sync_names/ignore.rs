//! Names to skip: coffer's own temporary files, engines' temporary, partial,
//! placeholder and bookkeeping files, and the files operating systems put
//! in folders.

use super::IgnoreReason;

/// `Some(reason)` when the name is an engine's, the system's or coffer's own temporary name.
pub(super) fn ignore_reason(name: &str) -> Option<IgnoreReason> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Some(IgnoreReason::Unknown);
    }
    let lower = name.to_lowercase();
    if let Some(rest) = name.strip_prefix('.') {
        if lower.starts_with(".syncthing.") && lower.ends_with(".tmp") {
            return Some(IgnoreReason::EngineTemp);
        }
        if lower.starts_with(".unison.") || lower.starts_with(".rclone") {
            return Some(IgnoreReason::EngineTemp);
        }
        if is_unison_backup(&lower) {
            return Some(IgnoreReason::EngineMetadata);
        }
        if is_coffer_temp(rest) {
            return Some(IgnoreReason::CofferTemp);
        }
        if rest.starts_with('~') {
            // `.~lock.NAME#` (LibreOffice), `.~NAME` and Nextcloud's `.NAME.~1234` downloads.
            return Some(IgnoreReason::EngineTemp);
        }
        if lower.ends_with(".icloud") {
            return Some(IgnoreReason::Placeholder);
        }
        if is_engine_metadata(&lower) {
            return Some(IgnoreReason::EngineMetadata);
        }
        if is_system_dot_file(&lower) {
            return Some(IgnoreReason::SystemFile);
        }
        if lower.ends_with(".tmp") {
            return Some(IgnoreReason::CofferTemp);
        }
        if lower.contains(".~") {
            return Some(IgnoreReason::EngineTemp);
        }
        return Some(IgnoreReason::Hidden);
    }
    if (lower.starts_with("~syncthing~") && lower.ends_with(".tmp")) || name.starts_with("~$") {
        return Some(IgnoreReason::EngineTemp);
    }
    if matches!(
        lower.as_str(),
        "desktop.ini" | "thumbs.db" | "ehthumbs.db" | "icon\r" | "$recycle.bin"
    ) {
        return Some(IgnoreReason::SystemFile);
    }
    if lower == "rclone_test" || is_bisync_work_file(&lower) {
        return Some(IgnoreReason::EngineMetadata);
    }
    const PARTIAL: [&str; 7] = [
        ".part",
        ".partial",
        ".crdownload",
        ".download",
        ".!sync",
        ".!bt",
        ".opdownload",
    ];
    if PARTIAL.iter().any(|suffix| lower.ends_with(suffix)) {
        return Some(IgnoreReason::PartialDownload);
    }
    if lower.ends_with(".tmp") || lower.ends_with(".temp") {
        return Some(IgnoreReason::EngineTemp);
    }
    None
}

/// `<final>.<16 hex digits>.tmp`, the rest of a name [`temp_file_name`] made.
fn is_coffer_temp(rest: &str) -> bool {
    let Some(body) = rest.strip_suffix(".tmp") else {
        return false;
    };
    match body.rsplit_once('.') {
        Some((final_name, unique)) => {
            !final_name.is_empty()
                && unique.len() == 16
                && unique.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Engines' bookkeeping files and folders (`lower` starts with a dot).
fn is_engine_metadata(lower: &str) -> bool {
    const EXACT: [&str; 14] = [
        ".dropbox",
        ".dropbox.cache",
        ".dropbox.attr",
        ".dropbox.device",
        ".stfolder",
        ".stignore",
        ".stversions",
        ".sync",
        ".syncthing",
        ".owncloudsync.log",
        ".nextcloudsync.log",
        ".sync-exclude.lst",
        ".seafile-data",
        ".tmp.drivedownload",
    ];
    EXACT.contains(&lower)
        || lower.starts_with(".sync_")
        || lower.starts_with("._sync_")
        || lower.starts_with(".csync_journal")
        || lower.starts_with(".tmp.drive")
        || lower.starts_with(".sync.")
}

/// unison's local backups, `.bak.N.NAME` (`backuplocation = local`; `lower` starts with a dot).
fn is_unison_backup(lower: &str) -> bool {
    lower.strip_prefix(".bak.").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('.') && rest.len() > digits + 1
    })
}

/// rclone bisync's work files, should its `--workdir` be inside the folder:
/// `PATH1..PATH2.path1.lst`, `….lst-new`, `….lst-old`, `….lst-err`, `….lst-dry…`, `….lck`.
fn is_bisync_work_file(lower: &str) -> bool {
    let Some((session, kind)) = lower.rsplit_once('.') else {
        return false;
    };
    session.contains("..") && (kind == "lck" || kind == "lst" || kind.starts_with("lst-"))
}

/// Files the operating system leaves in folders (`lower` starts with a dot).
fn is_system_dot_file(lower: &str) -> bool {
    matches!(
        lower,
        ".ds_store"
            | ".localized"
            | ".spotlight-v100"
            | ".trashes"
            | ".fseventsd"
            | ".temporaryitems"
            | ".directory"
    ) || lower.starts_with("._")
        || lower.starts_with(".trash")
        || lower.starts_with(".nfs")
}
