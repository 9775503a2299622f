//! coffer's vault library: pure and synchronous, bytes in and values out.
//!
//! It knows the account model (Account Key, key derivation, the account
//! header), the cryptography (XChaCha20-Poly1305 boxes bound to what they
//! belong to), the file formats (account header, local container, per-device
//! sync file) and the merge of vault states. It has no async runtime, no file
//! watching and no sockets, so it can be fuzzed and property-tested.
//!
//! # Layout
//!
//! - [`secret`]: zeroizing key and string types.
//! - [`aead`]: XChaCha20-Poly1305 sealing and subkeys.
//! - [`account_key`]: the Account Key, its typable text form and QR code.
//! - [`kdf`]: Argon2id parameters and the key-encryption key from both secrets.
//! - [`account`]: the account header (`account.json`): create, unlock,
//!   change password, reset, precedence.
//! - [`error`]: [`FormatError`](error::FormatError), shared by every file format.
//! - [`ids`]: device and item identifiers.
//! - [`hlc`]: hybrid logical clocks that stamp field edits.
//! - [`vv`]: dots and version vectors.
//! - [`item`]: the plaintext item and field-by-field resolution of siblings.
//! - [`record`]: record versions, sealed one by one and bound to their
//!   account, epoch, id, dot, context and deleted flag.
//! - [`state`]: a vault state and its key-free merge (union, then compaction).
//! - [`replica`]: one device's vault: add, edit, delete, locked and unlocked
//!   merges, conflict resolution and reports.
//! - [`format`](mod@format): the local container and the version-2 sync file
//!   (bytes and plain structs only; [`replica`] puts itself in them).
//! - [`segment`]: version-3 sync files, a device's snapshot and its delta
//!   segments, and the reader of either version.
//! - [`sync_names`]: which file in an account's sync folder is what.
//! - [`backup`]: the encrypted backup file.
//! - [`device_key`]: the Account Key as a signed-in device keeps it, sealed.
//! - [`unlock_key`]: a device's public unlock key as published in the sync
//!   folder (password changes seal the Account Key to it).
//! - [`generate`]: the password generator (characters or EFF passphrases),
//!   its policies with their text form, and their entropy.
//! - [`otp`]: one-time codes (TOTP, HOTP, Steam) from `otpauth://` URIs and
//!   the forms other managers export.
//! - [`search`]: ranked search over titles, usernames, URLs (by registrable
//!   domain) and tags.
#![warn(missing_docs)]

pub mod account;
pub mod account_key;
pub mod aead;
pub mod backup;
pub mod device_key;
pub mod error;
pub mod format;
pub mod generate;
pub mod hlc;
pub mod ids;
pub mod item;
pub mod kdf;
pub mod otp;
pub mod record;
pub mod replica;
pub mod search;
pub mod secret;
pub mod segment;
pub mod state;
pub mod sync_names;
pub mod unlock_key;
pub mod vv;
