//! Sync between devices through folders (issue 4), black-box: real
//! `cofferd` and `coffer` processes, one HOME per device, each device with
//! its own folder and the test replicator playing the sync engine between
//! them (delays, partitions, last-writer-wins, conflict copies of every
//! engine, vanishing and half-written files). In every scenario all devices
//! converge and no acknowledged edit is lost.

use std::time::{Duration, Instant};

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::folder::files_under;
use coffer_blackbox::items::{field, history_values, item, sorted_titles};
use coffer_blackbox::names::conflict_copies;
use coffer_blackbox::replicator::{Engine, Order, Replicator};
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{shared_folder, text, Device};
use serde_json::Value;

const PW: &str = "correct horse";
const EMAIL: &str = "sync@example.org";
const ACCOUNT: Account = Account::new(EMAIL, PW);
/// The replicator's seed in these scenarios.
const SEED: u64 = 7;

/// `sync now` on every device, then one replicator round, a few times, so
/// that every published change reaches every folder and is merged.
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

/// Devices a and b signed in to one account on one shared folder.
fn signed_in_pair() -> Fleet<2> {
    Fleet::shared(["a", "b"], ACCOUNT)
}

#[test]
fn shared_folder_propagates_within_a_fraction_of_a_second() {
    let f = signed_in_pair();
    let [a, b] = &f.devices;
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let title = format!("item {i}");
        a.ok(&["add", &title, "--password", &format!("pw{i}")]);
        let t = Instant::now();
        let got = wait_for("the item on device b", Duration::from_secs(5), || {
            item(b, &title)
        });
        worst = worst.max(t.elapsed());
        assert_eq!(got["password"], format!("pw{i}"));
    }
    eprintln!("slowest propagation a -> b: {worst:?}");
    // And back: an edit on b reaches a.
    b.ok(&["edit", "item 0", "--username", "bob"]);
    wait_for("b's edit on a", Duration::from_secs(5), || {
        item(a, "item 0").filter(|v| v["username"] == "bob")
    });
    // Each device's files name it (each is written only by its device): one
    // snapshot and a few delta segments per device, and nothing else.
    let dir = f.account_dir(0);
    let names: Vec<String> = coffer_blackbox::folder::names(&dir).into_iter().collect();
    let ids = [
        text(&a.status()["device_id"]),
        text(&b.status()["device_id"]),
    ];
    for id in &ids {
        let files = coffer_blackbox::names::files_of(&dir, id);
        assert_eq!(
            files.iter().filter(|n| n.starts_with("device-")).count(),
            1,
            "{files:?}"
        );
        assert!(files.len() <= 10, "{files:?}");
    }
    // Besides them, the header and (issue 16) each device's unlock key.
    let ids: std::collections::BTreeSet<String> = ids.into_iter().collect();
    assert!(coffer_blackbox::names::holds_only(&dir, &ids), "{names:?}");
}

/// The account folder inside the sync folder is deleted and made again
/// (a user restoring it from a backup, an engine re-creating it): both
/// daemons watch the new folder, put their files back, and keep syncing.
#[test]
fn an_account_folder_deleted_and_made_again_is_watched_again() {
    let f = signed_in_pair();
    let [a, b] = &f.devices;
    let dir = f.account_dir(0);
    a.ok(&["add", "Before", "--password", "1"]);
    wait_for("Before on b", Duration::from_secs(5), || item(b, "Before"));

    // Gone and back at once: the new folder has a new inode.
    let saved = f.folder().join("saved");
    std::fs::rename(&dir, &saved).unwrap();
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(&saved).unwrap().flatten() {
        std::fs::rename(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::remove_dir(&saved).unwrap();

    a.ok(&["add", "After", "--password", "2"]);
    wait_for("After on b", Duration::from_secs(5), || item(b, "After"));
    b.ok(&["edit", "After", "--username", "bob"]);
    wait_for("b's edit on a", Duration::from_secs(5), || {
        item(a, "After").filter(|v| v["username"] == "bob")
    });
}

#[test]
fn concurrent_edits_of_different_and_same_fields_converge() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1", "dev2"], ACCOUNT, SEED);
    let devs = &f.devices;
    let mail = [("username", "u0"), ("password", "p0"), ("pin", "0000")];
    coffer_blackbox::items::add(&devs[0], "Mail", &mail);
    settle(devs, &mut rep);
    // Partition: each device edits offline.
    devs[0].ok(&["edit", "Mail", "--username", "from-a"]);
    devs[1].ok(&["edit", "Mail", "--password", "from-b"]);
    devs[2].ok(&["edit", "Mail", "--field", "pin=2222"]);
    settle(devs, &mut rep);
    let views: Vec<Value> = devs
        .iter()
        .map(|d| item(d, "Mail").expect("Mail exists"))
        .collect();
    for v in &views {
        assert_eq!(field(v, "username"), "from-a");
        assert_eq!(field(v, "password"), "from-b");
        assert_eq!(field(v, "pin"), "2222");
    }
    // The same field on two devices: one winner everywhere, the loser in history.
    devs[0].ok(&["edit", "Mail", "--password", "same-a"]);
    devs[1].ok(&["edit", "Mail", "--password", "same-b"]);
    settle(devs, &mut rep);
    let winners: Vec<String> = devs
        .iter()
        .map(|d| field(&item(d, "Mail").unwrap(), "password"))
        .collect();
    assert!(winners.iter().all(|w| *w == winners[0]), "{winners:?}");
    let loser = if winners[0] == "same-a" {
        "same-b"
    } else {
        "same-a"
    };
    assert!(winners[0] == "same-a" || winners[0] == "same-b");
    for d in devs {
        let h = history_values(d, "Mail", "password");
        assert!(
            h.contains(&loser.to_owned()),
            "{} lacks {loser} in history: {h:?}",
            d.name()
        );
    }
}

#[test]
fn delete_versus_edit_keeps_the_edit_everywhere_and_reports_it() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1"], ACCOUNT, SEED);
    let devs = &f.devices;
    devs[0].ok(&["add", "Bank", "--password", "b0"]);
    settle(devs, &mut rep);
    devs[0].ok(&["rm", "Bank"]);
    devs[1].ok(&["edit", "Bank", "--password", "b1"]);
    settle(devs, &mut rep);
    for d in devs {
        let v = item(d, "Bank").unwrap_or_else(|| panic!("{}: the edited item was lost", d.name()));
        assert_eq!(v["password"], "b1");
    }
    let reported = devs.iter().any(|d| {
        d.status()["conflicts"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["kind"] == "delete-vs-edit"))
    });
    assert!(reported, "no device reported the delete-vs-edit conflict");
}

/// Each engine's conflict copy is merged at once and removed once it has sat still for a while
/// (an engine may still be at work on a copy it just made: issue 20). The engines run side by
/// side, one fleet each, so that their waits overlap.
#[test]
fn conflict_copies_of_every_engine_are_merged_and_removed() {
    std::thread::scope(|scope| {
        for engine in Engine::ALL {
            scope.spawn(move || conflict_copy_of(engine));
        }
    });
}

fn conflict_copy_of(engine: Engine) {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1"], ACCOUNT, SEED);
    let [a, b] = &f.devices;
    a.ok(&["add", "Copy", "--password", "c0"]);
    a.ok(&["sync", "now"]);
    // b's folder gets a's new segment (and a's snapshot) only as
    // conflict copies: an engine may make one of any file.
    let a_id = text(&a.status()["device_id"]);
    let acct = &f.account_id;
    let delta =
        coffer_blackbox::names::newest_delta(&f.account_dir(0), &a_id).expect("a's segment");
    let snapshot = coffer_blackbox::names::device_file_name(&a_id);
    let mut stats = coffer_blackbox::replicator::Stats::default();
    for rel in [delta, snapshot] {
        let s = rep
            .conflict_copy_of(0, 1, format!("{acct}/{rel}"), engine)
            .unwrap();
        stats.conflicts += s.conflicts;
    }
    assert!(
        stats.conflicts > 0,
        "{engine:?}: the replicator made no conflict copy"
    );
    let dir = f.account_dir(1);
    assert!(
        !conflict_copies(&dir).is_empty(),
        "{engine:?}: no conflict copy in b's folder"
    );
    let got = wait_for(
        "the item from the conflict copy",
        Duration::from_secs(5),
        || item(b, "Copy"),
    );
    assert_eq!(got["password"], "c0");
    wait_for(
        "the merged conflict copy to be removed",
        Duration::from_secs(30),
        || conflict_copies(&dir).is_empty().then_some(()),
    );
}

#[test]
fn bad_files_are_reported_retried_and_never_lose_data() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1"], ACCOUNT, SEED);
    let acct = &f.account_id;
    let [a, b] = &f.devices;
    a.ok(&["add", "Keep", "--password", "k0"]);
    settle(&f.devices, &mut rep);
    // A half-written delivery of a's new file (the segment with the new
    // item): reported, nothing lost.
    a.ok(&["add", "Later", "--password", "l0"]);
    a.ok(&["sync", "now"]);
    let a_file =
        coffer_blackbox::names::newest_delta(&f.account_dir(0), &text(&a.status()["device_id"]))
            .expect("a's newest segment");
    let rel = format!("{acct}/{a_file}");
    let half = rep
        .deliver_half_written(0, 1, &rel)
        .expect("half-written delivery");
    let problem = wait_for(
        "the truncated file to be reported",
        Duration::from_secs(5),
        || {
            let s = b.json(&["sync", "list", "--json"]);
            let p = s[0]["problems"].as_array().cloned().unwrap_or_default();
            p.iter()
                .find(|x| x["path"].as_str().is_some_and(|p| p.ends_with(&a_file)))
                .cloned()
        },
    );
    assert!(
        problem["reason"].as_str().unwrap().contains("retry"),
        "{problem}"
    );
    assert_eq!(
        item(b, "Keep").expect("Keep survives a truncated file")["password"],
        "k0"
    );
    half.complete().unwrap();
    wait_for(
        "the completed file to be merged",
        Duration::from_secs(10),
        || item(b, "Later"),
    );
    wait_for("the problem to clear", Duration::from_secs(10), || {
        let s = b.json(&["sync", "list", "--json"]);
        s[0]["problems"]
            .as_array()
            .is_some_and(|p| p.is_empty())
            .then_some(())
    });
    // A file that vanishes for a moment is not a deletion.
    let v = rep.vanish_for(1, &rel, Duration::from_millis(400)).unwrap();
    b.ok(&["sync", "now"]);
    assert!(item(b, "Keep").is_some() && item(b, "Later").is_some());
    v.wait().unwrap();
    // A corrupt file and a file from another epoch are reported and left in place.
    let bogus = f
        .account_dir(1)
        .join("device-00000000-0000-4000-8000-000000000001.cofsync");
    std::fs::write(&bogus, b"COFFER-SYNC 1\n{not json").unwrap();
    b.ok(&["sync", "now"]);
    let s = b.status();
    let text = s["sync_folders"].to_string();
    assert!(text.contains("000000000001.cofsync"), "{text}");
    assert!(bogus.exists(), "a bad file must be left in place");
    assert!(item(b, "Keep").is_some());
}

#[test]
fn a_locked_device_keeps_merging_and_resolves_at_unlock() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1", "dev2"], ACCOUNT, SEED);
    let devs = &f.devices;
    devs[0].ok(&["add", "Shared", "--username", "u", "--password", "p"]);
    settle(devs, &mut rep);
    devs[1].ok(&["lock"]);
    // Two devices edit different fields concurrently; the locked one merges both.
    devs[0].ok(&["edit", "Shared", "--username", "u-a"]);
    devs[2].ok(&["edit", "Shared", "--password", "p-c"]);
    devs[0].ok(&["add", "New", "--password", "n"]);
    settle(devs, &mut rep);
    assert_eq!(
        devs[1].code(&["get", "Shared"]),
        3,
        "locked devices do not answer get"
    );
    // The others vanish: b's own container must already hold their changes.
    devs[0].stop_daemon();
    devs[2].stop_daemon();
    for folder in &f.folders {
        for e in files_under(folder) {
            let name = e.file_name().unwrap().to_string_lossy().into_owned();
            let own = text(&devs[1].status()["device_id"]);
            if name.ends_with(".cofsync") && !name.contains(&own) {
                std::fs::remove_file(&e).unwrap();
            }
        }
    }
    devs[1].with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    let v = item(&devs[1], "Shared").expect("Shared");
    assert_eq!(
        (field(&v, "username"), field(&v, "password")),
        ("u-a".into(), "p-c".into())
    );
    assert!(item(&devs[1], "New").is_some());
}

#[test]
fn partitions_reordering_and_silent_overwrites_converge() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1", "dev2"], ACCOUNT, SEED);
    for round in 0..4 {
        for (i, d) in f.devices.iter().enumerate() {
            d.ok(&[
                "add",
                &format!("r{round}-d{i}"),
                "--password",
                &format!("{round}{i}"),
            ]);
            d.ok(&["sync", "now"]);
        }
        match round {
            0 => {
                rep.sync_pair(0, 1);
            }
            1 => {
                rep.overwrite_silently(2, 0);
                rep.sync_all_shuffled();
            }
            2 => {
                // A replay of an old copy of a's folder into c's.
                rep.enqueue_all();
                rep.deliver_queued(Order::Lifo);
            }
            _ => {
                rep.sync_all();
            }
        }
    }
    settle(&f.devices, &mut rep);
    let lists: Vec<Vec<String>> = f.devices.iter().map(sorted_titles).collect();
    assert_eq!(lists[0].len(), 12, "{:?}", lists[0]);
    assert!(lists.iter().all(|l| *l == lists[0]), "{lists:?}");
}

#[test]
fn sync_folder_management() {
    let one = shared_folder();
    let two = shared_folder();
    let a = Device::with_sync_folder("a", one.path());
    a.signup(EMAIL, PW);
    a.ok(&["add", "X", "--password", "x"]);
    a.ok(&["sync", "add", &two.path().to_string_lossy()]);
    let list = a.json(&["sync", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // Two folders merged together: a device on the second folder sees everything.
    let key = text(&a.json(&["kit", "--json"])["account_key"]);
    let b = Device::with_sync_folder("b", two.path());
    b.login_ok(EMAIL, PW, &key, two.path());
    assert_eq!(item(&b, "X").unwrap()["password"], "x");
    assert_ne!(
        a.code(&["sync", "add", &two.path().to_string_lossy()]),
        0,
        "adding twice is an error"
    );
    a.ok(&["sync", "remove", &two.path().to_string_lossy()]);
    assert_eq!(
        a.json(&["sync", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_ne!(a.code(&["sync", "add", "/nonexistent/folder"]), 0);
}

/// rclone bisync 1.60's way with a file changed on both sides (issue 20): both versions renamed
/// away (`NAME..path1`, `NAME..path2`) in both folders, no `NAME` left. Here a device file: the
/// devices merge the copies, the owner writes its file again, and then nothing is left behind.
#[test]
fn rclone_conflict_of_a_device_file_leaves_nothing_behind() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1"], ACCOUNT, SEED);
    let a = &f.devices[0];
    a.ok(&["add", "Before", "--password", "b0"]);
    settle(&f.devices, &mut rep);
    let a_file = coffer_blackbox::names::device_file_name(&text(&a.status()["device_id"]));
    let a_rel = format!("{}/{a_file}", f.account_id);
    let a_before = std::fs::read(rep.path(1, &a_rel)).expect("a's file in b's folder");
    // a publishes a new version of its file while b's folder gets an old one back.
    // A bulk change: a's snapshot (its device file) is rewritten.
    let notes = coffer_blackbox::items::bulk_notes();
    a.ok(&["add", "During", "--password", "d0", "--notes", &notes]);
    a.ok(&["sync", "now"]);
    rep.replay_old(1, &a_rel, &a_before)
        .expect("an old version");
    let stats = rep.rclone_conflict(&a_rel, 0, 1);
    assert_eq!(stats.conflicts, 4, "{stats:?}");
    wait_clean_after_rclone_conflict(&f, &mut rep);
}

/// The same for `account.json`, rewritten differently on each side: one device puts it back,
/// the copies go, nothing is left behind.
#[test]
fn rclone_conflict_of_account_json_leaves_nothing_behind() {
    let (f, mut rep) = Fleet::replicated(["dev0", "dev1"], ACCOUNT, SEED);
    f.devices[0].ok(&["add", "Before", "--password", "b0"]);
    settle(&f.devices, &mut rep);
    let header_rel = format!("{}/account.json", f.account_id);
    let header = std::fs::read(rep.path(0, &header_rel)).expect("header");
    let compact: Value = serde_json::from_slice(&header).expect("JSON");
    coffer_blackbox::folder::put(&rep.path(1, &header_rel), compact.to_string().as_bytes());
    coffer_blackbox::folder::put(&rep.path(0, &header_rel), &[&header[..], b"\n"].concat());
    let stats = rep.rclone_conflict(&header_rel, 0, 1);
    assert_eq!(stats.conflicts, 4, "{stats:?}");
    wait_clean_after_rclone_conflict(&f, &mut rep);
    assert_eq!(
        std::fs::read(rep.path(0, &header_rel)).expect("back"),
        header,
        "the header as coffer writes it"
    );
}

/// Runs the devices and the replicator until both folders hold the header (the same) and the
/// two device files only, then checks both devices' items and health.
fn wait_clean_after_rclone_conflict(f: &Fleet<2>, rep: &mut Replicator) {
    let dirs = [f.account_dir(0), f.account_dir(1)];
    let ids: std::collections::BTreeSet<String> = f
        .devices
        .iter()
        .map(|d| text(&d.status()["device_id"]))
        .collect();
    wait_for(
        "both folders hold the header and the two device files only",
        Duration::from_secs(30),
        || {
            rep.sync_all();
            for d in &f.devices {
                d.ok(&["sync", "now"]);
            }
            coffer_blackbox::names::all_clean(&dirs, &ids).then_some(())
        },
    );
    let titles: Vec<Vec<String>> = f.devices.iter().map(sorted_titles).collect();
    assert_eq!(titles[0], titles[1]);
    assert!(titles[0].contains(&"Before".to_owned()), "{titles:?}");
    for d in &f.devices {
        wait_for("the folder is healthy", Duration::from_secs(30), || {
            (d.status()["sync_folders"][0]["health"] == "ok").then_some(())
        });
    }
}
