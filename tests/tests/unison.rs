//! Sync through a real `unison` (issue 20): two devices, each with a folder
//! of its own, and unison 2.52 run between the two folders in a loop (a
//! pause of [`PAUSE`] between runs) with `-batch -auto`.
//!
//! - `unison_carries_edits_and_its_own_conflict_copies` (with `-prefer newer
//!   -copyonconflict`): items both ways, concurrent edits of different and
//!   of the same field, then a device file and `account.json` changed on
//!   both sides between two runs, so that unison itself keeps the loser as
//!   `NAME (conflict_on_DATE).EXT`; everything converges and nothing is left
//!   behind.
//! - `a_reset_reaches_the_other_device_under_unison` (plain `-batch -auto`):
//!   the reset reaches the other device, the folders end with the new
//!   epoch's files only, and a device that never comes back has its stale
//!   file cleared after the grace period.
//!
//! Skipped (with a note) when unison is not installed, unless
//! `COFFER_REQUIRE_TOOLS=1`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_blackbox::engines::{
    concurrent_edits, context, device_ids as ids, failures, pair_clean as clean, quiesce,
    EngineLoop, Run, TwoWay, Unison,
};
use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::folder::{names, put};
use coffer_blackbox::items::{item, sorted_titles};
use coffer_blackbox::names::{conflict_copies, device_file_name, device_files, unlock_file_name};
use coffer_blackbox::wait::wait_until;
use coffer_blackbox::{shared_folder, text, trash, Device};
use serde_json::Value;

const EMAIL: &str = "unison@example.org";
const PW: &str = "correct horse";
const NEW_PW: &str = "a brand new passphrase";
const ACCOUNT: Account = Account::new(EMAIL, PW);
/// The pause between two unison runs.
const PAUSE: Duration = Duration::from_secs(1);
/// How long anything may take to travel through the engine.
const LIMIT: Duration = Duration::from_secs(30);

/// Two folders, unison between them with `prefs`, and devices a and b signed in (b from its
/// own folder, once unison's first run carried the signup there).
fn setup(prefs: &[&str]) -> Option<(Arc<Unison>, Fleet<2>)> {
    let dirs = [shared_folder(), shared_folder()];
    let unison = Arc::new(Unison::between(dirs[0].path(), dirs[1].path(), prefs)?);
    eprintln!("engine: {}", unison.version());
    let fleet = Fleet::on_folders(["a", "b"], dirs, ACCOUNT, || {
        let run = unison.run();
        assert!(run.ok, "unison's first run:\n{}", run.output);
    });
    Some((unison, fleet))
}

fn assert_no_failed_run(runs: &[Run]) {
    let failed = failures(runs);
    assert!(failed.is_empty(), "unison runs failed:\n{failed}");
    eprintln!("{} unison runs, all successful", runs.len());
}

/// Waits until `d`'s folder is healthy with `device_files` current device files and nothing
/// stale.
fn wait_healthy(d: &Device, device_files: u64) {
    wait_until(
        "the folder is healthy",
        LIMIT,
        || {
            let folder = d.status()["sync_folders"][0].clone();
            (folder["health"] == "ok"
                && folder["device_files"] == device_files
                && folder["stale_files"].is_null())
            .then_some(())
        },
        || format!("device {}: {:#}", d.name(), d.status()),
    );
}

#[test]
fn unison_carries_edits_and_its_own_conflict_copies() {
    let Some((unison, f)) = setup(&["-prefer", "newer", "-copyonconflict"]) else {
        return;
    };
    let [a, b] = &f.devices;
    let engine = EngineLoop::start(Arc::clone(&unison), PAUSE);

    a.ok(&["add", "Mail", "--username", "u0", "--password", "p0"]);
    let t = Instant::now();
    wait_until(
        "Mail on b",
        LIMIT,
        || item(b, "Mail"),
        || context(&f, &engine),
    );
    eprintln!("a -> b through unison: {:?}", t.elapsed());
    // An early version of a's file, which a backup might bring back later.
    let a_name = device_file_name(&text(&a.status()["device_id"]));
    let a_in_b = f.account_dir(1).join(&a_name);
    let older = std::fs::read(&a_in_b).expect("a's file in b's folder");
    b.ok(&["add", "Bank", "--password", "b0"]);
    let t = Instant::now();
    wait_until(
        "Bank on a",
        LIMIT,
        || item(a, "Bank"),
        || context(&f, &engine),
    );
    eprintln!("b -> a through unison: {:?}", t.elapsed());

    // Concurrent edits while unison does not run: different fields, and the same field.
    let (mut runs, engine) = concurrent_edits(engine, &unison, PAUSE, &f, LIMIT);

    // unison's own conflict copies: between two runs, a publishes a new version of its file
    // while an old one is put back in b's folder, and account.json is rewritten differently on
    // each side (b's later, so newer: it wins, and a's is kept as a copy).
    runs.extend(quiesce(engine, &unison, &f));
    let header_a = f.account_dir(0).join("account.json");
    let header = std::fs::read(&header_a).expect("the header");
    // A bulk change: a's snapshot (its device file) is rewritten.
    let notes = coffer_blackbox::items::bulk_notes();
    a.ok(&["add", "Conflicted", "--password", "c0", "--notes", &notes]);
    a.ok(&["sync", "now"]);
    put(&header_a, &[&header[..], b"\n"].concat());
    std::thread::sleep(Duration::from_millis(1100)); // b's changes are newer by the clock
    put(&a_in_b, &older);
    let compact: Value = serde_json::from_slice(&header).expect("JSON");
    put(
        &f.account_dir(1).join("account.json"),
        compact.to_string().as_bytes(),
    );
    let run = unison.run();
    assert!(run.ok, "{}", run.output);
    let copies = conflict_copies(&f.account_dir(0));
    eprintln!("unison made: {copies:?}");
    for stem in [a_name.trim_end_matches(".cofsync"), "account"] {
        assert!(
            copies
                .iter()
                .any(|c| c.starts_with(&format!("{stem} (conflict_on_"))),
            "unison kept no copy of {stem}: {copies:?}\n{}",
            run.output
        );
    }
    runs.push(run);
    let engine = EngineLoop::start(Arc::clone(&unison), PAUSE);
    let all = ids(&[a, b]);
    let t = Instant::now();
    wait_until(
        "both folders hold account.json and the two device files only, Conflicted on b",
        LIMIT,
        || (clean(&f, &all) && item(b, "Conflicted").is_some()).then_some(()),
        || context(&f, &engine),
    );
    eprintln!("unison's copies merged and gone after {:?}", t.elapsed());
    runs.extend(engine.stop());
    assert_no_failed_run(&runs);
    for d in [a, b] {
        assert_eq!(
            sorted_titles(d),
            ["Bank", "Conflicted", "Mail"],
            "device {}",
            d.name()
        );
        wait_healthy(d, 2);
    }
}

#[test]
fn a_reset_reaches_the_other_device_under_unison() {
    let Some((unison, f)) = setup(&[]) else {
        return;
    };
    let [a, b] = &f.devices;
    let [fa, fb] = &f.folders;
    // A third device on a's folder that will never come back after the reset.
    let c = Device::with_sync_folder("c", fa);
    c.login_ok(EMAIL, PW, &f.account_key, fa);
    let engine = EngineLoop::start(Arc::clone(&unison), PAUSE);
    a.ok(&["add", "Old", "--password", "old"]);
    let old_ids = ids(&[a, b, &c]);
    wait_until(
        "the three device files in both folders, Old on b",
        LIMIT,
        || {
            let files = [0, 1]
                .iter()
                .all(|i| device_files(&f.account_dir(*i)) == old_ids);
            (files && item(b, "Old").is_some()).then_some(())
        },
        || context(&f, &engine),
    );
    let c_id = text(&c.status()["device_id"]);
    // c's device file and its unlock key (issue 16), both of the earlier epoch.
    let c_files = [device_file_name(&c_id), unlock_file_name(&c_id)];
    c.stop_daemon();

    let reply = a
        .with_env(&[("COFFER_NEW_PASSWORD", NEW_PW)])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    let key2 = text(&reply["account_key"]);
    let landed = Instant::now();
    wait_until(
        "b in reset",
        LIMIT,
        || (b.status()["state"] == "reset").then_some(()),
        || context(&f, &engine),
    );
    eprintln!(
        "the reset reached b through unison after {:?}",
        landed.elapsed()
    );
    // a clears stale files after a short grace (the default is 7 days); it reads its config
    // when it starts again (in state reset, nothing else changes).
    a.add_config("stale_file_grace = \"2s\"");
    a.stop_daemon();
    wait_until(
        "both folders hold the new header and c's stale files only",
        LIMIT,
        || {
            let want = BTreeSet::from([
                "account.json".to_owned(),
                c_files[0].clone(),
                c_files[1].clone(),
            ]);
            [0, 1]
                .iter()
                .all(|i| names(&f.account_dir(*i)) == want)
                .then_some(())
        },
        || context(&f, &engine),
    );

    a.login_ok(EMAIL, NEW_PW, &key2, fa);
    b.login_ok(EMAIL, NEW_PW, &key2, fb);
    a.ok(&["add", "New", "--password", "new"]);
    let new_ids = ids(&[a, b]);
    let t = Instant::now();
    wait_until(
        "the folders hold the new epoch's files only, and New on b",
        LIMIT,
        || (clean(&f, &new_ids) && item(b, "New").is_some()).then_some(()),
        || context(&f, &engine),
    );
    eprintln!("c's stale file cleared and carried after {:?}", t.elapsed());
    let runs = engine.stop();
    assert_no_failed_run(&runs);
    assert!(
        c_files
            .iter()
            .all(|c| names(&trash::files_dir(a)).contains(c)),
        "c's files are in a's trash"
    );
    for d in [a, b] {
        assert_eq!(sorted_titles(d), ["New"], "device {}", d.name());
        wait_healthy(d, 2);
    }
}
