//! Import, export, backup and restore through the real binaries.
//!
//! Round trips for both export formats, every fixture format with concrete
//! checks, real `keepassxc-cli` exports (skipped when the tool is missing,
//! unless `COFFER_REQUIRE_TOOLS=1`), deduplication, dry runs, broken files,
//! private export files, encrypted backups across accounts, progress on a
//! terminal, and a 10,000-item import (its time is printed: run with
//! `-- --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use coffer_blackbox::items::{
    add, custom_field_list, custom_fields as fields, get, history_values as old_values, item_count,
};
use coffer_blackbox::process::run_with_input;
use coffer_blackbox::{mode, short_tempdir, stderr, stdout, tools, utf8 as s, Device, RawConn};
use serde_json::Value;

const PW: &str = "correct horse battery";
const LONG: Duration = Duration::from_secs(600);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../interchange/tests/fixtures")
        .join(name)
}

fn signed_up(name: &str, email: &str) -> (Device, String) {
    let dev = Device::new(name);
    let v = dev.signup(email, PW);
    let key = v["account_key"]
        .as_str()
        .expect("signup shows the Account Key");
    (dev, key.to_owned())
}

/// One item as the round trips compare it: the standard fields and the
/// custom fields (without `imported-from`, which only says where an
/// item came from), sorted.
fn normalized(v: &Value) -> String {
    let mut fields: Vec<(String, String)> = custom_field_list(v)
        .into_iter()
        .filter(|(n, _)| n != "imported-from")
        .collect();
    fields.sort();
    serde_json::json!({
        "title": v["title"], "username": v["username"], "password": v["password"],
        "url": v["url"], "notes": v["notes"], "fields": fields,
    })
    .to_string()
}

/// Every item of the device, in full (`get --json` per item).
fn all_items(dev: &Device) -> Vec<Value> {
    let list = dev.json(&["list", "--json"]);
    list.as_array()
        .expect("list --json is an array")
        .iter()
        .map(|i| dev.json(&["get", i["id"].as_str().expect("items have ids"), "--json"]))
        .collect()
}

fn snapshot(dev: &Device) -> Vec<String> {
    let mut v: Vec<String> = all_items(dev).iter().map(normalized).collect();
    v.sort();
    v
}

fn field<'a>(f: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    f.get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no field {name:?} in {f:?}"))
}

/// A vault with awkward items: Unicode, empty fields, duplicate titles,
/// custom fields, multi-line notes, quotes and commas, tags, several URLs,
/// a card, a secure note, history.
fn awkward_vault(dev: &Device) {
    add(
        dev,
        "Mail ✉ ünïcödé",
        &[("username", "ada@example.net"), ("password", "пароль,\"x")],
    );
    add(
        dev,
        "Mail ✉ ünïcödé",
        &[("username", "second"), ("password", "p2")],
    );
    dev.ok(&["add", "Empty"]);
    add(
        dev,
        "Quotes",
        &[
            ("username", "a,b"),
            ("password", "\"quoted\" 'x' \\ ; |"),
            ("url", "https://q.example/?a=1&b=2"),
            ("notes", "line 1\nline 2, with comma\n\n\"quoted\""),
            ("PIN", "0042"),
            ("Security question", "First pet?"),
            ("emoji", "🔑🗝️"),
        ],
    );
    add(
        dev,
        "  spaced title  ",
        &[("username", " lead"), ("password", "trail ")],
    );
    dev.ok(&["add", "History", "--password", "first"]);
    dev.ok(&["edit", "History", "--password", "second"]);
    dev.ok(&["edit", "History", "--password", "third"]);
    dev.ok(&["import", "bitwarden", s(&fixture("bitwarden.json"))]);
    dev.ok(&["import", "keepass-xml", s(&fixture("keepass2.xml"))]);
}

#[test]
fn export_then_import_gives_the_same_vault() {
    let (a, _) = signed_up("rt-a", "a@example.com");
    awkward_vault(&a);
    let before = snapshot(&a);
    assert!(before.len() >= 10, "{before:?}");
    let dir = short_tempdir("ct");
    for format in ["bitwarden", "csv"] {
        let file = dir.path().join(format!("export.{format}"));
        let out = a.coffer(&["export", format, s(&file)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("NOT encrypted"), "{}", stderr(&out));
        assert_eq!(mode(&file), 0o600);

        let (b, _) = signed_up(&format!("rt-b-{format}"), "b@example.com");
        let out = b.ok(&["import", format, s(&file)]);
        assert!(
            out.contains(&format!("{n} imported", n = before.len())),
            "{out}"
        );
        let after = snapshot(&b);
        assert_eq!(after, before, "{format}: export → import changed the items");

        // Importing the export again adds nothing; so does importing it
        // into the vault it came from.
        let out = b.ok(&["import", format, s(&file)]);
        assert!(out.contains("0 imported"), "{out}");
        let out = a.ok(&["import", format, s(&file)]);
        assert!(out.contains("0 imported"), "{out}");
        assert_eq!(snapshot(&a), before);
    }
    // Bitwarden keeps old passwords: the history survives that round trip.
    let (c, _) = signed_up("rt-c", "c@example.com");
    let json = a.ok(&["export", "bitwarden"]);
    let file = dir.path().join("stdout.json");
    std::fs::write(&file, &json).unwrap();
    c.ok(&["import", "bitwarden", s(&file)]);
    let old = old_values(&c, "History", "password");
    assert!(
        old.contains(&"first".to_owned()) && old.contains(&"second".to_owned()),
        "{old:?}"
    );
    // Kinds survive: the card is a card again in the Bitwarden file.
    let v: Value = serde_json::from_str(&json).unwrap();
    let visa = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "Visa")
        .expect("the card is exported");
    assert_eq!(visa["type"], 3, "{visa}");
    assert_eq!(visa["card"]["number"], "4111111111111111", "{visa}");
}

#[test]
fn every_fixture_format_imports_with_its_fields() {
    let (dev, _) = signed_up("fixtures", "f@example.com");
    let cases = [
        ("bitwarden", "bitwarden.json", 3),
        ("1password-csv", "1password.csv", 2),
        ("msecure-csv", "msecure.csv", 3),
        ("csv", "generic.csv", 3),
        ("keepass-xml", "keepass2.xml", 3),
    ];
    let mut total = 0;
    for (format, file, n) in cases {
        let out = dev.ok(&["import", format, s(&fixture(file))]);
        assert!(out.contains(&format!("{n} item(s) read")), "{file}: {out}");
        assert!(out.contains(&format!("{n} imported")), "{file}: {out}");
        total += n;
    }
    assert_eq!(item_count(&dev), total);

    // Bitwarden: a login with custom fields and a folder, a card, a note.
    let git = get(&dev, "Git host");
    assert_eq!(
        (git["username"].as_str(), git["password"].as_str()),
        (Some("octo"), Some("pw-bitwarden"))
    );
    assert_eq!(git["url"], "https://git.example.com/login");
    assert_eq!(git["notes"], "recovery codes in the safe");
    let f = fields(&git);
    assert_eq!(
        (field(&f, "team"), field(&f, "api token"), field(&f, "tags")),
        ("infra", "tok-7781", "Personal")
    );
    assert_eq!(
        field(&f, "imported-from"),
        "bitwarden:0b5d7c1e-3f4a-4e2b-8c9d-7a6b5c4d3e21"
    );
    let visa = fields(&get(&dev, "Visa"));
    assert_eq!(field(&visa, "Card number"), "4111111111111111");
    assert_eq!(field(&visa, "Security code"), "123");
    assert_eq!(field(&visa, "Cardholder name"), "Ada Lovelace");
    assert_eq!(field(&visa, "kind"), "card");
    let wifi = get(&dev, "Wi-Fi at home");
    assert_eq!(wifi["notes"], "SSID casa, passphrase on the router");
    assert_eq!(field(&fields(&wifi), "kind"), "secure-note");

    // 1Password: OTP, tags, notes with a comma.
    let bank = get(&dev, "Bank");
    assert_eq!(bank["password"], "b4nk-Secret");
    assert_eq!(bank["notes"], "Branch: Main St, desk 4");
    let f = fields(&bank);
    assert!(
        field(&f, "otp").starts_with("otpauth://totp/Bank:ada"),
        "{f:?}"
    );
    assert_eq!(field(&f, "tags"), "money\npersonal");

    // mSecure: id, URL/username/password cells, card fields.
    let mail = get(&dev, "Mail account");
    assert_eq!(
        (mail["url"].as_str(), mail["username"].as_str()),
        (Some("mail.example.net"), Some("ada.l"))
    );
    assert_eq!(mail["password"], "s3cret-mail");
    assert_eq!(field(&fields(&mail), "imported-from"), "msecure-csv:402117");
    let card = fields(&get(&dev, "Travel card"));
    assert_eq!(field(&card, "Card Number"), "4000 1234 5678 9010");
    assert_eq!(
        (field(&card, "PIN"), field(&card, "Security Code")),
        ("9876", "321")
    );
    assert_eq!(get(&dev, "Shop")["notes"], "Bought the blue one");

    // Generic CSV: duplicate titles stay two items, an untitled row is kept.
    let list = dev.json(&["list", "--json"]);
    let routers: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["title"] == "Router")
        .collect();
    assert_eq!(routers.len(), 2, "{list}");
    assert_eq!(
        dev.code(&["get", "Router"]),
        1,
        "an ambiguous title is an error"
    );
    let untitled = get(&dev, "(untitled)");
    assert_eq!(untitled["notes"], "only notes here");
    assert_eq!(field(&fields(&untitled), "PIN"), "1234");
    let router2 = routers
        .iter()
        .find(|r| r["username"] == "admin2")
        .expect("admin2's router");
    let r2 = dev.json(&["get", router2["id"].as_str().unwrap(), "--json"]);
    assert_eq!(field(&fields(&r2), "Security question"), "First pet?");

    // KeePass XML: groups as tags, extra URL, protected strings, history.
    let kp = get(&dev, "Bank & Trust");
    assert_eq!(kp["password"], "n3w <pass>");
    let f = fields(&kp);
    assert_eq!((field(&f, "PIN"), field(&f, "Branch")), ("4321", "Main St"));
    assert_eq!(field(&f, "url 2"), "https://m.bank.example.com");
    assert_eq!(field(&f, "tags"), "money\nimportant");
    assert_eq!(old_values(&dev, "Bank & Trust", "password"), ["old-pass"]);
    assert_eq!(old_values(&dev, "Bank & Trust", "title"), ["Bank"]);
    let mails: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["title"] == "Mail ✉ ünïcödé")
        .collect();
    assert_eq!(
        mails.len(),
        2,
        "two KeePass entries with one title stay two items"
    );
}

#[test]
fn reimport_adds_nothing_and_dry_run_changes_nothing() {
    let (dev, _) = signed_up("dedup", "d@example.com");
    add(
        &dev,
        "Forum",
        &[
            ("username", "snowfox"),
            ("url", "https://forum.example.org"),
            ("password", "mine"),
        ],
    );

    // Dry run: says what would happen, changes nothing.
    let out = dev.ok(&[
        "import",
        "1password-csv",
        s(&fixture("1password.csv")),
        "--dry-run",
    ]);
    assert!(
        out.contains("Dry run")
            && out.contains("1 would be imported")
            && out.contains("Nothing was changed"),
        "{out}"
    );
    assert!(
        out.contains("\"Forum\"): already in the vault (same title, username and URL)"),
        "{out}"
    );
    assert_eq!(item_count(&dev), 1);
    assert_eq!(dev.code(&["get", "Bank"]), 4);
    let v = dev.json(&[
        "import",
        "bitwarden",
        s(&fixture("bitwarden.json")),
        "--dry-run",
        "--json",
    ]);
    assert_eq!(
        (
            v["read"].as_u64(),
            v["imported"].as_u64(),
            v["dry_run"].as_bool()
        ),
        (Some(3), Some(3), Some(true)),
        "{v}"
    );
    assert_eq!(item_count(&dev), 1);

    // The real import; the existing Forum keeps its own password.
    let out = dev.ok(&["import", "1password-csv", s(&fixture("1password.csv"))]);
    assert!(out.contains("1 imported"), "{out}");
    assert_eq!(get(&dev, "Forum")["password"], "mine");
    for (format, file) in [
        ("1password-csv", "1password.csv"),
        ("bitwarden", "bitwarden.json"),
        ("msecure-csv", "msecure.csv"),
    ] {
        dev.ok(&["import", format, s(&fixture(file))]);
    }
    let count = item_count(&dev);
    assert_eq!(count, 2 + 3 + 3);
    // Again: nothing new, each skip says why.
    for (format, file, n) in [
        ("1password-csv", "1password.csv", 2),
        ("bitwarden", "bitwarden.json", 3),
        ("msecure-csv", "msecure.csv", 3),
    ] {
        let v = dev.json(&["import", format, s(&fixture(file)), "--json"]);
        assert_eq!(v["imported"], 0, "{v}");
        let skipped = v["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), n, "{v}");
        assert!(
            skipped
                .iter()
                .all(|w| w.as_str().unwrap().contains("already in the vault")),
            "{v}"
        );
    }
    assert_eq!(item_count(&dev), count);
    // A source id matches even when the title changed since.
    dev.ok(&["edit", "Git host", "--title", "Git host (renamed)"]);
    let out = dev.ok(&["import", "bitwarden", s(&fixture("bitwarden.json"))]);
    assert!(
        out.contains("0 imported") && out.contains("same source id"),
        "{out}"
    );
}

/// Files that must be refused, each with the location the error must name.
fn broken_files(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let mut big = String::from("title,username,password\n");
    for i in 0..2000 {
        big.push_str(&format!("item {i},user {i},pw {i}\n"));
    }
    big.push_str("last,\"never closed,x\n");
    let files: Vec<(&'static str, &'static str, String, &'static str)> = vec![
        ("csv", "unclosed.csv", "title,username,password\nok,u,p\nbad,\"unterminated,p\n".into(), "line 3"),
        ("csv", "short-row.csv", "title,username,password\na,b,c\nonly,two\n".into(), "line 3"),
        ("csv", "big-broken-at-the-end.csv", big, "line 2002"),
        ("1password-csv", "1p.csv", "Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\nA,u,n,p,,false,false,,\nB,u\n".into(), "line 3"),
        ("bitwarden", "syntax.json", "{\n  \"encrypted\": false,\n  \"items\": [\n    {\"id\": \"1\", \"type\": 1, \"name\": \"A\",, }\n  ]\n}\n".into(), "line 4"),
        ("bitwarden", "encrypted.json", "{\"encrypted\": true, \"passwordProtected\": true, \"data\": \"xyz\"}".into(), "encrypted"),
        ("keepass-xml", "broken.xml", "<?xml version=\"1.0\"?>\n<KeePassFile>\n<Root><Group><Name>Root</Name>\n<Entry><String><Key>Title</Key><Value>A</Value></String>\n</Group></Root></KeePassFile>\n".into(), "line 5"),
        ("keepass-xml", "protected.xml", "<KeePassFile><Root><Group><Name>Root</Name><Entry><UUID>AAAAAAAAAAAAAAAAAAAAAA==</UUID><String><Key>Title</Key><Value>Secret one</Value></String><String><Key>Password</Key><Value Protected=\"True\">c2VjcmV0</Value></String></Entry></Group></Root></KeePassFile>".into(), "entry 1 (\"Secret one\")"),
        ("msecure-csv", "msecure-bad.csv", "Mail|1,Login,,,Website|2|mail.example.net,\nShop|2,Login,,,Username-without-bars,\n".into(), "line 2"),
        ("keepass-xml", "not-keepass.xml", "{\"encrypted\": false, \"items\": []}".into(), "not a keepass-xml export"),
        ("csv", "empty.csv", String::new(), "empty.csv"),
    ];
    files
        .into_iter()
        .map(|(format, name, content, location)| {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            (format, path, location)
        })
        .collect()
}

#[test]
fn broken_files_name_file_and_place_and_change_nothing() {
    let (dev, _) = signed_up("broken", "x@example.com");
    dev.ok(&["import", "csv", s(&fixture("generic.csv"))]);
    let count = item_count(&dev);
    let dir = short_tempdir("cx");
    for (format, path, location) in broken_files(dir.path()) {
        let out = dev.coffer(&["import", format, s(&path)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert!(err.contains(s(&path)), "the error names the file: {err}");
        assert!(
            err.contains(location),
            "{}: the error names {location:?}: {err}",
            path.display()
        );
        assert!(err.contains("nothing was imported"), "{err}");
        assert!(
            !err.contains("pw 1") && !err.contains("c2VjcmV0"),
            "no values in errors: {err}"
        );
        let out = dev.coffer(&["import", format, s(&path), "--dry-run"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            item_count(&dev),
            count,
            "{}: nothing half-imported",
            path.display()
        );
    }
    // Unknown format: a usage error listing the valid names.
    let out = dev.coffer(&["import", "lastpass", s(&fixture("generic.csv"))]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bitwarden"), "{}", stderr(&out));
    // A missing file.
    let missing = dir.path().join("nope.csv");
    let out = dev.coffer(&["import", "csv", s(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.csv"), "{}", stderr(&out));
    assert_eq!(item_count(&dev), count);
    // Locked: exit 3, nothing read into the vault.
    dev.ok(&["lock"]);
    assert_eq!(
        dev.code(&["import", "csv", s(&fixture("1password.csv"))]),
        3
    );
    assert_eq!(
        dev.code(&["export", "csv", s(&dir.path().join("locked.csv"))]),
        3
    );
    assert!(!dir.path().join("locked.csv").exists());
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn exports_are_private_and_failed_exports_leave_nothing() {
    let (dev, _) = signed_up("export", "e@example.com");
    add(
        &dev,
        "Mail",
        &[("username", "me"), ("password", "pw-plain-1")],
    );
    let dir = short_tempdir("cy");
    let file = dir.path().join("vault.json");
    // An existing, world-readable file is replaced by a 0600 one.
    std::fs::write(&file, "old").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = dev.coffer(&["export", "bitwarden", s(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT encrypted"), "{}", stderr(&out));
    assert_eq!(mode(&file), 0o600);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("pw-plain-1"));
    assert_eq!(dir_names(dir.path()), ["vault.json"]);
    // To stdout: the export on stdout, the warning on stderr.
    let out = dev.coffer(&["export", "csv"]);
    assert!(stdout(&out).contains("pw-plain-1") && stderr(&out).contains("NOT encrypted"));
    // Other formats are refused as a usage error.
    assert_eq!(
        dev.code(&["export", "keepass-xml", s(&dir.path().join("x.xml"))]),
        2
    );

    // Failures leave nothing behind: a missing directory, a directory in
    // the way, a read-only directory (not for root, who may write anyway).
    let missing = dir.path().join("missing").join("x.csv");
    assert_eq!(dev.code(&["export", "csv", s(&missing)]), 1);
    assert!(!dir.path().join("missing").exists());
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("inside"), "x").unwrap();
    let out = dev.coffer(&["export", "csv", s(&taken)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(dir_names(dir.path()), ["taken", "vault.json"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        assert_eq!(dev.code(&["export", "csv", s(&ro.join("x.csv"))]), 1);
        assert!(dir_names(&ro).is_empty());
    }
    assert!(
        !dev.log().contains("pw-plain-1"),
        "no secret in the daemon's log"
    );
}

#[test]
fn backup_restores_into_another_account_with_its_secrets() {
    let (a, key_a) = signed_up("bk-a", "alice@example.com");
    add(
        &a,
        "Mail",
        &[
            ("username", "alice"),
            ("password", "first-pw-v1"),
            ("PIN", "pin-7391"),
        ],
    );
    a.ok(&["edit", "Mail", "--password", "second-pw-v2"]);
    a.ok(&["add", "Notes ✓", "--notes", "multi\nline"]);
    a.ok(&["add", "Dup", "--username", "x"]);
    a.ok(&["add", "Dup", "--username", "y"]);
    let dir = short_tempdir("cz");
    let file = dir.path().join("a.backup");
    a.ok(&["backup", s(&file)]);
    assert_eq!(mode(&file), 0o600);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"COFFER-BACKUP 1\n"));
    for secret in [
        &b"first-pw-v1"[..],
        b"second-pw-v2",
        b"pin-7391",
        b"multi\nline",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "plaintext in the backup"
        );
    }
    let before = snapshot(&a);

    let (b, key_b) = signed_up("bk-b", "bob@example.com");
    b.ok(&["add", "Bob's own", "--password", "b"]);
    let restore = |pw: &str, key: &str| {
        b.with_env(&[("COFFER_PASSWORD", pw), ("COFFER_ACCOUNT_KEY", key)])
            .run(&["restore", s(&file)])
    };
    // Wrong password, or this account's own key: exit 5, nothing changes.
    assert_eq!(restore("wrong password", &key_a).status.code(), Some(5));
    let out = restore(PW, &key_b);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(item_count(&b), 1);
    // A tampered backup is refused, naming the file.
    let tampered = dir.path().join("tampered.backup");
    let mut t = bytes.clone();
    let items_at = t
        .windows(9)
        .position(|w| w == b"\"items\":\"")
        .expect("the backup has sealed items");
    let at = items_at + 40;
    t[at] = if t[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&tampered, &t).unwrap();
    let out = b
        .with_env(&[("COFFER_PASSWORD", PW), ("COFFER_ACCOUNT_KEY", &key_a)])
        .run(&["restore", s(&tampered)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("tampered.backup"), "{}", stderr(&out));
    assert_eq!(item_count(&b), 1);

    // The right secrets: every item comes back, with its history.
    let out = restore(PW, &key_a);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("4 restored"), "{}", stdout(&out));
    assert_eq!(item_count(&b), 5);
    let mut after: Vec<String> = snapshot(&b)
        .into_iter()
        .filter(|i| !i.contains("Bob's own"))
        .collect();
    after.sort();
    assert_eq!(after, before);
    assert_eq!(old_values(&b, "Mail", "password"), ["first-pw-v1"]);
    // Again: nothing twice.
    let out = restore(PW, &key_a);
    assert!(stdout(&out).contains("0 restored"), "{}", stdout(&out));
    assert_eq!(item_count(&b), 5);
    // Bob's own backup opens with Bob's secrets.
    let own = dir.path().join("b.backup");
    b.ok(&["backup", s(&own)]);
    let (c, _) = signed_up("bk-c", "carol@example.com");
    c.with_env(&[("COFFER_PASSWORD", PW), ("COFFER_ACCOUNT_KEY", &key_b)])
        .ok(&["restore", s(&own)]);
    assert_eq!(item_count(&c), 5);
}

/// `keepassxc-cli` (at `cli`) in `dir`, with `stdin` fed in; its stdout.
fn keepassxc(cli: &Path, dir: &Path, args: &[&str], stdin: &str) -> Vec<u8> {
    let mut cmd = Command::new(cli);
    cmd.args(args).current_dir(dir).env("HOME", dir);
    for (var, sub) in [("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")] {
        cmd.env(var, dir.join(sub));
    }
    cmd.env("QT_QPA_PLATFORM", "offscreen");
    let out = run_with_input(cmd, stdin.as_bytes(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("keepassxc-cli {args:?}: {e}"));
    assert!(
        out.status.success(),
        "keepassxc-cli {args:?}: {}",
        stderr(&out)
    );
    out.stdout
}

#[test]
fn real_keepassxc_exports_import_with_history() {
    let Some(cli) = tools::require_tool("keepassxc-cli") else {
        return;
    };
    let cli = cli.as_path();
    let tmp = short_tempdir("ck");
    let dir = tmp.path();
    let db_pw = "db-pass-123";
    let once = format!("{db_pw}\n");
    let kp = |args: &[&str], input: &str| keepassxc(cli, dir, args, input);
    kp(
        &["db-create", "-q", "-p", "-t", "100", "t.kdbx"],
        &format!("{db_pw}\n{db_pw}\n"),
    );
    kp(&["mkdir", "-q", "t.kdbx", "Social"], &once);
    // `add -q -u USER [EXTRA…] [-p] t.kdbx TITLE`; with `-p`, the entry's password is read
    // after the database's.
    let add = |user: &str, extra: &[&str], password: Option<&str>, title: &str| {
        let mut args = vec!["add", "-q", "-u", user];
        args.extend(extra);
        let mut input = once.clone();
        if let Some(p) = password {
            args.push("-p");
            input.push_str(&format!("{p}\n"));
        }
        args.extend(["t.kdbx", title]);
        kp(&args, &input);
    };
    let forum_extra = [
        "--url",
        "https://forum.example.org",
        "--notes",
        "forum notes",
    ];
    add(
        "snowfox",
        &forum_extra,
        Some("first-forum-pass"),
        "Social/Forum ✓",
    );
    kp(
        &["edit", "-q", "-p", "t.kdbx", "Social/Forum ✓"],
        &format!("{db_pw}\nsecond-forum-pass\n"),
    );
    kp(
        &["edit", "-q", "-u", "snowfox2", "t.kdbx", "Social/Forum ✓"],
        &once,
    );
    add("ada", &[], Some("b4nk,\"pw\""), "Bank, ünïcödé \"quoted\"");
    add("dup", &[], None, "Social/Forum ✓ 2");
    add("temp", &[], None, "Throwaway");
    kp(&["rm", "-q", "t.kdbx", "Throwaway"], &once);
    let xml = dir.join("export.xml");
    std::fs::write(&xml, kp(&["export", "-q", "-f", "xml", "t.kdbx"], &once)).unwrap();
    let csv = dir.join("export.csv");
    std::fs::write(&csv, kp(&["export", "-q", "-f", "csv", "t.kdbx"], &once)).unwrap();

    let check = |dev: &Device, with_history: bool| {
        assert_eq!(
            item_count(dev),
            3,
            "Forum, Forum 2, Bank; Throwaway was in the recycle bin"
        );
        let forum = get(dev, "Forum ✓");
        assert_eq!(
            (forum["username"].as_str(), forum["password"].as_str()),
            (Some("snowfox2"), Some("second-forum-pass"))
        );
        assert_eq!(
            (forum["url"].as_str(), forum["notes"].as_str()),
            (Some("https://forum.example.org"), Some("forum notes"))
        );
        assert_eq!(field(&fields(&forum), "tags"), "Social");
        let bank = get(dev, "Bank, ünïcödé \"quoted\"");
        assert_eq!(
            (bank["username"].as_str(), bank["password"].as_str()),
            (Some("ada"), Some("b4nk,\"pw\""))
        );
        assert_eq!(get(dev, "Forum ✓ 2")["username"], "dup");
        if with_history {
            // KeePass history became coffer history.
            assert_eq!(old_values(dev, "Forum ✓", "password"), ["first-forum-pass"]);
            assert_eq!(old_values(dev, "Forum ✓", "username"), ["snowfox"]);
            assert!(field(&fields(&forum), "imported-from").starts_with("keepass-xml:"));
        }
    };

    let (x, _) = signed_up("kp-xml", "k@example.com");
    let out = x.ok(&["import", "keepass-xml", s(&xml)]);
    assert!(
        out.contains("3 imported") && out.contains("recycle bin"),
        "{out}"
    );
    check(&x, true);
    // The same database as CSV: already there (same title, username, URL).
    let out = x.ok(&["import", "keepassxc-csv", s(&csv)]);
    assert!(out.contains("0 imported"), "{out}");
    let out = x.ok(&["import", "keepass-xml", s(&xml)]);
    assert!(out.contains("0 imported"), "{out}");
    assert_eq!(item_count(&x), 3);

    let (c, _) = signed_up("kp-csv", "k@example.com");
    let out = c.ok(&["import", "keepassxc-csv", s(&csv)]);
    assert!(out.contains("3 imported"), "{out}");
    check(&c, false);
}

/// A generic CSV of `n` items.
fn big_csv(path: &Path, n: usize) {
    let mut text = String::with_capacity(n * 100);
    text.push_str("title,username,password,url,notes,PIN\n");
    for i in 0..n {
        text.push_str(&format!(
            "Site {i} ✓,user{i},pw-{i}-secret,https://s{i}.example.com,\"note {i}, line\nline 2\",{}\n",
            i % 10_000
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn ten_thousand_items_import_fast() {
    let (dev, _) = signed_up("big", "big@example.com");
    let dir = short_tempdir("cb");
    let file = dir.path().join("big.csv");
    big_csv(&file, 10_000);
    let start = Instant::now();
    let out = dev.call().timeout(LONG).ok(&["import", "csv", s(&file)]);
    let first = start.elapsed();
    assert!(
        out.contains("10000 item(s) read") && out.contains("10000 imported"),
        "{out}"
    );
    assert_eq!(item_count(&dev), 10_000);
    let item = get(&dev, "Site 9876 ✓");
    assert_eq!(
        (item["password"].as_str(), item["notes"].as_str()),
        (Some("pw-9876-secret"), Some("note 9876, line\nline 2"))
    );
    let start = Instant::now();
    let v = dev
        .call()
        .timeout(LONG)
        .json(&["import", "csv", s(&file), "--json"]);
    let again = start.elapsed();
    assert_eq!(
        (
            v["imported"].as_u64(),
            v["skipped"].as_array().map(Vec::len)
        ),
        (Some(0), Some(10_000))
    );
    let start = Instant::now();
    let exported = dev.call().timeout(LONG).ok(&["export", "bitwarden"]);
    let export = start.elapsed();
    assert!(exported.contains("pw-9999-secret"));
    println!(
        "10,000-item CSV ({} KiB) through {}: import {:.2} s, re-import (all skipped) {:.2} s, bitwarden export {:.2} s",
        std::fs::metadata(&file).unwrap().len() / 1024,
        coffer_blackbox::bin_dir().display(),
        first.as_secs_f64(),
        again.as_secs_f64(),
        export.as_secs_f64()
    );
}

#[test]
fn progress_is_shown_on_a_terminal_and_sent_as_events() {
    let (dev, _) = signed_up("progress", "p@example.com");
    let dir = short_tempdir("cp");
    let file = dir.path().join("k.csv");
    big_csv(&file, 1000);

    // The daemon's events, on a subscribed connection.
    let (mut conn, _) = RawConn::hello(&dev.socket()).unwrap();
    let ack = conn.request(r#"{"id":1,"method":"subscribe"}"#).unwrap();
    assert_eq!(ack["result"]["subscribed"], true, "{ack}");
    dev.ok(&["import", "csv", s(&file), "--dry-run"]);
    let mut seen = Vec::new();
    while seen.last() != Some(&1000) {
        let ev = conn.read_json().unwrap();
        if ev["event"]["kind"] == "progress" {
            assert_eq!(
                (
                    ev["event"]["operation"].as_str(),
                    ev["event"]["total"].as_u64()
                ),
                (Some("import"), Some(1000)),
                "{ev}"
            );
            seen.push(ev["event"]["done"].as_u64().unwrap());
        }
    }
    assert_eq!(seen, [0, 250, 500, 750, 1000]);
    assert_eq!(
        item_count(&dev),
        0,
        "a dry run reports progress but adds nothing"
    );
    // Small imports send none.
    dev.ok(&["import", "1password-csv", s(&fixture("1password.csv"))]);

    // On a terminal (util-linux `script` gives the CLI a pty).
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        println!("note: /usr/bin/script not found; skipping the terminal part");
        return;
    }
    let cmd = format!(
        "{} import csv {}",
        coffer_blackbox::coffer_bin().display(),
        s(&file)
    );
    let out = coffer_blackbox::run_with_timeout(
        dev.call().command(script, &["-qec", &cmd, "/dev/null"]),
        LONG,
    )
    .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("\rimporting 500/1000"), "{text:?}");
    assert!(text.contains("1000 imported"), "{text:?}");
    assert_eq!(item_count(&dev), 1002);
    // Without a terminal: no progress line.
    let out = dev.coffer(&["import", "csv", s(&file)]);
    assert!(!stderr(&out).contains("importing"), "{}", stderr(&out));
}
