//! Search through the real binaries (issue 17): `coffer search`, `list
//! --search` and `get` with search terms; ranked, by registrable domain,
//! never over secret fields; the daemon's index follows adds, edits,
//! removals and other devices' changes.

use std::time::Duration;

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{stderr, stdout, Device};
use serde_json::Value;

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "search@example.org";

/// The titles `search TERMS --json` lists, in its order.
fn found(dev: &Device, terms: &[&str]) -> Vec<String> {
    let mut args = vec!["search"];
    args.extend_from_slice(terms);
    args.push("--json");
    let j: Value = dev.json(&args);
    j.as_array()
        .unwrap_or_else(|| panic!("search --json is an array: {j}"))
        .iter()
        .map(|h| h["title"].as_str().unwrap().to_owned())
        .collect()
}

fn vault(dev: &Device) {
    dev.signup(EMAIL, PW);
    for args in [
        vec![
            "add",
            "GitHub",
            "--username",
            "ann",
            "--url",
            "https://github.com/login",
        ],
        vec![
            "add",
            "Gist",
            "--username",
            "ann-gists",
            "--url",
            "https://gist.github.com/ann",
        ],
        vec![
            "add",
            "Evil",
            "--url",
            "https://github.com.evil.example/login",
        ],
        vec![
            "add",
            "Bank of Examples",
            "--username",
            "ann",
            "--url",
            "https://www.bank.example.co.uk",
        ],
        vec!["add", "Other bank", "--url", "https://other.co.uk"],
        // Secret fields that would match, were they searched.
        vec![
            "add",
            "Mail",
            "--password",
            "github",
            "--notes",
            "github.com gist",
            "--field",
            "pin=github",
        ],
        vec![
            "add",
            "Router",
            "--field",
            "tags=home\nnetwork",
            "--url",
            "http://192.168.1.1/admin",
        ],
    ] {
        dev.ok(&args);
    }
}

#[test]
fn ranked_by_domain_and_never_over_secret_fields() {
    let dev = Device::new("search");
    vault(&dev);
    // Registrable domain: github.com matches gist.github.com, not the look-alike.
    let hits = found(&dev, &["github.com"]);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits.contains(&"GitHub".to_owned()) && hits.contains(&"Gist".to_owned()));
    assert_eq!(found(&dev, &["https://gist.github.com/other"]).len(), 2);
    assert_eq!(found(&dev, &["example.co.uk"]), ["Bank of Examples"]);
    assert_eq!(found(&dev, &["192.168.1.1"]), ["Router"]);
    // Title matches first; notes, passwords and custom fields are never searched.
    let hits = found(&dev, &["git"]);
    assert_eq!(hits.first().map(String::as_str), Some("GitHub"), "{hits:?}");
    assert!(!hits.contains(&"Mail".to_owned()), "{hits:?}");
    assert!(found(&dev, &["gist", "notes"]).is_empty());
    // Tags and usernames; every term must match; case and accents fold.
    assert_eq!(found(&dev, &["network"]), ["Router"]);
    assert_eq!(found(&dev, &["ann", "gists"]), ["Gist"]);
    assert_eq!(found(&dev, &["BÄNK", "examples"]), ["Bank of Examples"]);
    // Fuzzy: the letters in order.
    assert_eq!(found(&dev, &["rtr"]), ["Router"]);
    // The JSON says how each matched.
    let j = dev.json(&["search", "github", "--json"]);
    assert_eq!(j[0]["match"], "exact", "{j}");
    assert!(
        j[0]["id"].as_str().is_some() && j[0].get("password").is_none(),
        "{j}"
    );
    // --limit, the table, list --search, no match.
    assert_eq!(
        dev.json(&["search", "ann", "--limit", "1", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let table = dev.ok(&["search", "github.com"]);
    assert!(
        table.contains("GitHub") && table.contains("Gist") && !table.contains("Evil"),
        "{table}"
    );
    let list = dev.ok(&["list", "--search", "bank"]);
    assert!(
        list.contains("Bank of Examples") && list.contains("Other bank") && !list.contains("Mail"),
        "{list}"
    );
    let out = dev.coffer(&["search", "nothing-like-this"]);
    assert!(out.status.success());
    assert!(stdout(&out).is_empty() && stderr(&out).contains("No item matches"));
    assert_eq!(dev.code(&["search"]), 2);
    dev.ok(&["lock"]);
    assert_eq!(dev.code(&["search", "git"]), 3);
}

#[test]
fn get_takes_one_match_and_lists_several() {
    let dev = Device::new("getsearch");
    vault(&dev);
    dev.ok(&["edit", "Gist", "--password", "gist-pw"]);
    // One hit: taken.
    assert_eq!(dev.ok(&["get", "gist"]).trim(), "gist-pw");
    assert_eq!(
        dev.ok(&["get", "ann-gists", "--field", "url"]).trim(),
        "https://gist.github.com/ann"
    );
    // Several: the candidates, exit 1 (as an ambiguous title).
    let out = dev.coffer(&["get", "github.com"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("2 items match") && err.contains("GitHub") && err.contains("Gist"),
        "{err}"
    );
    // None: exit 4.
    assert_eq!(dev.code(&["get", "zzzz-nothing"]), 4);
    // An exact title wins over other matches.
    assert_eq!(dev.json(&["get", "github", "--json"])["title"], "GitHub");
    // --search: search terms only (an exact title among the hits is taken).
    assert_eq!(dev.ok(&["get", "--search", "ann gists"]).trim(), "gist-pw");
    assert_eq!(
        dev.json(&["get", "--search", "github", "--json"])["title"],
        "GitHub"
    );
    let out = dev.coffer(&["get", "--search", "github.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Gist"), "{}", stderr(&out));
    assert_eq!(dev.code(&["get", "--search", "zzzz-nothing"]), 4);
    // rm and edit still want an id or exact title.
    assert_eq!(dev.code(&["rm", "ann-gists"]), 4);
    assert_eq!(dev.code(&["edit", "ann-gists", "--password", "x"]), 4);
}

#[test]
fn the_index_follows_changes_here_and_from_another_device() {
    let f = Fleet::shared(["a", "b"], Account::new(EMAIL, PW));
    let [a, b] = &f.devices;
    a.ok(&["add", "Alpha", "--url", "https://alpha.example"]);
    assert_eq!(found(a, &["alpha"]), ["Alpha"]);
    a.ok(&["edit", "Alpha", "--title", "Omega"]);
    assert!(found(a, &["alpha.example"]) == ["Omega"]);
    assert!(found(a, &["alp"]).iter().all(|t| t == "Omega"));
    assert_eq!(found(a, &["omega"]), ["Omega"]);
    a.ok(&["rm", "Omega"]);
    assert!(
        found(a, &["omega"]).is_empty(),
        "trashed items are not found"
    );
    // An item added on b is found on a once merged.
    b.ok(&["add", "Beta", "--username", "bob"]);
    wait_for("b's item in a's search", Duration::from_secs(10), || {
        a.ok(&["sync", "now"]);
        (found(a, &["bob"]) == ["Beta"]).then_some(())
    });
    b.ok(&["edit", "Beta", "--username", "robert"]);
    wait_for("b's edit in a's search", Duration::from_secs(10), || {
        a.ok(&["sync", "now"]);
        (found(a, &["robert"]) == ["Beta"] && found(a, &["bob"]).is_empty()).then_some(())
    });
    // Locking drops the index; unlocking builds it again.
    a.ok(&["lock"]);
    a.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    assert_eq!(found(a, &["robert"]), ["Beta"]);
}
