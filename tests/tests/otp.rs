//! One-time codes through the real binaries (issue 17): `add --otp` and
//! `edit --otp` check and normalise the setup; `coffer totp` prints codes
//! the daemon computes (the RFC 4226 vectors for HOTP, and for TOTP the
//! code of the current time step, checked against the vault library);
//! HOTP moves its counter on as an ordinary edit that syncs; imports keep
//! the secrets of other managers' exports.

use std::time::{SystemTime, UNIX_EPOCH};

use coffer_blackbox::fleet::{Account, Fleet};
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{short_tempdir, stderr, stdout, utf8, Device};
use coffer_vault::otp::{totp_at, OtpSpec};

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "otp@example.org";
/// RFC 4226 appendix D: the secret "12345678901234567890" in base32.
const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// RFC 4226 appendix D: the codes for counters 0 to 9.
const RFC_4226: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
    "520489",
];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// `coffer totp QUERY --json`, and the codes the library gives for the
/// time steps just before and just after it ran.
fn totp_checked(dev: &Device, query: &str, uri: &str) {
    let spec = OtpSpec::parse_uri(uri).expect("a valid test URI");
    let before = totp_at(&spec, now_secs()).unwrap().0;
    let j = dev.json(&["totp", query, "--json"]);
    let after = totp_at(&spec, now_secs()).unwrap().0;
    let code = j["code"].as_str().unwrap();
    assert!(
        code == before.expose() || code == after.expose(),
        "{query}: {code} is neither {} nor {}",
        before.expose(),
        after.expose()
    );
    let left = j["seconds_left"].as_u64().unwrap();
    let period = j["period"].as_u64().unwrap();
    assert!((1..=period).contains(&left), "{j}");
}

#[test]
fn hotp_gives_the_rfc_4226_codes_and_moves_its_counter() {
    let dev = Device::new("hotp");
    dev.signup(EMAIL, PW);
    let uri = format!("otpauth://hotp/Test:ann?secret={RFC_SECRET}&counter=0");
    dev.ok(&["add", "Counter", "--otp", &uri]);
    for (n, want) in RFC_4226.iter().enumerate() {
        let out = dev.coffer(&["totp", "Counter"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), *want, "counter {n}");
    }
    let stored = dev.ok(&["get", "Counter", "--field", "otp"]);
    assert!(stored.contains("counter=10"), "{stored}");
    assert!(stored.starts_with("otpauth://hotp/"), "{stored}");
    // The counter moved by edits: the old setups are in the history.
    let j = dev.json(&["totp", "Counter", "--json"]);
    assert_eq!(j["kind"], "hotp");
    assert_eq!(j["counter"], 10);
    assert!(j.get("seconds_left").is_none(), "{j}");
}

#[test]
fn totp_codes_for_every_algorithm_and_setup_errors() {
    let dev = Device::new("totp");
    dev.signup(EMAIL, PW);
    let setups = [
        ("Sha1", format!("otpauth://totp/A:me?secret={RFC_SECRET}")),
        (
            "Sha256",
            "otpauth://totp/B:me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&algorithm=SHA256&digits=8&period=60".to_owned(),
        ),
        (
            "Sha512",
            "otpauth://totp/C:me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA&algorithm=SHA512&digits=7&period=15".to_owned(),
        ),
    ];
    for (title, uri) in &setups {
        dev.ok(&["add", title, "--otp", uri]);
        totp_checked(&dev, title, uri);
    }
    let j = dev.json(&["totp", "Sha256", "--json"]);
    assert_eq!(j["code"].as_str().unwrap().len(), 8);
    assert_eq!(j["period"], 60);

    // `edit --otp` on an item without one; a bare base32 secret is a TOTP.
    dev.ok(&["add", "Later", "--username", "me"]);
    let out = dev.coffer(&["totp", "Later"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no one-time code"),
        "{}",
        stderr(&out)
    );
    dev.ok(&["edit", "Later", "--otp", "jbsw y3dp ehpk 3pxp"]);
    let stored = dev.ok(&["get", "Later", "--field", "otp"]);
    assert!(
        stored.contains("secret=JBSWY3DPEHPK3PXP"),
        "normalised: {stored}"
    );
    totp_checked(&dev, "Later", stored.trim());

    // Bad setups are refused at add time, without echoing the secret.
    for bad in [
        "otpauth://totp/X?secret=NOT*BASE32SECRETVALUE",
        "otpauth://totp/X?secret=JBSWY3DPEHPK3PXP&digits=12",
        "otpauth://totp/X?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
        "otpauth://hotp/X?secret=JBSWY3DPEHPK3PXP",
        "https://example.org",
    ] {
        let out = dev.coffer(&["add", "Bad", "--otp", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("one-time-code setup"), "{err}");
        assert!(
            !err.contains("BASE32SECRETVALUE") && !err.contains("JBSWY3DP"),
            "{err}"
        );
    }
    assert_eq!(dev.code(&["get", "Bad"]), 4, "nothing was added");
    // A locked vault gives no codes.
    dev.ok(&["lock"]);
    assert_eq!(dev.code(&["totp", "Sha1"]), 3);
}

#[test]
fn the_hotp_counter_syncs_to_the_other_device() {
    let f = Fleet::shared(["a", "b"], Account::new(EMAIL, PW));
    let [a, b] = &f.devices;
    let uri = format!("otpauth://hotp/Test:ann?secret={RFC_SECRET}&counter=0");
    a.ok(&["add", "Counter", "--otp", &uri]);
    assert_eq!(a.ok(&["totp", "Counter"]).trim(), RFC_4226[0]);
    wait_for(
        "the moved counter on b",
        std::time::Duration::from_secs(10),
        || {
            b.ok(&["sync", "now"]);
            let stored = b.coffer(&["get", "Counter", "--field", "otp"]);
            stdout(&stored).contains("counter=1").then_some(())
        },
    );
    assert_eq!(b.ok(&["totp", "Counter"]).trim(), RFC_4226[1]);
    wait_for(
        "b's counter on a",
        std::time::Duration::from_secs(10),
        || {
            a.ok(&["sync", "now"]);
            stdout(&a.coffer(&["get", "Counter", "--field", "otp"]))
                .contains("counter=2")
                .then_some(())
        },
    );
    assert_eq!(a.ok(&["totp", "Counter"]).trim(), RFC_4226[2]);
}

#[test]
fn imports_keep_the_one_time_codes_of_other_managers() {
    let dev = Device::new("otpimp");
    dev.signup(EMAIL, PW);
    let dir = short_tempdir("cotp");
    let bitwarden = dir.path().join("bw.json");
    std::fs::write(
        &bitwarden,
        format!(
            r#"{{"encrypted": false, "folders": [], "items": [
  {{"id": "1", "type": 1, "name": "BW uri", "login": {{"username": "u", "password": "p",
    "totp": "otpauth://totp/BW:u?secret={RFC_SECRET}&issuer=BW"}}}},
  {{"id": "2", "type": 1, "name": "BW bare", "login": {{"username": "u", "password": "p",
    "totp": "JBSWY3DPEHPK3PXP"}}}},
  {{"id": "3", "type": 1, "name": "BW steam", "login": {{"username": "u", "password": "p",
    "totp": "steam://JBSWY3DPEHPK3PXP"}}}}
]}}"#
        ),
    )
    .unwrap();
    dev.ok(&["import", "bitwarden", utf8(&bitwarden)]);
    let keepassxc = dir.path().join("kp.csv");
    std::fs::write(
        &keepassxc,
        format!(
            "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\"\n\
             \"Root\",\"KP\",\"u\",\"p\",\"\",\"\",\"otpauth://totp/KP:u?secret={RFC_SECRET}&period=30&digits=6\"\n"
        ),
    )
    .unwrap();
    dev.ok(&["import", "keepassxc-csv", utf8(&keepassxc)]);
    let onepassword = dir.path().join("op.csv");
    std::fs::write(
        &onepassword,
        format!(
            "Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n\
             OP,https://op.example,u,p,otpauth://totp/OP:u?secret={RFC_SECRET},false,false,,\n"
        ),
    )
    .unwrap();
    dev.ok(&["import", "1password-csv", utf8(&onepassword)]);

    let uri = format!("otpauth://totp/X:u?secret={RFC_SECRET}");
    for title in ["BW uri", "KP", "OP"] {
        totp_checked(&dev, title, &uri);
    }
    totp_checked(&dev, "BW bare", "otpauth://totp/X?secret=JBSWY3DPEHPK3PXP");
    let steam = dev.json(&["totp", "BW steam", "--json"]);
    assert_eq!(steam["kind"], "steam");
    assert_eq!(steam["code"].as_str().unwrap().len(), 5);
}
