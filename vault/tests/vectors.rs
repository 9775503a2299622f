//! Runs every test vector in `tests/vectors/` and checks what it expects.
//!
//! Each file is one JSON document with a `kind`:
//! - `account-header`: an `account.json` text, a password and an Account Key
//!   text, and `expect` = `success` (with `vault_key_sha256`, the hex SHA-256
//!   of the unwrapped vault key), `wrong key`, `tampered header`,
//!   `unknown version`, `not this format`, `truncated`, `corrupt` or
//!   `kdf refused`;
//! - `account-key`: Account Key texts and what parsing each must give;
//! - `kdf`: inputs of `derive_kek` and the expected KEK in hex;
//! - `header-choice`: a device's `current` header (opened with the password
//!   and Account Key), `candidates` found in the folders, and what the
//!   device makes of them (`newest` adopted, `forged`, `older`: indices).
//!
//! The version-1 files (`header-*.json` but `header-v2-*`) were written once
//! by the ignored test `generate_vectors`, the version-2 ones
//! (`header-v2-*.json`, `header-choice-*.json`) by `generate_v2_vectors`
//! (`cargo test -p coffer-vault --test vectors -- --ignored generate_v2_vectors`);
//! they pin the formats, so regenerate them only for a new format version.
//! Version-1 headers must keep reading (as generation 0) and writing back
//! byte for byte.

use std::path::{Path, PathBuf};

use coffer_vault::account::{AccountError, AccountHeader};
use coffer_vault::account_key::{AccountKey, AccountKeyError};
use coffer_vault::error::FormatError;
use coffer_vault::kdf::{derive_kek, KdfError, KdfParams};
use coffer_vault::secret::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
enum Vector {
    #[serde(rename = "account-header")]
    Header {
        description: String,
        expect: String,
        header: String,
        password: String,
        account_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vault_key_sha256: Option<String>,
    },
    #[serde(rename = "account-key")]
    Key {
        description: String,
        cases: Vec<KeyCase>,
    },
    #[serde(rename = "header-choice")]
    Choice {
        description: String,
        password: String,
        account_key: String,
        current: String,
        candidates: Vec<String>,
        newest: Option<usize>,
        forged: Vec<usize>,
        older: Vec<usize>,
    },
    #[serde(rename = "unlock-key")]
    UnlockKey {
        description: String,
        /// `success`, `tampered`, `unknown version`, `not this format`, `corrupt`.
        expect: String,
        file: String,
        vault_key_hex: String,
    },
    #[serde(rename = "kdf")]
    Kdf {
        description: String,
        password: String,
        account_key: String,
        salt_hex: String,
        params: KdfParams,
        account_id: uuid::Uuid,
        epoch: u64,
        kek_hex: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCase {
    input: String,
    /// `valid`, or the error as [`describe_key_error`] spells it.
    expect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    canonical: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("vector hex is valid"))
        .collect()
}

fn describe_key_error(e: &AccountKeyError) -> String {
    match e {
        AccountKeyError::Empty => "empty".into(),
        AccountKeyError::NotAnAccountKey => "not an account key".into(),
        AccountKeyError::UnknownVersion(v) => format!("unknown version {v}"),
        AccountKeyError::WrongLength { found } => format!("wrong length {found}"),
        AccountKeyError::WrongGroupCount { found } => format!("wrong group count {found}"),
        AccountKeyError::GroupLength { group, found } => format!("group {group} length {found}"),
        AccountKeyError::InvalidCharacter { group, position } => {
            format!("invalid character group {group} position {position}")
        }
        AccountKeyError::Mistyped { group } => format!("mistyped group {group}"),
        other => format!("unexpected error: {other}"),
    }
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

/// What reading and unlocking `header` gives, as an `expect` string.
fn run_header(header: &str, password: &str, account_key: &str) -> Result<String, String> {
    let parsed = match AccountHeader::from_json(header.as_bytes()) {
        Ok(h) => h,
        Err(FormatError::UnknownVersion { .. }) => return Ok("unknown version".into()),
        Err(FormatError::NotThisFormat { .. }) => return Ok("not this format".into()),
        Err(FormatError::Corrupt(why)) if why.contains("not valid JSON") => {
            return Ok("truncated".into())
        }
        Err(FormatError::Corrupt(_)) => return Ok("corrupt".into()),
        Err(other) => return Err(format!("unexpected format error {other}")),
    };
    // A header that reads must write back byte for byte.
    if parsed.to_json() != header.as_bytes() {
        return Err("to_json(from_json(header)) differs from the header".into());
    }
    let key = AccountKey::parse(account_key).map_err(|e| format!("account key: {e}"))?;
    match parsed.unlock(&SecretString::from(password), &key) {
        Ok(vault_key) => Ok(format!(
            "success {}",
            hex(&Sha256::digest(vault_key.expose()))
        )),
        Err(AccountError::WrongCredentials) => Ok("wrong key".into()),
        Err(AccountError::Tampered) => Ok("tampered header".into()),
        Err(AccountError::Kdf(
            KdfError::Memory { .. } | KdfError::Passes { .. } | KdfError::Lanes { .. },
        )) => Ok("kdf refused".into()),
        Err(other) => Err(format!("unexpected unlock error {other}")),
    }
}

fn run(vector: &Vector) -> Result<(), String> {
    match vector {
        Vector::Header {
            expect,
            header,
            password,
            account_key,
            vault_key_sha256,
            ..
        } => {
            let got = run_header(header, password, account_key)?;
            let want = match (expect.as_str(), vault_key_sha256) {
                ("success", Some(sha)) => format!("success {sha}"),
                ("success", None) => return Err("a success vector needs vault_key_sha256".into()),
                (other, _) => other.to_owned(),
            };
            if got != want {
                return Err(format!("expected {want:?}, got {got:?}"));
            }
        }
        Vector::Key { cases, .. } => {
            for case in cases {
                let got = match AccountKey::parse(&case.input) {
                    Ok(key) => {
                        let text = key.to_text();
                        if Some(text.expose()) != case.canonical.as_deref() {
                            return Err(format!("{:?}: canonical text differs", case.input));
                        }
                        "valid".to_owned()
                    }
                    Err(e) => describe_key_error(&e),
                };
                if got != case.expect {
                    return Err(format!(
                        "{:?}: expected {:?}, got {got:?}",
                        case.input, case.expect
                    ));
                }
            }
        }
        Vector::Choice {
            password,
            account_key,
            current,
            candidates,
            newest,
            forged,
            older,
            ..
        } => {
            let read = |t: &str| AccountHeader::from_json(t.as_bytes()).map_err(|e| e.to_string());
            let current = read(current)?;
            let key = AccountKey::parse(account_key).map_err(|e| format!("account key: {e}"))?;
            let vk = current
                .unlock(&SecretString::from(password.as_str()), &key)
                .map_err(|e| format!("current header: {e}"))?;
            let cands = candidates
                .iter()
                .map(|c| read(c))
                .collect::<Result<Vec<_>, _>>()?;
            let v = coffer_vault::account::adoptable(&current, &cands, &vk);
            let highest = cands
                .iter()
                .enumerate()
                .filter(|(i, c)| current.same_lineage(c) && !v.forged.contains(i))
                .map(|(_, c)| c.generation)
                .fold(current.generation, u64::max);
            if v.highest != highest {
                return Err(format!("highest generation {} != {highest}", v.highest));
            }
            if (&v.newest, &v.forged, &v.older) != (newest, forged, older) {
                return Err(format!(
                    "expected {newest:?} {forged:?} {older:?}, got {v:?}"
                ));
            }
        }
        Vector::UnlockKey {
            expect,
            file,
            vault_key_hex,
            ..
        } => {
            use coffer_vault::unlock_key::UnlockKeyFile;
            let vk = coffer_vault::secret::SecretKey::from_slice(&unhex(vault_key_hex))
                .ok_or("vault_key_hex is not 32 bytes")?;
            let got = match UnlockKeyFile::from_json(file.as_bytes()) {
                Ok(k) if k.to_json() != file.as_bytes() => {
                    return Err("to_json(from_json(file)) differs from the file".into())
                }
                Ok(k) if k.verify(&vk) => "success",
                Ok(_) => "tampered",
                Err(FormatError::UnknownVersion { .. }) => "unknown version",
                Err(FormatError::NotThisFormat { .. }) => "not this format",
                Err(_) => "corrupt",
            };
            if got != expect {
                return Err(format!("expected {expect:?}, got {got:?}"));
            }
        }
        Vector::Kdf {
            password,
            account_key,
            salt_hex,
            params,
            account_id,
            epoch,
            kek_hex,
            ..
        } => {
            let key = AccountKey::parse(account_key).map_err(|e| format!("account key: {e}"))?;
            let kek = derive_kek(
                &SecretString::from(password.as_str()),
                &key,
                &unhex(salt_hex),
                params,
                account_id,
                *epoch,
            )
            .map_err(|e| format!("derive_kek: {e}"))?;
            if hex(kek.expose()) != *kek_hex {
                return Err(format!("KEK differs: got {}", hex(kek.expose())));
            }
        }
    }
    Ok(())
}

#[test]
fn every_vector_meets_its_expectation() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "only {} vector files found", files.len());
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).expect("vector file is readable UTF-8");
        let vector: Vector = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not a vector: {e}"));
                continue;
            }
        };
        if let Vector::Header { expect, .. } = &vector {
            seen.insert(expect.clone());
        }
        if let Err(why) = run(&vector) {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
    for expect in [
        "success",
        "wrong key",
        "tampered header",
        "unknown version",
        "truncated",
    ] {
        assert!(seen.contains(expect), "no vector expects {expect:?}");
    }
}

/// Writes the vector files. Run once per format version; see the module docs.
#[test]
#[ignore = "writes tests/vectors/; run by hand to regenerate"]
fn generate_vectors() {
    use serde_json::Value;

    let fast = KdfParams::fast_insecure_for_tests();
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).expect("create tests/vectors");
    let write = |name: &str, v: &Vector| {
        let mut bytes = serde_json::to_vec_pretty(v).expect("vector serializes");
        bytes.push(b'\n');
        std::fs::write(dir.join(name), bytes).expect("write vector");
    };
    let header_vector =
        |description: &str, expect: &str, header: Vec<u8>, password: &str, key: &str| {
            let header = String::from_utf8(header).expect("UTF-8 header");
            let vault_key_sha256 = (expect == "success").then(|| {
                let h = AccountHeader::from_json(header.as_bytes()).expect("success header reads");
                let key = AccountKey::parse(key).expect("valid key");
                let vk = h
                    .unlock(&SecretString::from(password), &key)
                    .expect("success header unlocks");
                hex(&Sha256::digest(vk.expose()))
            });
            Vector::Header {
                description: description.into(),
                expect: expect.into(),
                header,
                password: password.into(),
                account_key: key.into(),
                vault_key_sha256,
            }
        };
    let edit_json = |header: &AccountHeader, edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut v: Value = serde_json::from_slice(&header.to_json()).expect("JSON");
        edit(v.as_object_mut().expect("object"));
        let mut out = serde_json::to_vec_pretty(&v).expect("JSON");
        out.push(b'\n');
        out
    };

    let password = "correct horse battery staple";
    let created = 1_735_689_600_000; // 2025-01-01T00:00:00Z
    let acct = AccountHeader::create(
        "ann@example.com",
        "a horse",
        &SecretString::from(password),
        fast,
        created,
    )
    .expect("create");
    let h = &acct.header;
    let key_text = acct.account_key.to_text();
    let key = key_text.expose();

    write(
        "header-success.json",
        &header_vector(
            "a new account (epoch 1) with the default plan",
            "success",
            h.to_json(),
            password,
            key,
        ),
    );
    write(
        "header-success-lenient-key.json",
        &header_vector(
            "the Account Key typed in lowercase with spaces instead of dashes",
            "success",
            h.to_json(),
            password,
            &key.to_lowercase().replace('-', " "),
        ),
    );
    write(
        "header-wrong-password.json",
        &header_vector(
            "right Account Key, wrong password: the same error as a wrong key",
            "wrong key",
            h.to_json(),
            "correct horse battery stapler",
            key,
        ),
    );
    let other_key = AccountKey::generate().to_text();
    write(
        "header-wrong-account-key.json",
        &header_vector(
            "right password, another valid Account Key",
            "wrong key",
            h.to_json(),
            password,
            other_key.expose(),
        ),
    );

    let nfkc_pw = "p\u{00C5}ss w\u{00F6}rd";
    let nfkc = AccountHeader::create(
        "bo@example.com",
        "",
        &SecretString::from(nfkc_pw),
        fast,
        created,
    )
    .expect("create");
    let nfkc_key = nfkc.account_key.to_text();
    write("header-success-nfkc.json", &header_vector(
        "created with a precomposed \u{00C5} and \u{00F6}; unlocked with A + U+030A and o + U+0308 (NFKC)",
        "success", nfkc.header.to_json(), "pA\u{030A}ss wo\u{0308}rd", nfkc_key.expose()));

    let changed = h
        .change_password(
            &acct.vault_key,
            &acct.account_key,
            &SecretString::from("new password"),
            KdfParams { t: 2, ..fast },
        )
        .expect("change password");
    write(
        "header-success-after-password-change.json",
        &header_vector(
            "after a password change: new salt and parameters, same vault key as header-success",
            "success",
            changed.to_json(),
            "new password",
            key,
        ),
    );
    write(
        "header-old-password-after-change.json",
        &header_vector(
            "the old password no longer opens the changed header",
            "wrong key",
            changed.to_json(),
            password,
            key,
        ),
    );

    let mut licensed = h.clone();
    licensed
        .plan
        .insert("licence".into(), Value::from("LIC-0001"));
    licensed.plan.insert("seats".into(), Value::from(5));
    let reset = licensed
        .reset(
            &SecretString::from(password),
            Some("still a horse"),
            fast,
            created + 86_400_000,
            "3f2c8a1e-device-two",
            "Ann's laptop",
        )
        .expect("reset");
    let reset_key = reset.account_key.to_text();
    write("header-success-after-reset.json", &header_vector(
        "after a reset: epoch 2, reset info, plan kept, new hint, new Account Key (same password)",
        "success", reset.header.to_json(), password, reset_key.expose()));
    write(
        "header-old-key-after-reset.json",
        &header_vector(
            "after a reset the old Account Key is useless, even with the same password",
            "wrong key",
            reset.header.to_json(),
            password,
            key,
        ),
    );

    let mut tampered = h.clone();
    tampered.hint = "the password is hunter2".into();
    write(
        "header-tampered-hint.json",
        &header_vector(
            "the hint was edited: unwraps, but the MAC fails",
            "tampered header",
            tampered.to_json(),
            password,
            key,
        ),
    );
    let mut tampered = h.clone();
    tampered
        .plan
        .insert("plan".into(), Value::from("enterprise"));
    write(
        "header-tampered-plan.json",
        &header_vector(
            "the plan was edited",
            "tampered header",
            tampered.to_json(),
            password,
            key,
        ),
    );
    let mut tampered = reset.header.clone();
    if let Some(r) = tampered.reset.as_mut() {
        r.by_device_name = "Mallory's phone".into();
    }
    write(
        "header-tampered-reset-info.json",
        &header_vector(
            "the reset info was edited",
            "tampered header",
            tampered.to_json(),
            password,
            reset_key.expose(),
        ),
    );
    let mut tampered = h.clone();
    tampered.email = "mallory@example.com".into();
    write(
        "header-tampered-email.json",
        &header_vector(
            "the email was edited",
            "tampered header",
            tampered.to_json(),
            password,
            key,
        ),
    );
    let mut tampered = h.clone();
    tampered.epoch = 7;
    write("header-tampered-epoch.json", &header_vector(
        "the epoch was edited: it feeds the KEK and the wrap's AD, so this reads as wrong credentials",
        "wrong key", tampered.to_json(), password, key));

    write(
        "header-unknown-version.json",
        &header_vector(
            "version 3 of the format",
            "unknown version",
            edit_json(h, &|m| {
                m.insert("version".into(), Value::from(3));
            }),
            password,
            key,
        ),
    );
    write(
        "header-not-this-format.json",
        &header_vector(
            "another coffer format",
            "not this format",
            edit_json(h, &|m| {
                m.insert("format".into(), Value::from("coffer-container"));
            }),
            password,
            key,
        ),
    );
    let full = h.to_json();
    write(
        "header-truncated.json",
        &header_vector(
            "the file cut in the middle",
            "truncated",
            full[..full.len() / 2].to_vec(),
            password,
            key,
        ),
    );
    write(
        "header-truncated-empty.json",
        &header_vector("an empty file", "truncated", Vec::new(), password, key),
    );
    write(
        "header-corrupt-salt.json",
        &header_vector(
            "a salt of 4 bytes",
            "corrupt",
            edit_json(h, &|m| {
                m.insert("salt".into(), Value::from("AAAAAA=="));
            }),
            password,
            key,
        ),
    );
    write(
        "header-corrupt-missing-field.json",
        &header_vector(
            "the mac field is missing",
            "corrupt",
            edit_json(h, &|m| {
                m.remove("mac");
            }),
            password,
            key,
        ),
    );
    let mut absurd = h.clone();
    absurd.kdf.m_kib = u32::MAX;
    write(
        "header-kdf-refused.json",
        &header_vector(
            "Argon2id memory of 4 TiB: refused before deriving",
            "kdf refused",
            absurd.to_json(),
            password,
            key,
        ),
    );

    // Account Key texts.
    let k = key;
    let groups: Vec<&str> = k.split('-').collect();
    // Replaces character `pos` (0-based) of 1-based `group`; `None` picks
    // another alphabet symbol.
    let put = |group: usize, pos: usize, c: Option<char>| {
        let mut chars: Vec<char> = k.chars().collect();
        let i = 2 + (group - 1) * 6 + 1 + pos;
        chars[i] = c.unwrap_or(if chars[i] == 'Z' { 'Y' } else { 'Z' });
        chars.into_iter().collect::<String>()
    };
    let mut swapped = groups.clone();
    swapped.swap(5, 6);
    let case = |input: String, expect: &str| KeyCase {
        canonical: (expect == "valid").then(|| k.to_owned()),
        input,
        expect: expect.into(),
    };
    let cases = vec![
        case(k.to_owned(), "valid"),
        case(k.to_lowercase(), "valid"),
        case(k.replace('-', ""), "valid"),
        case(format!("  {}  ", k.replace('-', " ")), "valid"),
        case(put(3, 1, None), "mistyped group 3"),
        case(put(1, 4, None), "mistyped group 1"),
        case(swapped.join("-"), "mistyped group 5"),
        case(put(2, 3, Some('O')), "invalid character group 2 position 4"),
        case(put(7, 0, Some('1')), "invalid character group 7 position 1"),
        case(format!("C2{}", &k[2..]), "unknown version 2"),
        case(format!("K1{}", &k[2..]), "not an account key"),
        case(k[..k.len() - 6].to_owned(), "wrong group count 6"),
        case(k[..k.len() - 1].to_owned(), "group 7 length 4"),
        case(k[..k.len() - 1].replace('-', ""), "wrong length 34"),
        case(" - ".into(), "empty"),
    ];
    write(
        "account-key-texts.json",
        &Vector::Key {
            description: "Account Key texts and what parsing each gives".into(),
            cases,
        },
    );

    // KDF known answers.
    let salt: Vec<u8> = (0u8..32).collect();
    let account_id = uuid::Uuid::parse_str("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f").expect("uuid");
    for (name, pw, params, epoch) in [
        ("kdf-fast-epoch-1.json", password, fast, 1u64),
        (
            "kdf-unicode-epoch-2.json",
            "p\u{00C5}ss w\u{00F6}rd \u{FF21}",
            KdfParams {
                m_kib: 16 * 1024,
                t: 2,
                p: 2,
            },
            2,
        ),
    ] {
        let kek = derive_kek(
            &SecretString::from(pw),
            &acct.account_key,
            &salt,
            &params,
            &account_id,
            epoch,
        )
        .expect("derive");
        write(
            name,
            &Vector::Kdf {
                description: "derive_kek known answer (password NFKC-normalised before Argon2id)"
                    .into(),
                password: pw.into(),
                account_key: key.into(),
                salt_hex: hex(&salt),
                params,
                account_id,
                epoch,
                kek_hex: hex(kek.expose()),
            },
        );
    }
}

/// Writes the version-2 vectors (`header-v2-*.json`, `header-choice-*.json`).
#[test]
#[ignore = "writes tests/vectors/; run by hand to regenerate"]
fn generate_v2_vectors() {
    use coffer_vault::account::{Change, ChangeInfo, ChangeKind, Recipient, UnlockSecret};

    let fast = KdfParams::fast_insecure_for_tests();
    let dir = vectors_dir();
    let write = |name: &str, v: &Vector| {
        let mut bytes = serde_json::to_vec_pretty(v).expect("vector serializes");
        bytes.push(b'\n');
        std::fs::write(dir.join(name), bytes).expect("write vector");
    };
    let text = |h: &AccountHeader| String::from_utf8(h.to_json()).expect("UTF-8");
    let (p0, p1, p2) = ("correct horse", "battery staple", "staple battery");
    let created = 1_735_689_600_000;
    let acct = AccountHeader::create(
        "ann@example.com",
        "a horse",
        &SecretString::from(p0),
        fast,
        created,
    )
    .expect("create");
    let key_text = acct.account_key.to_text();
    let key = key_text.expose();
    let by = |dev: &str, name: &str, at: u64| ChangeInfo {
        at_ms: created + at,
        by_device_id: dev.into(),
        by_device_name: name.into(),
    };
    let recipient = Recipient {
        device_id: "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6".into(),
        public: UnlockSecret::from_bytes([7; 32]).public(),
    };
    let change = |h: &AccountHeader, pw: &str, who: ChangeInfo| {
        let password = SecretString::from(pw);
        let c = Change {
            kind: ChangeKind::Password {
                password: &password,
                params: fast,
                recipients: std::slice::from_ref(&recipient),
            },
            hint: None,
            at_least: 0,
            by: who,
        };
        h.change(&acct.vault_key, &acct.account_key, c)
            .expect("change")
            .0
    };
    let g1 = change(
        &acct.header,
        p1,
        by("0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90", "Ann's laptop", 1000),
    );
    let g2 = change(
        &g1,
        p2,
        by("0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90", "Ann's laptop", 2000),
    );
    let header = |description: &str, expect: &str, h: &AccountHeader, pw: &str| {
        let vault_key_sha256 =
            (expect == "success").then(|| hex(&Sha256::digest(acct.vault_key.expose())));
        Vector::Header {
            description: description.into(),
            expect: expect.into(),
            header: text(h),
            password: pw.into(),
            account_key: key.into(),
            vault_key_sha256,
        }
    };
    write(
        "header-v2-success-new-account.json",
        &header(
            "version 2, generation 0: a new account",
            "success",
            &acct.header,
            p0,
        ),
    );
    write("header-v2-success-after-change.json", &header(
        "generation 1 after a password change on a device, with an unlock envelope for another device",
        "success", &g1, p1));
    write(
        "header-v2-old-password.json",
        &header(
            "the password of generation 0 does not open generation 1",
            "wrong key",
            &g1,
            p0,
        ),
    );
    let mut t = g1.clone();
    t.generation = 9;
    write(
        "header-v2-tampered-generation.json",
        &header(
            "the generation was raised without the vault key: unwraps, MAC fails",
            "tampered header",
            &t,
            p1,
        ),
    );
    let mut t = g1.clone();
    t.changed = Some(by("mallory", "Mallory's phone", 1000));
    write(
        "header-v2-tampered-changed.json",
        &header("who changed it was edited", "tampered header", &t, p1),
    );
    let mut t = g1.clone();
    t.envelopes.clear();
    write(
        "header-v2-tampered-envelopes.json",
        &header("the envelopes were removed", "tampered header", &t, p1),
    );
    let mut forged = g1.clone();
    forged.generation = 5;
    forged.hint = "call Mallory".into();
    // A MAC made with some other key: only the vault key makes a valid one.
    forged.mac = b"forged forged forged forged mac!".to_vec();
    let forged_text = text(&forged);
    write(
        "header-v2-forged-mac.json",
        &Vector::Header {
            description: "generation 5 with a forged MAC".into(),
            expect: "tampered header".into(),
            header: forged_text.clone(),
            password: p1.into(),
            account_key: key.into(),
            vault_key_sha256: None,
        },
    );
    let choice = |description: &str,
                  current: &AccountHeader,
                  pw: &str,
                  cands: Vec<String>,
                  newest,
                  forged,
                  older| Vector::Choice {
        description: description.into(),
        password: pw.into(),
        account_key: key.into(),
        current: text(current),
        candidates: cands,
        newest,
        forged,
        older,
    };
    write(
        "header-choice-newer.json",
        &choice(
            "a device at generation 0 adopts the authentic generation 2, not the forged 5",
            &acct.header,
            p0,
            vec![text(&g1), forged_text.clone(), text(&g2)],
            Some(2),
            vec![1],
            vec![],
        ),
    );
    write(
        "header-choice-replayed-older.json",
        &choice(
            "a device at generation 2 refuses the replayed generations 1 and 0",
            &g2,
            p2,
            vec![text(&g1), text(&acct.header)],
            None,
            vec![],
            vec![0, 1],
        ),
    );
    let x = change(
        &g1,
        "x password",
        by("1a2b3c4d-0000-4000-8000-00000000000a", "X", 5000),
    );
    let y = change(
        &g1,
        "y password",
        by("1a2b3c4d-0000-4000-8000-00000000000b", "Y", 5000),
    );
    // Unlock keys.
    {
        use coffer_vault::unlock_key::UnlockKeyFile;
        let vk = coffer_vault::secret::SecretKey::from_bytes([9; 32]);
        let file = UnlockKeyFile::new(
            acct.header.account_id,
            1,
            "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6",
            "Ann's phone",
            UnlockSecret::from_bytes([7; 32]).public(),
            &vk,
        );
        let unlock = |name: &str,
                      description: &str,
                      expect: &str,
                      f: &UnlockKeyFile,
                      text: Option<String>| {
            write(
                name,
                &Vector::UnlockKey {
                    description: description.into(),
                    expect: expect.into(),
                    file: text.unwrap_or_else(|| String::from_utf8(f.to_json()).expect("UTF-8")),
                    vault_key_hex: hex(vk.expose()),
                },
            );
        };
        unlock(
            "unlock-key-success.json",
            "a device's published unlock key, MACed under the vault key",
            "success",
            &file,
            None,
        );
        let mut t = file.clone();
        t.public_key.0[0] ^= 1;
        unlock(
            "unlock-key-tampered-key.json",
            "the public key was replaced without the vault key",
            "tampered",
            &t,
            None,
        );
        let mut t = file.clone();
        t.device_id = "0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90".into();
        unlock(
            "unlock-key-moved-device.json",
            "the file was moved to another device id",
            "tampered",
            &t,
            None,
        );
        let text = String::from_utf8(file.to_json()).expect("UTF-8");
        unlock(
            "unlock-key-unknown-version.json",
            "version 2 of the format",
            "unknown version",
            &file,
            Some(text.replace("\"version\": 1", "\"version\": 2")),
        );
        unlock(
            "unlock-key-corrupt.json",
            "the file cut short",
            "corrupt",
            &file,
            Some(text[..text.len() / 2].to_owned()),
        );
    }
    let (win, lose, pw_lose) = if x.precedence() > y.precedence() {
        (&x, &y, "y password")
    } else {
        (&y, &x, "x password")
    };
    write("header-choice-concurrent.json", &choice(
        "two devices changed the password at once (both generation 2): the one with the smaller SHA-256 of MAC input and MAC wins on the losing device",
        lose, pw_lose, vec![text(win), text(lose)], Some(0), vec![], vec![]));
}
