//! Every fixture file parses into the items it holds, field by field.

mod common;

use coffer_interchange::{dedup_key, parse, parse_report, Format, ItemKind};
use common::{field, fixture, strings, view, View};

fn sorted_fields(v: &View) -> Vec<(String, String, bool)> {
    let mut f = v.fields.clone();
    f.sort();
    f
}

#[test]
fn onepassword_csv_fixture() {
    let items = parse(Format::OnePasswordCsv, &fixture("1password.csv")).unwrap();
    assert_eq!(items.len(), 2);
    let forum = view(&items[0]);
    assert_eq!(forum.title, "Forum");
    assert_eq!(forum.url, "https://forum.example.org");
    assert_eq!(forum.username, "snowfox");
    assert_eq!(forum.password, "three-word-pass");
    assert_eq!(forum.tags, strings(&["social"]));
    assert_eq!(forum.notes, "");
    assert!(forum.fields.is_empty());
    assert_eq!(forum.source_id, None);
    assert_eq!(forum.kind, ItemKind::Login);

    let bank = view(&items[1]);
    assert_eq!(bank.title, "Bank");
    assert_eq!(bank.username, "ada.l");
    assert_eq!(bank.password, "b4nk-Secret");
    assert_eq!(bank.tags, strings(&["money", "personal"]));
    assert_eq!(bank.notes, "Branch: Main St, desk 4");
    assert_eq!(
        bank.fields,
        vec![field(
            "otp",
            "otpauth://totp/Bank:ada?secret=JBSWY3DPEHPK3PXP",
            true
        )]
    );
    assert_eq!(
        dedup_key(&items[1]),
        "tuu:bank\u{1f}ada.l\u{1f}https://bank.example.com"
    );
}

#[test]
fn msecure_csv_fixture() {
    let items = parse(Format::MsecureCsv, &fixture("msecure.csv")).unwrap();
    assert_eq!(items.len(), 3);
    let mail = view(&items[0]);
    assert_eq!(mail.title, "Mail account");
    assert_eq!(mail.source_id.as_deref(), Some("402117"));
    assert_eq!(mail.kind, ItemKind::Login);
    assert_eq!(mail.url, "mail.example.net");
    assert_eq!(mail.username, "ada.l");
    assert_eq!(mail.password, "s3cret-mail");
    assert!(mail.tags.is_empty() && mail.notes.is_empty() && mail.fields.is_empty());
    assert_eq!(dedup_key(&items[0]), "msecure-csv:402117");

    let shop = view(&items[1]);
    assert_eq!(shop.title, "Shop");
    assert_eq!(shop.tags, strings(&["personal"]));
    assert_eq!(shop.notes, "Bought the blue one");
    assert_eq!(
        (
            shop.url.as_str(),
            shop.username.as_str(),
            shop.password.as_str()
        ),
        ("shop.example.com", "ada", "pw-shop")
    );

    let card = view(&items[2]);
    assert_eq!(card.title, "Travel card");
    assert_eq!(card.source_id.as_deref(), Some("551234"));
    assert_eq!(card.kind, ItemKind::Card);
    assert!(card.username.is_empty() && card.password.is_empty() && card.url.is_empty());
    assert_eq!(
        card.fields,
        vec![
            field("Card Number", "4000 1234 5678 9010", true),
            field("Expiration Date", "09/2030", false),
            field("Security Code", "321", true),
            field("Name on Card", "Ada Lovelace", false),
            field("PIN", "9876", true),
            field("Issuing Bank", "Example Bank", false),
        ]
    );
}

#[test]
fn msecure_values_and_titles_may_contain_pipes() {
    let text = "A|b|77,Login,,note|with|pipes,Password|8|p|a|s|s,Other|0|x|y,\n\
                No id here,Bank Accounts,t,,Account|0|123,\n";
    let items = parse(Format::MsecureCsv, text.as_bytes()).unwrap();
    let a = view(&items[0]);
    assert_eq!(a.title, "A|b");
    assert_eq!(a.source_id.as_deref(), Some("77"));
    assert_eq!(a.notes, "note|with|pipes");
    assert_eq!(a.password, "p|a|s|s");
    assert_eq!(a.fields, vec![field("Other", "x|y", false)]);
    let b = view(&items[1]);
    assert_eq!(b.title, "No id here");
    assert_eq!(b.source_id, None);
    assert_eq!(b.kind, ItemKind::Other);
    assert_eq!(
        b.fields,
        vec![
            field("mSecure type", "Bank Accounts", false),
            field("Account", "123", false)
        ]
    );
}

#[test]
fn bitwarden_json_fixture() {
    let items = parse(Format::Bitwarden, &fixture("bitwarden.json")).unwrap();
    assert_eq!(items.len(), 3);
    let git = view(&items[0]);
    assert_eq!(git.title, "Git host");
    assert_eq!(
        git.source_id.as_deref(),
        Some("0b5d7c1e-3f4a-4e2b-8c9d-7a6b5c4d3e21")
    );
    assert_eq!(git.kind, ItemKind::Login);
    assert_eq!(git.username, "octo");
    assert_eq!(git.password, "pw-bitwarden");
    assert_eq!(git.url, "https://git.example.com/login");
    assert!(git.urls.is_empty());
    assert_eq!(git.notes, "recovery codes in the safe");
    assert_eq!(git.tags, strings(&["Personal"]));
    assert_eq!(
        git.fields,
        vec![
            field("team", "infra", false),
            field("api token", "tok-7781", true)
        ]
    );
    assert_eq!(
        dedup_key(&items[0]),
        "bitwarden:0b5d7c1e-3f4a-4e2b-8c9d-7a6b5c4d3e21"
    );

    let note = view(&items[1]);
    assert_eq!(note.kind, ItemKind::SecureNote);
    assert_eq!(note.title, "Wi-Fi at home");
    assert_eq!(note.notes, "SSID casa, passphrase on the router");
    assert!(note.tags.is_empty() && note.fields.is_empty() && note.password.is_empty());

    let visa = view(&items[2]);
    assert_eq!(visa.kind, ItemKind::Card);
    assert_eq!(visa.notes, "");
    assert_eq!(
        visa.fields,
        vec![
            field("Cardholder name", "Ada Lovelace", false),
            field("Brand", "Visa", false),
            field("Card number", "4111111111111111", true),
            field("Expiration month", "4", false),
            field("Expiration year", "2029", false),
            field("Security code", "123", true),
        ]
    );
}

#[test]
fn bitwarden_identity_history_uris_and_linked_fields() {
    let json = r#"{"encrypted":false,"folders":[],"collections":[{"id":"c1","name":"Team"}],
      "items":[
        {"id":"i1","type":4,"name":"Me","collectionIds":["c1"],
         "identity":{"firstName":"Ada","lastName":"Lovelace","ssn":"123-45","email":null}},
        {"id":"l1","type":1,"name":"Multi","login":{"username":"u","password":"new",
           "totp":"JBSWY3DP","uris":[{"uri":"https://a.example"},{"uri":null},{"uri":"https://b.example"}]},
         "passwordHistory":[{"lastUsedDate":"2024-02-01T00:00:00.000Z","password":"middle"},
                            {"lastUsedDate":"2023-01-01T00:00:00.000Z","password":"oldest"}],
         "fields":[{"name":"flag","value":"true","type":2},{"name":"link","value":null,"type":3,"linkedId":100}]},
        {"id":"s1","type":5,"name":"Server key","sshKey":{"privateKey":"-----BEGIN","publicKey":"ssh-ed25519 AAA","keyFingerprint":"SHA256:x"}}
      ]}"#;
    let parsed = parse_report(Format::Bitwarden, json.as_bytes()).unwrap();
    let me = view(&parsed.items[0]);
    assert_eq!(me.kind, ItemKind::Identity);
    assert_eq!(me.tags, strings(&["Team"]));
    assert_eq!(
        me.fields,
        vec![
            field("First name", "Ada", false),
            field("Last name", "Lovelace", false),
            field("SSN", "123-45", true),
        ]
    );
    let multi = view(&parsed.items[1]);
    assert_eq!(multi.url, "https://a.example");
    assert_eq!(multi.urls, strings(&["https://b.example"]));
    assert_eq!(
        multi.fields,
        vec![field("otp", "JBSWY3DP", true), field("flag", "true", false)]
    );
    let old: Vec<_> = multi
        .history
        .iter()
        .map(|h| (h[0].clone().unwrap(), h[3].clone().unwrap(), h[1].clone()))
        .collect();
    assert_eq!(
        old,
        vec![
            ("2023-01-01T00:00:00.000Z".into(), "oldest".into(), None),
            ("2024-02-01T00:00:00.000Z".into(), "middle".into(), None),
        ]
    );
    let ssh = view(&parsed.items[2]);
    assert_eq!(ssh.kind, ItemKind::Other);
    assert_eq!(ssh.fields[0], field("Private key", "-----BEGIN", true));
    assert_eq!(parsed.dropped.len(), 1);
    assert!(parsed.dropped[0]
        .location
        .contains("item 2 (\"Multi\"), field 2"));
    assert!(parsed.dropped[0].reason.contains("linked field \"link\""));
}

#[test]
fn keepass_xml_fixture() {
    let parsed = parse_report(Format::KeepassXml, &fixture("keepass2.xml")).unwrap();
    let items: Vec<View> = parsed.items.iter().map(view).collect();
    assert_eq!(items.len(), 3, "the recycle bin entry is skipped");
    let bank = &items[0];
    assert_eq!(bank.title, "Bank & Trust");
    assert_eq!(bank.source_id.as_deref(), Some("QmFua0VudHJ5VVVJRDAwMQ=="));
    assert_eq!(bank.username, "ada.l");
    assert_eq!(bank.password, "n3w <pass>");
    assert_eq!(bank.url, "https://bank.example.com");
    assert_eq!(bank.urls, strings(&["https://m.bank.example.com"]));
    assert_eq!(bank.notes, "first line\nsecond line");
    assert_eq!(bank.tags, strings(&["money", "important"]));
    assert_eq!(
        bank.fields,
        vec![
            field("PIN", "4321", true),
            field("Branch", "Main St", false),
            field(
                "otp",
                "otpauth://totp/Bank:ada?secret=JBSWY3DPEHPK3PXP",
                true
            ),
        ]
    );
    assert_eq!(
        bank.history,
        vec![[
            Some("2023-01-15T08:30:00Z".into()),
            Some("Bank".into()),
            Some("ada.l".into()),
            Some("old-pass".into()),
            Some("http://bank.example.com".into()),
            Some(String::new()),
        ]]
    );
    assert_eq!(
        dedup_key(&parsed.items[0]),
        "keepass-xml:QmFua0VudHJ5VVVJRDAwMQ=="
    );

    let mail = &items[1];
    assert_eq!(mail.title, "Mail ✉ ünïcödé");
    assert_eq!(mail.tags, strings(&["Email"]));
    assert_eq!(mail.password, "пароль,\"x");
    assert_eq!(mail.url, "");
    let work = &items[2];
    assert_eq!(work.title, mail.title, "duplicate titles are kept");
    assert_eq!(work.tags, strings(&["Email/Work"]));
    assert!(work.username.is_empty() && work.password.is_empty());

    let reasons: Vec<_> = parsed
        .dropped
        .iter()
        .map(|d| format!("{}: {}", d.location, d.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            "entry 1 (\"Bank & Trust\"): attachment \"statement.pdf\" not imported",
            "group \"Recycle Bin\": 1 entries in the recycle bin skipped",
        ]
    );
}

#[test]
fn keepassxc_real_xml_export_fixture() {
    let items = parse(Format::KeepassXml, &fixture("keepassxc-2.7.4.xml")).unwrap();
    let items: Vec<View> = items.iter().map(view).collect();
    assert_eq!(items.len(), 3);
    let bank = &items[0];
    assert_eq!(bank.title, "Bank & Trust");
    assert_eq!(bank.password, "n3w <pass>");
    assert_eq!(bank.tags, strings(&["important", "money"]));
    assert_eq!(bank.urls, strings(&["https://m.bank.example.com"]));
    assert_eq!(
        sorted_fields(bank),
        vec![
            field("Branch", "Main St", false),
            field("PIN", "4321", true),
            field(
                "otp",
                "otpauth://totp/Bank:ada?secret=JBSWY3DPEHPK3PXP",
                true
            ),
        ]
    );
    assert_eq!(bank.history[0][3].as_deref(), Some("old-pass"));
    assert_eq!(items[1].tags, strings(&["Email"]));
    assert_eq!(items[1].password, "пароль,\"x");
    assert_eq!(items[2].tags, strings(&["Email/Work"]));
}

#[test]
fn keepassxc_real_xml_with_binary_times() {
    let parsed = parse_report(Format::KeepassXml, &fixture("keepassxc-2.7.4-edited.xml")).unwrap();
    assert_eq!(parsed.items.len(), 1);
    let mail = view(&parsed.items[0]);
    assert_eq!(mail.title, "Mail ✉");
    assert_eq!(mail.username, "ada@example.com");
    assert_eq!(mail.password, "newpw");
    assert_eq!(mail.notes, "line1\nline2 ünï");
    assert_eq!(mail.tags, strings(&["Email"]));
    assert_eq!(mail.source_id.as_deref(), Some("d5Ccs1hASAygwNaMNbEIqg=="));
    assert_eq!(mail.history.len(), 1);
    assert_eq!(mail.history[0][0].as_deref(), Some("2026-11-26T12:13:03Z"));
    assert_eq!(mail.history[0][3].as_deref(), Some("entrypw,\"x"));
    assert!(parsed.dropped[0].reason.contains("recycle bin"));
}

#[test]
fn keepassxc_real_csv_export_fixture() {
    let parsed = parse_report(Format::KeepassCsv, &fixture("keepassxc-2.7.4.csv")).unwrap();
    let items: Vec<View> = parsed.items.iter().map(view).collect();
    assert_eq!(items.len(), 3);
    let bank = &items[0];
    assert_eq!(bank.title, "Bank & Trust");
    assert!(bank.tags.is_empty(), "the root group is not a tag");
    assert_eq!(bank.username, "ada.l");
    assert_eq!(bank.password, "n3w <pass>");
    assert_eq!(bank.notes, "first line\nsecond line");
    assert_eq!(bank.fields.len(), 1);
    assert_eq!(bank.fields[0].0, "otp");
    assert!(bank.fields[0].1.starts_with("otpauth://totp/") && bank.fields[0].2);
    assert_eq!(items[1].password, "пароль,\"x");
    assert_eq!(items[1].tags, strings(&["Email"]));
    assert_eq!(items[2].tags, strings(&["Email/Work"]));
    assert_eq!(parsed.dropped.len(), 1);
    assert_eq!(parsed.dropped[0].location, "line 6");
    assert!(parsed.dropped[0].reason.contains("Deleted thing"));
}

#[test]
fn generic_csv_fixture_with_bom_crlf_and_aliases() {
    let items = parse(Format::GenericCsv, &fixture("generic.csv")).unwrap();
    let items: Vec<View> = items.iter().map(view).collect();
    assert_eq!(items.len(), 3);
    let first = &items[0];
    assert_eq!(first.title, "Router");
    assert_eq!(first.username, "admin");
    assert_eq!(first.password, "r0uter,pw");
    assert_eq!(first.url, "http://192.168.1.1");
    assert_eq!(first.notes, "Line one\r\nLine two");
    assert_eq!(first.tags, strings(&["Home"]));
    assert!(first.fields.is_empty(), "empty cells add no field");
    assert_eq!(items[1].title, "Router");
    assert_eq!(
        items[1].fields,
        vec![field("Security question", "First pet?", false)]
    );
    let untitled = &items[2];
    assert_eq!(untitled.title, "");
    assert_eq!(untitled.notes, "only notes here");
    assert_eq!(untitled.fields, vec![field("PIN", "1234", false)]);
}

#[test]
fn csv_columns_are_read_by_header_in_any_order() {
    let text = "Notes,Password,TITLE,Group,url,username,Extra thing\n\
                n,p,t,Root/A/B,u,user,x\n";
    let items = parse(Format::KeepassCsv, text.as_bytes()).unwrap();
    let v = view(&items[0]);
    assert_eq!(
        (
            v.title.as_str(),
            v.username.as_str(),
            v.password.as_str(),
            v.url.as_str(),
            v.notes.as_str()
        ),
        ("t", "user", "p", "u", "n")
    );
    assert_eq!(v.tags, strings(&["A/B"]));
    assert_eq!(v.fields, vec![field("Extra thing", "x", false)]);
}
