//! The vault's trash through the real binaries (issue 17): `rm` moves an
//! item there (sealed, with its content), `trash list | restore | empty`;
//! trashed items sync and are absent from list, search and get; emptying
//! purges their content on every device. Delete-vs-edit: the concurrent
//! edit wins and the deleting device's last values are in its history.

use std::time::Duration;

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::items::{field, history_values, item, titles};
use coffer_blackbox::replicator::Replicator;
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{stderr, Device};
use serde_json::Value;

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "trash@example.org";

fn trash_titles(dev: &Device) -> Vec<String> {
    let j: Value = dev.json(&["trash", "list", "--json"]);
    j.as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rm_restore_and_empty() {
    let dev = Device::new("trash");
    dev.signup(EMAIL, PW);
    let id = dev
        .ok(&[
            "add",
            "Forum",
            "--username",
            "ann",
            "--password",
            "f-pw",
            "--field",
            "pin=77",
        ])
        .trim()
        .to_owned();
    dev.ok(&["add", "Keep", "--password", "k"]);
    let out = dev.coffer(&["rm", "Forum"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("trash"));

    // Gone from list, search and get; get says where it is.
    assert_eq!(titles(&dev), ["Keep"]);
    assert!(dev.ok(&["search", "forum"]).trim().is_empty());
    let out = dev.coffer(&["get", "Forum"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("in the trash") && stderr(&out).contains("coffer trash restore"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dev.code(&["get", &id]), 4);
    assert_eq!(dev.code(&["rm", "Forum"]), 4);
    assert_eq!(dev.status()["items"], 1);

    // Listed with when it was trashed.
    let list = dev.json(&["trash", "list", "--json"]);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["username"], "ann");
    assert!(list[0]["trashed_ms"].as_u64().unwrap() > 0);
    assert!(dev.ok(&["trash", "list"]).contains("Forum"));

    // Restored whole.
    dev.ok(&["trash", "restore", "forum"]);
    let back = item(&dev, "Forum").expect("restored");
    assert_eq!(field(&back, "password"), "f-pw");
    assert_eq!(back["fields"][0]["value"], "77");
    assert!(trash_titles(&dev).is_empty());
    assert_eq!(dev.code(&["trash", "restore", "Forum"]), 4);

    // Emptying: an age keeps what is newer; without a terminal it needs --yes.
    dev.ok(&["rm", &id]);
    let out = dev.coffer(&["trash", "empty"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    let j = dev.json(&["trash", "empty", "--older-than", "30d", "--yes", "--json"]);
    assert_eq!(
        (j["purged"].as_u64(), j["kept"].as_u64()),
        (Some(0), Some(1)),
        "{j}"
    );
    assert_eq!(trash_titles(&dev), ["Forum"]);
    assert_eq!(
        dev.code(&["trash", "empty", "--older-than", "30", "--yes"]),
        2
    );
    let j = dev.json(&["trash", "empty", "--yes", "--json"]);
    assert_eq!(j["purged"], 1);
    assert!(trash_titles(&dev).is_empty());
    let out = dev.coffer(&["get", "Forum"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(!stderr(&out).contains("in the trash"), "{}", stderr(&out));
    assert_eq!(dev.code(&["trash", "restore", &id]), 4);
    // One item by name.
    dev.ok(&["rm", "Keep"]);
    dev.ok(&["trash", "empty", "--item", "Keep", "--yes"]);
    assert!(trash_titles(&dev).is_empty());
    // Survives a restart: the trash is in the container.
    dev.ok(&["add", "Later", "--password", "l"]);
    dev.ok(&["rm", "Later"]);
    dev.stop_daemon();
    dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    assert_eq!(trash_titles(&dev), ["Later"]);
}

#[test]
fn the_trash_syncs_and_a_purge_reaches_every_device() {
    let f = Fleet::shared(["a", "b"], Account::new(EMAIL, PW));
    let [a, b] = &f.devices;
    a.ok(&["add", "Shared", "--password", "s-pw"]);
    wait_for("the item on b", Duration::from_secs(10), || {
        item(b, "Shared")
    });
    a.ok(&["rm", "Shared"]);
    wait_for("the item in b's trash", Duration::from_secs(10), || {
        b.ok(&["sync", "now"]);
        (trash_titles(b) == ["Shared"]).then_some(())
    });
    assert!(!titles(b).contains(&"Shared".to_owned()));
    // b restores; a sees it back.
    b.ok(&["trash", "restore", "Shared"]);
    wait_for("the restored item on a", Duration::from_secs(10), || {
        a.ok(&["sync", "now"]);
        item(a, "Shared")
    });
    assert_eq!(a.ok(&["get", "Shared"]).trim(), "s-pw");
    // a trashes it again and purges it; b's trash empties too.
    a.ok(&["rm", "Shared"]);
    a.ok(&["trash", "empty", "--yes"]);
    wait_for("the purge on b", Duration::from_secs(10), || {
        b.ok(&["sync", "now"]);
        (trash_titles(b).is_empty() && item(b, "Shared").is_none()).then_some(())
    });
}

/// `sync now` everywhere and replicator rounds until quiet.
fn settle(devices: &[Device], rep: &mut Replicator) {
    for _ in 0..3 {
        for d in devices {
            d.ok(&["sync", "now"]);
        }
        rep.sync_all();
    }
    for d in devices {
        d.ok(&["sync", "now"]);
    }
}

#[test]
fn a_concurrent_edit_wins_and_the_deleted_values_go_to_its_history() {
    let (f, mut rep) = Fleet::replicated(["d0", "d1"], Account::new(EMAIL, PW), 11);
    let devs = &f.devices;
    devs[0].ok(&["add", "Bank", "--username", "ann", "--password", "b0"]);
    settle(devs, &mut rep);
    // d0 edits then deletes; d1, not having seen either, edits another field.
    devs[0].ok(&[
        "edit",
        "Bank",
        "--username",
        "deleter's last",
        "--field",
        "pin=1234",
    ]);
    devs[0].ok(&["rm", "Bank"]);
    devs[1].ok(&["edit", "Bank", "--password", "b1"]);
    settle(devs, &mut rep);
    for d in devs {
        let v = item(d, "Bank").unwrap_or_else(|| panic!("{}: the edit was lost", d.name()));
        assert_eq!(field(&v, "password"), "b1", "{}", d.name());
        assert_eq!(field(&v, "username"), "ann", "{}", d.name());
        let users = history_values(d, "Bank", "username");
        assert!(
            users.contains(&"deleter's last".to_owned()),
            "{}: {users:?}",
            d.name()
        );
        let pins = history_values(d, "Bank", "pin");
        assert!(pins.contains(&"1234".to_owned()), "{}: {pins:?}", d.name());
        assert!(trash_titles(d).is_empty(), "{}", d.name());
    }
    let reported = devs.iter().any(|d| {
        d.status()["conflicts"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["kind"] == "delete-vs-edit"))
    });
    assert!(reported, "no device reported the delete-vs-edit conflict");
}
