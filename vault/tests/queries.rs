//! The cheap queries the daemon answers `status` and `get TITLE` with agree
//! with the full listing, also once titles are cached and items change.

use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, TITLE};
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};

fn fields(title: &str) -> Vec<(String, SecretString)> {
    vec![("title".to_owned(), SecretString::from(title))]
}

#[test]
fn live_count_and_title_search_match_the_listing() {
    let key = SecretKey::generate();
    let mut a = Replica::new(uuid::Uuid::new_v4(), 1, DeviceId::new_random(), "a".into());
    let mut b = Replica::new(a.account_id(), 1, DeviceId::new_random(), "b".into());
    let one = a.add(&key, fields("Mail"), 1).unwrap();
    a.add(&key, fields("mail"), 2).unwrap();
    let gone = a.add(&key, fields("Bank"), 3).unwrap();
    a.delete(&key, gone, 4).unwrap();
    assert_eq!(a.state().live_item_count(), a.items(&key).unwrap().len());
    assert_eq!(a.state().live_item_count(), 2);
    assert_eq!(a.find_by_title(&key, "MAIL").unwrap().len(), 2);
    assert!(a.find_by_title(&key, "Bank").unwrap().is_empty());
    // Delete on one device, edit on another: the edit wins, so the item counts.
    b.merge_remote(a.state(), Some(&key));
    a.delete(&key, one, 5).unwrap();
    b.edit(
        &key,
        one,
        vec![("password".to_owned(), Some(SecretString::from("x")))],
        6,
    )
    .unwrap();
    let mut merged = a.clone();
    merged.merge_remote(b.state(), None);
    assert_eq!(
        merged.state().live_item_count(),
        merged.items(&key).unwrap().len()
    );
    assert_eq!(merged.state().live_item_count(), 2);
}

/// What `find_by_title` must return: the listing filtered by the same rule.
fn by_listing(r: &Replica, key: &SecretKey, title: &str) -> Vec<Item> {
    let want = title.to_lowercase();
    r.items(key)
        .unwrap()
        .into_iter()
        .filter(|i| i.title().to_lowercase() == want)
        .collect()
}

/// The ids `find_by_title` returns, checked against the listing.
fn find(r: &Replica, key: &SecretKey, title: &str) -> Vec<ItemId> {
    let found = r.find_by_title(key, title).unwrap();
    assert_eq!(found, by_listing(r, key, title), "title {title:?}");
    found.iter().map(|i| i.id).collect()
}

fn rename(title: &str) -> Vec<(String, Option<SecretString>)> {
    vec![(TITLE.to_owned(), Some(SecretString::from(title)))]
}

fn pair() -> (SecretKey, Replica, Replica) {
    let key = SecretKey::generate();
    let a = Replica::new(uuid::Uuid::new_v4(), 1, DeviceId::new_random(), "a".into());
    let b = Replica::new(a.account_id(), 1, DeviceId::new_random(), "b".into());
    (key, a, b)
}

fn sync(to: &mut Replica, from: &Replica, key: &SecretKey) {
    let out = to.merge_remote(from.state(), Some(key));
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

#[test]
fn title_lookup_ignores_case() {
    let (key, mut a, _) = pair();
    let id = a.add(&key, fields("GitHub Ärzte"), 1).unwrap();
    a.add(&key, fields("GitHub"), 2).unwrap();
    for query in [
        "github ärzte",
        "GITHUB ÄRZTE",
        "GitHub Ärzte",
        "gItHuB äRZTE",
    ] {
        // Twice: the first lookup fills the cached titles, the second uses them.
        assert_eq!(find(&a, &key, query), vec![id]);
        assert_eq!(find(&a, &key, query), vec![id]);
    }
    let found = a.find_by_title(&key, "github ärzte").unwrap();
    assert_eq!(found, vec![a.get(&key, id).unwrap().unwrap()]);
    assert!(find(&a, &key, "GitHub Ärzte ").is_empty());
    assert!(find(&a, &key, "Git").is_empty());
}

#[test]
fn title_lookup_follows_an_edit_of_the_title() {
    let (key, mut a, _) = pair();
    let id = a.add(&key, fields("Old Bank"), 1).unwrap();
    assert_eq!(find(&a, &key, "old bank"), vec![id]);
    a.edit(&key, id, rename("New Bank"), 2).unwrap();
    assert!(find(&a, &key, "old bank").is_empty());
    assert_eq!(find(&a, &key, "NEW BANK"), vec![id]);
    // An edit of another field keeps the title found, with the new value.
    a.edit(
        &key,
        id,
        vec![("password".to_owned(), Some(SecretString::from("pw2")))],
        3,
    )
    .unwrap();
    let found = a.find_by_title(&key, "new bank").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get("password").map(|v| v.expose()), Some("pw2"));
}

#[test]
fn title_lookup_follows_a_rename_merged_from_another_device() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, fields("Mail"), 1).unwrap();
    let other = a.add(&key, fields("Shop"), 2).unwrap();
    sync(&mut b, &a, &key);
    assert_eq!(find(&a, &key, "mail"), vec![id]);
    assert_eq!(find(&b, &key, "mail"), vec![id]);

    // Unlocked merge: the new version replaces the cached one.
    b.edit(&key, id, rename("Webmail"), 3).unwrap();
    sync(&mut a, &b, &key);
    assert!(find(&a, &key, "mail").is_empty());
    assert_eq!(find(&a, &key, "webmail"), vec![id]);

    // Locked union: the new version sits beside the one it supersedes.
    b.edit(&key, other, rename("Store"), 4).unwrap();
    assert_eq!(find(&a, &key, "shop"), vec![other]);
    a.merge_remote(b.state(), None);
    assert!(find(&a, &key, "shop").is_empty());
    assert_eq!(find(&a, &key, "store"), vec![other]);
}

#[test]
fn title_lookup_follows_concurrent_renames() {
    let (key, mut a, mut b) = pair();
    let id = a.add(&key, fields("Mail"), 1).unwrap();
    sync(&mut b, &a, &key);
    assert_eq!(find(&a, &key, "mail"), vec![id]);
    a.edit(&key, id, rename("Mail A"), 2).unwrap();
    b.edit(&key, id, rename("Mail B"), 3).unwrap();
    assert_eq!(find(&a, &key, "mail a"), vec![id]);
    sync(&mut a, &b, &key);
    // Siblings are resolved for the lookup: the later rename wins.
    assert!(find(&a, &key, "mail").is_empty());
    assert!(find(&a, &key, "mail a").is_empty());
    assert_eq!(find(&a, &key, "mail b"), vec![id]);
}

#[test]
fn deleted_items_are_not_found_by_title() {
    let (key, mut a, mut b) = pair();
    let here = a.add(&key, fields("Bank"), 1).unwrap();
    let there = a.add(&key, fields("Card"), 2).unwrap();
    sync(&mut b, &a, &key);
    assert_eq!(find(&a, &key, "bank"), vec![here]);
    assert_eq!(find(&a, &key, "card"), vec![there]);
    a.delete(&key, here, 3).unwrap();
    assert!(find(&a, &key, "bank").is_empty());
    b.delete(&key, there, 4).unwrap();
    sync(&mut a, &b, &key);
    assert!(find(&a, &key, "card").is_empty());
    assert!(a.items(&key).unwrap().is_empty());
}

#[test]
fn items_sharing_a_title_are_all_found_in_id_order() {
    let (key, mut a, _) = pair();
    let mut ids = vec![
        a.add(&key, fields("Mail"), 1).unwrap(),
        a.add(&key, fields("MAIL"), 2).unwrap(),
        a.add(&key, fields("mail"), 3).unwrap(),
    ];
    a.add(&key, fields("Mailbox"), 4).unwrap();
    a.add(&key, fields(""), 5).unwrap();
    ids.sort();
    assert_eq!(find(&a, &key, "Mail"), ids);
    assert_eq!(find(&a, &key, "mail"), ids);
    let found = a.find_by_title(&key, "mail").unwrap();
    let titles: Vec<&str> = found.iter().map(Item::title).collect();
    assert_eq!(titles.len(), 3);
    assert!(titles.contains(&"Mail") && titles.contains(&"MAIL") && titles.contains(&"mail"));
    // An item without a title is found by the empty title, as before.
    assert_eq!(find(&a, &key, "").len(), 1);
}

#[test]
fn title_lookup_after_unlock_and_lock() {
    let (key, mut a, _) = pair();
    let id = a.add(&key, fields("Bank"), 1).unwrap();
    assert_eq!(find(&a, &key, "bank"), vec![id]);
    a.forget_plaintext();
    assert_eq!(find(&a, &key, "bank"), vec![id]);
    let mut fresh = a.clone();
    assert!(fresh.verify_and_compact(&key).is_empty());
    assert_eq!(find(&fresh, &key, "BANK"), vec![id]);
    // Another key fails as a listing does, even after titles were cached.
    let wrong = SecretKey::generate();
    assert!(fresh.find_by_title(&wrong, "bank").is_err());
}
