//! Scenario tests of the replica: concurrent edits, delete vs edit, skewed
//! clocks, locked merges of forged data, reports and the plaintext cache.

use coffer_vault::format::SyncFile;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{custom_field, Item, PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::record::{RecordOpenError, RecordVersion};
use coffer_vault::replica::{ConflictKind, Replica, VaultError};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::vv::{Dot, VersionVector};
use uuid::Uuid;

const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;

fn s(v: &str) -> SecretString {
    SecretString::from(v)
}

fn pair() -> (SecretKey, Replica, Replica) {
    let key = SecretKey::generate();
    let acct = Uuid::new_v4();
    let a = Replica::new(acct, 1, DeviceId::new_random(), "laptop".into());
    let b = Replica::new(acct, 1, DeviceId::new_random(), "phone".into());
    (key, a, b)
}

fn sync(to: &mut Replica, from: &Replica, key: &SecretKey) {
    let out = to.merge_remote(from.state(), Some(key));
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

fn value(r: &Replica, key: &SecretKey, id: ItemId, field: &str) -> Option<String> {
    r.get(key, id)
        .unwrap()
        .and_then(|i| i.get(field).map(|v| v.expose().to_owned()))
}

fn history(item: &Item, field: &str) -> Vec<String> {
    item.history_of(field)
        .iter()
        .map(|h| h.value.expose().to_owned())
        .collect()
}

#[test]
fn add_edit_delete_round_trip() {
    let (key, mut a, _) = pair();
    let id = a
        .add(
            &key,
            vec![(TITLE.into(), s("Bank")), (PASSWORD.into(), s("pw1"))],
            1000,
        )
        .unwrap();
    a.edit(
        &key,
        id,
        vec![
            (PASSWORD.into(), Some(s("pw2"))),
            (custom_field("PIN"), Some(s("1234"))),
        ],
        2000,
    )
    .unwrap();
    let item = a.get(&key, id).unwrap().unwrap();
    assert_eq!(item.title(), "Bank");
    assert_eq!(item.get(PASSWORD).unwrap().expose(), "pw2");
    assert_eq!(item.get("field:PIN").unwrap().expose(), "1234");
    assert_eq!(history(&item, PASSWORD), ["pw1"]);
    assert_eq!(item.modified_ms(), 2000);
    assert_eq!(
        a.state().versions(&id).len(),
        1,
        "the edit superseded the add"
    );
    assert_eq!(a.items(&key).unwrap().len(), 1);

    a.delete(&key, id, 3000).unwrap();
    assert_eq!(a.get(&key, id).unwrap(), None);
    assert!(a.items(&key).unwrap().is_empty());
    assert_eq!(
        a.edit(&key, id, vec![(URL.into(), Some(s("x")))], 4000),
        Err(VaultError::NoSuchItem(id))
    );
    assert_eq!(a.delete(&key, id, 4000), Err(VaultError::NoSuchItem(id)));
    assert!(matches!(
        a.add(&key, vec![("colour".into(), s("red"))], 1),
        Err(VaultError::BadFieldName(n)) if n == "colour"
    ));
}

#[test]
fn concurrent_edits_of_different_fields_both_survive() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, vec![(TITLE.into(), s("Mail"))], 1000).unwrap();
    sync(&mut b, &a, &key);
    a.edit(&key, id, vec![(USERNAME.into(), Some(s("alice")))], 2000)
        .unwrap();
    b.edit(&key, id, vec![(URL.into(), Some(s("https://mail")))], 2001)
        .unwrap();
    sync(&mut a, &b, &key);
    sync(&mut b, &a, &key);
    // Siblings are resolved in memory before any explicit resolution.
    for r in [&a, &b] {
        assert_eq!(r.state().versions(&id).len(), 2);
        assert_eq!(value(r, &key, id, USERNAME).as_deref(), Some("alice"));
        assert_eq!(value(r, &key, id, URL).as_deref(), Some("https://mail"));
    }
    // Different fields: resolution reports nothing.
    assert!(a.resolve_conflicts(&key, 3000).unwrap().is_empty());
    assert_eq!(a.state().versions(&id).len(), 1);
    sync(&mut b, &a, &key);
    assert_eq!(b.state(), a.state());
    assert_eq!(b.items(&key).unwrap(), a.items(&key).unwrap());
}

#[test]
fn same_field_has_one_winner_and_the_loser_in_history_and_reported() {
    let (key, mut a, mut b) = pair();
    let id = a
        .add(
            &key,
            vec![(TITLE.into(), s("Mail")), (PASSWORD.into(), s("old"))],
            1000,
        )
        .unwrap();
    sync(&mut b, &a, &key);
    a.edit(&key, id, vec![(PASSWORD.into(), Some(s("from-a")))], 2000)
        .unwrap();
    b.edit(&key, id, vec![(PASSWORD.into(), Some(s("from-b")))], 2500)
        .unwrap();
    sync(&mut a, &b, &key);
    let reports = a.resolve_conflicts(&key, 3000).unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(
        r.kind,
        ConflictKind::SameField {
            field: PASSWORD.into()
        }
    );
    assert_eq!(
        (r.winner_device, r.loser_device),
        (b.device_id(), a.device_id())
    );
    assert_eq!(r.title.expose(), "Mail");
    assert_eq!(a.reports(), &reports[..]);
    let item = a.get(&key, id).unwrap().unwrap();
    assert_eq!(item.get(PASSWORD).unwrap().expose(), "from-b");
    let h = history(&item, PASSWORD);
    assert!(
        h.contains(&"from-a".to_owned()) && h.contains(&"old".to_owned()),
        "{h:?}"
    );
}

#[test]
fn delete_concurrent_with_edit_keeps_the_edit_and_reports_it() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, vec![(TITLE.into(), s("Shop"))], 1000).unwrap();
    sync(&mut b, &a, &key);
    a.delete(&key, id, 5000).unwrap();
    b.edit(&key, id, vec![(PASSWORD.into(), Some(s("new")))], 2000)
        .unwrap();
    sync(&mut a, &b, &key);
    sync(&mut b, &a, &key);
    // Before resolution: the live edit wins in memory on both devices.
    assert_eq!(value(&a, &key, id, PASSWORD).as_deref(), Some("new"));
    assert_eq!(value(&b, &key, id, PASSWORD).as_deref(), Some("new"));
    let ra = a.resolve_conflicts(&key, 6000).unwrap();
    let rb = b.resolve_conflicts(&key, 6001).unwrap();
    for reports in [&ra, &rb] {
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].kind, ConflictKind::DeleteVsEdit);
        assert_eq!(reports[0].winner_device, b.device_id());
        assert_eq!(reports[0].loser_device, a.device_id());
    }
    // Both resolved at once: identical contents, so no ping-pong.
    sync(&mut a, &b, &key);
    sync(&mut b, &a, &key);
    assert_eq!(a.state(), b.state());
    assert!(a.resolve_conflicts(&key, 7000).unwrap().is_empty());
    assert!(b.resolve_conflicts(&key, 7000).unwrap().is_empty());
    assert_eq!(a.state(), b.state());
    assert_eq!(a.items(&key).unwrap().len(), 1);
}

#[test]
fn a_clock_a_year_ahead_does_not_win_once_its_edit_was_seen() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, vec![(TITLE.into(), s("Bank"))], 1000).unwrap();
    sync(&mut b, &a, &key);
    // `a`'s clock runs a year ahead.
    a.edit(
        &key,
        id,
        vec![(PASSWORD.into(), Some(s("skewed")))],
        2000 + YEAR_MS,
    )
    .unwrap();
    sync(&mut b, &a, &key);
    // `b` (correct clock) edits after having seen it: b's edit wins.
    b.edit(&key, id, vec![(PASSWORD.into(), Some(s("later")))], 3000)
        .unwrap();
    sync(&mut a, &b, &key);
    assert_eq!(value(&a, &key, id, PASSWORD).as_deref(), Some("later"));
    assert_eq!(a.state().versions(&id).len(), 1);
    // And b's later edits of other items also stamp after the skewed one.
    let other = b.add(&key, vec![(TITLE.into(), s("x"))], 4000).unwrap();
    let stamp = b.get(&key, other).unwrap().unwrap().fields[TITLE].stamp;
    assert!(stamp.wall_ms >= 2000 + YEAR_MS);
}

/// A version forged without the key, claiming to supersede everything.
fn forged_cover_all(victim: &Replica, id: ItemId) -> RecordVersion {
    let mut context = VersionVector::new();
    for v in victim.state().versions(&id) {
        context.insert_dot(&v.dot);
        context.join(&v.context);
    }
    RecordVersion {
        id,
        dot: Dot::new(DeviceId::new_random(), 1),
        context,
        deleted: true,
        sealed: vec![7u8; 64].into(),
    }
}

#[test]
fn locked_merge_never_drops_data_for_a_forged_version() {
    let (key, mut a, mut b) = pair();
    let id = a
        .add(&key, vec![(TITLE.into(), s("Keep me"))], 1000)
        .unwrap();
    sync(&mut b, &a, &key);
    let mut evil = b.state().clone();
    evil.insert(forged_cover_all(&b, id));

    // Locked: union only, the real version stays.
    let out = b.merge_remote(&evil, None);
    assert!(out.rejected.is_empty());
    assert_eq!(b.state().versions(&id).len(), 2);
    // Reading before the unlock check refuses the forged record.
    assert!(matches!(
        b.items(&key),
        Err(VaultError::Open {
            reason: RecordOpenError::Decrypt,
            ..
        })
    ));
    // At unlock the forged version is dropped and the item is intact.
    let rejected = b.verify_and_compact(&key);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, RecordOpenError::Decrypt);
    assert_eq!(value(&b, &key, id, TITLE).as_deref(), Some("Keep me"));

    // Unlocked: the forged version is rejected and not merged.
    let out = a.merge_remote(&evil, Some(&key));
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(a.state().versions(&id).len(), 1);
    assert_eq!(value(&a, &key, id, TITLE).as_deref(), Some("Keep me"));
}

#[test]
fn locked_merges_are_resolved_at_unlock() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, vec![(TITLE.into(), s("T"))], 1000).unwrap();
    sync(&mut b, &a, &key);
    a.edit(&key, id, vec![(USERNAME.into(), Some(s("u")))], 2000)
        .unwrap();
    a.edit(&key, id, vec![(USERNAME.into(), Some(s("u2")))], 2100)
        .unwrap();
    b.edit(&key, id, vec![(URL.into(), Some(s("w")))], 2000)
        .unwrap();
    b.forget_plaintext();
    // b is locked: it takes a's state in by union only (a's old version
    // from b's first sync is still present, superseded).
    b.merge_remote(a.state(), None);
    b.merge_remote(a.state(), None);
    assert!(b.state().versions(&id).len() >= 2);
    assert!(b.verify_and_compact(&key).is_empty());
    assert_eq!(b.state().versions(&id).len(), 2);
    b.resolve_conflicts(&key, 3000).unwrap();
    assert_eq!(value(&b, &key, id, USERNAME).as_deref(), Some("u2"));
    assert_eq!(value(&b, &key, id, URL).as_deref(), Some("w"));
}

#[test]
fn superseded_versions_left_by_a_locked_union_do_not_resurrect_a_deleted_item() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, vec![(TITLE.into(), s("gone"))], 1000).unwrap();
    sync(&mut b, &a, &key);
    a.delete(&key, id, 2000).unwrap();
    b.merge_remote(a.state(), None);
    assert_eq!(b.state().versions(&id).len(), 2, "uncompacted union");
    assert_eq!(b.get(&key, id).unwrap(), None);
    assert!(b.items(&key).unwrap().is_empty());
}

#[test]
fn wrong_key_fails_even_with_a_warm_cache() {
    let (key, mut a, _) = pair();
    a.add(&key, vec![(TITLE.into(), s("x"))], 1).unwrap();
    assert_eq!(a.items(&key).unwrap().len(), 1);
    let wrong = SecretKey::generate();
    assert!(matches!(a.items(&wrong), Err(VaultError::Open { .. })));
    assert_eq!(a.items(&key).unwrap().len(), 1);
}

#[test]
fn reports_are_sealed_in_the_container_and_reopened_at_unlock() {
    let (key, mut a, mut b) = pair();
    let id = a
        .add(
            &key,
            vec![(TITLE.into(), s("Secret Title")), (PASSWORD.into(), s("p"))],
            1,
        )
        .unwrap();
    sync(&mut b, &a, &key);
    a.edit(&key, id, vec![(PASSWORD.into(), Some(s("a")))], 2)
        .unwrap();
    b.edit(&key, id, vec![(PASSWORD.into(), Some(s("b")))], 2)
        .unwrap();
    sync(&mut a, &b, &key);
    assert_eq!(a.resolve_conflicts(&key, 3).unwrap().len(), 1);
    let sync_bytes = a.sync_file_bytes();
    let parts = a.to_parts();
    let text = String::from_utf8_lossy(&sync_bytes);
    assert!(!text.contains("Secret Title") && !text.contains("password"));

    let mut reopened = Replica::from_parts(parts);
    assert!(reopened.reports().is_empty(), "locked: reports are sealed");
    assert!(reopened.verify_and_compact(&key).is_empty());
    assert_eq!(reopened.reports(), a.reports());
    reopened.forget_plaintext();
    assert!(reopened.reports().is_empty());
}

#[test]
fn reports_keep_the_newest_hundred() {
    let (key, mut a, mut b) = pair();
    let ids: Vec<ItemId> = (0..60)
        .map(|i| {
            a.add(&key, vec![(TITLE.into(), s(&format!("t{i}")))], 1)
                .unwrap()
        })
        .collect();
    sync(&mut b, &a, &key);
    for round in 0..2u64 {
        for id in &ids {
            a.edit(
                &key,
                *id,
                vec![(PASSWORD.into(), Some(s(&format!("a{round}"))))],
                10 + round,
            )
            .unwrap();
            b.edit(
                &key,
                *id,
                vec![(PASSWORD.into(), Some(s(&format!("b{round}"))))],
                10 + round,
            )
            .unwrap();
        }
        sync(&mut a, &b, &key);
        assert_eq!(a.resolve_conflicts(&key, 100 + round).unwrap().len(), 60);
        sync(&mut b, &a, &key);
    }
    assert_eq!(a.reports().len(), 100);
    assert!(a.reports().iter().all(|r| r.at_ms == 101 || r.at_ms == 100));
    assert_eq!(a.reports().last().unwrap().at_ms, 101);
}

#[test]
fn sync_files_of_another_account_or_epoch_are_refused() {
    let (key, mut a, b) = pair();
    let mut file: SyncFile = b.to_sync_file();
    file.epoch = 2;
    assert_eq!(
        a.merge_sync_file(&file, Some(&key)),
        Err(VaultError::WrongEpoch {
            expected: 1,
            found: 2
        })
    );
    file.epoch = 1;
    file.account_id = Uuid::new_v4();
    assert!(matches!(
        a.merge_sync_file(&file, None),
        Err(VaultError::WrongAccount { .. })
    ));
    file.account_id = a.account_id();
    assert!(a.merge_sync_file(&file, Some(&key)).is_ok());
}

#[test]
fn records_from_another_epoch_are_rejected() {
    let key = SecretKey::generate();
    let acct = Uuid::new_v4();
    let mut old = Replica::new(acct, 1, DeviceId::new_random(), "old".into());
    old.add(&key, vec![(TITLE.into(), s("x"))], 1).unwrap();
    let mut new = Replica::new(acct, 2, DeviceId::new_random(), "new".into());
    let out = new.merge_remote(old.state(), Some(&key));
    assert_eq!(out.rejected.len(), 1);
    assert!(new.state().records().is_empty());
}
