//! Sync through a real `rclone bisync` (issue 20): two devices, each with a
//! folder of its own, and rclone run between the two folders in a loop (a
//! pause of [`PAUSE`] between runs, as a user's timer would), with its
//! default safety settings: no `--force`, no `--max-delete`.
//!
//! - `rclone_bisync_carries_edits_and_its_own_conflict_copies`: items both
//!   ways, concurrent edits of different and of the same field, then both
//!   sides change a device file between two runs, so that rclone itself
//!   renames both versions away (`NAME..path1`, `NAME..path2`); everything
//!   converges and nothing is left behind.
//! - `rclone_renaming_account_json_away_on_both_sides_is_repaired_once`: the
//!   same for `account.json`, which one device alone puts back.
//! - `a_reset_reaches_the_other_device_under_rclone_defaults`: a reset
//!   carried by a few file changes reaches the other device without rclone
//!   ever refusing a run ("too many deletes"); a third device that never
//!   comes back has its stale file cleared after the grace period, and the
//!   folders end with the new epoch's files only.
//! - `a_run_that_races_a_writer_is_resynced_by_the_loop`: the engine loop of
//!   these tests, without coffer.
//!
//! A run that fails because a file came or went while rclone ran is
//! followed by the `--resync` rclone asks for (engines.rs); the tests check
//! that this is the only kind of failed run.
//!
//! Skipped (with a note) when rclone is not installed, unless
//! `COFFER_REQUIRE_TOOLS=1`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_blackbox::engines::{
    concurrent_edits, context, device_ids as ids, failures, listing, pair_clean as clean, quiesce,
    refusals, EngineLoop, Rclone, Run, TwoWay,
};
use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::folder::{names, put};
use coffer_blackbox::items::{item, sorted_titles};
use coffer_blackbox::names::{conflict_copies, device_file_name, device_files, unlock_file_name};
use coffer_blackbox::wait::wait_until;
use coffer_blackbox::{shared_folder, text, trash, Device};
use serde_json::Value;

const EMAIL: &str = "rclone@example.org";
const PW: &str = "correct horse";
const NEW_PW: &str = "a brand new passphrase";
const ACCOUNT: Account = Account::new(EMAIL, PW);
/// The pause between two rclone runs.
const PAUSE: Duration = Duration::from_secs(1);
/// How long anything may take to travel through the engine.
const LIMIT: Duration = Duration::from_secs(30);

/// Two folders, rclone between them, and devices a and b signed in (b from
/// its own folder, once rclone's first run carried the signup there).
fn setup() -> Option<(Arc<Rclone>, Fleet<2>)> {
    let dirs = [shared_folder(), shared_folder()];
    let rclone = Arc::new(Rclone::between(dirs[0].path(), dirs[1].path())?);
    eprintln!("engine: {}", rclone.version());
    let fleet = Fleet::on_folders(["a", "b"], dirs, ACCOUNT, || {
        rclone.resync();
    });
    Some((rclone, fleet))
}

/// One rclone run that must rename both versions of `name` away.
fn conflict_run(rclone: &Rclone, acct: &str, name: &str) -> Run {
    let run = rclone.run();
    assert!(run.ok, "{}", run.output);
    for copy in [format!("{name}..path1"), format!("{name}..path2")] {
        assert!(
            run.output.contains(&format!("{acct}/{copy}")),
            "rclone did not make {copy}:\n{}",
            run.output
        );
    }
    run
}

/// Waits until `d`'s folder is healthy with `device_files` current device files.
fn wait_healthy(d: &Device, device_files: u64) {
    wait_until(
        "the folder is healthy",
        LIMIT,
        || {
            let folder = d.status()["sync_folders"][0].clone();
            (folder["health"] == "ok" && folder["device_files"] == device_files).then_some(())
        },
        || format!("device {}: {:#}", d.name(), d.status()),
    );
}

/// No run was refused: every failed run was a race with a writer (a
/// file came or went while rclone ran, engines.rs), the run after it was
/// the `--resync` rclone asks for, and the last run succeeded.
fn assert_no_refused_run(runs: &[Run]) {
    let refused = refusals(runs);
    assert!(refused.is_empty(), "rclone refused runs:\n{refused}");
    for (i, r) in runs.iter().enumerate() {
        assert!(!r.output.contains("too many deletes"), "{}", r.output);
        if r.raced() {
            assert!(
                runs.get(i + 1).is_some_and(|n| n.recovery),
                "a raced run was not followed by a --resync:\n{}",
                r.output
            );
        }
    }
    assert!(runs.last().is_some_and(|r| r.ok), "{}", failures(runs));
    let raced = runs.iter().filter(|r| r.raced()).count();
    eprintln!(
        "{} rclone runs, {raced} raced a writer and were resynced, none refused",
        runs.len()
    );
}

#[test]
fn rclone_bisync_carries_edits_and_its_own_conflict_copies() {
    let Some((rclone, f)) = setup() else {
        return;
    };
    let [a, b] = &f.devices;
    let mut runs = Vec::new();
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);

    // Items both ways.
    a.ok(&["add", "Mail", "--username", "u0", "--password", "p0"]);
    let t = Instant::now();
    wait_until("Mail on b", LIMIT, || item(b, "Mail"), || listing(&f));
    eprintln!("a -> b through rclone: {:?}", t.elapsed());
    b.ok(&["add", "Bank", "--password", "b0"]);
    let t = Instant::now();
    wait_until("Bank on a", LIMIT, || item(a, "Bank"), || listing(&f));
    eprintln!("b -> a through rclone: {:?}", t.elapsed());

    // Concurrent edits while rclone does not run: different fields, and the same field.
    let (stopped, engine) = concurrent_edits(engine, &rclone, PAUSE, &f, LIMIT);
    runs.extend(stopped);

    // rclone's own conflict copies. First a device file: between two runs, a publishes a new
    // version of its file while an old one is put back in b's folder (a restore from a backup).
    runs.extend(quiesce(engine, &rclone, &f));
    let acct = f.account_id.clone();
    let a_name = device_file_name(&text(&a.status()["device_id"]));
    let a_in_b = f.account_dir(1).join(&a_name);
    let old = std::fs::read(&a_in_b).expect("a's file in b's folder");
    // A bulk change: a's snapshot (its device file) is rewritten.
    let notes = coffer_blackbox::items::bulk_notes();
    a.ok(&["add", "Conflicted", "--password", "c0", "--notes", &notes]);
    a.ok(&["sync", "now"]);
    put(&a_in_b, &old);
    runs.push(conflict_run(&rclone, &acct, &a_name));
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);
    let all = ids(&[a, b]);
    let t = Instant::now();
    wait_until(
        "both folders hold account.json and the two device files only",
        LIMIT,
        || (clean(&f, &all) && item(b, "Conflicted").is_some()).then_some(()),
        || context(&f, &engine),
    );
    eprintln!(
        "rclone's copies of a device file merged and gone after {:?}",
        t.elapsed()
    );

    runs.extend(engine.stop());
    assert_no_refused_run(&runs);
    for d in [a, b] {
        assert_eq!(
            sorted_titles(d),
            ["Bank", "Conflicted", "Mail"],
            "device {}",
            d.name()
        );
        // A file rclone was writing in place may have been read half written (a problem that
        // stands until the next round reads it whole).
        wait_healthy(d, 2);
    }
    assert!(conflict_copies(&f.account_dir(0)).is_empty());
}

/// Both sides rewrite `account.json` between two runs (the same header, formatted two ways): rclone
/// leaves no `account.json` on either side, only `account.json..path1` and `..path2`. One device
/// puts it back (were both to, rclone would see it new on both sides: another conflict, for
/// ever), the copies go, and nothing is left behind.
#[test]
fn rclone_renaming_account_json_away_on_both_sides_is_repaired_once() {
    let Some((rclone, f)) = setup() else {
        return;
    };
    let [a, b] = &f.devices;
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);
    a.ok(&["add", "Mail", "--password", "p0"]);
    let all = ids(&[a, b]);
    wait_until(
        "Mail on b, both device files in both folders",
        LIMIT,
        || (clean(&f, &all) && item(b, "Mail").is_some()).then_some(()),
        || context(&f, &engine),
    );
    let mut runs = quiesce(engine, &rclone, &f);
    let acct = f.account_id.clone();
    let header_a = f.account_dir(0).join("account.json");
    let header = std::fs::read(&header_a).expect("the header");
    let compact: Value = serde_json::from_slice(&header).expect("JSON");
    put(
        &f.account_dir(1).join("account.json"),
        compact.to_string().as_bytes(),
    );
    put(&header_a, &[&header[..], b"\n"].concat());
    runs.push(conflict_run(&rclone, &acct, "account.json"));
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);
    let t = Instant::now();
    wait_until(
        "both folders hold account.json and the two device files only",
        LIMIT,
        || clean(&f, &all).then_some(()),
        || context(&f, &engine),
    );
    eprintln!(
        "rclone's copies of account.json gone after {:?}",
        t.elapsed()
    );
    assert_eq!(
        std::fs::read(&header_a).expect("back"),
        header,
        "the header as coffer writes it"
    );
    runs.extend(engine.stop());
    assert_no_refused_run(&runs);
    // The copies went to the trash of the device that retired them.
    let trashed: usize = [a, b]
        .iter()
        .map(|d| {
            names(&trash::files_dir(d))
                .iter()
                .filter(|n| n.starts_with("account.json.."))
                .count()
        })
        .sum();
    assert!(trashed >= 2, "the header copies are in a trash");
    for d in [a, b] {
        assert_eq!(d.status()["state"], "unlocked");
        wait_healthy(d, 2);
    }
}

/// `coffer reset` on `dev` with the new password; the new Account Key.
fn reset(dev: &Device) -> String {
    let reply = dev
        .with_env(&[("COFFER_NEW_PASSWORD", NEW_PW)])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    text(&reply["account_key"])
}

fn login(dev: &Device, key: &str, folder: &Path) {
    dev.login_ok(EMAIL, NEW_PW, key, folder);
}

#[test]
fn a_reset_reaches_the_other_device_under_rclone_defaults() {
    let Some((rclone, f)) = setup() else {
        return;
    };
    let [a, b] = &f.devices;
    let [fa, fb] = &f.folders;
    // A third device on a's folder that will never come back after the reset.
    let c = Device::with_sync_folder("c", fa);
    c.login_ok(EMAIL, PW, &f.account_key, fa);
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);
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

    // The reset: a writes the new header and retires its own file; nothing else.
    let key2 = reset(a);
    let landed = Instant::now();
    let st_b = wait_until(
        "b in reset",
        LIMIT,
        || {
            let st = b.status();
            (st["state"] == "reset").then_some(st)
        },
        || format!("{}\n{}", listing(&f), failures(&engine.runs())),
    );
    let took = landed.elapsed();
    eprintln!("the reset reached b through rclone after {took:?}");
    // a clears stale files after a short grace (the default is 7 days), one an hour; it reads
    // its config when it starts again (in state reset, nothing else changes).
    a.add_config("stale_file_grace = \"2s\"");
    a.stop_daemon();
    assert_eq!(st_b["reset"]["new_epoch"], 2, "{st_b:#}");
    // Until somebody logs in, only c's stale file is left, and a (in reset) counts it as such.
    wait_until(
        "both folders hold the new header and c's stale files only",
        LIMIT,
        || {
            [0, 1]
                .iter()
                .all(|i| {
                    names(&f.account_dir(*i))
                        == BTreeSet::from([
                            "account.json".to_owned(),
                            c_files[0].clone(),
                            c_files[1].clone(),
                        ])
                })
                .then_some(())
        },
        || context(&f, &engine),
    );
    wait_until(
        "a's status counts no current file and c's two stale files",
        LIMIT,
        || {
            let folder = &a.status()["sync_folders"][0];
            (folder["device_files"] == 0 && folder["stale_files"] == 2).then_some(())
        },
        || format!("{:#}", a.status()),
    );

    // Both log in to the new epoch; c's file goes (to a's trash) once the grace is over.
    login(a, &key2, fa);
    login(b, &key2, fb);
    a.ok(&["add", "New", "--password", "new"]);
    let new_ids = ids(&[a, b]);
    let t = Instant::now();
    wait_until(
        "the folders hold the new epoch's files only, and New on b",
        LIMIT,
        || (clean(&f, &new_ids) && item(b, "New").is_some()).then_some(()),
        || {
            format!(
                "{}\n{:#}\n{}",
                listing(&f),
                a.status(),
                failures(&engine.runs())
            )
        },
    );
    eprintln!("c's stale file cleared and carried after {:?}", t.elapsed());
    let runs = engine.stop();
    assert_no_refused_run(&runs);
    assert!(
        c_files
            .iter()
            .all(|c| names(&trash::files_dir(a)).contains(c)),
        "c's files are in a's trash"
    );
    for d in [a, b] {
        assert_eq!(sorted_titles(d), ["New"], "device {}", d.name());
        // Each device's next round (after the deletion arrived) counts nothing stale.
        wait_until(
            "no stale file, health ok",
            LIMIT,
            || {
                let folder = d.status()["sync_folders"][0].clone();
                (folder["health"] == "ok" && folder["stale_files"].is_null()).then_some(())
            },
            || format!("{:#}", d.status()),
        );
    }
}

/// The engine loop itself, without coffer: a writer adds a file every few
/// milliseconds while rclone runs back to back, so a run sees a file appear
/// under it and stops ("out of sync", engines.rs). The loop's next run is
/// the `--resync` rclone asks for, plain runs go on after it, and once the
/// writer stops both folders hold every file written, but those a
/// `--resync` itself deleted.
#[test]
fn a_run_that_races_a_writer_is_resynced_by_the_loop() {
    let dirs = [shared_folder(), shared_folder()];
    let Some(rclone) = Rclone::between(dirs[0].path(), dirs[1].path()) else {
        return;
    };
    let rclone = Arc::new(rclone);
    std::fs::write(dirs[0].path().join("first"), b"0").unwrap();
    rclone.resync();
    let engine = EngineLoop::start(Arc::clone(&rclone), Duration::from_millis(20));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let written = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                std::fs::write(dirs[n % 2].path().join(format!("f{n}")), b"x").unwrap();
                std::thread::sleep(Duration::from_millis(3));
            }
            n
        });
        wait_until(
            "a raced run followed by a recovery and a plain run that succeeded",
            Duration::from_secs(60),
            || {
                let runs = engine.runs();
                runs.windows(3)
                    .any(|w| w[0].raced() && w[1].recovery && w[1].ok && !w[2].recovery)
                    .then_some(())
            },
            || failures(&engine.runs()),
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap()
    });
    let mut runs = engine.stop();
    runs.extend(rclone.settle());
    assert!(runs.last().is_some_and(|r| r.ok), "{}", failures(&runs));
    let refused = refusals(&runs);
    assert!(refused.is_empty(), "only races failed:\n{refused}");
    // rclone 1.60's --resync copies what Path1 lacks from Path2, then makes
    // Path2 like Path1: a file written into Path2 between the two steps is
    // deleted (its output says "NAME: Deleted"). A writer must put such a
    // file back (coffer rewrites its own lost files); every other file
    // written is in both folders.
    let deleted_by_resync = |name: &str| {
        runs.iter()
            .any(|r| r.recovery && r.output.contains(&format!(" {name}: Deleted")))
    };
    let held = [names(dirs[0].path()), names(dirs[1].path())];
    assert_eq!(held[0], held[1], "both folders are alike");
    let lost: Vec<String> = std::iter::once("first".to_owned())
        .chain((1..=written).map(|n| format!("f{n}")))
        .filter(|n| !held[0].contains(n))
        .collect();
    assert!(
        lost.iter().all(|n| deleted_by_resync(n)),
        "files lost other than by a --resync: {lost:?}\n{}",
        runs.iter()
            .map(|r| r.output.as_str())
            .collect::<Vec<_>>()
            .join("\n--\n")
    );
    let raced = runs.iter().filter(|r| r.raced()).count();
    eprintln!(
        "{} runs, {raced} raced the writer, {} files of {} deleted by a --resync",
        runs.len(),
        lost.len(),
        written + 1
    );
}

/// Both devices add items back to back while rclone runs with hardly a
/// pause (10 ms), so that runs race the devices' writes and the loop makes
/// the `--resync` rclone asks for, which may delete a file a device had
/// just written and bring back files a device had removed (see above).
/// Once the devices stop, everything converges: both devices hold every
/// item, both folders hold the current files only, and no run failed but
/// by a race.
#[test]
fn edits_during_rclone_races_and_resyncs_converge() {
    let Some((rclone, f)) = setup() else {
        return;
    };
    let [a, b] = &f.devices;
    let engine = EngineLoop::start(Arc::clone(&rclone), Duration::from_millis(10));
    let mut added = Vec::new();
    let started = Instant::now();
    // Until a run raced and was resynced, and a few items more; at most 300.
    let mut after_race = 0;
    while after_race < 4 && added.len() < 300 {
        if engine.runs().iter().any(|r| r.raced()) {
            after_race += 1;
        }
        let n = added.len();
        let (d, title) = if n % 2 == 0 {
            (a, format!("a{n}"))
        } else {
            (b, format!("b{n}"))
        };
        d.ok(&["add", &title, "--password", "p"]);
        added.push(title);
    }
    let mut runs = quiesce(engine, &rclone, &f);
    let engine = EngineLoop::start(Arc::clone(&rclone), PAUSE);
    let all = ids(&[a, b]);
    let mut expected = added.clone();
    expected.sort();
    wait_until(
        "both devices hold every item, both folders the current files only",
        LIMIT,
        || {
            (clean(&f, &all) && sorted_titles(a) == expected && sorted_titles(b) == expected)
                .then_some(())
        },
        || context(&f, &engine),
    );
    runs.extend(engine.stop());
    assert_no_refused_run(&runs);
    eprintln!(
        "{} items added in {:?}; {} runs, {} raced",
        added.len(),
        started.elapsed(),
        runs.len(),
        runs.iter().filter(|r| r.raced()).count()
    );
}
