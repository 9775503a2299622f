//! Tampering (issue 7), at the library level where the daemon's readers
//! live (`coffer-vault`), plus two black-box checks through the daemon.
//!
//! For `account.json`, the local container and the sync files (a version-2
//! whole state, a version-3 snapshot and delta segment): every byte
//! flipped (with two masks), every truncation, old files replayed, records
//! moved between items, devices, epochs and accounts, and huge KDF
//! parameters. The property checked each time: the input is rejected with
//! a non-empty error, or what comes out is exactly what the untouched file
//! gives (the byte was in unauthenticated metadata such as `vv` or a device
//! name); never a changed item, never a panic.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use coffer_blackbox::{shared_folder, stderr, Device};
use coffer_vault::account::{AccountError, AccountHeader};
use coffer_vault::account_key::AccountKey;
use coffer_vault::format::{Container, SyncFile};
use coffer_vault::ids::DeviceId;
use coffer_vault::item::custom_field;
use coffer_vault::kdf::KdfParams;
use coffer_vault::replica::{MergeOutcome, Replica};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::segment::{read_sync_file, segment_bytes, FileId, SegmentHeader, SegmentKind};
use serde_json::Value;

const PW: &str = "tamper horse battery";
const NOW: u64 = 1_750_000_000_000;

struct Fx {
    header: AccountHeader,
    ak: AccountKey,
    key: SecretKey,
    /// Device A, with two items of its own.
    a: Replica,
    /// Device B: items, an edit (history), a custom field and a delete.
    b: Replica,
}

fn pw() -> SecretString {
    SecretString::new(PW.into())
}

fn s(v: &str) -> SecretString {
    SecretString::new(v.into())
}

fn fixture() -> Fx {
    let new = AccountHeader::create(
        "tamper@example.org",
        "a hint",
        &pw(),
        KdfParams::fast_insecure_for_tests(),
        NOW,
    )
    .expect("an account");
    let (header, ak, key) = (new.header, new.account_key, new.vault_key);
    let mut a = Replica::new(
        header.account_id,
        header.epoch,
        DeviceId::new_random(),
        "A".into(),
    );
    a.add(
        &key,
        vec![("title".into(), s("A1")), ("password".into(), s("a1"))],
        NOW,
    )
    .unwrap();
    a.add(
        &key,
        vec![("title".into(), s("A2")), ("notes".into(), s("n"))],
        NOW + 1,
    )
    .unwrap();
    let mut b = Replica::new(
        header.account_id,
        header.epoch,
        DeviceId::new_random(),
        "B".into(),
    );
    let b1 = b
        .add(
            &key,
            vec![
                ("title".into(), s("B1")),
                ("password".into(), s("b1")),
                (custom_field("pin"), s("1234")),
            ],
            NOW + 2,
        )
        .unwrap();
    b.edit(
        &key,
        b1,
        vec![("password".into(), Some(s("b1-new")))],
        NOW + 3,
    )
    .unwrap();
    let b2 = b
        .add(
            &key,
            vec![("title".into(), s("B2")), ("username".into(), s("bee"))],
            NOW + 4,
        )
        .unwrap();
    b.add(&key, vec![("title".into(), s("B3"))], NOW + 5)
        .unwrap();
    b.delete(&key, b2, NOW + 6).unwrap();
    Fx {
        header,
        ak,
        key,
        a,
        b,
    }
}

/// Merges the sync file `bytes` (either version) into `r` (with the vault key, or locked), which
/// must parse and belong to `r`'s account and epoch; what the merge did.
fn merge_bytes(r: &mut Replica, bytes: &[u8], key: Option<&SecretKey>) -> MergeOutcome {
    let file = read_sync_file(bytes).expect("the sync file parses");
    r.merge_sync_content(&file, key)
        .expect("the sync file belongs to this account and epoch")
}

/// `r`'s version-3 sync file: its snapshot (whole state), or a delta segment
/// holding the current versions of its items titled B1 and B3 (an edited
/// item with history and a custom field, and a plain one).
fn segment_of(r: &Replica, key: &SecretKey, kind: SegmentKind) -> Vec<u8> {
    let header = SegmentHeader {
        kind,
        account_id: r.account_id(),
        epoch: r.epoch(),
        device_id: r.device_id(),
        device_name: r.device_name().to_owned(),
        written_hlc: r.clock(),
        file_id: FileId(0x0123_4567_89ab_cdef),
        seq: 7,
        supersedes: vec![FileId(5), FileId(6)],
        extends: r.state().vv().clone(),
        vv: r.state().vv().clone(),
    };
    match kind {
        SegmentKind::Snapshot => segment_bytes(&header, r.state()),
        SegmentKind::Delta => {
            let ids: Vec<_> = r
                .items(key)
                .unwrap()
                .into_iter()
                .filter(|i| i.title() == "B1" || i.title() == "B3")
                .map(|i| i.id)
                .collect();
            assert_eq!(ids.len(), 2);
            segment_bytes(&header, &r.state_of(&ids))
        }
    }
}

/// Items as canonical JSON, for exact comparison.
fn item_set(r: &Replica, key: &SecretKey) -> BTreeSet<Vec<u8>> {
    r.items(key)
        .expect("items open")
        .iter()
        .map(|i| i.to_json().to_vec())
        .collect()
}

#[derive(Debug, Default)]
struct Tally {
    rejected: usize,
    partly_rejected: usize,
    harmless: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rejected, {} with some records rejected, {} changed only unauthenticated metadata",
            self.rejected, self.partly_rejected, self.harmless
        )
    }
}

/// Merges `bytes` (a sync file) into a copy of `base`, with the key or
/// locked then unlocked; returns the tally class, panicking on a breach.
fn merge_tampered(
    fx: &Fx,
    base: &Replica,
    bytes: &[u8],
    expected: &BTreeSet<Vec<u8>>,
    locked: bool,
    what: &str,
) -> &'static str {
    let file = match read_sync_file(bytes) {
        Ok(f) => f,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "{what}: an empty error");
            return "rejected";
        }
    };
    let mut r = base.clone();
    let outcome = if locked {
        r.merge_sync_content(&file, None)
    } else {
        r.merge_sync_content(&file, Some(&fx.key))
    };
    let mut rejected = match outcome {
        Ok(o) => o.rejected.len(),
        Err(e) => {
            assert!(!e.to_string().is_empty(), "{what}: an empty error");
            return "rejected";
        }
    };
    if locked {
        rejected += r.verify_and_compact(&fx.key).len();
    }
    let got = item_set(&r, &fx.key);
    if rejected > 0 {
        // What was merged is a subset of the truth, item for item.
        let extra: Vec<_> = got.difference(expected).collect();
        assert!(extra.is_empty(), "{what}: a tampered item was merged");
        "partly"
    } else {
        assert_eq!(&got, expected, "{what}: accepted, but the items differ");
        "harmless"
    }
}

fn count(t: &mut Tally, class: &str) {
    match class {
        "rejected" => t.rejected += 1,
        "partly" => t.partly_rejected += 1,
        _ => t.harmless += 1,
    }
}

#[test]
fn every_byte_of_a_sync_file_flipped() {
    let fx = fixture();
    let files = [
        ("version-2 file", fx.b.sync_file_bytes()),
        (
            "snapshot",
            segment_of(&fx.b, &fx.key, SegmentKind::Snapshot),
        ),
        (
            "delta segment",
            segment_of(&fx.b, &fx.key, SegmentKind::Delta),
        ),
    ];
    for (name, bytes) in files {
        let mut clean = fx.a.clone();
        merge_bytes(&mut clean, &bytes, Some(&fx.key));
        let expected = item_set(&clean, &fx.key);
        let start = Instant::now();
        let mut tally = Tally::default();
        for i in 0..bytes.len() {
            for (mask, locked) in [(0x01u8, false), (0x80, false), (0x01, true)] {
                let mut t = bytes.clone();
                t[i] ^= mask;
                let what = format!("{name} byte {i} ^ {mask:#04x} (locked: {locked})");
                let class = catch_unwind(AssertUnwindSafe(|| {
                    merge_tampered(&fx, &fx.a, &t, &expected, locked, &what)
                }))
                .unwrap_or_else(|_| panic!("{what}: panicked"));
                count(&mut tally, class);
            }
        }
        eprintln!(
            "{name} of {} bytes, {} flips in {:?}: {tally}",
            bytes.len(),
            bytes.len() * 3,
            start.elapsed()
        );
        assert!(tally.rejected > bytes.len(), "{name}: {tally}");
    }
}

#[test]
fn every_byte_of_a_container_flipped() {
    let fx = fixture();
    let bytes = fx.a.container_bytes(&fx.header).unwrap();
    let expected = item_set(&fx.a, &fx.key);
    let start = Instant::now();
    let mut tally = Tally::default();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= mask;
            let what = format!("container byte {i} ^ {mask:#04x}");
            let class = catch_unwind(AssertUnwindSafe(|| {
                let c = match Container::from_bytes(&t) {
                    Ok(c) => c,
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        return "rejected";
                    }
                };
                let (header, mut r) = c.into_replica();
                // The daemon authenticates the header with the key (cache) or
                // by unlocking; both check the MAC.
                if let Err(e) = header.verify(&fx.key) {
                    assert!(
                        e.to_string().contains("tampered") || e.to_string().contains("wrong"),
                        "{e}"
                    );
                    return "rejected";
                }
                if header != fx.header {
                    panic!("{what}: a changed header verified");
                }
                let rejected = r.verify_and_compact(&fx.key);
                let got = item_set(&r, &fx.key);
                if rejected.is_empty() {
                    assert_eq!(got, expected, "{what}: accepted, but the items differ");
                    "harmless"
                } else {
                    assert!(got.is_subset(&expected), "{what}: a tampered item opened");
                    "partly"
                }
            }))
            .unwrap_or_else(|_| panic!("{what}: panicked"));
            count(&mut tally, class);
        }
    }
    eprintln!(
        "container of {} bytes, {} flips in {:?}: {tally}",
        bytes.len(),
        bytes.len() * 2,
        start.elapsed()
    );
}

#[test]
fn every_byte_of_account_json_flipped() {
    let fx = fixture();
    let bytes = fx.header.to_json();
    let stretched =
        coffer_vault::kdf::stretch_password(&pw(), &fx.header.salt, &fx.header.kdf).unwrap();
    let start = Instant::now();
    let (mut rejected_parse, mut rejected_unlock, mut same) = (0, 0, 0);
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= mask;
            let what = format!("account.json byte {i} ^ {mask:#04x}");
            catch_unwind(AssertUnwindSafe(|| {
                let h = match AccountHeader::from_json(&t) {
                    Ok(h) => h,
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        rejected_parse += 1;
                        return;
                    }
                };
                let _ = h.precedence();
                if h == fx.header {
                    same += 1;
                    return;
                }
                // Derive only when the salt or parameters changed.
                let t0 = Instant::now();
                let r = if h.salt == fx.header.salt && h.kdf == fx.header.kdf {
                    h.unlock_stretched(&stretched, &fx.ak)
                } else {
                    h.unlock(&pw(), &fx.ak)
                };
                match r {
                    Err(AccountError::WrongCredentials)
                    | Err(AccountError::Tampered)
                    | Err(AccountError::Kdf(_)) => rejected_unlock += 1,
                    Err(e) => panic!("{what}: unexpected error {e}"),
                    Ok(_) => panic!("{what}: a changed header unlocked"),
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(2),
                    "{what}: took {:?}",
                    t0.elapsed()
                );
            }))
            .unwrap_or_else(|_| panic!("{what}: panicked"));
        }
    }
    eprintln!(
        "account.json of {} bytes, {} flips in {:?}: {rejected_parse} refused by the reader, \
         {rejected_unlock} refused at unlock, {same} read back identical",
        bytes.len(),
        bytes.len() * 2,
        start.elapsed()
    );
    assert_eq!(rejected_parse + rejected_unlock + same, bytes.len() * 2);
}

#[test]
fn truncated_files_are_rejected() {
    let fx = fixture();
    let header = fx.header.to_json();
    let container = fx.a.container_bytes(&fx.header).unwrap();
    let sync = fx.b.sync_file_bytes();
    let check = |name: &str, bytes: &[u8], parse: &dyn Fn(&[u8]) -> Result<(), String>| {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            let r = catch_unwind(AssertUnwindSafe(|| parse(cut)))
                .unwrap_or_else(|_| panic!("{name} cut at {len}: panicked"));
            match r {
                Err(e) => assert!(!e.is_empty()),
                // Only the final newline may go.
                Ok(()) => assert!(
                    len + 1 == bytes.len() || bytes[len..].iter().all(u8::is_ascii_whitespace),
                    "{name} cut at {len} of {} was accepted",
                    bytes.len()
                ),
            }
        }
        let e = parse(&bytes[..bytes.len() / 2]).unwrap_err();
        eprintln!("{name} cut in half: {e}");
    };
    check("account.json", &header, &|b| {
        AccountHeader::from_json(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    check("container", &container, &|b| {
        Container::from_bytes(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    check("sync file", &sync, &|b| {
        SyncFile::from_bytes(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    for kind in [SegmentKind::Snapshot, SegmentKind::Delta] {
        let seg = segment_of(&fx.b, &fx.key, kind);
        check(&format!("{kind:?}"), &seg, &|b| {
            read_sync_file(b).map(|_| ()).map_err(|e| e.to_string())
        });
    }
    let e = SyncFile::from_bytes(&sync[..sync.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
}

#[test]
fn old_sync_files_replayed_change_nothing() {
    let mut fx = fixture();
    let old = fx.b.sync_file_bytes();
    let b1 =
        fx.b.items(&fx.key)
            .unwrap()
            .into_iter()
            .find(|i| i.title() == "B1")
            .unwrap()
            .id;
    fx.b.edit(
        &fx.key,
        b1,
        vec![("password".into(), Some(s("b1-newest")))],
        NOW + 10,
    )
    .unwrap();
    let b3 =
        fx.b.items(&fx.key)
            .unwrap()
            .into_iter()
            .find(|i| i.title() == "B3")
            .unwrap()
            .id;
    fx.b.delete(&fx.key, b3, NOW + 11).unwrap();
    let new = fx.b.sync_file_bytes();
    for locked in [false, true] {
        let mut a = fx.a.clone();
        let key = (!locked).then_some(&fx.key);
        merge_bytes(&mut a, &new, key);
        a.verify_and_compact(&fx.key);
        let after_new = item_set(&a, &fx.key);
        let versions = a.state().version_count();
        // The old file comes back (a sync engine restoring an old copy).
        let outcome = merge_bytes(&mut a, &old, key);
        assert!(outcome.rejected.is_empty());
        a.verify_and_compact(&fx.key);
        assert_eq!(
            item_set(&a, &fx.key),
            after_new,
            "a replayed file changed the items (locked: {locked})"
        );
        assert_eq!(a.state().version_count(), versions);
        let b1_now = a.get(&fx.key, b1).unwrap().unwrap();
        assert_eq!(b1_now.get("password").unwrap().expose(), "b1-newest");
        assert!(
            a.get(&fx.key, b3).unwrap().is_none(),
            "a deleted item came back"
        );
    }
    // A file of the previous epoch is refused outright after a reset.
    let reset = fx
        .header
        .reset(
            &s("new pw"),
            None,
            KdfParams::fast_insecure_for_tests(),
            NOW + 20,
            "dev",
            "Dev",
        )
        .unwrap();
    let mut a2 = Replica::new(
        reset.header.account_id,
        reset.header.epoch,
        DeviceId::new_random(),
        "A".into(),
    );
    let e = a2
        .merge_sync_file(&SyncFile::from_bytes(&new).unwrap(), Some(&reset.vault_key))
        .unwrap_err();
    assert!(e.to_string().contains("epoch"), "{e}");
}

/// An old delta segment replayed (an engine restoring an old copy, a
/// device's segment that came back) changes nothing: no item reverts, no
/// deleted item returns.
#[test]
fn old_segments_replayed_change_nothing() {
    let mut fx = fixture();
    let old = segment_of(&fx.b, &fx.key, SegmentKind::Delta);
    let find = |r: &Replica, t: &str| {
        r.items(&fx.key)
            .unwrap()
            .into_iter()
            .find(|i| i.title() == t)
            .unwrap()
            .id
    };
    let (b1, b3) = (find(&fx.b, "B1"), find(&fx.b, "B3"));
    fx.b.edit(
        &fx.key,
        b1,
        vec![("password".into(), Some(s("b1-newest")))],
        NOW + 10,
    )
    .unwrap();
    fx.b.delete(&fx.key, b3, NOW + 11).unwrap();
    let new = segment_of(&fx.b, &fx.key, SegmentKind::Snapshot);
    for locked in [false, true] {
        let mut a = fx.a.clone();
        let key = (!locked).then_some(&fx.key);
        merge_bytes(&mut a, &new, key);
        a.verify_and_compact(&fx.key);
        let after_new = item_set(&a, &fx.key);
        let versions = a.state().version_count();
        assert!(merge_bytes(&mut a, &old, key).rejected.is_empty());
        a.verify_and_compact(&fx.key);
        assert_eq!(item_set(&a, &fx.key), after_new, "locked: {locked}");
        assert_eq!(a.state().version_count(), versions);
        let b1_now = a.get(&fx.key, b1).unwrap().unwrap();
        assert_eq!(b1_now.get("password").unwrap().expose(), "b1-newest");
        assert!(
            a.get(&fx.key, b3).unwrap().is_none(),
            "a deleted item came back"
        );
    }
}

/// The sync file as JSON (magic line kept aside).
fn to_json(bytes: &[u8]) -> (Vec<u8>, Value) {
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    (
        bytes[..=nl].to_vec(),
        serde_json::from_slice(&bytes[nl + 1..]).unwrap(),
    )
}

fn from_json(magic: &[u8], v: &Value) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend(serde_json::to_vec(v).unwrap());
    out.push(b'\n');
    out
}

#[test]
fn records_moved_between_items_devices_epochs_and_accounts_do_not_open() {
    let fx = fixture();
    let (magic, body) = to_json(&fx.b.sync_file_bytes());
    let records = body["state"]["records"].as_array().unwrap().clone();
    assert!(records.len() >= 3, "{body}");
    // A device that is neither the writer nor the merging one (a record
    // claiming the merging device itself is ignored outright: `union_foreign`).
    let third_device = uuid::Uuid::new_v4().to_string();
    let other_id = records
        .iter()
        .map(|r| r["id"].clone())
        .find(|id| *id != records[0]["id"])
        .unwrap();
    // Each mutation of record 0 (or of two records).
    type Mutation = Box<dyn Fn(&mut Vec<Value>)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "record moved to another item",
            Box::new(move |r: &mut Vec<Value>| r[0]["id"] = other_id.clone()),
        ),
        (
            "ciphertexts swapped between two items",
            Box::new(|r: &mut Vec<Value>| {
                let (x, y) = (r[0]["sealed"].clone(), r[1]["sealed"].clone());
                r[0]["sealed"] = y;
                r[1]["sealed"] = x;
            }),
        ),
        (
            "record moved to another device",
            Box::new(move |r: &mut Vec<Value>| {
                r[0]["dot"]["device"] = Value::String(third_device.clone())
            }),
        ),
        (
            "record moved to another counter",
            Box::new(|r: &mut Vec<Value>| {
                let c = r[0]["dot"]["counter"].as_u64().unwrap();
                r[0]["dot"]["counter"] = (c + 100).into();
            }),
        ),
        (
            "context widened to cover everything",
            Box::new(|r: &mut Vec<Value>| {
                let dev = r[0]["dot"]["device"].as_str().unwrap().to_owned();
                r[0]["context"] = serde_json::json!({ dev: 1_000_000 });
            }),
        ),
        (
            "deleted flag flipped",
            Box::new(|r: &mut Vec<Value>| {
                let d = r[0]["deleted"].as_bool().unwrap();
                r[0]["deleted"] = (!d).into();
            }),
        ),
    ];
    let clean = {
        let mut a = fx.a.clone();
        merge_bytes(&mut a, &fx.b.sync_file_bytes(), Some(&fx.key));
        item_set(&a, &fx.key)
    };
    for (name, m) in &mutations {
        let mut recs = records.clone();
        m(&mut recs);
        let mut body2 = body.clone();
        body2["state"]["records"] = Value::Array(recs);
        let bytes = from_json(&magic, &body2);
        for locked in [false, true] {
            let class = merge_tampered(&fx, &fx.a, &bytes, &clean, locked, name);
            assert_eq!(
                class, "partly",
                "{name} (locked: {locked}) was not rejected"
            );
        }
        // The real record still opens: nothing but the moved one is lost.
    }

    // Epochs: a record sealed under epoch 2 with the SAME vault key, put into
    // an epoch-1 file; and an epoch-1 file relabelled as epoch 2.
    let mut e2 = Replica::new(fx.header.account_id, 2, fx.b.device_id(), "B".into());
    e2.add(&fx.key, vec![("title".into(), s("from epoch 2"))], NOW)
        .unwrap();
    let (_, e2body) = to_json(&e2.sync_file_bytes());
    let mut body3 = body.clone();
    body3["state"]["records"]
        .as_array_mut()
        .unwrap()
        .push(e2body["state"]["records"][0].clone());
    let class = merge_tampered(
        &fx,
        &fx.a,
        &from_json(&magic, &body3),
        &clean,
        false,
        "record from epoch 2",
    );
    assert_eq!(class, "partly");
    let mut body4 = body.clone();
    body4["epoch"] = 2.into();
    let mut a_e2 = Replica::new(fx.header.account_id, 2, fx.a.device_id(), "A".into());
    let out = merge_bytes(&mut a_e2, &from_json(&magic, &body4), Some(&fx.key));
    assert_eq!(
        out.rejected.len(),
        records.len(),
        "epoch-1 records opened in epoch 2"
    );
    assert!(a_e2.items(&fx.key).unwrap().is_empty());

    // Accounts: the same file relabelled for another account (same key).
    let other = uuid::Uuid::new_v4();
    let mut body5 = body.clone();
    body5["account_id"] = Value::String(other.to_string());
    let mut x = Replica::new(other, 1, DeviceId::new_random(), "X".into());
    let out = merge_bytes(&mut x, &from_json(&magic, &body5), Some(&fx.key));
    assert_eq!(
        out.rejected.len(),
        records.len(),
        "records opened under another account"
    );

    // A version copied unchanged into another device's file is the same
    // authentic version: merging it is harmless (the dot names its writer).
    let mut c = Replica::new(fx.header.account_id, 1, DeviceId::new_random(), "C".into());
    merge_bytes(&mut c, &fx.b.sync_file_bytes(), Some(&fx.key));
    let class = merge_tampered(
        &fx,
        &fx.a,
        &c.sync_file_bytes(),
        &clean,
        false,
        "copied versions",
    );
    assert_eq!(class, "harmless");
}

#[test]
fn huge_kdf_parameters_are_refused_before_deriving() {
    let fx = fixture();
    let base: Value = serde_json::from_slice(&fx.header.to_json()).unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("m_kib", (4u64 * 1024 * 1024 + 1).into()),
        ("m_kib", 64_000_000.into()),
        ("m_kib", u32::MAX.into()),
        ("m_kib", 1.into()),
        ("t", 21.into()),
        ("t", 1_000_000.into()),
        ("t", 0.into()),
        ("p", 17.into()),
        ("p", 255.into()),
        ("p", 0.into()),
    ];
    for (field, value) in cases {
        let mut v = base.clone();
        v["kdf"][field] = value.clone();
        let bytes = serde_json::to_vec(&v).unwrap();
        let start = Instant::now();
        let refused = match AccountHeader::from_json(&bytes) {
            Err(e) => e.to_string(),
            Ok(h) => match h.unlock(&pw(), &fx.ak) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{field} = {value} unlocked"),
            },
        };
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(200),
            "{field} = {value}: {took:?}"
        );
        assert!(!refused.is_empty());
        eprintln!("kdf {field} = {value}: refused in {took:?}: {refused}");
    }
    // A salt that is too short or too long.
    for len in [0usize, 8, 15, 65, 4096] {
        let mut v = base.clone();
        use base64::Engine as _;
        v["salt"] = base64::engine::general_purpose::STANDARD
            .encode(vec![7u8; len])
            .into();
        let bytes = serde_json::to_vec(&v).unwrap();
        let start = Instant::now();
        let r = AccountHeader::from_json(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|h| {
                h.unlock(&pw(), &fx.ak)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        assert!(r.is_err(), "salt of {len} bytes accepted");
        assert!(start.elapsed() < Duration::from_millis(200));
    }
}

#[test]
fn a_hostile_account_json_in_the_sync_folder_is_refused_quickly_by_the_daemon() {
    let folder = shared_folder();
    let owner = Device::with_sync_folder("owner", folder.path());
    let signup = owner.signup("hostile-kdf@example.org", PW);
    let id = signup["account_id"].as_str().unwrap();
    let key = signup["account_key"].as_str().unwrap();
    owner.ok(&["sync", "now"]);
    owner.stop_daemon();
    let path = folder.path().join(id).join("account.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["kdf"]["m_kib"] = 64_000_000.into();
    v["kdf"]["t"] = 1000.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let newcomer = Device::new("newcomer");
    let start = Instant::now();
    let out = newcomer
        .with_env(&[("COFFER_PASSWORD", PW), ("COFFER_ACCOUNT_KEY", key)])
        .timeout(Duration::from_secs(30))
        .run(&[
            "login",
            "--email",
            "hostile-kdf@example.org",
            "--sync-folder",
            folder.path().to_str().unwrap(),
        ]);
    let took = start.elapsed();
    assert_ne!(
        out.status.code(),
        Some(0),
        "a login on a 64 GB KDF header succeeded"
    );
    assert!(!stderr(&out).trim().is_empty());
    assert!(!stderr(&out).contains(PW) && !stderr(&out).contains(&key[3..]));
    eprintln!(
        "login against a header asking for 64 GB: refused in {took:?}: {}",
        stderr(&out).trim()
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// Known weakness (reported; the fix belongs in vault/src/replica.rs): a
/// sync file's `vv` is not authenticated, and `merge_remote` joins it even
/// when no record backs it. Someone who can write to the sync folder can
/// claim this device's counter is at `u64::MAX`; every later write of this
/// device then fails (`CounterExhausted`): a denial of service.
#[test]
fn a_forged_version_vector_cannot_stop_this_device_writing() {
    let fx = fixture();
    let (magic, mut body) = to_json(&fx.b.sync_file_bytes());
    body["state"]["vv"][fx.a.device_id().to_string()] = u64::MAX.into();
    let forged = from_json(&magic, &body);
    for locked in [false, true] {
        let mut a = fx.a.clone();
        let key = (!locked).then_some(&fx.key);
        merge_bytes(&mut a, &forged, key);
        a.verify_and_compact(&fx.key);
        a.add(
            &fx.key,
            vec![("title".into(), s("still writable"))],
            NOW + 100,
        )
        .unwrap_or_else(|e| {
            panic!("after a forged vv (locked: {locked}) this device cannot write: {e}")
        });
    }
}

/// A reset forged by someone who can only write to the sync folder (no
/// password, no Account Key): the device stops using the old epoch, but
/// nothing is destroyed: the container and sync files go to the trash, and
/// the documented manual undo (docs/SECURITY.md) brings everything back.
#[test]
fn a_forged_reset_destroys_nothing_and_can_be_undone() {
    let folder = shared_folder();
    let dev = Device::with_sync_folder("victim", folder.path());
    let signup = dev.signup("forged@example.org", PW);
    let id = signup["account_id"].as_str().unwrap().to_owned();
    dev.ok(&["add", "Precious", "--password", "keep-me"]);
    dev.ok(&["sync", "now"]);
    let container = dev.container();
    let original = std::fs::read(&container).unwrap();

    // The attacker: reads account.json, resets it with a password of theirs.
    let header_path = folder.path().join(&id).join("account.json");
    let genuine = std::fs::read(&header_path).unwrap();
    let h = AccountHeader::from_json(&genuine).unwrap();
    let forged = h
        .reset(
            &s("attacker"),
            Some("ha"),
            KdfParams::fast_insecure_for_tests(),
            NOW,
            "evil",
            "Evil",
        )
        .unwrap();
    std::fs::write(&header_path, forged.header.to_json()).unwrap();

    dev.ok(&["sync", "now"]);
    let st = dev.json(&["status", "--json"]);
    assert_eq!(st["state"], "reset", "{st}");
    assert_eq!(st["reset"]["by_device_name"], "Evil", "{st}");
    assert!(!container.exists());
    let trashed = std::path::PathBuf::from(
        st["reset"]["trashed_container"]
            .as_str()
            .unwrap_or_else(|| panic!("status names the trashed container: {st}")),
    );
    assert!(
        trashed.starts_with(dev.home().join(".local/share/Trash/files")),
        "{}",
        trashed.display()
    );
    assert_eq!(
        std::fs::read(&trashed).unwrap(),
        original,
        "the trashed container is intact"
    );
    let info = dev.home().join(".local/share/Trash/info").join(format!(
        "{}.trashinfo",
        trashed.file_name().unwrap().to_string_lossy()
    ));
    let info = std::fs::read_to_string(&info).expect("a .trashinfo names the original path");
    assert!(info.contains("Path=") && info.contains(".coffer"), "{info}");

    // The undo, step by step as docs/SECURITY.md gives it.
    dev.ok(&["stop"]);
    std::fs::rename(
        &header_path,
        folder.path().join("forged-account.json.evidence"),
    )
    .unwrap();
    std::fs::rename(&trashed, &container).unwrap();
    let device_json = container.parent().unwrap().join("device.json");
    let mut d: Value = serde_json::from_slice(&std::fs::read(&device_json).unwrap()).unwrap();
    d["reset"] = Value::Null;
    std::fs::write(&device_json, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
    let st = dev.json(&["status", "--json"]);
    if st["state"] == "locked" {
        dev.with_env(&[("COFFER_PASSWORD", PW)]).ok(&["unlock"]);
    }
    assert_eq!(dev.ok(&["get", "Precious"]), "keep-me\n");
    dev.ok(&["sync", "now"]);
    let republished = AccountHeader::from_json(&std::fs::read(&header_path).unwrap()).unwrap();
    assert_eq!(
        republished.epoch, 1,
        "the genuine header is back in the sync folder"
    );
    assert_eq!(dev.json(&["status", "--json"])["state"], "unlocked");
}
