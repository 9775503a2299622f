//! The cheap queries the daemon answers `status` and `get TITLE` with agree
//! with the full listing.

use coffer_vault::ids::DeviceId;
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
