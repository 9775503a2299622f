//! Sync between devices through folders (issue 4), black-box: real
//! `cofferd` and `coffer` processes, one HOME per device, each device with
//! its own folder and the test replicator playing the sync engine between
//! them (delays, partitions, last-writer-wins, conflict copies of every
//! engine, vanishing and half-written files). In every scenario all devices
//! converge and no acknowledged edit is lost.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coffer_blackbox::replicator::{Engine, Replicator};
use coffer_blackbox::{shared_folder, Device};
use serde_json::Value;

const PW: &str = "correct horse";
const EMAIL: &str = "sync@example.org";

/// Polls `f` until it returns `Some`, or panics after `limit` saying `what`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn login(d: &Device, key: &str, folder: &Path) {
    d.with_env(&[("COFFER_PASSWORD", PW), ("COFFER_ACCOUNT_KEY", key)])
        .ok(&[
            "login",
            "--email",
            EMAIL,
            "--sync-folder",
            &folder.to_string_lossy(),
        ]);
}

fn item(d: &Device, q: &str) -> Option<Value> {
    let out = d.coffer(&["get", q, "--json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("get --json prints JSON"))
}

fn field(v: &Value, name: &str) -> String {
    match name {
        "title" | "username" | "password" | "url" | "notes" => {
            v[name].as_str().unwrap_or("").to_owned()
        }
        custom => v["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|x| x["name"] == custom))
            .and_then(|x| x["value"].as_str())
            .unwrap_or("")
            .to_owned(),
    }
}

fn history_values(d: &Device, q: &str, field_name: &str) -> Vec<String> {
    let h = d.json(&["history", q, "--json"]);
    h["entries"]
        .as_array()
        .expect("history has entries")
        .iter()
        .filter(|e| e["field"] == field_name)
        .map(|e| e["value"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `sync now` on every device, then one replicator round, a few times, so
/// that every published change reaches every folder and is merged.
fn settle(devices: &[&Device], rep: &mut Replicator) {
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

struct Fleet {
    _dirs: Vec<tempfile::TempDir>,
    folders: Vec<PathBuf>,
    devices: Vec<Device>,
    rep: Replicator,
    key: String,
}

/// `n` devices, each with its own folder; device 0 signs up, the others log in.
fn fleet(n: usize) -> Fleet {
    let dirs: Vec<_> = (0..n).map(|_| shared_folder()).collect();
    let folders: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let devices: Vec<Device> = (0..n)
        .map(|i| Device::with_sync_folder(&format!("dev{i}"), &folders[i]))
        .collect();
    let mut rep = Replicator::with_seed(folders.clone(), 7);
    let key = devices[0].signup(EMAIL, PW)["account_key"]
        .as_str()
        .expect("account_key")
        .to_owned();
    rep.sync_all();
    for (i, d) in devices.iter().enumerate().skip(1) {
        login(d, &key, &folders[i]);
    }
    Fleet {
        _dirs: dirs,
        folders,
        devices,
        rep,
        key,
    }
}

impl Fleet {
    fn settle(&mut self) {
        let refs: Vec<&Device> = self.devices.iter().collect();
        settle(&refs, &mut self.rep);
    }
}

/// Devices a and b signed in to one account on the shared `folder`.
fn signed_in_pair(folder: &Path) -> (Device, Device) {
    let a = Device::with_sync_folder("a", folder);
    let b = Device::with_sync_folder("b", folder);
    let key = a.signup(EMAIL, PW)["account_key"]
        .as_str()
        .unwrap()
        .to_owned();
    login(&b, &key, folder);
    (a, b)
}

fn account_id(d: &Device) -> String {
    d.json(&["status", "--json"])["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn shared_folder_propagates_within_a_fraction_of_a_second() {
    let folder = shared_folder();
    let (a, b) = signed_in_pair(folder.path());
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let title = format!("item {i}");
        a.ok(&["add", &title, "--password", &format!("pw{i}")]);
        let t = Instant::now();
        let got = wait_for(Duration::from_secs(5), "the item on device b", || {
            item(&b, &title)
        });
        worst = worst.max(t.elapsed());
        assert_eq!(got["password"], format!("pw{i}"));
    }
    eprintln!("slowest propagation a -> b: {worst:?}");
    // And back: an edit on b reaches a.
    b.ok(&["edit", "item 0", "--username", "bob"]);
    wait_for(Duration::from_secs(5), "b's edit on a", || {
        item(&a, "item 0").filter(|v| v["username"] == "bob")
    });
    // One file per device, each written only by its device.
    let acct = account_id(&a);
    let names: Vec<String> = std::fs::read_dir(folder.path().join(&acct))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".cofsync")).count(),
        2,
        "{names:?}"
    );
    assert!(names.contains(&"account.json".to_owned()));
}

/// The account folder inside the sync folder is deleted and made again
/// (a user restoring it from a backup, an engine re-creating it): both
/// daemons watch the new folder, put their files back, and keep syncing.
#[test]
fn an_account_folder_deleted_and_made_again_is_watched_again() {
    let folder = shared_folder();
    let (a, b) = signed_in_pair(folder.path());
    let acct = account_id(&a);
    let dir = folder.path().join(&acct);
    a.ok(&["add", "Before", "--password", "1"]);
    wait_for(Duration::from_secs(5), "Before on b", || item(&b, "Before"));

    // Gone and back at once: the new folder has a new inode.
    let saved = folder.path().join("saved");
    std::fs::rename(&dir, &saved).unwrap();
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(&saved).unwrap().flatten() {
        std::fs::rename(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::remove_dir(&saved).unwrap();

    a.ok(&["add", "After", "--password", "2"]);
    wait_for(Duration::from_secs(5), "After on b", || item(&b, "After"));
    b.ok(&["edit", "After", "--username", "bob"]);
    wait_for(Duration::from_secs(5), "b's edit on a", || {
        item(&a, "After").filter(|v| v["username"] == "bob")
    });
}

#[test]
fn concurrent_edits_of_different_and_same_fields_converge() {
    let mut f = fleet(3);
    f.devices[0].ok(&[
        "add",
        "Mail",
        "--username",
        "u0",
        "--password",
        "p0",
        "--field",
        "pin=0000",
    ]);
    f.settle();
    // Partition: each device edits offline.
    f.devices[0].ok(&["edit", "Mail", "--username", "from-a"]);
    f.devices[1].ok(&["edit", "Mail", "--password", "from-b"]);
    f.devices[2].ok(&["edit", "Mail", "--field", "pin=2222"]);
    f.settle();
    let views: Vec<Value> = f
        .devices
        .iter()
        .map(|d| item(d, "Mail").expect("Mail exists"))
        .collect();
    for v in &views {
        assert_eq!(field(v, "username"), "from-a");
        assert_eq!(field(v, "password"), "from-b");
        assert_eq!(field(v, "pin"), "2222");
    }
    // The same field on two devices: one winner everywhere, the loser in history.
    f.devices[0].ok(&["edit", "Mail", "--password", "same-a"]);
    f.devices[1].ok(&["edit", "Mail", "--password", "same-b"]);
    f.settle();
    let winners: Vec<String> = f
        .devices
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
    for d in &f.devices {
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
    let mut f = fleet(2);
    f.devices[0].ok(&["add", "Bank", "--password", "b0"]);
    f.settle();
    f.devices[0].ok(&["rm", "Bank"]);
    f.devices[1].ok(&["edit", "Bank", "--password", "b1"]);
    f.settle();
    for d in &f.devices {
        let v = item(d, "Bank").unwrap_or_else(|| panic!("{}: the edited item was lost", d.name()));
        assert_eq!(v["password"], "b1");
    }
    let reported = f.devices.iter().any(|d| {
        d.json(&["status", "--json"])["conflicts"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["kind"] == "delete-vs-edit"))
    });
    assert!(reported, "no device reported the delete-vs-edit conflict");
}

#[test]
fn conflict_copies_of_every_engine_are_merged_and_removed() {
    for engine in [
        Engine::Syncthing,
        Engine::Dropbox,
        Engine::Nextcloud,
        Engine::ICloud,
        Engine::OneDrive,
    ] {
        let mut f = fleet(2);
        let acct = f.devices[0].json(&["status", "--json"])["account_id"]
            .as_str()
            .unwrap()
            .to_owned();
        f.devices[0].ok(&["add", "Copy", "--password", "c0"]);
        f.devices[0].ok(&["sync", "now"]);
        // b's folder keeps a's old file and gets a's new one as a conflict copy.
        let stats = f.rep.conflict_copy(0, 1, engine);
        assert!(
            stats.conflicts > 0,
            "{engine:?}: the replicator made no conflict copy"
        );
        let dir = f.folders[1].join(&acct);
        let copies = || -> Vec<String> {
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| coffer_vault::sync_names::classify(n).is_conflict())
                .collect()
        };
        assert!(
            !copies().is_empty(),
            "{engine:?}: no conflict copy in b's folder"
        );
        let got = wait_for(
            Duration::from_secs(5),
            "the item from the conflict copy",
            || item(&f.devices[1], "Copy"),
        );
        assert_eq!(got["password"], "c0");
        wait_for(
            Duration::from_secs(5),
            "the merged conflict copy to be removed",
            || copies().is_empty().then_some(()),
        );
    }
}

#[test]
fn bad_files_are_reported_retried_and_never_lose_data() {
    let mut f = fleet(2);
    let acct = f.devices[0].json(&["status", "--json"])["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.devices[0].ok(&["add", "Keep", "--password", "k0"]);
    f.settle();
    // A half-written delivery of a's new file: reported, nothing lost.
    f.devices[0].ok(&["add", "Later", "--password", "l0"]);
    f.devices[0].ok(&["sync", "now"]);
    let a_id = f.devices[0].json(&["status", "--json"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_file = format!("device-{a_id}.cofsync");
    let rel = format!("{acct}/{a_file}");
    let half = f
        .rep
        .deliver_half_written(0, 1, &rel)
        .expect("half-written delivery");
    let b = &f.devices[1];
    let problem = wait_for(
        Duration::from_secs(5),
        "the truncated file to be reported",
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
        Duration::from_secs(10),
        "the completed file to be merged",
        || item(b, "Later"),
    );
    wait_for(Duration::from_secs(10), "the problem to clear", || {
        let s = b.json(&["sync", "list", "--json"]);
        s[0]["problems"]
            .as_array()
            .is_some_and(|p| p.is_empty())
            .then_some(())
    });
    // A file that vanishes for a moment is not a deletion.
    let v = f
        .rep
        .vanish_for(1, &rel, Duration::from_millis(400))
        .unwrap();
    b.ok(&["sync", "now"]);
    assert!(item(b, "Keep").is_some() && item(b, "Later").is_some());
    v.wait().unwrap();
    // A corrupt file and a file from another epoch are reported and left in place.
    let bogus = f.folders[1]
        .join(&acct)
        .join("device-00000000-0000-4000-8000-000000000001.cofsync");
    std::fs::write(&bogus, b"COFFER-SYNC 1\n{not json").unwrap();
    b.ok(&["sync", "now"]);
    let s = b.json(&["status", "--json"]);
    let text = s["sync_folders"].to_string();
    assert!(text.contains("000000000001.cofsync"), "{text}");
    assert!(bogus.exists(), "a bad file must be left in place");
    assert!(item(b, "Keep").is_some());
}

#[test]
fn a_locked_device_keeps_merging_and_resolves_at_unlock() {
    let mut f = fleet(3);
    f.devices[0].ok(&["add", "Shared", "--username", "u", "--password", "p"]);
    f.settle();
    f.devices[1].ok(&["lock"]);
    // Two devices edit different fields concurrently; the locked one merges both.
    f.devices[0].ok(&["edit", "Shared", "--username", "u-a"]);
    f.devices[2].ok(&["edit", "Shared", "--password", "p-c"]);
    f.devices[0].ok(&["add", "New", "--password", "n"]);
    f.settle();
    assert_eq!(
        f.devices[1].code(&["get", "Shared"]),
        3,
        "locked devices do not answer get"
    );
    // The others vanish: b's own container must already hold their changes.
    f.devices[0].stop_daemon();
    f.devices[2].stop_daemon();
    for folder in &f.folders {
        for e in walk(folder) {
            let name = e.file_name().unwrap().to_string_lossy().into_owned();
            let own = f.devices[1].json(&["status", "--json"])["device_id"]
                .as_str()
                .unwrap()
                .to_owned();
            if name.ends_with(".cofsync") && !name.contains(&own) {
                std::fs::remove_file(&e).unwrap();
            }
        }
    }
    f.devices[1]
        .with_env(&[("COFFER_PASSWORD", PW)])
        .ok(&["unlock"]);
    let v = item(&f.devices[1], "Shared").expect("Shared");
    assert_eq!(
        (field(&v, "username"), field(&v, "password")),
        ("u-a".into(), "p-c".into())
    );
    assert!(item(&f.devices[1], "New").is_some());
    let _ = &f.key;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn partitions_reordering_and_silent_overwrites_converge() {
    let mut f = fleet(3);
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
                f.rep.sync_pair(0, 1);
            }
            1 => {
                f.rep.overwrite_silently(2, 0);
                f.rep.sync_all_shuffled();
            }
            2 => {
                // A replay of an old copy of a's folder into c's.
                f.rep.enqueue_all();
                f.rep
                    .deliver_queued(coffer_blackbox::replicator::Order::Lifo);
            }
            _ => {
                f.rep.sync_all();
            }
        }
    }
    f.settle();
    let lists: Vec<Vec<String>> = f
        .devices
        .iter()
        .map(|d| {
            let mut t: Vec<String> = d
                .json(&["list", "--json"])
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["title"].as_str().unwrap().to_owned())
                .collect();
            t.sort();
            t
        })
        .collect();
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
    let key = a.json(&["kit", "--json"])["account_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = Device::with_sync_folder("b", two.path());
    login(&b, &key, two.path());
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
