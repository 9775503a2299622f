//! How another manager's item becomes a vault item, and back.
//!
//! Import ([`plan_of`]): title, username, password, URL and notes are the
//! standard fields (an empty title becomes `(untitled)`, other empty values
//! are left unset); extra URLs become `url 2`, `url 3` …; the tags become
//! one field `tags` (one per line); a kind other than login becomes a field
//! `kind` (`secure-note`, `card`, `identity`, `other`); custom fields keep
//! their names (made unique, case-insensitively, with ` (2)` …, and never
//! one of the standard names). The source's history comes first, as
//! successive versions, so that it lands in the fields' history.
//!
//! Export ([`external_of`]) reverses that: `url N` fields become extra
//! URLs, `tags` the tags, `kind` the kind, old passwords the history (with
//! the time they were set). The vault has no "hidden" flag, so a custom
//! field is exported as hidden when its name says it is secret
//! ([`looks_secret`]). The `imported-from` field is not exported.
//!
//! Deduplication keys ([`vault_keys`], [`incoming_key`]): an item with a
//! source id matches on `FORMAT:ID` (kept in the field `imported-from`) or
//! on a vault item id (a coffer export imported back); one without matches
//! on its title, username and URL.

use std::collections::HashSet;

use coffer_interchange::{dedup_key, CustomField, ExternalItem, HistoryVersion, ItemKind};
use coffer_vault::item::{custom_field, Item, CUSTOM_PREFIX, STANDARD_FIELDS};
use coffer_vault::secret::SecretString;

/// The custom field that remembers where an imported item came from.
pub(crate) const SOURCE_FIELD: &str = "imported-from";
/// The custom field holding the tags, one per line.
pub(crate) const TAGS_FIELD: &str = "tags";
/// The custom field holding a kind other than login.
pub(crate) const KIND_FIELD: &str = "kind";
/// The title given to an item that has none.
pub(crate) const UNTITLED: &str = "(untitled)";

/// Changes to an item's fields (`None` leaves a field unset or removes it).
pub(crate) type Changes = Vec<(String, Option<SecretString>)>;

/// How to build one item: its versions, oldest first. The first is added,
/// every later one applied as an edit, so earlier values end up in the
/// fields' history.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) versions: Vec<Changes>,
}

/// The title as the vault stores it.
pub(crate) fn stored_title(title: &str) -> &str {
    if title.trim().is_empty() {
        UNTITLED
    } else {
        title
    }
}

fn value(v: &str) -> Option<SecretString> {
    (!v.is_empty()).then(|| SecretString::from(v))
}

/// The title + username + URL key (as `coffer_interchange::dedup_key`
/// computes it for items without a source id).
pub(crate) fn tuu_key(title: &str, username: &str, url: &str) -> String {
    format!(
        "tuu:{}\u{1f}{}\u{1f}{}",
        title.trim().to_lowercase(),
        username.trim().to_lowercase(),
        url.trim().to_lowercase()
    )
}

fn get(item: &Item, name: &str) -> String {
    item.get(name)
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

/// The key of a vault item's own id.
pub(crate) fn id_key(id: &str) -> String {
    format!("id:{}", id.trim().to_lowercase())
}

/// Every key the vault's items answer to: their id, the source they were
/// imported from, and their title + username + URL.
pub(crate) fn vault_keys(items: &[Item]) -> HashSet<String> {
    let mut keys = HashSet::with_capacity(items.len() * 2);
    for i in items {
        keys.insert(id_key(&i.id.to_string()));
        if let Some(src) = i.get(&custom_field(SOURCE_FIELD)) {
            keys.insert(src.expose().to_owned());
        }
        keys.insert(tuu_key(i.title(), &get(i, "username"), &get(i, "url")));
    }
    keys
}

/// What an incoming item is matched on.
pub(crate) enum Incoming {
    /// A source id: its `FORMAT:ID` key (stored in `imported-from`) and the
    /// id as a vault item id.
    Source { key: String, as_vault_id: String },
    /// Title + username + URL.
    Tuu(String),
}

impl Incoming {
    /// Whether the vault already has this item, and if so on what.
    pub(crate) fn matched(&self, keys: &HashSet<String>) -> Option<&'static str> {
        match self {
            Incoming::Source { key, as_vault_id } => {
                (keys.contains(key) || keys.contains(as_vault_id)).then_some("same source id")
            }
            Incoming::Tuu(k) => keys.contains(k).then_some("same title, username and URL"),
        }
    }

    /// The value to keep in `imported-from`, if any.
    pub(crate) fn source(&self) -> Option<&str> {
        match self {
            Incoming::Source { key, .. } => Some(key),
            Incoming::Tuu(_) => None,
        }
    }
}

/// The key an incoming item is matched on.
pub(crate) fn incoming_key(x: &ExternalItem) -> Incoming {
    match x.source_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => Incoming::Source {
            key: dedup_key(x),
            as_vault_id: id_key(id),
        },
        _ => Incoming::Tuu(tuu_key(stored_title(&x.title), &x.username, &x.url)),
    }
}

/// Gives custom fields unique names that are not standard names.
struct Names(HashSet<String>);

impl Names {
    fn new() -> Names {
        Names(STANDARD_FIELDS.iter().map(|s| s.to_string()).collect())
    }

    fn unique(&mut self, name: &str) -> String {
        let base = match name.trim() {
            "" => "field",
            n => n,
        };
        let mut n = base.to_owned();
        let mut k = 2;
        while !self.0.insert(n.to_lowercase()) {
            n = format!("{base} ({k})");
            k += 1;
        }
        n
    }
}

/// The vault fields of the item's current version.
fn current_fields(x: &ExternalItem, source: Option<&str>) -> Changes {
    let mut out: Changes = vec![
        ("title".into(), value(stored_title(&x.title))),
        ("username".into(), value(&x.username)),
        ("password".into(), value(&x.password)),
        ("url".into(), value(&x.url)),
        ("notes".into(), value(&x.notes)),
    ];
    let mut names = Names::new();
    let mut custom = |name: &str, v: &str, out: &mut Changes| {
        if !v.is_empty() {
            out.push((custom_field(&names.unique(name)), value(v)));
        }
    };
    for (i, u) in x.urls.iter().enumerate() {
        custom(&format!("url {}", i + 2), u, &mut out);
    }
    let tags: Vec<&str> = x
        .tags
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    custom(TAGS_FIELD, &tags.join("\n"), &mut out);
    if x.kind != ItemKind::Login {
        custom(KIND_FIELD, x.kind.name(), &mut out);
    }
    for CustomField { name, value, .. } in &x.fields {
        custom(name, value, &mut out);
    }
    if let Some(src) = source {
        custom(SOURCE_FIELD, src, &mut out);
    }
    out
}

/// The plan for an external item: its history, then its current version.
pub(crate) fn plan_of(x: &ExternalItem, source: Option<&str>) -> Plan {
    let current = current_fields(x, source);
    let mut versions: Vec<Changes> = Vec::with_capacity(x.history.len() + 1);
    for h in &x.history {
        let mut v: Changes = Vec::new();
        if let Some(t) = h.title.as_deref().filter(|t| !t.trim().is_empty()) {
            v.push(("title".into(), value(t)));
        }
        for (name, old) in [
            ("username", &h.username),
            ("password", &h.password),
            ("url", &h.url),
            ("notes", &h.notes),
        ] {
            if let Some(old) = old {
                v.push((name.into(), value(old)));
            }
        }
        if !v.is_empty() {
            versions.push(v);
        }
    }
    if let Some(first) = versions.first_mut() {
        if !first.iter().any(|(n, _)| n == "title") {
            first.insert(0, current[0].clone());
        }
    }
    versions.push(current);
    Plan { versions }
}

/// Whether a custom field's name says its value is secret (exported as a
/// hidden field).
pub(crate) fn looks_secret(name: &str) -> bool {
    let n = name.to_lowercase();
    const EXACT: &[&str] = &[
        "otp",
        "totp",
        "card number",
        "security code",
        "ssn",
        "passport number",
        "license number",
        "private key",
        "cvv",
        "cvc",
    ];
    const PARTS: &[&str] = &[
        "password",
        "passphrase",
        "passwort",
        "secret",
        "token",
        "private key",
    ];
    let words = n.split(|c: char| !c.is_alphanumeric());
    EXACT.contains(&n.as_str())
        || PARTS.iter().any(|p| n.contains(p))
        || words.into_iter().any(|w| w == "pin" || w == "puk")
}

/// The index of an extra-URL field name (`url 2` → 2).
fn url_index(name: &str) -> Option<u32> {
    name.strip_prefix("url ")?
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 2)
}

/// A vault item as an external item (for the exporters).
pub(crate) fn external_of(item: &Item) -> ExternalItem {
    let mut x = ExternalItem::default();
    x.source_id = Some(item.id.to_string());
    x.title = item.title().to_owned();
    x.username = get(item, "username");
    x.password = get(item, "password");
    x.url = get(item, "url");
    x.notes = get(item, "notes");
    let mut urls: Vec<(u32, String)> = Vec::new();
    for (name, v) in item.live_fields() {
        let Some(n) = name.strip_prefix(CUSTOM_PREFIX) else {
            continue;
        };
        let v = v.expose();
        if n == SOURCE_FIELD {
            continue;
        } else if n == TAGS_FIELD {
            x.tags = v
                .lines()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
        } else if let (KIND_FIELD, Some(kind)) = (n, ItemKind::from_name(v)) {
            x.kind = kind;
        } else if let Some(i) = url_index(n) {
            urls.push((i, v.to_owned()));
        } else {
            x.fields.push(CustomField::new(n, v, looks_secret(n)));
        }
    }
    urls.sort_by_key(|(i, _)| *i);
    x.urls = urls.into_iter().map(|(_, u)| u).collect();
    x.history = item
        .history_of("password")
        .iter()
        .map(|h| {
            let mut v = HistoryVersion::default();
            v.password = Some(h.value.expose().to_owned());
            v.modified = Some(rfc3339(h.stamp.wall_ms));
            v
        })
        .collect();
    x
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC (`2024-05-01T12:00:00Z`).
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_interchange::Format;
    use coffer_vault::hlc::Clock;
    use coffer_vault::ids::{DeviceId, ItemId};

    fn names(c: &Changes) -> Vec<&str> {
        c.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Builds the item a plan describes, as the replica would.
    fn build(plan: &Plan) -> Item {
        let mut item = Item::new(ItemId::new_random(), 1);
        let mut clock = Clock::new();
        let dev = DeviceId::new_random();
        for (i, v) in plan.versions.iter().enumerate() {
            item.apply(v.clone(), &mut clock, 1_000 + i as u64, dev);
        }
        item
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800_123), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn secret_names() {
        for n in [
            "Password 2",
            "API token",
            "PIN",
            "Card number",
            "otp",
            "Bank PIN code",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in [
            "Postal code",
            "Brand",
            "Pinboard",
            "Spinner",
            "Email",
            "url 2",
        ] {
            assert!(!looks_secret(n), "{n}");
        }
    }

    #[test]
    fn import_then_export_keeps_everything() {
        let mut x = ExternalItem::from_format(Format::Bitwarden);
        x.source_id = Some("abc".into());
        x.kind = ItemKind::Card;
        x.title = "Visa ✓".into();
        x.username = "ada".into();
        x.url = "https://a.example".into();
        x.urls = vec!["https://b.example".into(), "https://c.example".into()];
        x.tags = vec!["Money/Cards".into(), "Banks, cards".into()];
        x.fields = vec![
            CustomField::new("Card number", "4111", true),
            CustomField::new("password", "dup-standard-name", false),
            CustomField::new("tags", "a custom field called tags", false),
            CustomField::new("Note", "", false),
        ];
        let mut old = HistoryVersion::default();
        old.password = Some("old-pw".into());
        x.history = vec![old];
        x.password = "new-pw".into();
        let key = incoming_key(&x);
        assert_eq!(key.source(), Some("bitwarden:abc"));
        let plan = plan_of(&x, key.source());
        assert_eq!(plan.versions.len(), 2);
        assert_eq!(names(&plan.versions[0]), ["title", "password"]);
        let item = build(&plan);
        assert_eq!(item.history_of("password").len(), 1);
        assert_eq!(
            item.get("field:password (2)").map(|s| s.expose()),
            Some("dup-standard-name")
        );
        assert_eq!(
            item.get("field:imported-from").map(|s| s.expose()),
            Some("bitwarden:abc")
        );
        assert!(item.get("notes").is_none(), "empty values stay unset");
        assert!(
            item.get("field:Note").is_none(),
            "empty custom fields are dropped"
        );

        let back = external_of(&item);
        assert_eq!(back.title, "Visa ✓");
        assert_eq!(back.kind, ItemKind::Card);
        assert_eq!(back.urls, x.urls);
        assert_eq!(back.tags, x.tags);
        assert_eq!(back.password, "new-pw");
        assert_eq!(back.history.len(), 1);
        assert_eq!(back.history[0].password.as_deref(), Some("old-pw"));
        let fields: Vec<(&str, &str, bool)> = back
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str(), f.hidden))
            .collect();
        assert!(
            fields.contains(&("Card number", "4111", true)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("tags (2)", "a custom field called tags", false)),
            "{fields:?}"
        );
        assert!(!fields.iter().any(|f| f.0 == SOURCE_FIELD), "{fields:?}");
    }

    #[test]
    fn history_becomes_field_history() {
        let mut x = ExternalItem::from_format(Format::KeepassXml);
        x.title = "Mail".into();
        x.username = "ada".into();
        x.password = "third".into();
        for (t, p) in [("Mail (old)", "first"), ("Mail", "second")] {
            let mut h = HistoryVersion::default();
            h.title = Some(t.into());
            h.username = Some("ada".into());
            h.password = Some(p.into());
            x.history.push(h);
        }
        let item = build(&plan_of(&x, None));
        let old: Vec<&str> = item
            .history_of("password")
            .iter()
            .map(|h| h.value.expose())
            .collect();
        assert_eq!(old, ["first", "second"]);
        assert_eq!(item.history_of("title").len(), 1);
        assert!(item.history_of("username").is_empty());
        assert_eq!(item.title(), "Mail");
    }

    #[test]
    fn keys() {
        let mut x = ExternalItem::default();
        x.title = "  ".into();
        x.username = "Ada".into();
        let Incoming::Tuu(k) = incoming_key(&x) else {
            panic!("no source id, so title + username + URL")
        };
        assert_eq!(k, tuu_key(UNTITLED, "ada", ""));
        let item = build(&plan_of(&x, None));
        assert!(vault_keys(std::slice::from_ref(&item)).contains(&k));
        x.source_id = Some(item.id.to_string());
        x.format = Some(Format::GenericCsv);
        let inc = incoming_key(&x);
        assert_eq!(inc.matched(&vault_keys(&[item])), Some("same source id"));
    }
}
