//! mSecure 5/6 CSV export.
//!
//! No header. One item per record: `title|id`, type, tag, notes, then one
//! cell per field, `label|typecode|value`, and usually a trailing empty
//! cell. Label and type code are split off from the left, so a value may
//! itself contain `|`; the title is split from the id at the LAST `|` when
//! what follows is a number, so a title may contain `|`.
//!
//! Mapping: type code 2 (Website) fills `url` (later ones `urls`), 7
//! (Username) `username`, 8 (Password) `password`; labels `Website`,
//! `Username`, `Password` are recognised too. Every other cell is a custom
//! field, hidden for type codes 9 (PIN, Security Code) and 12 (Card
//! Number) and for a second password. Empty field cells are skipped.

use zeroize::Zeroize;

use crate::csv;
use crate::error::ImportError;
use crate::item::{CustomField, ExternalItem, ItemKind};
use crate::{Dropped, Format, Parsed};

const CODE_WEBSITE: u32 = 2;
const CODE_USERNAME: u32 = 7;
const CODE_PASSWORD: u32 = 8;
const CODE_SECRET: u32 = 9;
const CODE_CARD_NUMBER: u32 = 12;

/// Reads an mSecure CSV export.
pub(crate) fn parse_msecure_csv(text: &str) -> Result<Parsed, ImportError> {
    let mut parsed = Parsed::default();
    for mut record in csv::read(text)? {
        if record.cells.len() < 4 {
            let hint = if record.line == 1 {
                " (is this an mSecure export? it has no header row)"
            } else {
                ""
            };
            return Err(ImportError::malformed(
                record.location(),
                format!(
                    "has {} columns; an mSecure item has at least 4 (title|id, type, tag, notes){hint}",
                    record.cells.len()
                ),
            ));
        }
        if record.cells.iter().all(|c| c.trim().is_empty()) {
            parsed.dropped.push(Dropped {
                location: record.location(),
                reason: "empty row".into(),
            });
            continue;
        }
        let location = record.location();
        let mut item = ExternalItem::from_format(Format::MsecureCsv);
        let head = std::mem::take(&mut record.cells[0]);
        match head.rsplit_once('|') {
            Some((title, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                item.title = title.to_owned();
                item.source_id = Some(id.to_owned());
            }
            _ => item.title = head.clone(),
        }
        let type_name = std::mem::take(&mut record.cells[1]);
        item.kind = kind_of(&type_name);
        if item.kind == ItemKind::Other && !type_name.trim().is_empty() {
            item.fields
                .push(CustomField::new("mSecure type", type_name.trim(), false));
        }
        let tag = record.cells[2].trim();
        if !tag.is_empty() {
            item.tags.push(tag.to_owned());
        }
        item.notes = std::mem::take(&mut record.cells[3]);
        for (i, cell) in record.cells.iter_mut().enumerate().skip(4) {
            if cell.is_empty() {
                continue;
            }
            let mut cell = std::mem::take(cell);
            let result = add_field(&mut item, &cell);
            cell.zeroize();
            result.map_err(|reason| {
                ImportError::malformed(
                    format!("{location}, column {}", i + 1),
                    format!("item {:?}: {reason}", item.title),
                )
            })?;
        }
        parsed.items.push(item);
    }
    Ok(parsed)
}

fn kind_of(type_name: &str) -> ItemKind {
    match type_name.trim().to_ascii_lowercase().as_str() {
        "login" | "web login" | "email account" => ItemKind::Login,
        "credit card" | "credit cards" => ItemKind::Card,
        "secure note" | "note" | "notes" => ItemKind::SecureNote,
        "identity" | "contact" | "contacts" => ItemKind::Identity,
        _ => ItemKind::Other,
    }
}

/// Adds one `label|code|value` cell; the error text never includes the value.
fn add_field(item: &mut ExternalItem, cell: &str) -> Result<(), String> {
    let mut parts = cell.splitn(3, '|');
    let (Some(label), Some(code), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("field cell is not label|type code|value".into());
    };
    let code: u32 = code
        .trim()
        .parse()
        .map_err(|_| format!("field {label:?} has a type code that is not a number"))?;
    let named = |n: &str| label.trim().eq_ignore_ascii_case(n);
    if code == CODE_WEBSITE || named("website") {
        if item.url.is_empty() {
            item.url = value.to_owned();
        } else if !value.is_empty() {
            item.urls.push(value.to_owned());
        }
    } else if (code == CODE_USERNAME || named("username")) && item.username.is_empty() {
        item.username = value.to_owned();
    } else if (code == CODE_PASSWORD || named("password")) && item.password.is_empty() {
        item.password = value.to_owned();
    } else {
        let hidden = matches!(code, CODE_SECRET | CODE_PASSWORD | CODE_CARD_NUMBER)
            || named("pin")
            || named("security code")
            || named("password");
        item.fields.push(CustomField::new(label, value, hidden));
    }
    Ok(())
}
