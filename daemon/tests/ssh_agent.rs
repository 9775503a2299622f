//! The SSH agent against real OpenSSH clients: `ssh-add`, `ssh-keygen -Y
//! sign`/`-Y verify`, and `ssh` logging in to a real `sshd` on 127.0.0.1
//! with a key served by the agent.
//!
//! The agent runs in-process ([`cofferd::ssh_agent::serve`]) over an
//! in-memory [`TestBackend`]: a list of keys and a `locked` flag. The
//! clients and the throwaway `sshd` are the black-box tests' own
//! (`coffer_blackbox::ssh`), each run with a hard timeout. A missing tool
//! skips a test with a note, unless `COFFER_REQUIRE_TOOLS=1`, where it
//! fails.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_blackbox::short_tempdir;
use coffer_blackbox::ssh::{is_root, keygen_file, run, text, AgentClient, Sshd};

use cofferd::ssh_agent::keys::{self, KeyKind, KeyMaterial, SigningKey};
use cofferd::ssh_agent::server::socket_path;
use cofferd::ssh_agent::{
    serve, AddPolicy, AgentBackend, AgentIdentity, AgentOptions, AgentSocket, BackendFuture,
    Refusal,
};
use ssh_key::public::KeyData;
use ssh_key::Signature;
use tempfile::TempDir;

// ---------------------------------------------------------------- tools

fn require_tools(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    coffer_blackbox::tools::require(test, tools)
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

// ---------------------------------------------------------------- backend

/// The in-memory backend: keys in a Vec, a `locked` flag, and records of
/// what the agent asked.
#[derive(Default)]
struct TestBackend {
    keys: Mutex<Vec<(SigningKey, String)>>,
    locked: AtomicBool,
    /// Whether listing works while locked (a user setting in the daemon).
    list_while_locked: bool,
    /// Makes `sign` never answer.
    hang: AtomicBool,
    /// The flags of every signature made, with the key's fingerprint.
    signed: Mutex<Vec<(String, u32)>>,
    adds: AtomicUsize,
}

impl TestBackend {
    fn with_keys(keys: &[&KeyMaterial]) -> Self {
        let b = Self::default();
        for m in keys {
            b.push(m);
        }
        b
    }

    fn push(&self, m: &KeyMaterial) {
        let key = SigningKey::from_openssh(&m.private_openssh).expect("stored key loads");
        self.keys.lock().unwrap().push((key, m.comment.clone()));
    }

    fn flags_for(&self, fingerprint: &str) -> Vec<u32> {
        self.signed
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| f == fingerprint)
            .map(|(_, flags)| *flags)
            .collect()
    }
}

impl AgentBackend for TestBackend {
    fn identities(&self) -> BackendFuture<'_, Vec<AgentIdentity>> {
        Box::pin(async move {
            if self.locked.load(Ordering::SeqCst) && !self.list_while_locked {
                return Err(Refusal::Locked);
            }
            Ok(self
                .keys
                .lock()
                .unwrap()
                .iter()
                .map(|(k, comment)| AgentIdentity {
                    public_key: k.key_data().clone(),
                    comment: comment.clone(),
                })
                .collect())
        })
    }

    fn sign<'a>(
        &'a self,
        key: &'a KeyData,
        data: &'a [u8],
        flags: u32,
    ) -> BackendFuture<'a, Signature> {
        Box::pin(async move {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.locked.load(Ordering::SeqCst) {
                return Err(Refusal::Locked);
            }
            let keys = self.keys.lock().unwrap();
            let (k, _) = keys
                .iter()
                .find(|(k, _)| k.key_data() == key)
                .ok_or(Refusal::UnknownKey)?;
            let sig = k
                .sign(data, flags)
                .map_err(|e| Refusal::Failed(e.to_string()))?;
            self.signed
                .lock()
                .unwrap()
                .push((keys::fingerprint(key), flags));
            Ok(sig)
        })
    }

    fn add(&self, key: SigningKey, comment: String) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            self.adds.fetch_add(1, Ordering::SeqCst);
            self.keys.lock().unwrap().push((key, comment));
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- agent

/// An agent served in the background on a socket in a temporary directory.
struct Agent {
    dir: TempDir,
    sock: PathBuf,
    clients: AgentClient,
    backend: Arc<TestBackend>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Agent {
    fn start(backend: TestBackend, options: AgentOptions) -> Self {
        init_logging();
        let dir = short_tempdir("cfa");
        let sock = socket_path(&dir.path().join("coffer"));
        let clients = AgentClient::new(&sock, dir.path());
        let socket = AgentSocket::bind(&sock).expect("bind the agent socket");
        let backend = Arc::new(backend);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let serving: Arc<dyn AgentBackend> = backend.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(serve(socket, serving, options, stopped))
        });
        Agent {
            dir,
            sock,
            clients,
            backend,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.clients.path(name)
    }

    /// A client command with a clean environment pointing at the agent.
    fn client(&self, tool: &Path) -> Command {
        self.clients.command(tool)
    }

    /// Stops the server and waits for it (bounded).
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !thread.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "the agent did not stop within 20 s of shutdown"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            thread
                .join()
                .expect("the agent thread panicked")
                .expect("serve returned an error");
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

fn ed25519(comment: &str) -> KeyMaterial {
    keys::generate(KeyKind::Ed25519, comment).unwrap()
}
fn rsa(comment: &str) -> KeyMaterial {
    keys::generate(KeyKind::Rsa { bits: 2048 }, comment).unwrap()
}
fn ecdsa(comment: &str) -> KeyMaterial {
    keys::generate(KeyKind::EcdsaP256, comment).unwrap()
}

fn y_sign(agent: &Agent, keygen: &Path, public_line: &str, data: &[u8]) -> Result<String, String> {
    agent.clients.y_sign(keygen, public_line, data)
}

fn y_verify(agent: &Agent, keygen: &Path, public_line: &str, data: &[u8], sig: &str) -> bool {
    agent.clients.y_verify(keygen, public_line, data, sig)
}

// ---------------------------------------------------------------- tests

#[test]
fn ssh_add_lists_every_key_with_its_fingerprint_and_comment() {
    let Some(tools) = require_tools("ssh_add_lists", &["ssh-add"]) else {
        return;
    };
    let keys = [ed25519("ed key"), rsa("rsa key"), ecdsa("ec key")];
    let mut agent = Agent::start(
        TestBackend::with_keys(&keys.iter().collect::<Vec<_>>()),
        AgentOptions::default(),
    );

    let mut cmd = agent.client(&tools[0]);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(out.status.success(), "ssh-add -l: {}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    for (line, (key, kind)) in lines
        .iter()
        .zip(keys.iter().zip(["(ED25519)", "(RSA)", "(ECDSA)"]))
    {
        assert!(line.contains(&key.fingerprint), "{line} vs {key:?}");
        assert!(line.contains(&key.comment), "{line}");
        assert!(line.ends_with(kind), "{line}");
    }

    let mut cmd = agent.client(&tools[0]);
    cmd.arg("-L");
    let out = run(cmd, b"");
    assert!(out.status.success(), "ssh-add -L: {}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    let expected: Vec<&str> = keys.iter().map(|k| k.public_line.as_str()).collect();
    assert_eq!(lines, expected);
    agent.stop();
    assert!(
        !agent.sock.exists(),
        "the socket file is removed at shutdown"
    );
}

#[test]
fn ssh_keygen_signs_through_the_agent_and_verifies_for_every_key_type() {
    let Some(tools) = require_tools("ssh_keygen_signs", &["ssh-keygen"]) else {
        return;
    };
    let keygen = &tools[0];
    let keys = [ed25519("ed"), rsa("rsa"), ecdsa("ec"), {
        keys::generate(KeyKind::EcdsaP384, "ec384").unwrap()
    }];
    let mut agent = Agent::start(
        TestBackend::with_keys(&keys.iter().collect::<Vec<_>>()),
        AgentOptions::default(),
    );
    let data = b"a file to sign\n";
    for key in &keys {
        let sig = y_sign(&agent, keygen, &key.public_line, data)
            .unwrap_or_else(|e| panic!("ssh-keygen -Y sign with {}: {e}", key.algorithm));
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
        assert!(
            y_verify(&agent, keygen, &key.public_line, data, &sig),
            "ssh-keygen -Y verify rejected the {} signature",
            key.algorithm
        );
        assert!(
            !y_verify(&agent, keygen, &key.public_line, b"other data\n", &sig),
            "a signature over other data must not verify"
        );
    }
    // ssh-keygen asks for rsa-sha2-512 for RSA keys.
    assert_eq!(agent.backend.flags_for(&keys[1].fingerprint), vec![4]);
    // A key the agent does not hold cannot sign.
    let stranger = ed25519("stranger");
    assert!(y_sign(&agent, keygen, &stranger.public_line, data).is_err());
    agent.stop();
}

#[test]
fn a_locked_agent_lists_nothing_refuses_to_sign_and_signs_after_unlock() {
    let Some(tools) = require_tools("locked_agent", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (add, keygen) = (&tools[0], &tools[1]);
    let key = ed25519("locked key");
    let backend = TestBackend::with_keys(&[&key]);
    backend.locked.store(true, Ordering::SeqCst);
    let mut agent = Agent::start(backend, AgentOptions::default());

    let mut cmd = agent.client(add);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("The agent has no identities."),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(y_sign(&agent, keygen, &key.public_line, b"x").is_err());
    assert!(agent.backend.signed.lock().unwrap().is_empty());

    agent.backend.locked.store(false, Ordering::SeqCst);
    let mut cmd = agent.client(add);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&key.fingerprint));
    let sig = y_sign(&agent, keygen, &key.public_line, b"x").expect("signs once unlocked");
    assert!(y_verify(&agent, keygen, &key.public_line, b"x", &sig));
    agent.stop();
}

#[test]
fn listing_while_locked_when_allowed_still_refuses_to_sign() {
    let Some(tools) = require_tools("list_while_locked", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let key = ecdsa("visible while locked");
    let backend = TestBackend {
        list_while_locked: true,
        ..TestBackend::with_keys(&[&key])
    };
    backend.locked.store(true, Ordering::SeqCst);
    let mut agent = Agent::start(backend, AgentOptions::default());
    let mut cmd = agent.client(&tools[0]);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&key.fingerprint));
    assert!(y_sign(&agent, &tools[1], &key.public_line, b"x").is_err());
    agent.stop();
}

#[test]
fn a_backend_that_never_answers_gets_the_client_a_failure_not_a_hang() {
    let Some(tools) = require_tools("hanging_backend", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let key = ed25519("slow");
    let backend = TestBackend::with_keys(&[&key]);
    backend.hang.store(true, Ordering::SeqCst);
    let mut agent = Agent::start(
        backend,
        AgentOptions {
            call_timeout: Duration::from_secs(1),
            ..AgentOptions::default()
        },
    );
    // The client's own timeout (coffer_blackbox::ssh::CLIENT_TIMEOUT) fails the test on a hang.
    assert!(y_sign(&agent, &tools[1], &key.public_line, b"x").is_err());
    // Listing does not wait on the stuck signature.
    let mut cmd = agent.client(&tools[0]);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    agent.stop();
}

#[test]
fn ssh_add_is_refused_by_default_and_stored_when_the_policy_allows() {
    let Some(tools) = require_tools("ssh_add_policy", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (add, keygen) = (&tools[0], &tools[1]);

    // Default policy: refused, the backend never asked.
    let mut agent = Agent::start(TestBackend::default(), AgentOptions::default());
    let (file, _) = keygen_file(
        keygen,
        agent.dir.path(),
        "offered",
        &["-t", "ed25519", "-N", ""],
    );
    let mut cmd = agent.client(add);
    cmd.arg(&file);
    let out = run(cmd, b"");
    assert!(!out.status.success(), "ssh-add must be refused");
    assert!(
        text(&out.stderr).contains("agent refused operation"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(agent.backend.adds.load(Ordering::SeqCst), 0);
    agent.stop();

    // Store policy: kept and listed; constrained adds are still refused.
    let mut agent = Agent::start(
        TestBackend::default(),
        AgentOptions {
            add_policy: AddPolicy::Store,
            ..AgentOptions::default()
        },
    );
    let (file, body) = keygen_file(
        keygen,
        agent.dir.path(),
        "stored",
        &["-t", "ed25519", "-N", ""],
    );
    let fp = keys::import(&body, None, None).unwrap().fingerprint;
    let mut cmd = agent.client(add);
    cmd.arg("-t").arg("60").arg(&file);
    let out = run(cmd, b"");
    assert!(!out.status.success(), "ssh-add -t (a lifetime) is refused");
    let mut cmd = agent.client(add);
    cmd.arg(&file);
    let out = run(cmd, b"");
    assert!(out.status.success(), "ssh-add: {}", text(&out.stderr));
    assert_eq!(agent.backend.adds.load(Ordering::SeqCst), 1);
    let mut cmd = agent.client(add);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(text(&out.stdout).contains(&fp), "{}", text(&out.stdout));
    // ssh-add -D (remove all) is refused; the key stays.
    let mut cmd = agent.client(add);
    cmd.arg("-D");
    let out = run(cmd, b"");
    assert!(!out.status.success(), "ssh-add -D must be refused");
    assert_eq!(agent.backend.keys.lock().unwrap().len(), 1);
    agent.stop();
}

#[test]
fn keys_made_by_ssh_keygen_import_and_are_served_and_stored_keys_read_in_openssh() {
    let Some(tools) = require_tools("ssh_keygen_import", &["ssh-keygen"]) else {
        return;
    };
    let keygen = &tools[0];
    let dir = short_tempdir("cfa");
    let mut imported = Vec::new();
    for (name, args, pass) in [
        ("ed_plain", vec!["-t", "ed25519", "-N", ""], None),
        (
            "ed_pass",
            vec!["-t", "ed25519", "-N", "s3cret pass"],
            Some("s3cret pass"),
        ),
        (
            "rsa_pass",
            vec!["-t", "rsa", "-b", "2048", "-N", "pw"],
            Some("pw"),
        ),
        (
            "ec_pass",
            vec!["-t", "ecdsa", "-b", "384", "-N", "pw"],
            Some("pw"),
        ),
        (
            "rsa_pem",
            vec!["-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM"],
            None,
        ),
        (
            "rsa_pkcs8",
            vec!["-t", "rsa", "-b", "2048", "-N", "", "-m", "PKCS8"],
            None,
        ),
    ] {
        let (file, body) = keygen_file(keygen, dir.path(), name, &args);
        if pass.is_some() {
            assert!(matches!(
                keys::import(&body, None, None),
                Err(keys::KeyError::PassphraseNeeded)
            ));
            assert!(matches!(
                keys::import(&body, Some(b"not it"), None),
                Err(keys::KeyError::WrongPassphrase)
            ));
        }
        let m = keys::import(&body, pass.map(str::as_bytes), Some(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // ssh-keygen's fingerprint of its own public key is ours.
        let mut cmd = Command::new(keygen);
        cmd.arg("-l").arg("-f").arg(file.with_extension("pub"));
        let out = run(cmd, b"");
        assert!(
            text(&out.stdout).contains(&m.fingerprint),
            "{name}: {} vs {}",
            text(&out.stdout),
            m.fingerprint
        );
        // What coffer stores is a private key OpenSSH reads without a
        // passphrase, with the same public key.
        let stored = dir.path().join(format!("{name}.stored"));
        std::fs::write(&stored, m.private_openssh.as_bytes()).unwrap();
        std::fs::set_permissions(&stored, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut cmd = Command::new(keygen);
        cmd.arg("-y").arg("-P").arg("").arg("-f").arg(&stored);
        let out = run(cmd, b"");
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let derived = keys::parse_public_line(&text(&out.stdout)).unwrap();
        assert_eq!(
            keys::fingerprint(derived.key_data()),
            m.fingerprint,
            "{name}"
        );
        imported.push(m);
    }

    let mut agent = Agent::start(
        TestBackend::with_keys(&imported.iter().collect::<Vec<_>>()),
        AgentOptions::default(),
    );
    for m in &imported {
        let sig = y_sign(&agent, keygen, &m.public_line, b"imported\n")
            .unwrap_or_else(|e| panic!("{}: {e}", m.comment));
        assert!(y_verify(
            &agent,
            keygen,
            &m.public_line,
            b"imported\n",
            &sig
        ));
    }
    agent.stop();
}

#[test]
fn another_users_connection_is_refused() {
    if !is_root() {
        eprintln!(
            "SKIP another_users_connection_is_refused: needs root to run ssh-add as another user"
        );
        return;
    }
    let Some(tools) = require_tools("other_user", &["ssh-add", "setpriv"]) else {
        return;
    };
    let key = ed25519("mine");
    let mut agent = Agent::start(TestBackend::with_keys(&[&key]), AgentOptions::default());
    // Open the directory and socket to everyone, as a misconfiguration
    // would: the peer uid check is what still refuses.
    let run_dir = agent.sock.parent().unwrap().to_path_buf();
    for p in [agent.dir.path(), run_dir.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&agent.sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut cmd = agent.client(&tools[1]);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&tools[0])
        .arg("-l");
    let out = run(cmd, b"");
    assert!(!out.status.success());
    assert!(
        !text(&out.stdout).contains(&key.fingerprint),
        "another user must not see the keys"
    );
    assert!(
        text(&out.stderr).contains("agent refused operation"),
        "{} / {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The owner still gets the list.
    let mut cmd = agent.client(&tools[0]);
    cmd.arg("-l");
    let out = run(cmd, b"");
    assert!(text(&out.stdout).contains(&key.fingerprint));
    agent.stop();
}

// ---------------------------------------------------------------- sshd

fn ssh_true(
    agent: &Agent,
    ssh: &Path,
    sshd: &Sshd,
    public_line: &str,
    algorithms: Option<&str>,
) -> Output {
    agent.clients.ssh_true(ssh, sshd, public_line, algorithms)
}

#[test]
fn a_real_sshd_accepts_every_key_type_served_by_the_agent() {
    let Some(tools) = require_tools("sshd_login", &["ssh", "ssh-keygen", "/usr/sbin/sshd"]) else {
        return;
    };
    let (ssh, keygen, sshd_bin) = (&tools[0], &tools[1], &tools[2]);
    let ed = ed25519("ed");
    let rs = keys::generate(KeyKind::Rsa { bits: 3072 }, "rsa").unwrap();
    let ec = ecdsa("ec");
    let unauthorized = ed25519("not authorized");
    let mut agent = Agent::start(
        TestBackend::with_keys(&[&ed, &rs, &ec, &unauthorized]),
        AgentOptions::default(),
    );
    let sshd_dir = agent.path("sshd");
    std::fs::create_dir(&sshd_dir).unwrap();
    let server = Sshd::start(
        sshd_bin,
        keygen,
        &sshd_dir,
        &[&ed.public_line, &rs.public_line, &ec.public_line],
    );
    let log = || std::fs::read_to_string(&server.log).unwrap_or_default();

    for (key, algorithms, flag) in [
        (&ed, None, None),
        (&ec, None, None),
        (&rs, Some("rsa-sha2-256"), Some(2)),
        (&rs, Some("rsa-sha2-512"), Some(4)),
    ] {
        let before = agent.backend.flags_for(&key.fingerprint).len();
        let out = ssh_true(&agent, ssh, &server, &key.public_line, algorithms);
        assert!(
            out.status.success(),
            "ssh with {} {algorithms:?}: {}\nsshd log:\n{}",
            key.algorithm,
            text(&out.stderr),
            log()
        );
        let flags = agent.backend.flags_for(&key.fingerprint);
        assert_eq!(flags.len(), before + 1, "one signature per login");
        if let Some(flag) = flag {
            assert_eq!(flags.last(), Some(&flag), "{algorithms:?}");
        }
    }

    // A key the server does not authorize is not accepted.
    let out = ssh_true(&agent, ssh, &server, &unauthorized.public_line, None);
    assert!(!out.status.success(), "an unauthorized key must fail");

    // Locked: the agent refuses to sign and the login fails; unlocked, it
    // works again.
    agent.backend.locked.store(true, Ordering::SeqCst);
    let out = ssh_true(&agent, ssh, &server, &ed.public_line, None);
    assert!(!out.status.success(), "a locked agent must not log in");
    agent.backend.locked.store(false, Ordering::SeqCst);
    let out = ssh_true(&agent, ssh, &server, &ed.public_line, None);
    assert!(out.status.success(), "after unlock: {}", text(&out.stderr));
    drop(server);
    agent.stop();
}

// ---------------------------------------------------------------- raw protocol

/// Sends one framed request and reads one framed answer (bounded).
fn exchange(stream: &mut std::os::unix::net::UnixStream, body: &[u8]) -> Option<Vec<u8>> {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    stream.write_all(&frame).ok()?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn malformed_and_oversized_requests_and_shutdown_with_an_idle_client() {
    let key = ed25519("raw");
    let mut agent = Agent::start(TestBackend::with_keys(&[&key]), AgentOptions::default());
    let connect = || {
        let s = std::os::unix::net::UnixStream::connect(&agent.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    };
    let mut s = connect();
    // An unknown message type and a truncated sign request: failure (5),
    // and the connection goes on.
    assert_eq!(exchange(&mut s, &[200]).as_deref(), Some(&[5u8][..]));
    assert_eq!(exchange(&mut s, &[13, 0, 0]).as_deref(), Some(&[5u8][..]));
    // An empty frame is malformed too.
    assert_eq!(exchange(&mut s, &[]).as_deref(), Some(&[5u8][..]));
    // ssh-add -x (lock with a passphrase) is refused.
    assert_eq!(
        exchange(&mut s, &[22, 0, 0, 0, 2, b'p', b'w']).as_deref(),
        Some(&[5u8][..])
    );
    let list = exchange(&mut s, &[11]).expect("identities answer");
    assert_eq!(list[0], 12, "SSH_AGENT_IDENTITIES_ANSWER");
    assert_eq!(&list[1..5], &1u32.to_be_bytes(), "one identity");

    // A frame over the limit closes the connection without reading it.
    let mut big = connect();
    big.write_all(&(1024u32 * 1024).to_be_bytes()).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(big.read(&mut buf).unwrap_or(0), 0, "closed");

    // Shutdown does not wait for an idle client to hang up.
    let _idle = connect();
    agent.stop();
}
