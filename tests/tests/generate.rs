//! The password generator through the real binaries (issue 17):
//! `coffer generate` runs in the CLI alone (signed out, no daemon);
//! `add --generate` and `edit --generate` make the password in the daemon,
//! print it only when asked, and remember the item's policy for the next
//! `--generate`.

use coffer_blackbox::items::{field, get, history_values};
use coffer_blackbox::{stderr, stdout, Device};

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "gen@example.org";

#[test]
fn generate_needs_no_daemon_and_prints_only_the_password() {
    let dev = Device::new("gen");
    let out = dev.coffer(&["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    assert_eq!(lines[0].chars().count(), 20, "{text:?}");
    // Not a terminal: nothing on stderr (scripts capture 2>&1 cleanly).
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_ne!(dev.ok(&["generate"]), text, "two draws differ");

    let j = dev.json(&["generate", "--json"]);
    assert_eq!(j["policy"], "chars:len=20;classes=luds");
    let bits = j["entropy_bits"].as_f64().unwrap();
    assert!(bits > 129.0 && bits < 130.0, "{j}");

    let words = dev.ok(&["generate", "--words", "5", "--separator", "."]);
    assert_eq!(words.trim().split('.').count(), 5, "{words}");
    assert!(words
        .trim()
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-'));
    let j = dev.json(&["generate", "--words", "6", "--json"]);
    assert!(
        (j["entropy_bits"].as_f64().unwrap() - 77.5).abs() < 0.1,
        "{j}"
    );

    let alnum = dev.ok(&["generate", "--length", "32", "--no-symbols", "--no-similar"]);
    let alnum = alnum.trim();
    assert_eq!(alnum.len(), 32);
    assert!(alnum.chars().all(|c| c.is_ascii_alphanumeric()), "{alnum}");
    assert!(
        !alnum.contains(['0', 'O', 'o', '1', 'I', 'i', 'l']),
        "{alnum}"
    );
    let custom = dev.ok(&["generate", "--length", "12", "--symbols", "#"]);
    assert!(
        custom.trim().contains('#'),
        "every class at least once: {custom}"
    );
    let policy = dev.ok(&["generate", "--policy", "chars:len=8;classes=d"]);
    assert!(policy.trim().len() == 8 && policy.trim().chars().all(|c| c.is_ascii_digit()));

    for bad in [
        vec!["generate", "--length", "2"],
        vec!["generate", "--words", "4", "--length", "8"],
        vec!["generate", "--no-symbols", "--symbols", "#"],
        vec!["generate", "--policy", "bogus"],
        vec!["generate", "--words", "99"],
    ] {
        let out = dev.coffer(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("coffer: "), "{bad:?}");
    }
    // It never started a daemon.
    assert!(dev.daemon_pid().is_none(), "generate started cofferd");
}

#[test]
fn add_and_edit_generate_in_the_daemon_and_remember_the_policy() {
    let dev = Device::new("gend");
    dev.signup(EMAIL, PW);

    // Default policy; the password is not printed, only the id.
    let out = dev.coffer(&["add", "Bank", "--username", "ann", "--generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    let bank = get(&dev, &id);
    let first = field(&bank, "password");
    assert_eq!(first.chars().count(), 20);
    assert!(!stdout(&out).contains(&first) && !stderr(&out).contains(&first));
    assert_eq!(
        dev.ok(&["get", "Bank", "--field", "password-policy"])
            .trim(),
        "chars:len=20;classes=luds"
    );

    // A passphrase policy, shown on request (id, then the password).
    let out = dev.coffer(&["add", "Mail", "--generate", "words:n=5;sep=.", "--show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[1].split('.').count(), 5, "{text}");
    assert_eq!(dev.ok(&["get", "Mail"]).trim(), lines[1]);

    // The next --generate without a policy reuses the remembered one.
    let out = dev.coffer(&["edit", "Mail", "--generate", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["generated"]["policy"], "words:n=5;sep=.");
    let second = reply["generated"]["password"].as_str().unwrap().to_owned();
    assert_eq!(second.split('.').count(), 5);
    assert_ne!(second, lines[1]);
    assert_eq!(dev.ok(&["get", "Mail"]).trim(), second);
    assert!(history_values(&dev, "Mail", "password").contains(&lines[1].to_owned()));

    // Flags adjust it (a character flag switches to a character policy).
    dev.ok(&["edit", "Mail", "--length", "30", "--no-symbols"]);
    let third = dev.ok(&["get", "Mail"]);
    assert_eq!(third.trim().len(), 30);
    assert!(third.trim().chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        dev.ok(&["get", "Mail", "--field", "password-policy"])
            .trim(),
        "chars:len=30;classes=lud"
    );
    dev.ok(&["edit", "Mail", "--generate"]);
    assert_eq!(dev.ok(&["get", "Mail"]).trim().len(), 30);

    // Usage errors.
    for bad in [
        vec!["add", "X", "--generate", "--password", "p"],
        vec!["add", "X", "--generate", "chars:len=1;classes=l"],
        vec![
            "edit",
            "Mail",
            "--generate",
            "--words",
            "3",
            "--length",
            "9",
        ],
        vec!["add", "X", "--show"],
    ] {
        let out = dev.coffer(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    // A policy field set by hand that is no policy: a clear error.
    dev.ok(&["edit", "Bank", "--field", "password-policy=nonsense"]);
    let out = dev.coffer(&["edit", "Bank", "--generate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("password-policy"), "{}", stderr(&out));
    assert_eq!(field(&get(&dev, "Bank"), "password"), first, "unchanged");
}
