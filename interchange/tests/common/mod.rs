//! Helpers shared by the integration tests: fixture loading and an
//! unredacted, comparable view of items (test data holds no real secrets).
#![allow(dead_code)]

use std::path::PathBuf;

use coffer_interchange::{ExternalItem, Format, ItemKind};

/// The bytes of `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Everything an item holds, as plain comparable data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub format: Option<Format>,
    pub source_id: Option<String>,
    pub kind: ItemKind,
    pub title: String,
    pub username: String,
    pub password: String,
    pub url: String,
    pub urls: Vec<String>,
    pub notes: String,
    pub tags: Vec<String>,
    /// (name, value, hidden)
    pub fields: Vec<(String, String, bool)>,
    /// (modified, title, username, password, url, notes)
    pub history: Vec<[Option<String>; 6]>,
}

pub fn view(item: &ExternalItem) -> View {
    View {
        format: item.format,
        source_id: item.source_id.clone(),
        kind: item.kind,
        title: item.title.clone(),
        username: item.username.clone(),
        password: item.password.clone(),
        url: item.url.clone(),
        urls: item.urls.clone(),
        notes: item.notes.clone(),
        tags: item.tags.clone(),
        fields: item
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone(), f.hidden))
            .collect(),
        history: item
            .history
            .iter()
            .map(|h| {
                [
                    h.modified.clone(),
                    h.title.clone(),
                    h.username.clone(),
                    h.password.clone(),
                    h.url.clone(),
                    h.notes.clone(),
                ]
            })
            .collect(),
    }
}

pub fn views(items: &[ExternalItem]) -> Vec<View> {
    items.iter().map(view).collect()
}

/// Shorthand for an expected custom field.
pub fn field(name: &str, value: &str, hidden: bool) -> (String, String, bool) {
    (name.to_owned(), value.to_owned(), hidden)
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
