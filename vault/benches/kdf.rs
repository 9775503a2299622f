//! Key derivation cost: `derive_kek` at the parameters a new account gets
//! on this machine (`KdfParams::default_calibrated`, about 0.5 s), next to a
//! baseline of one SHA-256 over 1 MiB measured in the same run, so the two
//! numbers can be compared across machines.
//!
//! Run with `cargo bench -p coffer-vault --bench kdf`.

use std::hint::black_box;
use std::time::Duration;

use coffer_vault::account_key::AccountKey;
use coffer_vault::kdf::{derive_kek, KdfParams};
use coffer_vault::secret::SecretString;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use sha2::{Digest, Sha256};

fn kdf(c: &mut Criterion) {
    let params = KdfParams::default_calibrated();
    eprintln!(
        "default_calibrated: Argon2id m = {} MiB, t = {}, p = {}",
        params.m_kib / 1024,
        params.t,
        params.p
    );
    let password = SecretString::from("correct horse battery staple");
    let account_key = AccountKey::generate();
    let account_id = uuid::Uuid::new_v4();
    let salt = [7u8; 32];

    let mut group = c.benchmark_group("kdf");
    group.bench_function("sha256_1MiB_baseline", |b| {
        let data = vec![0x5au8; 1 << 20];
        b.iter(|| Sha256::digest(black_box(&data)))
    });
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("derive_kek_default_calibrated", |b| {
        b.iter(|| {
            derive_kek(
                black_box(&password),
                &account_key,
                &salt,
                &params,
                &account_id,
                black_box(1),
            )
            .expect("calibrated parameters are accepted")
        })
    });
    group.finish();
}

criterion_group!(benches, kdf);
criterion_main!(benches);
