//! Device files that grow by the change (issue 15), black-box: real
//! `cofferd` and `coffer` processes. A change costs the sync folder about
//! what it changed and the files per device stay few; a device that does not
//! publish its own changes (the other one) writes nothing for them; files of
//! a device still on format version 2 are read, and an upgraded device
//! replaces its own version-2 file without losing anything; this device's
//! own files that vanish, are cut short or replaced by an old copy are
//! written again.

use std::time::Duration;

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::items::item;
use coffer_blackbox::names::{device_file_name, files_of, newest_delta};
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{text, Device};
use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::error::FormatError;
use coffer_vault::format::{Container, SyncFile};
use coffer_vault::ids::DeviceId;
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::Value;

const PW: &str = "segment horse battery";
const ACCOUNT: Account = Account::new("segments@example.org", PW);
/// Files per device that compaction keeps to (a snapshot, at most
/// `FAN_IN - 1` segments per level, the ones superseded last).
const FEW: usize = 18;

/// `folder`'s entry in `sync list --json`.
fn folder_info(d: &Device) -> Value {
    d.json(&["sync", "list", "--json"])[0].clone()
}

fn written(d: &Device) -> u64 {
    folder_info(d)["written_bytes"]
        .as_u64()
        .expect("written_bytes")
}

fn device_id(d: &Device) -> String {
    text(&d.status()["device_id"])
}

/// The vault key, from the folder's header and the account's secrets.
fn vault_key(f: &Fleet<2>) -> SecretKey {
    let header = AccountHeader::from_json(
        &std::fs::read(f.account_dir(0).join("account.json")).expect("account.json"),
    )
    .expect("the header parses");
    let ak = AccountKey::parse(&f.account_key).expect("the Account Key");
    header
        .unlock(&SecretString::from(PW), &ak)
        .expect("the account's secrets open it")
}

#[test]
fn edits_cost_the_folder_about_the_change_and_files_stay_few() {
    let f = Fleet::shared(["a", "b"], ACCOUNT);
    let [a, b] = &f.devices;
    for i in 0..20 {
        a.ok(&["add", &format!("item {i}"), "--password", "p"]);
    }
    a.ok(&["sync", "now"]);
    wait_for("the items on b", Duration::from_secs(10), || {
        item(b, "item 19")
    });
    b.ok(&["sync", "now"]);
    let (a0, b0) = (written(a), written(b));
    let edits = 120;
    for i in 0..edits {
        // One item edited again and again, then edits spread over all.
        let title = if i < edits / 2 {
            "item 0".to_owned()
        } else {
            format!("item {}", i % 20)
        };
        a.ok(&["edit", &title, "--password", &format!("pw{i}")]);
        a.ok(&["sync", "now"]);
        let files = files_of(&f.account_dir(0), &device_id(a)).len();
        assert!(files <= FEW, "after edit {i}: {files} files of a");
    }
    let per_edit = (written(a) - a0) / edits;
    eprintln!("a wrote {per_edit} bytes per edit into the folder");
    assert!(
        per_edit <= 4096,
        "a wrote {per_edit} bytes per one-item edit"
    );
    assert_eq!(
        folder_info(a)["own_files"].as_u64().unwrap() as usize,
        files_of(&f.account_dir(0), &device_id(a)).len()
    );
    // b merged every edit from the folder a wrote them to: nothing to write back.
    let last = format!("pw{}", edits - 1);
    wait_for("a's last edit on b", Duration::from_secs(10), || {
        item(b, &format!("item {}", (edits - 1) % 20)).filter(|v| v["password"] == last)
    });
    b.ok(&["sync", "now"]);
    assert_eq!(written(b), b0, "b echoed a's changes into the folder");
}

#[test]
fn an_old_device_file_is_read_and_an_upgraded_device_moves_its_folder_forward() {
    let f = Fleet::shared(["a", "b"], ACCOUNT);
    let [a, b] = &f.devices;
    let dir = f.account_dir(0);
    let key = vault_key(&f);
    let account_id: uuid::Uuid = f.account_id.parse().unwrap();
    // A device still running the previous coffer: its whole state, version 2.
    let mut old = Replica::new(account_id, 1, DeviceId::new_random(), "old phone".into());
    old.add(
        &key,
        vec![
            ("title".into(), SecretString::from("From the old phone")),
            ("password".into(), SecretString::from("v2")),
        ],
        1_750_000_000_000,
    )
    .unwrap();
    let old_name = device_file_name(&old.device_id().to_string());
    std::fs::write(dir.join(&old_name), old.sync_file_bytes()).unwrap();
    for d in [a, b] {
        wait_for("the old device's item", Duration::from_secs(10), || {
            item(d, "From the old phone").filter(|v| v["password"] == "v2")
        });
    }
    // Nobody rewrites the old device's file.
    assert_eq!(
        std::fs::read(dir.join(&old_name)).unwrap(),
        old.sync_file_bytes()
    );

    // a as it was before upgrading: its whole state in a version-2 file,
    // no segments. Started again, it writes its snapshot in that file's
    // place and loses nothing.
    a.ok(&["add", "Before the upgrade", "--password", "b4"]);
    a.ok(&["sync", "now"]);
    let a_id = device_id(a);
    a.stop_daemon();
    let (_, a_replica) = Container::from_bytes(&std::fs::read(a.container()).unwrap())
        .unwrap()
        .into_replica();
    for n in files_of(&dir, &a_id) {
        std::fs::remove_file(dir.join(n)).unwrap();
    }
    let a_file = dir.join(device_file_name(&a_id));
    std::fs::write(&a_file, a_replica.sync_file_bytes()).unwrap();
    assert!(SyncFile::from_bytes(&std::fs::read(&a_file).unwrap()).is_ok());
    a.ok(&["sync", "now"]);
    let now = std::fs::read(&a_file).unwrap();
    assert!(
        now.starts_with(b"COFFER-SYNC 3\n"),
        "a's file is still version 2"
    );
    // What a device on the previous coffer sees in it: a version it does
    // not know, "update coffer" (its `sync list` reports it), never damage.
    match SyncFile::from_bytes(&now) {
        Err(e @ FormatError::UnknownVersion { version: 3, .. }) => {
            assert!(e.to_string().contains("update coffer"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A new device reads only the folder: everything is there.
    let c = Device::with_sync_folder("c", f.folder());
    c.login_ok(ACCOUNT.email, PW, &f.account_key, f.folder());
    for t in ["Before the upgrade", "From the old phone"] {
        wait_for(t, Duration::from_secs(10), || item(&c, t));
    }
}

#[test]
fn own_files_that_vanish_or_are_replaced_are_written_again() {
    let f = Fleet::shared(["a", "b"], ACCOUNT);
    let [a, b] = &f.devices;
    let dir = f.account_dir(0);
    let a_id = device_id(a);
    a.ok(&["add", "One", "--password", "1"]);
    wait_for("One on b", Duration::from_secs(10), || item(b, "One"));
    // b is off while a's newest segment vanishes from the folder.
    b.stop_daemon();
    a.ok(&["edit", "One", "--password", "2"]);
    a.ok(&["sync", "now"]);
    let seg = newest_delta(&dir, &a_id).expect("a's segment");
    std::fs::remove_file(dir.join(&seg)).unwrap();
    a.ok(&["sync", "now"]);
    assert_ne!(newest_delta(&dir, &a_id).as_deref(), Some(seg.as_str()));
    // b comes back (locked when the key cache is memory only) and unlocks.
    if b.status()["state"] == "locked" {
        b.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    }
    let got = coffer_blackbox::wait::wait_until(
        "the edit on b",
        Duration::from_secs(10),
        || item(b, "One").filter(|v| v["password"] == "2"),
        || {
            format!(
                "{:#}\n{:?}\n{}",
                b.status(),
                coffer_blackbox::folder::names(&dir),
                b.log()
            )
        },
    );
    assert_eq!(got["password"], "2");

    // a's snapshot cut short (a half-delivered old copy): written again.
    let snap = dir.join(device_file_name(&a_id));
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
    a.ok(&["sync", "now"]);
    let again = std::fs::read(&snap).unwrap();
    assert!(
        coffer_vault::segment::read_sync_file(&again).is_ok(),
        "a's snapshot was not written again"
    );
    let c = Device::with_sync_folder("c", f.folder());
    c.login_ok(ACCOUNT.email, PW, &f.account_key, f.folder());
    let got = wait_for("One on a new device", Duration::from_secs(10), || {
        item(&c, "One")
    });
    assert_eq!(got["password"], "2");
}
