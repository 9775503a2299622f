//! The generic CSV format: a header row naming the columns, read by name
//! (case-insensitive, any order) and written by [`write_generic_csv`].
//!
//! Standard columns: `title`/`name`, `username`/`login`/`user`,
//! `password`/`pass`, `url`/`uri`/`website`/`login_uri`, `notes`/`note`/`extra`;
//! also understood: `urls` (extra URLs, one per line), `tags` (separated by
//! line breaks or `;`), `folder`/`group`/`grouping` (one tag),
//! `otp`/`totp`/`otpauth` (hidden field `otp`), `kind`, `id`.
//! Every other column is a custom field named by its header (`field:NAME`
//! forces a custom field NAME). Empty custom cells add no field.

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::columns::{parse_table, Role, FIELD_PREFIX};
use crate::csv::write_record;
use crate::error::ImportError;
use crate::item::ExternalItem;
use crate::{Format, Parsed};

/// Reads a generic CSV export.
pub(crate) fn parse_generic_csv(text: &str) -> Result<Parsed, ImportError> {
    parse_table(
        Format::GenericCsv,
        text,
        generic_role,
        &[Role::Title, Role::Username, Role::Password, Role::Url],
    )
}

fn generic_role(name: &str) -> Option<Role> {
    Some(match name {
        "title" | "name" => Role::Title,
        "username" | "login" | "user" | "user name" | "login_username" => Role::Username,
        "password" | "pass" | "login_password" => Role::Password,
        "url" | "uri" | "website" | "login_uri" => Role::Url,
        "urls" => Role::Urls,
        "notes" | "note" | "extra" => Role::Notes,
        "tags" => Role::Tags(&['\n', ';']),
        "folder" | "group" | "grouping" => Role::Folder,
        "otp" | "totp" | "otpauth" => Role::Otp,
        "kind" => Role::Kind,
        "id" => Role::Id,
        _ => return None,
    })
}

/// The fixed leading columns the writer emits.
const FIXED: [&str; 9] = [
    "title", "username", "password", "url", "urls", "notes", "tags", "kind", "id",
];

/// Writes items as a generic CSV (every cell quoted, CRLF line ends) that
/// [`crate::parse`] with [`Format::GenericCsv`] reads back.
///
/// Kept: title, username, password, url, extra URLs, notes, tags, kind,
/// source id, custom fields with non-empty values (one column per field
/// name; a name's second non-empty occurrence in one item goes to column
/// `NAME (2)`).
/// Dropped: history, the hidden flag, empty custom fields, the order of
/// custom fields within an item (column order wins).
pub fn write_generic_csv(items: &[ExternalItem]) -> Zeroizing<Vec<u8>> {
    // Column for the k-th occurrence (1-based) of each field name.
    let mut columns: Vec<(String, usize)> = Vec::new();
    let mut index: HashMap<(String, usize), usize> = HashMap::new();
    for item in items {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for field in item.fields.iter().filter(|f| !f.value.is_empty()) {
            let k = seen.entry(field.name.as_str()).or_insert(0);
            *k += 1;
            let key = (field.name.clone(), *k);
            if !index.contains_key(&key) {
                index.insert(key.clone(), FIXED.len() + columns.len());
                columns.push(key);
            }
        }
    }
    let mut header: Vec<String> = FIXED.iter().map(|s| (*s).to_owned()).collect();
    header.extend(columns.iter().map(|(name, k)| column_header(name, *k)));

    let mut rows: Vec<Vec<&str>> = Vec::with_capacity(items.len());
    let mut joined: Vec<Zeroizing<String>> = Vec::with_capacity(items.len() * 2);
    for item in items {
        joined.push(Zeroizing::new(item.urls.join("\n")));
        joined.push(Zeroizing::new(item.tags.join("\n")));
    }
    for (n, item) in items.iter().enumerate() {
        let mut row = vec![""; header.len()];
        row[0] = &item.title;
        row[1] = &item.username;
        row[2] = &item.password;
        row[3] = &item.url;
        row[4] = joined[2 * n].as_str();
        row[5] = &item.notes;
        row[6] = joined[2 * n + 1].as_str();
        row[7] = item.kind.name();
        row[8] = item.source_id.as_deref().unwrap_or("");
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for field in item.fields.iter().filter(|f| !f.value.is_empty()) {
            let k = seen.entry(field.name.as_str()).or_insert(0);
            *k += 1;
            let col = index[&(field.name.clone(), *k)];
            row[col] = &field.value;
        }
        rows.push(row);
    }

    // Size the buffer up front so no partial copy of the secrets is left
    // behind by a reallocation.
    let cell_bytes =
        |cells: &[&str]| -> usize { cells.iter().map(|c| 2 * c.len() + 3).sum::<usize>() + 2 };
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let capacity = cell_bytes(&header_refs) + rows.iter().map(|r| cell_bytes(r)).sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    write_record(&mut out, header_refs.iter().copied());
    for row in &rows {
        write_record(&mut out, row.iter().copied());
    }
    out
}

/// The header for the k-th occurrence of a field name, prefixed with
/// `field:` where it would otherwise read as a standard column.
fn column_header(name: &str, k: usize) -> String {
    let base = if k == 1 {
        name.to_owned()
    } else {
        format!("{name} ({k})")
    };
    let lower = base.trim().to_lowercase();
    if generic_role(&lower).is_some() || lower.starts_with(FIELD_PREFIX) || base.trim() != base {
        format!("{FIELD_PREFIX}{base}")
    } else {
        base
    }
}
