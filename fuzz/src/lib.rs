//! The checks every fuzz target runs: parse arbitrary bytes with one of
//! coffer-vault's readers; it must never panic, and whatever it accepts
//! must write back to something that parses to the same value
//! (parse → write → parse).
//!
//! The same file is compiled into `vault/tests/parser_smoke.rs`, which runs
//! these checks on stable Rust over mutated test vectors.

use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::format::{Container, SyncFile};
use coffer_vault::item::Item;

/// `account.json` reader.
pub fn account_header(data: &[u8]) {
    if let Ok(h) = AccountHeader::from_json(data) {
        let again = AccountHeader::from_json(&h.to_json()).expect("a written header parses");
        assert_eq!(again, h, "header round trip");
    }
}

/// Account Key text parser.
pub fn account_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = AccountKey::parse(text) {
        let canonical = k.to_text();
        let again = AccountKey::parse(canonical.expose()).expect("a canonical key parses");
        assert!(again == k, "key round trip");
    }
}

/// Local container reader.
pub fn container(data: &[u8]) {
    if let Ok(c) = Container::from_bytes(data) {
        let bytes = c.to_bytes();
        let again = Container::from_bytes(&bytes).expect("a written container parses");
        // Writing folds appended entries in: the content round-trips.
        assert_eq!(again.account, c.account, "container round trip");
        assert_eq!(again.replica, c.replica, "container round trip");
        assert_eq!(
            again.appended.entries, 0,
            "a written container has nothing appended"
        );
        assert_eq!(again.to_bytes(), bytes, "container bytes are stable");
    }
}

/// Sync file reader.
pub fn sync_file(data: &[u8]) {
    if let Ok(f) = SyncFile::from_bytes(data) {
        let bytes = f.to_bytes();
        let again = SyncFile::from_bytes(&bytes).expect("a written sync file parses");
        assert_eq!(again, f, "sync file round trip");
        assert_eq!(again.to_bytes(), bytes, "sync file bytes are stable");
    }
}

/// Item plaintext reader (what a record seals).
pub fn item_json(data: &[u8]) {
    if let Ok(i) = Item::from_json(data) {
        let again = Item::from_json(&i.to_json()).expect("a written item parses");
        assert_eq!(again, i, "item round trip");
    }
}
