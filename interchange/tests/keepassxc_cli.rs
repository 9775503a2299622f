//! Files made by the real KeePassXC: build a database with `keepassxc-cli`
//! (import an XML, add, edit and remove entries), export it as XML and CSV,
//! and parse both exports.
//!
//! Skips with a note when `keepassxc-cli` is not installed (Debian package
//! `keepassxc`), unless `COFFER_REQUIRE_TOOLS=1`, in which case it fails.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coffer_interchange::{parse_report, Format, ItemKind};
use common::{field, strings, view, View};

const CLI: &str = "keepassxc-cli";
const DB_PASSWORD: &str = "db-pass-123";
const TIMEOUT: Duration = Duration::from_secs(60);

fn cli_available() -> bool {
    match Command::new(CLI)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) => status.success(),
        Err(_) => false,
    }
}

/// Runs keepassxc-cli in `dir` with `stdin` fed in; returns stdout. Fails
/// the test on a non-zero exit or after [`TIMEOUT`].
fn run(dir: &Path, args: &[&str], stdin: &str) -> Vec<u8> {
    let mut child = Command::new(CLI)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("QT_QPA_PLATFORM", "offscreen")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CLI} {args:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin was requested as piped")
        .write_all(stdin.as_bytes())
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("{CLI} {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{CLI} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The database to start from, in KeePass 2 XML: a group, a protected and
/// a plain custom attribute, tags and one history version.
const SEED_XML: &str = r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<KeePassFile>
  <Meta><Generator>coffer test</Generator></Meta>
  <Root>
    <Group>
      <UUID>AAECAwQFBgcICQoLDA0ODw==</UUID>
      <Name>Root</Name>
      <Group>
        <UUID>EBESExQVFhcYGRobHB0eHw==</UUID>
        <Name>Banking</Name>
        <Entry>
          <UUID>ICEiIyQlJicoKSorLC0uLw==</UUID>
          <Tags>money;2fa</Tags>
          <String><Key>Title</Key><Value>Bank ünïcödé</Value></String>
          <String><Key>UserName</Key><Value>ada.l</Value></String>
          <String><Key>Password</Key><Value ProtectInMemory="True">current, "pass"</Value></String>
          <String><Key>URL</Key><Value>https://bank.example.com</Value></String>
          <String><Key>Notes</Key><Value>line 1
line 2</Value></String>
          <String><Key>PIN</Key><Value ProtectInMemory="True">4321</Value></String>
          <String><Key>Branch</Key><Value>Main St</Value></String>
          <History>
            <Entry>
              <UUID>ICEiIyQlJicoKSorLC0uLw==</UUID>
              <Times><LastModificationTime>2023-05-06T07:08:09Z</LastModificationTime></Times>
              <String><Key>Title</Key><Value>Bank</Value></String>
              <String><Key>UserName</Key><Value>ada.l</Value></String>
              <String><Key>Password</Key><Value ProtectInMemory="True">older-pass</Value></String>
              <String><Key>URL</Key><Value>https://bank.example.com</Value></String>
              <String><Key>Notes</Key><Value/></String>
            </Entry>
          </History>
        </Entry>
      </Group>
    </Group>
  </Root>
</KeePassFile>
"#;

fn by_title<'a>(items: &'a [View], title: &str) -> &'a View {
    let found: Vec<&View> = items.iter().filter(|v| v.title == title).collect();
    assert_eq!(found.len(), 1, "exactly one item titled {title:?}");
    found[0]
}

#[test]
fn parses_real_keepassxc_exports() {
    if !cli_available() {
        if std::env::var("COFFER_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{CLI} is required (COFFER_REQUIRE_TOOLS=1) but not installed: apt-get install keepassxc");
        }
        println!(
            "note: {CLI} not found; skipping the real-KeePassXC test (apt-get install keepassxc)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("seed.xml"), SEED_XML).unwrap();
    let twice = format!("{DB_PASSWORD}\n{DB_PASSWORD}\n");
    let once = format!("{DB_PASSWORD}\n");

    run(
        dir,
        &["import", "-q", "-p", "-t", "100", "seed.xml", "test.kdbx"],
        &twice,
    );
    run(dir, &["mkdir", "-q", "test.kdbx", "Social"], &once);
    run(
        dir,
        &[
            "add",
            "-q",
            "-u",
            "snowfox",
            "--url",
            "https://forum.example.org",
            "--notes",
            "forum notes",
            "-p",
            "test.kdbx",
            "Social/Forum ✓",
        ],
        &format!("{DB_PASSWORD}\nfirst-forum-pass\n"),
    );
    run(
        dir,
        &["edit", "-q", "-p", "test.kdbx", "Social/Forum ✓"],
        &format!("{DB_PASSWORD}\nsecond-forum-pass\n"),
    );
    run(
        dir,
        &["add", "-q", "-u", "dup", "test.kdbx", "Social/Forum ✓ 2"],
        &once,
    );
    run(
        dir,
        &["add", "-q", "-u", "temp", "test.kdbx", "Throwaway"],
        &once,
    );
    run(dir, &["rm", "-q", "test.kdbx", "Throwaway"], &once);

    let xml = run(dir, &["export", "-q", "-f", "xml", "test.kdbx"], &once);
    let csv = run(dir, &["export", "-q", "-f", "csv", "test.kdbx"], &once);

    // XML export.
    let parsed = parse_report(Format::KeepassXml, &xml)
        .unwrap_or_else(|e| panic!("parsing the real XML export: {e}"));
    let items: Vec<View> = parsed.items.iter().map(view).collect();
    assert_eq!(
        items.len(),
        3,
        "Bank, Forum, Forum 2; Throwaway is in the recycle bin"
    );
    assert!(parsed
        .dropped
        .iter()
        .any(|d| d.reason.contains("recycle bin")));

    let bank = by_title(&items, "Bank ünïcödé");
    assert_eq!(bank.source_id.as_deref(), Some("ICEiIyQlJicoKSorLC0uLw=="));
    assert_eq!(bank.username, "ada.l");
    assert_eq!(bank.password, "current, \"pass\"");
    assert_eq!(bank.url, "https://bank.example.com");
    assert_eq!(bank.notes, "line 1\nline 2");
    assert_eq!(bank.tags[0], "Banking");
    let mut entry_tags = bank.tags[1..].to_vec();
    entry_tags.sort();
    assert_eq!(entry_tags, strings(&["2fa", "money"]));
    let mut fields = bank.fields.clone();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            field("Branch", "Main St", false),
            field("PIN", "4321", true)
        ]
    );
    let old = &bank.history[0];
    assert_eq!(old[0].as_deref(), Some("2023-05-06T07:08:09Z"));
    assert_eq!(old[1].as_deref(), Some("Bank"));
    assert_eq!(old[3].as_deref(), Some("older-pass"));

    let forum = by_title(&items, "Forum ✓");
    assert_eq!(forum.kind, ItemKind::Login);
    assert_eq!(forum.username, "snowfox");
    assert_eq!(forum.password, "second-forum-pass");
    assert_eq!(forum.url, "https://forum.example.org");
    assert_eq!(forum.notes, "forum notes");
    assert_eq!(forum.tags, strings(&["Social"]));
    assert!(forum.source_id.is_some());
    let old_passwords: Vec<_> = forum.history.iter().filter_map(|h| h[3].clone()).collect();
    assert!(
        old_passwords.contains(&"first-forum-pass".to_owned()),
        "the edit left the old password in the history"
    );
    assert!(
        forum
            .history
            .iter()
            .all(|h| h[0].as_deref().is_some_and(|t| t.ends_with('Z'))),
        "history times are converted to RFC 3339"
    );
    let dup = by_title(&items, "Forum ✓ 2");
    assert_eq!(dup.username, "dup");
    assert_eq!(dup.password, "");

    // CSV export of the same database.
    let parsed = parse_report(Format::KeepassCsv, &csv)
        .unwrap_or_else(|e| panic!("parsing the real CSV export: {e}"));
    let rows: Vec<View> = parsed.items.iter().map(view).collect();
    assert_eq!(rows.len(), 3);
    assert!(parsed
        .dropped
        .iter()
        .any(|d| d.reason.contains("Throwaway")));
    let bank = by_title(&rows, "Bank ünïcödé");
    assert_eq!(bank.password, "current, \"pass\"");
    assert_eq!(bank.notes, "line 1\nline 2");
    assert_eq!(bank.tags, strings(&["Banking"]));
    let forum = by_title(&rows, "Forum ✓");
    assert_eq!(
        (
            forum.username.as_str(),
            forum.password.as_str(),
            forum.url.as_str()
        ),
        ("snowfox", "second-forum-pass", "https://forum.example.org")
    );
    assert_eq!(forum.tags, strings(&["Social"]));
    assert_eq!(by_title(&rows, "Forum ✓ 2").username, "dup");
}
