//! Tests of the account header.
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::mac::Canonical;
use super::*;
use crate::error::FormatError;

fn fast() -> KdfParams {
    KdfParams::fast_insecure_for_tests()
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s)
}

fn new_account() -> NewAccount {
    AccountHeader::create(
        "ann@example.com",
        "the usual",
        &pw("hunter2"),
        fast(),
        1_700_000_000_000,
    )
    .expect("create")
}

#[test]
fn create_then_unlock() {
    let acct = new_account();
    let h = &acct.header;
    assert_eq!(h.epoch, 1);
    assert_eq!(h.email, "ann@example.com");
    assert_eq!(h.hint, "the usual");
    assert_eq!(h.created_ms, 1_700_000_000_000);
    assert_eq!(h.plan, default_plan());
    assert_eq!(h.kdf, fast());
    assert_eq!(h.salt.len(), SALT_LEN);
    assert_eq!(h.wrapped_vault_key.len(), WRAPPED_KEY_LEN);
    assert_eq!(h.mac.len(), MAC_LEN);
    assert_eq!(h.reset, None);
    let vk = h.unlock(&pw("hunter2"), &acct.account_key).expect("unlock");
    assert_eq!(vk, acct.vault_key);
    assert_eq!(h.verify(&vk), Ok(()));
}

#[test]
fn wrong_password_and_wrong_key_are_one_error() {
    let acct = new_account();
    let by_pw = acct.header.unlock(&pw("hunter3"), &acct.account_key);
    let by_key = acct.header.unlock(&pw("hunter2"), &AccountKey::generate());
    assert_eq!(by_pw, Err(AccountError::WrongCredentials));
    assert_eq!(by_key, Err(AccountError::WrongCredentials));
    assert_eq!(
        AccountError::WrongCredentials.to_string(),
        "Account Password or Account Key is wrong"
    );
}

#[test]
fn absurd_params_are_refused_before_deriving() {
    let acct = new_account();
    let mut h = acct.header.clone();
    h.kdf.m_kib = u32::MAX;
    assert_eq!(
        h.unlock(&pw("hunter2"), &acct.account_key),
        Err(AccountError::Kdf(KdfError::Memory { m_kib: u32::MAX }))
    );
    h.kdf = KdfParams { t: 1000, ..fast() };
    assert_eq!(
        h.unlock(&pw("hunter2"), &acct.account_key),
        Err(AccountError::Kdf(KdfError::Passes { t: 1000 }))
    );
    let absurd = KdfParams { p: 64, ..fast() };
    assert!(matches!(
        AccountHeader::create("a@b", "", &pw("x"), absurd, 0),
        Err(AccountError::Kdf(KdfError::Lanes { p: 64 }))
    ));
}

#[test]
fn every_field_is_authenticated() {
    let acct = new_account();
    let (key, good) = (&acct.account_key, &acct.header);
    let unlock = |h: &AccountHeader| h.unlock(&pw("hunter2"), key);
    type Edit = fn(&mut AccountHeader);
    // Fields outside the KEK and the wrap's AD: caught by the MAC.
    let mac_caught: [(&str, Edit); 8] = [
        ("email", |h| h.email.push('x')),
        ("hint", |h| h.hint = "a different hint".into()),
        ("created", |h| h.created_ms += 1),
        ("plan", |h| {
            h.plan.insert("plan".into(), Value::String("family".into()));
        }),
        ("plan nested", |h| {
            h.plan
                .insert("seats".into(), serde_json::json!([1, {"a": null}]));
        }),
        ("reset added", |h| {
            h.reset = Some(ResetInfo {
                at_ms: 1,
                by_device_id: "d".into(),
                by_device_name: "n".into(),
                previous_epoch: 0,
            })
        }),
        ("mac", |h| h.mac[0] ^= 1),
        ("mac length", |h| {
            h.mac.pop();
        }),
    ];
    for (what, edit) in mac_caught {
        let mut h = good.clone();
        edit(&mut h);
        assert_eq!(unlock(&h), Err(AccountError::Tampered), "{what}");
        assert_eq!(
            h.verify(&acct.vault_key),
            Err(AccountError::Tampered),
            "{what}"
        );
    }
    // Fields that feed the KEK or the wrap's AD: the unwrap fails.
    let wrap_caught: [(&str, Edit); 6] = [
        ("account id", |h| h.account_id = uuid::Uuid::new_v4()),
        ("epoch", |h| h.epoch += 1),
        ("salt", |h| h.salt[0] ^= 1),
        ("kdf", |h| h.kdf.t += 1),
        ("wrapped key", |h| h.wrapped_vault_key[30] ^= 1),
        ("wrapped key length", |h| {
            h.wrapped_vault_key.pop();
        }),
    ];
    for (what, edit) in wrap_caught {
        let mut h = good.clone();
        edit(&mut h);
        assert_eq!(unlock(&h), Err(AccountError::WrongCredentials), "{what}");
        assert_eq!(
            h.verify(&acct.vault_key),
            Err(AccountError::Tampered),
            "{what}"
        );
    }
}

#[test]
fn change_password_rewraps_the_same_vault_key() {
    let acct = new_account();
    let params = KdfParams { t: 2, ..fast() };
    let new = acct
        .header
        .change_password(&acct.vault_key, &acct.account_key, &pw("n3w pass"), params)
        .expect("change");
    assert_eq!(new.epoch, acct.header.epoch);
    assert_eq!(new.kdf, params);
    assert_ne!(new.salt, acct.header.salt);
    assert_eq!(new.account_id, acct.header.account_id);
    assert_eq!(
        new.unlock(&pw("n3w pass"), &acct.account_key),
        Ok(acct.vault_key.clone())
    );
    assert_eq!(
        new.unlock(&pw("hunter2"), &acct.account_key),
        Err(AccountError::WrongCredentials)
    );
    // A tampered header, or a wrong vault key, is not re-authenticated.
    let mut tampered = acct.header.clone();
    tampered.hint = "evil".into();
    assert_eq!(
        tampered.change_password(&acct.vault_key, &acct.account_key, &pw("x"), fast()),
        Err(AccountError::Tampered)
    );
    assert_eq!(
        acct.header
            .change_password(&SecretKey::generate(), &acct.account_key, &pw("x"), fast()),
        Err(AccountError::Tampered)
    );
}

#[test]
fn reset_starts_a_new_epoch_and_keeps_the_identity() {
    let mut acct = new_account();
    acct.header
        .plan
        .insert("licence".into(), Value::String("L-123".into()));
    let old = acct.header.clone();
    let new = old
        .reset(
            &pw("hunter2"),
            None,
            fast(),
            1_800_000_000_000,
            "dev-2",
            "laptop",
        )
        .expect("reset");
    let h = &new.header;
    assert_eq!(h.epoch, 2);
    assert_eq!(
        (h.account_id, &h.email, h.created_ms),
        (old.account_id, &old.email, old.created_ms)
    );
    assert_eq!(h.plan, old.plan);
    assert_eq!(h.hint, old.hint);
    assert_eq!(
        h.reset,
        Some(ResetInfo {
            at_ms: 1_800_000_000_000,
            by_device_id: "dev-2".into(),
            by_device_name: "laptop".into(),
            previous_epoch: 1,
        })
    );
    assert_ne!(new.account_key, acct.account_key);
    assert_ne!(new.vault_key, acct.vault_key);
    assert_ne!(h.salt, old.salt);
    assert_eq!(
        h.unlock(&pw("hunter2"), &new.account_key),
        Ok(new.vault_key.clone())
    );
    // The old Account Key is useless, even with the same password.
    assert_eq!(
        h.unlock(&pw("hunter2"), &acct.account_key),
        Err(AccountError::WrongCredentials)
    );
    let again = h
        .reset(&pw("other"), Some("new hint"), fast(), 0, "d", "n")
        .expect("reset");
    assert_eq!(again.header.hint, "new hint");
    assert_eq!(again.header.epoch, 3);
    let mut last = old.clone();
    last.epoch = u64::MAX;
    assert!(matches!(
        last.reset(&pw("x"), None, fast(), 0, "d", "n"),
        Err(AccountError::EpochExhausted)
    ));
}

#[test]
fn precedence_is_deterministic() {
    let acct = new_account();
    let a = acct
        .header
        .reset(&pw("a"), None, fast(), 0, "d1", "one")
        .expect("reset")
        .header;
    let b = acct
        .header
        .reset(&pw("b"), None, fast(), 0, "d2", "two")
        .expect("reset")
        .header;
    assert!(
        a.precedence() > acct.header.precedence(),
        "higher epoch wins"
    );
    assert!(
        b.precedence() > acct.header.precedence(),
        "higher epoch wins"
    );
    // Concurrent resets: the lineage (reset details) with the smaller
    // SHA-256 wins, whatever password changes follow in either.
    let (da, db) = (a.lineage(), b.lineage());
    let expected = if da < db { &a } else { &b };
    let loser = if da < db { &b } else { &a };
    let loser_changed = {
        let mut l = loser.clone();
        l.generation = 5;
        l
    };
    assert!(expected.precedence() > loser_changed.precedence());
    let winner = [&acct.header, &a, &b]
        .into_iter()
        .max_by_key(|h| h.precedence());
    assert_eq!(winner, Some(expected));
    let winner = [&b, &acct.header, &a]
        .into_iter()
        .max_by_key(|h| h.precedence());
    assert_eq!(winner, Some(expected));
    assert_eq!(a.precedence(), a.clone().precedence());
    let mut hint = a.clone();
    hint.hint.push('!');
    assert_ne!(
        a.precedence(),
        hint.precedence(),
        "any difference breaks the tie"
    );
}

#[test]
fn json_round_trip_and_shape() {
    let mut acct = new_account();
    acct.header
        .plan
        .insert("seats".into(), serde_json::json!(5));
    acct.header.mac = acct.header.compute_mac(&acct.vault_key);
    let reset = acct
        .header
        .reset(&pw("p"), Some("h\"\n\u{e9}"), fast(), 5, "d", "n")
        .expect("reset");
    for h in [&acct.header, &reset.header] {
        let bytes = h.to_json();
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(
            compact.starts_with(r#"{"format":"coffer-account","version":2,"account_id":"#),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        let back = AccountHeader::from_json(&bytes).expect("round trip");
        assert_eq!(&back, h);
        assert_eq!(back.to_json(), bytes);
    }
    let text = String::from_utf8(reset.header.to_json()).expect("UTF-8");
    assert!(text.contains(&format!(
        "\"salt\": \"{}\"",
        BASE64.encode(&reset.header.salt)
    )));
    assert!(text.contains("\"previous_epoch\": 1"));
    assert!(text.contains("\"algorithm\": \"argon2id-v19\""));
}

#[test]
fn from_json_errors() {
    let acct = new_account();
    let good: Value = serde_json::from_slice(&acct.header.to_json()).expect("JSON");
    let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut v = good.clone();
        edit(v.as_object_mut().expect("object"));
        AccountHeader::from_json(&serde_json::to_vec(&v).expect("JSON"))
    };
    let corrupt = |r: Result<AccountHeader, FormatError>, needle: &str| match r {
        Err(FormatError::Corrupt(why)) => {
            assert!(why.contains(needle), "{why:?} lacks {needle:?}")
        }
        other => panic!("expected Corrupt({needle}), got {other:?}"),
    };
    let not_this = Err(FormatError::NotThisFormat {
        expected: "coffer-account",
    });

    assert_eq!(
        with(&|m| {
            m.insert("version".into(), Value::from(3));
        }),
        Err(FormatError::UnknownVersion {
            format: "coffer-account",
            version: 3
        })
    );
    assert_eq!(
        with(&|m| {
            m.insert("format".into(), Value::from("coffer-container"));
        }),
        not_this
    );
    assert_eq!(
        with(&|m| {
            m.remove("format");
        }),
        not_this
    );
    assert_eq!(AccountHeader::from_json(b"[1, 2]"), not_this);
    assert_eq!(AccountHeader::from_json(b"{}"), not_this);
    corrupt(AccountHeader::from_json(b""), "not valid JSON");
    corrupt(AccountHeader::from_json(b"\x89PNG"), "not valid JSON");
    let bytes = acct.header.to_json();
    corrupt(
        AccountHeader::from_json(&bytes[..bytes.len() / 2]),
        "not valid JSON",
    );
    corrupt(
        with(&|m| {
            m.remove("version");
        }),
        "version",
    );
    corrupt(
        with(&|m| {
            m.insert("version".into(), Value::from("1"));
        }),
        "version",
    );
    corrupt(
        with(&|m| {
            m.remove("wrapped_vault_key");
        }),
        "missing field `wrapped_vault_key`",
    );
    corrupt(
        with(&|m| {
            m.insert("extra".into(), Value::from(1));
        }),
        "unknown field `extra`",
    );
    corrupt(
        with(&|m| {
            m.insert("epoch".into(), Value::from(-1));
        }),
        "",
    );
    corrupt(
        with(&|m| {
            m.insert("salt".into(), Value::from("!!"));
        }),
        "salt is not base64",
    );
    corrupt(
        with(&|m| {
            m.insert("salt".into(), Value::from(BASE64.encode([0u8; 8])));
        }),
        "salt is 8 bytes",
    );
    corrupt(
        with(&|m| {
            m.insert("mac".into(), Value::from(BASE64.encode([0u8; 31])));
        }),
        "mac is 31 bytes",
    );
    corrupt(
        with(&|m| {
            m.insert(
                "wrapped_vault_key".into(),
                Value::from(BASE64.encode([0u8; 71])),
            );
        }),
        "wrapped_vault_key is 71 bytes",
    );
    corrupt(
        with(&|m| {
            m["kdf"]["algorithm"] = Value::from("scrypt");
        }),
        "unknown KDF algorithm",
    );
}

#[test]
fn canonical_encoding_is_unambiguous() {
    let acct = new_account();
    // Moving a character from the email to the hint changes the MAC input.
    let mut a = acct.header.clone();
    a.email = "ab".into();
    a.hint = "c".into();
    let mut b = acct.header.clone();
    b.email = "a".into();
    b.hint = "bc".into();
    assert_ne!(a.mac_input(), b.mac_input());
    // Key order of the plan does not matter; values and types do.
    let mut x = acct.header.clone();
    x.plan = serde_json::from_str(r#"{"a":1,"b":"2"}"#).expect("JSON");
    let mut y = acct.header.clone();
    y.plan = serde_json::from_str(r#"{"b":"2","a":1}"#).expect("JSON");
    assert_eq!(x.mac_input(), y.mac_input());
    y.plan = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("JSON");
    assert_ne!(x.mac_input(), y.mac_input());
    // Numbers: plain decimal, floats without exponent.
    let mut c = Canonical(Vec::new());
    c.json(&serde_json::json!([-5, 42, 0.5, 1.0, 1e21]));
    let mut want = vec![5u8];
    want.extend_from_slice(&5u64.to_be_bytes());
    for text in ["-5", "42", "0.5", "1", "1000000000000000000000"] {
        want.push(3);
        want.extend_from_slice(&(text.len() as u64).to_be_bytes());
        want.extend_from_slice(text.as_bytes());
    }
    assert_eq!(c.0, want);
}

#[test]
fn new_account_debug_hides_secrets() {
    let acct = new_account();
    let dbg = format!("{acct:?}");
    let text = acct.account_key.to_text();
    assert!(!dbg.contains(&text.expose()[3..]));
    assert!(dbg.contains("[redacted]"));
}
