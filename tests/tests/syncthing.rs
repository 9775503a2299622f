//! Sync through a real engine (issue 4): two Debian `syncthing` instances on
//! loopback, each replicating one coffer device's sync folder to the other.
//!
//! Each syncthing instance gets its own temporary home, a GUI/REST address and
//! a sync-protocol listener on `127.0.0.1` with free ports, and every network
//! feature that could leave the machine switched off in `config.xml` before
//! it starts (global and local discovery, relays, NAT/STUN, usage and crash
//! reporting, upgrades). The two instances are then introduced to each other
//! by device ID (A dials B at its explicit `tcp://127.0.0.1:PORT`, B only
//! accepts: see `Syncthing::add_peer`) and share one folder, all through the
//! REST API (a tiny HTTP/1.0 client over `TcpStream`, authenticated with the
//! `<apikey>` of `config.xml`).
//!
//! Scenario: device A signs up in its folder; once syncthing has carried
//! `account.json` across, device B logs in from its own folder. Items
//! propagate both ways; then the instances are partitioned (each pauses the
//! other device), both coffer devices edit different fields of one item,
//! and after the heal both have both fields; then the same field, and after
//! the heal both show one winner with the loser in `coffer history`. Last, a
//! reset on A reaches B, each retires its own file, and after both log in the
//! folders hold the new epoch's files only (issue 20).
//!
//! The test is skipped (with a note) when `syncthing` is not installed,
//! unless `COFFER_REQUIRE_TOOLS=1`, in which case it fails.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coffer_blackbox::items::{history_values, item};
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{pid_alive, run_with_timeout, short_tempdir, Device};
use serde_json::{json, Value};
use tempfile::TempDir;

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "syncthing@example.org";
/// The id of the folder both instances share.
const FOLDER_ID: &str = "coffer-blackbox";
/// How long one change may take to travel through syncthing.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(30);
/// Timeout of every REST request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a syncthing instance may take to shut down when asked.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How a syncthing binary takes its commands.
#[derive(Clone, Copy, Debug)]
enum Cli {
    /// v1.18 and later: `syncthing generate --home DIR`, `syncthing serve
    /// --home DIR`.
    Subcommands,
    /// Older: `syncthing -generate=DIR`, `syncthing -home=DIR`.
    Legacy,
}

/// The installed syncthing's version line and command style, or `None`
/// when `syncthing --version` does not run.
fn syncthing_version() -> Option<(String, Cli)> {
    let mut cmd = Command::new("syncthing");
    cmd.arg("--version");
    let out = run_with_timeout(cmd, Duration::from_secs(20)).ok()?;
    if !out.status.success() {
        return None;
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut help = Command::new("syncthing");
    help.arg("--help");
    let help = run_with_timeout(help, Duration::from_secs(20)).ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&help.stderr)
    );
    let cli = if text.lines().any(|l| l.trim() == "serve") {
        Cli::Subcommands
    } else {
        Cli::Legacy
    };
    Some((version, cli))
}

/// `count` distinct free TCP ports on 127.0.0.1 (all listeners are held
/// until every port is chosen, so the ports differ).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a loopback port can be bound"))
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .expect("a bound listener has an address")
                .port()
        })
        .collect()
}

/// Replaces the text of the first `<tag>…</tag>` inside the section that
/// starts with `section_open` and ends with `section_close`, or inserts the
/// element before `section_close` when the section lacks it.
fn set_xml(xml: &mut String, section_open: &str, section_close: &str, tag: &str, value: &str) {
    let start = xml
        .find(section_open)
        .unwrap_or_else(|| panic!("config.xml has no {section_open}:\n{xml}"));
    let len = xml[start..]
        .find(section_close)
        .unwrap_or_else(|| panic!("config.xml has no {section_close}:\n{xml}"));
    let section = &xml[start..start + len];
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let updated = match section.split_once(&open) {
        Some((before, rest)) => {
            let (_, after) = rest
                .split_once(&close)
                .unwrap_or_else(|| panic!("config.xml: <{tag}> is not closed"));
            format!("{before}{open}{value}{close}{after}")
        }
        None => format!("{section}{open}{value}{close}\n"),
    };
    xml.replace_range(start..start + len, &updated);
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let from = xml.find(&open)? + open.len();
    let to = from + xml[from..].find(&format!("</{tag}>"))?;
    Some(&xml[from..to])
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One headless syncthing instance; dropping it kills the process.
struct Syncthing {
    name: String,
    child: Child,
    home: TempDir,
    gui_port: u16,
    listen_port: u16,
    api_key: String,
    id: String,
}

impl Syncthing {
    /// Generates a home for `name`, locks its config down to loopback and
    /// starts syncthing; returns once the REST API answers.
    fn start(cli: Cli, name: &str, gui_port: u16, listen_port: u16) -> Syncthing {
        let home = short_tempdir("st");
        let home_arg = home.path().to_string_lossy().into_owned();
        let mut generate = Command::new("syncthing");
        match cli {
            Cli::Subcommands => generate.args(["generate", "--home", &home_arg]),
            Cli::Legacy => generate.arg(format!("-generate={home_arg}")),
        };
        generate
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STNODEFAULTFOLDER", "1");
        let out = run_with_timeout(generate, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("syncthing generate: {e}"));
        assert!(
            out.status.success(),
            "syncthing generate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let config = home.path().join("config.xml");
        let mut xml =
            std::fs::read_to_string(&config).expect("syncthing generate wrote config.xml");
        for (tag, value) in [
            ("listenAddress", format!("tcp://127.0.0.1:{listen_port}")),
            ("globalAnnounceEnabled", "false".into()),
            ("localAnnounceEnabled", "false".into()),
            ("relaysEnabled", "false".into()),
            ("natEnabled", "false".into()),
            ("urAccepted", "-1".into()),
            ("autoUpgradeIntervalH", "0".into()),
            ("crashReportingEnabled", "false".into()),
            ("startBrowser", "false".into()),
            ("announceLANAddresses", "false".into()),
            ("reconnectionIntervalS", "1".into()),
            ("stunKeepaliveStartS", "0".into()),
        ] {
            set_xml(&mut xml, "<options>", "</options>", tag, &value);
        }
        set_xml(
            &mut xml,
            "<gui ",
            "</gui>",
            "address",
            &format!("127.0.0.1:{gui_port}"),
        );
        let api_key = xml_text(&xml, "apikey")
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| panic!("config.xml has no <apikey>:\n{xml}"))
            .to_string();
        std::fs::write(&config, &xml).expect("config.xml can be rewritten");

        let log_path = home.path().join("syncthing.log");
        let log = File::create(&log_path).expect("the syncthing log can be created");
        let mut serve = Command::new("syncthing");
        let gui = format!("http://127.0.0.1:{gui_port}");
        match cli {
            Cli::Subcommands => serve.args([
                "serve",
                "--home",
                &home_arg,
                "--no-browser",
                "--no-restart",
                "--logflags=6",
                &format!("--gui-address={gui}"),
            ]),
            Cli::Legacy => serve.args([
                format!("-home={home_arg}"),
                "-no-browser".into(),
                "-no-restart".into(),
                "-logflags=6".into(),
                format!("-gui-address={gui}"),
            ]),
        };
        // No monitor process (STNORESTART): the child is syncthing itself,
        // so killing it leaves nothing behind.
        let child = serve
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STNORESTART", "1")
            .env("STNOUPGRADE", "1")
            .env("STNODEFAULTFOLDER", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file handle can be cloned"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start syncthing: {e}"));
        let mut st = Syncthing {
            name: name.to_string(),
            child,
            home,
            gui_port,
            listen_port,
            api_key,
            id: String::new(),
        };

        let status = wait_for("syncthing's REST API", Duration::from_secs(30), || {
            if let Ok(Some(exit)) = st.child.try_wait() {
                panic!(
                    "syncthing {} exited ({exit}) at startup:\n{}",
                    st.name,
                    st.log()
                );
            }
            st.try_request("GET", "/rest/system/status", None)
                .ok()
                .filter(|(code, _)| *code == 200)
                .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
        });
        st.id = status["myID"]
            .as_str()
            .unwrap_or_else(|| panic!("/rest/system/status has no myID: {status}"))
            .to_string();

        // The instance runs with what was written: nothing leaves loopback.
        let options = st.get("/rest/config/options");
        for (key, want) in [
            ("globalAnnounceEnabled", json!(false)),
            ("localAnnounceEnabled", json!(false)),
            ("relaysEnabled", json!(false)),
            ("natEnabled", json!(false)),
            ("crashReportingEnabled", json!(false)),
            ("urAccepted", json!(-1)),
            ("autoUpgradeIntervalH", json!(0)),
            (
                "listenAddresses",
                json!([format!("tcp://127.0.0.1:{listen_port}")]),
            ),
        ] {
            assert_eq!(options[key], want, "syncthing {name}: option {key}");
        }
        st
    }

    /// The whole log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("syncthing.log")).unwrap_or_default()
    }

    /// One REST request; `Err` says what failed (connection, timeout).
    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.gui_port))
            .map_err(|e| format!("connect to 127.0.0.1:{}: {e}", self.gui_port))?;
        stream
            .set_read_timeout(Some(HTTP_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(HTTP_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        // HTTP/1.0: the server closes the connection after a plain,
        // unchunked body.
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nX-API-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.gui_port,
            self.api_key,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("{method} {path}: no HTTP header in {response:?}"))?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
        Ok((code, body.to_string()))
    }

    /// A REST request that must succeed with 200; returns the body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> String {
        match self.try_request(method, path, body) {
            Ok((200, text)) => text,
            Ok((code, text)) => panic!(
                "syncthing {}: {method} {path} answered {code}: {text}",
                self.name
            ),
            Err(e) => panic!("syncthing {}: {e}\n{}", self.name, tail(&self.log(), 40)),
        }
    }

    /// GET `path`, parsed as JSON.
    fn get(&self, path: &str) -> Value {
        let text = self.request("GET", path, None);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("syncthing {}: GET {path}: {e}: {text}", self.name))
    }

    /// Introduces `peer` by device ID. With `dial`, this instance knows the
    /// peer's explicit loopback address and connects to it; without, the
    /// address is `dynamic`, which with every discovery off means "never
    /// dial, only accept": syncthing 1.19 sometimes stalls for 20 s (a
    /// Hello timeout) when both sides dial each other at the same moment,
    /// as they do after a resume.
    fn add_peer(&self, peer: &Syncthing, dial: bool) {
        let address = if dial {
            format!("tcp://127.0.0.1:{}", peer.listen_port)
        } else {
            "dynamic".to_string()
        };
        let device = json!({
            "deviceID": peer.id,
            "name": peer.name,
            "addresses": [address],
            "autoAcceptFolders": false,
        });
        self.request("POST", "/rest/config/devices", Some(&device));
    }

    /// Shares `path` as [`FOLDER_ID`] with `peer`, watched with a short delay.
    fn share(&self, path: &Path, peer: &Syncthing) {
        let folder = json!({
            "id": FOLDER_ID,
            "label": FOLDER_ID,
            "path": path,
            "type": "sendreceive",
            "rescanIntervalS": 5,
            "fsWatcherEnabled": true,
            "fsWatcherDelayS": 1,
            "devices": [{"deviceID": self.id}, {"deviceID": peer.id}],
        });
        self.request(
            "PUT",
            &format!("/rest/config/folders/{FOLDER_ID}"),
            Some(&folder),
        );
    }

    /// Whether this instance has a live connection to `peer`.
    fn connected_to(&self, peer: &Syncthing) -> bool {
        self.get("/rest/system/connections")["connections"][&peer.id]["connected"] == json!(true)
    }

    /// Pauses (cuts) the connection to `peer`.
    fn pause(&self, peer: &Syncthing) {
        self.request(
            "POST",
            &format!("/rest/system/pause?device={}", peer.id),
            None,
        );
    }

    /// Resumes the connection to `peer`.
    fn resume(&self, peer: &Syncthing) {
        self.request(
            "POST",
            &format!("/rest/system/resume?device={}", peer.id),
            None,
        );
    }
}

impl Syncthing {
    /// The pids of the live processes running with this instance's home on
    /// their command line: the process we spawned and the inner syncthing
    /// it forks (in its own process group, so killing ours alone would
    /// leave it running).
    fn processes(&self) -> Vec<u32> {
        let home = self.home.path().as_os_str().as_encoded_bytes().to_vec();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
                    cmd.split(|&b| b == 0)
                        .any(|arg| arg.windows(home.len()).any(|w| w == home.as_slice()))
                })
            })
            .filter(|&pid| pid_alive(pid))
            .collect()
    }

    /// Shuts syncthing down through the API; after 10 s, or when the API
    /// does not answer, kills every process of this instance by pid.
    fn stop(&mut self) {
        let asked = self
            .try_request("POST", "/rest/system/shutdown", None)
            .is_ok();
        let deadline = Instant::now() + if asked { STOP_GRACE } else { Duration::ZERO };
        loop {
            let spawned_done = matches!(self.child.try_wait(), Ok(Some(_)) | Err(_));
            if spawned_done && self.processes().is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("syncthing {}: killing it", self.name);
        for pid in self.processes() {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) on a pid whose command line names this
                // instance's private home, checked just above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Syncthing {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- syncthing {} log (tail) ---\n{}",
                self.name,
                tail(&self.log(), 60)
            );
        }
    }
}

/// Two connected syncthing instances sharing `fa` ↔ `fb`.
struct Pair {
    a: Syncthing,
    b: Syncthing,
}

impl Pair {
    fn start(cli: Cli, fa: &Path, fb: &Path) -> Pair {
        let ports = free_ports(4);
        let a = Syncthing::start(cli, "st-a", ports[0], ports[1]);
        let b = Syncthing::start(cli, "st-b", ports[2], ports[3]);
        // A dials B; B only accepts (see `add_peer`).
        b.add_peer(&a, false);
        a.add_peer(&b, true);
        a.share(fa, &b);
        b.share(fb, &a);
        let pair = Pair { a, b };
        pair.wait_connected(true);
        pair
    }

    /// Waits until both sides see the connection up (`true`) or down.
    fn wait_connected(&self, up: bool) {
        let what = if up { "connected" } else { "disconnected" };
        wait_for(
            &format!("the syncthing instances to be {what}"),
            Duration::from_secs(30),
            || {
                (self.a.connected_to(&self.b) == up && self.b.connected_to(&self.a) == up)
                    .then_some(())
            },
        );
    }

    /// Cuts the link both ways and waits until it is down.
    fn partition(&self) {
        self.a.pause(&self.b);
        self.b.pause(&self.a);
        self.wait_connected(false);
    }

    /// Restores the link both ways and waits until it is up (B, which
    /// only accepts, first, so that A's first dial gets through).
    fn heal(&self) {
        self.b.resume(&self.a);
        self.a.resume(&self.b);
        self.wait_connected(true);
    }
}

/// On panic, prints both coffer daemons' logs (the syncthing logs are
/// printed by [`Syncthing`]'s `Drop`).
struct DumpLogs<'a>(&'a [&'a Device]);

impl Drop for DumpLogs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for d in self.0 {
                eprintln!(
                    "--- cofferd {} log (tail) ---\n{}",
                    d.name(),
                    tail(&d.log(), 80)
                );
            }
        }
    }
}

/// Waits until `q` exists on `d`; returns how long that took from `since`.
fn wait_item(d: &Device, q: &str, since: Instant) -> Duration {
    wait_for(
        &format!("item {q:?} on device {}", d.name()),
        PROPAGATION_LIMIT,
        || item(d, q),
    );
    since.elapsed()
}

#[test]
fn two_syncthing_instances_replicate_and_converge() {
    let test_start = Instant::now();
    let Some((version, cli)) = syncthing_version() else {
        assert!(
            std::env::var("COFFER_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "syncthing is not installed, and COFFER_REQUIRE_TOOLS=1 requires it"
        );
        eprintln!(
            "SKIPPED: syncthing is not installed (set COFFER_REQUIRE_TOOLS=1 to fail instead)"
        );
        return;
    };
    println!("using {version} ({cli:?} command line)");

    let dir_a = short_tempdir("sfa");
    let dir_b = short_tempdir("sfb");
    let (fa, fb): (PathBuf, PathBuf) = (dir_a.path().into(), dir_b.path().into());
    let pair = Pair::start(cli, &fa, &fb);
    println!(
        "syncthing pair up and connected after {:.2} s",
        test_start.elapsed().as_secs_f64()
    );

    let a = Device::with_sync_folder("a", &fa);
    let b = Device::with_sync_folder("b", &fb);
    let devices = [&a, &b];
    let _dump = DumpLogs(&devices);

    // A signs up; syncthing carries account.json (and A's device file) to B.
    let signup = a.signup(EMAIL, PW);
    let t = Instant::now();
    let key = signup["account_key"]
        .as_str()
        .unwrap_or_else(|| panic!("signup --json has account_key: {signup}"))
        .to_string();
    let account = signup["account_id"]
        .as_str()
        .unwrap_or_else(|| panic!("signup --json has account_id: {signup}"))
        .to_string();
    let account_json = fb.join(&account).join("account.json");
    wait_for("account.json in B's folder", PROPAGATION_LIMIT, || {
        account_json.is_file().then_some(())
    });
    println!(
        "account.json reached B's folder {:.2} s after signup",
        t.elapsed().as_secs_f64()
    );
    b.login_ok(EMAIL, PW, &key, &fb);

    // Items added on A appear on B and the other way round; each sample
    // is the time from `coffer add` returning to `coffer get` succeeding.
    let mut samples = Vec::new();
    for (i, (from, to)) in [(&a, &b), (&b, &a), (&a, &b), (&b, &a)]
        .into_iter()
        .enumerate()
    {
        let title = format!("Probe {i}");
        let password = format!("probe-pw-{i}");
        from.ok(&["add", &title, "--password", &password]);
        samples.push((
            from.name(),
            to.name(),
            wait_item(to, &title, Instant::now()),
        ));
        assert_eq!(to.ok(&["get", &title]), format!("{password}\n"));
    }
    let shown: Vec<String> = samples
        .iter()
        .map(|(f, t, d)| format!("{f}->{t} {:.2} s", d.as_secs_f64()))
        .collect();
    println!(
        "propagation through syncthing (add returned -> get succeeds): {}",
        shown.join(", ")
    );
    a.ok(&["add", "Mail", "--username", "me", "--password", "pw0"]);
    wait_item(&b, "Mail", Instant::now());
    assert_eq!(b.ok(&["get", "Mail"]), "pw0\n");

    // Partition, edit different fields of one item on each side, heal.
    pair.partition();
    a.ok(&["edit", "Mail", "--username", "alice"]);
    b.ok(&["edit", "Mail", "--url", "https://b.example.org"]);
    // Long enough for syncthing to have scanned both edits (watch delay 1 s),
    // which the partition must keep apart.
    std::thread::sleep(Duration::from_millis(1500));
    let on_a = item(&a, "Mail").expect("the item exists on A");
    let on_b = item(&b, "Mail").expect("the item exists on B");
    assert!(
        on_a["username"] == "alice" && on_a["url"] != "https://b.example.org",
        "partitioned A: {on_a}"
    );
    assert!(
        on_b["url"] == "https://b.example.org" && on_b["username"] == "me",
        "partitioned B: {on_b}"
    );
    let t = Instant::now();
    pair.heal();
    let reconnect = t.elapsed();
    wait_for(
        "both devices to have both concurrent fields",
        PROPAGATION_LIMIT,
        || {
            devices
                .iter()
                .all(|d| {
                    item(d, "Mail").is_some_and(|it| {
                        it["username"] == "alice"
                            && it["url"] == "https://b.example.org"
                            && it["password"] == "pw0"
                    })
                })
                .then_some(())
        },
    );
    println!(
        "different-field concurrent edits converged {:.2} s after the resume \
         (reconnected after {:.2} s)",
        t.elapsed().as_secs_f64(),
        reconnect.as_secs_f64()
    );

    // Partition, edit the same field on each side, heal: one winner
    // everywhere, the loser in both histories.
    pair.partition();
    a.ok(&["edit", "Mail", "--password", "from-a"]);
    b.ok(&["edit", "Mail", "--password", "from-b"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.ok(&["get", "Mail"]), "from-a\n", "partitioned A");
    assert_eq!(b.ok(&["get", "Mail"]), "from-b\n", "partitioned B");
    let t = Instant::now();
    pair.heal();
    let reconnect = t.elapsed();
    let winner = wait_for(
        "one winner of the same-field edits on both devices, the loser in both histories",
        PROPAGATION_LIMIT,
        || {
            let pa = item(&a, "Mail")?["password"].as_str()?.to_string();
            let pb = item(&b, "Mail")?["password"].as_str()?.to_string();
            if pa != pb || !(pa == "from-a" || pa == "from-b") {
                return None;
            }
            let loser = if pa == "from-a" { "from-b" } else { "from-a" };
            devices
                .iter()
                .all(|d| {
                    history_values(d, "Mail", "password")
                        .iter()
                        .any(|v| v == loser)
                })
                .then_some(pa)
        },
    );
    println!(
        "same-field concurrent edits converged {:.2} s after the resume \
         (reconnected after {:.2} s); winner {winner}",
        t.elapsed().as_secs_f64(),
        reconnect.as_secs_f64()
    );
    for d in devices {
        let it = item(d, "Mail").expect("the item exists on both devices");
        assert_eq!(it["username"], "alice", "device {}: {it}", d.name());
        assert_eq!(
            it["url"],
            "https://b.example.org",
            "device {}: {it}",
            d.name()
        );
        let list = d.json(&["list", "--json"]);
        assert_eq!(
            list.as_array().map(Vec::len),
            Some(5),
            "device {}: {list}",
            d.name()
        );
    }

    // Syncthing's own files (.stfolder, .syncthing.*.tmp) are no problem.
    for d in devices {
        let folders = d.json(&["sync", "list", "--json"]);
        let folders = folders
            .as_array()
            .unwrap_or_else(|| panic!("sync list --json is an array: {folders}"));
        assert_eq!(folders.len(), 1, "device {}: {folders:?}", d.name());
        assert_eq!(
            folders[0]["health"],
            "ok",
            "device {}: {}",
            d.name(),
            folders[0]
        );
        assert_eq!(
            folders[0]["problems"],
            json!([]),
            "device {}: {}",
            d.name(),
            folders[0]
        );
        assert_eq!(
            folders[0]["device_files"],
            2,
            "device {}: {}",
            d.name(),
            folders[0]
        );
    }

    // A reset reaches B through syncthing (issue 20): A writes the new header and retires its
    // own file, B follows and retires its own; after both log in, the folders hold the new
    // epoch's files only.
    let reply = a
        .with_env(&[("COFFER_NEW_PASSWORD", "a new passphrase")])
        .json(&["reset", "--email", EMAIL, "--yes", "--json"]);
    let key2 = reply["account_key"]
        .as_str()
        .unwrap_or_else(|| panic!("reset --json has account_key: {reply}"))
        .to_string();
    let t = Instant::now();
    wait_for("B in reset", PROPAGATION_LIMIT, || {
        (b.status()["state"] == "reset").then_some(())
    });
    println!(
        "the reset reached B through syncthing after {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // The header, the device files of `ids` and (issue 16) their unlock keys only.
    let only_new = |ids: &[String]| {
        let ids: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
        [&fa, &fb]
            .iter()
            .all(|f| coffer_blackbox::names::holds_only(&f.join(&account), &ids))
    };
    wait_for(
        "both folders hold the new header only",
        PROPAGATION_LIMIT,
        || only_new(&[]).then_some(()),
    );
    for (d, f) in [(&a, &fa), (&b, &fb)] {
        d.with_env(&[
            ("COFFER_PASSWORD", "a new passphrase"),
            ("COFFER_ACCOUNT_KEY", key2.as_str()),
        ])
        .ok(&[
            "login",
            "--email",
            EMAIL,
            "--sync-folder",
            &f.to_string_lossy(),
        ]);
    }
    a.ok(&["add", "After the reset", "--password", "new"]);
    wait_item(&b, "After the reset", Instant::now());
    let ids: Vec<String> = devices
        .iter()
        .map(|d| d.status()["device_id"].as_str().unwrap_or("").to_owned())
        .collect();
    wait_for(
        "both folders hold the new epoch's header and device files only",
        PROPAGATION_LIMIT,
        || only_new(&ids).then_some(()),
    );
    assert_eq!(
        b.json(&["list", "--json"]).as_array().map(Vec::len),
        Some(1)
    );
    println!(
        "whole syncthing test took {:.2} s",
        test_start.elapsed().as_secs_f64()
    );
}

/// The header of `d` as `status --json` shows it.
fn header_of(d: &Device) -> Value {
    d.json(&["status", "--json"])["header"].clone()
}

/// Account changes through the real pair (issue 16): a password change with
/// a new hint on A reaches B while B is locked (the new hint before
/// unlocking, the old password refused naming A, the new one unlocking
/// through B's envelope); then a partition, a password change on each side,
/// the heal, and both devices settle on one header whose password unlocks
/// both.
#[test]
fn account_changes_travel_through_syncthing() {
    let Some((version, cli)) = syncthing_version() else {
        assert!(
            std::env::var("COFFER_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "syncthing is not installed, and COFFER_REQUIRE_TOOLS=1 requires it"
        );
        eprintln!("SKIPPED: syncthing is not installed");
        return;
    };
    println!("using {version}");
    let dir_a = short_tempdir("sha");
    let dir_b = short_tempdir("shb");
    let (fa, fb): (PathBuf, PathBuf) = (dir_a.path().into(), dir_b.path().into());
    let pair = Pair::start(cli, &fa, &fb);
    let a = Device::with_sync_folder("a", &fa);
    let b = Device::with_sync_folder("b", &fb);
    let devices = [&a, &b];
    let _dump = DumpLogs(&devices);
    let signup = a.signup(EMAIL, PW);
    let key = signup["account_key"]
        .as_str()
        .expect("account_key")
        .to_owned();
    let account = signup["account_id"]
        .as_str()
        .expect("account_id")
        .to_owned();
    wait_for("account.json in B's folder", PROPAGATION_LIMIT, || {
        fb.join(&account)
            .join("account.json")
            .is_file()
            .then_some(())
    });
    b.login_ok(EMAIL, PW, &key, &fb);
    a.ok(&["add", "Mail", "--password", "secret"]);
    wait_item(&b, "Mail", Instant::now());
    let b_id = b.json(&["status", "--json"])["device_id"]
        .as_str()
        .expect("device_id")
        .to_owned();
    let b_unlock_key = fa.join(&account).join(format!("unlock-{b_id}.json"));
    wait_for("B's unlock key in A's folder", PROPAGATION_LIMIT, || {
        b_unlock_key.is_file().then_some(())
    });

    b.ok(&["lock"]);
    a.with_env(&[("COFFER_PASSWORD", PW), ("COFFER_NEW_PASSWORD", "second")])
        .ok(&["passwd", "--hint", "the second one"]);
    let t = Instant::now();
    wait_for("the new hint on locked B", PROPAGATION_LIMIT, || {
        (b.ok(&["hint", "--email", EMAIL]) == "Hint: the second one\n").then_some(())
    });
    println!(
        "the password change reached B {:.2} s after passwd",
        t.elapsed().as_secs_f64()
    );
    let out = b.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was changed on device a ("), "{err}");
    b.with_env(&[("COFFER_PASSWORD", "second")]).ok(&["unlock"]);
    assert_eq!(header_of(&b)["generation"], 1);

    // Concurrent changes across a partition.
    pair.partition();
    a.with_env(&[
        ("COFFER_PASSWORD", "second"),
        ("COFFER_NEW_PASSWORD", "third a"),
    ])
    .ok(&["passwd"]);
    b.with_env(&[
        ("COFFER_PASSWORD", "second"),
        ("COFFER_NEW_PASSWORD", "third b"),
    ])
    .ok(&["passwd"]);
    pair.heal();
    let settled = wait_for("one header on both devices", PROPAGATION_LIMIT, || {
        let (ha, hb) = (header_of(&a), header_of(&b));
        (ha["generation"] == 2
            && ha["changed_by_device_id"] == hb["changed_by_device_id"]
            && ha["generation"] == hb["generation"])
            .then_some(ha)
    });
    let a_won = settled["changed_by_device_name"] == "a";
    let (win, loser) = if a_won {
        ("third a", &b)
    } else {
        ("third b", &a)
    };
    assert!(
        header_of(loser)["lost_change"]
            .as_str()
            .is_some_and(|l| l.contains("lost to a concurrent change")),
        "{}",
        header_of(loser)
    );
    for d in devices {
        d.ok(&["lock"]);
        d.with_env(&[("COFFER_PASSWORD", win)]).ok(&["unlock"]);
        assert_eq!(d.ok(&["get", "Mail"]), "secret\n");
    }
}
