//! Errors shared by every coffer file format (account header, local
//! container, per-device sync files).
//!
//! A reader first checks that the bytes are its format at all, then the
//! version, and only then the body: an unknown version is reported as such
//! (the fix is to update coffer), never as corruption (which would suggest
//! the file is damaged).

/// A file could not be read as the format its reader expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The bytes are well-formed but are not this format at all (another
    /// JSON document, another coffer format).
    #[error("this is not a {expected} file")]
    NotThisFormat {
        /// The format the reader expected, e.g. `coffer-account`.
        expected: &'static str,
    },
    /// The file is this format, in a version this coffer does not know.
    #[error("this {format} file is format version {version}, which this coffer does not know; update coffer")]
    UnknownVersion {
        /// The format, e.g. `coffer-account`.
        format: &'static str,
        /// The version the file declares.
        version: u64,
    },
    /// The file declares a known format and version but cannot be read:
    /// truncated, not JSON, a field missing, of the wrong type or length.
    /// The text says what is wrong; it never contains secrets.
    #[error("corrupt file: {0}")]
    Corrupt(String),
}
