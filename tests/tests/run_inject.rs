//! Secrets into commands and files (issue 18): `coffer run` and `coffer
//! inject` through the real binaries.
//!
//! `run` must resolve every reference before anything starts and then BE
//! the command (exec): the secret is in the command's environment, in no
//! process's argv, and no coffer process stays around holding it.
//! `inject` renders all or nothing and leaves its output 0600.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_blackbox::items::add;
use coffer_blackbox::process::run_with_input;
use coffer_blackbox::{coffer_bin, mode, short_tempdir, stderr, stdout, Device};
use coffer_vault::otp::{totp_at, OtpSpec};

const EMAIL: &str = "run@example.org";
const PW: &str = "run password";
const TIMEOUT: Duration = Duration::from_secs(60);

fn device() -> Device {
    let dev = Device::new("runner");
    dev.signup(EMAIL, PW);
    dev
}

/// A value no process would hold by chance.
fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("Zr{what}{nanos:09}{}x", std::process::id())
}

/// Every process's argv that holds `needle`, as `pid: argv`.
fn argv_holding(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is mounted")
        .flatten()
    {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let argv = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if argv.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(format!("{pid}: {}", String::from_utf8_lossy(&argv)));
        }
    }
    found
}

#[test]
fn run_becomes_the_command_with_the_secrets_only_in_its_environment() {
    let dev = device();
    let secret = unique("DbPw");
    let key = unique("ApiKey");
    let id = add(
        &dev,
        "Postgres",
        &[("username", "app"), ("password", &secret)],
    );
    add(&dev, "Work VPN/EU", &[("api key", &key)]);
    let mut cmd = dev.with_env(&[("COFFER_PASSWORD", PW)]).command(
        &coffer_bin(),
        &[
            "run",
            "--env",
            "PGPASSWORD=coffer://Postgres/password",
            "--env",
            &format!("PGUSER=coffer://{id}/username"),
            "--env",
            "API_KEY=coffer://Work%20VPN%2FEU/api%20key",
            "--",
            "sh",
            "-c",
            "env; echo READY; read _",
        ],
    );
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("coffer run starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let ready = line == "READY";
            lines.push(line);
            if ready {
                let _ = tx.send(lines.clone());
            }
        }
    });
    let env = rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the command never said READY: {}", dev.log())
    });
    // While it runs: the pid coffer had is the command (exec, no coffer
    // left in between), and no process's argv holds a secret.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let argv_leaks = [argv_holding(&secret), argv_holding(&key)].concat();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ppid: u32 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    child.stdin.take().unwrap().write_all(b"done\n").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(comm.trim(), "sh", "coffer exec'd the command");
    assert_eq!(ppid, std::process::id(), "the command is this test's child");
    assert!(argv_leaks.is_empty(), "secrets in argv: {argv_leaks:?}");
    assert!(env.contains(&format!("PGPASSWORD={secret}")), "{env:?}");
    assert!(env.contains(&"PGUSER=app".to_owned()), "{env:?}");
    assert!(env.contains(&format!("API_KEY={key}")), "{env:?}");
    assert!(
        !env.iter().any(|l| l.starts_with("COFFER_PASSWORD=")),
        "coffer's own secrets are not passed on: {env:?}"
    );
}

#[test]
fn run_refuses_before_starting_and_passes_the_exit_status() {
    let dev = device();
    add(&dev, "Postgres", &[("password", "pg-pw")]);
    let scratch = short_tempdir("crn");
    let marker = scratch.path().join("ran");
    let touch = ["--", "touch", marker.to_str().unwrap()];
    let run = |env: &[&str], tail: &[&str]| {
        let mut args = vec!["run"];
        for e in env {
            args.extend(["--env", e]);
        }
        args.extend(tail);
        dev.coffer(&args)
    };

    let out = run(
        &["A=coffer://Nope/password", "B=coffer://Postgres/pin"],
        &touch,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("2 references did not resolve; the command was not run")
            && err.contains("--env A: coffer://Nope/password: no item")
            && err.contains(
                "--env B: coffer://Postgres/pin: \"Postgres\" has no field named \"pin\""
            ),
        "{err}"
    );
    let out = run(&["B=coffer://Postgres/pin"], &touch);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing field: {}",
        stderr(&out)
    );
    let out = run(&["B=pg-pw"], &touch);
    assert_eq!(out.status.code(), Some(2), "a value that is no reference");
    assert!(!stderr(&out).contains("pg-pw"), "{}", stderr(&out));
    assert!(!marker.exists(), "nothing ran");

    let out = run(&[], &["--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "the command's own status");
    let out = run(&[], &["--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));

    // An env file mixes plain values and references; --env wins over it.
    let env_file = scratch.path().join("app.env");
    std::fs::write(
        &env_file,
        "# the app\nexport HOST=db.internal\nPW=coffer://Postgres/password\nLEVEL='debug # not a comment'\n",
    )
    .unwrap();
    let out = dev.ok(&[
        "run",
        "--env-file",
        env_file.to_str().unwrap(),
        "--env",
        "HOST=coffer://Postgres/title",
        "--",
        "sh",
        "-c",
        "echo \"$HOST|$PW|$LEVEL\"",
    ]);
    assert_eq!(out, "Postgres|pg-pw|debug # not a comment\n");

    // The current one-time code (RFC 6238's seed).
    let uri = "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    add(&dev, "With OTP", &[("otp", uri)]);
    let spec = OtpSpec::parse_uri(uri).unwrap();
    let code_at = |t: SystemTime| {
        let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        totp_at(&spec, secs).unwrap().0.expose().to_owned()
    };
    let before = code_at(SystemTime::now());
    let got = dev.ok(&[
        "run",
        "--env",
        "CODE=coffer://With%20OTP/totp",
        "--",
        "sh",
        "-c",
        "echo $CODE",
    ]);
    let after = code_at(SystemTime::now());
    assert!(
        got.trim() == before || got.trim() == after,
        "{got} vs {before}/{after}"
    );

    // Locked: refused, nothing runs.
    dev.ok(&["lock"]);
    let out = run(&["A=coffer://Postgres/password"], &touch);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("coffer unlock"), "{}", stderr(&out));
    assert!(!marker.exists(), "nothing ran");
}

#[test]
fn inject_renders_all_or_nothing_into_private_output() {
    let dev = device();
    add(
        &dev,
        "Postgres",
        &[("username", "app"), ("password", "pg pw")],
    );
    let scratch = short_tempdir("cin");
    let template = "user: {{ coffer://Postgres/username }}\npass: {{coffer://Postgres/password}}\nimage: {{ .Values.image }}\nliteral: \\{{ coffer://Postgres/password }}\n";
    let expected = "user: app\npass: pg pw\nimage: {{ .Values.image }}\nliteral: {{ coffer://Postgres/password }}\n";

    // stdin to stdout.
    let cmd = dev.call().command(&coffer_bin(), &["inject"]);
    let out = run_with_input(cmd, template.as_bytes(), TIMEOUT).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), expected);

    // -i / -o: a new private file.
    let tmpl = scratch.path().join("config.tmpl");
    std::fs::write(&tmpl, template).unwrap();
    let file = scratch.path().join("config.yml");
    dev.ok(&[
        "inject",
        "-i",
        tmpl.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    assert_eq!(mode(&file), 0o600);

    // stdout redirected to a world-readable file: made 0600 first.
    let redirected = scratch.path().join("redirected.yml");
    let f = std::fs::File::create(&redirected).unwrap();
    std::fs::set_permissions(&redirected, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = dev
        .call()
        .command(&coffer_bin(), &["inject", "-i", tmpl.to_str().unwrap()]);
    let status = cmd
        .stdout(f)
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&redirected).unwrap(), expected);
    assert_eq!(
        mode(&redirected),
        0o600,
        "a shell redirection is made private"
    );

    // An unknown reference: nothing written anywhere, exit 4.
    let bad = scratch.path().join("bad.tmpl");
    std::fs::write(
        &bad,
        "a: {{ coffer://Postgres/password }}\nb: {{ coffer://Gone/password }}\n",
    )
    .unwrap();
    let out = dev.coffer(&[
        "inject",
        "-i",
        bad.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 2, column 4: coffer://Gone/password"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("pg pw"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected,
        "the old file is untouched"
    );
    let cmd = dev
        .call()
        .command(&coffer_bin(), &["inject", "-i", bad.to_str().unwrap()]);
    let out = run_with_input(cmd, b"", TIMEOUT).unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    // A syntax error names its place.
    std::fs::write(&bad, "x\n  {{ coffer://My Item/password }}\n").unwrap();
    let out = dev.coffer(&["inject", "-i", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 2, column 3"),
        "{}",
        stderr(&out)
    );
}
