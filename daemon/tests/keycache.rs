//! Tests of the key cache against the real stores: memory, the kernel keyring (inside
//! `keyctl session -`) and a Secret Service (gnome-keyring under `dbus-run-session`).
//!
//! The OS-store tests re-execute this test binary inside the wrapper, with `COFFER_KEYCACHE_INNER`
//! naming the inner run. A missing tool skips a test with a note, unless `COFFER_REQUIRE_TOOLS=1`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cofferd::keycache::{CacheNamespace, KeyCache, KeyCacheError};

/// Names the inner run of a re-executed test.
const INNER_ENV: &str = "COFFER_KEYCACHE_INNER";
/// Hard limit for one re-executed test.
const INNER_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------- helpers

fn inner_mode() -> Option<String> {
    std::env::var(INNER_ENV).ok()
}

/// Where `tool` is on PATH.
fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// The paths of `tools`, or `None` after printing a skip note (a failure under
/// `COFFER_REQUIRE_TOOLS=1`).
fn require_tools(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    for tool in tools {
        match find_tool(tool) {
            Some(path) => found.push(path),
            None => {
                if std::env::var("COFFER_REQUIRE_TOOLS").as_deref() == Ok("1") {
                    panic!("{test}: `{tool}` is not installed and COFFER_REQUIRE_TOOLS=1");
                }
                eprintln!("SKIP {test}: `{tool}` is not installed (set COFFER_REQUIRE_TOOLS=1 to fail instead)");
                return None;
            }
        }
    }
    Some(found)
}

/// Random hex, for namespaces that never collide with earlier runs.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("tests need /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .expect("tests need /dev/urandom");
    key
}

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `cmd` to completion, killing it after [`INNER_TIMEOUT`].
fn run_with_timeout(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the re-executed test");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > INNER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the re-executed test did not finish within {INNER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Runs `wrapper`, the re-execution of this test binary for `test` alone, and fails when the
/// inner run fails.
fn run_inner(test: &str, wrapper: Command) {
    check_inner(test, &run_with_timeout(wrapper));
}

/// What [`run_inner`] checks of an inner run's `output`.
fn check_inner(test: &str, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- inner {test} stdout ---\n{stdout}--- inner stderr ---\n{stderr}---");
    assert!(
        output.status.success(),
        "inner run of {test} failed: {}",
        output.status
    );
    // The harness counts the test only when it really ran (not filtered out).
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the inner run did not run {test}"
    );
}

/// `program BEFORE… THIS-TEST-BINARY --exact TEST …` with [`INNER_ENV`] naming `test`: the
/// command that re-runs `test` alone, output shown, inside what `program` sets up (or directly,
/// with `program` `None`).
fn inner_command(program: Option<&Path>, before: &[&str], test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut cmd = match program {
        Some(p) => {
            let mut c = Command::new(p);
            c.args(before).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, test);
    cmd
}

/// Stores `value` under `user` with `secret-tool store` (the attributes the key cache writes,
/// plus `extra`), as someone other than the key cache would.
fn secret_tool_store(secret_tool: &Path, user: &str, extra: &[&str], value: &[u8]) {
    use std::io::Write;
    let mut child = Command::new(secret_tool)
        .args([
            "store", "--label", "foreign", "service", "coffer", "username", user,
        ])
        .args(["target", "default", "application", "rust-keyring"])
        .args(extra)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run secret-tool store");
    let written = child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(value);
    let status = child.wait().expect("wait for secret-tool store");
    assert!(
        written.is_ok() && status.success(),
        "secret-tool store failed"
    );
}

/// A value that is not a hex key (put under `bad` by someone else) is reported as corrupt,
/// never returned, and purge removes it.
fn assert_corrupt_entry_is_refused(cache: &KeyCache, bad: &CacheNamespace) {
    assert!(matches!(
        cache.load(bad),
        Err(KeyCacheError::Corrupt { .. })
    ));
    cache.purge(bad).expect("purge corrupt");
    assert_eq!(cache.load(bad).expect("load purged").as_deref(), None);
}

/// Whether `keyctl search @s user DESC` finds the key (the kernel's own view of the entry).
fn keyctl_finds(keyctl: &Path, description: &str) -> bool {
    Command::new(keyctl)
        .args(["search", "@s", "user", description])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// What `secret-tool search --all service coffer username USER` prints (attributes and secrets).
fn secret_tool_search(secret_tool: &Path, user: &str) -> String {
    let output = Command::new(secret_tool)
        .args(["search", "--all", "service", "coffer", "username", user])
        .stdin(Stdio::null())
        .output()
        .expect("run secret-tool");
    // secret-tool prints attributes on stderr and the secret on stdout, depending on version.
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn secret_tool_lookup(secret_tool: &Path, user: &str) -> Option<String> {
    let output = Command::new(secret_tool)
        .args(["lookup", "service", "coffer", "username", user])
        .stdin(Stdio::null())
        .output()
        .expect("run secret-tool");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The checks every OS store must pass: round trip, devices and epochs apart, a second cache
/// (a restarted daemon) sees the key, purge, purge_account. `present` is the store's own view.
fn exercise_store(cache: &KeyCache, present: &dyn Fn(&CacheNamespace) -> bool) {
    let account = format!("acct-{}", random_hex(8));
    let dev_a = CacheNamespace::new(account.clone(), 1, "device-a");
    let dev_b = CacheNamespace::new(account.clone(), 1, "device-b");
    let dev_a_epoch2 = CacheNamespace::new(account.clone(), 2, "device-a");
    let key_a = random_key();
    let key_b = random_key();

    assert_eq!(
        cache.load(&dev_a).expect("load before store").as_deref(),
        None
    );
    cache.store(&dev_a, &key_a).expect("store a");
    cache.store(&dev_b, &key_b).expect("store b");
    assert!(
        present(&dev_a),
        "the store does not show {dev_a} after storing it"
    );
    assert!(
        present(&dev_b),
        "the store does not show {dev_b} after storing it"
    );

    assert_eq!(
        *cache.load(&dev_a).expect("load a").expect("a cached"),
        key_a
    );
    assert_eq!(
        *cache.load(&dev_b).expect("load b").expect("b cached"),
        key_b
    );
    assert_eq!(
        cache
            .load(&dev_a_epoch2)
            .expect("load other epoch")
            .as_deref(),
        None,
        "another epoch must not see the key"
    );

    // A restarted daemon opens the cache again and finds the key.
    let started = Instant::now();
    let restarted = KeyCache::try_open().expect("reopen the forced backend");
    let open_took = started.elapsed();
    let started = Instant::now();
    for _ in 0..10 {
        assert!(restarted.load(&dev_b).expect("load b").is_some());
    }
    println!(
        "{}: open (with probe) {open_took:?}, load {:?} each",
        cache.backend(),
        started.elapsed() / 10
    );
    assert_eq!(restarted.backend(), cache.backend());
    assert_eq!(
        *restarted
            .load(&dev_a)
            .expect("reload a")
            .expect("a still cached"),
        key_a
    );

    // Overwrite replaces.
    let key_a2 = random_key();
    cache.store(&dev_a, &key_a2).expect("overwrite a");
    assert_eq!(
        *restarted.load(&dev_a).expect("load a2").expect("a2 cached"),
        key_a2
    );

    cache.purge(&dev_a).expect("purge a");
    assert!(
        !present(&dev_a),
        "{dev_a} is still in the store after purge"
    );
    assert_eq!(cache.load(&dev_a).expect("load purged").as_deref(), None);
    assert_eq!(
        restarted
            .load(&dev_a)
            .expect("load purged, restarted")
            .as_deref(),
        None
    );
    cache
        .purge(&dev_a)
        .expect("purging a missing entry is fine");
    assert_eq!(
        *cache
            .load(&dev_b)
            .expect("b survives")
            .expect("b still cached"),
        key_b
    );

    cache.store(&dev_a_epoch2, &key_a).expect("store epoch 2");
    cache.purge_account(&account).expect("purge the account");
    for ns in [&dev_a, &dev_b, &dev_a_epoch2] {
        assert!(
            !present(ns),
            "{ns} is still in the store after purge_account"
        );
        assert_eq!(
            cache.load(ns).expect("load after purge_account").as_deref(),
            None
        );
    }
}

// ---------------------------------------------------------------- memory

#[test]
fn memory_backend_round_trip_and_isolation() {
    let cache = KeyCache::memory();
    assert_eq!(cache.backend(), "memory");
    assert!(!cache.persistent());
    assert_eq!(cache.warning(), None);

    let a1 = CacheNamespace::new("acct-1", 1, "dev-a");
    let a1b = CacheNamespace::new("acct-1", 1, "dev-b");
    let a2 = CacheNamespace::new("acct-1", 2, "dev-a");
    let other = CacheNamespace::new("acct-2", 1, "dev-a");
    let (k1, k2, k3, k4) = (random_key(), random_key(), random_key(), random_key());

    assert_eq!(cache.load(&a1).expect("load").as_deref(), None);
    cache.store(&a1, &k1).expect("store");
    cache.store(&a1b, &k2).expect("store");
    cache.store(&a2, &k3).expect("store");
    cache.store(&other, &k4).expect("store");
    assert_eq!(*cache.load(&a1).expect("load").expect("cached"), k1);
    assert_eq!(*cache.load(&a1b).expect("load").expect("cached"), k2);
    assert_eq!(*cache.load(&a2).expect("load").expect("cached"), k3);
    assert_eq!(*cache.load(&other).expect("load").expect("cached"), k4);

    cache.purge(&a1).expect("purge");
    assert_eq!(cache.load(&a1).expect("load").as_deref(), None);
    assert_eq!(*cache.load(&a1b).expect("load").expect("cached"), k2);
    cache.purge(&a1).expect("purging a missing entry is fine");

    cache.purge_account("acct-1").expect("purge account");
    assert_eq!(cache.load(&a1b).expect("load").as_deref(), None);
    assert_eq!(cache.load(&a2).expect("load").as_deref(), None);
    assert_eq!(
        *cache
            .load(&other)
            .expect("load")
            .expect("other account kept"),
        k4
    );

    cache
        .purge_namespaces(&[other.clone(), a1.clone()])
        .expect("purge list");
    assert_eq!(cache.load(&other).expect("load").as_deref(), None);

    // A memory cache is per process: a second one is empty.
    cache.store(&a1, &k1).expect("store");
    assert_eq!(KeyCache::memory().load(&a1).expect("load").as_deref(), None);
}

#[test]
fn namespaces_are_validated() {
    let cache = KeyCache::memory();
    let key = random_key();
    for bad in [
        CacheNamespace::new("", 1, "dev"),
        CacheNamespace::new("acct", 1, ""),
        CacheNamespace::new("acct/1", 1, "dev"),
        CacheNamespace::new("acct", 1, "dev/x"),
        CacheNamespace::new("acct", 1, "dev@host"),
        CacheNamespace::new("acct", 1, "dev\n"),
    ] {
        assert!(
            matches!(
                cache.store(&bad, &key),
                Err(KeyCacheError::InvalidNamespace { .. })
            ),
            "{bad:?} accepted"
        );
        assert!(matches!(
            cache.load(&bad),
            Err(KeyCacheError::InvalidNamespace { .. })
        ));
    }
    assert_eq!(
        CacheNamespace::new("acct", 7, "dev").entry_user(),
        "acct/7/dev"
    );
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let cache = KeyCache::memory();
    let key = random_key();
    let ns = CacheNamespace::new("acct", 1, "dev");
    cache.store(&ns, &key).expect("store");
    let debug = format!("{cache:?}");
    assert!(!debug.contains(&hex(&key)), "Debug shows the key: {debug}");
    assert!(debug.contains("memory"), "{debug}");
    let loaded = cache.load(&ns).expect("load").expect("cached");
    // Zeroizing's Debug shows the bytes; the daemon must never Debug-print it, and the key cache
    // never does. Its errors carry no key either:
    let err = KeyCache::try_open_with(Some("no-such-store")).expect_err("unknown backend");
    assert!(matches!(err, KeyCacheError::UnknownBackend { .. }));
    assert!(!err.to_string().contains(&hex(&loaded)));
    assert!(err.to_string().contains("no-such-store"), "{err}");
}

#[test]
fn forced_backend_that_is_not_built_here_is_an_error() {
    let other = if cfg!(target_os = "macos") {
        "keyutils"
    } else {
        "keychain"
    };
    match KeyCache::try_open_with(Some(other)) {
        Err(KeyCacheError::Unavailable { backend, reason }) => {
            assert_eq!(backend, other);
            assert!(reason.contains("not available"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let memory = KeyCache::try_open_with(Some("memory")).expect("memory always works");
    assert_eq!(memory.backend(), "memory");
    assert!(!memory.persistent());
}

// ---------------------------------------------------------------- kernel keyring

/// keyutils, forced, in a fresh session keyring: round trip, two devices, a restarted daemon.
#[test]
fn kernel_keyring_real() {
    const NAME: &str = "kernel_keyring_real";
    if inner_mode().as_deref() == Some(NAME) {
        let keyctl = find_tool("keyctl").expect("the outer run checked keyctl");
        let cache = KeyCache::try_open().expect("keyutils works inside a session keyring");
        assert_eq!(cache.backend(), "keyutils");
        assert!(cache.persistent());
        assert_eq!(cache.warning(), None);
        let present = |ns: &CacheNamespace| {
            keyctl_finds(&keyctl, &format!("keyring-rs:{}@coffer", ns.entry_user()))
        };
        exercise_store(&cache, &present);

        // A value that is not a hex key is reported as corrupt, never returned.
        let bad = CacheNamespace::new(format!("acct-{}", random_hex(8)), 1, "device-c");
        let status = Command::new(&keyctl)
            .args(["add", "user"])
            .arg(format!("keyring-rs:{}@coffer", bad.entry_user()))
            .args(["not-a-key", "@s"])
            .stdout(Stdio::null())
            .status()
            .expect("run keyctl add");
        assert!(status.success(), "keyctl add failed");
        assert_corrupt_entry_is_refused(&cache, &bad);
        println!("inner {NAME}: keyutils store checked");
        return;
    }
    let Some(tools) = require_tools(NAME, &["keyctl"]) else {
        return;
    };
    let mut cmd = inner_command(Some(&tools[0]), &["session", "-"], NAME);
    cmd.env("COFFER_KEYRING", "keyutils")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_inner(NAME, cmd);
}

/// With a working session keyring and no D-Bus, automatic selection takes keyutils.
#[test]
fn auto_selection_takes_kernel_keyring_in_a_session() {
    const NAME: &str = "auto_selection_takes_kernel_keyring_in_a_session";
    if inner_mode().as_deref() == Some(NAME) {
        let cache = KeyCache::try_open_with(None).expect("automatic selection never fails");
        assert_eq!(
            cache.backend(),
            "keyutils",
            "warning: {:?}",
            cache.warning()
        );
        assert_eq!(cache.warning(), None);
        return;
    }
    let Some(tools) = require_tools(NAME, &["keyctl"]) else {
        return;
    };
    let mut cmd = inner_command(Some(&tools[0]), &["session", "-"], NAME);
    cmd.env_remove("COFFER_KEYRING")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_inner(NAME, cmd);
}

/// Without D-Bus, `open()` picks keyutils only if it really works, else memory with a warning that
/// names both reasons. Whether the kernel keyring works here is judged by the `keyring` crate's
/// keyutils credential used directly, and failed probes must leave no key behind.
#[test]
fn no_dbus_and_no_usable_session_keyring_falls_back_to_memory() {
    const NAME: &str = "no_dbus_and_no_usable_session_keyring_falls_back_to_memory";
    if inner_mode().as_deref() == Some(NAME) {
        let cache = KeyCache::open();
        let raw_works = raw_keyutils_round_trip();
        println!(
            "inner {NAME}: backend {} (raw keyutils round trip works: {raw_works}), warning: {:?}",
            cache.backend(),
            cache.warning()
        );
        match cache.backend() {
            "memory" => {
                assert!(!cache.persistent());
                let warning = cache.warning().expect("a memory fallback says why");
                assert!(warning.contains("memory"), "{warning}");
                assert!(
                    warning.contains("secret-service: DBUS_SESSION_BUS_ADDRESS is not set"),
                    "{warning}"
                );
                assert!(warning.contains("keyutils:"), "{warning}");
                assert!(warning.contains("session keyring"), "{warning}");
                assert!(!raw_works, "keyutils works here but was not chosen");
            }
            "keyutils" => {
                assert!(raw_works, "keyutils chosen though it does not work");
                let ns = CacheNamespace::new(format!("acct-{}", random_hex(8)), 1, "dev");
                let key = random_key();
                cache.store(&ns, &key).expect("store");
                assert_eq!(*cache.load(&ns).expect("load").expect("cached"), key);
                cache.purge(&ns).expect("purge");
            }
            other => panic!("without D-Bus the cache chose {other}"),
        }
        // Probes that failed half way (written, then refused) cleaned up after themselves.
        let probes = format!("keyring-rs:.probe/{}/", std::process::id());
        // Unlinked keys go once the kernel's key garbage collector has run.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let keys = std::fs::read_to_string("/proc/keys").unwrap_or_default();
            let left: Vec<&str> = keys.lines().filter(|l| l.contains(&probes)).collect();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "probe entries left behind: {left:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let mut cmd = inner_command(None, &[], NAME);
    cmd.env_remove("COFFER_KEYRING")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_inner(NAME, cmd);
}

/// Whether the `keyring` crate's keyutils credential, used directly, can write and read back an
/// entry in this process (cleaning up either way).
fn raw_keyutils_round_trip() -> bool {
    let user = format!("oracle/{}", random_hex(8));
    let Ok(credential) =
        keyring::keyutils::KeyutilsCredential::new_with_target(None, "coffer-test", &user)
    else {
        return false;
    };
    let entry = keyring::Entry::new_with_credential(Box::new(credential));
    let value = random_hex(16);
    let written = entry.set_secret(value.as_bytes()).is_ok();
    let read = entry.get_secret().ok();
    let works = written && read.as_deref() == Some(value.as_bytes());
    let _ = entry.delete_credential();
    if !works {
        // The crate cannot find what it half wrote; keyctl finds it through the special id of
        // the user-session keyring and unlinks it from there.
        if let Some(keyctl) = find_tool("keyctl") {
            let description = format!("keyring-rs:{user}@coffer-test");
            let found = Command::new(&keyctl)
                .args(["search", "@us", "user", &description])
                .stderr(Stdio::null())
                .output();
            if let Some(found) = found.ok().filter(|o| o.status.success()) {
                let serial = String::from_utf8_lossy(&found.stdout).trim().to_string();
                let _ = Command::new(&keyctl)
                    .args(["unlink", &serial, "@us"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    works
}

/// Forcing keyutils where it does not work is an error, and `open()` then says so.
#[test]
fn forced_keyutils_without_session_keyring_is_an_error() {
    const NAME: &str = "forced_keyutils_without_session_keyring_is_an_error";
    if inner_mode().as_deref() == Some(NAME) {
        match KeyCache::try_open() {
            Ok(cache) => {
                // This process has a working session keyring after all (a login session).
                assert_eq!(cache.backend(), "keyutils");
                println!("NOTE {NAME}: the session keyring works here; nothing to refuse");
            }
            Err(err) => {
                assert!(
                    matches!(
                        err,
                        KeyCacheError::Unavailable {
                            backend: "keyutils",
                            ..
                        }
                    ),
                    "{err:?}"
                );
                let cache = KeyCache::open();
                assert_eq!(cache.backend(), "memory");
                let warning = cache.warning().expect("the failed force is reported");
                assert!(warning.contains("COFFER_KEYRING"), "{warning}");
                assert!(warning.contains("keyutils"), "{warning}");
            }
        }
        return;
    }
    let mut cmd = inner_command(None, &[], NAME);
    cmd.env("COFFER_KEYRING", "keyutils")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_inner(NAME, cmd);
}

// ---------------------------------------------------------------- Secret Service

/// Builds the `dbus-run-session` + unlocked gnome-keyring wrapper around the test `name`, with a
/// temporary HOME and XDG directories. The returned guard keeps them alive.
fn secret_service_wrapper(name: &str, tools: &[PathBuf]) -> (Command, tempfile::TempDir) {
    let temp = tempfile::tempdir().expect("temporary HOME");
    let home = temp.path().join("home");
    let data = temp.path().join("data");
    let config = temp.path().join("config");
    let cache = temp.path().join("cache");
    let runtime = temp.path().join("run");
    for dir in [&home, &data, &config, &cache, &runtime] {
        std::fs::create_dir_all(dir).expect("create a temporary XDG directory");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
            .expect("chmod the runtime dir");
    }
    let script = "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
                  exec \"$0\" \"$@\"";
    let mut cmd = inner_command(Some(&tools[0]), &["--", "sh", "-c", script], name);
    cmd.env("HOME", &home)
        .env("XDG_DATA_HOME", &data)
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_CACHE_HOME", &cache)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("GNOME_KEYRING_CONTROL");
    (cmd, temp)
}

/// Secret Service (gnome-keyring), forced: round trip, two devices, a restarted daemon, and the
/// entries as `secret-tool` sees them.
#[test]
fn secret_service_real() {
    const NAME: &str = "secret_service_real";
    if inner_mode().as_deref() == Some(NAME) {
        let secret_tool = find_tool("secret-tool").expect("the outer run checked secret-tool");
        let cache = KeyCache::try_open().expect("the Secret Service works in this D-Bus session");
        assert_eq!(cache.backend(), "secret-service");
        assert!(cache.persistent());
        assert_eq!(cache.warning(), None);

        // The stored value is the key in lowercase hex, findable by service and user.
        let ns = CacheNamespace::new(format!("acct-{}", random_hex(8)), 3, "device-x");
        let key = random_key();
        cache.store(&ns, &key).expect("store");
        let found = secret_tool_search(&secret_tool, &ns.entry_user());
        assert!(
            found.contains(&format!("attribute.username = {}", ns.entry_user())),
            "secret-tool does not list the entry"
        );
        assert!(
            found.contains("attribute.service = coffer"),
            "no service attribute"
        );
        assert_eq!(
            secret_tool_lookup(&secret_tool, &ns.entry_user()).as_deref(),
            Some(hex(&key).as_str()),
            "the stored value is not the key in hex"
        );
        cache.purge(&ns).expect("purge");
        assert!(
            !secret_tool_search(&secret_tool, &ns.entry_user()).contains("attribute.username"),
            "secret-tool still lists the entry after purge"
        );
        assert_eq!(secret_tool_lookup(&secret_tool, &ns.entry_user()), None);

        let present =
            |ns: &CacheNamespace| secret_tool_lookup(&secret_tool, &ns.entry_user()).is_some();
        exercise_store(&cache, &present);

        // Two items matching one entry (written by someone else): load refuses to guess, store
        // replaces them with one, purge removes it.
        let dup = CacheNamespace::new(format!("acct-{}", random_hex(8)), 1, "device-d");
        for extra in ["1", "2"] {
            secret_tool_store(&secret_tool, &dup.entry_user(), &["extra", extra], b"00");
        }
        match cache.load(&dup) {
            Err(KeyCacheError::Backend { reason, .. }) => {
                assert!(reason.contains("2 entries match"), "{reason}")
            }
            other => panic!("expected an ambiguity error, got {other:?}"),
        }
        let key = random_key();
        cache.store(&dup, &key).expect("store over duplicates");
        assert_eq!(*cache.load(&dup).expect("load").expect("cached"), key);
        cache.purge(&dup).expect("purge");
        assert_eq!(secret_tool_lookup(&secret_tool, &dup.entry_user()), None);

        // A value that is not a hex key is reported as corrupt, never returned.
        let bad = CacheNamespace::new(format!("acct-{}", random_hex(8)), 1, "device-c");
        secret_tool_store(&secret_tool, &bad.entry_user(), &[], b"not-a-key");
        assert_corrupt_entry_is_refused(&cache, &bad);

        // Automatic selection takes the Secret Service when it works.
        let auto = KeyCache::try_open_with(None).expect("automatic selection never fails");
        assert_eq!(auto.backend(), "secret-service");
        println!("inner {NAME}: secret-service store checked");
        return;
    }
    let Some(tools) = require_tools(
        NAME,
        &["dbus-run-session", "gnome-keyring-daemon", "secret-tool"],
    ) else {
        return;
    };
    // gnome-keyring-daemon itself sometimes leaves the bus under heavy load (D-Bus then
    // activates a second, locked one): that one run is tried again, once, in a fresh session.
    for attempt in 1..=2 {
        let (mut cmd, _temp) = secret_service_wrapper(NAME, &tools);
        cmd.env("COFFER_KEYRING", "secret-service");
        let output = run_with_timeout(cmd);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if attempt == 1
            && !output.status.success()
            && stderr.contains("disconnected from message bus without replying")
        {
            println!("gnome-keyring-daemon left the bus mid-run; trying once more:\n{stderr}");
            continue;
        }
        check_inner(NAME, &output);
        return;
    }
}

/// A D-Bus session whose Secret Service has no unlocked keyring (D-Bus activation starts a bare
/// gnome-keyring): the probe fails and keyutils or memory is used.
#[test]
fn dbus_session_without_unlocked_secret_service_is_passed_over() {
    const NAME: &str = "dbus_session_without_unlocked_secret_service_is_passed_over";
    if inner_mode().as_deref() == Some(NAME) {
        let started = Instant::now();
        let err = KeyCache::try_open().expect_err("no Secret Service on this bus");
        assert!(
            matches!(
                err,
                KeyCacheError::Unavailable {
                    backend: "secret-service",
                    ..
                }
            ),
            "{err:?}"
        );
        let cache = KeyCache::try_open_with(None).expect("automatic selection never fails");
        assert_ne!(cache.backend(), "secret-service");
        if cache.backend() == "memory" {
            let warning = cache.warning().expect("a memory fallback says why");
            assert!(warning.contains("secret-service:"), "{warning}");
            assert!(
                !warning.contains("DBUS_SESSION_BUS_ADDRESS is not set"),
                "{warning}"
            );
        }
        println!(
            "inner {NAME}: refused in {:?}, then chose {} ({:?})",
            started.elapsed(),
            cache.backend(),
            cache.warning()
        );
        return;
    }
    let Some(tools) = require_tools(NAME, &["dbus-run-session"]) else {
        return;
    };
    let temp = tempfile::tempdir().expect("temporary HOME");
    let mut cmd = inner_command(Some(&tools[0]), &["--"], NAME);
    cmd.env("HOME", temp.path())
        .env("XDG_DATA_HOME", temp.path())
        .env("XDG_RUNTIME_DIR", temp.path())
        .env("COFFER_KEYRING", "secret-service")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_inner(NAME, cmd);
}

/// A D-Bus address whose peer accepts the connection and then never answers: the probe gives up
/// after its timeout instead of hanging, for a forced and for an automatic choice.
#[test]
fn hung_dbus_does_not_hang_open() {
    const NAME: &str = "hung_dbus_does_not_hang_open";
    if inner_mode().as_deref() == Some(NAME) {
        let started = Instant::now();
        let err = KeyCache::try_open().expect_err("a silent bus is no Secret Service");
        let forced_took = started.elapsed();
        match &err {
            KeyCacheError::Unavailable {
                backend: "secret-service",
                reason,
            } => {
                assert!(reason.contains("no answer within 3 s"), "{reason}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        let started = Instant::now();
        let cache = KeyCache::try_open_with(None).expect("automatic selection never fails");
        let auto_took = started.elapsed();
        assert_ne!(cache.backend(), "secret-service");
        if let Some(warning) = cache.warning() {
            assert!(
                warning.contains("secret-service: no answer within 3 s"),
                "{warning}"
            );
        }
        println!("inner {NAME}: forced gave up after {forced_took:?}, automatic chose {} after {auto_took:?}", cache.backend());
        for took in [forced_took, auto_took] {
            assert!(took < Duration::from_secs(5), "open took {took:?}");
        }
        return;
    }
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let temp = tempfile::tempdir().expect("temporary dir");
    let socket = temp.path().join("silent-bus");
    let listener = UnixListener::bind(&socket).expect("bind the silent bus");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    // Accepts connections and holds them open without ever reading or writing.
    let silent = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !stop_flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let mut cmd = inner_command(None, &[], NAME);
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", socket.display()),
    )
    .env("COFFER_KEYRING", "secret-service");
    run_inner(NAME, cmd);
    stop.store(true, Ordering::Relaxed);
    silent.join().expect("the silent bus thread ends");
}
