//! The encrypted backup file (`coffer backup FILE`).
//!
//! `COFFER-BACKUP 1\n`, then one JSON object `{"account": HEADER, "items":
//! BASE64, "created_ms": N}`. `HEADER` is the account header of the epoch
//! the backup was made in: it wraps that epoch's vault key under the
//! Account Password and Account Key, so opening the backup needs those two
//! secrets and works after a reset or on another account. `items` is every
//! live item (fields and history) as a JSON array of [`Item`]s, sealed with
//! XChaCha20-Poly1305 under a subkey of that vault key and bound to the
//! account id and epoch by its associated data. `docs/FORMAT.md` (part 3)
//! specifies it; `tests/vectors/backup-*.txt` pin it.
//!
//! Pure: bytes in, values out. Restoring (which items to add, and how) is
//! the daemon's business.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::account::AccountHeader;
use crate::aead;
use crate::item::Item;
use crate::secret::SecretKey;

/// The first line of every backup, with its format version.
pub const MAGIC: &str = "COFFER-BACKUP 1\n";
/// Every backup's first line starts with this (then the version).
const MAGIC_PREFIX: &str = "COFFER-BACKUP ";
/// HKDF purpose of the key that seals the items.
const PURPOSE: &[u8] = b"coffer backup v1";

/// Why a backup cannot be read or opened. No variant carries item data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file does not start with the backup magic.
    #[error("it does not start with `COFFER-BACKUP 1`")]
    NotABackup,
    /// The magic names a version this library does not read.
    #[error("this backup is in a newer format than this coffer reads; update coffer")]
    NewerFormat,
    /// The JSON body does not parse.
    #[error("line {line}, column {column}: not valid JSON")]
    NotJson {
        /// The line, counting the magic as line 1.
        line: usize,
        /// The column.
        column: usize,
    },
    /// The embedded account header does not parse.
    #[error("its account header: {0}")]
    Header(String),
    /// `items` is missing or not base64.
    #[error("it has no sealed items")]
    NoItems,
    /// The sealed items do not open under the header's vault key.
    #[error("its items do not open (the file was changed)")]
    DoesNotOpen,
    /// The items opened but are not a list of items. Says only where:
    /// serde's messages may quote values.
    #[error("its items do not read (line {line}, column {column} of the sealed list)")]
    Unreadable {
        /// The line of the sealed JSON.
        line: usize,
        /// The column.
        column: usize,
    },
}

/// A backup file as read: its account header (not authenticated: that
/// takes the Account Password and Account Key) and its sealed items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The header of the epoch the backup was made in.
    pub header: AccountHeader,
    /// When it was made (milliseconds since the Unix epoch).
    pub created_ms: u64,
    sealed: Vec<u8>,
}

#[derive(Serialize)]
struct Body {
    account: serde_json::Value,
    items: String,
    created_ms: u64,
}

/// What a reader takes: every field may be missing or of the wrong type,
/// so that the error can say which part is wrong.
#[derive(Deserialize)]
struct BodyIn {
    #[serde(default)]
    account: serde_json::Value,
    #[serde(default)]
    items: serde_json::Value,
    #[serde(default)]
    created_ms: Option<u64>,
}

fn ad(header: &AccountHeader) -> Vec<u8> {
    format!("coffer backup v1|{}|{}", header.account_id, header.epoch).into_bytes()
}

impl Backup {
    /// Seals `items` under `vault_key` (the key `header` wraps): the backup's bytes.
    pub fn seal(
        header: &AccountHeader,
        vault_key: &SecretKey,
        items: &[Item],
        created_ms: u64,
    ) -> Vec<u8> {
        let mut plain = Zeroizing::new(Vec::with_capacity(items.len() * 512 + 2));
        plain.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                plain.push(b',');
            }
            plain.extend_from_slice(&item.to_json());
        }
        plain.push(b']');
        let sealed = aead::seal(&aead::subkey(vault_key, PURPOSE), &ad(header), &plain);
        let body = Body {
            account: serde_json::from_slice(&header.to_json())
                .expect("AccountHeader::to_json always writes a valid JSON object"),
            items: BASE64.encode(&sealed),
            created_ms,
        };
        let mut out = MAGIC.as_bytes().to_vec();
        serde_json::to_writer(&mut out, &body)
            .expect("a backup body (strings, numbers, a JSON object) always serializes");
        out
    }

    /// Reads a backup (nothing is opened yet).
    pub fn parse(bytes: &[u8]) -> Result<Backup, BackupError> {
        let body = bytes.strip_prefix(MAGIC.as_bytes()).ok_or_else(|| {
            if bytes.starts_with(MAGIC_PREFIX.as_bytes()) {
                BackupError::NewerFormat
            } else {
                BackupError::NotABackup
            }
        })?;
        let body: BodyIn = serde_json::from_slice(body).map_err(|e| BackupError::NotJson {
            line: e.line() + 1,
            column: e.column(),
        })?;
        let header_json =
            serde_json::to_vec(&body.account).map_err(|e| BackupError::Header(e.to_string()))?;
        let header = AccountHeader::from_json(&header_json)
            .map_err(|e| BackupError::Header(e.to_string()))?;
        let sealed = body
            .items
            .as_str()
            .and_then(|b| BASE64.decode(b.trim()).ok())
            .ok_or(BackupError::NoItems)?;
        Ok(Backup {
            header,
            created_ms: body.created_ms.unwrap_or(0),
            sealed,
        })
    }

    /// The items, with the vault key that the header unwrapped (normalized:
    /// histories sorted and capped as a vault keeps them).
    pub fn open(&self, vault_key: &SecretKey) -> Result<Vec<Item>, BackupError> {
        let plain = aead::open(
            &aead::subkey(vault_key, PURPOSE),
            &ad(&self.header),
            &self.sealed,
        )
        .map_err(|_| BackupError::DoesNotOpen)?;
        let mut items: Vec<Item> =
            serde_json::from_slice(&plain).map_err(|e| BackupError::Unreadable {
                line: e.line(),
                column: e.column(),
            })?;
        for item in &mut items {
            item.normalize();
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfParams;
    use crate::secret::SecretString;

    fn account() -> crate::account::NewAccount {
        AccountHeader::create(
            "b@example.org",
            "",
            &SecretString::from("pw"),
            KdfParams::fast_insecure_for_tests(),
            1,
        )
        .expect("an account is created")
    }

    #[test]
    fn a_backup_opens_with_its_key_only() {
        let new = account();
        let mut item = Item::new(crate::ids::ItemId::new_random(), 5);
        let mut clock = crate::hlc::Clock::new();
        item.apply(
            vec![("title".into(), Some(SecretString::from("Mail")))],
            &mut clock,
            5,
            crate::ids::DeviceId::new_random(),
        );
        let bytes = Backup::seal(&new.header, &new.vault_key, &[item.clone()], 9);
        let b = Backup::parse(&bytes).expect("it parses");
        assert_eq!((b.created_ms, &b.header), (9, &new.header));
        assert_eq!(b.open(&new.vault_key).expect("it opens"), vec![item]);
        assert_eq!(
            b.open(&SecretKey::generate()),
            Err(BackupError::DoesNotOpen)
        );
    }

    #[test]
    fn unreadable_backups_say_why() {
        assert_eq!(Backup::parse(b"hello"), Err(BackupError::NotABackup));
        assert_eq!(
            Backup::parse(b"COFFER-BACKUP 2\n{}"),
            Err(BackupError::NewerFormat)
        );
        let e = Backup::parse(b"COFFER-BACKUP 1\n{\"account\":").unwrap_err();
        assert!(e.to_string().contains("line 2, column"), "{e}");
    }
}
