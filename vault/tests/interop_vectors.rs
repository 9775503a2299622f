//! Test vectors of the backup file, the device's sealed Account Key and the
//! sync folder's file names.
//!
//! `tests/vectors/backup-*.txt` and `device-key-*.txt` have `name: value`
//! header lines, `---`, then the exact bytes (as the format vectors do). The
//! header says what reading must give (`expect:`):
//!
//! - backups: `success` (opens with the `password:` and `account_key:` of
//!   its embedded header; the items have the `titles:` listed), `open
//!   failure` (parses, the items do not open), `not a backup`, `newer
//!   format`, `corrupt`, `wrong credentials`;
//! - device keys (`sealed:` in hex is the body-less box; `key:` the hex of
//!   the key it is sealed under; `slot:` pw or vk; `account_id:`, `epoch:`,
//!   `device_id:` where it is read): `success` (opens to `account_key:`) or
//!   `open failure`.
//!
//! `tests/vectors/names.txt` lists one name per line, a tab, and what
//! it is: `header`, `header copy`, `device ID`, `device copy ID`, or
//! `ignored REASON`.
//!
//! The files were written once by the ignored test `generate_interop_vectors`.

mod common;

use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::backup::{Backup, BackupError};
use coffer_vault::device_key::{DeviceKeyContext, Slot};
use coffer_vault::hlc::Clock;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, PASSWORD, TITLE, USERNAME};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::sync_names::{classify, Entry};
use common::{hex, unhex, vectors_dir, Vector};
use uuid::Uuid;

fn s(v: &str) -> SecretString {
    SecretString::from(v)
}

fn vectors(prefix: &str) -> Vec<Vector> {
    let mut names: Vec<_> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {prefix}* vectors");
    names.iter().map(|p| Vector::read(p)).collect()
}

fn run_backup(v: &Vector) {
    let parsed = Backup::parse(&v.body);
    let expect = v.need("expect");
    let b = match (expect, parsed) {
        ("not a backup", Err(BackupError::NotABackup))
        | ("newer format", Err(BackupError::NewerFormat))
        | ("corrupt", Err(BackupError::NotJson { .. } | BackupError::Header(_)))
        | ("corrupt", Err(BackupError::NoItems)) => return,
        (_, Ok(b)) => b,
        (e, r) => panic!("{}: expected {e}, got {r:?}", v.name),
    };
    let ak = AccountKey::parse(v.need("account_key")).expect("vector key parses");
    let key = match b.header.unlock(&s(v.need("password")), &ak) {
        Ok(k) => k,
        Err(_) => {
            assert_eq!(expect, "wrong credentials", "{}", v.name);
            return;
        }
    };
    match (expect, b.open(&key)) {
        ("success", Ok(items)) => {
            let mut titles: Vec<&str> = items.iter().map(Item::title).collect();
            titles.sort();
            assert_eq!(titles.join("|"), v.need("titles"), "{}", v.name);
            // Sealing them again gives a backup that opens to the same items.
            let again = Backup::seal(&b.header, &key, &items, b.created_ms);
            let reread = Backup::parse(&again).expect("a written backup parses");
            assert_eq!(reread.open(&key).expect("opens"), items, "{}", v.name);
        }
        ("open failure", Err(BackupError::DoesNotOpen)) => {}
        (e, r) => panic!("{}: expected {e}, got {r:?}", v.name),
    }
}

fn run_device_key(v: &Vector) {
    let account_id: Uuid = v.need("account_id").parse().expect("uuid");
    let ctx = DeviceKeyContext {
        account_id,
        epoch: v.need("epoch").parse().expect("epoch"),
        device_id: v.need("device_id"),
    };
    let slot = match v.need("slot") {
        "pw" => Slot::Password,
        "vk" => Slot::VaultKey,
        other => panic!("{}: slot {other}", v.name),
    };
    let key_bytes: [u8; 32] = unhex(v.need("key")).try_into().expect("32-byte key");
    let key = SecretKey::from_bytes(key_bytes);
    let opened = ctx.open(slot, &key, &unhex(v.need("sealed")));
    match (v.need("expect"), opened) {
        ("success", Some(ak)) => {
            assert_eq!(ak.to_text().expose(), v.need("account_key"), "{}", v.name)
        }
        ("open failure", None) => {}
        (e, r) => panic!("{}: expected {e}, got {:?}", v.name, r.is_some()),
    }
}

#[test]
fn backup_vectors_give_what_they_expect() {
    for v in vectors("backup-") {
        run_backup(&v);
    }
}

#[test]
fn device_key_vectors_give_what_they_expect() {
    for v in vectors("device-key-") {
        run_device_key(&v);
    }
}

#[test]
fn sync_name_vectors_give_what_they_expect() {
    let text = std::fs::read_to_string(vectors_dir().join("names.txt")).expect("names");
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, want) = line.split_once('\t').expect("NAME<TAB>WHAT");
        assert_eq!(describe(&classify(name)), want, "{name:?}");
        checked += 1;
    }
    assert!(checked > 40, "only {checked} names");
}

fn describe(e: &Entry) -> String {
    match e {
        Entry::AccountHeader => "header".into(),
        Entry::AccountHeaderConflict { .. } => "header copy".into(),
        Entry::DeviceFile { device_id } => format!("device {device_id}"),
        Entry::DeviceConflict { device_id } => format!("device copy {device_id}"),
        Entry::HeaderChange { device_id } => format!("header change {device_id}"),
        Entry::HeaderChangeConflict { device_id } => format!("header change copy {device_id}"),
        Entry::UnlockKey { device_id } => format!("unlock key {device_id}"),
        Entry::UnlockKeyConflict { device_id } => format!("unlock key copy {device_id}"),
        Entry::DeltaFile {
            device_id,
            seq,
            file_id,
        } => format!("delta {device_id} {seq} {file_id}"),
        Entry::DeltaConflict { device_id } => format!("delta copy {device_id}"),
        Entry::Ignored(why) => format!("ignored {why:?}"),
    }
}

// ----- generation -----

const T0: u64 = 1_735_689_600_000;

fn success_header() -> (AccountHeader, String, String, SecretKey) {
    let hv: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vectors_dir().join("header-success.json")).expect("header vector"),
    )
    .expect("JSON");
    let header = AccountHeader::from_json(hv["header"].as_str().expect("header").as_bytes())
        .expect("header parses");
    let password = hv["password"].as_str().expect("password").to_owned();
    let ak = hv["account_key"].as_str().expect("account_key").to_owned();
    let key = header
        .unlock(&s(&password), &AccountKey::parse(&ak).expect("key"))
        .expect("unlocks");
    (header, password, ak, key)
}

fn item(title: &str, extra: &[(&str, &str)], at: u64) -> Item {
    let dev = DeviceId(Uuid::from_bytes([0xa1; 16]));
    let mut clock = Clock::new();
    let id = ItemId(Uuid::from_bytes([at as u8; 16]));
    let mut i = Item::new(id, at);
    let mut changes = vec![(TITLE.to_owned(), Some(s(title)))];
    changes.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), Some(s(v)))));
    i.apply(changes, &mut clock, at, dev);
    i
}

#[test]
#[ignore = "writes the vector files; run once per format version"]
fn generate_interop_vectors() {
    let dir = vectors_dir();
    let (header, password, ak, key) = success_header();
    let mut bank = item("Bank", &[(USERNAME, "ann"), (PASSWORD, "hunter2")], T0);
    bank.apply(
        vec![(PASSWORD.to_owned(), Some(s("hunter3")))],
        &mut Clock::new(),
        T0 + 5,
        DeviceId(Uuid::from_bytes([0xb2; 16])),
    );
    let items = vec![bank, item("Mail", &[], T0 + 1)];
    let good = Backup::seal(&header, &key, &items, T0 + 9);
    let creds = |expect: &str, description: &str| {
        vec![
            ("description", description.to_owned()),
            ("expect", expect.to_owned()),
            ("password", password.clone()),
            ("account_key", ak.clone()),
        ]
    };
    let mut h = creds("success", "two items, one with a password history");
    h.push(("titles", "Bank|Mail".to_owned()));
    Vector::write(&dir, "backup-success.txt", &h, &good);
    let mut tampered = good.clone();
    // A bit of the sealed items (inside the base64 near the end) flipped.
    let at = tampered.len() - 40;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    Vector::write(
        &dir,
        "backup-tampered-items.txt",
        &creds(
            "open failure",
            "one base64 digit of the sealed items changed",
        ),
        &tampered,
    );
    let mut wrong = creds("wrong credentials", "the Account Password is wrong");
    wrong[2].1 = "not the password".to_owned();
    Vector::write(&dir, "backup-wrong-password.txt", &wrong, &good);
    Vector::write(
        &dir,
        "backup-truncated.txt",
        &creds("corrupt", "cut in the middle of the JSON"),
        &good[..good.len() / 2],
    );
    let mut newer = b"COFFER-BACKUP 2\n".to_vec();
    newer.extend_from_slice(&good[b"COFFER-BACKUP 1\n".len()..]);
    Vector::write(
        &dir,
        "backup-unknown-version.txt",
        &creds("newer format", "a backup format this library does not read"),
        &newer,
    );
    Vector::write(
        &dir,
        "backup-not-this-format.txt",
        &creds("not a backup", "a sync file is not a backup"),
        b"COFFER-SYNC 2\n{}\n",
    );

    let ak_key = AccountKey::parse(&ak).expect("key");
    let account_id = header.account_id;
    let ctx = DeviceKeyContext {
        account_id,
        epoch: 1,
        device_id: "a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1",
    };
    let stretched = SecretKey::from_bytes([0x5a; 32]);
    let pw_box = ctx.seal(Slot::Password, &stretched, &ak_key);
    let vk_box = ctx.seal(Slot::VaultKey, &key, &ak_key);
    let dk = |description: &str, expect: &str, slot: &str, k: &SecretKey, sealed: &[u8]| {
        vec![
            ("description", description.to_owned()),
            ("expect", expect.to_owned()),
            ("account_id", account_id.to_string()),
            ("epoch", "1".to_owned()),
            ("device_id", ctx.device_id.to_owned()),
            ("slot", slot.to_owned()),
            ("key", hex(k.expose())),
            ("sealed", hex(sealed)),
            ("account_key", ak.clone()),
        ]
    };
    let write = |name: &str, h: Vec<(&str, String)>| Vector::write(&dir, name, &h, b"");
    write(
        "device-key-success-pw.txt",
        dk(
            "sealed under the stretched password",
            "success",
            "pw",
            &stretched,
            &pw_box,
        ),
    );
    write(
        "device-key-success-vk.txt",
        dk("sealed under the vault key", "success", "vk", &key, &vk_box),
    );
    write(
        "device-key-wrong-slot.txt",
        dk(
            "a password box read as a vault-key box",
            "open failure",
            "vk",
            &stretched,
            &pw_box,
        ),
    );
    let mut moved = dk(
        "a box read on another device",
        "open failure",
        "pw",
        &stretched,
        &pw_box,
    );
    moved[4].1 = "b2b2b2b2-b2b2-b2b2-b2b2-b2b2b2b2b2b2".to_owned();
    write("device-key-moved-device.txt", moved);
    let mut flipped = pw_box.clone();
    flipped[30] ^= 1;
    write(
        "device-key-tampered.txt",
        dk(
            "one bit of the box flipped",
            "open failure",
            "pw",
            &stretched,
            &flipped,
        ),
    );

    let id = "0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90";
    let names: Vec<String> = [
        "account.json",
        "account.sync-conflict-20240131-235959-ABCDEFG.json",
        "account (ann's conflicted copy 2024-01-31).json",
        "account (conflicted copy 2024-01-31 235959).json",
        "account 2.json",
        "account (1).json",
        "account-DESKTOP-1.json",
        "account.json (1)",
        "account.jsonx",
        "account2.json",
        "accounts",
        "account.json.tmp",
        "account.json.part",
        ".account.json.1234-0.tmp",
        ".syncthing.account.json.tmp",
        "~syncthing~account.json.tmp",
        ".account.json.icloud",
        ".dropbox.cache",
        ".DS_Store",
        "desktop.ini",
        "Thumbs.db",
        "notes.txt",
    ]
    .iter()
    .map(|n| (*n).to_owned())
    .chain(
        [
            "device-ID.cofsync",
            "device-ID.sync-conflict-20240131-235959-ABCDEFG.cofsync",
            "device-ID (ann's conflicted copy 2024-01-31).cofsync",
            "device-ID (Ann's conflicted copy).cofsync",
            "device-ID (Konflikt-Kopie von ann 2024-01-31).cofsync",
            "device-ID (conflicted copy 2024-01-31 235959).cofsync",
            "device-ID 2.cofsync",
            "device-ID (1).cofsync",
            "device-ID-DESKTOP-1.cofsync",
            "device-ID.cofsync-DESKTOP-1",
            "device-ID.cofsync (conflicted copy)",
            "device-ID.cofsyncx",
            "device-ID.cofsync.bak",
            "device-ID.cofsync.partial",
            "device-ID.cofsync.!sync",
            "device-ID (1).cofsync.part",
            ".device-ID.cofsync.99-3.tmp",
            ".syncthing.device-ID.cofsync.tmp",
            "device-ID.json",
            "device-ID",
            "device-.cofsync",
            "device-0F8E4C2A-9B1D-4E7F-A3C5-6D2B8E1F4A90.cofsync",
            "delta-ID.5.0123456789abcdef.cofsync",
            "delta-ID.12345.fedcba9876543210.cofsync",
            "delta-ID.5.0123456789abcdef.sync-conflict-20240131-235959-ABCDEFG.cofsync",
            "delta-ID.5.0123456789abcdef (ann's conflicted copy 2024-01-31).cofsync",
            "delta-ID.5.0123456789abcdef (conflicted copy 2024-01-31 235959).cofsync",
            "delta-ID.5.0123456789abcdef 2.cofsync",
            "delta-ID.5.0123456789abcdef (1).cofsync",
            "delta-ID.5.0123456789abcdef-DESKTOP-1.cofsync",
            "delta-ID.5.0123456789abcdef-1.cofsync",
            "delta-ID.5.0123456789abcdef.cofsync-DESKTOP-1",
            "delta-ID.5.0123456789abcdef.cofsync.bak",
            "delta-ID.5.0123456789abcdef.cofsync.partial",
            ".delta-ID.5.0123456789abcdef.cofsync.icloud",
            ".delta-ID.5.0123456789abcdef.cofsync.99-3.tmp",
            "delta-ID.0.0123456789abcdef.cofsync",
            "delta-ID.05.0123456789abcdef.cofsync",
            "delta-ID.5.0123456789ABCDEF.cofsync",
            "delta-ID.5.0123456789abcde.cofsync",
            "delta-ID.cofsync",
            "delta-0F8E4C2A-9B1D-4E7F-A3C5-6D2B8E1F4A90.5.0123456789abcdef.cofsync",
        ]
        .iter()
        .map(|n| n.replace("ID", id)),
    )
    .collect();
    let mut out = String::from(
        "# Names in an account's sync folder and what coffer takes each for (see interop_vectors.rs).\n",
    );
    for n in names {
        out.push_str(&format!("{n}\t{}\n", describe(&classify(&n))));
    }
    std::fs::write(dir.join("names.txt"), out).expect("write names.txt");
}
