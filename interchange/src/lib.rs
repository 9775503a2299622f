//! Pure parsers and writers for other password managers' export formats:
//! bytes in, [`ExternalItem`]s out, and back. No I/O, no async runtime; the
//! daemon maps these items to vault items, deduplicates with
//! [`dedup_key`] and does all file handling.
//!
//! Parsing is all or nothing: [`parse`] returns every item or an
//! [`ImportError`] naming the line (CSV) or entry (XML, JSON) and what is
//! wrong. Input may start with a byte-order mark and use CRLF line ends.
//!
//! # Layout
//!
//! - [`item`]: the item type and its parts, [`dedup_key`]
//! - [`format`](mod@format): the [`Format`] enum and its command-line names
//! - [`error`]: the [`ImportError`] type
//! - `text`, `csv`, `columns`: decoding, an RFC 4180 reader/writer, header-driven rows
//! - `keepass_xml`, `csv_formats`, `msecure`, `generic_csv`, `bitwarden`: one per format
//!
//! See README.md beside Cargo.toml for each format's mapping.
#![warn(missing_docs)]

mod bitwarden;
mod columns;
mod csv;
mod csv_formats;
pub mod error;
pub mod format;
mod generic_csv;
pub mod item;
mod keepass_xml;
mod msecure;
mod text;

pub use bitwarden::write::write_bitwarden_json;
pub use error::ImportError;
pub use format::{Format, UnknownFormat};
pub use generic_csv::write_generic_csv;
pub use item::{dedup_key, CustomField, ExternalItem, HistoryVersion, ItemKind};

/// What a parse produced: the items, and what was deliberately left out.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The items, in file order.
    pub items: Vec<ExternalItem>,
    /// Items or parts skipped on purpose (recycle bin, linked fields,
    /// attachments, empty rows ...), for the import summary.
    pub dropped: Vec<Dropped>,
}

/// Something the parser skipped on purpose, and why. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Where (`line 4`, `entry 2 ("Mail")`, `item 3 ("Visa"), field 2` ...).
    pub location: String,
    /// What was skipped and why.
    pub reason: String,
}

/// Parses an export of `format`, returning all its items or an error.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<ExternalItem>, ImportError> {
    parse_report(format, bytes).map(|p| p.items)
}

/// Like [`parse`], also telling what was skipped on purpose.
pub fn parse_report(format: Format, bytes: &[u8]) -> Result<Parsed, ImportError> {
    let text = text::decode(bytes)?;
    let text = text.as_str();
    match format {
        Format::KeepassXml => keepass_xml::parse_keepass_xml(text),
        Format::KeepassCsv => csv_formats::parse_keepass_csv(text),
        Format::Bitwarden => bitwarden::read::parse_bitwarden(text),
        Format::OnePasswordCsv => csv_formats::parse_onepassword_csv(text),
        Format::MsecureCsv => msecure::parse_msecure_csv(text),
        Format::GenericCsv => generic_csv::parse_generic_csv(text),
    }
}
