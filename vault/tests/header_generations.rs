//! Header generations: changes within an epoch, their order, which header a
//! device adopts, which one an unlock opens, and unlock envelopes.

use coffer_vault::account::{
    adoptable, open_newest, AccountError, AccountHeader, Change, ChangeInfo, ChangeKind,
    NewAccount, OpenFailure, Recipient, UnlockSecret,
};
use coffer_vault::account_key::AccountKey;
use coffer_vault::kdf::{stretch_password, KdfParams};
use coffer_vault::secret::{SecretKey, SecretString};
use proptest::prelude::*;

fn fast() -> KdfParams {
    KdfParams::fast_insecure_for_tests()
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s)
}

fn account() -> NewAccount {
    AccountHeader::create("ann@example.com", "h", &pw("one"), fast(), 1_000).expect("create")
}

fn by(device: &str, at_ms: u64) -> ChangeInfo {
    ChangeInfo {
        at_ms,
        by_device_id: device.into(),
        by_device_name: format!("{device}'s laptop"),
    }
}

fn passwd(
    h: &AccountHeader,
    a: &NewAccount,
    new: &str,
    device: &str,
    recipients: &[Recipient],
) -> AccountHeader {
    let password = pw(new);
    let change = Change {
        kind: ChangeKind::Password {
            password: &password,
            params: fast(),
            recipients,
        },
        hint: None,
        at_least: 0,
        by: by(device, 2_000),
    };
    h.change(&a.vault_key, &a.account_key, change)
        .expect("change")
        .0
}

fn unlock(h: &AccountHeader, p: &str, ak: &AccountKey) -> Result<(SecretKey, ()), AccountError> {
    h.unlock(&pw(p), ak).map(|k| (k, ()))
}

#[test]
fn a_password_change_is_the_next_generation_and_signed() {
    let a = account();
    let h0 = &a.header;
    assert_eq!((h0.version, h0.generation, &h0.changed), (2, 0, &None));
    let h1 = passwd(h0, &a, "two", "dev-a", &[]);
    assert_eq!(h1.generation, 1);
    assert_eq!(h1.changed, Some(by("dev-a", 2_000)));
    assert_eq!(
        h1.unlock(&pw("two"), &a.account_key).expect("new"),
        a.vault_key
    );
    assert_eq!(
        h1.unlock(&pw("one"), &a.account_key),
        Err(AccountError::WrongCredentials)
    );
    assert!(h1.precedence() > h0.precedence());
    // Every new member is under the MAC.
    let mut t = h1.clone();
    t.generation = 9;
    assert_eq!(t.verify(&a.vault_key), Err(AccountError::Tampered));
    let mut t = h1.clone();
    t.changed = Some(by("mallory", 2_000));
    assert_eq!(t.verify(&a.vault_key), Err(AccountError::Tampered));
    // A hint change keeps the wrapping.
    let change = Change {
        kind: ChangeKind::HintOnly,
        hint: Some("new hint".into()),
        at_least: 5,
        by: by("dev-b", 3_000),
    };
    let (h5, stretched) = h1
        .change(&a.vault_key, &a.account_key, change)
        .expect("hint");
    assert!(stretched.is_none());
    assert_eq!((h5.generation, h5.hint.as_str()), (5, "new hint"));
    assert_eq!(h5.salt, h1.salt);
    assert_eq!(
        h5.unlock(&pw("two"), &a.account_key).expect("same pw"),
        a.vault_key
    );
}

#[test]
fn a_tampered_header_is_never_changed() {
    let a = account();
    let mut t = a.header.clone();
    t.hint = "forged".into();
    let change = Change {
        kind: ChangeKind::HintOnly,
        hint: None,
        at_least: 0,
        by: by("d", 1),
    };
    assert!(matches!(
        t.change(&a.vault_key, &a.account_key, change),
        Err(AccountError::Tampered)
    ));
}

#[test]
fn envelopes_let_a_device_unlock_with_the_new_password_alone() {
    let a = account();
    let b_secret = UnlockSecret::generate();
    let c_secret = UnlockSecret::generate();
    let recipients = [
        Recipient {
            device_id: "dev-b".into(),
            public: b_secret.public(),
        },
        Recipient {
            device_id: "dev-c".into(),
            public: c_secret.public(),
        },
    ];
    let h1 = passwd(&a.header, &a, "two", "dev-a", &recipients);
    assert_eq!(h1.envelopes.len(), 2);
    let stretched = stretch_password(&pw("two"), &h1.salt, &h1.kdf).expect("stretch");
    let ak = h1
        .open_envelope("dev-b", &b_secret, &stretched)
        .expect("B opens its envelope");
    assert_eq!(ak, a.account_key);
    assert_eq!(
        h1.unlock_stretched(&stretched, &ak).expect("vk"),
        a.vault_key
    );
    // Not with the old password, not with another device's secret.
    let old = stretch_password(&pw("one"), &h1.salt, &h1.kdf).expect("stretch");
    assert!(h1.open_envelope("dev-b", &b_secret, &old).is_none());
    assert!(h1.open_envelope("dev-b", &c_secret, &stretched).is_none());
    assert!(h1.open_envelope("dev-d", &b_secret, &stretched).is_none());
    // An envelope moved into another header (another salt) does not open.
    let h2 = passwd(&h1, &a, "two", "dev-a", &[]);
    let mut moved = h2.clone();
    moved.envelopes = h1.envelopes.clone();
    let s2 = stretch_password(&pw("two"), &h2.salt, &h2.kdf).expect("stretch");
    assert!(moved.open_envelope("dev-b", &b_secret, &s2).is_none());
    // The envelopes survive JSON.
    let back = AccountHeader::from_json(&h1.to_json()).expect("read");
    assert_eq!(back, h1);
    assert_eq!(back.verify(&a.vault_key), Ok(()));
}

#[test]
fn a_device_adopts_only_authentic_newer_headers() {
    let a = account();
    let h0 = a.header.clone();
    let h1 = passwd(&h0, &a, "two", "dev-a", &[]);
    let h2 = passwd(&h1, &a, "three", "dev-a", &[]);
    let mut forged = h2.clone();
    forged.generation = 99;
    forged.hint = "call mallory".into();
    let other = account(); // another account's header: another lineage
    let v = adoptable(
        &h1,
        &[h0.clone(), h2.clone(), forged, other.header],
        &a.vault_key,
    );
    assert_eq!(v.newest, Some(1));
    assert_eq!(v.forged, vec![2]);
    assert_eq!(v.older, vec![0]);
    let v = adoptable(&h2, &[h0, h1], &a.vault_key);
    assert_eq!(v.newest, None, "a replayed older header is refused");
    assert_eq!(v.older, vec![0, 1]);
}

#[test]
fn an_old_password_opens_but_is_refused_when_a_newer_header_exists() {
    let a = account();
    let h0 = a.header.clone();
    let h1 = passwd(&h0, &a, "two", "dev-a", &[]);
    let cands = [h0.clone(), h1.clone()];
    let ok = open_newest(&cands, Some(0), |h| unlock(h, "two", &a.account_key)).expect("new");
    assert_eq!(ok.index, 1);
    match open_newest(&cands, Some(0), |h| unlock(h, "one", &a.account_key)) {
        Err(OpenFailure::Superseded { opened, newest }) => assert_eq!((opened, newest), (0, 1)),
        other => panic!("{other:?}"),
    }
    match open_newest(&cands, Some(0), |h| unlock(h, "zero", &a.account_key)) {
        Err(OpenFailure::Failed(AccountError::WrongCredentials)) => {}
        other => panic!("{other:?}"),
    }
    // A forged higher generation does not block the real one.
    let mut forged = h1.clone();
    forged.generation = 7;
    let cands = [h0, h1, forged];
    let ok = open_newest(&cands, None, |h| unlock(h, "two", &a.account_key)).expect("new");
    assert_eq!(ok.index, 1);
}

#[test]
fn concurrent_changes_have_one_winner() {
    let a = account();
    let x = passwd(&a.header, &a, "x", "dev-x", &[]);
    let y = passwd(&a.header, &a, "y", "dev-y", &[]);
    assert_eq!(x.generation, y.generation);
    let winner = if x.precedence() > y.precedence() {
        &x
    } else {
        &y
    };
    let loser = if winner == &x { &y } else { &x };
    assert_eq!(
        adoptable(loser, std::slice::from_ref(winner), &a.vault_key).newest,
        Some(0)
    );
    assert_eq!(
        adoptable(winner, std::slice::from_ref(loser), &a.vault_key).newest,
        None
    );
}

fn winner(hs: &[AccountHeader]) -> Option<Vec<u8>> {
    hs.iter()
        .max_by_key(|h| h.precedence())
        .map(AccountHeader::to_json)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The choice is commutative: every order of the candidates picks the
    /// same header, and adopting from any starting header converges on it.
    #[test]
    fn every_permutation_picks_the_same_winner(
        gens in proptest::collection::vec(0u64..4, 1..6),
        seed in any::<u64>(),
    ) {
        let a = account();
        // Candidates with the given generations (several per generation:
        // concurrent changes); all authentic.
        let mut hs: Vec<AccountHeader> = Vec::new();
        for (i, g) in gens.iter().enumerate() {
            let change = Change {
                kind: ChangeKind::HintOnly,
                hint: Some(format!("hint {i}")),
                at_least: *g,
                by: by(&format!("dev-{i}"), 10 + i as u64),
            };
            hs.push(a.header.change(&a.vault_key, &a.account_key, change).expect("change").0);
        }
        let expect = winner(&hs);
        let mut shuffled = hs.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(winner(&shuffled), expect.clone());
        for start in &hs {
            let v = adoptable(start, &shuffled, &a.vault_key);
            let chosen = v.newest.map_or_else(|| start.to_json(), |i| shuffled[i].to_json());
            prop_assert_eq!(Some(chosen), expect.clone());
        }
    }
}
