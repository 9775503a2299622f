//! Peak memory of merging two device states of N items each (default
//! 100,000): half shared, a tenth of those edited concurrently.
//!
//! `cargo run --release -p coffer-vault --example merge_memory -- 100000`
//! prints the resident set after each phase and the peak (`VmHWM` from
//! `/proc/self/status`, Linux only): one device's state, both states, the
//! merge, then the merged state written as a sync file and read back.
//!
//! Each state owns its bytes, as it would after reading its own file: the
//! versions both devices hold are copies, not shared.

use std::time::Instant;

use coffer_vault::format::SyncFile;
use coffer_vault::hlc::Clock;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, NOTES, PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::record::{seal_record, RecordKey, RecordPlain, RecordVersion};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::state::VaultState;
use coffer_vault::vv::{Dot, VersionVector};
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

fn report(phase: &str) {
    println!(
        "{phase:<34} VmRSS {:>12}   VmHWM {:>12}",
        status("VmRSS:"),
        status("VmHWM:")
    );
}

/// A login like the benchmarks': four fields, about 90 bytes of values.
fn login(id: ItemId, n: usize, dev: DeviceId, clock: &mut Clock) -> Item {
    let mut it = Item::new(id, T0);
    let fields = vec![
        (
            TITLE.to_owned(),
            Some(SecretString::from(format!("Site number {n}"))),
        ),
        (
            USERNAME.to_owned(),
            Some(SecretString::from(format!("user{n}@example.com"))),
        ),
        (
            PASSWORD.to_owned(),
            Some(SecretString::from(format!("pw-{n:08}-Xq7!kd"))),
        ),
        (
            URL.to_owned(),
            Some(SecretString::from(format!(
                "https://site{n}.example.com/login"
            ))),
        ),
    ];
    it.apply(fields, clock, T0 + n as u64, dev);
    it
}

struct Sealer {
    rk: RecordKey,
    acct: Uuid,
}

impl Sealer {
    fn seal(&self, dot: Dot, context: VersionVector, item: Item) -> RecordVersion {
        seal_record(
            &self.rk,
            self.acct,
            1,
            dot,
            context,
            &RecordPlain::Item(item),
        )
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    report("start");
    let s = Sealer {
        rk: RecordKey::derive(&SecretKey::from_bytes([5; 32])),
        acct: Uuid::from_bytes([1; 16]),
    };
    let (x, a, b) = (
        DeviceId::new_random(),
        DeviceId::new_random(),
        DeviceId::new_random(),
    );
    let mut clock = Clock::new();
    let shared: Vec<ItemId> = (0..n / 2).map(|_| ItemId::new_random()).collect();
    let base_ctx = |i: usize| -> VersionVector { [(x, i as u64 + 1)].into_iter().collect() };
    let edit = |mut it: Item, note: &str, dev: DeviceId, clock: &mut Clock| {
        it.apply(
            vec![(NOTES.into(), Some(SecretString::from(note)))],
            clock,
            T0 + 1,
            dev,
        );
        it
    };

    // Device a: the shared items (a tenth edited on a), then its own.
    let mut sa = VaultState::new();
    let mut ca = 0u64;
    for (i, id) in shared.iter().enumerate() {
        let it = login(*id, i, x, &mut clock);
        if i % 10 == 0 {
            ca += 1;
            let it = edit(it, "a", a, &mut clock);
            sa.insert(s.seal(Dot::new(a, ca), base_ctx(i), it));
        } else {
            sa.insert(s.seal(Dot::new(x, i as u64 + 1), VersionVector::new(), it));
        }
    }
    for i in n / 2..n {
        ca += 1;
        let it = login(ItemId::new_random(), i, a, &mut clock);
        sa.insert(s.seal(Dot::new(a, ca), VersionVector::new(), it));
    }
    report(&format!("one state of {n} built"));

    // Device b: copies of the shared versions, its own concurrent edits,
    // and its own items.
    let mut sb = VaultState::new();
    let mut cb = 0u64;
    for (i, id) in shared.iter().enumerate() {
        if i % 10 == 0 {
            cb += 1;
            let it = edit(login(*id, i, x, &mut clock), "b", b, &mut clock);
            sb.insert(s.seal(Dot::new(b, cb), base_ctx(i), it));
        } else {
            for v in sa.versions(id) {
                let mut copy = v.clone();
                copy.sealed = v.sealed.to_vec().into();
                sb.insert(copy);
            }
        }
    }
    for i in n / 2..n {
        cb += 1;
        let it = login(ItemId::new_random(), n + i, b, &mut clock);
        sb.insert(s.seal(Dot::new(b, cb), VersionVector::new(), it));
    }
    report(&format!("two states of {n} built"));

    let start = Instant::now();
    sa.merge(&sb);
    let took = start.elapsed();
    report("merged in place");
    println!(
        "merge of {n} + {n}: {:.1} ms, {} items, {} versions",
        took.as_secs_f64() * 1000.0,
        sa.item_count(),
        sa.version_count()
    );

    let file = SyncFile {
        account_id: s.acct,
        epoch: 1,
        device_id: a,
        device_name: "a".into(),
        written_hlc: clock.last(),
        state: sa,
    };
    let start = Instant::now();
    let bytes = file.to_bytes();
    println!(
        "sync file: {:.1} MB written in {:.1} ms",
        bytes.len() as f64 / 1e6,
        start.elapsed().as_secs_f64() * 1000.0
    );
    report("after writing the sync file");
    let start = Instant::now();
    let back = SyncFile::from_bytes(&bytes).expect("parses");
    println!(
        "read back in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(back, file);
    report("after reading it back");
}
