//! Parsing a Bitwarden unencrypted JSON export.
//!
//! Types: 1 login (username, password, `uris`, `totp` as field `otp`,
//! `passwordHistory` as history), 2 secure note, 3 card and 4 identity
//! (their data as custom fields, see [`super::CARD`], [`super::IDENTITY`]),
//! 5 SSH key (kind Other). Unknown types keep name, notes and fields.
//! Field types: 0 text, 1 hidden, 2 boolean; 3 (linked) and unknown types
//! are skipped and reported in [`crate::Parsed::dropped`].
//! The folder and the collections become tags; `id` the source id.

use std::collections::HashMap;

use serde_json::{Map, Value};
use zeroize::Zeroize;

use super::{Slot, CARD, EXTRA_TAGS_FIELD, IDENTITY, OTP_FIELD, SSH_KEY};
use crate::error::{entry_location, ImportError};
use crate::item::{CustomField, ExternalItem, HistoryVersion, ItemKind};
use crate::{Dropped, Format, Parsed};

const NAME: &str = "bitwarden";

/// Reads a Bitwarden export. The parsed JSON tree is wiped afterwards.
pub(crate) fn parse_bitwarden(text: &str) -> Result<Parsed, ImportError> {
    let mut doc: Value = serde_json::from_str(text).map_err(json_error)?;
    let result = convert(&mut doc);
    wipe(&mut doc);
    result
}

fn json_error(e: serde_json::Error) -> ImportError {
    let location = format!("line {}, column {}", e.line(), e.column());
    let reason = match e.classify() {
        serde_json::error::Category::Eof => "the JSON ends early (truncated file?)".to_owned(),
        _ => {
            let text = e.to_string();
            let cut = text.find(" at line ").unwrap_or(text.len());
            format!("invalid JSON: {}", &text[..cut])
        }
    };
    if e.line() == 1 && e.column() <= 1 {
        return ImportError::wrong_format(NAME, location, reason);
    }
    ImportError::malformed(location, reason)
}

/// Overwrites every string in the tree before it is dropped.
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(o) => o.values_mut().for_each(wipe),
        _ => {}
    }
}

fn convert(doc: &mut Value) -> Result<Parsed, ImportError> {
    let Some(root) = doc.as_object_mut() else {
        return Err(ImportError::wrong_format(
            NAME,
            "document",
            "the top level is not a JSON object",
        ));
    };
    if root.get("encrypted") == Some(&Value::Bool(true))
        || root.contains_key("encKeyValidation_DO_NOT_EDIT")
    {
        return Err(ImportError::Encrypted {
            location: "document".into(),
            reason: "this Bitwarden export is encrypted (\"encrypted\": true); export again \
                     choosing the unencrypted .json format"
                .into(),
        });
    }
    let names_by_id = |key: &str,
                       root: &mut Map<String, Value>|
     -> Result<HashMap<String, String>, ImportError> {
        let mut map = HashMap::new();
        if let Some(list) = root.get_mut(key).and_then(Value::as_array_mut) {
            for (i, entry) in list.iter_mut().enumerate() {
                let loc = format!("{key} entry {}", i + 1);
                let obj = as_object(entry, &loc)?;
                let id = take_string(obj, "id", &loc)?;
                let name = take_string(obj, "name", &loc)?;
                map.insert(id, name);
            }
        }
        Ok(map)
    };
    let folders = names_by_id("folders", root)?;
    let collections = names_by_id("collections", root)?;
    let Some(items) = root.get_mut("items").and_then(Value::as_array_mut) else {
        return Err(ImportError::wrong_format(
            NAME,
            "document",
            "no \"items\" array at the top level",
        ));
    };
    let mut parsed = Parsed::default();
    for (i, raw) in items.iter_mut().enumerate() {
        let title = raw
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let loc = entry_location("item", i + 1, &title);
        let obj = as_object(raw, &loc)?;
        let item = convert_item(obj, &loc, &folders, &collections, &mut parsed.dropped)?;
        parsed.items.push(item);
    }
    Ok(parsed)
}

fn convert_item(
    obj: &mut Map<String, Value>,
    loc: &str,
    folders: &HashMap<String, String>,
    collections: &HashMap<String, String>,
    dropped: &mut Vec<Dropped>,
) -> Result<ExternalItem, ImportError> {
    let mut item = ExternalItem::from_format(Format::Bitwarden);
    let id = take_string(obj, "id", loc)?;
    item.source_id = (!id.is_empty()).then_some(id);
    item.title = take_string(obj, "name", loc)?;
    item.notes = take_string(obj, "notes", loc)?;
    let folder_id = take_string(obj, "folderId", loc)?;
    if !folder_id.is_empty() {
        match folders.get(&folder_id) {
            Some(name) if !name.is_empty() => item.tags.push(name.clone()),
            Some(_) => {}
            None => dropped.push(Dropped {
                location: loc.to_owned(),
                reason: "folderId names no folder of the export; folder dropped".into(),
            }),
        }
    }
    if let Some(ids) = obj.get("collectionIds").and_then(Value::as_array) {
        for name in ids
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|id| collections.get(id))
        {
            item.tags.push(name.clone());
        }
    }
    let kind = match obj.get("type") {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    let Some(kind) = kind else {
        return Err(ImportError::malformed(
            loc,
            "\"type\" is missing or not a number",
        ));
    };
    match kind {
        1 => {
            item.kind = ItemKind::Login;
            if let Some(login) = obj.get_mut("login").filter(|v| !v.is_null()) {
                read_login(&mut item, as_object(login, loc)?, loc)?;
            }
        }
        2 => item.kind = ItemKind::SecureNote,
        3 => {
            item.kind = ItemKind::Card;
            read_slots(&mut item, obj, "card", CARD, loc)?;
        }
        4 => {
            item.kind = ItemKind::Identity;
            read_slots(&mut item, obj, "identity", IDENTITY, loc)?;
        }
        5 => {
            item.kind = ItemKind::Other;
            read_slots(&mut item, obj, "sshKey", SSH_KEY, loc)?;
        }
        other => {
            item.kind = ItemKind::Other;
            dropped.push(Dropped {
                location: loc.to_owned(),
                reason: format!(
                    "unknown item type {other}: only name, notes and custom fields kept"
                ),
            });
        }
    }
    if let Some(history) = obj.get_mut("passwordHistory").and_then(Value::as_array_mut) {
        read_history(&mut item, history, loc)?;
    }
    if let Some(fields) = obj.get_mut("fields").and_then(Value::as_array_mut) {
        for (n, field) in fields.iter_mut().enumerate() {
            let floc = format!("{loc}, field {}", n + 1);
            read_field(&mut item, as_object(field, &floc)?, &floc, dropped)?;
        }
    }
    Ok(item)
}

fn read_login(
    item: &mut ExternalItem,
    login: &mut Map<String, Value>,
    loc: &str,
) -> Result<(), ImportError> {
    item.username = take_string(login, "username", loc)?;
    item.password = take_string(login, "password", loc)?;
    if let Some(uris) = login.get_mut("uris").and_then(Value::as_array_mut) {
        for (n, uri) in uris.iter_mut().enumerate() {
            let uloc = format!("{loc}, uri {}", n + 1);
            let uri = take_string(as_object(uri, &uloc)?, "uri", &uloc)?;
            if uri.is_empty() {
                continue;
            }
            if item.url.is_empty() {
                item.url = uri;
            } else {
                item.urls.push(uri);
            }
        }
    }
    let totp = take_string(login, "totp", loc)?;
    if !totp.is_empty() {
        item.fields.push(CustomField::new(OTP_FIELD, totp, true));
    }
    // Older exports put the history here rather than on the item.
    if let Some(history) = login
        .get_mut("passwordHistory")
        .and_then(Value::as_array_mut)
    {
        read_history(item, history, loc)?;
    }
    Ok(())
}

/// `passwordHistory` lists the newest first; history is kept oldest first.
fn read_history(
    item: &mut ExternalItem,
    history: &mut [Value],
    loc: &str,
) -> Result<(), ImportError> {
    for (n, old) in history.iter_mut().enumerate().rev() {
        let hloc = format!("{loc}, passwordHistory {}", n + 1);
        let old = as_object(old, &hloc)?;
        let modified = take_string(old, "lastUsedDate", &hloc)?;
        let mut version = HistoryVersion::default();
        version.modified = (!modified.is_empty()).then_some(modified);
        version.password = Some(take_string(old, "password", &hloc)?);
        item.history.push(version);
    }
    Ok(())
}

fn read_slots(
    item: &mut ExternalItem,
    obj: &mut Map<String, Value>,
    key: &str,
    slots: &[Slot],
    loc: &str,
) -> Result<(), ImportError> {
    let Some(data) = obj.get_mut(key).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let data = as_object(data, &format!("{loc}, {key}"))?;
    for slot in slots {
        let value = take_string(data, slot.key, loc)?;
        if !value.is_empty() {
            item.fields
                .push(CustomField::new(slot.label, value, slot.hidden));
        }
    }
    Ok(())
}

fn read_field(
    item: &mut ExternalItem,
    field: &mut Map<String, Value>,
    loc: &str,
    dropped: &mut Vec<Dropped>,
) -> Result<(), ImportError> {
    let name = take_string(field, "name", loc)?;
    let kind = field.get("type").and_then(Value::as_u64).unwrap_or(0);
    match kind {
        0..=2 => {
            let value = take_string(field, "value", loc)?;
            if kind == 0 && name == EXTRA_TAGS_FIELD {
                item.tags
                    .extend(value.lines().filter(|t| !t.is_empty()).map(str::to_owned));
            } else {
                item.fields.push(CustomField::new(name, value, kind == 1));
            }
        }
        3 => dropped.push(Dropped {
            location: loc.to_owned(),
            reason: format!("linked field {name:?} skipped (it only points at another field)"),
        }),
        other => dropped.push(Dropped {
            location: loc.to_owned(),
            reason: format!("field {name:?} of unknown type {other} skipped"),
        }),
    }
    Ok(())
}

fn as_object<'v>(v: &'v mut Value, loc: &str) -> Result<&'v mut Map<String, Value>, ImportError> {
    v.as_object_mut()
        .ok_or_else(|| ImportError::malformed(loc, "expected a JSON object"))
}

/// Moves a string out of `obj[key]`: missing or null gives "", numbers and
/// booleans give their text, anything else is an error.
fn take_string(obj: &mut Map<String, Value>, key: &str, loc: &str) -> Result<String, ImportError> {
    match obj.get_mut(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(std::mem::take(s)),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(ImportError::malformed(
            loc,
            format!("\"{key}\" is not a string"),
        )),
    }
}
