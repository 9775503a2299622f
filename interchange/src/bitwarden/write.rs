//! Writing items as a Bitwarden unencrypted JSON export that Bitwarden and
//! [`crate::parse`] both read.
//!
//! Kept: title, notes, username, password, URLs, custom fields (hidden or
//! text), card and identity data (custom fields named as in
//! [`super::CARD`] / [`super::IDENTITY`] go back into the `card` /
//! `identity` object), the field `otp` (hidden) as `login.totp`, the first
//! tag as the folder and further tags in the text field `coffer-tags`,
//! old passwords as `passwordHistory`, the source id as `id`.
//! Changed: an item of another kind that has a username, password or URL is
//! written as a login (type 1) so Bitwarden keeps those; kind Other is a
//! login or a secure note. Dropped: old titles, usernames, URLs and notes
//! of history versions (Bitwarden keeps old passwords only).

use std::io;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use super::{Slot, CARD, EXTRA_TAGS_FIELD, IDENTITY, OTP_FIELD};
use crate::item::{CustomField, ExternalItem, ItemKind};

#[derive(Serialize)]
struct Export<'a> {
    encrypted: bool,
    folders: Vec<FolderOut<'a>>,
    items: Vec<ItemOut<'a>>,
}

#[derive(Serialize)]
struct FolderOut<'a> {
    id: String,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemOut<'a> {
    id: Option<&'a str>,
    organization_id: Option<()>,
    folder_id: Option<String>,
    #[serde(rename = "type")]
    kind: u8,
    reprompt: u8,
    name: &'a str,
    notes: Option<&'a str>,
    favorite: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<LoginOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure_note: Option<SecureNoteOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card: Option<SlotsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<SlotsOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    password_history: Vec<HistoryOut<'a>>,
    collection_ids: Option<()>,
}

#[derive(Serialize)]
struct FieldOut<'a> {
    name: &'a str,
    value: &'a str,
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
struct LoginOut<'a> {
    uris: Vec<UriOut<'a>>,
    username: Option<&'a str>,
    password: Option<&'a str>,
    totp: Option<&'a str>,
}

#[derive(Serialize)]
struct UriOut<'a> {
    #[serde(rename = "match")]
    match_kind: Option<()>,
    uri: &'a str,
}

#[derive(Serialize)]
struct SecureNoteOut {
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryOut<'a> {
    last_used_date: Option<&'a str>,
    password: &'a str,
}

/// A card or identity object: every key of the table, null when unset.
struct SlotsOut<'a>(Vec<(&'static str, Option<&'a str>)>);

impl Serialize for SlotsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Counts bytes, to size the output buffer before writing secrets into it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes items as a Bitwarden unencrypted JSON export (pretty-printed).
pub fn write_bitwarden_json(items: &[ExternalItem]) -> Zeroizing<Vec<u8>> {
    let mut folder_names: Vec<&str> = Vec::new();
    for item in items {
        if let Some(tag) = item.tags.first() {
            if !folder_names.contains(&tag.as_str()) {
                folder_names.push(tag);
            }
        }
    }
    let folder_id = |name: &str| -> String {
        let n = folder_names.iter().position(|f| *f == name).unwrap_or(0) + 1;
        format!("00000000-0000-4000-8000-{n:012x}")
    };
    let extra_tags: Vec<Zeroizing<String>> = items
        .iter()
        .map(|i| {
            Zeroizing::new(
                i.tags
                    .iter()
                    .skip(1)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })
        .collect();
    let export = Export {
        encrypted: false,
        folders: folder_names
            .iter()
            .map(|name| FolderOut {
                id: folder_id(name),
                name,
            })
            .collect(),
        items: items
            .iter()
            .zip(&extra_tags)
            .map(|(item, extra)| item_out(item, extra, item.tags.first().map(|t| folder_id(t))))
            .collect(),
    };
    let mut counter = Counter(0);
    serde_json::to_writer_pretty(&mut counter, &export)
        .expect("serializing plain structs to an infallible writer cannot fail");
    let mut out = Zeroizing::new(Vec::with_capacity(counter.0 + 1));
    serde_json::to_writer_pretty(&mut *out, &export)
        .expect("serializing plain structs into a Vec cannot fail");
    out.push(b'\n');
    out
}

fn item_out<'a>(
    item: &'a ExternalItem,
    extra_tags: &'a str,
    folder_id: Option<String>,
) -> ItemOut<'a> {
    let has_login = !item.username.is_empty()
        || !item.password.is_empty()
        || !item.url.is_empty()
        || !item.urls.is_empty()
        || item.history.iter().any(|h| h.password.is_some());
    let kind: u8 = match item.kind {
        ItemKind::Login => 1,
        _ if has_login => 1,
        ItemKind::SecureNote | ItemKind::Other => 2,
        ItemKind::Card => 3,
        ItemKind::Identity => 4,
    };
    let mut rest: Vec<&CustomField> = item.fields.iter().collect();
    let mut out = ItemOut {
        id: item.source_id.as_deref(),
        organization_id: None,
        folder_id,
        kind,
        reprompt: 0,
        name: &item.title,
        notes: non_empty(&item.notes),
        favorite: false,
        fields: Vec::new(),
        login: None,
        secure_note: None,
        card: None,
        identity: None,
        password_history: Vec::new(),
        collection_ids: None,
    };
    match kind {
        1 => {
            let totp = take_field(&mut rest, OTP_FIELD, true);
            out.login = Some(LoginOut {
                uris: std::iter::once(&item.url)
                    .filter(|u| !u.is_empty())
                    .chain(&item.urls)
                    .map(|uri| UriOut {
                        match_kind: None,
                        uri,
                    })
                    .collect(),
                username: non_empty(&item.username),
                password: non_empty(&item.password),
                totp,
            });
        }
        2 => out.secure_note = Some(SecureNoteOut { kind: 0 }),
        3 => out.card = Some(slots_out(&mut rest, CARD)),
        _ => out.identity = Some(slots_out(&mut rest, IDENTITY)),
    }
    out.fields = rest
        .iter()
        .map(|f| FieldOut {
            name: &f.name,
            value: &f.value,
            kind: u8::from(f.hidden),
        })
        .collect();
    if !extra_tags.is_empty() {
        out.fields.push(FieldOut {
            name: EXTRA_TAGS_FIELD,
            value: extra_tags,
            kind: 0,
        });
    }
    // passwordHistory is newest first.
    out.password_history = item
        .history
        .iter()
        .rev()
        .filter_map(|h| {
            h.password.as_deref().map(|password| HistoryOut {
                last_used_date: h.modified.as_deref(),
                password,
            })
        })
        .collect();
    out
}

/// Removes and returns the value of the first field with this name and hidden flag.
fn take_field<'a>(fields: &mut Vec<&'a CustomField>, name: &str, hidden: bool) -> Option<&'a str> {
    let pos = fields
        .iter()
        .position(|f| f.name == name && f.hidden == hidden)?;
    Some(fields.remove(pos).value.as_str())
}

fn slots_out<'a>(fields: &mut Vec<&'a CustomField>, slots: &[Slot]) -> SlotsOut<'a> {
    SlotsOut(
        slots
            .iter()
            .map(|s| (s.key, take_field(fields, s.label, s.hidden)))
            .collect(),
    )
}
