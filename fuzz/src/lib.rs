//! The checks every fuzz target runs: parse arbitrary bytes with one of
//! coffer-vault's readers; it must never panic, and whatever it accepts
//! must write back to something that parses to the same value
//! (parse → write → parse).
//!
//! The same file is compiled into `vault/tests/parser_smoke.rs`, which runs
//! these checks on stable Rust over mutated test vectors.

use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::backup::Backup;
use coffer_vault::device_key::{DeviceKeyContext, Slot};
use coffer_vault::format::{Container, SyncFile};
use coffer_vault::item::Item;
use coffer_vault::secret::SecretKey;
use coffer_vault::segment::{read_segment_header, read_sync_file, Segment, SyncContent};
use coffer_vault::sync_names::{
    classify, delta_file_name, device_file_name, header_file_name, unlock_file_name, Entry,
};
use coffer_vault::unlock_key::UnlockKeyFile;

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

/// Sync file reader, either version (a whole state, or a snapshot or delta
/// segment, whose header alone must read the same as within the whole).
pub fn sync_file(data: &[u8]) {
    if let Ok(f) = SyncFile::from_bytes(data) {
        let bytes = f.to_bytes();
        let again = SyncFile::from_bytes(&bytes).expect("a written sync file parses");
        assert_eq!(again, f, "sync file round trip");
        assert_eq!(again.to_bytes(), bytes, "sync file bytes are stable");
    }
    let header = read_segment_header(data);
    if let Ok(SyncContent::Segment(s)) = read_sync_file(data) {
        assert_eq!(
            header.as_ref(),
            Ok(&s.header),
            "the header alone reads the same"
        );
        let bytes = s.to_bytes();
        let again = Segment::from_bytes(&bytes).expect("a written segment parses");
        assert_eq!(again.header, s.header, "segment round trip");
        assert_eq!(again.state, s.state, "segment round trip");
        assert_eq!(again.to_bytes(), bytes, "segment bytes are stable");
    }
}

/// Item plaintext reader (what a record seals).
pub fn item_json(data: &[u8]) {
    if let Ok(i) = Item::from_json(data) {
        let again = Item::from_json(&i.to_json()).expect("a written item parses");
        assert_eq!(again, i, "item round trip");
    }
}

/// Backup reader: parsing never panics, a parsed backup writes back to one
/// that parses to the same header, and opening arbitrary sealed bytes
/// under a key only fails.
pub fn backup(data: &[u8]) {
    if let Ok(b) = Backup::parse(data) {
        let key = SecretKey::from_bytes([7; 32]);
        // A backup whose items open under this key would need a forged box: it fails.
        assert!(b.open(&key).is_err(), "a random key opens a backup");
        let again = Backup::seal(&b.header, &key, &[], b.created_ms);
        let reread = Backup::parse(&again).expect("a written backup parses");
        assert_eq!(reread.header, b.header, "backup round trip");
        assert_eq!(reread.open(&key).expect("opens"), Vec::new(), "empty items");
    }
}

/// The device's sealed Account Key: opening arbitrary bytes never panics
/// and never succeeds without the sealing key.
pub fn device_key(data: &[u8]) {
    let ctx = DeviceKeyContext {
        account_id: Default::default(),
        epoch: 1,
        device_id: "fuzz",
    };
    let key = SecretKey::from_bytes([9; 32]);
    for slot in [Slot::Password, Slot::VaultKey] {
        assert!(ctx.open(slot, &key, data).is_none(), "forged box opened");
    }
}

/// Sync folder names: classifying any name never panics, and a device
/// file's name is exactly the one its id gives.
pub fn sync_name(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    match classify(name) {
        Entry::DeviceFile { device_id } => assert_eq!(
            device_file_name(&device_id),
            name,
            "device file name round trip"
        ),
        Entry::HeaderChange { device_id } => assert_eq!(
            header_file_name(&device_id),
            name,
            "header change name round trip"
        ),
        Entry::UnlockKey { device_id } => assert_eq!(
            unlock_file_name(&device_id),
            name,
            "unlock key name round trip"
        ),
        Entry::DeltaFile {
            device_id,
            seq,
            file_id,
        } => {
            let id = u64::from_str_radix(&file_id, 16).expect("a delta's file id is hex");
            assert_eq!(
                delta_file_name(&device_id, seq, id),
                name,
                "delta segment name round trip"
            );
        }
        _ => {}
    }
}

/// `unlock-<device_id>.json` reader.
pub fn unlock_key(data: &[u8]) {
    if let Ok(k) = UnlockKeyFile::from_json(data) {
        let again = UnlockKeyFile::from_json(&k.to_json()).expect("a written unlock key parses");
        assert_eq!(again, k, "unlock key round trip");
    }
}
