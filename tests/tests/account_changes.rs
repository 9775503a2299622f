//! Account changes reach every device (issue 16), black-box: real `cofferd`
//! and `coffer` processes, one HOME and one folder per device, the test
//! replicator playing the sync engine. A password or hint change on one
//! device reaches a device that is unlocked, one that is locked and one that
//! was off; concurrent changes settle on one winner everywhere; a replayed
//! old header and a forged one change nothing and are reported; a device the
//! changer did not know types the Account Key once. And a regretted reset
//! loses nothing: the old epoch's container (or backup) is merged into the
//! new account with the old secrets, and with nothing else.

use std::path::{Path, PathBuf};

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::items::{history_values, sorted_titles};
use coffer_blackbox::names::{header_file_name, unlock_file_name};
use coffer_blackbox::replicator::Replicator;
use coffer_blackbox::wait::wait_until;
use coffer_blackbox::{stderr, text, Device};
use serde_json::Value;

const PW: &str = "correct horse";
const NEW: &str = "battery staple";
const EMAIL: &str = "changes@example.org";
const ACCOUNT: Account = Account::new(EMAIL, PW);
const SEED: u64 = 16;

/// `sync now` on every running device of `devs`, then a replicator round,
/// a few times: every published file reaches every folder and is read.
fn settle(devs: &[&Device], rep: &mut Replicator) {
    for _ in 0..3 {
        for d in devs {
            d.ok(&["sync", "now"]);
        }
        rep.sync_all();
    }
    for d in devs {
        d.ok(&["sync", "now"]);
    }
}

fn unlock(dev: &Device, pw: &str) -> std::process::Output {
    dev.with_env(&[("COFFER_PASSWORD", pw)]).run(&["unlock"])
}

fn passwd(dev: &Device, old: &str, new: &str, extra: &[&str]) {
    let mut args = vec!["passwd"];
    args.extend(extra);
    dev.with_env(&[("COFFER_PASSWORD", old), ("COFFER_NEW_PASSWORD", new)])
        .ok(&args);
}

fn header_info(dev: &Device) -> Value {
    dev.status()["header"].clone()
}

fn device_json(dev: &Device) -> Value {
    let path = dev.dirs().data.join("device.json");
    serde_json::from_slice(&std::fs::read(&path).expect("device.json")).expect("JSON")
}

/// The old password is refused with the message that names the change;
/// the new one unlocks; the item is there.
fn only_the_new_password_unlocks(dev: &Device, old: &str, new: &str, changer: &str) {
    dev.ok(&["lock"]);
    let out = unlock(dev, old);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the Account Password was changed on device")
            && err.contains(changer)
            && err.contains("use the new password"),
        "{}: {err}",
        dev.name()
    );
    assert_eq!(dev.status()["state"], "locked", "nothing was cached");
    let out = unlock(dev, new);
    assert!(out.status.success(), "{}: {}", dev.name(), stderr(&out));
    assert_eq!(dev.ok(&["get", "Mail"]), "secret\n");
}

/// Four devices: `a` changes; `b` is locked, `c` is off and `d` stays
/// unlocked when the change arrives. Every one takes the new password and
/// the new hint, refuses the old password (naming the device and time),
/// and a new device logs in with the new password only.
#[test]
fn a_password_change_reaches_unlocked_locked_and_off_devices() {
    let (f, mut rep) = Fleet::replicated(["a", "b", "c", "d"], ACCOUNT.with_hint("old hint"), SEED);
    let [a, b, c, d] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    // Every device's unlock key reaches every folder.
    settle(&[a, b, c, d], &mut rep);
    for i in 0..4 {
        let dir = f.account_dir(i);
        for dev in [a, b, c, d] {
            let id = text(&dev.status()["device_id"]);
            assert!(
                dir.join(unlock_file_name(&id)).is_file(),
                "{}",
                dir.display()
            );
        }
    }
    b.ok(&["lock"]);
    c.stop_daemon();

    passwd(a, PW, NEW, &["--hint", "new hint"]);
    let a_id = text(&a.status()["device_id"]);
    let h = header_info(a);
    assert_eq!(h["generation"], 1, "{h}");
    assert_eq!(h["changed_by_device_id"], a_id.as_str(), "{h}");
    assert_eq!(h["changed_by_device_name"], "a", "{h}");
    // Published in a's own file; account.json (the epoch's base) is untouched.
    let change = f.account_dir(0).join(header_file_name(&a_id));
    let published: Value = serde_json::from_slice(&std::fs::read(&change).unwrap()).unwrap();
    assert_eq!(published["generation"], 1);
    assert_eq!(
        published["envelopes"].as_array().map(Vec::len),
        Some(3),
        "one per other device"
    );
    let base: Value =
        serde_json::from_slice(&std::fs::read(f.account_dir(0).join("account.json")).unwrap())
            .unwrap();
    assert_eq!(base["generation"], 0);
    // Read before the change reaches d's folder (d's watcher may adopt it
    // at once).
    let pw_box_before = device_json(d)["account_key_pw"].clone();
    assert_ne!(pw_box_before, "");
    rep.sync_all();

    // d, unlocked: adopts the header in a round, stays unlocked, and drops
    // the Account Key box of the old password from device.json.
    d.ok(&["sync", "now"]);
    assert_eq!(d.status()["state"], "unlocked");
    assert_eq!(header_info(d)["generation"], 1);
    assert_eq!(d.ok(&["get", "Mail"]), "secret\n");
    let after = device_json(d);
    assert_ne!(after["account_key_pw"], pw_box_before);
    assert_eq!(
        after["account_key_pw"], "",
        "the old password's box is dropped"
    );
    assert_eq!(d.ok(&["hint", "--email", EMAIL]), "Hint: new hint\n");
    only_the_new_password_unlocks(d, PW, NEW, "device a (");
    assert_ne!(
        device_json(d)["account_key_pw"],
        "",
        "sealed again under the new one"
    );

    // b, locked: the hint is the new one before unlocking; the new
    // password unlocks through b's envelope.
    assert_eq!(b.ok(&["hint", "--email", EMAIL]), "Hint: new hint\n");
    only_the_new_password_unlocks(b, PW, NEW, "device a (");
    assert_eq!(header_info(b)["generation"], 1);

    // c, off during the change: catches up when it starts.
    assert!(c.daemon_pid().is_none());
    c.ok(&["sync", "now"]);
    if c.status()["state"] == "unlocked" {
        assert_eq!(header_info(c)["generation"], 1, "adopted at start");
    }
    only_the_new_password_unlocks(c, PW, NEW, "device a (");

    // A new device: the old password with the Account Key is refused too.
    let e = Device::with_sync_folder("e", &f.folders[1]);
    let out = e.login(EMAIL, PW, &f.account_key, &f.folders[1]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was changed on device"),
        "{}",
        stderr(&out)
    );
    e.login_ok(EMAIL, NEW, &f.account_key, &f.folders[1]);
    assert_eq!(header_info(&e)["generation"], 1);
    settle(&[a, b, c, d, &e], &mut rep);
    assert_eq!(e.ok(&["get", "Mail"]), "secret\n");
}

/// `hint --set` on one device: the next generation, shown by every device
/// (locked ones before unlocking), the password unchanged.
#[test]
fn a_hint_change_reaches_every_device() {
    let (f, mut rep) = Fleet::replicated(["a", "b", "c"], ACCOUNT.with_hint("first"), SEED);
    let [a, b, c] = f.refs();
    settle(&[a, b, c], &mut rep);
    b.ok(&["lock"]);
    a.ok(&["hint", "--set", "second"]);
    assert_eq!(header_info(a)["generation"], 1);
    rep.sync_all();
    c.ok(&["sync", "now"]);
    assert_eq!(header_info(c)["generation"], 1);
    for dev in [a, b, c] {
        assert_eq!(
            dev.ok(&["hint", "--email", EMAIL]),
            "Hint: second\n",
            "{}",
            dev.name()
        );
    }
    // The password did not change: b unlocks with it and adopts the header.
    let out = unlock(b, PW);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(header_info(b)["generation"], 1);
    // Locked devices cannot set it.
    c.ok(&["lock"]);
    assert_eq!(c.code(&["hint", "--set", "third"]), 3);
}

/// Two devices change the password at the same moment: every device settles
/// on one winner (the same header generation and author), the losing device
/// says its change lost and whose password holds, and only the winner's
/// password unlocks anywhere.
#[test]
fn concurrent_password_changes_settle_on_one_winner() {
    let (f, mut rep) = Fleet::replicated(["a", "b", "c"], ACCOUNT, SEED);
    let [a, b, c] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    settle(&[a, b, c], &mut rep);
    std::thread::scope(|s| {
        s.spawn(|| passwd(a, PW, "password of a", &[]));
        s.spawn(|| passwd(b, PW, "password of b", &[]));
    });
    settle(&[a, b, c], &mut rep);
    let infos: Vec<Value> = [a, b, c].iter().map(|d| header_info(d)).collect();
    for i in &infos {
        assert_eq!(i["generation"], 1, "{infos:?}");
        assert_eq!(
            i["changed_by_device_id"], infos[0]["changed_by_device_id"],
            "{infos:?}"
        );
    }
    let winner_is_a = infos[0]["changed_by_device_id"] == a.status()["device_id"];
    let (winner, loser, win_pw, lose_pw) = if winner_is_a {
        (a, b, "password of a", "password of b")
    } else {
        (b, a, "password of b", "password of a")
    };
    let lost = header_info(loser)["lost_change"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        lost.contains("lost to a concurrent change")
            && lost.contains(&format!("\"{}\"", winner.name()))
            || lost.contains(&format!("device {} (", winner.name())),
        "{lost}"
    );
    assert!(loser
        .ok(&["status"])
        .contains("lost to a concurrent change"));
    assert!(header_info(winner)["lost_change"].is_null());
    for dev in [a, b, c] {
        dev.ok(&["lock"]);
        assert_eq!(
            unlock(dev, lose_pw).status.code(),
            Some(5),
            "{}",
            dev.name()
        );
        assert_eq!(unlock(dev, PW).status.code(), Some(5), "{}", dev.name());
        let out = unlock(dev, win_pw);
        assert!(out.status.success(), "{}: {}", dev.name(), stderr(&out));
        assert_eq!(dev.ok(&["get", "Mail"]), "secret\n");
    }
}

/// The path of `dev`'s header change file in folder `i` of `f`.
fn change_file<const N: usize>(f: &Fleet<N>, i: usize, dev: &Device) -> PathBuf {
    f.account_dir(i)
        .join(header_file_name(&text(&dev.status()["device_id"])))
}

/// An old version of a device's header file put back in a folder (an old
/// password) is refused and reported; the author puts its own file back.
#[test]
fn a_replayed_old_header_is_refused_and_reported() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED);
    let [a, b] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    settle(&[a, b], &mut rep);
    passwd(a, PW, "second", &[]);
    let first_change = std::fs::read(change_file(&f, 0, a)).unwrap();
    passwd(a, "second", "third", &[]);
    settle(&[a, b], &mut rep);
    assert_eq!(header_info(b)["generation"], 2);

    // Someone puts generation 1 (password "second") back in b's folder.
    let replayed = change_file(&f, 1, a);
    rep.replay_old_at(
        1,
        replayed.strip_prefix(&f.folders[1]).unwrap(),
        &first_change,
        std::time::SystemTime::UNIX_EPOCH,
    )
    .unwrap();
    b.ok(&["sync", "now"]);
    let h = header_info(b);
    assert_eq!(h["generation"], 2, "{h}");
    let listed: Vec<String> = h["replayed"]
        .as_array()
        .map(|v| v.iter().map(text).collect())
        .unwrap_or_default();
    assert_eq!(listed, [replayed.display().to_string()], "{h}");
    assert!(b
        .ok(&["status"])
        .contains("was put back to an older header"));
    only_the_new_password_unlocks(b, "second", "third", "device a (");

    // In a's own folder the author writes its file back.
    rep.replay_old_at(
        0,
        replayed.strip_prefix(&f.folders[1]).unwrap(),
        &first_change,
        std::time::SystemTime::UNIX_EPOCH,
    )
    .unwrap();
    a.ok(&["sync", "now"]);
    let own: Value =
        serde_json::from_slice(&std::fs::read(change_file(&f, 0, a)).unwrap()).unwrap();
    assert_eq!(own["generation"], 2);
}

/// A header written by someone without the vault key (a higher generation,
/// another hint, a MAC of their own) changes nothing on any device, unlocked
/// or locked, and is reported.
#[test]
fn a_forged_header_changes_nothing() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT.with_hint("real hint"), SEED);
    let [a, b] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    settle(&[a, b], &mut rep);
    passwd(a, PW, NEW, &[]);
    settle(&[a, b], &mut rep);
    b.ok(&["lock"]);
    let mut forged: Value =
        serde_json::from_slice(&std::fs::read(change_file(&f, 0, a)).unwrap()).unwrap();
    forged["generation"] = 99.into();
    forged["hint"] = "the password is mallory's".into();
    forged["changed"]["by_device_name"] = "Mallory's phone".into();
    forged["mac"] = "bWFsbG9yeSBtYWxsb3J5IG1hbGxvcnkgbWFsbG9yeSE=".into();
    let name = header_file_name("6d1b2c3e-0000-4000-8000-00000000dead");
    let text_bytes = serde_json::to_vec_pretty(&forged).unwrap();
    for i in 0..2 {
        std::fs::write(f.account_dir(i).join(&name), &text_bytes).unwrap();
    }
    // Unlocked a: ignores it, reports it, shows the real hint.
    a.ok(&["sync", "now"]);
    let h = header_info(a);
    assert_eq!(h["generation"], 1, "{h}");
    assert_eq!(h["forged"].as_array().map(Vec::len), Some(1), "{h}");
    assert!(a.ok(&["status"]).contains("does not authenticate"));
    assert_eq!(a.ok(&["hint", "--email", EMAIL]), "Hint: real hint\n");
    // Locked b: the real new password still unlocks; the forged one is then reported.
    let out = unlock(b, NEW);
    assert!(out.status.success(), "{}", stderr(&out));
    b.ok(&["sync", "now"]);
    let h = header_info(b);
    assert_eq!(h["generation"], 1, "{h}");
    assert_eq!(h["forged"].as_array().map(Vec::len), Some(1), "{h}");
    assert_eq!(b.ok(&["get", "Mail"]), "secret\n");
}

/// A device whose unlock key the changer had not seen cannot check the new
/// password alone: it says so (exit 5, naming COFFER_ACCOUNT_KEY), unlocks
/// once with the Account Key too, and with the password alone afterwards.
#[test]
fn a_device_the_changer_did_not_know_types_the_account_key_once() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED);
    let [a, b] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    settle(&[a, b], &mut rep);
    b.ok(&["lock"]);
    // b's unlock key has not reached a's folder yet.
    let b_id = text(&b.status()["device_id"]);
    let b_key = f.account_dir(0).join(unlock_file_name(&b_id));
    std::fs::remove_file(&b_key).unwrap();
    passwd(a, PW, NEW, &[]);
    rep.sync_pair(0, 1);
    let out = unlock(b, NEW);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("COFFER_ACCOUNT_KEY"),
        "{}",
        stderr(&out)
    );
    // The old password is refused as replaced, not taken.
    assert_eq!(unlock(b, PW).status.code(), Some(5));
    let out = b
        .with_env(&[
            ("COFFER_PASSWORD", NEW),
            ("COFFER_ACCOUNT_KEY", &f.account_key),
        ])
        .run(&["unlock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.ok(&["get", "Mail"]), "secret\n");
    b.ok(&["lock"]);
    let out = unlock(b, NEW);
    assert!(
        out.status.success(),
        "the password alone from now on: {}",
        stderr(&out)
    );
}

/// `passwd --same` keeps the password and re-stretches it: a new salt, the
/// next generation, the same password unlocks.
#[test]
fn passwd_same_restretches_and_keeps_the_password() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED);
    let [a, b] = f.refs();
    settle(&[a, b], &mut rep);
    let before: Value =
        serde_json::from_slice(&std::fs::read(f.account_dir(0).join("account.json")).unwrap())
            .unwrap();
    a.with_env(&[("COFFER_PASSWORD", PW)])
        .ok(&["passwd", "--same"]);
    let after: Value =
        serde_json::from_slice(&std::fs::read(change_file(&f, 0, a)).unwrap()).unwrap();
    assert_eq!(after["generation"], 1);
    assert_ne!(after["salt"], before["salt"]);
    settle(&[a, b], &mut rep);
    for dev in [a, b] {
        dev.ok(&["lock"]);
        let out = unlock(dev, PW);
        assert!(out.status.success(), "{}: {}", dev.name(), stderr(&out));
    }
}

// ----- a regretted reset -----

fn import_container(dev: &Device, file: &Path, pw: &str, key: &str) -> std::process::Output {
    dev.with_env(&[("COFFER_OLD_PASSWORD", pw), ("COFFER_OLD_ACCOUNT_KEY", key)])
        .run(&[
            "import",
            "coffer-container",
            coffer_blackbox::utf8(file),
            "--json",
        ])
}

/// After a reset, the trashed container of the old epoch (and a backup made
/// before it) come back into the new account with the old secrets: items as
/// new items with their history, duplicates skipped; wrong old secrets
/// change nothing (exit 5).
#[test]
fn a_regretted_reset_loses_nothing() {
    let (f, _rep) = Fleet::replicated(["a"], ACCOUNT, SEED);
    let [a] = f.refs();
    a.ok(&["add", "Mail", "--username", "me", "--password", "first"]);
    a.ok(&["edit", "Mail", "--password", "second"]);
    a.ok(&["add", "Bank", "--password", "1234"]);
    let backup = a.home().join("before-reset.coffer-backup");
    a.ok(&["backup", coffer_blackbox::utf8(&backup)]);
    let r = a
        .with_env(&[("COFFER_NEW_PASSWORD", NEW)])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    let new_key = text(&r["account_key"]);
    let trashed = PathBuf::from(text(&r["trashed_container"]));
    assert!(trashed.is_file(), "{r}");
    let st = a.ok(&["status"]);
    assert!(
        st.contains(&format!(
            "coffer import coffer-container {}",
            trashed.display()
        )),
        "{st}"
    );
    a.login_ok(EMAIL, NEW, &new_key, &f.folders[0]);
    a.ok(&["add", "Fresh", "--password", "new epoch"]);

    // Wrong old secrets: exit 5, nothing merged.
    for (pw, key) in [(NEW, f.account_key.as_str()), (PW, new_key.as_str())] {
        let out = import_container(a, &trashed, pw, key);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("before the reset"),
            "{}",
            stderr(&out)
        );
        assert_eq!(sorted_titles(a), ["Fresh"]);
    }
    let out = import_container(a, &trashed, PW, &f.account_key);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["imported"], 2, "{reply}");
    assert_eq!(sorted_titles(a), ["Bank", "Fresh", "Mail"]);
    assert_eq!(a.ok(&["get", "Mail"]), "second\n");
    assert_eq!(history_values(a, "Mail", "password"), ["first"]);
    // Again, and the backup of the old epoch: every item is a duplicate.
    for file in [&trashed, &backup] {
        let out = import_container(a, file, PW, &f.account_key);
        assert!(out.status.success(), "{}", stderr(&out));
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reply["imported"], 0, "{reply}");
        assert_eq!(
            reply["skipped"].as_array().map(Vec::len),
            Some(2),
            "{reply}"
        );
    }
    assert_eq!(sorted_titles(a), ["Bank", "Fresh", "Mail"]);
}

// ----- a real engine -----

/// The names and bytes of an account directory, without temp files.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    coffer_blackbox::folder::contents(dir)
        .into_iter()
        .filter(|(n, _)| !coffer_blackbox::folder::is_temp(n))
        .collect()
}

/// Under `rclone bisync` every second, two devices change the password at
/// about the same time: no file is written by both, so no run makes a
/// conflict copy; both folders settle on the same files, both devices on
/// one header (the same generation and author), health ok, and the winning
/// password unlocks both.
#[test]
fn concurrent_password_changes_settle_under_rclone_bisync() {
    let (fa, fb) = (
        coffer_blackbox::short_tempdir("rca"),
        coffer_blackbox::short_tempdir("rcb"),
    );
    // rclone with its default safety settings (engines.rs): no --force.
    let Some(rclone) = coffer_blackbox::engines::Rclone::between(fa.path(), fb.path()) else {
        return;
    };
    let a = Device::with_sync_folder("a", fa.path());
    let b = Device::with_sync_folder("b", fb.path());
    let signup = a.signup(EMAIL, PW);
    let (key, account) = (text(&signup["account_key"]), text(&signup["account_id"]));
    rclone.resync();
    let engine = coffer_blackbox::engines::EngineLoop::start(
        std::sync::Arc::new(rclone),
        std::time::Duration::from_secs(1),
    );
    let limit = std::time::Duration::from_secs(60);
    coffer_blackbox::wait::wait_for("account.json in b's folder", limit, || {
        fb.path()
            .join(&account)
            .join("account.json")
            .is_file()
            .then_some(())
    });
    b.login_ok(EMAIL, PW, &key, fb.path());
    a.ok(&["add", "Mail", "--password", "secret"]);
    let (da, db) = (fa.path().join(&account), fb.path().join(&account));
    let ids = [
        text(&a.status()["device_id"]),
        text(&b.status()["device_id"]),
    ];
    coffer_blackbox::wait::wait_for("both unlock keys in both folders", limit, || {
        ids.iter()
            .all(|id| {
                [&da, &db]
                    .iter()
                    .all(|d| d.join(unlock_file_name(id)).is_file())
            })
            .then_some(())
    });
    std::thread::scope(|s| {
        s.spawn(|| passwd(&a, PW, "password of a", &[]));
        s.spawn(|| passwd(&b, PW, "password of b", &[]));
    });
    // Settled: both devices on one header, both folders alike for 5 s on end.
    let agreed = wait_until(
        "one header on both devices and folders",
        limit,
        || {
            a.ok(&["sync", "now"]);
            b.ok(&["sync", "now"]);
            let (ha, hb) = (header_info(&a), header_info(&b));
            let same = ha["generation"] == 1
                && ha["changed_by_device_id"] == hb["changed_by_device_id"]
                && ha["generation"] == hb["generation"]
                && snapshot(&da) == snapshot(&db)
                && ids.iter().all(|id| da.join(header_file_name(id)).is_file());
            same.then_some(ha)
        },
        || {
            format!(
                "a: {:#}\nb: {:#}\nfolders:\n{:?}\n{:?}\nrclone runs that failed:\n{}",
                header_info(&a),
                header_info(&b),
                snapshot(&da).keys().collect::<Vec<_>>(),
                snapshot(&db).keys().collect::<Vec<_>>(),
                coffer_blackbox::engines::failures(&engine.runs())
            )
        },
    );
    // Still settled after three more rclone runs.
    let before = engine.runs().len();
    let settled = snapshot(&da);
    coffer_blackbox::wait::wait_for("three more rclone bisync runs", limit, || {
        (engine.runs().len() >= before + 3).then_some(())
    });
    a.ok(&["sync", "now"]);
    b.ok(&["sync", "now"]);
    let after = engine.stop();
    assert_eq!(
        snapshot(&da),
        settled,
        "the folder changed again after settling"
    );
    assert_eq!(snapshot(&db), settled);
    // Runs that raced a writer and were resynced (engines.rs) are rclone's,
    // any other failure is not.
    let refused = coffer_blackbox::engines::refusals(&after);
    assert!(refused.is_empty(), "rclone refused runs:\n{refused}");
    let conflicts: Vec<&str> = after
        .iter()
        .filter(|r| r.output.contains("..path1") || r.output.contains("..path2"))
        .map(|r| r.output.as_str())
        .collect();
    assert!(
        conflicts.is_empty(),
        "no run made conflict copies:\n{}",
        conflicts.join("\n")
    );
    for d in [&a, &b] {
        let st = d.status();
        assert_eq!(st["sync_folders"][0]["health"], "ok", "{st}");
        assert_eq!(
            st["header"]["changed_by_device_id"],
            agreed["changed_by_device_id"]
        );
    }
    let win_pw = if agreed["changed_by_device_id"] == ids[0].as_str() {
        "password of a"
    } else {
        "password of b"
    };
    for d in [&a, &b] {
        d.ok(&["lock"]);
        let out = unlock(d, win_pw);
        assert!(out.status.success(), "{}: {}", d.name(), stderr(&out));
        assert_eq!(d.ok(&["get", "Mail"]), "secret\n");
    }
    println!("rclone bisync runs: {}", after.len());
}

/// A reset retires the header changes and unlock keys of the old epoch with
/// every other file of the devices: once both devices are signed in to the
/// new epoch, every folder holds the new base header, the new devices'
/// files and unlock keys, and nothing of the old epoch.
#[test]
fn a_reset_retires_the_old_epochs_header_changes_and_unlock_keys() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED);
    let [a, b] = f.refs();
    settle(&[a, b], &mut rep);
    passwd(a, PW, NEW, &[]);
    settle(&[a, b], &mut rep);
    let old_a = text(&a.status()["device_id"]);
    assert!(f.account_dir(1).join(header_file_name(&old_a)).is_file());
    let r = a
        .with_env(&[("COFFER_NEW_PASSWORD", "after reset")])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    let key = text(&r["account_key"]);
    rep.sync_all();
    b.ok(&["sync", "now"]);
    assert_eq!(b.status()["state"], "reset");
    for (dev, folder) in [(a, &f.folders[0]), (b, &f.folders[1])] {
        dev.login_ok(EMAIL, "after reset", &key, folder);
    }
    settle(&[a, b], &mut rep);
    let ids: std::collections::BTreeSet<String> = [a, b]
        .iter()
        .map(|d| text(&d.status()["device_id"]))
        .collect();
    for i in 0..2 {
        let dir = f.account_dir(i);
        assert!(
            coffer_blackbox::names::holds_only(&dir, &ids),
            "{:?}",
            coffer_blackbox::folder::names(&dir)
        );
        assert_eq!(coffer_blackbox::names::unlock_keys(&dir), ids);
    }
    assert_eq!(header_info(a)["generation"], 0);
}

/// Every engine's conflict copy of a device's header change is read (the
/// newer change in it is adopted) and then retired to the trash; the
/// device's own file stays.
#[test]
fn conflict_copies_of_header_changes_are_merged_and_retired() {
    use coffer_blackbox::replicator::Engine;
    for (n, engine) in Engine::ALL.into_iter().enumerate() {
        let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED + n as u64);
        let [a, b] = f.refs();
        a.ok(&["add", "Mail", "--password", "secret"]);
        settle(&[a, b], &mut rep);
        passwd(a, PW, "second", &[]);
        rep.sync_all();
        b.ok(&["sync", "now"]);
        assert_eq!(header_info(b)["generation"], 1, "{engine:?}");
        b.ok(&["lock"]);
        passwd(a, "second", "third", &[]);
        // b's folder keeps generation 1 under the name, generation 2 beside it.
        rep.conflict_copy(0, 1, engine);
        let dir = f.account_dir(1);
        let copies = coffer_blackbox::names::conflict_copies(&dir);
        assert!(
            copies.iter().any(|c| c.starts_with("header-")),
            "{engine:?}: {copies:?}"
        );
        let out = unlock(b, "third");
        assert!(out.status.success(), "{engine:?}: {}", stderr(&out));
        b.ok(&["sync", "now"]);
        assert_eq!(header_info(b)["generation"], 2, "{engine:?}");
        // Removals are paced and wait for a copy to settle (issue 20).
        let copies_left = || -> Vec<String> {
            coffer_blackbox::names::conflict_copies(&dir)
                .into_iter()
                .filter(|c| c.starts_with("header-") || c.starts_with("unlock-"))
                .collect()
        };
        wait_until(
            "the header copies are retired",
            std::time::Duration::from_secs(30),
            || {
                b.ok(&["sync", "now"]);
                copies_left().is_empty().then_some(())
            },
            || format!("{engine:?}: copies left: {:?}", copies_left()),
        );
        assert!(dir
            .join(header_file_name(&text(&a.status()["device_id"])))
            .is_file());
        assert_eq!(b.ok(&["get", "Mail"]), "secret\n");
    }
}

/// An unlocked device that adopted a change without an envelope for it
/// (the changer did not know it) can still change the password with the
/// current one: it holds the Account Key under the vault key.
#[test]
fn an_unlocked_device_without_an_envelope_can_still_change_the_password() {
    let (f, mut rep) = Fleet::replicated(["a", "b"], ACCOUNT, SEED);
    let [a, b] = f.refs();
    a.ok(&["add", "Mail", "--password", "secret"]);
    settle(&[a, b], &mut rep);
    let b_id = text(&b.status()["device_id"]);
    std::fs::remove_file(f.account_dir(0).join(unlock_file_name(&b_id))).unwrap();
    passwd(a, PW, NEW, &[]);
    rep.sync_pair(0, 1);
    b.ok(&["sync", "now"]);
    assert_eq!(header_info(b)["generation"], 1);
    assert_eq!(device_json(b)["account_key_pw"], "");
    passwd(b, NEW, "from b", &[]);
    settle(&[a, b], &mut rep);
    for dev in [a, b] {
        assert_eq!(header_info(dev)["generation"], 2, "{}", dev.name());
        only_the_new_password_unlocks(dev, NEW, "from b", "device b (");
    }
}
