//! In-process tests of an `account.json` that an engine renamed away
//! (issue 20): rclone bisync leaves `account.json..path1` and
//! `account.json..path2` and no `account.json` when both sides changed it.
//! One device puts it back (the smallest id among the current device files),
//! the others wait, so that the engine does not see it created on both sides
//! again; once it is back, the copies it supersedes go, one at a time.

mod common;

use std::time::Duration;

use coffer_vault::sync_names::ACCOUNT_FILE;
use cofferd::sync::removal::{SETTLE_MS, SPACING_MS};

use common::*;

#[tokio::test]
async fn one_device_puts_back_an_account_json_renamed_away_and_the_copies_go_one_at_a_time() {
    let root = isolated_root();
    let folder = folder(root.path());
    let acct = account();
    let dir = folder.join(acct.header.account_id.to_string());
    let (a, a_id) = device_with_item(root.path(), "a", &acct, "pw", &folder).await;
    let (b, b_id) = device_with_item(root.path(), "b", &acct, "pw", &folder).await;
    // Each merges the other's file once, so that both files count as current.
    round(&a, false).await;
    round(&b, false).await;
    let (first, second) = if a_id < b_id { (&a, &b) } else { (&b, &a) };

    // What rclone leaves after both sides changed account.json: two copies, no original.
    let header = std::fs::read(dir.join(ACCOUNT_FILE)).expect("the header");
    let mut other: serde_json::Value = serde_json::from_slice(&header).expect("JSON");
    let other = serde_json::to_vec(&other.take()).expect("compact JSON");
    std::fs::rename(dir.join(ACCOUNT_FILE), dir.join("account.json..path1")).expect("rename");
    std::fs::write(dir.join("account.json..path2"), &other).expect("the other side's");

    // The device that is not first in id order leaves it missing.
    let out = round(second, false).await;
    assert!(!dir.join(ACCOUNT_FILE).exists(), "{:?}", out.report);
    assert!(dir.join("account.json..path1").exists() && dir.join("account.json..path2").exists());
    let wake = second
        .core()
        .await
        .session
        .sync()
        .and_then(|s| s.wake_at_ms(cofferd::sync::stale::Policy::of(&second.config), true))
        .expect("it will look again");
    let minutes = (wake - cofferd::daemon::now_ms()) as f64 / 60_000.0;
    assert!((4.9..=5.1).contains(&minutes), "in {minutes} minutes");
    let wake_first = first
        .core()
        .await
        .session
        .sync()
        .and_then(|s| s.wake_at_ms(cofferd::sync::stale::Policy::of(&first.config), true));
    assert!(wake_first.is_none(), "the first one has not looked yet");

    // Nor does the first one while the engine may still be at work on the copies it just made.
    round(first, false).await;
    assert!(
        !dir.join(ACCOUNT_FILE).exists(),
        "the copies have not settled"
    );
    let copies = |d: &std::path::Path| {
        ["account.json..path1", "account.json..path2"]
            .iter()
            .filter(|c| d.join(c).exists())
            .count()
    };
    assert_eq!(copies(&dir), 2);
    // Once they have, it writes account.json back, and the copies go one at a time.
    tokio::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    round(first, false).await;
    assert_eq!(std::fs::read(dir.join(ACCOUNT_FILE)).expect("back"), header);
    assert_eq!(copies(&dir), 1, "one removal at a time");
    tokio::time::sleep(Duration::from_millis(SPACING_MS + 50)).await;
    round(first, false).await;
    assert_eq!(copies(&dir), 0);
    let trashed = std::fs::read_dir(trash(root.path()))
        .expect("trash")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("account.json..")
        })
        .count();
    assert_eq!(trashed, 2, "the copies went to the trash");
}

#[tokio::test]
async fn a_folder_without_any_header_gets_it_at_once() {
    let root = isolated_root();
    let folder = folder(root.path());
    let acct = account();
    let dir = folder.join(acct.header.account_id.to_string());
    let (a, a_id) = device_with_item(root.path(), "a", &acct, "pw", &folder).await;
    let (b, b_id) = device_with_item(root.path(), "b", &acct, "pw", &folder).await;
    round(&a, false).await;
    round(&b, false).await;
    let second = if a_id < b_id { &b } else { &a };
    std::fs::remove_file(dir.join(ACCOUNT_FILE)).expect("emptied");
    round(second, false).await;
    assert!(
        dir.join(ACCOUNT_FILE).exists(),
        "no copy: nothing else writes it"
    );
}
