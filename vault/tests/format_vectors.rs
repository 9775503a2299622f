//! Test vectors of the container and sync file formats, and round trips.
//!
//! Each `tests/vectors/container-*.txt`, `sync-*.txt` (version 2) and
//! `segment-*.txt` (version 3: snapshots and delta segments) file has header
//! lines `name: value`, a line `---`, then the file's exact bytes. The
//! header says what reading it must give (`expect:`):
//!
//! - `success`: it parses, writing it again gives the same bytes (or, with
//!   `canonical: FILE`, the bytes of that vector: the same content listed in
//!   another order), every record opens, and the live items have the
//!   `titles:` listed (`|` separated, sorted); a container also has
//!   `reports:` conflict reports; a segment's header reads alone as within
//!   the file, and it has the `kind:`, `seq:` and `supersedes:` given;
//!   a container with `appended:` entries (and `torn:` bytes of an
//!   interrupted append) is written again folded, so only its content is
//!   compared; a sync vector's `trashed:` lists the titles in the trash
//!   (none when absent: deletions written before the trash existed carry no
//!   content and read as purged);
//! - `open failure`: it parses, but records do not open (tampered, moved to
//!   another id or epoch) and are rejected, not merged;
//! - `truncated`, `corrupt`: [`FormatError::Corrupt`] (saying "truncated"
//!   for the former);
//! - `unknown version`, `not this format`: those [`FormatError`]s.
//!
//! Keys: a sync vector gives the test vault key (`vault_key:` in hex); a
//! container vector gives the `password:` and `account_key:` that unlock
//! its embedded account header.
//!
//! The files were written once by the ignored test `generate_vectors`
//! (`cargo test -p coffer-vault --test format_vectors -- --ignored
//! generate_vectors`); they pin the formats, so regenerate them only for a
//! new format version.

mod common;

use std::path::PathBuf;

use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::error::FormatError;
use coffer_vault::format::{Container, SyncFile};
use coffer_vault::ids::DeviceId;
use coffer_vault::item::{NOTES, PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::replica::{Replica, Unpersisted};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::segment::{
    read_segment_header, read_sync_file, segment_bytes, FileId, Segment, SegmentHeader,
    SegmentKind, SyncContent,
};
use common::{hex, unhex, vectors_dir, Vector};
use proptest::prelude::*;
use uuid::Uuid;

fn titles(r: &Replica, key: &SecretKey) -> String {
    let mut t: Vec<String> = r
        .items(key)
        .expect("records open")
        .iter()
        .map(|i| i.title().to_owned())
        .collect();
    t.sort();
    t.join("|")
}

fn trashed_titles(r: &Replica, key: &SecretKey) -> String {
    let mut t: Vec<String> = r
        .trashed(key)
        .expect("records open")
        .iter()
        .map(|t| t.item.title().to_owned())
        .collect();
    t.sort();
    t.join("|")
}

fn check_error(v: &Vector, result: Result<(), FormatError>) {
    let expect = v.need("expect");
    match (expect, result) {
        ("truncated", Err(FormatError::Corrupt(m))) => {
            assert!(m.contains("truncated"), "{}: {m}", v.name)
        }
        ("corrupt", Err(FormatError::Corrupt(_))) => {}
        ("unknown version", Err(FormatError::UnknownVersion { version, .. })) => {
            assert_eq!(version.to_string(), v.need("version"), "{}", v.name)
        }
        ("not this format", Err(FormatError::NotThisFormat { .. })) => {}
        (e, r) => panic!("{}: expected {e}, got {r:?}", v.name),
    }
}

fn run_sync(v: &Vector) {
    let expect = v.need("expect");
    let parsed = read_sync_file(&v.body);
    if !matches!(expect, "success" | "open failure") {
        return check_error(v, parsed.map(|_| ()));
    }
    let file = parsed.unwrap_or_else(|e| panic!("{}: {e}", v.name));
    let canonical = match v.get("canonical") {
        Some(other) => Vector::read(&vectors_dir().join(other)).body,
        None => v.body.clone(),
    };
    let again = match &file {
        SyncContent::Whole(f) => f.to_bytes(),
        SyncContent::Segment(s) => {
            let alone = read_segment_header(&v.body).expect("the header reads alone");
            assert_eq!(alone, s.header, "{}", v.name);
            if expect == "success" {
                let kind = match s.header.kind {
                    SegmentKind::Snapshot => "snapshot",
                    SegmentKind::Delta => "delta",
                };
                assert_eq!(kind, v.need("kind"), "{}", v.name);
                assert_eq!(s.header.seq.to_string(), v.need("seq"), "{}", v.name);
                let sup: Vec<String> = s.header.supersedes.iter().map(|i| i.to_string()).collect();
                assert_eq!(sup.join(" "), v.need("supersedes"), "{}", v.name);
            }
            s.to_bytes()
        }
    };
    assert_eq!(
        again, canonical,
        "{}: writing again gives the canonical bytes",
        v.name
    );
    let key = SecretKey::from_slice(&unhex(v.need("vault_key"))).expect("32-byte key");
    let mut unlocked = Replica::new(
        file.account_id(),
        file.epoch(),
        DeviceId::new_random(),
        "reader".into(),
    );
    let mut locked = unlocked.clone();
    let out = unlocked
        .merge_sync_content(&file, Some(&key))
        .expect("same account and epoch");
    locked
        .merge_sync_content(&file, None)
        .expect("same account and epoch");
    let rejected_at_unlock = locked.verify_and_compact(&key);
    if expect == "success" {
        assert!(out.rejected.is_empty(), "{}: {:?}", v.name, out.rejected);
        assert!(rejected_at_unlock.is_empty(), "{}", v.name);
        assert_eq!(titles(&unlocked, &key), v.need("titles"), "{}", v.name);
        assert_eq!(unlocked.items(&key).unwrap(), locked.items(&key).unwrap());
        assert_eq!(
            trashed_titles(&unlocked, &key),
            v.get("trashed").unwrap_or(""),
            "{}",
            v.name
        );
        assert_eq!(
            unlocked.trashed(&key).unwrap(),
            locked.trashed(&key).unwrap()
        );
    } else {
        let n: usize = v.need("rejected").parse().expect("count");
        assert_eq!(out.rejected.len(), n, "{}", v.name);
        assert_eq!(rejected_at_unlock.len(), n, "{}", v.name);
        assert_eq!(unlocked.state(), locked.state(), "{}", v.name);
    }
}

fn run_container(v: &Vector) {
    let expect = v.need("expect");
    let parsed = Container::from_bytes(&v.body);
    if !matches!(expect, "success" | "open failure") {
        return check_error(v, parsed.map(|_| ()));
    }
    let c = parsed.unwrap_or_else(|e| panic!("{}: {e}", v.name));
    let appended = v.get("appended").is_some();
    assert_eq!(
        c.appended.entries.to_string(),
        v.get("appended").unwrap_or("0"),
        "{}",
        v.name
    );
    assert_eq!(
        c.appended.torn_bytes.to_string(),
        v.get("torn").unwrap_or("0"),
        "{}",
        v.name
    );
    if !appended {
        assert_eq!(
            c.to_bytes(),
            v.body,
            "{}: writing again gives the same bytes",
            v.name
        );
    }
    let (header, mut replica) = c.into_replica();
    let password = SecretString::from(v.need("password"));
    let account_key = AccountKey::parse(v.need("account_key")).expect("valid Account Key");
    let key = header
        .unlock(&password, &account_key)
        .expect("the vector's credentials");
    let rejected = replica.verify_and_compact(&key);
    if expect == "success" {
        assert!(rejected.is_empty(), "{}: {rejected:?}", v.name);
        assert_eq!(titles(&replica, &key), v.need("titles"), "{}", v.name);
        assert_eq!(
            replica.reports().len().to_string(),
            v.need("reports"),
            "{}",
            v.name
        );
        if !appended {
            assert_eq!(replica.container_bytes(&header).unwrap(), v.body);
        }
    } else {
        assert_eq!(rejected.len().to_string(), v.need("rejected"), "{}", v.name);
    }
}

#[test]
fn every_vector_gives_what_it_expects() {
    let mut ran = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".txt") {
            continue;
        }
        if name.starts_with("sync-") || name.starts_with("segment-") {
            run_sync(&Vector::read(&path));
            ran += 1;
        } else if name.starts_with("container-") {
            run_container(&Vector::read(&path));
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} container/sync vectors found");
}

// ----- round trips -----

fn arb_replica() -> impl Strategy<Value = Replica> {
    let edit = (
        0u8..4,
        0u8..5,
        prop::option::weighted(0.8, "[ -~]{0,12}|[é€😀\"\\\\\n]{0,4}"),
    );
    (prop::collection::vec(edit, 0..25), any::<bool>()).prop_map(|(ops, resolve)| {
        let key = SecretKey::from_bytes([3; 32]);
        let acct = Uuid::from_bytes([1; 16]);
        let mut a = Replica::new(
            acct,
            4,
            DeviceId(Uuid::from_bytes([2; 16])),
            "dev \"a\" ✓".into(),
        );
        let mut b = Replica::new(acct, 4, DeviceId(Uuid::from_bytes([3; 16])), "b".into());
        for (i, (kind, field, value)) in ops.into_iter().enumerate() {
            let r = if i % 2 == 0 { &mut a } else { &mut b };
            let now = 1000 + i as u64;
            let field = [TITLE, USERNAME, PASSWORD, URL, NOTES][field as usize].to_owned();
            let ids: Vec<_> = r.items(&key).expect("open").iter().map(|i| i.id).collect();
            match (kind, ids.first()) {
                (0, _) | (_, None) => {
                    r.add(
                        &key,
                        vec![(field, SecretString::from(value.unwrap_or_default()))],
                        now,
                    )
                    .expect("add");
                }
                (1, Some(&id)) => r.delete(&key, id, now).expect("delete"),
                (_, Some(&id)) => r
                    .edit(&key, id, vec![(field, value.map(SecretString::from))], now)
                    .expect("edit"),
            }
            if i % 5 == 4 {
                let (from, to) = if i % 2 == 0 {
                    (&a, &mut b)
                } else {
                    (&b, &mut a)
                };
                to.merge_remote(from.state(), Some(&key));
            }
        }
        a.merge_remote(b.state(), None);
        if resolve {
            a.verify_and_compact(&key);
            a.resolve_conflicts(&key, 5000).expect("open");
        }
        a
    })
}

fn test_header() -> AccountHeader {
    let v = Vector::read(&vectors_dir().join("container-success.txt"));
    Container::from_bytes(&v.body)
        .expect("container vector parses")
        .account
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sync_file_round_trips(r in arb_replica()) {
        let bytes = r.sync_file_bytes();
        let file = SyncFile::from_bytes(&bytes).expect("own output parses");
        prop_assert_eq!(&file, &r.to_sync_file());
        prop_assert_eq!(file.to_bytes(), bytes);
    }

    #[test]
    fn container_round_trips(r in arb_replica()) {
        let mut header = test_header();
        header.account_id = r.account_id();
        header.epoch = r.epoch();
        let bytes = r.container_bytes(&header).expect("same account");
        let c = Container::from_bytes(&bytes).expect("own output parses");
        prop_assert_eq!(&c.account, &header);
        prop_assert_eq!(&c.replica, &r.to_parts());
        prop_assert_eq!(c.to_bytes(), bytes);
    }
}

/// A container with appended entries reads as the whole container written
/// after the same changes; an interrupted last append is skipped.
#[test]
fn appended_entries_read_as_the_folded_container() {
    let (header, key, mut r, mut bytes) = success_container();
    let before = bytes.len();
    for (i, title) in ["One", "Two", "Three"].into_iter().enumerate() {
        r.add(&key, vec![(TITLE.into(), s(title))], T0 + 10_000 + i as u64)
            .unwrap();
        bytes.extend(delta_line(&mut r));
    }
    let c = Container::from_bytes(&bytes).expect("parses");
    assert_eq!(c.appended.base_len, before);
    assert_eq!(c.appended.entries, 3);
    assert_eq!(c.appended.torn_bytes, 0);
    let (_, mut read) = c.into_replica();
    read.verify_and_compact(&key);
    r.verify_and_compact(&key);
    assert_eq!(read.state(), r.state());
    assert_eq!(read.clock(), r.clock());
    assert_eq!(titles(&read, &key), titles(&r, &key));
    // The folded form is the whole container of the same replica.
    let folded = r.container_bytes(&header).unwrap();
    assert_eq!(
        Container::from_bytes(&folded).unwrap().replica.state,
        *read.state()
    );

    // Every cut inside the last entry is an interrupted append: skipped.
    let whole = bytes.clone();
    r.add(
        &key,
        vec![(TITLE.into(), s("Never acknowledged"))],
        T0 + 20_000,
    )
    .unwrap();
    let line = delta_line(&mut r);
    for cut in [1, line.len() / 2, line.len() - 1] {
        let mut torn = whole.clone();
        torn.extend_from_slice(&line[..cut]);
        let c = Container::from_bytes(&torn).expect("a torn append still reads");
        assert_eq!((c.appended.entries, c.appended.torn_bytes), (3, cut));
        let (_, mut read) = c.into_replica();
        read.verify_and_compact(&key);
        assert!(!titles(&read, &key).contains("Never acknowledged"));
    }
    // A complete line that is not an entry is damage, not a torn write.
    let mut bad = whole.clone();
    bad.extend_from_slice(b"{\"clock\": 1}\n");
    match Container::from_bytes(&bad) {
        Err(FormatError::Corrupt(m)) => assert!(m.contains("appended entry 4"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Version 2 containers (one document, nothing appended) still read.
#[test]
fn version_2_containers_read() {
    let v = Vector::read(&vectors_dir().join("container-success.txt"));
    let v2 = [
        &b"COFFER-CONTAINER 2\n"[..],
        &v.body[v.body.iter().position(|&b| b == b'\n').unwrap() + 1..],
    ]
    .concat();
    let c = Container::from_bytes(&v2).expect("a version 2 container reads");
    assert_eq!(c, Container::from_bytes(&v.body).unwrap());
}

/// The success vector unlocked: header, key, replica and its bytes.
fn success_container() -> (AccountHeader, SecretKey, Replica, Vec<u8>) {
    let v = Vector::read(&vectors_dir().join("container-success.txt"));
    let (header, mut r) = Container::from_bytes(&v.body).unwrap().into_replica();
    let key = header
        .unlock(
            &SecretString::from(v.need("password")),
            &AccountKey::parse(v.need("account_key")).unwrap(),
        )
        .unwrap();
    assert!(r.verify_and_compact(&key).is_empty());
    (header, key, r, v.body)
}

/// The replica's unsaved delta as an entry line (and marks it persisted).
fn delta_line(r: &mut Replica) -> Vec<u8> {
    let line = match r.unsaved_delta() {
        Unpersisted::Delta(e) => e.to_line(),
        other => panic!("expected a delta, got {other:?}"),
    };
    r.mark_persisted();
    line
}

#[test]
#[ignore = "writes tests/vectors/container-appended*.txt; run only for a new format version"]
fn generate_appended_vectors() {
    let dir = vectors_dir();
    let v = Vector::read(&dir.join("container-success.txt"));
    let (_, key, mut r, mut bytes) = success_container();
    let id = |r: &Replica, t: &str| r.find_by_title(&key, t).unwrap()[0].id;
    r.add(
        &key,
        vec![(TITLE.into(), s("Bike lock")), (PASSWORD.into(), s("4821"))],
        T0 + 10_000,
    )
    .unwrap();
    bytes.extend(delta_line(&mut r));
    let wifi = id(&r, "Wifi");
    r.edit(
        &key,
        wifi,
        vec![(TITLE.into(), Some(s("Home wifi")))],
        T0 + 11_000,
    )
    .unwrap();
    bytes.extend(delta_line(&mut r));
    let forum = id(&r, "Old forum");
    r.delete(&key, forum, T0 + 12_000).unwrap();
    bytes.extend(delta_line(&mut r));
    let hdr = |desc: &str, torn: Option<usize>| {
        let mut h = vec![
            ("description", desc.to_owned()),
            ("expect", "success".to_owned()),
            ("password", v.need("password").to_owned()),
            ("account_key", v.need("account_key").to_owned()),
            ("titles", "Bank|Bike lock|Home wifi|Mail".to_owned()),
            ("reports", "2".to_owned()),
            ("appended", "3".to_owned()),
        ];
        h.extend(torn.map(|t| ("torn", t.to_string())));
        h
    };
    Vector::write(
        &dir,
        "container-appended.txt",
        &hdr(
            "the success container, then an add, a rename and a delete appended",
            None,
        ),
        &bytes,
    );
    r.add(
        &key,
        vec![(TITLE.into(), s("Never acknowledged"))],
        T0 + 13_000,
    )
    .unwrap();
    let line = delta_line(&mut r);
    let cut = line.len() / 2;
    bytes.extend_from_slice(&line[..cut]);
    Vector::write(
        &dir,
        "container-appended-torn.txt",
        &hdr(
            "as container-appended, then half of a fourth append (interrupted)",
            Some(cut),
        ),
        &bytes,
    );
}

// ----- generator -----

const T0: u64 = 1_735_689_600_000;

fn s(v: &str) -> SecretString {
    SecretString::from(v)
}

#[test]
#[ignore = "writes tests/vectors/{container,sync}-*.txt; run only for a new format version"]
fn generate_vectors() {
    let dir = vectors_dir();
    // The account of the account-header vector `header-success.json`.
    let hv: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("header-success.json")).expect("header vector"),
    )
    .expect("JSON");
    let header = AccountHeader::from_json(hv["header"].as_str().expect("header").as_bytes())
        .expect("header parses");
    let password = hv["password"].as_str().expect("password").to_owned();
    let account_key_text = hv["account_key"].as_str().expect("account_key").to_owned();
    let account_key = AccountKey::parse(&account_key_text).expect("key");
    let key = header.unlock(&s(&password), &account_key).expect("unlocks");
    let (acct, epoch) = (header.account_id, header.epoch);

    let laptop = DeviceId(Uuid::from_bytes([0xa1; 16]));
    let phone = DeviceId(Uuid::from_bytes([0xb2; 16]));
    let mut a = Replica::new(acct, epoch, laptop, "Ann's laptop".into());
    let mut b = Replica::new(acct, epoch, phone, "Ann's phone".into());
    let bank = a
        .add(
            &key,
            vec![
                (TITLE.into(), s("Bank")),
                (USERNAME.into(), s("ann")),
                (PASSWORD.into(), s("hunter2")),
            ],
            T0,
        )
        .unwrap();
    let mail = a
        .add(
            &key,
            vec![
                (TITLE.into(), s("Mail")),
                (URL.into(), s("https://mail.example")),
            ],
            T0 + 1,
        )
        .unwrap();
    let old = a
        .add(&key, vec![(TITLE.into(), s("Old forum"))], T0 + 2)
        .unwrap();
    let gone = a
        .add(&key, vec![(TITLE.into(), s("Gone"))], T0 + 3)
        .unwrap();
    b.merge_remote(a.state(), Some(&key));
    a.edit(
        &key,
        bank,
        vec![(PASSWORD.into(), Some(s("laptop-pw")))],
        T0 + 10,
    )
    .unwrap();
    b.edit(
        &key,
        bank,
        vec![(PASSWORD.into(), Some(s("phone-pw")))],
        T0 + 11,
    )
    .unwrap();
    b.edit(&key, mail, vec![(NOTES.into(), Some(s("2FA on")))], T0 + 12)
        .unwrap();
    a.delete(&key, old, T0 + 13).unwrap();
    b.edit(
        &key,
        old,
        vec![(USERNAME.into(), Some(s("ann_f")))],
        T0 + 14,
    )
    .unwrap();
    a.delete(&key, gone, T0 + 15).unwrap();
    b.merge_remote(a.state(), Some(&key));
    // The phone's sync file: siblings not yet resolved.
    let phone_file = b.to_sync_file();
    a.merge_remote(&phone_file.state, Some(&key));
    let reports = a.resolve_conflicts(&key, T0 + 20).unwrap();
    assert_eq!(reports.len(), 2);
    a.add(
        &key,
        vec![
            (TITLE.into(), s("Wifi")),
            (PASSWORD.into(), s("correct-horse")),
        ],
        T0 + 21,
    )
    .unwrap();
    let titles_all = "Bank|Mail|Old forum|Wifi".to_owned();

    let vk = hex(key.expose());
    let sync_hdr = |desc: &str, expect: &str| {
        vec![
            ("description", desc.to_owned()),
            ("expect", expect.to_owned()),
            ("vault_key", vk.clone()),
        ]
    };

    // --- sync files ---
    let phone_bytes = phone_file.to_bytes();
    let mut h = sync_hdr(
        "the phone's file: concurrent edits and a delete-vs-edit not yet resolved",
        "success",
    );
    h.push(("titles", "Bank|Mail|Old forum".into()));
    Vector::write(&dir, "sync-success-siblings.txt", &h, &phone_bytes);

    let laptop_file = a.to_sync_file();
    let mut h = sync_hdr(
        "the laptop's file after resolving and adding an item",
        "success",
    );
    h.push(("titles", titles_all.clone()));
    Vector::write(
        &dir,
        "sync-success-resolved.txt",
        &h,
        &laptop_file.to_bytes(),
    );

    let mut tampered = laptop_file.clone();
    let victim = tampered.state.iter_versions().next().unwrap().clone();
    let mut forged = victim.clone();
    let mut bytes = forged.sealed.to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    forged.sealed = bytes.into();
    tampered.state = rebuild(&tampered.state, &victim, forged);
    let mut h = sync_hdr(
        "one record's ciphertext has one bit flipped",
        "open failure",
    );
    h.push(("rejected", "1".into()));
    Vector::write(&dir, "sync-tampered-record.txt", &h, &tampered.to_bytes());

    let mut moved = laptop_file.clone();
    let versions: Vec<_> = moved.state.iter_versions().cloned().collect();
    let mut swapped = versions[0].clone();
    swapped.id = versions.iter().find(|v| v.id != swapped.id).unwrap().id;
    moved.state = rebuild(&moved.state, &versions[0], swapped);
    let mut h = sync_hdr("one record moved to another item id", "open failure");
    h.push(("rejected", "1".into()));
    Vector::write(&dir, "sync-moved-id.txt", &h, &moved.to_bytes());

    let mut next_epoch = laptop_file.clone();
    next_epoch.epoch += 1;
    let n = next_epoch.state.version_count();
    let mut h = sync_hdr(
        "records of epoch 1 replayed in a file claiming epoch 2",
        "open failure",
    );
    h.push(("rejected", n.to_string()));
    Vector::write(&dir, "sync-moved-epoch.txt", &h, &next_epoch.to_bytes());

    let full = laptop_file.to_bytes();
    Vector::write(
        &dir,
        "sync-truncated.txt",
        &sync_hdr("cut in the middle of the JSON", "truncated"),
        &full[..full.len() / 2],
    );
    Vector::write(
        &dir,
        "sync-truncated-magic.txt",
        &sync_hdr("cut in the first line", "truncated"),
        &full[..6],
    );
    let mut v4 = b"COFFER-SYNC 4\n".to_vec();
    v4.extend_from_slice(b"{\"whatever\":\"a future format\"}\n");
    let mut h = sync_hdr("a future version", "unknown version");
    h.push(("version", "4".into()));
    Vector::write(&dir, "sync-unknown-version.txt", &h, &v4);
    let mut v1 = b"COFFER-SYNC 1\n".to_vec();
    v1.extend_from_slice(&full[full.iter().position(|&b| b == b'\n').unwrap() + 1..]);
    let mut h = sync_hdr(
        "a file claiming version 1 (before compact item plaintexts), no longer read",
        "unknown version",
    );
    h.push(("version", "1".into()));
    Vector::write(&dir, "sync-old-version.txt", &h, &v1);
    Vector::write(
        &dir,
        "sync-not-this-format-account.txt",
        &sync_hdr("an account.json is not a sync file", "not this format"),
        &header.to_json(),
    );
    let text = String::from_utf8(full.clone()).unwrap();
    let sealed_b64 = text
        .split("\"sealed\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let bad = text.replacen(sealed_b64, "not*base64", 1);
    Vector::write(
        &dir,
        "sync-corrupt-base64.txt",
        &sync_hdr("a record's ciphertext is not base64", "corrupt"),
        bad.as_bytes(),
    );
    let bad = text.replacen("\"device_id\"", "\"device_idx\"", 1);
    Vector::write(
        &dir,
        "sync-corrupt-missing-field.txt",
        &sync_hdr("the device_id field is missing", "corrupt"),
        bad.as_bytes(),
    );

    // --- containers ---
    let cont_hdr = |desc: &str, expect: &str| {
        vec![
            ("description", desc.to_owned()),
            ("expect", expect.to_owned()),
            ("password", password.clone()),
            ("account_key", account_key_text.clone()),
        ]
    };
    let cbytes = a.container_bytes(&header).unwrap();
    let mut h = cont_hdr(
        "the laptop's container after resolving two conflicts",
        "success",
    );
    h.push(("titles", titles_all));
    h.push(("reports", "2".into()));
    Vector::write(&dir, "container-success.txt", &h, &cbytes);

    let mut c = Container::from_bytes(&cbytes).unwrap();
    let victim = c.replica.state.iter_versions().last().unwrap().clone();
    let mut forged = victim.clone();
    let mut bytes = forged.sealed.to_vec();
    bytes[3] ^= 0x80;
    forged.sealed = bytes.into();
    c.replica.state = rebuild(&c.replica.state, &victim, forged);
    let mut h = cont_hdr("one record's nonce has one bit flipped", "open failure");
    h.push(("rejected", "1".into()));
    Vector::write(&dir, "container-tampered-record.txt", &h, &c.to_bytes());

    Vector::write(
        &dir,
        "container-truncated.txt",
        &cont_hdr("cut in the middle of the JSON", "truncated"),
        &cbytes[..cbytes.len() * 2 / 3],
    );
    Vector::write(
        &dir,
        "container-empty.txt",
        &cont_hdr("an empty file (a write that never happened)", "corrupt"),
        b"",
    );
    let mut h = cont_hdr("a future version", "unknown version");
    h.push(("version", "7".into()));
    Vector::write(
        &dir,
        "container-unknown-version.txt",
        &h,
        b"COFFER-CONTAINER 7\n{}\n",
    );
    Vector::write(
        &dir,
        "container-not-this-format-sync.txt",
        &cont_hdr("a sync file is not a container", "not this format"),
        &full,
    );
    let ctext = String::from_utf8(cbytes).unwrap();
    let bad = ctext.replacen("\"salt\"", "\"pepper\"", 1);
    Vector::write(
        &dir,
        "container-corrupt-header.txt",
        &cont_hdr("the embedded account header lost its salt", "corrupt"),
        bad.as_bytes(),
    );
}

#[test]
#[ignore = "writes tests/vectors/sync-success-trash.txt; run only to remake it"]
fn generate_trash_vector() {
    let dir = vectors_dir();
    let hv: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("header-success.json")).expect("header vector"),
    )
    .expect("JSON");
    let header = AccountHeader::from_json(hv["header"].as_str().expect("header").as_bytes())
        .expect("header parses");
    let account_key = AccountKey::parse(hv["account_key"].as_str().unwrap()).expect("key");
    let key = header
        .unlock(&s(hv["password"].as_str().unwrap()), &account_key)
        .expect("unlocks");
    let laptop = DeviceId(Uuid::from_bytes([0xa1; 16]));
    let mut a = Replica::new(
        header.account_id,
        header.epoch,
        laptop,
        "Ann's laptop".into(),
    );
    a.add(&key, vec![(TITLE.into(), s("Bank"))], T0).unwrap();
    let forum = a
        .add(
            &key,
            vec![
                (TITLE.into(), s("Old forum")),
                (USERNAME.into(), s("ann_f")),
                (PASSWORD.into(), s("forum-pw")),
            ],
            T0 + 1,
        )
        .unwrap();
    let gone = a
        .add(&key, vec![(TITLE.into(), s("Gone"))], T0 + 2)
        .unwrap();
    a.delete(&key, forum, T0 + 3).unwrap();
    a.delete(&key, gone, T0 + 4).unwrap();
    a.purge(&key, gone, T0 + 5).unwrap();
    let h = vec![
        (
            "description",
            "the trash: a deletion that keeps the item's content, and one purged".to_owned(),
        ),
        ("expect", "success".to_owned()),
        ("vault_key", hex(key.expose())),
        ("titles", "Bank".to_owned()),
        ("trashed", "Old forum".to_owned()),
    ];
    Vector::write(
        &dir,
        "sync-success-trash.txt",
        &h,
        &a.to_sync_file().to_bytes(),
    );
}

/// A copy of `state` with `old` replaced by `new`.
fn rebuild(
    state: &coffer_vault::state::VaultState,
    old: &coffer_vault::record::RecordVersion,
    new: coffer_vault::record::RecordVersion,
) -> coffer_vault::state::VaultState {
    let mut out = coffer_vault::state::VaultState::new();
    for v in state.iter_versions() {
        if v != old {
            out.insert(v.clone());
        }
    }
    out.insert(new);
    out.join_vv(state.vv());
    out
}

// ----- version-3 segments -----

/// Writes the `segment-*.txt` vectors: from the laptop's version-2 file
/// (`sync-success-resolved.txt`), its snapshot, two fresh delta segments
/// (an add, a rename) and their merge, then damaged and reordered forms.
#[test]
#[ignore = "writes tests/vectors/segment-*.txt; run only for a new format version"]
fn generate_segment_vectors() {
    use coffer_vault::replica::ReplicaParts;
    use coffer_vault::vv::VersionVector;
    let dir = vectors_dir();
    let v = Vector::read(&dir.join("sync-success-resolved.txt"));
    let vk = v.need("vault_key").to_owned();
    let key = SecretKey::from_slice(&unhex(&vk)).unwrap();
    let laptop = SyncFile::from_bytes(&v.body).unwrap();
    let mut r = Replica::from_parts(ReplicaParts {
        account_id: laptop.account_id,
        epoch: laptop.epoch,
        device_id: laptop.device_id,
        device_name: laptop.device_name.clone(),
        state: laptop.state.clone(),
        clock: laptop.written_hlc,
        sealed_reports: None,
    });
    assert!(r.verify_and_compact(&key).is_empty());
    let header = |r: &Replica, kind, seq, id, supersedes: Vec<FileId>, extends: &VersionVector| {
        SegmentHeader {
            kind,
            account_id: r.account_id(),
            epoch: r.epoch(),
            device_id: r.device_id(),
            device_name: r.device_name().to_owned(),
            written_hlc: r.clock(),
            file_id: FileId(id),
            seq,
            supersedes,
            extends: extends.clone(),
            vv: r.state().vv().clone(),
        }
    };
    fn hdr(
        vk: &str,
        desc: &str,
        expect: &str,
        extra: &[(&'static str, &str)],
    ) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("description", desc.to_owned()),
            ("expect", expect.to_owned()),
            ("vault_key", vk.to_owned()),
        ];
        h.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        h
    }
    let none = VersionVector::new();
    let snap_h = header(
        &r,
        SegmentKind::Snapshot,
        1,
        0x51a9_5a05_0000_0001,
        vec![],
        &none,
    );
    Vector::write(
        &dir,
        "segment-success-snapshot.txt",
        &hdr(
            &vk,
            "the laptop's snapshot: its whole state, superseding nothing",
            "success",
            &[
                ("kind", "snapshot"),
                ("seq", "1"),
                ("supersedes", ""),
                ("titles", "Bank|Mail|Old forum|Wifi"),
            ],
        ),
        &segment_bytes(&snap_h, r.state()),
    );
    let vv1 = r.state().vv().clone();
    let bike = r
        .add(
            &key,
            vec![(TITLE.into(), s("Bike lock")), (PASSWORD.into(), s("4821"))],
            T0 + 30_000,
        )
        .unwrap();
    let d2 = header(
        &r,
        SegmentKind::Delta,
        2,
        0xde17_a000_0000_0002,
        vec![],
        &vv1,
    );
    let d2_bytes = segment_bytes(&d2, &r.state_of([&bike]));
    Vector::write(
        &dir,
        "segment-success-delta.txt",
        &hdr(
            &vk,
            "a fresh delta segment after the snapshot: one item added",
            "success",
            &[
                ("kind", "delta"),
                ("seq", "2"),
                ("supersedes", ""),
                ("titles", "Bike lock"),
            ],
        ),
        &d2_bytes,
    );
    let vv2 = r.state().vv().clone();
    let wifi = r.find_by_title(&key, "Wifi").unwrap()[0].id;
    r.edit(
        &key,
        wifi,
        vec![(TITLE.into(), Some(s("Home wifi")))],
        T0 + 31_000,
    )
    .unwrap();
    let d3 = header(
        &r,
        SegmentKind::Delta,
        3,
        0xde17_a000_0000_0003,
        vec![],
        &vv2,
    );
    let _ = segment_bytes(&d3, &r.state_of([&wifi]));
    let vv3 = r.state().vv().clone();
    let merged_state = r.state_of([&bike, &wifi]);
    let m4 = header(
        &r,
        SegmentKind::Delta,
        4,
        0x3e26_ed00_0000_0004,
        vec![d2.file_id, d3.file_id],
        &vv3,
    );
    let m4_bytes = segment_bytes(&m4, &merged_state);
    let sup = format!("{} {}", d2.file_id, d3.file_id);
    Vector::write(
        &dir,
        "segment-success-merged.txt",
        &hdr(
            &vk,
            "segments 2 and 3 merged: the current versions of their items",
            "success",
            &[
                ("kind", "delta"),
                ("seq", "4"),
                ("supersedes", &sup),
                ("titles", "Bike lock|Home wifi"),
            ],
        ),
        &m4_bytes,
    );

    // The same content listed in another order: header members sorted by
    // name, superseded ids and records reversed, record members sorted.
    let text = String::from_utf8(m4_bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut h: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    h["supersedes"].as_array_mut().unwrap().reverse();
    let mut st: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    st["records"].as_array_mut().unwrap().reverse();
    let reordered = format!("{}\n{}\n{}\n", lines[0], h, st);
    assert_ne!(reordered.as_bytes(), &m4_bytes[..]);
    Vector::write(
        &dir,
        "segment-reordered.txt",
        &hdr(
            &vk,
            "segment-success-merged.txt with its members, superseded ids and records in other orders",
            "success",
            &[
                ("canonical", "segment-success-merged.txt"),
                ("kind", "delta"),
                ("seq", "4"),
                ("supersedes", &sup),
                ("titles", "Bike lock|Home wifi"),
            ],
        ),
        reordered.as_bytes(),
    );

    let mut seg = Segment::from_bytes(&m4_bytes).unwrap();
    let victim = seg.state.iter_versions().next().unwrap().clone();
    let mut forged = victim.clone();
    let mut b = forged.sealed.to_vec();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    forged.sealed = b.into();
    seg.state = rebuild(&seg.state, &victim, forged);
    Vector::write(
        &dir,
        "segment-tampered-record.txt",
        &hdr(
            &vk,
            "segment-success-merged.txt with one bit of one record's ciphertext flipped",
            "open failure",
            &[("rejected", "1")],
        ),
        &seg.to_bytes(),
    );
    let mut moved = Segment::from_bytes(&m4_bytes).unwrap();
    moved.header.epoch += 1;
    let n = moved.state.version_count().to_string();
    Vector::write(
        &dir,
        "segment-moved-epoch.txt",
        &hdr(
            &vk,
            "segment-success-merged.txt claiming the next epoch in its header: no record opens",
            "open failure",
            &[("rejected", &n)],
        ),
        &moved.to_bytes(),
    );
    let header_end = m4_bytes.iter().position(|&b| b == b'\n').unwrap()
        + 1
        + m4_bytes[14..].iter().position(|&b| b == b'\n').unwrap();
    Vector::write(
        &dir,
        "segment-truncated.txt",
        &hdr(&vk, "cut in the middle of the state", "truncated", &[]),
        &m4_bytes[..m4_bytes.len() * 2 / 3],
    );
    Vector::write(
        &dir,
        "segment-truncated-header.txt",
        &hdr(&vk, "cut in the middle of the header", "truncated", &[]),
        &m4_bytes[..header_end / 2],
    );
    Vector::write(
        &dir,
        "segment-truncated-newline.txt",
        &hdr(
            &vk,
            "the state whole but its final newline lost",
            "truncated",
            &[],
        ),
        &m4_bytes[..m4_bytes.len() - 1],
    );
    let mut trailing = m4_bytes.clone();
    trailing.extend_from_slice(b"{\"vv\":{},\"records\":[]}\n");
    Vector::write(
        &dir,
        "segment-corrupt-trailing.txt",
        &hdr(&vk, "a second state line after the state", "corrupt", &[]),
        &trailing,
    );
    let v4 = b"COFFER-SYNC 4\n{\"kind\":\"something newer\"}\n{}\n";
    Vector::write(
        &dir,
        "segment-unknown-version.txt",
        &hdr(
            &vk,
            "a future version",
            "unknown version",
            &[("version", "4")],
        ),
        v4,
    );
}
