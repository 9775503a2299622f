//! Sync files of format version 3: a device's snapshot and its delta
//! segments, so that a change costs the folder about what the change is.
//!
//! Version 2 ([`SyncFile`]) held a device's whole state and was rewritten
//! whole for every change. In version 3 a device keeps in each sync folder
//! one **snapshot** (`device-<id>.cofsync`, its whole state when written)
//! and a few **delta segments** (`delta-<id>.<seq>.<file id>.cofsync`, see
//! [`crate::sync_names`]), each holding the current versions of the items
//! that changed since the device's previous publication. Both kinds are
//! the same file:
//!
//! ```text
//! COFFER-SYNC 3\n
//! <header: one line of JSON>\n
//! <state: one line of JSON, {"vv": …, "records": […]}, as in version 2>\n
//! ```
//!
//! The header ([`SegmentHeader`]) names the file's kind, account, epoch and
//! writer, the file's random id and sequence number, the ids of the writer's
//! earlier files whose content it takes over (`supersedes`), and the
//! writer's version vectors before (`extends`) and after (`vv`) it. A reader
//! can read the header alone ([`read_segment_header`]) to decide whether it
//! needs the rest: a file whose superseded files it has all merged brings
//! it nothing new.
//!
//! Merging is the union of version 2 (see [`crate::state`]): segments may be
//! merged in any order, more than once, or not yet; a missing segment is
//! never read as a deletion. `docs/FORMAT.md` (part 2, §2) specifies the
//! format and says which sync engines it was designed for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::FormatError;
use crate::format::{parse_body_at, split_magic_of, SyncFile, SYNC_FORMAT, SYNC_MAGIC};
use crate::hlc::Hlc;
use crate::ids::DeviceId;
use crate::state::VaultState;
use crate::vv::VersionVector;

/// The sync file version of snapshots and delta segments.
pub const SEGMENT_VERSION: u64 = 3;
/// The longest header line a reader accepts (the header lists a few ids and
/// two version vectors; anything longer is damage, not a header).
pub const MAX_HEADER: usize = 1024 * 1024;

/// A sync file's random id, unique among one device's files: 64 random
/// bits, written as 16 lower-case hex digits (in the header and the name).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

impl FileId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        FileId(rand::random())
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({self})")
    }
}

impl FromStr for FileId {
    type Err = String;

    /// Exactly 16 lower-case hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(format!("a file id is 16 lower-case hex digits, not {s:?}"));
        }
        u64::from_str_radix(s, 16)
            .map(FileId)
            .map_err(|e| e.to_string())
    }
}

impl Serialize for FileId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FileId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a version-3 sync file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// The writer's whole state when it wrote the file (`device-<id>.cofsync`).
    Snapshot,
    /// The current versions of the items that changed since an earlier
    /// publication (`delta-<id>.<seq>.<file id>.cofsync`).
    Delta,
}

/// The first JSON line of a version-3 sync file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// Snapshot or delta.
    pub kind: SegmentKind,
    /// The account.
    pub account_id: Uuid,
    /// The account epoch of every record in the file.
    pub epoch: u64,
    /// The device that wrote the file (only it writes files with its id).
    pub device_id: DeviceId,
    /// Its friendly name.
    pub device_name: String,
    /// The writer's clock when it wrote the file (informational).
    pub written_hlc: Hlc,
    /// This file's random id.
    pub file_id: FileId,
    /// The file's place in the writer's publications to this folder, from 1
    /// (orders the writer's files; informational for readers).
    pub seq: u64,
    /// The writer's earlier files in this folder whose content this one
    /// takes over, sorted: a reader that has merged every one of them gains
    /// nothing from this file. Empty for a fresh delta and for a snapshot
    /// written without that guarantee.
    pub supersedes: Vec<FileId>,
    /// The writer's version vector at its previous publication to this
    /// folder (empty for its first): the state this file extends.
    pub extends: VersionVector,
    /// The writer's version vector when it wrote the file; a reader joins
    /// it, as it joins a version-2 file's `vv`.
    pub vv: VersionVector,
}

/// A snapshot or delta segment: its header and the versions it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The header.
    pub header: SegmentHeader,
    /// The versions, as written (its version vector covers them; the
    /// header's `vv` is joined when the segment is merged).
    pub state: VaultState,
}

impl Segment {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        segment_bytes(&self.header, &self.state)
    }

    /// Parses a version-3 sync file. Errors as for every format (see
    /// [`crate::format`]); besides: a header line longer than
    /// [`MAX_HEADER`], a missing newline after either line (a file cut short)
    /// and anything after the state's line are `Corrupt`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let (header, body) = split_header(bytes)?;
        let Some(nl) = body.iter().position(|&b| b == b'\n') else {
            // Cut inside the state, or the newline after it lost.
            return Err(match parse_body_at::<VaultState>(body, SYNC_FORMAT, 3) {
                Err(e) => e,
                Ok(_) => corrupt("truncated after the state (its newline is missing)"),
            });
        };
        if nl + 1 != body.len() {
            return Err(corrupt(&format!(
                "{} bytes after the state's line",
                body.len() - nl - 1
            )));
        }
        let state: VaultState = parse_body_at(&body[..nl], SYNC_FORMAT, 3)?;
        Ok(Segment { header, state })
    }
}

/// The bytes of a version-3 sync file with `header` and `state`, without
/// copying the state. Written canonically: `supersedes` sorted and without
/// repeats, versions in item then dot order, no spaces.
pub fn segment_bytes(header: &SegmentHeader, state: &VaultState) -> Vec<u8> {
    let mut header = header.clone();
    canonical(&mut header);
    let mut out = Vec::with_capacity(1024 + state.json_len_hint());
    out.extend_from_slice(format!("{SYNC_MAGIC} {SEGMENT_VERSION}\n").as_bytes());
    // Plain structs with string map keys always serialize.
    serde_json::to_writer(&mut out, &header).expect("a segment header serializes to JSON");
    out.push(b'\n');
    serde_json::to_writer(&mut out, state).expect("a vault state serializes to JSON");
    out.push(b'\n');
    out
}

/// Reads only the magic line and the header of a version-3 sync file:
/// `bytes` may be the file's first [`MAX_HEADER`] bytes or more. A reader
/// decides from the header whether it needs the rest.
pub fn read_segment_header(bytes: &[u8]) -> Result<SegmentHeader, FormatError> {
    split_header(bytes).map(|(h, _)| h)
}

/// Any sync file: version 2 (a device's whole state) or 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncContent {
    /// `COFFER-SYNC 2`, written by a device that runs an older coffer.
    Whole(SyncFile),
    /// `COFFER-SYNC 3`, a snapshot or delta segment.
    Segment(Segment),
}

impl SyncContent {
    /// The account of the file.
    pub fn account_id(&self) -> Uuid {
        match self {
            SyncContent::Whole(f) => f.account_id,
            SyncContent::Segment(s) => s.header.account_id,
        }
    }

    /// Its epoch.
    pub fn epoch(&self) -> u64 {
        match self {
            SyncContent::Whole(f) => f.epoch,
            SyncContent::Segment(s) => s.header.epoch,
        }
    }

    /// The device that wrote it.
    pub fn device_id(&self) -> DeviceId {
        match self {
            SyncContent::Whole(f) => f.device_id,
            SyncContent::Segment(s) => s.header.device_id,
        }
    }

    /// The versions it carries.
    pub fn state(&self) -> &VaultState {
        match self {
            SyncContent::Whole(f) => &f.state,
            SyncContent::Segment(s) => &s.state,
        }
    }

    /// The writer's version vector beyond the state's own: a segment
    /// header's `vv` (a version-2 file has it in its state).
    pub fn writer_vv(&self) -> Option<&VersionVector> {
        match self {
            SyncContent::Whole(_) => None,
            SyncContent::Segment(s) => Some(&s.header.vv),
        }
    }
}

/// The version a sync file declares (2 or 3), checked as every reader checks
/// the first line.
pub fn sync_file_version(bytes: &[u8]) -> Result<u64, FormatError> {
    split_magic_of(
        bytes,
        SYNC_MAGIC,
        SYNC_FORMAT,
        &[crate::format::VERSION, SEGMENT_VERSION],
    )
    .map(|(v, _)| v)
}

/// Parses a sync file of either version this library reads.
pub fn read_sync_file(bytes: &[u8]) -> Result<SyncContent, FormatError> {
    match sync_file_version(bytes)? {
        SEGMENT_VERSION => Segment::from_bytes(bytes).map(SyncContent::Segment),
        _ => SyncFile::from_bytes(bytes).map(SyncContent::Whole),
    }
}

fn corrupt(what: &str) -> FormatError {
    FormatError::Corrupt(format!("{SYNC_FORMAT}: {what}"))
}

/// Checks the magic line (version 3 only), parses the header line, and
/// returns it with the bytes after it.
fn split_header(bytes: &[u8]) -> Result<(SegmentHeader, &[u8]), FormatError> {
    let (_, body) = split_magic_of(bytes, SYNC_MAGIC, SYNC_FORMAT, &[SEGMENT_VERSION])?;
    let Some(nl) = body.iter().take(MAX_HEADER).position(|&b| b == b'\n') else {
        if body.len() >= MAX_HEADER {
            return Err(corrupt("the header line is longer than 1 MiB"));
        }
        return Err(match parse_body_at::<SegmentHeader>(body, SYNC_FORMAT, 2) {
            Err(e) => e,
            Ok(_) => corrupt("truncated after the header (its newline is missing)"),
        });
    };
    let mut header: SegmentHeader = parse_body_at(&body[..nl], SYNC_FORMAT, 2)?;
    if header.seq == 0 {
        return Err(corrupt(
            "the header's seq is 0 (sequence numbers start at 1)",
        ));
    }
    canonical(&mut header);
    Ok((header, &body[nl + 1..]))
}

fn canonical(header: &mut SegmentHeader) {
    header.supersedes.sort_unstable();
    header.supersedes.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordVersion;
    use crate::vv::Dot;

    fn header(kind: SegmentKind) -> SegmentHeader {
        let dev = DeviceId(Uuid::from_bytes([7; 16]));
        SegmentHeader {
            kind,
            account_id: Uuid::from_bytes([1; 16]),
            epoch: 2,
            device_id: dev,
            device_name: "Ann's \"phone\"".into(),
            written_hlc: Hlc::new(1_735_689_600_000, 3),
            file_id: FileId(0x0123_4567_89ab_cdef),
            seq: 5,
            supersedes: vec![FileId(9), FileId(2), FileId(9)],
            extends: [(dev, 3)].into_iter().collect(),
            vv: [(dev, 4)].into_iter().collect(),
        }
    }

    fn state() -> VaultState {
        let dev = DeviceId(Uuid::from_bytes([7; 16]));
        let mut s = VaultState::new();
        s.insert(RecordVersion {
            id: crate::ids::ItemId(Uuid::from_bytes([5; 16])),
            dot: Dot::new(dev, 4),
            context: [(dev, 3)].into_iter().collect(),
            deleted: false,
            sealed: vec![1; 60].into(),
        });
        s
    }

    #[test]
    fn round_trip_and_header_alone() {
        let bytes = segment_bytes(&header(SegmentKind::Delta), &state());
        let seg = Segment::from_bytes(&bytes).unwrap();
        assert_eq!(seg.header.supersedes, vec![FileId(2), FileId(9)]);
        assert_eq!(seg.to_bytes(), bytes);
        assert_eq!(
            seg.state
                .versions(&crate::ids::ItemId(Uuid::from_bytes([5; 16])))
                .len(),
            1
        );
        // The header alone, from a prefix that ends inside the state.
        let cut = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let cut = cut + bytes[cut..].iter().position(|&b| b == b'\n').unwrap() + 10;
        assert_eq!(read_segment_header(&bytes[..cut]).unwrap(), seg.header);
        match read_sync_file(&bytes).unwrap() {
            SyncContent::Segment(s) => assert_eq!(s, seg),
            other => panic!("{other:?}"),
        }
        assert_eq!(sync_file_version(&bytes), Ok(3));
    }

    #[test]
    fn cuts_and_trailing_bytes_are_corrupt() {
        let bytes = segment_bytes(&header(SegmentKind::Snapshot), &state());
        for cut in [15, 40, bytes.len() / 2, bytes.len() - 1] {
            match Segment::from_bytes(&bytes[..cut]) {
                Err(FormatError::Corrupt(m)) => assert!(m.contains("truncated"), "{cut}: {m}"),
                other => panic!("{cut}: {other:?}"),
            }
        }
        let mut more = bytes.clone();
        more.extend_from_slice(b"{}\n");
        assert!(matches!(
            Segment::from_bytes(&more),
            Err(FormatError::Corrupt(_))
        ));
        let v4 = b"COFFER-SYNC 4\n{}\n{}\n";
        assert_eq!(
            read_sync_file(v4),
            Err(FormatError::UnknownVersion {
                format: SYNC_FORMAT,
                version: 4
            })
        );
        let zero = String::from_utf8(bytes)
            .unwrap()
            .replacen("\"seq\":5", "\"seq\":0", 1);
        assert!(matches!(
            Segment::from_bytes(zero.as_bytes()),
            Err(FormatError::Corrupt(m)) if m.contains("seq")
        ));
    }

    #[test]
    fn file_ids_are_16_hex_digits() {
        assert_eq!(FileId(0xab).to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse::<FileId>(), Ok(FileId(0xab)));
        for bad in [
            "ab",
            "00000000000000AB",
            "00000000000000abc",
            "000000000000000g",
        ] {
            assert!(bad.parse::<FileId>().is_err(), "{bad}");
        }
    }
}
