//! Benchmarks of record sealing, opening, listing and merging.
//!
//! Run with `cargo bench -p coffer-vault --bench vault`. Merges are measured
//! as "clone the local state, merge the remote one in"; the `clone` rows
//! are the baseline for the same states. Peak memory is measured by the
//! `merge_memory` example (`cargo run --release -p coffer-vault --example
//! merge_memory -- 100000`) and, for one vault locked and unlocked, by the
//! `replica_memory` example.

use std::hint::black_box;
use std::time::Duration;

use coffer_vault::hlc::Clock;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::item::{Item, NOTES, PASSWORD, TITLE, URL, USERNAME};
use coffer_vault::record::{open_record, seal_record, RecordKey, RecordPlain};
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::state::VaultState;
use coffer_vault::vv::{Dot, VersionVector};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use uuid::Uuid;

const T0: u64 = 1_735_689_600_000;

fn item(n: usize, device: DeviceId, clock: &mut Clock) -> Item {
    let mut it = Item::new(ItemId::new_random(), T0);
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
    it.apply(fields, clock, T0 + n as u64, device);
    it
}

/// Two device states of `n` items each: half of them shared (identical
/// versions), a tenth of the shared ones edited concurrently on both
/// devices, the rest created on one device only.
fn two_states(n: usize) -> (VaultState, VaultState) {
    let vault_key = SecretKey::from_bytes([5; 32]);
    let rk = RecordKey::derive(&vault_key);
    let acct = Uuid::from_bytes([1; 16]);
    let (x, a, b) = (
        DeviceId(Uuid::from_bytes([0x10; 16])),
        DeviceId(Uuid::from_bytes([0xa0; 16])),
        DeviceId(Uuid::from_bytes([0xb0; 16])),
    );
    let mut clock = Clock::new();
    let (mut sa, mut sb) = (VaultState::new(), VaultState::new());
    let (mut ca, mut cb, mut cx) = (0u64, 0u64, 0u64);
    let shared = n / 2;
    for i in 0..shared {
        let mut it = item(i, x, &mut clock);
        cx += 1;
        let base_dot = Dot::new(x, cx);
        let base = seal_record(
            &rk,
            acct,
            1,
            base_dot,
            VersionVector::new(),
            &RecordPlain::Item(it.clone()),
        );
        if i % 10 == 0 {
            let ctx: VersionVector = [(x, cx)].into_iter().collect();
            let mut ia = it.clone();
            ia.apply(
                vec![(NOTES.into(), Some(SecretString::from("from a")))],
                &mut clock,
                T0 + 1,
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
                vec![(NOTES.into(), Some(SecretString::from("from b")))],
                &mut clock,
                T0 + 1,
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
    for i in shared..n {
        ca += 1;
        let ia = item(i, a, &mut clock);
        sa.insert(seal_record(
            &rk,
            acct,
            1,
            Dot::new(a, ca),
            VersionVector::new(),
            &RecordPlain::Item(ia),
        ));
        cb += 1;
        let ib = item(n + i, b, &mut clock);
        sb.insert(seal_record(
            &rk,
            acct,
            1,
            Dot::new(b, cb),
            VersionVector::new(),
            &RecordPlain::Item(ib),
        ));
    }
    (sa, sb)
}

fn seal_open(c: &mut Criterion) {
    let rk = RecordKey::derive(&SecretKey::from_bytes([5; 32]));
    let acct = Uuid::from_bytes([1; 16]);
    let dev = DeviceId::new_random();
    let mut clock = Clock::new();
    let items: Vec<RecordPlain> = (0..10_000)
        .map(|n| RecordPlain::Item(item(n, dev, &mut clock)))
        .collect();
    let mut g = c.benchmark_group("records");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("seal 10k items", |bch| {
        bch.iter(|| {
            for (i, p) in items.iter().enumerate() {
                black_box(seal_record(
                    &rk,
                    acct,
                    1,
                    Dot::new(dev, i as u64 + 1),
                    VersionVector::new(),
                    p,
                ));
            }
        })
    });
    let sealed: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            seal_record(
                &rk,
                acct,
                1,
                Dot::new(dev, i as u64 + 1),
                VersionVector::new(),
                p,
            )
        })
        .collect();
    g.bench_function("open 10k items", |bch| {
        bch.iter(|| {
            for v in &sealed {
                black_box(open_record(&rk, acct, 1, v).expect("opens"));
            }
        })
    });
    g.finish();
}

fn listing(c: &mut Criterion) {
    let key = SecretKey::from_bytes([5; 32]);
    let mut r = Replica::new(
        Uuid::from_bytes([1; 16]),
        1,
        DeviceId::new_random(),
        "bench".into(),
    );
    for n in 0..10_000 {
        let fields = vec![
            (
                TITLE.to_owned(),
                SecretString::from(format!("Site number {n}")),
            ),
            (
                PASSWORD.to_owned(),
                SecretString::from(format!("pw-{n:08}")),
            ),
        ];
        r.add(&key, fields, T0 + n).expect("add");
    }
    let mut g = c.benchmark_group("replica");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("items() 10k, cold cache", |bch| {
        bch.iter_batched(
            || r.clone(),
            |fresh| black_box(fresh.items(&key).expect("open").len()),
            BatchSize::LargeInput,
        )
    });
    r.items(&key).expect("warm the cache");
    g.bench_function("items() 10k, warm cache", |bch| {
        bch.iter(|| black_box(r.items(&key).expect("open").len()))
    });
    g.finish();
}

fn merging(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for n in [10_000usize, 100_000] {
        let (a, b) = two_states(n);
        g.bench_function(format!("clone {n} (baseline)"), |bch| {
            bch.iter(|| black_box(a.clone()))
        });
        g.bench_function(format!("clone + merge {n} + {n}"), |bch| {
            bch.iter(|| {
                let mut m = a.clone();
                m.merge(&b);
                black_box(m.version_count())
            })
        });
        g.bench_function(format!("clone + union (locked) {n} + {n}"), |bch| {
            bch.iter(|| {
                let mut m = a.clone();
                m.union(&b);
                black_box(m.version_count())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, seal_open, listing, merging);
criterion_main!(benches);
