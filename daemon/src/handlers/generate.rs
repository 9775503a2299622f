//! `add --generate` and `edit --generate`: the daemon makes the password
//! (it never crosses the socket from the client, and goes back only when
//! the client asks to show it) and remembers the policy in the item's
//! `password-policy` field, so that the next `--generate` on that item
//! without a policy reuses it.

use coffer_proto::generate::{GenerateParams, Generated};
use coffer_proto::Secret;
use coffer_vault::generate::{entropy_bits, generate, GenerateFlags, Policy};
use coffer_vault::item::fields::{custom_field, reserved, PASSWORD};
use coffer_vault::item::Item;
use coffer_vault::secret::SecretString;

use crate::error::{Error, Result};

/// The stored name of the field that remembers an item's policy.
pub(crate) fn policy_field() -> String {
    custom_field(reserved::PASSWORD_POLICY)
}

/// A fresh password and what to tell the client about it.
pub(crate) struct Fresh {
    /// The password and the policy's text form, as field changes.
    pub changes: Vec<(String, SecretString)>,
    /// The reply's part.
    pub generated: Generated,
}

/// Makes a password as `p` asks, starting from `p.policy`, else the
/// policy `item` remembers, else the default.
pub(crate) fn fresh(p: &GenerateParams, item: Option<&Item>) -> Result<Fresh> {
    let base = match (&p.policy, item.and_then(|i| i.get(&policy_field()))) {
        (Some(text), _) => Some(
            text.parse::<Policy>()
                .map_err(|e| Error::Invalid(format!("--generate: {e}")))?,
        ),
        (None, Some(stored)) => Some(stored.expose().parse::<Policy>().map_err(|e| {
            Error::Invalid(format!(
                "the item's {} field is not a policy ({e}); give one with --generate POLICY",
                reserved::PASSWORD_POLICY
            ))
        })?),
        (None, None) => None,
    };
    let flags = GenerateFlags {
        length: p.length,
        no_symbols: p.no_symbols,
        symbols: p.symbols.clone(),
        no_similar: p.no_similar,
        words: p.words,
        separator: p.separator.clone(),
    };
    let policy = flags
        .resolve(base.as_ref())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let password = generate(&policy);
    let text = policy.to_string();
    let generated = Generated {
        policy: text.clone(),
        entropy_bits: (entropy_bits(&policy) * 10.0).floor() / 10.0,
        password: p.reveal.then(|| Secret::new(password.expose())),
    };
    Ok(Fresh {
        changes: vec![
            (PASSWORD.to_owned(), password),
            (policy_field(), SecretString::new(text)),
        ],
        generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::hlc::Clock;
    use coffer_vault::ids::{DeviceId, ItemId};

    #[test]
    fn a_remembered_policy_is_reused_and_flags_adjust_it() {
        let mut item = Item::new(ItemId::new_random(), 1);
        item.apply(
            vec![(policy_field(), Some(SecretString::from("words:n=4;sep=.")))],
            &mut Clock::new(),
            1,
            DeviceId::new_random(),
        );
        let f = fresh(&GenerateParams::default(), Some(&item)).unwrap();
        assert_eq!(f.generated.policy, "words:n=4;sep=.");
        assert!(f.generated.password.is_none(), "not revealed unless asked");
        assert_eq!(f.changes[0].1.expose().split('.').count(), 4);
        let f = fresh(
            &GenerateParams {
                words: Some(5),
                reveal: true,
                ..GenerateParams::default()
            },
            Some(&item),
        )
        .unwrap();
        assert_eq!(f.generated.policy, "words:n=5;sep=.");
        assert_eq!(
            f.generated.password.as_ref().map(|p| p.expose()),
            Some(f.changes[0].1.expose())
        );
        // No item, no policy: the default, 20 characters.
        let f = fresh(&GenerateParams::default(), None).unwrap();
        assert_eq!(f.changes[0].1.expose().chars().count(), 20);
        assert!(f.generated.entropy_bits > 129.0);
    }

    #[test]
    fn bad_policies_are_usage_errors() {
        let e = fresh(
            &GenerateParams {
                policy: Some("chars:len=2;classes=l".into()),
                ..GenerateParams::default()
            },
            None,
        )
        .err()
        .unwrap();
        assert_eq!(e.code(), coffer_proto::ErrorCode::InvalidParams);
        assert!(e.to_string().contains("length of 2"), "{e}");
    }
}
