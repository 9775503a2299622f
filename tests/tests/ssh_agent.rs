//! coffer's SSH agent (issue 18) through the real binaries: keys made with
//! `coffer ssh generate` and imported with `coffer add --ssh-key`, served
//! by a real `cofferd` on its agent socket to real OpenSSH clients
//! (`ssh-add`, `ssh-keygen -Y sign`/`-Y verify`, `ssh` to a throwaway
//! `sshd`), the lock semantics, listing while locked, `ssh-add` policies,
//! `ssh_agent = false`, and a key that travels to another device by sync.
//!
//! A missing OpenSSH tool skips a test with a note, unless
//! `COFFER_REQUIRE_TOOLS=1` (CI), where it fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::ssh::{fingerprint_of, keygen_file, run, text, AgentClient, Sshd, SSHD};
use coffer_blackbox::tools::require;
use coffer_blackbox::wait::wait_until;
use coffer_blackbox::{mode, short_tempdir, stderr, stdout, Device};
use serde_json::Value;

const EMAIL: &str = "ssh@example.org";
const PW: &str = "agent password";

/// A device whose config gets `extra` lines, signed up and unlocked.
fn device(name: &str, extra: &str) -> Device {
    let dev = Device::new(name);
    if !extra.is_empty() {
        let config = dev.dirs().config_file();
        let mut text = std::fs::read_to_string(&config).expect("the device has a config file");
        text.push_str(extra);
        std::fs::write(&config, text).expect("the config file can be written");
    }
    dev.signup(EMAIL, PW);
    dev
}

/// The agent socket `status --json` names.
fn agent_socket(dev: &Device) -> PathBuf {
    let st = dev.status();
    assert_eq!(st["ssh_agent"]["serving"], true, "{st:#}");
    PathBuf::from(
        st["ssh_agent"]["socket"]
            .as_str()
            .unwrap_or_else(|| panic!("no agent socket in status: {st:#}")),
    )
}

/// OpenSSH clients of `dev`'s agent, with `scratch` for their files.
fn clients(dev: &Device, scratch: &Path) -> AgentClient {
    AgentClient::new(&agent_socket(dev), scratch)
}

/// `coffer ssh list --json`'s keys.
fn keys(dev: &Device) -> Vec<Value> {
    dev.json(&["ssh", "list", "--json"])["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The key type and base64 of a public key line (without its comment).
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ssh-add -l`'s lines.
fn listed(c: &AgentClient, ssh_add: &Path) -> (bool, String) {
    let out = c.ssh_add(ssh_add, &["-l"]);
    (out.status.success(), text(&out.stdout))
}

#[test]
fn vault_keys_are_listed_by_ssh_add_and_sign_for_ssh_keygen() {
    let Some(t) = require("vault_keys_served", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (ssh_add, keygen) = (&t[0], &t[1]);
    let dev = device("laptop", "");
    let scratch = short_tempdir("csk");

    // Made in the vault, of every type.
    for args in [
        vec!["ssh", "generate", "Laptop"],
        vec![
            "ssh",
            "generate",
            "Build server",
            "--type",
            "rsa",
            "--bits",
            "2048",
        ],
        vec![
            "ssh", "generate", "Tablet", "--type", "ecdsa", "--bits", "384",
        ],
    ] {
        let line = dev.ok(&args);
        assert!(line.ends_with(&format!(" {}\n", args[2])), "{line}");
    }
    // Imported: a passphrase-protected OpenSSH key and a PEM RSA key.
    let (enc, _) = keygen_file(
        keygen,
        scratch.path(),
        "imported",
        &["-t", "ed25519", "-N", "pass phrase"],
    );
    let id = dev
        .with_env(&[("COFFER_SSH_PASSPHRASE", "pass phrase")])
        .ok(&[
            "add",
            "Imported",
            "--ssh-key",
            enc.to_str().unwrap(),
            "--notes",
            "from ssh-keygen",
        ])
        .trim()
        .to_owned();
    let (pem, _) = keygen_file(
        keygen,
        scratch.path(),
        "pem",
        &["-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM"],
    );
    dev.ok(&["add", "PEM key", "--ssh-key", pem.to_str().unwrap()]);
    let public_file = std::fs::read_to_string(enc.with_extension("pub")).unwrap();
    assert_eq!(
        key_part(&dev.ok(&["ssh", "public", &id])),
        key_part(&public_file),
        "the imported key's public half is the .pub ssh-keygen wrote"
    );

    // The socket: where `ssh env` says, private.
    let socket = agent_socket(&dev);
    assert_eq!(
        dev.ok(&["ssh", "env"]),
        format!(
            "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;\n",
            socket.display()
        )
    );
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    let c = AgentClient::new(&socket, scratch.path());

    let all = keys(&dev);
    assert_eq!(all.len(), 5, "{all:?}");
    let (ok, list) = listed(&c, ssh_add);
    assert!(ok, "ssh-add -l failed: {list}");
    assert_eq!(list.lines().count(), 5, "{list}");
    for k in &all {
        let (title, fp, public) = (
            k["title"].as_str().unwrap(),
            k["fingerprint"].as_str().unwrap(),
            k["public_key"].as_str().unwrap(),
        );
        assert!(
            list.lines().any(|l| l.contains(fp) && l.contains(title)),
            "{title} {fp} not in\n{list}"
        );
        assert_eq!(fingerprint_of(keygen, scratch.path(), public), fp);
        let sig = c
            .y_sign(keygen, public, b"signed by coffer\n")
            .unwrap_or_else(|e| panic!("ssh-keygen -Y sign with {title}: {e}"));
        assert!(
            c.y_verify(keygen, public, b"signed by coffer\n", &sig),
            "{title}"
        );
        assert!(
            !c.y_verify(keygen, public, b"other data\n", &sig),
            "{title}"
        );
    }

    // `get` of a key names its fields; the private key it gives is one
    // OpenSSH reads, with the same public half.
    let out = dev.coffer(&["get", "Laptop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--field ssh-public-key"),
        "{}",
        stderr(&out)
    );
    let private = dev.ok(&["get", "Laptop", "--field", "ssh-private-key"]);
    let file = scratch.path().join("laptop.key");
    std::fs::write(&file, private).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut derive = std::process::Command::new(keygen);
    derive.args(["-y", "-P", "", "-f"]).arg(&file);
    let out = run(derive, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        key_part(&text(&out.stdout)),
        key_part(&dev.ok(&["ssh", "public", "Laptop"]))
    );
}

#[test]
fn a_real_sshd_accepts_a_key_served_by_coffer_and_a_locked_vault_refuses() {
    let Some(t) = require("sshd_login", &["ssh", "ssh-keygen", "ssh-add", SSHD]) else {
        return;
    };
    let (ssh, keygen, ssh_add, sshd_bin) = (&t[0], &t[1], &t[2], &t[3]);
    let dev = device("laptop", "");
    let scratch = short_tempdir("csd");
    let public = dev.ok(&["ssh", "generate", "Login key"]).trim().to_owned();
    let rsa = dev
        .ok(&[
            "ssh",
            "generate",
            "RSA login",
            "--type",
            "rsa",
            "--bits",
            "2048",
        ])
        .trim()
        .to_owned();
    let sshd_dir = scratch.path().join("sshd");
    std::fs::create_dir(&sshd_dir).unwrap();
    let server = Sshd::start(sshd_bin, keygen, &sshd_dir, &[&public, &rsa]);
    let c = clients(&dev, scratch.path());

    for (key, algorithms) in [
        (&public, None),
        (&rsa, Some("rsa-sha2-256")),
        (&rsa, Some("rsa-sha2-512")),
    ] {
        let out = c.ssh_true(ssh, &server, key, algorithms);
        assert!(
            out.status.success(),
            "ssh {algorithms:?}: {}\nsshd log:\n{}\ncofferd log:\n{}",
            text(&out.stderr),
            server.log_text(),
            dev.log()
        );
    }

    // Locked: nothing listed (as OpenSSH's own agent while locked), so no
    // client asks for a signature, and no login.
    dev.ok(&["lock"]);
    let (ok, list) = listed(&c, ssh_add);
    assert!(
        !ok && list.contains("The agent has no identities."),
        "{list}"
    );
    let out = c.ssh_true(ssh, &server, &public, None);
    assert!(!out.status.success(), "a locked vault must not log in");
    assert!(c.y_sign(keygen, &public, b"x").is_err());
    // Unlocked again: it signs.
    dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    let out = c.ssh_true(ssh, &server, &public, None);
    assert!(out.status.success(), "after unlock: {}", text(&out.stderr));
}

#[test]
fn listing_while_locked_is_off_by_default_and_survives_a_restart_when_on() {
    let Some(t) = require("list_locked", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (ssh_add, keygen) = (&t[0], &t[1]);
    let scratch = short_tempdir("csl");

    // Off (the default): nothing while locked, and no index on disk.
    let plain = device("plain", "");
    plain.ok(&["ssh", "generate", "Hidden"]);
    let index = plain.dirs().data.join("ssh-agent-keys.json");
    plain.ok(&["lock"]);
    let c = clients(&plain, scratch.path());
    let (ok, list) = listed(&c, ssh_add);
    assert!(!ok && list.contains("no identities"), "{list}");
    assert_eq!(plain.code(&["ssh", "list"]), 3);
    assert!(!index.exists(), "no public-key index without the option");

    // On: listed while locked, after a restart too; still no signature.
    let dev = device("visible", "ssh_agent_list_locked = true\n");
    assert_eq!(dev.status()["ssh_agent"]["list_locked"], true);
    let public = dev.ok(&["ssh", "generate", "Visible"]).trim().to_owned();
    let fp = fingerprint_of(keygen, scratch.path(), &public);
    let index = dev.dirs().data.join("ssh-agent-keys.json");
    // Locking right after the change: the lock itself brings the index up
    // to date (the refresh after a request runs behind its reply).
    dev.ok(&["lock"]);
    let written = std::fs::read_to_string(&index).expect("the index is written");
    assert!(
        written.contains(&key_part(&public)) && !written.contains("PRIVATE"),
        "{written}"
    );
    assert_eq!(mode(&index), 0o600);
    dev.stop_daemon();
    assert_eq!(
        dev.status()["state"],
        "locked",
        "a restart after lock stays locked"
    );
    let c = clients(&dev, scratch.path());
    let (ok, list) = listed(&c, ssh_add);
    assert!(
        ok && list.contains(&fp) && list.contains("Visible"),
        "{list}"
    );
    let from_index = dev.json(&["ssh", "list", "--json"]);
    assert_eq!(from_index["from_locked_index"], true, "{from_index}");
    assert!(
        c.y_sign(keygen, &public, b"x").is_err(),
        "locked: no signature"
    );
    dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    let sig = c.y_sign(keygen, &public, b"x").expect("unlocked: it signs");
    assert!(c.y_verify(keygen, &public, b"x", &sig));
    // Logging out removes the index (its content was the vault's).
    dev.ok(&["logout"]);
    assert!(!index.exists(), "logout removes the index");
}

#[test]
fn ssh_add_is_refused_by_default_and_stored_when_configured() {
    let Some(t) = require("ssh_add_policy", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (ssh_add, keygen) = (&t[0], &t[1]);
    let scratch = short_tempdir("csa");
    let (file, _) = keygen_file(
        keygen,
        scratch.path(),
        "offered",
        &["-t", "ed25519", "-N", ""],
    );
    let file = file.to_str().unwrap();

    let dev = device("refusing", "");
    assert_eq!(dev.status()["ssh_agent"]["add_policy"], "refuse");
    let c = clients(&dev, scratch.path());
    let out = c.ssh_add(ssh_add, &[file]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("agent refused operation"),
        "{}",
        text(&out.stderr)
    );
    let log = dev.log();
    assert!(
        log.contains("refused a key offered with ssh-add")
            && log.contains("import it with coffer add --ssh-key FILE"),
        "{log}"
    );
    assert!(keys(&dev).is_empty());

    let dev = device("storing", "ssh_agent_add = \"store\"\n");
    let c = clients(&dev, scratch.path());
    let out = c.ssh_add(ssh_add, &[file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored = keys(&dev);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0]["title"], "offered",
        "titled after the key's comment"
    );
    let fp = stored[0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(
        dev.ok(&["get", "offered", "--field", "ssh-fingerprint"])
            .trim(),
        fp
    );
    // Offered again: fine, and still one item.
    assert!(c.ssh_add(ssh_add, &[file]).status.success());
    assert_eq!(keys(&dev).len(), 1);
    // Locked: refused.
    dev.ok(&["lock"]);
    assert!(!c.ssh_add(ssh_add, &[file]).status.success());
}

#[test]
fn ssh_agent_false_turns_the_agent_off() {
    let dev = device("quiet", "ssh_agent = false\n");
    let st = dev.status();
    assert!(st.get("ssh_agent").is_none(), "{st:#}");
    assert!(!dev.dirs().ssh_agent_socket().exists());
    let out = dev.coffer(&["ssh", "env"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ssh_agent = false"),
        "{}",
        stderr(&out)
    );
    // The keys are still the vault's.
    dev.ok(&["ssh", "generate", "Kept"]);
    assert_eq!(keys(&dev).len(), 1);
    assert!(dev.ok(&["status"]).contains("SSH agent:    off"));
}

#[test]
fn a_key_generated_on_one_device_signs_on_the_other_after_sync() {
    let Some(t) = require("key_travels", &["ssh-add", "ssh-keygen"]) else {
        return;
    };
    let (ssh_add, keygen) = (&t[0], &t[1]);
    let fleet = Fleet::shared(["alpha", "beta"], Account::new(EMAIL, PW));
    let [a, b] = fleet.refs();
    let public = a.ok(&["ssh", "generate", "Shared key"]).trim().to_owned();
    a.ok(&["sync", "now"]);
    wait_until(
        "the key generated on alpha in beta's agent",
        Duration::from_secs(30),
        || {
            b.ok(&["sync", "now"]);
            keys(b)
                .iter()
                .any(|k| k["title"] == "Shared key")
                .then_some(())
        },
        || b.log(),
    );
    let scratch = short_tempdir("cst");
    let c = clients(b, scratch.path());
    let (ok, list) = listed(&c, ssh_add);
    assert!(ok && list.contains("Shared key"), "{list}");
    let sig = c
        .y_sign(keygen, &public, b"from beta\n")
        .expect("beta signs with alpha's key");
    assert!(c.y_verify(keygen, &public, b"from beta\n", &sig));
}

#[test]
fn importing_and_naming_keys_say_what_is_wrong() {
    let Some(t) = require("import_errors", &["ssh-keygen"]) else {
        return;
    };
    let keygen = &t[0];
    let dev = device("careful", "");
    let scratch = short_tempdir("cse");
    let (enc, _) = keygen_file(
        keygen,
        scratch.path(),
        "enc",
        &["-t", "ed25519", "-N", "right"],
    );
    let enc = enc.to_str().unwrap();
    let fails = |env: &[(&str, &str)], args: &[&str], code: i32, needle: &str| {
        let out = dev.with_env(env).run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    };
    fails(
        &[("COFFER_SSH_PASSPHRASE", "wrong")],
        &["add", "K", "--ssh-key", enc],
        1,
        "wrong passphrase",
    );
    fails(
        &[],
        &["add", "K", "--ssh-key", enc],
        1,
        "COFFER_SSH_PASSPHRASE",
    );
    let pubfile = format!("{enc}.pub");
    fails(
        &[],
        &["add", "K", "--ssh-key", &pubfile],
        1,
        "this is a public key",
    );
    let notes = scratch.path().join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    fails(
        &[],
        &["add", "K", "--ssh-key", notes.to_str().unwrap()],
        1,
        "not an OpenSSH private key",
    );
    fails(
        &[],
        &["add", "K", "--ssh-key", "/no/such/key"],
        1,
        "cannot read the key file",
    );
    fails(
        &[("COFFER_SSH_PASSPHRASE", "right")],
        &["add", "K", "--ssh-key", enc, "--field", "kind=login"],
        2,
        "set by coffer",
    );
    fails(
        &[],
        &["ssh", "generate", "D", "--type", "dsa"],
        2,
        "unknown key type",
    );
    fails(
        &[],
        &["ssh", "generate", "R", "--type", "rsa", "--bits", "1024"],
        2,
        "2048",
    );
    assert!(keys(&dev).is_empty(), "nothing was added");

    dev.with_env(&[("COFFER_SSH_PASSPHRASE", "right")])
        .ok(&["add", "K", "--ssh-key", enc]);
    fails(
        &[("COFFER_SSH_PASSPHRASE", "right")],
        &["add", "Again", "--ssh-key", enc],
        1,
        "already in coffer as \"K\"",
    );
    let fp = keys(&dev)[0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(
        dev.ok(&["ssh", "public", &fp]),
        dev.ok(&["ssh", "public", "k"])
    );
    fails(
        &[],
        &["ssh", "public", "nothing"],
        4,
        "no SSH key has the id",
    );
    dev.ok(&["lock"]);
    fails(
        &[("COFFER_SSH_PASSPHRASE", "right")],
        &["add", "L", "--ssh-key", enc],
        3,
        "coffer unlock",
    );
    fails(&[], &["ssh", "generate", "L"], 3, "coffer unlock");
}
