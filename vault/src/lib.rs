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
#![warn(missing_docs)]

pub mod aead;
pub mod secret;
