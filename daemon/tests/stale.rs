//! In-process tests of what a reset leaves in a sync folder (issue 20): the
//! stale files of devices that never came back are counted apart, never
//! merged, and cleared one at a time after the grace period, only by a
//! device signed in to the new epoch; in state `reset` the census tells
//! current files from stale ones and this device's own old files are
//! retired again if they come back; a device's own file that keeps
//! disappearing is shown as a problem. Daemons on temporary directories
//! with a memory key cache, driven through `sync::merge_step` (as
//! `session.rs` does).
//!
//! Each test runs in its own process (nextest), so pointing `HOME` and
//! `XDG_DATA_HOME` at a temporary directory keeps the trash out of the real
//! home.

mod common;

use std::time::Duration;

use coffer_proto::reply::State;
use coffer_vault::sync_names::{device_file_name, unlock_file_name};
use cofferd::config::Config;
use cofferd::session::ResetCause;
use cofferd::sync::{merge_step, stale};

use common::*;

#[tokio::test]
async fn stale_files_are_counted_never_merged_and_cleared_one_per_pace_after_the_grace() {
    let root = isolated_root();
    let folder = folder(root.path());
    let old = account();
    let dir = folder.join(old.header.account_id.to_string());
    // Two devices of epoch 1 that will never come back.
    let (_c, c_id) = device_with_item(root.path(), "c", &old, "pw", &folder).await;
    let (_d, d_id) = device_with_item(root.path(), "d", &old, "pw", &folder).await;
    // Each device's sync file and its unlock key: they go together.
    let stale_files = [
        dir.join(device_file_name(&c_id)),
        dir.join(unlock_file_name(&c_id)),
        dir.join(device_file_name(&d_id)),
        dir.join(unlock_file_name(&d_id)),
    ];
    let before: Vec<Vec<u8>> = stale_files
        .iter()
        .map(|p| std::fs::read(p).expect("published"))
        .collect();
    // C was last heard of ten days ago, D three days ago.
    for (file, days) in stale_files.iter().zip([10, 10, 3, 3]) {
        set_mtime_days_ago(file, days);
    }

    // The account is reset elsewhere; A signs in to the new epoch.
    let new = reset_of(&old);
    std::fs::write(dir.join("account.json"), new.header.to_json()).expect("header");
    let week = Config {
        stale_file_grace: Duration::from_secs(7 * 86_400),
        stale_file_pace: Duration::from_secs(3600),
        ..Config::default()
    };
    let a = daemon(root.path(), "a", week.clone());
    a.core()
        .await
        .session
        .sign_in(&a.ctx(), sign_in_of(&a, &new, "new", &folder))
        .expect("a signs in to epoch 2");

    // Backdating the files moved their status change time: they must sit still a while
    // before anything removes them (an engine may be at work on a file that just changed),
    // and the daemon waits for that without looking again in between.
    let out = round(&a, true).await;
    assert_eq!(out.report.stale_files_retired, 0, "not settled yet");
    let policy = stale::Policy::of(&a.config);
    let wake = a
        .core()
        .await
        .session
        .sync()
        .and_then(|s| s.wake_at_ms(policy, true))
        .expect("a round is due once the file settled");
    let in_ms = wake.saturating_sub(cofferd::daemon::now_ms());
    assert!(
        in_ms > 5_000,
        "the next look is in {in_ms} ms: no busy wait"
    );
    tokio::time::sleep(Duration::from_millis(cofferd::sync::removal::SETTLE_MS)).await;
    // Then C's files (unwritten for more than the grace) go to the trash, one removal per
    // spacing; D's stay.
    let out = retire_spaced(&a).await;
    assert_eq!(out.report.stale_files_retired, 2, "{:?}", out.report);
    assert_eq!(out.report.merged_files, 0, "stale files are never merged");
    let f = only_folder(&out);
    assert_eq!((f.stale_files, f.health.as_str()), (2, "ok"), "{f:?}");
    assert!(!stale_files[0].exists() && !stale_files[1].exists());
    assert!(stale_files[2].exists() && stale_files[3].exists());
    for i in [0, 1] {
        let name = stale_files[i].file_name().expect("a name");
        let trashed = trash(root.path()).join(name);
        assert_eq!(std::fs::read(&trashed).expect("in the trash"), before[i]);
    }
    assert_eq!(item_count(&a.core().await.session), 0, "nothing of epoch 1");

    // D's comes due four days from now; even then, at most one per pace.
    let wake = a
        .core()
        .await
        .session
        .sync()
        .and_then(|s| s.wake_at_ms(policy, true))
        .expect("a stale file waits");
    let in_days = (wake as f64 - cofferd::daemon::now_ms() as f64) / 86_400_000.0;
    assert!((3.9..=4.1).contains(&in_days), "due in {in_days} days");
    set_mtime_days_ago(&stale_files[2], 8);
    set_mtime_days_ago(&stale_files[3], 8);
    tokio::time::sleep(Duration::from_millis(cofferd::sync::removal::SETTLE_MS)).await;
    let out = round(&a, false).await;
    assert_eq!(
        out.report.stale_files_retired, 0,
        "paced: one device per hour"
    );
    assert!(stale_files[2].exists() && stale_files[3].exists());
    assert_eq!(only_folder(&out).stale_files, 2);

    // A daemon with a short pace takes the second one; then nothing is stale.
    drop(a);
    let quick = Config {
        stale_file_pace: Duration::from_millis(1),
        ..week
    };
    let a2 = daemon(root.path(), "a", quick);
    let out = retire_spaced(&a2).await;
    assert_eq!(out.report.stale_files_retired, 2, "{:?}", out.report);
    assert!(!stale_files[2].exists() && !stale_files[3].exists());
    let f = only_folder(&out);
    assert_eq!((f.stale_files, f.device_files), (0, 1), "{f:?}");
    for i in [2, 3] {
        let name = stale_files[i].file_name().expect("a name");
        assert_eq!(
            std::fs::read(trash(root.path()).join(name)).expect("in the trash"),
            before[i]
        );
    }
}

#[tokio::test]
async fn a_device_in_reset_clears_nothing_of_others_and_counts_current_and_stale_files() {
    let root = isolated_root();
    let folder = folder(root.path());
    let old = account();
    let dir = folder.join(old.header.account_id.to_string());
    let (_b, b_id) = device_with_item(root.path(), "b", &old, "pw", &folder).await;
    let b_file = dir.join(device_file_name(&b_id));
    let eager = Config {
        stale_file_grace: Duration::from_millis(1),
        stale_file_pace: Duration::from_millis(1),
        ..Config::default()
    };
    let a = daemon(root.path(), "a", eager);
    let a_id = {
        let mut core = a.core().await;
        core.session
            .sign_in(&a.ctx(), sign_in_of(&a, &old, "pw", &folder))
            .expect("a signs in");
        core.session.device().expect("signed in").device_id.clone()
    };
    round(&a, true).await;
    let a_file = dir.join(device_file_name(&a_id));
    let a_old_bytes = std::fs::read(&a_file).expect("a published");

    // A reset elsewhere; A follows: it retires its own file, and only that.
    let new = reset_of(&old);
    std::fs::write(dir.join("account.json"), new.header.to_json()).expect("header");
    {
        let mut core = a.core().await;
        let out = merge_step(&a.ctx(), &mut core.session, false);
        let seen = out.reset_seen.expect("the reset is seen");
        core.session
            .enter_reset(
                &a.ctx(),
                ResetCause::Remote {
                    header: seen.header,
                    lost: None,
                },
            )
            .expect("enter reset");
        assert_eq!(core.session.state(), State::Reset);
    }
    assert!(!a_file.exists(), "A retired its own file");
    assert!(b_file.exists(), "A did not touch B's");

    // In reset: B's file is stale (and not cleared by a device that has not logged in to
    // the new epoch, however short its grace), no file is current.
    let out = round(&a, false).await;
    let f = only_folder(&out);
    // B's sync file and its unlock key.
    assert_eq!((f.device_files, f.stale_files), (0, 2), "{f:?}");
    assert!(b_file.exists());
    assert!(
        a.core()
            .await
            .session
            .sync()
            .and_then(|s| s.wake_at_ms(stale::Policy::of(&a.config), false))
            .is_none(),
        "no timer for stale files in state reset"
    );

    // An engine brings A's old file back: A retires it again. E logs in to the new epoch: its
    // file is current.
    std::fs::write(&a_file, &a_old_bytes).expect("replayed");
    let (_e, _) = device_with_item(root.path(), "e", &new, "new", &folder).await;
    let out = round(&a, false).await;
    assert!(!a_file.exists(), "A's own old file was retired again");
    let f = only_folder(&out);
    assert_eq!((f.device_files, f.stale_files), (1, 2), "{f:?}");
}

#[tokio::test]
async fn an_own_file_removed_three_times_is_a_problem_of_its_folder() {
    let root = isolated_root();
    let folder = folder(root.path());
    let acct = account();
    let (a, a_id) = device_with_item(root.path(), "a", &acct, "pw", &folder).await;
    let own = folder
        .join(acct.header.account_id.to_string())
        .join(device_file_name(&a_id));
    for n in 1..=3 {
        std::fs::remove_file(&own).expect("something else removes A's file");
        let out = round(&a, false).await;
        assert!(own.exists(), "written again at once (round {n})");
        let f = only_folder(&out);
        let warned = f.problems.iter().find(|p| p.path == own);
        if n < 3 {
            assert_eq!(f.health, "ok", "{f:?}");
            assert!(warned.is_none());
        } else {
            assert_eq!(f.health, "problems", "{f:?}");
            let reason = &warned.expect("the warning names the file").reason;
            assert!(
                reason.contains("removed by something else 3 times"),
                "{reason}"
            );
            assert!(reason.contains("rsync --delete"), "{reason}");
        }
    }
    // Rounds without a loss count nothing more (the warning stands for the window).
    let out = round(&a, false).await;
    let reason = &only_folder(&out).problems[0].reason;
    assert!(reason.contains("3 times"), "{reason}");
}

/// Rounds of `a` one removal spacing apart until one retires nothing: the
/// last round's outcome, with the stale files retired by all of them.
async fn retire_spaced(a: &cofferd::daemon::Daemon) -> cofferd::sync::RoundOutcome {
    let mut retired = 0;
    loop {
        let mut out = round(a, false).await;
        retired += out.report.stale_files_retired;
        if out.report.stale_files_retired == 0 {
            out.report.stale_files_retired = retired;
            return out;
        }
        tokio::time::sleep(Duration::from_millis(
            cofferd::sync::removal::SPACING_MS + 100,
        ))
        .await;
    }
}
