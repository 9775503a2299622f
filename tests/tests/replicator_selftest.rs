//! Self-test of the test replicator (`tests/src/replicator.rs`) on plain temporary folders, without
//! any coffer binary: it must do what the black-box scenarios rely on.

use coffer_blackbox::folder::relative_files as files;
use coffer_blackbox::names as sync_names;
use coffer_blackbox::replicator;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use replicator::{conflict_name, host_name, syncthing_short_id, utc, Engine, Order, Replicator};
use sync_names::{classify, conflict_style, ConflictStyle, Entry};
use tempfile::TempDir;

const ACCOUNT: &str = "0b7d0c52-5a8e-4c1e-9d3f-2f61b8a4c7e0";
const DEVICE: &str = "6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6";

struct Setup {
    _dir: TempDir,
    folders: Vec<PathBuf>,
}

fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let folders: Vec<PathBuf> = (0..n)
        .map(|i| {
            let f = dir.path().join(format!("device{i}"));
            fs::create_dir(&f).expect("create a device folder");
            f
        })
        .collect();
    Setup { _dir: dir, folders }
}

fn device_rel() -> PathBuf {
    Path::new(ACCOUNT).join(format!("device-{DEVICE}.cofsync"))
}

fn account_rel() -> PathBuf {
    Path::new(ACCOUNT).join("account.json")
}

/// Writes `bytes` at `rel` in `folder` with modification time `secs` after 2024-01-01.
fn put(folder: &Path, rel: &Path, bytes: &[u8], secs: u64) {
    let path = folder.join(rel);
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs::write(&path, bytes).expect("write");
    let file = fs::File::options().write(true).open(&path).expect("open");
    file.set_modified(UNIX_EPOCH + Duration::from_secs(1_704_067_200 + secs))
        .expect("set mtime");
}

fn read(folder: &Path, rel: &Path) -> Option<Vec<u8>> {
    fs::read(folder.join(rel)).ok()
}

/// `n` folders and a replicator between them.
fn replicated(n: usize) -> (Setup, Replicator) {
    let s = setup(n);
    let r = Replicator::new(s.folders.clone());
    (s, r)
}

/// Asserts that every folder of `s` holds `expected` at `rel`.
#[track_caller]
fn assert_all_hold(s: &Setup, rel: &Path, expected: &[u8]) {
    for f in &s.folders {
        assert_holds(f, rel, expected);
    }
}

/// Asserts that `folder` holds `expected` at `rel`.
#[track_caller]
fn assert_holds(folder: &Path, rel: &Path, expected: &[u8]) {
    assert_eq!(
        read(folder, rel).as_deref(),
        Some(expected),
        "{}",
        rel.display()
    );
}

#[test]
fn files_propagate_recursively_and_the_newest_wins() {
    let (s, mut r) = replicated(3);
    put(&s.folders[0], &device_rel(), b"v1 from device 0", 10);
    put(&s.folders[1], Path::new("top.txt"), b"top", 10);
    let stats = r.sync_all();
    assert_eq!(stats.copied, 4, "{stats:?}");
    assert!(stats.errors.is_empty(), "{stats:?}");
    for f in &s.folders {
        assert_holds(f, &device_rel(), b"v1 from device 0");
        assert_holds(f, Path::new("top.txt"), b"top");
        // The modification time travels with the copy.
        let mtime = fs::metadata(f.join(device_rel()))
            .expect("meta")
            .modified()
            .expect("mtime");
        assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_704_067_210));
    }

    // A newer version anywhere wins everywhere; an older one loses.
    put(&s.folders[2], &device_rel(), b"v2", 20);
    put(&s.folders[1], &device_rel(), b"v0, older", 5);
    r.sync_all();
    assert_all_hold(&s, &device_rel(), b"v2");
    // Same modification time, different content: the same winner everywhere.
    put(&s.folders[0], Path::new("tie"), b"aaa", 30);
    put(&s.folders[1], Path::new("tie"), b"bbb", 30);
    r.sync_all();
    let winner = read(&s.folders[0], Path::new("tie"));
    assert!(winner.is_some());
    for f in &s.folders {
        assert_eq!(read(f, Path::new("tie")), winner);
    }
    assert_eq!(r.sync_all().changes(), 0, "converged");
    for f in &s.folders {
        assert_eq!(files(f), files(&s.folders[0]), "no temp files left over");
    }
}

#[test]
fn temp_files_are_not_replicated() {
    let (s, mut r) = replicated(2);
    let coffer_temp = Path::new(ACCOUNT).join(".account.json.00000000deadbeef.tmp");
    put(&s.folders[0], &coffer_temp, b"half", 1);
    put(&s.folders[0], Path::new("~syncthing~x.tmp"), b"t", 1);
    put(&s.folders[0], &account_rel(), b"{}", 1);
    r.sync_all();
    assert!(read(&s.folders[1], &coffer_temp).is_none());
    assert!(read(&s.folders[1], Path::new("~syncthing~x.tmp")).is_none());
    assert_holds(&s.folders[1], &account_rel(), b"{}");
}

#[test]
fn deletions_propagate_but_a_concurrent_change_wins() {
    let (s, mut r) = replicated(3);
    put(&s.folders[0], &device_rel(), b"v1", 1);
    put(&s.folders[0], Path::new("a/b/c.txt"), b"deep", 1);
    r.sync_all();
    fs::remove_file(s.folders[1].join(device_rel())).expect("delete");
    fs::remove_dir_all(s.folders[1].join("a")).expect("delete a directory");
    let stats = r.sync_all();
    assert_eq!(stats.deleted, 4, "{stats:?}");
    for f in &s.folders {
        assert!(read(f, &device_rel()).is_none());
        assert!(!f.join("a").exists(), "the emptied directories go too");
    }
    assert_eq!(r.sync_all().changes(), 0);

    // Delete on one side, change on another: the change comes back everywhere.
    put(&s.folders[0], &account_rel(), b"h1", 10);
    r.sync_all();
    fs::remove_file(s.folders[0].join(account_rel())).expect("delete");
    put(&s.folders[2], &account_rel(), b"h2", 20);
    r.sync_all();
    assert_all_hold(&s, &account_rel(), b"h2");
}

#[test]
fn sync_pair_goes_one_way_only_and_heals_later() {
    let (s, mut r) = replicated(3);
    put(&s.folders[0], Path::new("x"), b"from 0", 1);
    put(&s.folders[2], Path::new("y"), b"from 2", 1);
    r.sync_pair(0, 1);
    assert!(read(&s.folders[1], Path::new("x")).is_some());
    assert!(read(&s.folders[0], Path::new("y")).is_none());
    assert!(read(&s.folders[1], Path::new("y")).is_none());
    assert!(read(&s.folders[2], Path::new("x")).is_none(), "partitioned");
    // A deletion relays through a middle folder.
    fs::remove_file(s.folders[0].join("x")).expect("delete");
    r.sync_pair(0, 1);
    assert!(read(&s.folders[1], Path::new("x")).is_none());
    r.sync_all();
    for f in &s.folders {
        assert!(read(f, Path::new("x")).is_none());
        assert_holds(f, Path::new("y"), b"from 2");
    }
}

#[test]
fn overwrite_silently_loses_the_newer_version_of_the_target() {
    let (s, mut r) = replicated(2);
    put(&s.folders[0], &device_rel(), b"old", 1);
    put(&s.folders[1], &device_rel(), b"newer", 50);
    assert_eq!(r.sync_pair(0, 1).copied, 0, "an engine keeps the newer one");
    assert_eq!(r.overwrite_silently(0, 1).copied, 1);
    assert_holds(&s.folders[1], &device_rel(), b"old");
}

/// The shape an engine's conflict name of `name` (`stem` + `ext`) must have.
fn has_engine_shape(engine: Engine, name: &str, stem: &str, ext: &str, from: usize) -> bool {
    if engine == Engine::Rclone {
        // rclone appends its suffix to the whole name.
        return name == format!("{stem}{ext}..path{}", from + 1);
    }
    let Some(middle) = name.strip_prefix(stem).and_then(|m| m.strip_suffix(ext)) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match engine {
        Engine::Syncthing => {
            let Some(rest) = middle.strip_prefix(".sync-conflict-") else {
                return false;
            };
            let parts: Vec<&str> = rest.split('-').collect();
            parts.len() == 3
                && parts[0].len() == 8
                && digits(parts[0])
                && parts[1].len() == 6
                && digits(parts[1])
                && parts[2] == syncthing_short_id(from)
        }
        Engine::Dropbox => {
            let Some(rest) =
                middle.strip_prefix(&format!(" ({}'s conflicted copy ", host_name(from)))
            else {
                return false;
            };
            let Some(date) = rest.strip_suffix(')') else {
                return false;
            };
            let d: Vec<&str> = date.split('-').collect();
            d.len() == 3 && d[0].len() == 4 && d[1].len() == 2 && d[2].len() == 2
        }
        Engine::Nextcloud => {
            let Some(rest) = middle.strip_prefix(" (conflicted copy ") else {
                return false;
            };
            let Some((date, time)) = rest.strip_suffix(')').and_then(|r| r.split_once(' ')) else {
                return false;
            };
            date.len() == 10 && time.len() == 6 && digits(time)
        }
        Engine::ICloud => middle == " 2",
        Engine::OneDrive => middle == format!("-{}", host_name(from)),
        Engine::Unison => middle
            .strip_prefix(" (conflict_on_")
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|date| {
                let d: Vec<&str> = date.split('-').collect();
                d.len() == 3 && d[0].len() == 4 && d[1].len() == 2 && d[2].len() == 2
            }),
        Engine::Rclone => unreachable!("handled above"),
    }
}

fn expected_style(engine: Engine) -> ConflictStyle {
    match engine {
        Engine::Syncthing => ConflictStyle::Syncthing,
        Engine::Dropbox => ConflictStyle::Dropbox,
        Engine::Nextcloud => ConflictStyle::Nextcloud,
        Engine::ICloud => ConflictStyle::Duplicate,
        Engine::OneDrive => ConflictStyle::OneDrive,
        Engine::Rclone => ConflictStyle::Rclone,
        Engine::Unison => ConflictStyle::Unison,
    }
}

#[test]
fn conflict_copies_have_each_engines_names_and_are_recognised() {
    for engine in Engine::ALL {
        let (s, mut r) = replicated(2);
        put(
            &s.folders[0],
            &device_rel(),
            b"device file as seen by 0",
            10,
        );
        put(
            &s.folders[1],
            &device_rel(),
            b"device file as seen by 1",
            20,
        );
        put(&s.folders[0], &account_rel(), b"header of 0", 10);
        put(&s.folders[1], &account_rel(), b"header of 1", 20);
        put(&s.folders[0], Path::new("same"), b"same", 10);
        put(&s.folders[1], Path::new("same"), b"same", 10);
        let stats = r.conflict_copy(0, 1, engine);
        assert_eq!(stats.conflicts, 2, "{engine:?}: {stats:?}");

        let dir = s.folders[1].join(ACCOUNT);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().into_string().expect("UTF-8 names"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 4, "{engine:?}: {names:?}");
        assert_holds(&s.folders[1], &account_rel(), b"header of 1");
        assert_holds(&s.folders[1], &device_rel(), b"device file as seen by 1");
        let mut header_conflicts = 0;
        let mut device_conflicts = 0;
        for name in &names {
            let entry = classify(name);
            match &entry {
                Entry::AccountHeaderConflict { .. } => {
                    header_conflicts += 1;
                    assert!(
                        has_engine_shape(engine, name, "account", ".json", 0),
                        "{name:?}"
                    );
                    assert_eq!(fs::read(dir.join(name)).expect("read"), b"header of 0");
                }
                Entry::DeviceConflict { device_id } => {
                    device_conflicts += 1;
                    assert_eq!(device_id, DEVICE);
                    let stem = format!("device-{DEVICE}");
                    assert!(
                        has_engine_shape(engine, name, &stem, ".cofsync", 0),
                        "{name:?}"
                    );
                    assert_eq!(
                        fs::read(dir.join(name)).expect("read"),
                        b"device file as seen by 0"
                    );
                }
                Entry::AccountHeader | Entry::DeviceFile { .. } => continue,
                Entry::HeaderChange { .. }
                | Entry::HeaderChangeConflict { .. }
                | Entry::UnlockKey { .. }
                | Entry::UnlockKeyConflict { .. } => continue,
                Entry::DeltaFile { .. } | Entry::DeltaConflict { .. } => {
                    panic!("{engine:?}: {name:?}: no segment was written here")
                }
                Entry::Ignored(reason) => panic!("{engine:?}: {name:?} ignored: {reason:?}"),
            }
            assert_eq!(
                conflict_style(name),
                Some(expected_style(engine)),
                "{name:?}"
            );
        }
        assert_eq!((header_conflicts, device_conflicts), (1, 1), "{engine:?}");

        // Delivering again changes nothing; a third version gets the next free name.
        assert_eq!(r.conflict_copy(0, 1, engine).changes(), 0, "{engine:?}");
        put(&s.folders[0], &device_rel(), b"third version", 30);
        assert_eq!(r.conflict_copy(0, 1, engine).conflicts, 1, "{engine:?}");
        let conflicts: Vec<String> = fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| matches!(classify(n), Entry::DeviceConflict { .. }))
            .collect();
        assert_eq!(conflicts.len(), 2, "{engine:?}: {conflicts:?}");

        // The conflict copies are replicated like any file.
        r.sync_all();
        assert_eq!(files(&s.folders[0]), files(&s.folders[1]), "{engine:?}");
    }
}

#[test]
fn further_conflict_names_are_still_recognised() {
    let now = SystemTime::now();
    for engine in Engine::ALL {
        for n in 0..4 {
            let header = conflict_name(engine, "account.json", 1, now, n);
            assert!(
                matches!(classify(&header), Entry::AccountHeaderConflict { .. }),
                "{header:?}"
            );
            let device = conflict_name(engine, &format!("device-{DEVICE}.cofsync"), 2, now, n);
            assert_eq!(
                classify(&device),
                Entry::DeviceConflict {
                    device_id: DEVICE.to_owned()
                },
                "{device:?}"
            );
        }
    }
}

/// rclone bisync 1.60 on a file changed on both sides: the original is gone from both folders,
/// both versions are in both as `..path1` / `..path2`, and a later round changes nothing.
#[test]
fn an_rclone_conflict_renames_both_versions_away_in_both_folders() {
    let (s, mut r) = replicated(2);
    put(&s.folders[0], &account_rel(), b"header", 10);
    r.sync_all();
    put(&s.folders[0], &account_rel(), b"header of 0", 20);
    put(&s.folders[1], &account_rel(), b"header of 1", 30);
    let stats = r.rclone_conflict(account_rel(), 0, 1);
    assert_eq!((stats.conflicts, stats.deleted), (4, 2), "{stats:?}");
    let with = |suffix: &str| account_rel().with_file_name(format!("account.json{suffix}"));
    for f in &s.folders {
        assert_eq!(read(f, &account_rel()), None);
        assert_holds(f, &with("..path1"), b"header of 0");
        assert_holds(f, &with("..path2"), b"header of 1");
        for name in ["account.json..path1", "account.json..path2"] {
            assert_eq!(conflict_style(name), Some(ConflictStyle::Rclone), "{name}");
        }
    }
    assert_eq!(r.sync_all().changes(), 0, "both folders are alike");
    // Nothing to do for a file that is the same on both sides.
    put(&s.folders[0], &device_rel(), b"same", 10);
    r.sync_all();
    assert_eq!(r.rclone_conflict(device_rel(), 0, 1).changes(), 0);
}

#[test]
fn half_written_delivery_stays_truncated_until_completed() {
    let (s, mut r) = replicated(3);
    let bytes: Vec<u8> = (0..1001u32).map(|i| (i % 251) as u8).collect();
    put(&s.folders[0], &device_rel(), &bytes, 10);
    put(&s.folders[1], &device_rel(), b"what folder 1 had", 1);
    let half = r
        .deliver_half_written(0, 1, device_rel())
        .expect("half delivery");
    assert_eq!(half.path(), s.folders[1].join(device_rel()));
    assert_holds(&s.folders[1], &device_rel(), &bytes[..500]);
    // Other rounds neither finish nor spread the truncated file.
    r.sync_all();
    assert_holds(&s.folders[1], &device_rel(), &bytes[..500]);
    assert_holds(&s.folders[0], &device_rel(), &bytes[..]);
    assert_holds(&s.folders[2], &device_rel(), &bytes[..]);
    half.complete().expect("complete");
    assert_holds(&s.folders[1], &device_rel(), &bytes[..]);
    assert_eq!(r.sync_all().changes(), 0, "nothing left to do");

    // Completing later on a thread, and completing on drop.
    put(&s.folders[0], &account_rel(), b"0123456789", 20);
    let half = r
        .deliver_half_written(0, 2, account_rel())
        .expect("half delivery");
    assert_holds(&s.folders[2], &account_rel(), b"01234");
    half.complete_after(Duration::from_millis(20))
        .join()
        .expect("the thread")
        .expect("complete");
    assert_holds(&s.folders[2], &account_rel(), b"0123456789");
    put(&s.folders[0], &account_rel(), b"abcdef", 30);
    drop(
        r.deliver_half_written(0, 1, account_rel())
            .expect("half delivery"),
    );
    assert_holds(&s.folders[1], &account_rel(), b"abcdef");
}

#[test]
fn a_vanished_file_returns_and_is_not_taken_for_a_deletion() {
    let (s, mut r) = replicated(2);
    put(&s.folders[0], &device_rel(), b"here", 10);
    r.sync_all();
    let before = fs::metadata(s.folders[0].join(device_rel()))
        .expect("meta")
        .modified()
        .expect("mtime");
    let away = r
        .vanish_for(0, device_rel(), Duration::from_millis(300))
        .expect("vanish");
    assert!(!s.folders[0].join(device_rel()).exists(), "gone for now");
    let stats = r.sync_all();
    assert_eq!(stats.deleted, 0, "{stats:?}");
    assert!(
        s.folders[1].join(device_rel()).exists(),
        "not deleted elsewhere"
    );
    away.wait().expect("back");
    assert_holds(&s.folders[0], &device_rel(), b"here");
    let after = fs::metadata(s.folders[0].join(device_rel()))
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(before, after);
    assert_eq!(r.sync_all().changes(), 0);
}

#[test]
fn replayed_old_versions_spread_when_stamped_now() {
    let (s, mut r) = replicated(3);
    put(&s.folders[0], &device_rel(), b"old", 10);
    r.sync_all();
    put(&s.folders[0], &device_rel(), b"new", 20);
    r.sync_all();
    r.replay_old(2, device_rel(), b"old").expect("replay");
    r.sync_all();
    assert_all_hold(&s, &device_rel(), b"old");
    // Replayed with its old time, it stays where it was put until a newer copy reaches it.
    let path = s.folders[0].join(device_rel());
    fs::write(&path, b"newest").expect("write");
    let file = fs::File::options().write(true).open(&path).expect("open");
    file.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .expect("set mtime");
    r.sync_all();
    r.replay_old_at(
        1,
        device_rel(),
        b"old",
        UNIX_EPOCH + Duration::from_secs(1_704_067_210),
    )
    .expect("replay");
    assert_holds(&s.folders[1], &device_rel(), b"old");
    r.sync_all();
    assert_all_hold(&s, &device_rel(), b"newest");
}

#[test]
fn queued_deliveries_arrive_in_any_order_and_stale_ones_are_dropped() {
    let (s, mut r) = replicated(2);
    put(&s.folders[0], Path::new("f"), b"v1", 10);
    assert_eq!(r.enqueue(0, 1), 1);
    put(&s.folders[0], Path::new("f"), b"v2", 20);
    assert_eq!(r.enqueue(0, 1), 1);
    assert_eq!(r.queued(), 2);
    // Newest first: the late v1 must not undo v2.
    let stats = r.deliver_queued(Order::Lifo);
    assert_eq!(stats.copied, 1, "{stats:?}");
    assert_holds(&s.folders[1], Path::new("f"), b"v2");
    assert_eq!(r.queued(), 0);

    put(&s.folders[0], Path::new("g"), b"g", 10);
    assert_eq!(r.enqueue_all(), 1);
    assert_eq!(r.discard_queued(), 1, "a lost delivery");
    assert!(read(&s.folders[1], Path::new("g")).is_none());
}

#[test]
fn shuffled_rounds_converge_and_are_reproducible() {
    let run = |seed: u64| {
        let s = setup(4);
        let mut r = Replicator::with_seed(s.folders.clone(), seed);
        for (i, f) in s.folders.iter().enumerate() {
            for k in 0..5u64 {
                let rel = PathBuf::from(format!("d{}/f{k}", k % 2));
                put(f, &rel, format!("{i}-{k}").as_bytes(), 10 * k + i as u64);
            }
        }
        r.sync_all_shuffled();
        let reference = files(&s.folders[0]);
        let contents: Vec<Vec<u8>> = reference
            .iter()
            .map(|rel| read(&s.folders[0], rel).expect("read"))
            .collect();
        for f in &s.folders {
            assert_eq!(files(f), reference);
            for (rel, c) in reference.iter().zip(&contents) {
                assert_eq!(read(f, rel).as_ref(), Some(c));
            }
        }
        contents
    };
    assert_eq!(
        run(1),
        run(99),
        "the newest version wins whatever the order"
    );
}

#[test]
fn delayed_delivery_arrives_later() {
    let (s, mut r) = replicated(2);
    put(&s.folders[0], Path::new("late"), b"late", 10);
    let delayed = r.deliver_with_delay(0, 1, Duration::from_millis(200));
    assert!(read(&s.folders[1], Path::new("late")).is_none());
    let stats = delayed.wait();
    assert_eq!(stats.copied, 1);
    assert_holds(&s.folders[1], Path::new("late"), b"late");
}

#[test]
fn background_replication_until_dropped() {
    let (s, mut r) = replicated(2);
    let bg = r.background(Duration::from_millis(10));
    put(&s.folders[0], Path::new("bg"), b"bg", 10);
    let start = Instant::now();
    while read(&s.folders[1], Path::new("bg")).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "background replication"
        );
        thread::sleep(Duration::from_millis(5));
    }
    drop(bg);
    put(&s.folders[0], Path::new("after"), b"after", 10);
    thread::sleep(Duration::from_millis(100));
    assert!(read(&s.folders[1], Path::new("after")).is_none(), "stopped");
    assert!(r.take_errors().is_empty());
}

#[test]
fn utc_calendar() {
    let t = utc(0);
    assert_eq!(
        (t.year, t.month, t.day, t.hour, t.minute, t.second),
        (1970, 1, 1, 0, 0, 0)
    );
    let t = utc(951_782_400); // 2000-02-29
    assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
    let t = utc(1_709_251_199); // 2024-02-29 23:59:59
    assert_eq!(
        (t.year, t.month, t.day, t.hour, t.minute, t.second),
        (2024, 2, 29, 23, 59, 59)
    );
    let t = utc(4_102_444_800); // 2100-01-01
    assert_eq!((t.year, t.month, t.day), (2100, 1, 1));
    let t = utc(-1);
    assert_eq!((t.year, t.month, t.day, t.hour), (1969, 12, 31, 23));
}
