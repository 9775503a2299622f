//! The format-neutral item every parser produces and every writer consumes.
//!
//! An [`ExternalItem`] holds plain `String`s so that parsers can fill it
//! cheaply, but it wipes all of them when it drops ([`ZeroizeOnDrop`]) and
//! its `Debug` output shows only non-secret facts (title, kind, tags, field
//! names). Because it implements `Drop`, move strings out of it with
//! `std::mem::take` rather than by destructuring.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::format::Format;

/// What kind of item an entry is, as far as the source format tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A website or application login (the default).
    #[default]
    Login,
    /// Free text only.
    SecureNote,
    /// A payment card; card data is kept as custom fields.
    Card,
    /// A person's identity (name, address, documents); kept as custom fields.
    Identity,
    /// Anything else the source knows (bank account, SSH key, ...).
    Other,
}

impl ItemKind {
    /// Stable lower-case name, used by the generic CSV `kind` column.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Login => "login",
            ItemKind::SecureNote => "secure-note",
            ItemKind::Card => "card",
            ItemKind::Identity => "identity",
            ItemKind::Other => "other",
        }
    }

    /// Inverse of [`ItemKind::name`] (case-insensitive; `note` is accepted too).
    pub fn from_name(name: &str) -> Option<ItemKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "login" => Some(ItemKind::Login),
            "secure-note" | "note" | "securenote" => Some(ItemKind::SecureNote),
            "card" => Some(ItemKind::Card),
            "identity" => Some(ItemKind::Identity),
            "other" => Some(ItemKind::Other),
            _ => None,
        }
    }
}

/// A named value beyond the standard ones (a KeePass custom string, a
/// Bitwarden field, a card number, an OTP secret ...).
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CustomField {
    /// The label as the source shows it.
    pub name: String,
    /// The value (may be secret).
    pub value: String,
    /// Whether the source masks this value (protected / hidden / PIN).
    pub hidden: bool,
}

impl CustomField {
    /// A field from its parts.
    pub fn new(name: impl Into<String>, value: impl Into<String>, hidden: bool) -> Self {
        CustomField {
            name: name.into(),
            value: value.into(),
            hidden,
        }
    }
}

impl fmt::Debug for CustomField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomField")
            .field("name", &self.name)
            .field("value", &"[redacted]")
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// One earlier version of an item. A field is `None` when the source does
/// not record it (Bitwarden keeps only old passwords; KeePass keeps all five).
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct HistoryVersion {
    /// When this version was replaced or last modified, as the source wrote
    /// it (RFC 3339 where the source allows: KeePass binary times are converted).
    pub modified: Option<String>,
    /// Old title.
    pub title: Option<String>,
    /// Old username.
    pub username: Option<String>,
    /// Old password.
    pub password: Option<String>,
    /// Old URL.
    pub url: Option<String>,
    /// Old notes.
    pub notes: Option<String>,
}

impl fmt::Debug for HistoryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryVersion")
            .field("modified", &self.modified)
            .field("title", &self.title)
            .field("values", &"[redacted]")
            .finish()
    }
}

/// An item read from (or to be written to) another manager's export.
///
/// Tags: a KeePass group path below the root group (`Email/Work`) becomes
/// ONE tag, followed by the entry's own KeePass tags; a Bitwarden folder
/// becomes one tag; 1Password tags and the mSecure tag are tags.
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ExternalItem {
    /// The format the item was read from (`None` for items built by the caller).
    #[zeroize(skip)]
    pub format: Option<Format>,
    /// The source's stable id for the item (KeePass UUID, Bitwarden id, mSecure id).
    pub source_id: Option<String>,
    /// Kind of item.
    #[zeroize(skip)]
    pub kind: ItemKind,
    /// Title (may be empty; duplicates are kept).
    pub title: String,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// The first URL.
    pub url: String,
    /// Extra URLs beyond [`ExternalItem::url`].
    pub urls: Vec<String>,
    /// Free-text notes.
    pub notes: String,
    /// Tags / folder path (see the type's docs).
    pub tags: Vec<String>,
    /// Everything else, in source order.
    pub fields: Vec<CustomField>,
    /// Earlier versions, oldest first.
    pub history: Vec<HistoryVersion>,
}

impl ExternalItem {
    /// An empty item read from `format`. (Struct-update syntax is not
    /// available because the type wipes itself on drop; start from this or
    /// from `ExternalItem::default()` and assign fields.)
    pub fn from_format(format: Format) -> Self {
        let mut item = ExternalItem::default();
        item.format = Some(format);
        item
    }
}

impl fmt::Debug for ExternalItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("ExternalItem")
            .field("format", &self.format)
            .field("source_id", &self.source_id)
            .field("kind", &self.kind)
            .field("title", &self.title)
            .field("username", &"[redacted]")
            .field("password", &"[redacted]")
            .field("url", &"[redacted]")
            .field("urls", &self.urls.len())
            .field("notes", &"[redacted]")
            .field("tags", &self.tags)
            .field("fields", &names)
            .field("history", &self.history.len())
            .finish()
    }
}

/// The key the importer deduplicates on.
///
/// With a non-empty source id: `"<format name>:<id>"` (format `external`
/// when the item has no format). Otherwise `"tuu:"` followed by the trimmed,
/// lower-cased title, username and URL separated by U+001F.
pub fn dedup_key(item: &ExternalItem) -> String {
    if let Some(id) = item.source_id.as_deref().map(str::trim) {
        if !id.is_empty() {
            let prefix = item.format.map_or("external", Format::name);
            return format!("{prefix}:{id}");
        }
    }
    format!(
        "tuu:{}\u{1f}{}\u{1f}{}",
        item.title.trim().to_lowercase(),
        item.username.trim().to_lowercase(),
        item.url.trim().to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_values() {
        let mut item = ExternalItem::default();
        item.title = "Bank".into();
        item.username = "ada-user".into();
        item.password = "hunter2-secret".into();
        item.url = "https://bank.example".into();
        item.notes = "pin is 1234".into();
        item.fields = vec![CustomField::new("PIN", "9876", true)];
        let mut old = HistoryVersion::default();
        old.password = Some("old-secret".into());
        item.history = vec![old];
        let text = format!("{item:?} {:?}", item.history[0]);
        assert!(text.contains("Bank") && text.contains("PIN"));
        for secret in [
            "ada-user",
            "hunter2",
            "bank.example",
            "1234",
            "9876",
            "old-secret",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }

    #[test]
    fn dedup_key_prefers_source_id() {
        let mut item = ExternalItem::default();
        item.title = " Mail ".into();
        item.username = "Ada".into();
        item.url = "HTTPS://X".into();
        assert_eq!(dedup_key(&item), "tuu:mail\u{1f}ada\u{1f}https://x");
        item.source_id = Some("  ".into());
        assert_eq!(dedup_key(&item), "tuu:mail\u{1f}ada\u{1f}https://x");
        item.source_id = Some("abc".into());
        item.format = Some(Format::Bitwarden);
        assert_eq!(dedup_key(&item), "bitwarden:abc");
        item.format = None;
        assert_eq!(dedup_key(&item), "external:abc");
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in [
            ItemKind::Login,
            ItemKind::SecureNote,
            ItemKind::Card,
            ItemKind::Identity,
            ItemKind::Other,
        ] {
            assert_eq!(ItemKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ItemKind::from_name("bogus"), None);
    }
}
