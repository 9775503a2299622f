//! How a Secret Service item is a coffer item, both ways.
//!
//! A Secret Service item is an ordinary coffer item (synced, merged field
//! by field, kept in history, reset like any other) with these fields:
//!
//! | Secret Service | coffer field |
//! | --- | --- |
//! | that it is one | `kind` = `secret` |
//! | its collection | `collection` = the collection's id (`login`) |
//! | label | `title` (left out when empty) |
//! | attribute `NAME` = `VALUE` | `attribute:NAME` = `VALUE` |
//! | secret | `password` |
//! | content type, when not `text/plain` | `content-type` |
//! | a secret that is not UTF-8 | `password` holds it in base64, `secret-encoding` = `base64` |
//! | created, modified | the item's creation time, its latest field change (seconds) |
//!
//! (`kind`, `collection`, `attribute:…`, `content-type` and
//! `secret-encoding` are custom fields, stored as `field:NAME`; the names
//! live in [`coffer_vault::item::fields::reserved`].) An item in the vault's
//! trash (`trashed` set) is no Secret Service item until restored.

use base64::Engine;
use coffer_vault::item::fields::{custom_field, reserved, PASSWORD, TITLE};
use coffer_vault::item::Item;
use coffer_vault::secret::SecretString;
use zeroize::Zeroizing;

use super::store::{Attributes, CollectionId, ItemId, ItemInfo, NewItem, Secret, StoreError};

/// The `kind` of a Secret Service item.
pub const KIND_SECRET: &str = "secret";
/// The content type a secret has when none is recorded.
pub const TEXT_PLAIN: &str = "text/plain";
/// The `secret-encoding` of a secret that is not UTF-8.
pub const BASE64: &str = "base64";

/// A change to one stored field (`None` removes it).
pub type Change = (String, Option<SecretString>);

fn field(name: &str) -> String {
    custom_field(name)
}

/// The stored name of attribute `name`'s field.
pub fn attribute_field(name: &str) -> String {
    field(&format!("{}{name}", reserved::ATTRIBUTE_PREFIX))
}

fn value<'a>(item: &'a Item, stored: &str) -> Option<&'a str> {
    item.get(stored).map(SecretString::expose)
}

/// The collection of `item` when it is a Secret Service item (`kind` is
/// `secret` and a collection is named; items in the vault's trash are
/// deletions, never listed).
pub fn collection_of(item: &Item) -> Option<CollectionId> {
    if value(item, &field(reserved::KIND)) != Some(KIND_SECRET) {
        return None;
    }
    let c = value(item, &field(reserved::COLLECTION))?.trim();
    (!c.is_empty()).then(|| CollectionId(c.to_string()))
}

/// The collection `item` is in for `coffer list`: its `collection` field,
/// whatever its kind; `None` for the default collection.
pub fn list_collection(item: &Item) -> Option<String> {
    value(item, &field(reserved::COLLECTION))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Whether `coffer list` with `p` shows `item`: every item with
/// `all_collections`, else those of the collection named (`None`: the
/// default collection, items without a `collection` field).
pub fn listed(item: &Item, p: &coffer_proto::request::ListParams) -> bool {
    p.all_collections || list_collection(item).as_deref() == p.collection.as_deref()
}

/// The lookup attributes kept in `item`'s fields.
pub fn attributes(item: &Item) -> Attributes {
    let prefix = field(reserved::ATTRIBUTE_PREFIX);
    item.live_fields()
        .filter_map(|(name, v)| {
            name.strip_prefix(prefix.as_str())
                .map(|a| (a.to_string(), v.expose().to_string()))
        })
        .collect()
}

/// What the provider shows of `item`.
pub fn info(item: &Item) -> ItemInfo {
    ItemInfo {
        id: ItemId(item.id.to_string()),
        label: item.title().to_string(),
        attributes: attributes(item),
        created: item.created_ms / 1000,
        modified: item.modified_ms() / 1000,
    }
}

/// The secret of `item`, as a client stored it.
pub fn secret(item: &Item) -> Result<Secret, StoreError> {
    let text = value(item, PASSWORD).unwrap_or("");
    let content_type = value(item, &field(reserved::CONTENT_TYPE)).unwrap_or(TEXT_PLAIN);
    let bytes = match value(item, &field(reserved::SECRET_ENCODING)) {
        None => Zeroizing::new(text.as_bytes().to_vec()),
        Some(BASE64) => Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| {
                    StoreError::Failed(format!(
                        "the secret of coffer item {} is marked base64 but is not; fix its password field with `coffer edit`",
                        item.id
                    ))
                })?,
        ),
        Some(other) => {
            return Err(StoreError::Failed(format!(
                "coffer item {} keeps its secret in an unknown encoding {other:?}",
                item.id
            )))
        }
    };
    Ok(Secret::new(bytes, content_type))
}

/// The fields of a new Secret Service item in `collection`.
pub fn new_fields(collection: &CollectionId, item: &NewItem) -> Vec<(String, SecretString)> {
    let mut out = vec![
        (field(reserved::KIND), SecretString::from(KIND_SECRET)),
        (
            field(reserved::COLLECTION),
            SecretString::from(collection.as_str()),
        ),
    ];
    if !item.label.is_empty() {
        out.push((TITLE.to_string(), SecretString::from(item.label.as_str())));
    }
    for (name, v) in &item.attributes {
        out.push((attribute_field(name), SecretString::from(v.as_str())));
    }
    out.extend(
        secret_changes(&item.secret)
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v))),
    );
    out
}

/// The changes that make the item's label `label`.
pub fn label_change(label: &str) -> Change {
    let v = (!label.is_empty()).then(|| SecretString::from(label));
    (TITLE.to_string(), v)
}

/// The changes that store `secret` (the password, and the content type and
/// encoding fields set or removed).
pub fn secret_changes(secret: &Secret) -> Vec<Change> {
    let (text, encoding) = match std::str::from_utf8(secret.value()) {
        Ok(t) => (SecretString::from(t), None),
        Err(_) => (
            SecretString::new(base64::engine::general_purpose::STANDARD.encode(secret.value())),
            Some(SecretString::from(BASE64)),
        ),
    };
    let content_type =
        (secret.content_type() != TEXT_PLAIN).then(|| SecretString::from(secret.content_type()));
    vec![
        (PASSWORD.to_string(), Some(text)),
        (field(reserved::SECRET_ENCODING), encoding),
        (field(reserved::CONTENT_TYPE), content_type),
    ]
}

/// The changes that turn attributes `old` into `new`.
pub fn attribute_changes(old: &Attributes, new: &Attributes) -> Vec<Change> {
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| (attribute_field(k), None));
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (attribute_field(k), Some(SecretString::from(v.as_str()))));
    removed.chain(set).collect()
}

/// Whether `have` includes every pair of `want`.
pub fn matches(have: &Attributes, want: &Attributes) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::hlc::Clock;
    use coffer_vault::ids::{DeviceId, ItemId as VaultId};

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn item_with(fields: Vec<(String, SecretString)>) -> Item {
        let mut item = Item::new(VaultId::new_random(), 1_700_000_000_123);
        let mut clock = Clock::default();
        item.apply(
            fields.into_iter().map(|(n, v)| (n, Some(v))).collect(),
            &mut clock,
            1_700_000_005_000,
            DeviceId::new_random(),
        );
        item
    }

    fn login() -> CollectionId {
        CollectionId("login".into())
    }

    #[test]
    fn a_new_item_round_trips_through_coffer_fields() {
        let new = NewItem {
            label: "GitHub token".into(),
            attributes: attrs(&[("service", "github"), ("xdg:schema", "org.x.Generic")]),
            secret: Secret::new(Zeroizing::new(b"pa\xc3\x9f".to_vec()), "text/plain"),
        };
        let fields = new_fields(&login(), &new);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "field:kind",
                "field:collection",
                "title",
                "field:attribute:service",
                "field:attribute:xdg:schema",
                "password"
            ]
        );
        let item = item_with(fields);
        assert_eq!(collection_of(&item), Some(login()));
        assert_eq!(list_collection(&item).as_deref(), Some("login"));
        let i = info(&item);
        assert_eq!(i.label, "GitHub token");
        assert_eq!(i.attributes, new.attributes);
        assert_eq!(i.created, 1_700_000_000);
        assert_eq!(i.modified, 1_700_000_005);
        let s = secret(&item).unwrap();
        assert_eq!(s.value(), "paß".as_bytes());
        assert_eq!(s.content_type(), TEXT_PLAIN);
    }

    #[test]
    fn binary_secrets_and_content_types_are_kept() {
        let new = NewItem {
            label: String::new(),
            attributes: Attributes::new(),
            secret: Secret::new(
                Zeroizing::new(vec![0, 0xff, 0xfe, 7]),
                "application/octet-stream",
            ),
        };
        let item = item_with(new_fields(&login(), &new));
        assert_eq!(item.get(TITLE), None, "an empty label sets no title");
        assert_eq!(value(&item, "field:secret-encoding"), Some(BASE64));
        assert_eq!(
            value(&item, "field:content-type"),
            Some("application/octet-stream")
        );
        let s = secret(&item).unwrap();
        assert_eq!(s.value(), &[0, 0xff, 0xfe, 7]);
        assert_eq!(s.content_type(), "application/octet-stream");
        // Storing text again removes the encoding and the content type.
        let back = secret_changes(&Secret::new(Zeroizing::new(b"t".to_vec()), ""));
        assert_eq!(back[1], ("field:secret-encoding".to_string(), None));
        assert_eq!(back[2], ("field:content-type".to_string(), None));
    }

    #[test]
    fn only_live_secret_items_with_a_collection_count() {
        let login_item = item_with(vec![
            (TITLE.into(), SecretString::from("GitHub")),
            (PASSWORD.into(), SecretString::from("pw")),
        ]);
        assert_eq!(collection_of(&login_item), None);
        assert_eq!(list_collection(&login_item), None);
        let no_collection = item_with(vec![("field:kind".into(), SecretString::from("secret"))]);
        assert_eq!(collection_of(&no_collection), None);
        let broken = item_with(vec![
            ("field:kind".into(), SecretString::from("secret")),
            ("field:collection".into(), SecretString::from("login")),
            ("password".into(), SecretString::from("not base64!")),
            ("field:secret-encoding".into(), SecretString::from("base64")),
        ]);
        let e = secret(&broken).unwrap_err();
        assert!(!e.to_string().contains("not base64!"), "{e}");
    }

    #[test]
    fn attribute_changes_set_and_remove_only_what_differs() {
        let old = attrs(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = attrs(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let ch = attribute_changes(&old, &new);
        assert_eq!(
            ch,
            vec![
                ("field:attribute:c".to_string(), None),
                (
                    "field:attribute:b".to_string(),
                    Some(SecretString::from("20"))
                ),
                (
                    "field:attribute:d".to_string(),
                    Some(SecretString::from("4"))
                ),
            ]
        );
        assert!(matches(&new, &attrs(&[("b", "20")])));
        assert!(!matches(&new, &attrs(&[("b", "2")])));
        assert!(matches(&new, &Attributes::new()));
        assert_eq!(label_change(""), (TITLE.to_string(), None));
    }
}
