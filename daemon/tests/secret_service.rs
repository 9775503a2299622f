//! The Secret Service provider against real clients, each test on a private
//! session bus of its own (`dbus-daemon` with a generated configuration: no
//! service activation unless the test asks, so nothing else can answer for
//! `org.freedesktop.secrets`), with a [`MemoryStore`] behind the provider
//! and a temporary HOME for every client.
//!
//! Clients: `secret-tool` (libsecret, which negotiates the DH session),
//! python-keyring's SecretService backend (secretstorage), `git
//! credential-libsecret` (not packaged by Debian: named by
//! `COFFER_GIT_CREDENTIAL_LIBSECRET`, found on PATH or in git's exec path,
//! else built from the source git ships in its contrib directory when
//! libsecret's headers are installed), gnome-keyring-daemon (to own the
//! name first), and a zbus client for the protocol's corners (errors,
//! signals, sessions, prompts) no command-line tool reaches.
//!
//! Every command and every test has a hard timeout. A missing tool skips a
//! test with a note, unless `COFFER_REQUIRE_TOOLS=1`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coffer_blackbox::dbus::{git_credential_libsecret, python_with_keyring, PrivateBus, PY_SET};
use cofferd::secret_service::crypto::{KeyPair, DH_IETF1024};
use cofferd::secret_service::{
    activation, current_owner, Attributes, Bus, CollectionId, MemoryStore, MemoryStoreOptions,
    NewItem, Secret, SecretServiceProvider, SecretStore, StartError, LOGIN,
};
use futures_util::StreamExt;
use tempfile::TempDir;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zeroize::Zeroizing;

/// The longest one client command may take.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// How long to wait for something to happen (a prompt, a name owner).
const WAIT: Duration = Duration::from_secs(30);
/// Names the inner run of the activation test.
const INNER_ENV: &str = "COFFER_SS_INNER";

// ---------------------------------------------------------------- tools

fn find_tool(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn required() -> bool {
    std::env::var("COFFER_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Skips (returns false) or, under `COFFER_REQUIRE_TOOLS=1`, fails.
fn missing(test: &str, what: &str) -> bool {
    if required() {
        panic!("{test}: {what}, and COFFER_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIP {test}: {what} (set COFFER_REQUIRE_TOOLS=1 to fail instead)");
    false
}

fn have_tools(test: &str, tools: &[&str]) -> bool {
    for t in tools {
        if find_tool(t).is_none() {
            return missing(test, &format!("`{t}` is not installed"));
        }
    }
    true
}

/// Runs `cmd` with `stdin`, killing it after `timeout`.
fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let line = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for a child") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!("{line} did not finish within {timeout:?} and was killed; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// [`run`] from async code.
async fn run_async(cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || run(cmd, stdin.as_deref(), CMD_TIMEOUT))
        .await
        .expect("the command runner thread")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------- log capture

/// Everything the provider logs (target `cofferd`, debug and up) in this
/// test process, to check callers are logged and secrets never are.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("cofferd=debug"))
            .with_ansi(false)
            .with_writer(move || LogWriter(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    text(&log().lock().unwrap_or_else(|e| e.into_inner()))
}

fn assert_never_logged(secrets: &[&str]) {
    let l = log_text();
    for s in secrets {
        assert!(!l.contains(s), "the secret {s:?} appears in the log");
    }
}

// ---------------------------------------------------------------- the bus

/// The provider's view of a private bus.
fn bus_of(bus: &PrivateBus) -> Bus {
    Bus::Address(bus.address().to_string())
}

/// A temporary HOME for the clients.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("sshome")
            .tempdir_in("/tmp")
            .expect("a temporary HOME");
        std::fs::create_dir_all(dir.path().join("run")).expect("runtime dir");
        std::fs::set_permissions(
            dir.path().join("run"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod the runtime dir");
        Home { dir }
    }

    /// `program` with only this HOME, the bus and PATH in its environment.
    fn cmd(&self, bus: &PrivateBus, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
            .env("LANG", "C.UTF-8");
        c
    }
}

// ---------------------------------------------------------------- fixture

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs an async test body with the hard test timeout.
fn run_test<F: std::future::Future<Output = ()>>(name: &str, f: F) {
    log();
    runtime().block_on(async {
        if tokio::time::timeout(TEST_TIMEOUT, f).await.is_err() {
            panic!("{name} did not finish within {TEST_TIMEOUT:?}");
        }
    });
}

/// A bus, a store, the provider on it, and a HOME for clients.
struct Fixture {
    bus: PrivateBus,
    store: Arc<MemoryStore>,
    provider: Option<SecretServiceProvider>,
    home: Home,
}

impl Fixture {
    async fn start(options: MemoryStoreOptions) -> Fixture {
        Fixture::start_with(Arc::new(MemoryStore::new(options))).await
    }

    async fn start_with(store: Arc<MemoryStore>) -> Fixture {
        let bus = PrivateBus::start(None, &[]);
        let provider = SecretServiceProvider::start(store.clone(), &bus_of(&bus))
            .await
            .expect("the provider starts on a free bus");
        Fixture {
            bus,
            store,
            provider: Some(provider),
            home: Home::new(),
        }
    }

    fn provider(&self) -> &SecretServiceProvider {
        self.provider.as_ref().expect("running")
    }

    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.home.cmd(&self.bus, program)
    }

    async fn stop(mut self) {
        if let Some(p) = self.provider.take() {
            p.stop().await;
        }
    }

    async fn login_items(&self) -> Vec<cofferd::secret_service::ItemInfo> {
        self.store
            .items(&CollectionId(LOGIN.into()))
            .await
            .expect("list login")
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits until `f` holds, or fails after [`WAIT`] saying `what`.
async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- secret-tool

#[test]
fn secret_tool_stores_looks_up_searches_and_clears_through_the_provider() {
    let name = "secret_tool_stores_looks_up_searches_and_clears_through_the_provider";
    if !have_tools(name, &["dbus-daemon", "secret-tool"]) {
        return;
    }
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions::default()).await;
        let pw = "pässwörd ✓ st-1f9c";

        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args([
                    "store",
                    "--label=GitHub token",
                    "service",
                    "github",
                    "user",
                    "alice",
                ]);
                c
            },
            Some(pw.as_bytes().to_vec()),
        )
        .await;
        ok(&out, "secret-tool store");
        let items = fx.login_items().await;
        assert_eq!(items.len(), 1, "one item in the login collection");
        assert_eq!(items[0].label, "GitHub token");
        assert_eq!(
            items[0].attributes.get("service").map(String::as_str),
            Some("github")
        );
        assert_eq!(
            items[0].attributes.get("user").map(String::as_str),
            Some("alice")
        );
        let stored = fx
            .store
            .secret(&CollectionId(LOGIN.into()), &items[0].id)
            .await
            .unwrap();
        assert_eq!(stored.value(), pw.as_bytes(), "the secret arrived intact");
        assert_eq!(stored.content_type(), "text/plain");

        let lookup = |args: &[&str]| {
            let mut c = fx.cmd("secret-tool");
            c.arg("lookup").args(args);
            c
        };
        let out = run_async(lookup(&["service", "github", "user", "alice"]), None).await;
        ok(&out, "secret-tool lookup");
        assert_eq!(text(&out.stdout), pw);

        // libsecret negotiates the DH session: the secret crossed the bus
        // encrypted, and came back through our decryption and encryption.
        let stats = fx.provider().session_stats();
        assert!(stats.dh >= 2, "secret-tool used DH sessions: {stats:?}");
        assert_eq!(stats.plain, 0, "{stats:?}");

        // Storing the same attributes replaces.
        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args([
                    "store",
                    "--label=GitHub token 2",
                    "service",
                    "github",
                    "user",
                    "alice",
                ]);
                c
            },
            Some(b"second-st-1f9c".to_vec()),
        )
        .await;
        ok(&out, "secret-tool store (replace)");
        let items = fx.login_items().await;
        assert_eq!(items.len(), 1, "replaced, not added");
        assert_eq!(items[0].label, "GitHub token 2");

        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args([
                    "store",
                    "--label=GitLab",
                    "service",
                    "gitlab",
                    "user",
                    "alice",
                ]);
                c
            },
            Some(b"third-st-1f9c".to_vec()),
        )
        .await;
        ok(&out, "secret-tool store (second item)");

        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args(["search", "--all", "user", "alice"]);
                c
            },
            None,
        )
        .await;
        ok(&out, "secret-tool search --all");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for want in [
            "label = GitHub token 2",
            "label = GitLab",
            "secret = second-st-1f9c",
            "secret = third-st-1f9c",
            "attribute.service = gitlab",
            "attribute.user = alice",
        ] {
            assert!(all.contains(want), "search output lacks {want:?}:\n{all}");
        }

        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args(["clear", "service", "github", "user", "alice"]);
                c
            },
            None,
        )
        .await;
        ok(&out, "secret-tool clear");
        let items = fx.login_items().await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].label, "GitLab");
        let out = run_async(lookup(&["service", "github", "user", "alice"]), None).await;
        assert!(!out.status.success(), "lookup of a cleared item fails");
        assert!(out.stdout.is_empty());

        // Every call was logged with the caller's program and pid; no
        // secret was.
        let l = log_text();
        assert!(
            l.contains("Secret Service call") && l.contains("secret-tool") && l.contains("pid="),
            "callers are logged at debug:\n{l}"
        );
        assert_never_logged(&[pw, "second-st-1f9c", "third-st-1f9c"]);
        fx.stop().await;
    });
}

// ---------------------------------------------------------------- python-keyring

#[test]
fn python_keyring_sets_gets_and_deletes_through_the_provider() {
    let name = "python_keyring_sets_gets_and_deletes_through_the_provider";
    if !have_tools(name, &["dbus-daemon"]) {
        return;
    }
    let Some(python) = python_with_keyring() else {
        missing(
            name,
            "no python3 with keyring and secretstorage (Debian: python3-keyring)",
        );
        return;
    };
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions::default()).await;
        let pw = "py-secret-84d1 ✓";
        let backend = "keyring.backends.SecretService.Keyring";

        let out = run_async(
            {
                let mut c = fx.cmd(&python);
                c.args(["-c", PY_SET, "coffer-test", "bob"]);
                c
            },
            Some(pw.as_bytes().to_vec()),
        )
        .await;
        ok(&out, "keyring set_password");
        let items = fx.login_items().await;
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].attributes.get("service").map(String::as_str),
            Some("coffer-test")
        );
        assert_eq!(
            items[0].attributes.get("username").map(String::as_str),
            Some("bob")
        );

        let get = || {
            let mut c = fx.cmd(&python);
            c.args(["-m", "keyring", "-b", backend, "get", "coffer-test", "bob"]);
            c
        };
        let out = run_async(get(), None).await;
        ok(&out, "python3 -m keyring get");
        assert_eq!(text(&out.stdout).trim_end_matches('\n'), pw);

        let out = run_async(
            {
                let mut c = fx.cmd(&python);
                c.args(["-m", "keyring", "-b", backend, "del", "coffer-test", "bob"]);
                c
            },
            None,
        )
        .await;
        ok(&out, "python3 -m keyring del");
        assert!(fx.login_items().await.is_empty(), "deleted from the store");
        let out = run_async(get(), None).await;
        assert!(
            !out.status.success() || text(&out.stdout).trim().is_empty(),
            "get after del finds nothing"
        );
        let stats = fx.provider().session_stats();
        assert!(stats.dh >= 1, "secretstorage used a DH session: {stats:?}");
        assert_never_logged(&[pw]);
        fx.stop().await;
    });
}

// ---------------------------------------------------------------- git credential-libsecret

#[test]
fn git_credential_libsecret_stores_gets_and_erases_through_the_provider() {
    let name = "git_credential_libsecret_stores_gets_and_erases_through_the_provider";
    if !have_tools(name, &["dbus-daemon"]) {
        return;
    }
    let build = TempDir::new().expect("a build directory");
    let helper = match git_credential_libsecret(build.path()) {
        Ok(h) => h,
        Err(why) => {
            missing(name, &why);
            return;
        }
    };
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions::default()).await;
        let pw = "git-token-5e0a";
        let helper_cmd = |op: &str| {
            let mut c = fx.cmd(&helper);
            c.arg(op);
            c
        };
        let out = run_async(
            helper_cmd("store"),
            Some(
                format!("protocol=https\nhost=example.com\nusername=bob\npassword={pw}\n\n")
                    .into_bytes(),
            ),
        )
        .await;
        ok(&out, "git credential-libsecret store");
        let items = fx.login_items().await;
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].attributes.get("server").map(String::as_str),
            Some("example.com")
        );
        assert_eq!(
            items[0].attributes.get("user").map(String::as_str),
            Some("bob")
        );

        let out = run_async(
            helper_cmd("get"),
            Some(b"protocol=https\nhost=example.com\n\n".to_vec()),
        )
        .await;
        ok(&out, "git credential-libsecret get");
        let got = text(&out.stdout);
        assert!(got.contains("username=bob\n"), "{got}");
        assert!(got.contains(&format!("password={pw}\n")), "{got}");

        let out = run_async(
            helper_cmd("erase"),
            Some(b"protocol=https\nhost=example.com\nusername=bob\n\n".to_vec()),
        )
        .await;
        ok(&out, "git credential-libsecret erase");
        assert!(fx.login_items().await.is_empty());
        let out = run_async(
            helper_cmd("get"),
            Some(b"protocol=https\nhost=example.com\n\n".to_vec()),
        )
        .await;
        assert!(!text(&out.stdout).contains("password="), "erased");
        assert_never_logged(&[pw]);
        fx.stop().await;
    });
}

// ---------------------------------------------------------------- locking

#[test]
fn a_locked_store_answers_secret_tool_with_a_prompt_that_unlock_completes() {
    let name = "a_locked_store_answers_secret_tool_with_a_prompt_that_unlock_completes";
    if !have_tools(name, &["dbus-daemon", "secret-tool"]) {
        return;
    }
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions::default()).await;
        let out = run_async(
            {
                let mut c = fx.cmd("secret-tool");
                c.args(["store", "--label=wifi", "ssid", "home"]);
                c
            },
            Some(b"lk-secret-0b7e".to_vec()),
        )
        .await;
        ok(&out, "secret-tool store");
        fx.store.lock_now();
        let requests = fx.store.unlock_requests();

        // lookup: the search lists the item as locked, libsecret asks to
        // unlock it, the prompt waits for `coffer unlock`.
        let lookup = {
            let mut c = fx.cmd("secret-tool");
            c.args(["lookup", "ssid", "home"]);
            tokio::spawn(run_async(c, None))
        };
        {
            let r = requests.clone();
            wait_until(
                "secret-tool's unlock request reaches the store",
                move || !r.borrow().is_empty(),
            )
            .await;
        }
        let req = requests.borrow().clone();
        assert_eq!(req.len(), 1);
        assert!(
            req[0].requester.contains("secret-tool") && req[0].requester.contains("pid"),
            "the request names its client: {:?}",
            req[0].requester
        );
        assert!(!lookup.is_finished(), "lookup waits while locked");
        assert_eq!(fx.provider().pending_prompts(), 1);
        fx.store.unlock();
        let out = lookup.await.expect("lookup task");
        ok(&out, "secret-tool lookup after unlock");
        assert_eq!(text(&out.stdout), "lk-secret-0b7e");
        assert_eq!(fx.provider().pending_prompts(), 0, "the prompt is gone");

        // store while locked: CreateItem says IsLocked, libsecret unlocks
        // the collection through a prompt and retries.
        fx.store.lock_now();
        let store = {
            let mut c = fx.cmd("secret-tool");
            c.args(["store", "--label=vpn", "host", "vpn.example"]);
            tokio::spawn(run_async(c, Some(b"lk-secret-2".to_vec())))
        };
        {
            let r = requests.clone();
            wait_until("the store's unlock request arrives", move || {
                !r.borrow().is_empty()
            })
            .await;
        }
        fx.store.unlock();
        ok(
            &store.await.expect("store task"),
            "secret-tool store after unlock",
        );
        assert!(fx.login_items().await.iter().any(|i| i.label == "vpn"));
        assert_never_logged(&["lk-secret-0b7e", "lk-secret-2"]);
        fx.stop().await;
    });
}

#[test]
fn a_store_that_cannot_search_while_locked_still_prompts_python_keyring_and_secret_tool() {
    let name =
        "a_store_that_cannot_search_while_locked_still_prompts_python_keyring_and_secret_tool";
    if !have_tools(name, &["dbus-daemon", "secret-tool"]) {
        return;
    }
    let Some(python) = python_with_keyring() else {
        missing(
            name,
            "no python3 with keyring and secretstorage (Debian: python3-keyring)",
        );
        return;
    };
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions {
            metadata_while_locked: false,
            locked: false,
        })
        .await;
        let out = run_async(
            {
                let mut c = fx.cmd(&python);
                c.args(["-c", PY_SET, "svc", "carol"]);
                c
            },
            Some(b"nm-secret-66aa".to_vec()),
        )
        .await;
        ok(&out, "keyring set_password");
        fx.store.lock_now();
        let requests = fx.store.unlock_requests();

        // python-keyring unlocks the collection first: it gets a prompt.
        let get = {
            let mut c = fx.cmd(&python);
            c.args([
                "-m",
                "keyring",
                "-b",
                "keyring.backends.SecretService.Keyring",
                "get",
                "svc",
                "carol",
            ]);
            tokio::spawn(run_async(c, None))
        };
        {
            let r = requests.clone();
            wait_until("python's unlock request", move || !r.borrow().is_empty()).await;
        }
        fx.store.unlock();
        let out = get.await.expect("get task");
        ok(&out, "keyring get after unlock");
        assert_eq!(text(&out.stdout).trim_end(), "nm-secret-66aa");

        // libsecret's lookup asks for an unlock only for items a search
        // lists as locked. This store cannot search while locked, so the
        // provider lists a deferred search instead: lookup unlocks it
        // through a prompt, and reads what the search finds after the
        // unlock (see deferred.rs).
        fx.store.lock_now();
        let lookup = |attrs: &[&str]| {
            let mut c = fx.cmd("secret-tool");
            c.arg("lookup").args(attrs);
            tokio::spawn(run_async(c, None))
        };
        let found = lookup(&["service", "svc"]);
        {
            let r = requests.clone();
            wait_until("lookup's unlock request", move || !r.borrow().is_empty()).await;
        }
        assert!(!found.is_finished(), "lookup waits while locked");
        assert_eq!(fx.provider().pending_prompts(), 1);
        fx.store.unlock();
        let out = found.await.expect("lookup task");
        ok(&out, "secret-tool lookup after unlock");
        assert_eq!(text(&out.stdout), "nm-secret-66aa");

        // A search that finds nothing once unlocked: lookup finds nothing,
        // as it would have on an unlocked store.
        fx.store.lock_now();
        let none = lookup(&["service", "nothing-like-it"]);
        {
            let r = requests.clone();
            wait_until("the second lookup's unlock request", move || {
                !r.borrow().is_empty()
            })
            .await;
        }
        fx.store.unlock();
        let out = none.await.expect("lookup task");
        assert!(!out.status.success() && out.stdout.is_empty(), "{out:?}");
        assert_eq!(fx.provider().pending_prompts(), 0);
        fx.stop().await;
    });
}

// ---------------------------------------------------------------- another provider first

#[test]
fn gnome_keyring_owning_the_name_makes_the_provider_refuse_and_say_who() {
    let name = "gnome_keyring_owning_the_name_makes_the_provider_refuse_and_say_who";
    if !have_tools(name, &["dbus-daemon", "gnome-keyring-daemon"]) {
        return;
    }
    run_test(name, async {
        let bus = PrivateBus::start(None, &[]);
        let home = Home::new();
        let mut gk = home
            .cmd(&bus, "gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets"])
            .arg(format!(
                "--control-directory={}",
                home.dir.path().join("run/keyring").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        let gk_pid = gk.id();
        let start = Instant::now();
        let owner = loop {
            if let Some(o) = current_owner(&bus_of(&bus)).await.expect("ask the bus") {
                break o;
            }
            if start.elapsed() > WAIT {
                let _ = gk.kill();
                let _ = gk.wait();
                panic!("gnome-keyring-daemon did not take org.freedesktop.secrets");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(owner.pid, Some(gk_pid));

        let store = Arc::new(MemoryStore::default());
        let err = match SecretServiceProvider::start(store.clone(), &bus_of(&bus)).await {
            Ok(_) => panic!("the provider must refuse while gnome-keyring has the name"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(matches!(err, StartError::NameTaken { .. }), "{err:?}");
        assert!(
            msg.starts_with(&format!(
                "gnome-keyring-daemon (pid {gk_pid}) already provides org.freedesktop.secrets"
            )),
            "{msg}"
        );
        assert!(msg.contains("`coffer secret-service enable`"), "{msg}");

        // Once it is gone, the name is free for us.
        let _ = gk.kill();
        let _ = gk.wait();
        let start = Instant::now();
        let provider = loop {
            match SecretServiceProvider::start(store.clone(), &bus_of(&bus)).await {
                Ok(p) => break p,
                Err(StartError::NameTaken { .. }) if start.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the provider did not start after gnome-keyring left: {e}"),
            }
        };
        let owner = current_owner(&bus_of(&bus)).await.unwrap().expect("owned");
        assert_eq!(owner.pid, Some(std::process::id()));
        provider.stop().await;
        assert_eq!(
            current_owner(&bus_of(&bus)).await.unwrap(),
            None,
            "released at stop"
        );
    });
}

// ---------------------------------------------------------------- D-Bus activation

#[test]
fn the_activation_file_starts_the_provider_on_demand() {
    let name = "the_activation_file_starts_the_provider_on_demand";
    if std::env::var(INNER_ENV).as_deref() == Ok("activated") {
        // The inner run: started by dbus-daemon through the activation file.
        runtime().block_on(async {
            let address = std::env::var("DBUS_STARTER_ADDRESS")
                .expect("dbus-daemon sets DBUS_STARTER_ADDRESS");
            let store = Arc::new(MemoryStore::default());
            let p = SecretServiceProvider::start(store, &Bus::Address(address))
                .await
                .expect("the activated provider starts");
            // Until the test kills the bus.
            let _ = tokio::time::timeout(TEST_TIMEOUT, p.lost()).await;
        });
        return;
    }
    if !have_tools(name, &["dbus-daemon", "secret-tool"]) {
        return;
    }
    run_test(name, async {
        let services = TempDir::new().expect("a services directory");
        let exe = std::env::current_exe().expect("the test binary");
        let wrapper = services.path().join("cofferd-under-test");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{}' --exact {name} --nocapture --test-threads=1\n",
                exe.display()
            ),
        )
        .expect("write the wrapper");
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = activation::render(&wrapper, None, false).expect("render the activation file");
        assert!(activation::install(services.path(), &file).expect("install"));

        let bus = PrivateBus::start(
            Some(services.path()),
            &[(INNER_ENV, std::ffi::OsStr::new("activated"))],
        );
        assert_eq!(
            current_owner(&bus_of(&bus)).await.unwrap(),
            None,
            "nobody yet"
        );
        let home = Home::new();
        let mut c = home.cmd(&bus, "secret-tool");
        c.args(["store", "--label=activated", "k", "v"]);
        ok(
            &run_async(c, Some(b"act-secret-31".to_vec())).await,
            "secret-tool store (activates)",
        );
        let mut c = home.cmd(&bus, "secret-tool");
        c.args(["lookup", "k", "v"]);
        let out = run_async(c, None).await;
        ok(&out, "secret-tool lookup");
        assert_eq!(text(&out.stdout), "act-secret-31");
        let owner = current_owner(&bus_of(&bus))
            .await
            .unwrap()
            .expect("activated");
        let pid = owner.pid.expect("the bus knows the pid");
        assert_ne!(pid, std::process::id(), "a process of its own");
        assert_eq!(
            owner.program.as_deref(),
            Some(exe.as_path()),
            "the test binary, run by the file's Exec="
        );
        drop(bus);
        // The activated provider ends with its bus.
        wait_until("the activated provider exits with its bus", || {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                // A zombie (reaped later by whoever adopted it) counts.
                Ok(s) => s
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')),
            }
        })
        .await;
    });
}

// ---------------------------------------------------------------- the protocol's corners

const SVC: &str = "org.freedesktop.secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
const COLLECTION_IFACE: &str = "org.freedesktop.Secret.Collection";
const ITEM_IFACE: &str = "org.freedesktop.Secret.Item";
const PROMPT_IFACE: &str = "org.freedesktop.Secret.Prompt";
const LOGIN_PATH: &str = "/org/freedesktop/secrets/collection/login";
const DEFAULT_PATH: &str = "/org/freedesktop/secrets/aliases/default";

async fn client(bus: &PrivateBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address())
        .expect("address")
        .build()
        .await
        .expect("a client connection")
}

async fn call<B, R>(
    conn: &zbus::Connection,
    path: &str,
    iface: &str,
    method: &str,
    body: &B,
) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = tokio::time::timeout(
        CMD_TIMEOUT,
        conn.call_method(Some(SVC), path, Some(iface), method, body),
    )
    .await
    .map_err(|_| zbus::Error::Failure(format!("{method} timed out")))??;
    reply.body().deserialize::<R>()
}

fn error_name<T: std::fmt::Debug>(r: zbus::Result<T>) -> String {
    match r {
        Err(zbus::Error::MethodError(name, _, _)) => name.to_string(),
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

async fn get_prop<R: TryFrom<OwnedValue>>(
    conn: &zbus::Connection,
    path: &str,
    iface: &str,
    prop: &str,
) -> R
where
    R::Error: std::fmt::Debug,
{
    let v: OwnedValue = call(
        conn,
        path,
        "org.freedesktop.DBus.Properties",
        "Get",
        &(iface, prop),
    )
    .await
    .unwrap_or_else(|e| panic!("Get {iface}.{prop} on {path}: {e}"));
    R::try_from(v).expect("property type")
}

/// Opens a DH session; returns its path and the client's AES key.
async fn dh_session(
    conn: &zbus::Connection,
) -> (OwnedObjectPath, cofferd::secret_service::crypto::SessionKey) {
    let kp = KeyPair::generate();
    let (out, path): (OwnedValue, OwnedObjectPath) = call(
        conn,
        "/org/freedesktop/secrets",
        SERVICE_IFACE,
        "OpenSession",
        &(DH_IETF1024, Value::from(kp.public().to_vec())),
    )
    .await
    .expect("OpenSession dh");
    let server: Vec<u8> = Vec::try_from(out).expect("ay output");
    (path, kp.agree(&server).expect("agree"))
}

type WireSecret = (OwnedObjectPath, Vec<u8>, Vec<u8>, String);

/// The next signal on `s`: its member and its object-path argument.
async fn next_signal(s: &mut zbus::MessageStream) -> (String, String) {
    let m = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("a signal in time")
        .expect("the stream lives")
        .expect("a message");
    let member = m
        .header()
        .member()
        .map(|x| x.to_string())
        .unwrap_or_default();
    let path: OwnedObjectPath = m.body().deserialize().expect("an object path");
    (member, path.to_string())
}

#[test]
fn protocol_sessions_errors_signals_and_prompts() {
    let name = "protocol_sessions_errors_signals_and_prompts";
    if !have_tools(name, &["dbus-daemon"]) {
        return;
    }
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions::default()).await;
        let a = client(&fx.bus).await;
        let svc = "/org/freedesktop/secrets";

        // Sessions.
        assert_eq!(
            error_name(
                call::<_, (OwnedValue, OwnedObjectPath)>(
                    &a,
                    svc,
                    SERVICE_IFACE,
                    "OpenSession",
                    &("rot13", Value::from(""))
                )
                .await
            ),
            "org.freedesktop.DBus.Error.NotSupported"
        );
        assert_eq!(
            error_name(
                call::<_, (OwnedValue, OwnedObjectPath)>(
                    &a,
                    svc,
                    SERVICE_IFACE,
                    "OpenSession",
                    &(DH_IETF1024, Value::from(vec![1u8]))
                )
                .await
            ),
            "org.freedesktop.DBus.Error.InvalidArgs"
        );
        let (session, key) = dh_session(&a).await;

        // Signals on the login collection, subscribed before the changes.
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(COLLECTION_IFACE)
            .unwrap()
            .path(LOGIN_PATH)
            .unwrap()
            .build();
        let mut signals = zbus::MessageStream::for_match_rule(rule, &a, None)
            .await
            .expect("subscribe");

        // CreateItem through the alias; the item has the collection's path.
        let (iv, ct) = key.encrypt(b"zb-secret-90c2");
        let props: HashMap<&str, Value> = HashMap::from([
            (
                "org.freedesktop.Secret.Item.Label",
                Value::from("zbus item"),
            ),
            (
                "org.freedesktop.Secret.Item.Attributes",
                Value::from(HashMap::from([("app", "zb"), ("n", "1")])),
            ),
        ]);
        let secret: WireSecret = (session.clone(), iv.to_vec(), ct, "text/plain".into());
        let (item, prompt): (OwnedObjectPath, OwnedObjectPath) = call(
            &a,
            DEFAULT_PATH,
            COLLECTION_IFACE,
            "CreateItem",
            &(&props, secret, true),
        )
        .await
        .expect("CreateItem");
        assert_eq!(prompt.as_str(), "/");
        assert!(
            item.as_str().starts_with(&format!("{LOGIN_PATH}/")),
            "{item:?}"
        );
        let (member, path) = next_signal(&mut signals).await;
        assert_eq!(
            (member.as_str(), path.as_str()),
            ("ItemCreated", item.as_str())
        );

        // Properties.
        let label: String = get_prop(&a, item.as_str(), ITEM_IFACE, "Label").await;
        assert_eq!(label, "zbus item");
        let at: HashMap<String, String> =
            get_prop(&a, item.as_str(), ITEM_IFACE, "Attributes").await;
        assert_eq!(at.get("app").map(String::as_str), Some("zb"));
        let locked: bool = get_prop(&a, item.as_str(), ITEM_IFACE, "Locked").await;
        assert!(!locked);
        let items: Vec<OwnedObjectPath> =
            get_prop(&a, DEFAULT_PATH, COLLECTION_IFACE, "Items").await;
        assert_eq!(items, vec![item.clone()]);
        let alias: OwnedObjectPath = call(&a, svc, SERVICE_IFACE, "ReadAlias", &("default",))
            .await
            .unwrap();
        assert_eq!(alias.as_str(), LOGIN_PATH);
        let none: OwnedObjectPath = call(&a, svc, SERVICE_IFACE, "ReadAlias", &("nope",))
            .await
            .unwrap();
        assert_eq!(none.as_str(), "/");

        // GetSecret decrypts with the client's key; SetSecret signals.
        let (got,): (WireSecret,) = call(
            &a,
            item.as_str(),
            ITEM_IFACE,
            "GetSecret",
            &(session.clone(),),
        )
        .await
        .unwrap();
        assert_eq!(&key.decrypt(&got.1, &got.2).unwrap()[..], b"zb-secret-90c2");
        let (iv, ct) = key.encrypt(b"zb-secret-2");
        let () = call(
            &a,
            item.as_str(),
            ITEM_IFACE,
            "SetSecret",
            &((session.clone(), iv.to_vec(), ct, "text/plain"),),
        )
        .await
        .expect("SetSecret");
        let (member, _) = next_signal(&mut signals).await;
        assert_eq!(member, "ItemChanged");
        // A Properties.Set goes through the setter (and signals later).
        let () = call(
            &a,
            item.as_str(),
            "org.freedesktop.DBus.Properties",
            "Set",
            &(ITEM_IFACE, "Label", Value::from("renamed")),
        )
        .await
        .expect("Set Label");
        let (member, _) = next_signal(&mut signals).await;
        assert_eq!(member, "ItemChanged");
        let label: String = get_prop(&a, item.as_str(), ITEM_IFACE, "Label").await;
        assert_eq!(label, "renamed");

        // A secret that does not decrypt is refused, not stored.
        let bad: WireSecret = (
            session.clone(),
            vec![0; 16],
            vec![1; 16],
            "text/plain".into(),
        );
        assert_eq!(
            error_name(call::<_, ()>(&a, item.as_str(), ITEM_IFACE, "SetSecret", &(bad,)).await),
            "org.freedesktop.DBus.Error.InvalidArgs"
        );

        // Another client cannot use this session; an unknown one is NoSession.
        let b = client(&fx.bus).await;
        assert_eq!(
            error_name(
                call::<_, (WireSecret,)>(
                    &b,
                    item.as_str(),
                    ITEM_IFACE,
                    "GetSecret",
                    &(session.clone(),)
                )
                .await
            ),
            "org.freedesktop.Secret.Error.NoSession"
        );
        let bogus = OwnedObjectPath::try_from("/org/freedesktop/secrets/session/s999").unwrap();
        assert_eq!(
            error_name(
                call::<_, HashMap<OwnedObjectPath, WireSecret>>(
                    &b,
                    svc,
                    SERVICE_IFACE,
                    "GetSecrets",
                    &(vec![item.clone()], bogus)
                )
                .await
            ),
            "org.freedesktop.Secret.Error.NoSession"
        );

        // Changes made in the store by "another device" are signalled.
        let login = CollectionId(LOGIN.into());
        let synced = fx
            .store
            .external_create(
                &login,
                NewItem {
                    label: "from another device".into(),
                    attributes: attrs(&[("app", "zb"), ("n", "2")]),
                    secret: Secret::new(Zeroizing::new(b"zb-secret-3".to_vec()), "text/plain"),
                },
            )
            .unwrap();
        let synced_path = format!("{LOGIN_PATH}/{synced}");
        let (member, path) = next_signal(&mut signals).await;
        assert_eq!(
            (member.as_str(), path.as_str()),
            ("ItemCreated", synced_path.as_str())
        );
        fx.store
            .external_set_label(&login, &synced, "edited elsewhere")
            .unwrap();
        let (member, path) = next_signal(&mut signals).await;
        assert_eq!(
            (member.as_str(), path.as_str()),
            ("ItemChanged", synced_path.as_str())
        );
        let (unlocked, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) = call(
            &a,
            svc,
            SERVICE_IFACE,
            "SearchItems",
            &(HashMap::from([("app", "zb")]),),
        )
        .await
        .unwrap();
        assert_eq!(unlocked.len(), 2);
        assert!(locked.is_empty());
        let secrets: HashMap<OwnedObjectPath, WireSecret> = call(
            &a,
            svc,
            SERVICE_IFACE,
            "GetSecrets",
            &(unlocked.clone(), session.clone()),
        )
        .await
        .unwrap();
        assert_eq!(secrets.len(), 2);
        fx.store.external_delete(&login, &synced).unwrap();
        let (member, path) = next_signal(&mut signals).await;
        assert_eq!(
            (member.as_str(), path.as_str()),
            ("ItemDeleted", synced_path.as_str())
        );
        assert_eq!(
            error_name(get_prop_result(&a, &synced_path).await),
            "org.freedesktop.DBus.Error.UnknownObject"
        );

        // Lock through the Service: the store locks (announced by
        // PropertiesChanged), secrets are refused.
        let pc_rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.DBus.Properties")
            .unwrap()
            .member("PropertiesChanged")
            .unwrap()
            .path(LOGIN_PATH)
            .unwrap()
            .build();
        let mut props_changed = zbus::MessageStream::for_match_rule(pc_rule, &a, None)
            .await
            .unwrap();
        let (done, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = call(
            &a,
            svc,
            SERVICE_IFACE,
            "Lock",
            &(vec![OwnedObjectPath::try_from(LOGIN_PATH).unwrap()],),
        )
        .await
        .unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(prompt.as_str(), "/");
        assert!(fx.store.is_locked());
        loop {
            let m = tokio::time::timeout(WAIT, props_changed.next())
                .await
                .expect("PropertiesChanged in time")
                .unwrap()
                .unwrap();
            let (iface, changed, _): (String, HashMap<String, OwnedValue>, Vec<String>) =
                m.body().deserialize().unwrap();
            if let (COLLECTION_IFACE, Some(v)) = (iface.as_str(), changed.get("Locked")) {
                assert!(bool::try_from(v).unwrap(), "Locked turned true");
                break;
            }
        }
        assert_eq!(
            error_name(
                call::<_, (WireSecret,)>(
                    &a,
                    item.as_str(),
                    ITEM_IFACE,
                    "GetSecret",
                    &(session.clone(),)
                )
                .await
            ),
            "org.freedesktop.Secret.Error.IsLocked"
        );
        let secrets: HashMap<OwnedObjectPath, WireSecret> = call(
            &a,
            svc,
            SERVICE_IFACE,
            "GetSecrets",
            &(vec![item.clone()], session.clone()),
        )
        .await
        .unwrap();
        assert!(secrets.is_empty(), "locked items are left out");
        let locked: bool = get_prop(&a, LOGIN_PATH, COLLECTION_IFACE, "Locked").await;
        assert!(locked);
        let (unlocked, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) = call(
            &a,
            svc,
            SERVICE_IFACE,
            "SearchItems",
            &(HashMap::from([("app", "zb")]),),
        )
        .await
        .unwrap();
        assert!(unlocked.is_empty());
        assert_eq!(locked, vec![item.clone()]);

        // Unlock gives a prompt; Dismiss completes it dismissed and
        // withdraws the unlock request.
        let (now, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            call(&a, svc, SERVICE_IFACE, "Unlock", &(vec![item.clone()],))
                .await
                .unwrap();
        assert!(now.is_empty());
        assert!(prompt
            .as_str()
            .starts_with("/org/freedesktop/secrets/prompt/"));
        let completed_rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(PROMPT_IFACE)
            .unwrap()
            .member("Completed")
            .unwrap()
            .build();
        let mut completed = zbus::MessageStream::for_match_rule(completed_rule, &a, None)
            .await
            .unwrap();
        assert_eq!(
            error_name(call::<_, ()>(&b, prompt.as_str(), PROMPT_IFACE, "Prompt", &("",)).await),
            "org.freedesktop.DBus.Error.AccessDenied",
            "another client cannot answer this prompt"
        );
        let () = call(&a, prompt.as_str(), PROMPT_IFACE, "Prompt", &("",))
            .await
            .unwrap();
        let requests = fx.store.unlock_requests();
        {
            let r = requests.clone();
            wait_until("the prompt's unlock request", move || {
                !r.borrow().is_empty()
            })
            .await;
        }
        let () = call(&a, prompt.as_str(), PROMPT_IFACE, "Dismiss", &())
            .await
            .unwrap();
        let m = tokio::time::timeout(WAIT, completed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (dismissed, result): (bool, OwnedValue) = m.body().deserialize().unwrap();
        assert!(dismissed);
        assert_eq!(
            Vec::<OwnedObjectPath>::try_from(result).unwrap(),
            Vec::<OwnedObjectPath>::new()
        );
        assert!(requests.borrow().is_empty(), "the request was withdrawn");
        assert!(fx.store.is_locked());

        // A second prompt completes with the objects when the user unlocks.
        let (_, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            call(&a, svc, SERVICE_IFACE, "Unlock", &(vec![item.clone()],))
                .await
                .unwrap();
        let () = call(&a, prompt.as_str(), PROMPT_IFACE, "Prompt", &("",))
            .await
            .unwrap();
        {
            let r = requests.clone();
            wait_until("the second unlock request", move || !r.borrow().is_empty()).await;
        }
        fx.store.unlock();
        let m = tokio::time::timeout(WAIT, completed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (dismissed, result): (bool, OwnedValue) = m.body().deserialize().unwrap();
        assert!(!dismissed);
        assert_eq!(
            Vec::<OwnedObjectPath>::try_from(result).unwrap(),
            vec![item.clone()]
        );
        let (got,): (WireSecret,) = call(
            &a,
            item.as_str(),
            ITEM_IFACE,
            "GetSecret",
            &(session.clone(),),
        )
        .await
        .unwrap();
        assert_eq!(&key.decrypt(&got.1, &got.2).unwrap()[..], b"zb-secret-2");

        // A plain session carries the secret as is.
        let (_, plain): (OwnedValue, OwnedObjectPath) = call(
            &b,
            svc,
            SERVICE_IFACE,
            "OpenSession",
            &("plain", Value::from("")),
        )
        .await
        .unwrap();
        let (got,): (WireSecret,) = call(
            &b,
            item.as_str(),
            ITEM_IFACE,
            "GetSecret",
            &(plain.clone(),),
        )
        .await
        .unwrap();
        assert_eq!(got.2, b"zb-secret-2");
        assert!(got.1.is_empty());

        // Collections: a new one with an alias; CreateCollection with that
        // alias again returns it; SetAlias; Delete.
        let props: HashMap<&str, Value> = HashMap::from([(
            "org.freedesktop.Secret.Collection.Label",
            Value::from("Work"),
        )]);
        let (work, _): (OwnedObjectPath, OwnedObjectPath) = call(
            &a,
            svc,
            SERVICE_IFACE,
            "CreateCollection",
            &(&props, "work"),
        )
        .await
        .unwrap();
        assert_eq!(work.as_str(), "/org/freedesktop/secrets/collection/work");
        let (again, _): (OwnedObjectPath, OwnedObjectPath) = call(
            &a,
            svc,
            SERVICE_IFACE,
            "CreateCollection",
            &(&props, "work"),
        )
        .await
        .unwrap();
        assert_eq!(again, work);
        let cols: Vec<OwnedObjectPath> = get_prop(&a, svc, SERVICE_IFACE, "Collections").await;
        assert_eq!(cols.len(), 2);
        let label: String = get_prop(
            &a,
            "/org/freedesktop/secrets/aliases/work",
            COLLECTION_IFACE,
            "Label",
        )
        .await;
        assert_eq!(label, "Work");
        let () = call(
            &a,
            svc,
            SERVICE_IFACE,
            "SetAlias",
            &("default", work.clone()),
        )
        .await
        .unwrap();
        let alias: OwnedObjectPath = call(&a, svc, SERVICE_IFACE, "ReadAlias", &("default",))
            .await
            .unwrap();
        assert_eq!(alias, work);
        let () = call(
            &a,
            svc,
            SERVICE_IFACE,
            "SetAlias",
            &("default", OwnedObjectPath::try_from(LOGIN_PATH).unwrap()),
        )
        .await
        .unwrap();
        let p: OwnedObjectPath = call(&a, work.as_str(), COLLECTION_IFACE, "Delete", &())
            .await
            .unwrap();
        assert_eq!(p.as_str(), "/");
        let cols: Vec<OwnedObjectPath> = get_prop(&a, svc, SERVICE_IFACE, "Collections").await;
        assert_eq!(cols.len(), 1);

        // Item.Delete.
        let p: OwnedObjectPath = call(&a, item.as_str(), ITEM_IFACE, "Delete", &())
            .await
            .unwrap();
        assert_eq!(p.as_str(), "/");
        let (member, path) = next_signal(&mut signals).await;
        assert_eq!(
            (member.as_str(), path.as_str()),
            ("ItemDeleted", item.as_str())
        );
        assert!(fx.login_items().await.is_empty());

        // A session dies with its client.
        assert!(fx.provider().session_stats().open >= 2);
        a.close().await.unwrap();
        b.close().await.unwrap();
        wait_until("the clients' sessions end", || {
            fx.provider().session_stats().open == 0
        })
        .await;
        assert_never_logged(&["zb-secret-90c2", "zb-secret-2", "zb-secret-3"]);
        fx.stop().await;
    });
}

/// `Get Label` on `path`, as a result.
async fn get_prop_result(conn: &zbus::Connection, path: &str) -> zbus::Result<OwnedValue> {
    call(
        conn,
        path,
        "org.freedesktop.DBus.Properties",
        "Get",
        &(ITEM_IFACE, "Label"),
    )
    .await
}

// ---------------------------------------------------------------- deferred searches

#[test]
fn a_locked_store_that_cannot_search_answers_with_a_deferred_search() {
    let name = "a_locked_store_that_cannot_search_answers_with_a_deferred_search";
    if !have_tools(name, &["dbus-daemon"]) {
        return;
    }
    run_test(name, async {
        let fx = Fixture::start(MemoryStoreOptions {
            metadata_while_locked: false,
            locked: false,
        })
        .await;
        let login = CollectionId(LOGIN.into());
        let id = fx
            .store
            .external_create(
                &login,
                NewItem {
                    label: "deferred".into(),
                    attributes: attrs(&[("app", "df")]),
                    secret: Secret::new(Zeroizing::new(b"df-secret-1".to_vec()), "text/plain"),
                },
            )
            .unwrap();
        let item = OwnedObjectPath::try_from(format!("{LOGIN_PATH}/{id}")).unwrap();
        fx.store.lock_now();
        let svc = "/org/freedesktop/secrets";
        let a = client(&fx.bus).await;
        let query = HashMap::from([("app", "df")]);

        // The search is answered with one locked stand-in, the same one for
        // the same search; a collection's search answers with one too.
        let (unlocked, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) =
            call(&a, svc, SERVICE_IFACE, "SearchItems", &(query.clone(),))
                .await
                .unwrap();
        assert!(unlocked.is_empty());
        assert_eq!(locked.len(), 1, "{locked:?}");
        let stand_in = locked[0].clone();
        assert!(
            stand_in
                .as_str()
                .starts_with(&format!("{LOGIN_PATH}/locked_search_")),
            "{stand_in}"
        );
        let (_, again): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) =
            call(&a, svc, SERVICE_IFACE, "SearchItems", &(query.clone(),))
                .await
                .unwrap();
        assert_eq!(again, locked, "one object per search");
        let in_default: Vec<OwnedObjectPath> = call(
            &a,
            DEFAULT_PATH,
            COLLECTION_IFACE,
            "SearchItems",
            &(query.clone(),),
        )
        .await
        .unwrap();
        assert_eq!(in_default.len(), 1);

        // It is a locked item showing the search; its secret is refused.
        let is_locked: bool = get_prop(&a, stand_in.as_str(), ITEM_IFACE, "Locked").await;
        assert!(is_locked);
        let shown: HashMap<String, String> =
            get_prop(&a, stand_in.as_str(), ITEM_IFACE, "Attributes").await;
        assert_eq!(
            shown,
            HashMap::from([("app".to_string(), "df".to_string())])
        );
        let (session, key) = dh_session(&a).await;
        assert_eq!(
            error_name(
                call::<_, (WireSecret,)>(
                    &a,
                    stand_in.as_str(),
                    ITEM_IFACE,
                    "GetSecret",
                    &(session.clone(),)
                )
                .await
            ),
            "org.freedesktop.Secret.Error.IsLocked"
        );
        let none: HashMap<OwnedObjectPath, WireSecret> = call(
            &a,
            svc,
            SERVICE_IFACE,
            "GetSecrets",
            &(vec![stand_in.clone()], session.clone()),
        )
        .await
        .unwrap();
        assert!(none.is_empty());

        // Unlocking it waits for the unlock, and yields the item found then.
        let completed_rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(PROMPT_IFACE)
            .unwrap()
            .member("Completed")
            .unwrap()
            .build();
        let mut completed = zbus::MessageStream::for_match_rule(completed_rule, &a, None)
            .await
            .unwrap();
        let (now, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            call(&a, svc, SERVICE_IFACE, "Unlock", &(vec![stand_in.clone()],))
                .await
                .unwrap();
        assert!(now.is_empty());
        let () = call(&a, prompt.as_str(), PROMPT_IFACE, "Prompt", &("",))
            .await
            .unwrap();
        let requests = fx.store.unlock_requests();
        {
            let r = requests.clone();
            wait_until("the deferred search's unlock request", move || {
                !r.borrow().is_empty()
            })
            .await;
        }
        fx.store.unlock();
        let m = tokio::time::timeout(WAIT, completed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (dismissed, result): (bool, OwnedValue) = m.body().deserialize().unwrap();
        assert!(!dismissed);
        assert_eq!(
            Vec::<OwnedObjectPath>::try_from(result).unwrap(),
            vec![item.clone()]
        );
        let (got,): (WireSecret,) = call(
            &a,
            item.as_str(),
            ITEM_IFACE,
            "GetSecret",
            &(session.clone(),),
        )
        .await
        .unwrap();
        assert_eq!(&key.decrypt(&got.1, &got.2).unwrap()[..], b"df-secret-1");

        // Unlocked, the stand-in has left the bus; an Unlock naming it
        // (a client that searched just before) resolves at once.
        let start = Instant::now();
        while get_prop_result(&a, stand_in.as_str()).await.is_ok() {
            assert!(start.elapsed() < WAIT, "the stand-in stays on the bus");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (now, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            call(&a, svc, SERVICE_IFACE, "Unlock", &(vec![stand_in.clone()],))
                .await
                .unwrap();
        assert_eq!((now, prompt.as_str()), (vec![item.clone()], "/"));
        assert_never_logged(&["df-secret-1"]);
        fx.stop().await;
    });
}

// ---------------------------------------------------------------- measurements

/// Timings, printed (not asserted: the machine is shared). Run with
/// `cargo test -p cofferd --test secret_service -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_round_trips() {
    let name = "measure_round_trips";
    if !have_tools(name, &["dbus-daemon", "secret-tool"]) {
        return;
    }
    run_test(name, async {
        const N: usize = 10_000;
        const CALLS: u32 = 200;
        let store = Arc::new(MemoryStore::default());
        let login = CollectionId(LOGIN.into());
        for i in 0..N {
            store
                .external_create(
                    &login,
                    NewItem {
                        label: format!("item {i}"),
                        attributes: attrs(&[("n", &i.to_string()), ("app", "bench")]),
                        secret: Secret::new(Zeroizing::new(b"bench".to_vec()), "text/plain"),
                    },
                )
                .unwrap();
        }
        let t = Instant::now();
        let fx = Fixture::start_with(store).await;
        println!("start with {N} items exported: {:?}", t.elapsed());
        let a = client(&fx.bus).await;
        let svc = "/org/freedesktop/secrets";
        let t = Instant::now();
        let (session, key) = dh_session(&a).await;
        println!(
            "OpenSession (DH, both key pairs and agreement): {:?}",
            t.elapsed()
        );

        let t = Instant::now();
        let mut last = None;
        for i in 0..CALLS {
            let (iv, ct) = key.encrypt(b"bench-secret");
            let props: HashMap<&str, Value> = HashMap::from([
                ("org.freedesktop.Secret.Item.Label", Value::from("b")),
                (
                    "org.freedesktop.Secret.Item.Attributes",
                    Value::from(HashMap::from([("m", i.to_string())])),
                ),
            ]);
            let secret: WireSecret = (session.clone(), iv.to_vec(), ct, "text/plain".into());
            let (item, _): (OwnedObjectPath, OwnedObjectPath) = call(
                &a,
                LOGIN_PATH,
                COLLECTION_IFACE,
                "CreateItem",
                &(&props, secret, false),
            )
            .await
            .unwrap();
            last = Some(item);
        }
        println!(
            "CreateItem (DH), mean of {CALLS}: {:?}",
            t.elapsed() / CALLS
        );
        let item = last.unwrap();
        let t = Instant::now();
        for _ in 0..CALLS {
            let (_got,): (WireSecret,) = call(
                &a,
                item.as_str(),
                ITEM_IFACE,
                "GetSecret",
                &(session.clone(),),
            )
            .await
            .unwrap();
        }
        println!("GetSecret (DH), mean of {CALLS}: {:?}", t.elapsed() / CALLS);
        let t = Instant::now();
        for i in 0..20 {
            let (found, _): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) = call(
                &a,
                svc,
                SERVICE_IFACE,
                "SearchItems",
                &(HashMap::from([("n", (i * 7).to_string())]),),
            )
            .await
            .unwrap();
            assert_eq!(found.len(), 1);
        }
        println!(
            "SearchItems over {} items, mean of 20: {:?}",
            N + CALLS as usize,
            t.elapsed() / 20
        );
        let t = Instant::now();
        let items: Vec<OwnedObjectPath> = get_prop(&a, LOGIN_PATH, COLLECTION_IFACE, "Items").await;
        println!("Items property of {} items: {:?}", items.len(), t.elapsed());
        let mut total = Duration::ZERO;
        for _ in 0..10 {
            let mut c = fx.cmd("secret-tool");
            c.args(["lookup", "n", "42"]);
            let t = Instant::now();
            let out = run_async(c, None).await;
            total += t.elapsed();
            ok(&out, "secret-tool lookup");
        }
        println!(
            "secret-tool lookup (a process, DH session, search, get), mean of 10: {:?}",
            total / 10
        );
        fx.stop().await;
    });
}
