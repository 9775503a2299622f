//! Names of the files in `<sync folder>/<account_id>/`, and what each one is.
//!
//! coffer keeps these files in an account's directory of a sync folder (DESIGN §3): the account
//! header [`ACCOUNT_FILE`]; one device file per device, `device-<uuid>.cofsync` (the device's
//! snapshot, or its whole state in format version 2); and each device's delta segments,
//! `delta-<uuid>.<seq>.<file id>.cofsync` ([`delta_file_name`]); each device's header changes
//! `header-<uuid>.json` and unlock key `unlock-<uuid>.json`. A device writes only its own files;
//! [`Entry::owner`] says whose a file is, for every kind (conflict copies included). Everything
//! else found there is one of:
//!
//! - a *conflict copy* that a sync engine made of one of those files. Each engine has its own
//!   naming (Syncthing, Dropbox in any language, Nextcloud/ownCloud, iCloud/Google Drive/macOS
//!   duplicates, OneDrive host suffixes, Seafile, Resilio, rclone bisync, unison); they are merged
//!   and then removed;
//! - a temporary, placeholder or metadata file of an engine or of the operating system, or one of
//!   coffer's own temporary files (start with `.` and end in `.tmp`); these are ignored;
//! - anything else, which is ignored too (and left in place).
//!
//! Device files are recognised by parsing the device id (a canonical, lower-case hyphenated UUID)
//! exactly; anything an engine appends after the UUID, before or after `.cofsync`, makes the name a
//! conflict copy of that device's file. This matters for OneDrive, whose `name-HOSTNAME.ext` copies
//! would otherwise look like a device id with more hyphens.
//!
//! Every coffer file but the header has an owner that [`Entry::owner`] names: a device's files
//! and each conflict copy of them belong to the device whose id the name carries (the header belongs to the
//! account). A device retires its own files; what belongs to others it touches one at a time.
//!
//! Everything here is pure: names in, values out.

mod ignore;
mod markers;

use ignore::ignore_reason;
use markers::marker_style;

/// The account header's file name.
pub const ACCOUNT_FILE: &str = "account.json";

/// A device's header changes: `header-<uuid>.json`.
const HEADER_PREFIX: &str = "header-";
/// A device's public unlock key: `unlock-<uuid>.json`.
const UNLOCK_PREFIX: &str = "unlock-";
/// The extension of both.
const JSON_EXT: &str = ".json";

/// Every device file's name starts with this.
const DEVICE_PREFIX: &str = "device-";
/// Every device file's name ends with this.
const DEVICE_EXT: &str = ".cofsync";
/// Every delta segment's name starts with this. Older coffer versions take such names for
/// [`IgnoreReason::Unknown`] and leave them alone.
const DELTA_PREFIX: &str = "delta-";
/// The account header's name without its extension.
const ACCOUNT_STEM: &str = "account";
/// The account header's extension.
const ACCOUNT_EXT: &str = ".json";

/// What a file name found in an account's directory of a sync folder is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    /// `account.json`, the account header.
    AccountHeader,
    /// A sync engine's conflict copy of the account header, in any engine's naming.
    AccountHeaderConflict {
        /// The name of the file this is a copy of (always [`ACCOUNT_FILE`]).
        original: String,
    },
    /// `device-<uuid>.cofsync`, the sync file written by the device `device_id`.
    DeviceFile {
        /// The device's id, a canonical lower-case hyphenated UUID.
        device_id: String,
    },
    /// A sync engine's conflict copy of the device file of `device_id`.
    DeviceConflict {
        /// The id of the device whose file this is a copy of.
        device_id: String,
    },
    /// `header-<uuid>.json`, the account header as the device `device_id`
    /// last changed it (password, hint) in this epoch.
    HeaderChange {
        /// The device that writes it.
        device_id: String,
    },
    /// A sync engine's conflict copy of a device's header change.
    HeaderChangeConflict {
        /// The device whose file this is a copy of.
        device_id: String,
    },
    /// `unlock-<uuid>.json`, the public unlock key of the device `device_id`.
    UnlockKey {
        /// The device that writes it.
        device_id: String,
    },
    /// A sync engine's conflict copy of a device's unlock key.
    UnlockKeyConflict {
        /// The device whose file this is a copy of.
        device_id: String,
    },
    /// `delta-<uuid>.<seq>.<file id>.cofsync`, a delta segment written by the device `device_id`.
    DeltaFile {
        /// The device's id, a canonical lower-case hyphenated UUID.
        device_id: String,
        /// The segment's place in the device's publications to this folder (decimal, from 1).
        seq: u64,
        /// The segment's file id: 16 lower-case hex digits, as in its header.
        file_id: String,
    },
    /// A sync engine's conflict copy of a delta segment of `device_id`.
    DeltaConflict {
        /// The id of the device whose segment this is a copy of.
        device_id: String,
    },
    /// Not coffer's data: skip it, and leave it where it is.
    Ignored(IgnoreReason),
}

impl Entry {
    /// True for a conflict copy of the header, of a device file or of a delta segment.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Entry::AccountHeaderConflict { .. }
                | Entry::DeviceConflict { .. }
                | Entry::HeaderChangeConflict { .. }
                | Entry::UnlockKeyConflict { .. }
                | Entry::DeltaConflict { .. }
        )
    }

    /// The device that writes this file (or the original of this conflict
    /// copy), for every kind of file a device owns: its sync file and delta
    /// segments, its header changes, its unlock key. `None` for
    /// `account.json` (written at signup and reset) and for ignored names.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Entry::DeviceFile { device_id }
            | Entry::DeviceConflict { device_id }
            | Entry::DeltaFile { device_id, .. }
            | Entry::DeltaConflict { device_id }
            | Entry::HeaderChange { device_id }
            | Entry::HeaderChangeConflict { device_id }
            | Entry::UnlockKey { device_id }
            | Entry::UnlockKeyConflict { device_id } => Some(device_id),
            _ => None,
        }
    }

    /// The device whose sync data this is: the writer of a device file or
    /// delta segment, or of the file a conflict copy of one copies. `None`
    /// for the header, header changes, unlock keys and ignored names.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Entry::DeviceFile { device_id }
            | Entry::DeviceConflict { device_id }
            | Entry::DeltaFile { device_id, .. }
            | Entry::DeltaConflict { device_id } => Some(device_id),
            _ => None,
        }
    }
}

/// Why a name is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// One of coffer's own temporary files (`.<final>.<unique>.tmp`, any name that starts with `.`
    /// and ends in `.tmp`).
    CofferTemp,
    /// A sync engine's or an editor's temporary or lock file (`.syncthing.*.tmp`,
    /// `~syncthing~*.tmp`, unison's `.unison.*.unison.tmp`, `.rclone*`, `.~*`, `~$*`, `*.tmp`).
    EngineTemp,
    /// A placeholder for a file that is not downloaded yet (iCloud's `.<name>.icloud`).
    Placeholder,
    /// A download that is not finished (`*.part`, `*.partial`, `*.crdownload`, `*.!sync`, …).
    PartialDownload,
    /// A sync engine's own bookkeeping (`.dropbox`, `.dropbox.cache`, `.stfolder`, `.sync`,
    /// unison's local backups `.bak.N.name`, rclone bisync's `RCLONE_TEST` and work files such
    /// as `PATH1..PATH2.path1.lst` and `….lck`, …).
    EngineMetadata,
    /// A file the operating system puts in folders (`.DS_Store`, `desktop.ini`, `Icon\r`, …).
    SystemFile,
    /// Any other name that starts with a dot.
    Hidden,
    /// A name that is none of coffer's (or is empty, or not a bare file name).
    Unknown,
}

/// Which engine's naming a conflict copy has, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictStyle {
    /// `name.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.ext`.
    Syncthing,
    /// `name (host's conflicted copy YYYY-MM-DD).ext` and its variants, in any language, and
    /// Dropbox's `(Case Conflict)` and `(Selective Sync Conflict)`.
    Dropbox,
    /// `name (conflicted copy YYYY-MM-DD HHMMSS).ext`, `name (case clash from …).ext`.
    Nextcloud,
    /// `name_conflict-YYYYMMDD-HHMMSS.ext` (ownCloud and older Nextcloud clients).
    OwnCloud,
    /// `name 2.ext`, `name (1).ext` (iCloud Drive, Google Drive, macOS).
    Duplicate,
    /// `name-HOSTNAME.ext`.
    OneDrive,
    /// `name (SFConflict email date).ext`.
    Seafile,
    /// `name.Conflict.ext`.
    Resilio,
    /// rclone bisync: `name..path1` / `name..path2` (1.60 to 1.65), and from 1.66 the
    /// `--conflict-suffix` forms `name.conflict1`, `name.conflict2` (`--conflict-loser num`, the
    /// default), `name.path1` (`--conflict-suffix path`), `name.SUFFIX1` for a user suffix of
    /// letters, digits, `-` and `_`; with `--suffix-keep-extension` the same markers before the
    /// extension (`name.conflict1.ext`).
    Rclone,
    /// unison with `-copyonconflict`: `name (conflict_on_YYYY-MM-DD).ext`, then
    /// `name (conflict #1_on_YYYY-MM-DD).ext`, ….
    Unison,
    /// A name that says "conflict" in some other way, or (for device files) any text appended
    /// after the device id.
    Other,
}

/// The file name of the device file of `device_id`: `device-<id>.cofsync`.
pub fn device_file_name(device_id: &str) -> String {
    format!("{DEVICE_PREFIX}{device_id}{DEVICE_EXT}")
}

/// The file name of the header changes of `device_id`: `header-<id>.json`.
pub fn header_file_name(device_id: &str) -> String {
    format!("{HEADER_PREFIX}{device_id}{JSON_EXT}")
}

/// The file name of the unlock key of `device_id`: `unlock-<id>.json`.
pub fn unlock_file_name(device_id: &str) -> String {
    format!("{UNLOCK_PREFIX}{device_id}{JSON_EXT}")
}

/// The file name of a delta segment of `device_id`: `delta-<id>.<seq>.<file id>.cofsync`, with
/// `seq` in decimal and `file_id` as 16 lower-case hex digits.
pub fn delta_file_name(device_id: &str, seq: u64, file_id: u64) -> String {
    format!("{DELTA_PREFIX}{device_id}.{seq}.{file_id:016x}{DEVICE_EXT}")
}

/// A name for a temporary file that will be renamed to `final_name`: `.<final>.<unique>.tmp`, in
/// the same directory. Sync engines skip it and [`classify`] says [`IgnoreReason::CofferTemp`].
pub fn temp_file_name(final_name: &str, unique: u64) -> String {
    format!(".{final_name}.{unique:016x}.tmp")
}

/// Says what the file called `file_name` (a bare name, no directory) in an account's directory of
/// a sync folder is.
pub fn classify(file_name: &str) -> Entry {
    if let Some(reason) = ignore_reason(file_name) {
        return Entry::Ignored(reason);
    }
    if file_name == ACCOUNT_FILE {
        return Entry::AccountHeader;
    }
    if let Some((device_id, conflict)) = parse_device(file_name) {
        return if conflict.is_none() {
            Entry::DeviceFile { device_id }
        } else {
            Entry::DeviceConflict { device_id }
        };
    }
    if let Some((device_id, conflict)) = parse_owned(file_name, HEADER_PREFIX, JSON_EXT) {
        return if conflict.is_none() {
            Entry::HeaderChange { device_id }
        } else {
            Entry::HeaderChangeConflict { device_id }
        };
    }
    if let Some((device_id, conflict)) = parse_owned(file_name, UNLOCK_PREFIX, JSON_EXT) {
        return if conflict.is_none() {
            Entry::UnlockKey { device_id }
        } else {
            Entry::UnlockKeyConflict { device_id }
        };
    }
    if let Some((device_id, seq, file_id, conflict)) = parse_delta(file_name) {
        return if conflict.is_none() {
            Entry::DeltaFile {
                device_id,
                seq,
                file_id,
            }
        } else {
            Entry::DeltaConflict { device_id }
        };
    }
    if parse_account_conflict(file_name).is_some() {
        return Entry::AccountHeaderConflict {
            original: ACCOUNT_FILE.to_owned(),
        };
    }
    Entry::Ignored(IgnoreReason::Unknown)
}

/// The engine naming of a conflict copy of the header or of a device file; `None` for any other
/// name (including the header and device files themselves).
pub fn conflict_style(file_name: &str) -> Option<ConflictStyle> {
    if ignore_reason(file_name).is_some() {
        return None;
    }
    if let Some((_, conflict)) = parse_device(file_name) {
        return conflict;
    }
    for prefix in [HEADER_PREFIX, UNLOCK_PREFIX] {
        if let Some((_, conflict)) = parse_owned(file_name, prefix, JSON_EXT) {
            return conflict;
        }
    }
    if let Some((_, _, _, conflict)) = parse_delta(file_name) {
        return conflict;
    }
    parse_account_conflict(file_name)
}

/// Parses `device-<uuid><marker>.cofsync` or `device-<uuid>.cofsync<marker>`. Returns the device id
/// and, for a conflict copy, its style (`None` for the device file itself).
fn parse_device(name: &str) -> Option<(String, Option<ConflictStyle>)> {
    parse_owned(name, DEVICE_PREFIX, DEVICE_EXT)
}

/// Parses `<prefix><uuid><marker><ext>` or `<prefix><uuid><ext><marker>`, the names of every
/// file one device owns, as [`parse_device`] describes.
fn parse_owned(name: &str, prefix: &str, ext: &str) -> Option<(String, Option<ConflictStyle>)> {
    let rest = name.strip_prefix(prefix)?;
    let id = rest.get(..36)?;
    if !is_canonical_uuid(id) {
        return None;
    }
    let tail = &rest[36..];
    let conflict = if tail == ext {
        None
    } else if let Some(marker) = tail.strip_suffix(ext) {
        // Anything between the id and the extension is an engine's conflict marker.
        Some(marker_style(marker).unwrap_or(ConflictStyle::Other))
    } else if let Some(marker) = tail.strip_prefix(ext) {
        // After the extension, only a recognised marker counts.
        Some(marker_style(marker)?)
    } else {
        return None;
    };
    Some((id.to_owned(), conflict))
}

/// Parses `delta-<uuid>.<seq>.<16 hex>` followed by `.cofsync`, a conflict marker and
/// `.cofsync`, or `.cofsync` and a recognised marker. Returns the device id, the sequence number,
/// the file id and, for a conflict copy, its style. `seq` is canonical decimal (no leading zero,
/// at least 1) and the file id exactly 16 lower-case hex digits, so a name has one reading even
/// when an engine appends digits (`-1`, ` 2`).
fn parse_delta(name: &str) -> Option<(String, u64, String, Option<ConflictStyle>)> {
    let rest = name.strip_prefix(DELTA_PREFIX)?;
    let id = rest.get(..36)?;
    if !is_canonical_uuid(id) {
        return None;
    }
    let rest = rest[36..].strip_prefix('.')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 20 || rest.starts_with('0') {
        return None;
    }
    let seq: u64 = rest[..digits].parse().ok()?;
    let rest = rest[digits..].strip_prefix('.')?;
    let file_id = rest.get(..16)?;
    if !file_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let tail = &rest[16..];
    let conflict = if tail == DEVICE_EXT {
        None
    } else if let Some(marker) = tail.strip_suffix(DEVICE_EXT) {
        Some(marker_style(marker).unwrap_or(ConflictStyle::Other))
    } else if let Some(marker) = tail.strip_prefix(DEVICE_EXT) {
        Some(marker_style(marker)?)
    } else {
        return None;
    };
    Some((id.to_owned(), seq, file_id.to_owned(), conflict))
}

/// Parses a conflict copy of the account header: `account<marker>.json` where the marker starts
/// with a separator, or `account.json<marker>` with a recognised marker.
fn parse_account_conflict(name: &str) -> Option<ConflictStyle> {
    let rest = name.strip_prefix(ACCOUNT_STEM)?;
    if let Some(marker) = rest.strip_suffix(ACCOUNT_EXT) {
        if marker.starts_with([' ', '.', '-', '_', '(', '[']) {
            return Some(marker_style(marker).unwrap_or(ConflictStyle::Other));
        }
    }
    let marker = rest.strip_prefix(ACCOUNT_EXT)?;
    if marker.is_empty() {
        return None;
    }
    marker_style(marker)
}

/// `8-4-4-4-12` lower-case hex digits.
fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}
