//! Failing writes (issue 7): disk full, an I/O error, a rename refused (as
//! when a sync client holds the file). The faults are injected through the
//! daemon's seam (`COFFER_FAULT_FILE`, re-read before every write), not by
//! filling a disk. Each time: the change is not acknowledged (non-zero
//! exit, a message naming the cause), the previous file is intact byte for
//! byte, no temp file is left, the daemon's memory is rolled back, and it
//! works again as soon as the fault goes, across a restart too. A change
//! to the vault is appended to the container, which renames nothing: a
//! refused rename lets it through, and hits only whole writes (a password
//! change, below).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coffer_blackbox::folder::temp_names;
use coffer_blackbox::items::sorted_titles;
use coffer_blackbox::{shared_folder, stderr, Device};

use coffer_vault::format::Container;
use coffer_vault::segment::read_sync_file;

const PW: &str = "faulty horse battery";
const EMAIL: &str = "faults@example.org";

/// The three faults and the words the user sees for each.
const FAULTS: [(&str, &str); 3] = [
    ("disk-full", "No space left on device"),
    ("io-error", "Input/output error"),
    ("rename-refused", "Device or resource busy"),
];

struct Rig {
    dev: Device,
    fault_file: PathBuf,
    _sync: tempfile::TempDir,
}

impl Rig {
    fn new(name: &str) -> Rig {
        let sync = shared_folder();
        let mut dev = Device::with_sync_folder(name, sync.path());
        let fault_file = dev.home().join("fault");
        dev.set_env("COFFER_FAULT_FILE", fault_file.as_os_str().to_owned());
        dev.signup(EMAIL, PW);
        Rig {
            dev,
            fault_file,
            _sync: sync,
        }
    }

    fn fault(&self, spec: &str) {
        std::fs::write(&self.fault_file, format!("{spec}\n")).expect("the fault file is written");
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(&self.fault_file);
    }

    fn container(&self) -> PathBuf {
        self.dev.container()
    }

    fn titles(&self) -> Vec<String> {
        sorted_titles(&self.dev)
    }

    /// The account directory in the sync folder, and this device's id.
    fn account_dir(&self) -> (PathBuf, String) {
        let st = self.dev.json(&["status", "--json"]);
        let dir = self
            .dev
            .sync_folder()
            .expect("a sync folder")
            .join(st["account_id"].as_str().expect("account_id"));
        (dir, st["device_id"].as_str().expect("device_id").to_owned())
    }

    /// This device's files in the sync folder (its snapshot and delta
    /// segments), by name, with their bytes.
    fn device_files(&self) -> BTreeMap<String, Vec<u8>> {
        let (dir, id) = self.account_dir();
        let files: BTreeMap<String, Vec<u8>> = coffer_blackbox::names::files_of(&dir, &id)
            .into_iter()
            .map(|n| {
                let bytes = std::fs::read(dir.join(&n)).expect("readable");
                (n, bytes)
            })
            .collect();
        assert!(
            !files.is_empty(),
            "no sync file of device {id} in {}",
            dir.display()
        );
        files
    }
}

/// The record versions `files` hold together (each file parses).
fn versions(files: &BTreeMap<String, Vec<u8>>) -> usize {
    let mut all = coffer_vault::state::VaultState::new();
    for (name, b) in files {
        let f = read_sync_file(b).unwrap_or_else(|e| panic!("{name} parses: {e}"));
        all.union(f.state());
    }
    all.version_count()
}

/// No coffer temp file (`.….tmp`) left in `dir`. While a fault is in
/// force the daemon retries publishing in background rounds, and each
/// attempt has its temp file for the moment of the write (removed when the
/// write fails): a temp seen at one instant may be such an attempt, so the
/// check is that none stays (within a few seconds), not that none exists at
/// one instant.
fn assert_no_temp(dir: &Path) {
    coffer_blackbox::wait::wait_until(
        &format!("no temp file left in {}", dir.display()),
        std::time::Duration::from_secs(5),
        || temp_names(dir).is_empty().then_some(()),
        || format!("{:?}", temp_names(dir)),
    );
}

#[test]
fn failed_container_writes_are_not_acknowledged_and_the_daemon_recovers() {
    let rig = Rig::new("faults");
    let dev = &rig.dev;
    dev.ok(&["add", "Kept", "--password", "kept-pw", "--field", "pin=1"]);
    let container = rig.container();
    let data_dir = container.parent().unwrap().to_path_buf();
    let mut expected = vec!["Kept".to_owned()];

    // A change is appended to the container (no rename): disk full and I/O
    // errors hit it; a refused rename is tried below.
    for (kind, words) in &FAULTS[..2] {
        let (kind, words) = (*kind, *words);
        let before = std::fs::read(&container).unwrap();
        // Only the container is hit (its name ends in .coffer).
        rig.fault(&format!("{kind}:.coffer"));
        let title = format!("New {kind}");
        let attempts: [Vec<&str>; 4] = [
            vec!["add", &title, "--password", "never"],
            vec!["edit", "Kept", "--password", "never"],
            vec!["edit", "Kept", "--remove-field", "pin"],
            vec!["rm", "Kept"],
        ];
        for args in &attempts {
            let out = dev.coffer(args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} under {kind}: {err}");
            assert!(
                err.contains(words) && err.contains("nothing was changed"),
                "{args:?} under {kind}: unclear message {err:?}"
            );
            assert!(err.starts_with("coffer: "), "{err}");
            assert_eq!(
                std::fs::read(&container).unwrap(),
                before,
                "{args:?} under {kind} changed the container"
            );
            assert_no_temp(&data_dir);
        }
        // Nothing of the failed changes is visible, in memory either.
        assert_eq!(rig.titles(), expected, "under {kind}");
        assert_eq!(dev.ok(&["get", "Kept"]), "kept-pw\n");
        assert_eq!(dev.ok(&["get", "Kept", "--field", "pin"]), "1\n");
        let hist = dev.json(&["history", "Kept", "--json"]);
        assert!(
            !hist.to_string().contains("never"),
            "a failed edit reached the history: {hist}"
        );

        // The fault goes: the same change now works and is durable.
        rig.clear();
        dev.ok(&["add", &title, "--password", "now"]);
        expected.push(title.clone());
        expected.sort();
        assert_eq!(rig.titles(), expected);
        let after = std::fs::read(&container).unwrap();
        assert_ne!(after, before);
        Container::from_bytes(&after).expect("the container parses after recovery");
        assert_no_temp(&data_dir);
    }

    // A refused rename does not stop a change: appending renames nothing,
    // so the change is acknowledged and durable in the container.
    rig.fault("rename-refused:.coffer");
    dev.ok(&["add", "Appended", "--password", "a"]);
    expected.push("Appended".to_owned());
    expected.sort();
    let c = Container::from_bytes(&std::fs::read(&container).unwrap()).unwrap();
    assert!(c.appended.entries > 0, "{:?}", c.appended);
    assert_eq!(c.replica.state.live_item_count(), expected.len());
    assert_no_temp(&data_dir);
    rig.clear();

    // A restart reads exactly the acknowledged changes.
    dev.stop_daemon();
    let st = dev.json(&["status", "--json"]);
    if st["state"] == "locked" {
        dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    }
    assert_eq!(rig.titles(), expected);
    assert_eq!(dev.ok(&["get", "Kept"]), "kept-pw\n");
}

#[test]
fn failed_sync_publishing_is_reported_and_retried() {
    let rig = Rig::new("syncfault");
    let dev = &rig.dev;
    dev.ok(&["add", "One", "--password", "1"]);
    dev.ok(&["sync", "now"]);
    let (dir, _) = rig.account_dir();
    let mut published = rig.device_files();
    assert_eq!(versions(&published), 1);

    for (kind, words) in FAULTS {
        rig.fault(&format!("{kind}:.cofsync"));
        // The local change is durable and acknowledged: only publishing fails.
        dev.ok(&["add", &format!("Local {kind}"), "--password", "x"]);
        let report = dev.json(&["sync", "now", "--json"]);
        let folders = dev.json(&["sync", "list", "--json"]);
        let text = folders.to_string();
        assert!(
            text.contains(words) && text.contains("cannot write this device's file"),
            "under {kind} the problem is not reported: {folders} / {report}"
        );
        assert_eq!(
            rig.device_files(),
            published,
            "the published files changed under {kind}"
        );
        assert_no_temp(&dir);

        // The fault goes: the next round publishes and the problem clears.
        rig.clear();
        dev.ok(&["sync", "now"]);
        let now = rig.device_files();
        assert!(
            versions(&now) > versions(&published),
            "the change made under {kind} was not published once it went"
        );
        published = now;
        let folders = dev.json(&["sync", "list", "--json"]);
        assert_eq!(folders[0]["health"], "ok", "{folders}");
        assert_no_temp(&dir);
    }
    assert_eq!(versions(&rig.device_files()), 4, "every item was published");
}

#[test]
fn a_password_change_failing_on_the_container_changes_nothing() {
    password_change_fails_cleanly(&["disk-full:.coffer", "rename-refused:.coffer"]);
}

/// Known bug (reported with a fix for daemon.rs `passwd`): the container is
/// saved with the new header, then device.json fails, and nothing undoes the
/// container, so neither password opens this device's Account Key any more.
#[test]
fn a_password_change_failing_on_the_device_record_changes_nothing() {
    password_change_fails_cleanly(&["rename-refused:device.json", "io-error:device.json"]);
}

fn password_change_fails_cleanly(specs: &[&str]) {
    const NEW: &str = "a brand new password";
    let rig = Rig::new("passwd");
    let dev = &rig.dev;
    dev.ok(&["add", "Item", "--password", "p"]);
    let container = rig.container();
    for &spec in specs {
        let before = std::fs::read(&container).unwrap();
        let header_before = Container::from_bytes(&before).unwrap().account.to_json();
        rig.fault(spec);
        let out = dev
            .with_env(&[("COFFER_PASSWORD", PW), ("COFFER_NEW_PASSWORD", NEW)])
            .run(&["passwd"]);
        rig.clear();
        assert_eq!(
            out.status.code(),
            Some(1),
            "passwd under {spec}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("nothing was changed"),
            "{}",
            stderr(&out)
        );
        // The old password still unlocks, after a restart too.
        dev.ok(&["lock"]);
        let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
        assert!(
            out.status.success(),
            "after a failed passwd ({spec}) the old password no longer unlocks: {}",
            stderr(&out)
        );
        assert_eq!(dev.ok(&["get", "Item"]), "p\n");
        dev.stop_daemon();
        let st = dev.json(&["status", "--json"]);
        if st["state"] == "locked" {
            let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
            assert!(
                out.status.success(),
                "after a failed passwd ({spec}) and a restart the old password no longer unlocks: {}",
                stderr(&out)
            );
        }
        let now = Container::from_bytes(&std::fs::read(&container).unwrap()).unwrap();
        assert_eq!(
            now.account.to_json(),
            header_before,
            "the container's header changed although passwd failed ({spec})"
        );
    }
    // And a password change without a fault still works.
    dev.with_env(&[("COFFER_PASSWORD", PW), ("COFFER_NEW_PASSWORD", NEW)])
        .ok(&["passwd"]);
    dev.ok(&["lock"]);
    dev.with_env(&[("COFFER_PASSWORD", NEW)]).ok(&["unlock"]);
    assert_eq!(dev.ok(&["get", "Item"]), "p\n");
}
