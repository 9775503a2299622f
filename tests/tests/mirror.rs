//! A one-way mirror mistaken for sync (issue 20): `rsync -a --delete` run
//! both ways between two devices' folders, one right after the other. The
//! first direction deletes the second device's file every time (the first
//! folder never had it); the device writes it again at once, so its items
//! never reach the first device, and until now both said health `ok`.
//! Now the device whose file keeps disappearing says so in `status` and
//! `sync list` for that folder, with the likely cause, and the warning goes
//! once the file stopped disappearing for the window (shortened in this
//! test build with `COFFER_OWN_FILE_WINDOW`).
//!
//! Skipped (with a note) when rsync is not installed, unless
//! `COFFER_REQUIRE_TOOLS=1`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coffer_blackbox::items::item;
use coffer_blackbox::names::device_file_name;
use coffer_blackbox::wait::wait_until;
use coffer_blackbox::{run_with_timeout, shared_folder, text, tools, utf8, Device};
use serde_json::Value;

const EMAIL: &str = "mirror@example.org";
const PW: &str = "correct horse";
/// The window in which the device counts its file's disappearances (an hour in a real build).
const WINDOW: &str = "4s";
const LIMIT: Duration = Duration::from_secs(30);

/// `rsync -a --delete FROM/ TO/`.
fn mirror(rsync: &Path, from: &Path, to: &Path) {
    let mut cmd = Command::new(rsync);
    cmd.args(["-a", "--delete"])
        .arg(format!("{}/", utf8(from)))
        .arg(format!("{}/", utf8(to)));
    let out = run_with_timeout(cmd, Duration::from_secs(30)).expect("rsync ran");
    assert!(
        out.status.success(),
        "rsync failed: {}",
        coffer_blackbox::stderr(&out)
    );
}

/// The warning about this device's own file in `sync list --json`, if any.
fn own_file_warning(dev: &Device) -> Option<Value> {
    let list = dev.json(&["sync", "list", "--json"]);
    let folder = list.as_array()?.first()?.clone();
    let problem = folder["problems"]
        .as_array()?
        .iter()
        .find(|p| {
            p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("removed by something else"))
        })?
        .clone();
    Some(serde_json::json!({"health": folder["health"], "problem": problem}))
}

#[test]
fn a_device_whose_file_keeps_disappearing_says_so_until_it_stops() {
    let Some(rsync) = tools::require_tool("rsync") else {
        return;
    };
    let (fa, fb) = (shared_folder(), shared_folder());
    let mut a = Device::with_sync_folder("a", fa.path());
    let mut b = Device::with_sync_folder("b", fb.path());
    for d in [&mut a, &mut b] {
        d.set_env("COFFER_OWN_FILE_WINDOW", WINDOW);
    }
    let signed = a.signup(EMAIL, PW);
    let key = text(&signed["account_key"]);
    mirror(&rsync, fa.path(), fb.path());
    b.login_ok(EMAIL, PW, &key, fb.path());
    b.ok(&["add", "From b", "--password", "b0"]);
    let b_file = fb
        .path()
        .join(text(&signed["account_id"]))
        .join(device_file_name(&text(&b.status()["device_id"])));
    wait_until(
        "b publishes its file",
        LIMIT,
        || b_file.exists().then_some(()),
        || b.log(),
    );

    // The mistaken "sync": a -> b, then at once b -> a, every second. b's daemon is held still
    // while the two halves run, as a device slower than the mirror is: otherwise whether b
    // writes its files again before the second half starts (a millisecond race) decides
    // whether the mirror keeps deleting them.
    let b_pid = b.daemon_pid().expect("b's daemon runs");
    let started = Instant::now();
    let mut cycles = 0;
    let warning = wait_until(
        "b warns that its file keeps disappearing",
        LIMIT,
        || {
            assert!(coffer_blackbox::process::send_signal(b_pid, libc::SIGSTOP));
            mirror(&rsync, fa.path(), fb.path());
            mirror(&rsync, fb.path(), fa.path());
            assert!(coffer_blackbox::process::send_signal(b_pid, libc::SIGCONT));
            cycles += 1;
            std::thread::sleep(Duration::from_secs(1));
            own_file_warning(&b)
        },
        || format!("{:#}\n{}", b.status(), b.log()),
    );
    eprintln!(
        "b warned after {cycles} mirror cycles ({:?}): {warning:#}",
        started.elapsed()
    );
    assert_eq!(warning["health"], "problems", "{warning:#}");
    let problem = &warning["problem"];
    assert_eq!(problem["path"], utf8(&b_file), "{problem:#}");
    let reason = text(&problem["reason"]);
    assert!(reason.contains("rsync --delete"), "{reason}");
    assert!(reason.contains("both ways"), "{reason}");
    assert!(
        cycles >= 3,
        "a warning before three disappearances ({cycles})"
    );
    // The same in the human status, and b's items never reached a: the harm it warns about.
    assert!(b.ok(&["status"]).contains("removed by something else"));
    assert!(item(&a, "From b").is_none());
    // a's own file never disappeared: a has nothing to say.
    assert!(own_file_warning(&a).is_none(), "{:#}", a.status());

    // The mirror stops; a window later the warning is gone and the folder is healthy again.
    let stopped = Instant::now();
    wait_until(
        "b's warning to clear once its file stays",
        LIMIT,
        || own_file_warning(&b).is_none().then_some(()),
        || format!("{:#}", b.status()),
    );
    eprintln!(
        "the warning cleared {:?} after the mirror stopped",
        stopped.elapsed()
    );
    assert_eq!(b.status()["sync_folders"][0]["health"], "ok");
}
