//! The local container and the per-device sync file.
//!
//! Both files start with one ASCII line naming the format and its version,
//! `COFFER-CONTAINER 3\n` or `COFFER-SYNC 2\n`, followed by one JSON
//! document (binary values in padded standard base64). A container may then
//! hold appended entries, one JSON object per line, each adding the versions
//! of one change ([`ContainerEntry`]): a change costs one small append
//! instead of a rewrite of the whole vault. A last line without its newline
//! is an append that was interrupted (never acknowledged): readers skip it
//! and say so in [`Container::appended`]. A reader checks the
//! line first: another magic is [`FormatError::NotThisFormat`], the right
//! magic with another version is [`FormatError::UnknownVersion`], and
//! anything else wrong (truncated, not JSON, a field missing or of the wrong
//! type) is [`FormatError::Corrupt`] saying where. Readers ignore unknown
//! JSON fields; a change that an older reader must not ignore gets a new
//! version. `docs/FORMAT.md` (part 2) specifies both.
//!
//! Neither file holds a secret in the clear: records are sealed one by one
//! (see [`crate::record`]), conflict reports are sealed as one box, and the
//! account header holds only the wrapped vault key.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::AccountHeader;
use crate::error::FormatError;
use crate::hlc::Hlc;
use crate::ids::DeviceId;
use crate::state::VaultState;

/// First-line magic of the local container.
pub const CONTAINER_MAGIC: &str = "COFFER-CONTAINER";
/// First-line magic of a sync file.
pub const SYNC_MAGIC: &str = "COFFER-SYNC";
/// The container's format name in errors.
pub const CONTAINER_FORMAT: &str = "coffer-container";
/// The sync file's format name in errors.
pub const SYNC_FORMAT: &str = "coffer-sync";
/// The sync file version this library reads and writes.
///
/// Version 2 seals items in the compact plaintext of [`crate::item::Item`]
/// (version 1 sealed a verbose JSON that this library no longer reads).
pub const VERSION: u64 = 2;
/// The container version this library writes. It reads version 2 too (a
/// version 3 container without appended entries, apart from the number).
pub const CONTAINER_VERSION: u64 = 3;

/// The persisted parts of a replica, as a container stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaParts {
    /// The account.
    pub account_id: Uuid,
    /// Its epoch.
    pub epoch: u64,
    /// This device.
    pub device_id: DeviceId,
    /// Its friendly name.
    pub device_name: String,
    /// The vault state.
    pub state: VaultState,
    /// The clock's last stamp.
    pub clock: Hlc,
    /// The conflict reports, sealed (see `Replica::sealed_reports`).
    pub sealed_reports: Option<Vec<u8>>,
}

/// A device's local encrypted vault file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The account header (as in `account.json`).
    pub account: AccountHeader,
    /// This device's vault (its account id and epoch are the header's),
    /// appended entries included.
    pub replica: ReplicaParts,
    /// What the file held after its first JSON document.
    pub appended: Appended,
}

/// The appended part of a container file, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Length of the magic line and the first JSON document with its newline.
    pub base_len: usize,
    /// Complete entries after it.
    pub entries: usize,
    /// Their bytes.
    pub entry_bytes: usize,
    /// Bytes after the last newline: an interrupted append (skipped).
    pub torn_bytes: usize,
}

/// One change appended to a container: the current versions of the items
/// it touched, the version vector and the clock after it. Reading unions
/// the entry's state into the container's and keeps the later clock, so
/// the versions an entry supersedes stay until the next unlock compacts
/// them (as after a merge while locked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEntry {
    /// The writer's clock after the change.
    pub clock: Hlc,
    /// The versions added (and the version vector).
    pub state: VaultState,
}

impl ContainerEntry {
    /// The entry as one line (JSON and a newline), ready to append.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.state.json_len_hint());
        serde_json::to_writer(&mut out, self)
            // Plain structs with string map keys always serialize.
            .expect("a container entry always serializes to JSON");
        out.push(b'\n');
        out
    }
}

/// One device's file in a sync folder: its whole state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFile {
    /// The account.
    pub account_id: Uuid,
    /// The account epoch the state belongs to.
    pub epoch: u64,
    /// The device that wrote the file.
    pub device_id: DeviceId,
    /// Its friendly name.
    pub device_name: String,
    /// The writer's clock when it wrote the file.
    pub written_hlc: Hlc,
    /// The writer's vault state.
    pub state: VaultState,
}

/// A sync file's fields, borrowed, for writing without copying the state.
#[derive(Serialize)]
pub(crate) struct SyncRef<'a> {
    pub(crate) account_id: Uuid,
    pub(crate) epoch: u64,
    pub(crate) device_id: DeviceId,
    pub(crate) device_name: &'a str,
    pub(crate) written_hlc: Hlc,
    pub(crate) state: &'a VaultState,
}

#[derive(Serialize)]
struct ContainerRef<'a> {
    account: serde_json::Value,
    device_id: DeviceId,
    device_name: &'a str,
    clock: Hlc,
    state: &'a VaultState,
    #[serde(with = "opt_b64")]
    reports: Option<&'a [u8]>,
}

#[derive(Deserialize)]
struct ContainerOwned {
    account: serde_json::Value,
    device_id: DeviceId,
    device_name: String,
    clock: Hlc,
    state: VaultState,
    #[serde(default, with = "opt_b64")]
    reports: Option<Vec<u8>>,
}

impl Container {
    /// The file's bytes (appended entries folded in).
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.replica;
        container_bytes(
            &self.account,
            p.device_id,
            &p.device_name,
            p.clock,
            &p.state,
            p.sealed_reports.as_deref(),
        )
    }

    /// Parses a container file (see the module docs for errors). The
    /// account header is parsed but not authenticated.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let (version, body) = split_magic_of(
            bytes,
            CONTAINER_MAGIC,
            CONTAINER_FORMAT,
            &[2, CONTAINER_VERSION],
        )?;
        let mut appended = Appended::default();
        let (base, mut rest) = match version {
            // Version 2: one document, nothing appended.
            2 => (body, &[][..]),
            _ => match body.iter().position(|&b| b == b'\n') {
                Some(nl) => (&body[..=nl], &body[nl + 1..]),
                None => (body, &[][..]),
            },
        };
        appended.base_len = bytes.len() - body.len() + base.len();
        let mut c: ContainerOwned = parse_body(base, CONTAINER_FORMAT)?;
        while !rest.is_empty() {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                appended.torn_bytes = rest.len();
                break;
            };
            let entry: ContainerEntry =
                parse_body(&rest[..nl], CONTAINER_FORMAT).map_err(|e| match e {
                    FormatError::Corrupt(m) => FormatError::Corrupt(format!(
                        "appended entry {}: {m}",
                        appended.entries + 1
                    )),
                    other => other,
                })?;
            c.state.union(&entry.state);
            c.clock = c.clock.max(entry.clock);
            appended.entries += 1;
            appended.entry_bytes += nl + 1;
            rest = &rest[nl + 1..];
        }
        let header_bytes = serde_json::to_vec(&c.account).map_err(|e| {
            FormatError::Corrupt(format!("{CONTAINER_FORMAT}: account header: {e}"))
        })?;
        let account = AccountHeader::from_json(&header_bytes).map_err(|e| match e {
            FormatError::UnknownVersion { .. } => e,
            other => FormatError::Corrupt(format!("{CONTAINER_FORMAT}: account header: {other}")),
        })?;
        let replica = ReplicaParts {
            account_id: account.account_id,
            epoch: account.epoch,
            device_id: c.device_id,
            device_name: c.device_name,
            state: c.state,
            clock: c.clock,
            sealed_reports: c.reports,
        };
        Ok(Container {
            account,
            replica,
            appended,
        })
    }
}

impl SyncFile {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        sync_bytes(&SyncRef {
            account_id: self.account_id,
            epoch: self.epoch,
            device_id: self.device_id,
            device_name: &self.device_name,
            written_hlc: self.written_hlc,
            state: &self.state,
        })
    }

    /// Parses a sync file (see the module docs for errors).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = split_magic(bytes, SYNC_MAGIC, SYNC_FORMAT)?;
        parse_body(body, SYNC_FORMAT)
    }
}

pub(crate) fn container_bytes(
    account: &AccountHeader,
    device_id: DeviceId,
    device_name: &str,
    clock: Hlc,
    state: &VaultState,
    reports: Option<&[u8]>,
) -> Vec<u8> {
    let account = serde_json::from_slice(&account.to_json())
        .expect("AccountHeader::to_json always writes a valid JSON object");
    let hint = 4096
        + 6 * device_name.len()
        + reports.map_or(0, |r| r.len().div_ceil(3) * 4)
        + state.json_len_hint();
    let body = ContainerRef {
        account,
        device_id,
        device_name,
        clock,
        state,
        reports,
    };
    with_magic(CONTAINER_MAGIC, CONTAINER_VERSION, &body, hint)
}

pub(crate) fn sync_bytes(body: &SyncRef<'_>) -> Vec<u8> {
    let hint = 512 + 6 * body.device_name.len() + body.state.json_len_hint();
    with_magic(SYNC_MAGIC, VERSION, body, hint)
}

/// The first line and the JSON body; `hint` is an upper bound of the
/// length, so the buffer is allocated once (a state can be 100 MB).
fn with_magic<T: Serialize>(magic: &str, version: u64, body: &T, hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(hint);
    out.extend_from_slice(format!("{magic} {version}\n").as_bytes());
    serde_json::to_writer(&mut out, body)
        // Plain structs with string map keys always serialize.
        .expect("a container or sync file body always serializes to JSON");
    out.push(b'\n');
    out
}

/// Checks the first line (the sync file's version) and returns the JSON
/// body after it.
fn split_magic<'a>(
    bytes: &'a [u8],
    magic: &str,
    format: &'static str,
) -> Result<&'a [u8], FormatError> {
    split_magic_of(bytes, magic, format, &[VERSION]).map(|(_, body)| body)
}

/// Checks the first line against the `versions` this library reads and
/// returns the version and the body after the line.
pub(crate) fn split_magic_of<'a>(
    bytes: &'a [u8],
    magic: &str,
    format: &'static str,
    versions: &[u64],
) -> Result<(u64, &'a [u8]), FormatError> {
    let not_this = || FormatError::NotThisFormat { expected: format };
    let Some(nl) = bytes.iter().take(64).position(|&b| b == b'\n') else {
        let prefix = format!("{magic} ");
        let head = &bytes[..bytes.len().min(prefix.len())];
        return if bytes.is_empty() {
            Err(FormatError::Corrupt(format!("{format}: the file is empty")))
        } else if prefix.as_bytes().starts_with(head) {
            Err(FormatError::Corrupt(format!(
                "{format}: truncated in the first line"
            )))
        } else {
            Err(not_this())
        };
    };
    let line = &bytes[..nl];
    let Some(rest) = line.strip_prefix(magic.as_bytes()) else {
        return Err(not_this());
    };
    let digits = rest
        .strip_prefix(b" ")
        .filter(|d| !d.is_empty() && d.len() <= 20 && d.iter().all(u8::is_ascii_digit))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u64>().ok());
    match digits {
        None if rest.is_empty() || rest.first() == Some(&b' ') => Err(FormatError::Corrupt(
            format!("{format}: the first line has no valid version number"),
        )),
        // `COFFER-SYNCX…`: a different magic that merely starts like ours.
        None => Err(not_this()),
        Some(v) if versions.contains(&v) => Ok((v, &bytes[nl + 1..])),
        Some(version) => Err(FormatError::UnknownVersion { format, version }),
    }
}

pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    format: &str,
) -> Result<T, FormatError> {
    // The JSON body starts on line 2, after the magic line.
    parse_body_at(body, format, 2)
}

/// Parses JSON that starts on line `first_line` of its file (1-based), so
/// that errors name the file's line.
pub(crate) fn parse_body_at<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    format: &str,
    first_line: usize,
) -> Result<T, FormatError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "truncated",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Io => "unreadable",
        };
        FormatError::Corrupt(format!(
            "{format}: {what} at line {} column {}: {e}",
            e.line() + first_line - 1,
            e.column()
        ))
    })
}

mod opt_b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, B: AsRef<[u8]>>(
        v: &Option<B>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&STANDARD.encode(b.as_ref())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            None => Ok(None),
            Some(t) => STANDARD
                .decode(t.as_bytes())
                .map(Some)
                .map_err(|e| D::Error::custom(format!("bad base64: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_line_errors() {
        let ok = b"COFFER-SYNC 2\n{}";
        assert_eq!(split_magic(ok, SYNC_MAGIC, SYNC_FORMAT).unwrap(), b"{}");
        let nt = FormatError::NotThisFormat {
            expected: SYNC_FORMAT,
        };
        assert_eq!(
            split_magic(b"COFFER-CONTAINER 2\n{}", SYNC_MAGIC, SYNC_FORMAT),
            Err(nt.clone())
        );
        assert_eq!(
            split_magic(b"{\"format\":1}", SYNC_MAGIC, SYNC_FORMAT),
            Err(nt.clone())
        );
        assert_eq!(
            split_magic(b"COFFER-SYNCX 2\n", SYNC_MAGIC, SYNC_FORMAT),
            Err(nt)
        );
        assert_eq!(
            split_magic(b"COFFER-SYNC 1\n{}", SYNC_MAGIC, SYNC_FORMAT),
            Err(FormatError::UnknownVersion {
                format: SYNC_FORMAT,
                version: 1
            })
        );
        for bad in [
            &b""[..],
            b"COFF",
            b"COFFER-SYNC ",
            b"COFFER-SYNC 2",
            b"COFFER-SYNC x\n",
            b"COFFER-SYNC\n",
        ] {
            assert!(
                matches!(
                    split_magic(bad, SYNC_MAGIC, SYNC_FORMAT),
                    Err(FormatError::Corrupt(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn truncated_body_says_so() {
        let e = SyncFile::from_bytes(b"COFFER-SYNC 2\n{\"account_id\":").unwrap_err();
        match e {
            FormatError::Corrupt(m) => assert!(m.contains("truncated"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
