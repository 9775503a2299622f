//! The daemon's key cache against REAL keyrings, end to end: a restarted
//! daemon comes back unlocked from the cache, and `lock` purges the entry.
//! Each test re-runs itself inside the service it needs: `keyctl session -`
//! for the kernel keyring, `dbus-run-session` with an unlocked
//! gnome-keyring for the Secret Service. Without the tools the tests skip,
//! unless `COFFER_REQUIRE_TOOLS=1` (as in CI), where they fail.

use std::process::Command;
use std::time::Duration;

use coffer_blackbox::{tools, Device};

const INNER: &str = "COFFER_KEYRING_TEST_INNER";

/// How long one inner run may take.
const INNER_TIMEOUT: Duration = Duration::from_secs(120);

/// The scenario, run inside a session where `backend` works.
fn scenario(backend: &str, entry_exists: impl Fn(&str) -> bool) {
    let mut d = Device::new("keyring");
    d.set_env("COFFER_KEYRING", backend);
    let signup = d.signup("kr@example.org", "pw");
    let status = d.json(&["status", "--json"]);
    assert_eq!(status["key_cache"]["backend"], backend, "{status}");
    assert_eq!(status["key_cache"]["persistent"], true);
    let user = format!(
        "{}/{}/{}",
        signup["account_id"].as_str().unwrap(),
        status["epoch"],
        status["device_id"].as_str().unwrap()
    );
    assert!(
        entry_exists(&user),
        "no {backend} entry for {user} after signup"
    );
    d.ok(&["add", "Cached", "--password", "c"]);
    let first_pid = d.daemon_pid();
    d.stop_daemon();
    // A restarted daemon resumes unlocked from the cache, without a password.
    let status = d.json(&["status", "--json"]);
    assert_ne!(d.daemon_pid(), first_pid, "the daemon was not restarted");
    assert_eq!(status["state"], "unlocked", "{status}");
    assert_eq!(d.ok(&["get", "Cached"]).trim(), "c");
    // Lock purges the entry; the next restart comes back locked.
    d.ok(&["lock"]);
    assert!(!entry_exists(&user), "the {backend} entry survived lock");
    d.stop_daemon();
    assert_eq!(d.json(&["status", "--json"])["state"], "locked");
    d.with_env(&[("COFFER_PASSWORD", "pw")]).ok(&["unlock"]);
    assert!(entry_exists(&user), "unlock did not cache the key again");
    d.ok(&["lock"]);
}

#[test]
fn kernel_keyring_resumes_and_purges() {
    const NAME: &str = "kernel_keyring_resumes_and_purges";
    if tools::is_inner(INNER, NAME) {
        scenario("keyutils", |user| {
            Command::new("keyctl")
                .args(["search", "@s", "user", &format!("keyring-rs:{user}@coffer")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        return;
    }
    let Some(found) = tools::require(NAME, &["keyctl"]) else {
        return;
    };
    let mut cmd = tools::self_command(&found[0], &["session", "-"], INNER, NAME);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    tools::run_inner(cmd, NAME, INNER_TIMEOUT);
}

#[test]
fn secret_service_resumes_and_purges() {
    const NAME: &str = "secret_service_resumes_and_purges";
    if tools::is_inner(INNER, NAME) {
        scenario("secret-service", |user| {
            Command::new("secret-tool")
                .args(["search", "service", "coffer", "username", user])
                .output()
                .is_ok_and(|o| {
                    String::from_utf8_lossy(&o.stdout).contains(user)
                        || String::from_utf8_lossy(&o.stderr).contains(user)
                })
        });
        return;
    }
    let Some(found) = tools::require(
        NAME,
        &["dbus-run-session", "gnome-keyring-daemon", "secret-tool"],
    ) else {
        return;
    };
    let temp = tempfile::tempdir().expect("a temporary home for gnome-keyring");
    let run = temp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let script = "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec \"$0\" \"$@\"";
    let mut cmd = tools::self_command(&found[0], &["--", "sh", "-c", script], INNER, NAME);
    cmd.env("HOME", temp.path())
        .env("XDG_DATA_HOME", temp.path().join("data"))
        .env("XDG_RUNTIME_DIR", &run)
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    tools::run_inner(cmd, NAME, INNER_TIMEOUT);
}
