//! What a password change costs an unlock: opening the newest of several
//! same-epoch headers (`account::open_newest`) with the password, as a
//! device does, next to the baseline of opening one header, measured in the
//! same run at the same Argon2id parameters (64 MiB, 2 passes). Cases:
//!
//! - `baseline_one_header`: the device's own header, the box it keeps;
//! - `new_password_via_envelope`: the own header (old) and a newer one from
//!   another device; the new password opens the newer one through this
//!   device's unlock envelope (one derivation, plus X25519);
//! - `old_password_refused`: the same two headers, the old password: the
//!   newer one is tried first (one derivation), then the own one opens and
//!   the newer authentic one refuses it (two derivations);
//! - `wrong_password_5_candidates`: a wrong password against the own header
//!   and 5 distinct newer ones (forged, say): at most 4 + the own one are
//!   derived;
//! - `adopt_among_16`: an unlocked device judging 16 candidates with the
//!   vault key (HMAC only, no derivation).
//!
//! Run with `cargo bench -p coffer-vault --bench header_choice`; the ratios
//! to the baseline are what to compare across machines.

use std::hint::black_box;
use std::time::Duration;

use coffer_vault::account::{
    adoptable, open_newest, AccountError, AccountHeader, Change, ChangeInfo, ChangeKind, Recipient,
    UnlockSecret,
};
use coffer_vault::account_key::AccountKey;
use coffer_vault::device_key::{DeviceKeyContext, Slot};
use coffer_vault::kdf::{stretch_password, KdfParams};
use coffer_vault::secret::{SecretKey, SecretString};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

const DEVICE: &str = "b";

/// Opens `h` as a device: the stretched password opens this device's box
/// (sealed under `own`'s salt) or its envelope in `h`.
fn open_as_device(
    h: &AccountHeader,
    pw: &SecretString,
    own_box: &[u8],
    secret: &UnlockSecret,
) -> Result<(SecretKey, ()), AccountError> {
    let st = stretch_password(pw, &h.salt, &h.kdf)?;
    let ctx = DeviceKeyContext {
        account_id: h.account_id,
        epoch: h.epoch,
        device_id: DEVICE,
    };
    let ak = ctx
        .open(Slot::Password, &st, own_box)
        .or_else(|| h.open_envelope(DEVICE, secret, &st))
        .ok_or(AccountError::WrongCredentials)?;
    h.unlock_stretched(&st, &ak).map(|k| (k, ()))
}

fn change(
    h: &AccountHeader,
    vk: &SecretKey,
    ak: &AccountKey,
    pw: &SecretString,
    params: KdfParams,
    to: &[Recipient],
) -> AccountHeader {
    let c = Change {
        kind: ChangeKind::Password {
            password: pw,
            params,
            recipients: to,
        },
        hint: None,
        at_least: 0,
        by: ChangeInfo {
            at_ms: 1,
            by_device_id: "a".into(),
            by_device_name: "a".into(),
        },
    };
    h.change(vk, ak, c).expect("change").0
}

fn bench(c: &mut Criterion) {
    let params = KdfParams {
        m_kib: 64 * 1024,
        t: 2,
        p: 1,
    };
    let (old, new, wrong) = (
        SecretString::from("old password"),
        SecretString::from("new password"),
        SecretString::from("wrong password"),
    );
    let acct = AccountHeader::create("a@b.c", "", &old, params, 0).expect("create");
    let (vk, ak) = (&acct.vault_key, &acct.account_key);
    let own = acct.header.clone();
    let st = stretch_password(&old, &own.salt, &own.kdf).expect("stretch");
    let own_box = DeviceKeyContext {
        account_id: own.account_id,
        epoch: own.epoch,
        device_id: DEVICE,
    }
    .seal(Slot::Password, &st, ak);
    let secret = UnlockSecret::generate();
    let me = [Recipient {
        device_id: DEVICE.into(),
        public: secret.public(),
    }];
    let newer = change(&own, vk, ak, &new, params, &me);
    let two = [own.clone(), newer.clone()];
    let mut many = vec![own.clone()];
    for i in 0..5u64 {
        let mut forged = newer.clone();
        forged.generation = 10 + i;
        forged.salt[0] ^= i as u8 + 1;
        many.push(forged);
    }
    let sixteen: Vec<AccountHeader> = (0..16).map(|_| newer.clone()).collect();

    let mut g = c.benchmark_group("header_choice");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let one = [own.clone()];
    g.bench_function("baseline_one_header", |b| {
        b.iter(|| {
            open_newest(black_box(&one), Some(0), |h| {
                open_as_device(h, &old, &own_box, &secret)
            })
            .is_ok()
        })
    });
    g.bench_function("new_password_via_envelope", |b| {
        b.iter(|| {
            let o = open_newest(black_box(&two), Some(0), |h| {
                open_as_device(h, &new, &own_box, &secret)
            });
            assert!(o.is_ok());
        })
    });
    g.bench_function("old_password_refused", |b| {
        b.iter(|| {
            let o = open_newest(black_box(&two), Some(0), |h| {
                open_as_device(h, &old, &own_box, &secret)
            });
            assert!(o.is_err());
        })
    });
    g.bench_function("wrong_password_5_candidates", |b| {
        b.iter(|| {
            let o = open_newest(black_box(&many), Some(0), |h| {
                open_as_device(h, &wrong, &own_box, &secret)
            });
            assert!(o.is_err());
        })
    });
    g.sampling_mode(SamplingMode::Auto).sample_size(50);
    g.bench_function("adopt_among_16", |b| {
        b.iter(|| adoptable(black_box(&own), black_box(&sixteen), vk).newest)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
