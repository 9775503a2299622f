//! coffer as git's credential helper (issue 18), through real git with
//! `credential.helper=coffer`: git runs `git-credential-coffer` (built
//! next to `coffer`, on PATH here), which runs `coffer git-credential`.
//!
//! - A real clone over HTTP from a local server that wants Basic auth (a
//!   small Python server in front of a bare repository, git's "dumb" HTTP
//!   protocol): git stores the credential another helper gave, then gets
//!   it from coffer alone, and rejects (erases) it once it stops working.
//! - `git credential fill|approve|reject` for the matching rules: host,
//!   path with `credential.useHttpPath`, username, unchanged approvals,
//!   erase only of the rejected password, a locked vault.
//!
//! No password ever shows on stderr.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use coffer_blackbox::process::run_with_input;
use coffer_blackbox::tools::require;
use coffer_blackbox::{bin_dir, short_tempdir, stderr, stdout, Device};
use serde_json::Value;

const EMAIL: &str = "git@example.org";
const PW: &str = "git helper password";
const TIMEOUT: Duration = Duration::from_secs(60);

/// git with `dev`'s environment, coffer's binaries first on PATH, no
/// prompts, no system config.
struct Git<'a> {
    dev: &'a Device,
    git: PathBuf,
    path: String,
    /// Every stderr seen, to check that no secret reached one.
    stderrs: std::cell::RefCell<Vec<String>>,
}

impl<'a> Git<'a> {
    fn new(dev: &'a Device, git: &Path) -> Self {
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Git {
            dev,
            git: git.to_path_buf(),
            path,
            stderrs: Default::default(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        self.dev
            .with_env(&[
                ("PATH", &self.path),
                ("GIT_TERMINAL_PROMPT", "0"),
                ("GIT_CONFIG_NOSYSTEM", "1"),
            ])
            .command(&self.git, args)
    }

    fn run(&self, args: &[&str], input: &str) -> Output {
        let out = run_with_input(self.command(args), input.as_bytes(), TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        self.stderrs.borrow_mut().push(stderr(&out));
        out
    }

    /// `git -c credential.helper=coffer [-c EXTRA]… credential OP` with
    /// `input`.
    fn credential(&self, extra: &[&str], op: &str, input: &str) -> Output {
        let mut args = vec!["-c", "credential.helper=coffer"];
        for e in extra {
            args.extend(["-c", e]);
        }
        args.extend(["credential", op]);
        self.run(&args, input)
    }

    /// What `git credential fill` answers for `input` (username, password),
    /// or `None` when git got nothing (it fails: no prompts).
    fn fill(&self, extra: &[&str], input: &str) -> Option<(String, String)> {
        let out = self.credential(extra, "fill", input);
        if !out.status.success() {
            return None;
        }
        let text = stdout(&out);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_default()
                .to_owned()
        };
        Some((get("username"), get("password")))
    }

    fn assert_no_secret_on_stderr(&self, secrets: &[&str]) {
        for e in self.stderrs.borrow().iter() {
            for s in secrets {
                assert!(!e.contains(s), "a password reached stderr: {e}");
            }
        }
    }
}

/// The items `list --json` shows.
fn items(dev: &Device) -> Vec<Value> {
    dev.json(&["list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A Python HTTP server in front of `root` that wants Basic auth for
/// `user:password`; killed on drop.
struct AuthServer {
    child: Child,
    port: u16,
}

const SERVER: &str = r#"
import base64, http.server, sys
root, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
want = "Basic " + base64.b64encode((user + ":" + password).encode()).decode()
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="coffer test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl AuthServer {
    fn start(python: &Path, root: &Path, user: &str, password: &str) -> AuthServer {
        let mut child = Command::new(python)
            .args(["-c", SERVER])
            .arg(root)
            .args([user, password])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the HTTP server");
        let out = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("the HTTP server prints its port");
        let port = line.trim().parse().expect("a port number");
        AuthServer { child, port }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare repository with one commit, served as plain files.
fn bare_repo(git: &Path, dir: &Path) -> PathBuf {
    let work = dir.join("work");
    let bare = dir.join("repo.git");
    let sh = |args: &[&str], cwd: &Path| {
        let mut c = Command::new(git);
        c.args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org");
        let out = run_with_input(c, b"", TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    std::fs::create_dir(&work).unwrap();
    sh(&["init", "-q", "-b", "main"], &work);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    sh(&["add", "README"], &work);
    sh(&["commit", "-q", "-m", "first"], &work);
    sh(&["clone", "-q", "--bare", "work", "repo.git"], dir);
    sh(&["update-server-info"], &bare);
    bare
}

#[test]
fn git_stores_gets_and_erases_through_coffer_on_a_real_clone() {
    let Some(t) = require("git_clone_with_coffer", &["git", "python3"]) else {
        return;
    };
    let (git_bin, python) = (&t[0], &t[1]);
    let dev = Device::new("laptop");
    dev.signup(EMAIL, PW);
    let g = Git::new(&dev, git_bin);
    let dir = short_tempdir("cgr");
    let bare = bare_repo(git_bin, dir.path());
    let good = "s3cret-Git-pw";
    let server = AuthServer::start(python, dir.path(), "alice", good);
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let clone = |helpers: &[&str], into: &str| {
        let mut args = vec!["-c", "credential.helper="];
        for h in helpers {
            args.extend(["-c", h]);
        }
        let target = dir.path().join(into);
        let target = target.to_str().unwrap().to_owned();
        args.extend(["clone", "-q", url.as_str()]);
        args.push(&target);
        let out = g.run(&args, "");
        (out.status.success(), stderr(&out))
    };
    assert!(bare.join("info/refs").exists());

    // Nothing in coffer: git cannot authenticate (no prompts).
    let (ok, err) = clone(&["credential.helper=coffer"], "c0");
    assert!(!ok, "{err}");
    // Another helper gives the credential; the clone works and git asks
    // every helper to store it: coffer keeps it.
    let giver = format!(
        "credential.helper=!f() {{ test \"$1\" = get && printf 'username=alice\\npassword={good}\\n'; }}; f"
    );
    let (ok, err) = clone(&["credential.helper=coffer", &giver], "c1");
    assert!(ok, "{err}\n{}", dev.log());
    let stored = items(&dev);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["title"], format!("127.0.0.1:{}", server.port));
    assert_eq!(
        stored[0]["url"],
        format!("http://127.0.0.1:{}", server.port)
    );
    assert_eq!(stored[0]["username"], "alice");
    assert_eq!(
        dev.ok(&["get", stored[0]["id"].as_str().unwrap()]).trim(),
        good
    );

    // coffer alone now answers.
    let (ok, err) = clone(&["credential.helper=coffer"], "c2");
    assert!(ok, "{err}");
    assert!(dir.path().join("c2/README").exists());
    assert_eq!(items(&dev).len(), 1, "an unchanged credential adds nothing");

    // The server's password changes: git rejects what coffer gave, and
    // coffer lets go of it (to the trash, as `coffer rm`).
    drop(server);
    let server = AuthServer::start(python, dir.path(), "alice", "a-new-password");
    let url2 = format!("http://127.0.0.1:{}/repo.git", server.port);
    dev.ok(&[
        "edit",
        stored[0]["id"].as_str().unwrap(),
        "--url",
        &format!("http://127.0.0.1:{}", server.port),
    ]);
    let target = dir.path().join("c3");
    let out = g.run(
        &[
            "-c",
            "credential.helper=",
            "-c",
            "credential.helper=coffer",
            "clone",
            "-q",
            &url2,
            target.to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        items(&dev).is_empty(),
        "the rejected credential is gone: {:?}",
        items(&dev)
    );
    g.assert_no_secret_on_stderr(&[good, "a-new-password"]);
}

#[test]
fn credentials_match_by_host_path_and_username() {
    let Some(t) = require("git_credential_matching", &["git"]) else {
        return;
    };
    let dev = Device::new("desk");
    dev.signup(EMAIL, PW);
    let g = Git::new(&dev, &t[0]);
    let add = |title: &str, url: &str, user: &str, pw: &str| {
        dev.ok(&[
            "add",
            title,
            "--url",
            url,
            "--username",
            user,
            "--password",
            pw,
        ]);
    };
    add("repo a", "https://git.example.test/org/a.git", "a", "pw-A");
    add("repo b", "https://git.example.test/org/b", "b", "pw-B");
    add("other host", "https://elsewhere.test", "x", "pw-X");
    add("login", "https://git.example.test", "alice", "pw-H");
    let path = ["credential.useHttpPath=true"];

    // With useHttpPath, the repository's own item.
    assert_eq!(
        g.fill(&path, "url=https://git.example.test/org/b.git\n\n"),
        Some(("b".into(), "pw-B".into()))
    );
    // A path coffer has no item for: the host's item.
    assert_eq!(
        g.fill(&path, "url=https://git.example.test/org/c.git\n\n"),
        Some(("alice".into(), "pw-H".into()))
    );
    // Without it, git sends no path: the most recently changed of the host.
    assert_eq!(
        g.fill(&[], "url=https://git.example.test/org/a.git\n\n"),
        Some(("alice".into(), "pw-H".into()))
    );
    // A username git sends must match.
    assert_eq!(
        g.fill(&[], "url=https://a@git.example.test/\n\n"),
        Some(("a".into(), "pw-A".into()))
    );
    // Another host, another protocol: nothing (git fails without prompts).
    assert_eq!(g.fill(&[], "url=https://unknown.test/\n\n"), None);
    assert_eq!(g.fill(&[], "url=http://git.example.test/\n\n"), None);

    // approve: the same credential changes nothing; a new password updates
    // the item, the old one going to its history.
    let approve = |pw: &str| {
        let out = g.credential(
            &[],
            "approve",
            &format!("url=https://alice@git.example.test\npassword={pw}\n\n"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    approve("pw-H");
    assert!(dev.json(&["history", "login", "--json"])["entries"]
        .as_array()
        .unwrap()
        .is_empty());
    approve("pw-H2");
    assert_eq!(dev.ok(&["get", "login"]).trim(), "pw-H2");
    assert!(dev
        .json(&["history", "login", "--json"])
        .to_string()
        .contains("pw-H"));
    assert_eq!(items(&dev).len(), 4);

    // reject: only an item holding the rejected password goes.
    let reject = |pw: &str| {
        let out = g.credential(
            &[],
            "reject",
            &format!("url=https://alice@git.example.test\npassword={pw}\n\n"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    reject("not-the-stored-one");
    assert_eq!(items(&dev).len(), 4, "a different password erases nothing");
    reject("pw-H2");
    assert_eq!(items(&dev).len(), 3);
    assert!(
        dev.code(&["get", "login"]) == 4,
        "the rejected item is gone"
    );

    // An operation git may add later is ignored.
    let out = g.run(&["credential-coffer", "frobnicate"], "protocol=https\n\n");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        stderr(&out)
    );

    g.assert_no_secret_on_stderr(&["pw-A", "pw-B", "pw-X", "pw-H", "pw-H2"]);
}

#[test]
fn a_locked_vault_answers_nothing_and_says_why_on_stderr() {
    let Some(t) = require("git_credential_locked", &["git"]) else {
        return;
    };
    let dev = Device::new("locked");
    dev.signup(EMAIL, PW);
    dev.ok(&[
        "add",
        "h",
        "--url",
        "https://h.test",
        "--username",
        "u",
        "--password",
        "pw-locked",
    ]);
    let g = Git::new(&dev, &t[0]);
    assert_eq!(
        g.fill(&[], "url=https://h.test\n\n"),
        Some(("u".into(), "pw-locked".into()))
    );
    dev.ok(&["lock"]);
    let out = g.credential(&[], "fill", "url=https://h.test\n\n");
    assert!(
        !out.status.success(),
        "git has no credential and may not prompt"
    );
    assert!(
        stderr(&out).contains("the vault is locked")
            && stderr(&out).contains("git asks for the credential itself"),
        "{}",
        stderr(&out)
    );
    // The helper itself: nothing on stdout, exit 3.
    let helper = dev
        .with_env(&[])
        .command(&coffer_blackbox::coffer_bin(), &["git-credential", "get"]);
    let out = run_with_input(helper, b"protocol=https\nhost=h.test\n\n", TIMEOUT).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    // store while locked: not saved, said so.
    let out = g.credential(&[], "approve", "url=https://u@h.test\npassword=pw-new\n\n");
    assert!(stderr(&out).contains("was not saved"), "{}", stderr(&out));
    dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    assert_eq!(dev.ok(&["get", "h"]).trim(), "pw-locked");
    g.assert_no_secret_on_stderr(&["pw-locked", "pw-new"]);
}
