//! Memory of one device's vault of N items (default 100,000), locked and
//! unlocked.
//!
//! `cargo run --release -p coffer-vault --example replica_memory -- 100000`
//! adds N logins through [`Replica::add`] and writes the sync file; then a
//! fresh process reads it the way a new device does: parse, merge while
//! locked, unlock (`verify_and_compact`, which opens every record and fills
//! the plaintext cache), list. It prints the resident set after each phase
//! (`VmRSS`, `VmHWM` from `/proc/self/status`, Linux only) and its time.

use std::time::Instant;

use coffer_vault::format::SyncFile;
use coffer_vault::ids::DeviceId;
use coffer_vault::item::{PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};
use uuid::Uuid;

const T0: u64 = 1_735_689_600_000;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "n/a".into())
}

fn report(phase: &str, start: Instant) {
    println!(
        "{phase:<40} VmRSS {:>12}   VmHWM {:>12}   {:>8.1} ms",
        status("VmRSS:"),
        status("VmHWM:"),
        start.elapsed().as_secs_f64() * 1000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("read") {
        let path = args.get(2).expect("read PATH N");
        let n: usize = args
            .get(3)
            .and_then(|a| a.parse().ok())
            .expect("read PATH N");
        return read(path, n);
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let key = SecretKey::from_bytes([5; 32]);
    report("writer: start", Instant::now());

    let t = Instant::now();
    let mut writer = Replica::new(ACCT, 1, DeviceId::new_random(), "writer".into());
    for i in 0..n {
        let fields = vec![
            (
                TITLE.to_owned(),
                SecretString::from(format!("Site number {i}")),
            ),
            (
                USERNAME.to_owned(),
                SecretString::from(format!("user{i}@example.com")),
            ),
            (
                PASSWORD.to_owned(),
                SecretString::from(format!("pw-{i:08}-Xq7!kd")),
            ),
            (
                URL.to_owned(),
                SecretString::from(format!("https://site{i}.example.com/login")),
            ),
        ];
        writer.add(&key, fields, T0 + i as u64).expect("add");
    }
    report(&format!("writer: {n} items added (cache warm)"), t);
    let t = Instant::now();
    let bytes = writer.sync_file_bytes();
    report(
        &format!(
            "writer: sync file written ({:.1} MB)",
            bytes.len() as f64 / 1e6
        ),
        t,
    );
    let path = std::env::temp_dir().join(format!(
        "coffer-replica-memory-{}.cofsync",
        std::process::id()
    ));
    std::fs::write(&path, &bytes).expect("write the sync file");
    drop((bytes, writer));

    // The reader runs in a fresh process, so that its numbers do not
    // include the writer's freed memory.
    let status = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("read")
        .arg(&path)
        .arg(n.to_string())
        .status();
    let _ = std::fs::remove_file(&path);
    assert!(
        status.expect("run the reader").success(),
        "the reader failed"
    );
}

const ACCT: Uuid = Uuid::from_bytes([1; 16]);

/// A new device reading the writer's file: parse, merge while locked,
/// unlock, list.
fn read(path: &str, n: usize) {
    let key = SecretKey::from_bytes([5; 32]);
    report("reader: start", Instant::now());
    let t = Instant::now();
    let bytes = std::fs::read(path).expect("read the sync file");
    let file = SyncFile::from_bytes(&bytes).expect("parses");
    drop(bytes);
    let mut reader = Replica::new(ACCT, 1, DeviceId::new_random(), "reader".into());
    reader.merge_sync_file(&file, None).expect("same account");
    drop(file);
    report("reader: read and merged while locked", t);

    let t = Instant::now();
    let rejected = reader.verify_and_compact(&key);
    assert!(rejected.is_empty());
    report("reader: unlocked (all opened, cached)", t);

    let t = Instant::now();
    let items = reader.items(&key).expect("open");
    assert_eq!(items.len(), n);
    report("reader: listed (a copy of every item)", t);
}
