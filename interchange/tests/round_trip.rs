//! Round trips: every fixture of every format, and a set of awkward items,
//! go through each writer and back through the parser. What comes back is
//! exactly the input minus what the writer documents it cannot keep.

mod common;

use coffer_interchange::{
    parse, write_bitwarden_json, write_generic_csv, CustomField, ExternalItem, Format,
    HistoryVersion, ItemKind,
};
use common::{fixture, view, View};

/// Compares ignoring the source format and the order of custom fields.
fn comparable(mut v: View) -> View {
    v.format = None;
    v.fields.sort();
    v
}

/// What a Bitwarden export keeps of an item (see `write_bitwarden_json`).
fn through_bitwarden(v: &View) -> View {
    let mut v = v.clone();
    let has_login = !v.username.is_empty()
        || !v.password.is_empty()
        || !v.url.is_empty()
        || !v.urls.is_empty()
        || v.history.iter().any(|h| h[3].is_some());
    v.kind = match v.kind {
        ItemKind::Login => ItemKind::Login,
        _ if has_login => ItemKind::Login,
        ItemKind::SecureNote | ItemKind::Other => ItemKind::SecureNote,
        kind => kind,
    };
    v.history = v
        .history
        .iter()
        .filter(|h| h[3].is_some())
        .map(|h| [h[0].clone(), None, None, h[3].clone(), None, None])
        .collect();
    comparable(v)
}

/// What a generic CSV export keeps of an item (see `write_generic_csv`).
fn through_csv(v: &View) -> View {
    let mut v = v.clone();
    v.history.clear();
    let mut seen: Vec<String> = Vec::new();
    v.fields = v
        .fields
        .iter()
        .filter(|(_, value, _)| !value.is_empty())
        .map(|(name, value, _)| {
            let k = seen.iter().filter(|n| *n == name).count() + 1;
            seen.push(name.clone());
            let name = if k == 1 {
                name.clone()
            } else {
                format!("{name} ({k})")
            };
            (name, value.clone(), false)
        })
        .collect();
    v.source_id = v
        .source_id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    comparable(v)
}

fn assert_round_trip(label: &str, items: &[ExternalItem]) {
    let original: Vec<View> = items.iter().map(view).collect();

    let json = write_bitwarden_json(items);
    let back = parse(Format::Bitwarden, &json)
        .unwrap_or_else(|e| panic!("{label}: re-reading the Bitwarden export: {e}"));
    let want: Vec<View> = original.iter().map(through_bitwarden).collect();
    let got: Vec<View> = back.iter().map(view).map(comparable).collect();
    assert_eq!(got, want, "{label}: Bitwarden round trip");

    let csv = write_generic_csv(items);
    let back = parse(Format::GenericCsv, &csv)
        .unwrap_or_else(|e| panic!("{label}: re-reading the CSV export: {e}"));
    let want: Vec<View> = original.iter().map(through_csv).collect();
    let got: Vec<View> = back.iter().map(view).map(comparable).collect();
    assert_eq!(got, want, "{label}: generic CSV round trip");

    // Writing what was read back gives the same bytes: the writers are stable.
    let again = parse(Format::GenericCsv, &csv).unwrap();
    let csv_again = write_generic_csv(&again);
    assert_eq!(
        String::from_utf8_lossy(&csv_again),
        String::from_utf8_lossy(&csv),
        "{label}: CSV writer is stable"
    );
}

#[test]
fn every_fixture_round_trips_through_both_writers() {
    let cases = [
        (Format::KeepassXml, "keepass2.xml"),
        (Format::KeepassXml, "keepassxc-2.7.4.xml"),
        (Format::KeepassXml, "keepassxc-2.7.4-edited.xml"),
        (Format::KeepassCsv, "keepassxc-2.7.4.csv"),
        (Format::Bitwarden, "bitwarden.json"),
        (Format::OnePasswordCsv, "1password.csv"),
        (Format::MsecureCsv, "msecure.csv"),
        (Format::GenericCsv, "generic.csv"),
    ];
    for (format, name) in cases {
        let items = parse(format, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!items.is_empty(), "{name} has items");
        assert_round_trip(name, &items);
    }
}

#[test]
fn bitwarden_export_of_a_bitwarden_import_is_lossless() {
    let items = parse(Format::Bitwarden, &fixture("bitwarden.json")).unwrap();
    let back = parse(Format::Bitwarden, &write_bitwarden_json(&items)).unwrap();
    let a: Vec<View> = items.iter().map(view).collect();
    let b: Vec<View> = back.iter().map(view).collect();
    assert_eq!(a, b, "same items, same field order, same ids");
}

fn awkward_items() -> Vec<ExternalItem> {
    let mut items = Vec::new();

    let mut login = ExternalItem::default();
    login.source_id = Some("id-1".into());
    login.title = "Dup ✉ «ünï»".into();
    login.username = "ада@example.com".into();
    login.password = "p\"w,1\r\nline2 \u{1F511}".into();
    login.url = "https://a.example/?q=1,2".into();
    login.urls = vec!["https://b.example".into(), "https://c.example".into()];
    login.notes = "notes, with \"quotes\"\nand lines".into();
    login.tags = vec!["Work/Sub".into(), "second".into(), "third tag".into()];
    login.fields = vec![
        CustomField::new("password", "a field named like a column", false),
        CustomField::new("Recovery", "r-123", true),
        CustomField::new("dup", "first", false),
        CustomField::new("dup", "", false),
        CustomField::new("dup", "second", false),
        CustomField::new("field:odd", "prefixed", false),
        CustomField::new("kind", "not a kind", false),
        CustomField::new("empty", "", false),
        CustomField::new("otp", "otpauth://totp/x?secret=AB", true),
    ];
    let mut v1 = HistoryVersion::default();
    v1.modified = Some("2020-01-01T00:00:00Z".into());
    v1.title = Some("Dup".into());
    v1.username = Some("old-user".into());
    v1.password = Some("old-1".into());
    v1.url = Some(String::new());
    v1.notes = Some(String::new());
    let mut v2 = HistoryVersion::default();
    v2.password = Some("old-2".into());
    let mut v3 = HistoryVersion::default();
    v3.title = Some("title only".into());
    login.history = vec![v1, v2, v3];
    items.push(login);

    let mut dup = ExternalItem::default();
    dup.title = "Dup ✉ «ünï»".into();
    items.push(dup);

    let mut card = ExternalItem::default();
    card.kind = ItemKind::Card;
    card.title = "Visa".into();
    card.tags = vec!["Cards".into()];
    card.fields = vec![
        CustomField::new("Card number", "4111 1111", true),
        CustomField::new("Brand", "Visa", false),
        CustomField::new("Brand", "second brand is a plain field", false),
        CustomField::new("Security code", "123", true),
        CustomField::new("Limit", "1000", false),
    ];
    items.push(card);

    let mut identity = ExternalItem::default();
    identity.kind = ItemKind::Identity;
    identity.title = "Me".into();
    identity.fields = vec![
        CustomField::new("First name", "Ada", false),
        CustomField::new("SSN", "078-05", true),
        CustomField::new("Username", "identity-username", false),
    ];
    items.push(identity);

    let mut note = ExternalItem::default();
    note.kind = ItemKind::SecureNote;
    note.title = "Note".into();
    note.notes = "just text".into();
    items.push(note);

    let mut other = ExternalItem::default();
    other.kind = ItemKind::Other;
    other.title = "Bank account".into();
    other.fields = vec![CustomField::new("IBAN", "DE00 1234", true)];
    items.push(other);

    let mut card_with_password = ExternalItem::default();
    card_with_password.kind = ItemKind::Card;
    card_with_password.title = "Store card".into();
    card_with_password.password = "online-pw".into();
    card_with_password.fields = vec![CustomField::new("Card number", "5500", true)];
    items.push(card_with_password);

    items.push(ExternalItem::default());
    items
}

#[test]
fn awkward_items_round_trip_through_both_writers() {
    let items = awkward_items();
    assert_round_trip("awkward items", &items);
}

#[test]
fn csv_export_names_columns_safely() {
    let csv = write_generic_csv(&awkward_items());
    let text = std::str::from_utf8(&csv).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with(
        "\"title\",\"username\",\"password\",\"url\",\"urls\",\"notes\",\"tags\",\"kind\",\"id\""
    ));
    for col in [
        "\"field:password\"",
        "\"dup (2)\"",
        "\"field:field:odd\"",
        "\"field:kind\"",
    ] {
        assert!(header.contains(col), "{col} missing from {header}");
    }
}

#[test]
fn bitwarden_export_is_valid_bitwarden_json() {
    let json = write_bitwarden_json(&awkward_items());
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["encrypted"], false);
    let folders = doc["folders"].as_array().unwrap();
    assert_eq!(folders.len(), 2);
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items[0]["type"], 1);
    assert_eq!(items[0]["login"]["totp"], "otpauth://totp/x?secret=AB");
    assert_eq!(items[0]["login"]["uris"].as_array().unwrap().len(), 3);
    assert_eq!(items[0]["folderId"], folders[0]["id"]);
    assert_eq!(
        items[0]["passwordHistory"][0]["password"], "old-2",
        "newest first"
    );
    assert_eq!(items[2]["type"], 3);
    assert_eq!(items[2]["card"]["number"], "4111 1111");
    assert_eq!(items[2]["card"]["expMonth"], serde_json::Value::Null);
    assert_eq!(items[3]["type"], 4);
    assert_eq!(items[3]["identity"]["username"], "identity-username");
    assert_eq!(items[4]["type"], 2);
    assert_eq!(items[4]["secureNote"]["type"], 0);
    assert_eq!(
        items[6]["type"], 1,
        "a card with a password is written as a login"
    );
}
