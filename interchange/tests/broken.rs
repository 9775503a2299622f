//! Broken and foreign input: every error names the line or entry and what is
//! wrong, never quotes a secret, and no partial result is returned.

mod common;

use coffer_interchange::{parse, Format, ImportError};
use common::fixture;

/// Parses, expects an error, and checks that no secret leaked into it.
fn error(format: Format, input: &[u8]) -> ImportError {
    let err = match parse(format, input) {
        Ok(items) => panic!("{format}: expected an error, got {} items", items.len()),
        Err(e) => e,
    };
    let text = err.to_string();
    for secret in [
        "s3cret",
        "hunter2",
        "pw-bitwarden",
        "tok-7781",
        "4111111111111111",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into: {text}");
    }
    assert!(
        !err.location().is_empty() && !err.reason().is_empty(),
        "{text}"
    );
    err
}

#[test]
fn truncated_bitwarden_json() {
    let full = fixture("bitwarden.json");
    let cut = &full[..full.len() / 2];
    let err = error(Format::Bitwarden, cut);
    assert!(matches!(err, ImportError::Malformed { .. }), "{err}");
    assert!(err.location().starts_with("line "), "{err}");
    assert!(err.reason().contains("ends early"), "{err}");
}

#[test]
fn encrypted_bitwarden_export_is_refused() {
    let json = br#"{"encrypted": true, "passwordProtected": true, "salt": "x", "kdfType": 0,
        "kdfIterations": 600000, "encKeyValidation_DO_NOT_EDIT": "2.abc", "data": "2.def"}"#;
    let err = error(Format::Bitwarden, json);
    assert!(matches!(err, ImportError::Encrypted { .. }), "{err}");
    assert!(err.reason().contains("unencrypted"), "{err}");
    let account_restricted = br#"{"encrypted": true, "folders": [], "items": [{"name": "2.x|y"}]}"#;
    assert!(matches!(
        error(Format::Bitwarden, account_restricted),
        ImportError::Encrypted { .. }
    ));
}

#[test]
fn bitwarden_entry_errors_name_index_and_title() {
    let json = br#"{"encrypted": false, "items": [
        {"type": 1, "name": "fine", "login": {"password": "hunter2"}},
        {"name": "No type", "login": {"password": "hunter2"}}]}"#;
    let err = error(Format::Bitwarden, json);
    assert_eq!(err.location(), "item 2 (\"No type\")");
    assert!(err.reason().contains("\"type\""), "{err}");

    let json = br#"{"encrypted": false, "items": [{"type": 1, "name": "Bad", "login": {"password": ["hunter2"]}}]}"#;
    let err = error(Format::Bitwarden, json);
    assert_eq!(err.location(), "item 1 (\"Bad\")");
    assert!(
        err.reason().contains("\"password\" is not a string"),
        "{err}"
    );

    let json = br#"{"encrypted": false, "items": [{"type": 1, "name": "Bad", "fields": [3]}]}"#;
    let err = error(Format::Bitwarden, json);
    assert_eq!(err.location(), "item 1 (\"Bad\"), field 1");
}

#[test]
fn json_that_is_not_a_bitwarden_export() {
    let err = error(Format::Bitwarden, b"[1, 2, 3]");
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");
    let err = error(Format::Bitwarden, br#"{"accounts": []}"#);
    assert!(err.reason().contains("\"items\""), "{err}");
    let err = error(Format::Bitwarden, b"Title,Url\nx,y\n");
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");
}

#[test]
fn unterminated_quote_in_every_csv_format() {
    let cases: [(Format, &str); 4] = [
        (Format::KeepassCsv, "\"Group\",\"Title\",\"Password\"\n\"Root\",\"a\",\"s3cret\"\n\"Root\",\"b\",\"s3cret\n"),
        (Format::OnePasswordCsv, "Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\nx,u,n,s3cret,,false,false,,\"no end\n"),
        (Format::MsecureCsv, "A|1,Login,,\"open,Password|8|s3cret,\n"),
        (Format::GenericCsv, "title,password\r\nok,s3cret\r\nbad,\"s3cret\r\n\r\nmore"),
    ];
    let expected_lines = ["line 3", "line 2", "line 1", "line 3"];
    for ((format, text), line) in cases.iter().zip(expected_lines) {
        let err = error(*format, text.as_bytes());
        assert_eq!(err.location(), line, "{format}: {err}");
        assert!(
            err.reason().contains("unterminated quote"),
            "{format}: {err}"
        );
    }
}

#[test]
fn row_with_wrong_number_of_columns() {
    let mut text = String::from_utf8(fixture("1password.csv")).unwrap();
    text.push_str("Extra,https://x,user,hunter2,,false\n");
    let err = error(Format::OnePasswordCsv, text.as_bytes());
    assert_eq!(err.location(), "line 4");
    assert_eq!(err.reason(), "has 6 columns but the header has 9");

    let text =
        "\"Group\",\"Title\",\"Username\",\"Password\"\n\"R\",\"t\",\"u\",\"s3cret\",\"extra\"\n";
    let err = error(Format::KeepassCsv, text.as_bytes());
    assert_eq!(err.location(), "line 2");

    let err = error(
        Format::MsecureCsv,
        b"Mail|1,Login,,,Password|8|s3cret,\nshort|2,Login\n",
    );
    assert_eq!(err.location(), "line 2");
    assert!(err.reason().contains("has 2 columns"), "{err}");
}

#[test]
fn msecure_field_cell_errors_name_line_and_column() {
    let err = error(
        Format::MsecureCsv,
        b"Mail|1,Login,,,Website|2|x,Password|8|s3cret,\nShop|2,Login,,,just-s3cret,\n",
    );
    assert_eq!(err.location(), "line 2, column 5");
    assert!(err.reason().contains("label|type code|value"), "{err}");
    let err = error(Format::MsecureCsv, b"Shop|2,Login,,,Pass|x|s3cret,\n");
    assert!(
        err.reason()
            .contains("\"Pass\" has a type code that is not a number"),
        "{err}"
    );
}

#[test]
fn csv_without_a_known_header() {
    let err = error(Format::GenericCsv, b"foo,bar\n1,2\n");
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");
    assert_eq!(err.location(), "line 1");
    let err = error(Format::OnePasswordCsv, b"name,password\nx,s3cret\n");
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");
}

#[test]
fn empty_files() {
    for format in Format::ALL {
        match parse(format, b"") {
            Err(e) => assert!(!e.to_string().is_empty()),
            // An mSecure export has no header, so an empty one is just empty.
            Ok(items) => assert!(format == Format::MsecureCsv && items.is_empty(), "{format}"),
        }
    }
}

#[test]
fn xml_that_is_not_keepass() {
    let err = error(
        Format::KeepassXml,
        b"<?xml version=\"1.0\"?>\n<html><body/></html>",
    );
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");
    assert_eq!(err.location(), "line 2");
    assert!(err.reason().contains("<html>"), "{err}");

    let err = error(Format::KeepassXml, &fixture("bitwarden.json"));
    assert!(matches!(err, ImportError::WrongFormat { .. }), "{err}");

    let err = error(Format::KeepassXml, b"<KeePassFile><Meta/></KeePassFile>");
    assert!(err.reason().contains("<Root><Group>"), "{err}");
}

#[test]
fn truncated_keepass_xml() {
    let full = fixture("keepass2.xml");
    let err = error(Format::KeepassXml, &full[..full.len() - 200]);
    assert!(matches!(err, ImportError::Malformed { .. }), "{err}");
    assert!(err.location().starts_with("end of file (line "), "{err}");
    assert!(err.reason().contains("truncated"), "{err}");

    let broken = String::from_utf8(full)
        .unwrap()
        .replace("</Times>", "</Tim>");
    let err = error(Format::KeepassXml, broken.as_bytes());
    assert!(err.location().starts_with("line 25, column "), "{err}");
    assert!(err.reason().starts_with("invalid XML: "), "{err}");
}

#[test]
fn keepass_protected_values_are_refused() {
    let xml = "<KeePassFile><Root><Group><Name>R</Name>\
        <Entry><String><Key>Title</Key><Value>Ok</Value></String></Entry>\
        <Entry><String><Key>Title</Key><Value>Mail</Value></String>\
        <String><Key>Password</Key><Value Protected=\"True\">bm90IHBsYWlu</Value></String></Entry>\
        </Group></Root></KeePassFile>";
    let err = error(Format::KeepassXml, xml.as_bytes());
    assert!(matches!(err, ImportError::Encrypted { .. }), "{err}");
    assert_eq!(err.location(), "entry 2 (\"Mail\")");
    assert!(
        err.reason().contains("\"Password\"") && err.reason().contains("export"),
        "{err}"
    );
    assert!(!err.to_string().contains("bm90IHBsYWlu"));
}

#[test]
fn invalid_utf8_names_the_line() {
    let err = error(
        Format::GenericCsv,
        b"title,password\nok,x\nbad,\xff\xfe\xfd\n",
    );
    assert_eq!(err.location(), "line 3");
    assert!(err.reason().contains("UTF-8"), "{err}");
}

#[test]
fn text_after_a_closing_quote() {
    let err = error(Format::GenericCsv, b"title,password\n\"a\"b,s3cret\n");
    assert_eq!(err.location(), "line 2");
}

#[test]
fn unknown_format_name_lists_the_valid_ones() {
    let err = "lastpass".parse::<Format>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown format \"lastpass\"; valid formats: keepass-xml, keepassxc-csv, bitwarden, \
         1password-csv, msecure-csv, csv"
    );
}
