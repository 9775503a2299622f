//! Peak memory of merging two device states of N items each (default
//! 100,000): half shared, a tenth of those edited concurrently.
//!
//! `cargo run --release -p coffer-vault --example merge_memory -- 100000`
//! prints the resident set after each phase and the peak (`VmHWM` from
//! `/proc/self/status`, Linux only), plus the sync file size.

use std::time::Instant;

use coffer_vault::hlc::Clock;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, NOTES, PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::record::{seal_record, RecordKey, RecordPlain};
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::state::VaultState;
use coffer_vault::vv::{Dot, VersionVector};
use uuid::Uuid;

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
        "{phase:<28} VmRSS {:>12}   VmHWM {:>12}",
        status("VmRSS:"),
        status("VmHWM:")
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    report("start");
    let rk = RecordKey::derive(&SecretKey::from_bytes([5; 32]));
    let acct = Uuid::from_bytes([1; 16]);
    let (x, a, b) = (
        DeviceId::new_random(),
        DeviceId::new_random(),
        DeviceId::new_random(),
    );
    let mut clock = Clock::new();
    let mk = |n: usize, dev: DeviceId, clock: &mut Clock| {
        let mut it = Item::new(ItemId::new_random(), 1);
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
        it.apply(fields, clock, 1_735_689_600_000 + n as u64, dev);
        it
    };
    let (mut sa, mut sb) = (VaultState::new(), VaultState::new());
    let (mut ca, mut cb) = (0u64, 0u64);
    for i in 0..n / 2 {
        let mut it = mk(i, x, &mut clock);
        let base = seal_record(
            &rk,
            acct,
            1,
            Dot::new(x, i as u64 + 1),
            VersionVector::new(),
            &RecordPlain::Item(it.clone()),
        );
        if i % 10 == 0 {
            let ctx: VersionVector = [(x, i as u64 + 1)].into_iter().collect();
            let mut ia = it.clone();
            ia.apply(
                vec![(NOTES.into(), Some(SecretString::from("a")))],
                &mut clock,
                2,
                a,
            );
            ca += 1;
            sa.insert(seal_record(
                &rk,
                acct,
                1,
                Dot::new(a, ca),
                ctx.clone(),
                &RecordPlain::Item(ia),
            ));
            it.apply(
                vec![(NOTES.into(), Some(SecretString::from("b")))],
                &mut clock,
                2,
                b,
            );
            cb += 1;
            sb.insert(seal_record(
                &rk,
                acct,
                1,
                Dot::new(b, cb),
                ctx,
                &RecordPlain::Item(it),
            ));
        } else {
            sa.insert(base.clone());
            sb.insert(base);
        }
    }
    for i in n / 2..n {
        ca += 1;
        sa.insert(seal_record(
            &rk,
            acct,
            1,
            Dot::new(a, ca),
            VersionVector::new(),
            &RecordPlain::Item(mk(i, a, &mut clock)),
        ));
        cb += 1;
        sb.insert(seal_record(
            &rk,
            acct,
            1,
            Dot::new(b, cb),
            VersionVector::new(),
            &RecordPlain::Item(mk(n + i, b, &mut clock)),
        ));
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
    let start = Instant::now();
    let json = serde_json::to_vec(&sa).expect("serializes");
    println!(
        "state JSON: {:.1} MB in {:.1} ms",
        json.len() as f64 / 1e6,
        start.elapsed().as_secs_f64() * 1000.0
    );
    report("after serializing");
    let start = Instant::now();
    let back: VaultState = serde_json::from_slice(&json).expect("parses");
    println!(
        "parsed back in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(back, sa);
    report("after parsing back");
}
