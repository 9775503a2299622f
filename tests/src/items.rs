//! Items through the CLI: adding them from `(field, value)` pairs, and
//! reading them back as the tests compare them (`get --json`, the titles of
//! `list --json`, the old values of `history --json`, single fields).
//!
//! The standard fields (`username`, `password`, `url`, `notes`) are options
//! of `coffer add`; any other name is a custom field (`--field NAME=VALUE`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{text, Device};

/// The fields `coffer add` and `get --json` know by name; others are custom.
const STANDARD: [&str; 4] = ["username", "password", "url", "notes"];

/// The arguments of `coffer add TITLE …` for `fields`, in their order.
pub fn add_args(title: &str, fields: &[(&str, &str)]) -> Vec<String> {
    let mut args = vec!["add".to_owned(), title.to_owned()];
    for (name, value) in fields {
        if STANDARD.contains(name) {
            args.push(format!("--{name}"));
            args.push((*value).to_owned());
        } else {
            args.push("--field".to_owned());
            args.push(format!("{name}={value}"));
        }
    }
    args
}

/// `coffer add TITLE …` on `dev`, asserting success; returns the new item's
/// id (what `add` prints).
pub fn add(dev: &Device, title: &str, fields: &[(&str, &str)]) -> String {
    let args = add_args(title, fields);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dev.ok(&args).trim().to_owned()
}

/// The item `query` as `get --json` prints it, or `None` while `get` fails
/// (not there yet, locked, ambiguous).
pub fn item(dev: &Device, query: &str) -> Option<Value> {
    let out = dev.coffer(&["get", query, "--json"]);
    out.status.success().then(|| {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "device {}: get {query:?} --json printed no JSON ({e}): {}",
                dev.name(),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    })
}

/// The one item `query` names (`get QUERY --json`, asserting success).
pub fn get(dev: &Device, query: &str) -> Value {
    dev.json(&["get", query, "--json"])
}

/// The titles `list --json` shows, in its order.
pub fn titles(dev: &Device) -> Vec<String> {
    let list = dev.json(&["list", "--json"]);
    list.as_array()
        .unwrap_or_else(|| panic!("list --json is an array: {list}"))
        .iter()
        .map(|i| text(&i["title"]))
        .collect()
}

/// [`titles`], sorted.
pub fn sorted_titles(dev: &Device) -> Vec<String> {
    let mut t = titles(dev);
    t.sort();
    t
}

/// Whether an item titled `title` is in `list --json`.
pub fn has_title(dev: &Device, title: &str) -> bool {
    titles(dev).iter().any(|t| t == title)
}

/// How many items `status --json` counts.
pub fn item_count(dev: &Device) -> u64 {
    let st = dev.status();
    st["items"]
        .as_u64()
        .unwrap_or_else(|| panic!("device {}: no item count: {st}", dev.name()))
}

/// The values `history QUERY --json` lists for `field`, oldest first as it
/// prints them (a value it shows as null, a field that did not exist, as
/// `""`).
pub fn history_values(dev: &Device, query: &str, field: &str) -> Vec<String> {
    let h = dev.json(&["history", query, "--json"]);
    h["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("history --json has entries: {h}"))
        .iter()
        .filter(|e| e["field"] == field)
        .map(|e| e["value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The custom fields of an item (`get --json`), in its order, as (name,
/// value) pairs (a name may come twice).
pub fn custom_field_list(item: &Value) -> Vec<(String, String)> {
    item["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The custom fields of an item (`get --json`), by name (the last of a
/// name that comes twice).
pub fn custom_fields(item: &Value) -> BTreeMap<String, String> {
    custom_field_list(item).into_iter().collect()
}

/// Field `name` of an item (`get --json`): a standard field or `title` by
/// its key, anything else among the custom fields; `""` when absent.
pub fn field(item: &Value, name: &str) -> String {
    if name == "title" || STANDARD.contains(&name) {
        return item[name].as_str().unwrap_or_default().to_owned();
    }
    custom_fields(item).remove(name).unwrap_or_default()
}

/// Notes big enough (70 KiB) that the change adding them is a bulk one: it
/// goes into a new snapshot, so the device file itself is rewritten (a
/// small change only adds a delta segment: sync format 3). Tests that need
/// an engine to see a device's file change on one side use it.
pub fn bulk_notes() -> String {
    "n".repeat(70 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_fields_are_options_and_others_custom() {
        let args = add_args(
            "Mail",
            &[
                ("username", "me"),
                ("pin", "1234"),
                ("recovery", "a=b"),
                ("password", "pw"),
            ],
        );
        assert_eq!(
            args,
            [
                "add",
                "Mail",
                "--username",
                "me",
                "--field",
                "pin=1234",
                "--field",
                "recovery=a=b",
                "--password",
                "pw"
            ]
        );
    }

    #[test]
    fn fields_are_read_by_kind() {
        let v = serde_json::json!({
            "title": "Mail", "username": "me", "password": null,
            "fields": [{"name": "pin", "value": "0000"}, {"name": "x", "value": "y"}],
        });
        assert_eq!(field(&v, "title"), "Mail");
        assert_eq!(field(&v, "username"), "me");
        assert_eq!(field(&v, "password"), "");
        assert_eq!(field(&v, "pin"), "0000");
        assert_eq!(field(&v, "absent"), "");
        assert_eq!(custom_fields(&v).len(), 2);
    }
}
