//! The Account Key as a signed-in device keeps it (`device.json`), sealed
//! twice and never in the clear.
//!
//! - under a subkey of the *stretched Account Password* (the Argon2id
//!   output), so that `unlock` needs only the password and one derivation;
//! - under a subkey of the *vault key*, so that `coffer kit` can show it
//!   after the daemon resumed unlocked from the key cache.
//!
//! Both boxes are XChaCha20-Poly1305, bound by their associated data to the
//! account, the epoch, the device and the purpose, so a box cannot be moved
//! to another device, epoch or slot. Someone holding the device's disk can
//! therefore guess the password offline at Argon2id cost (as with
//! 1Password's Secret Key on a device; `docs/SECURITY.md`). The layout is in
//! `docs/FORMAT.md` ("device.json"); `tests/vectors/device-key-*.txt` pin it.

use uuid::Uuid;

use crate::account_key::AccountKey;
use crate::aead;
use crate::secret::SecretKey;

const PW_PURPOSE: &[u8] = b"coffer device account key pw v1";
const VK_PURPOSE: &[u8] = b"coffer device account key vk v1";

/// Whose Account Key a box holds: the account, epoch and device it is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceKeyContext<'a> {
    /// The account.
    pub account_id: Uuid,
    /// The epoch the key belongs to.
    pub epoch: u64,
    /// The device keeping it.
    pub device_id: &'a str,
}

/// Which of the two keys a box is sealed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The stretched Account Password.
    Password,
    /// The vault key.
    VaultKey,
}

impl Slot {
    fn purpose(self) -> &'static [u8] {
        match self {
            Slot::Password => PW_PURPOSE,
            Slot::VaultKey => VK_PURPOSE,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Slot::Password => "pw",
            Slot::VaultKey => "vk",
        }
    }
}

impl DeviceKeyContext<'_> {
    fn ad(&self, slot: Slot) -> Vec<u8> {
        format!(
            "coffer device account key v1|{}|{}|{}|{}",
            slot.label(),
            self.account_id,
            self.epoch,
            self.device_id
        )
        .into_bytes()
    }

    /// `ak` sealed under `key` (the stretched password or the vault key, as `slot` says).
    pub fn seal(&self, slot: Slot, key: &SecretKey, ak: &AccountKey) -> Vec<u8> {
        let text = ak.to_text();
        let k = aead::subkey(key, slot.purpose());
        aead::seal(&k, &self.ad(slot), text.expose().as_bytes())
    }

    /// The Account Key in `sealed`; `None` when it does not open (a wrong
    /// password, another key, a box of another device, epoch or slot).
    pub fn open(&self, slot: Slot, key: &SecretKey, sealed: &[u8]) -> Option<AccountKey> {
        let k = aead::subkey(key, slot.purpose());
        let plain = aead::open(&k, &self.ad(slot), sealed).ok()?;
        AccountKey::parse(std::str::from_utf8(&plain).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_opens_only_where_it_belongs() {
        let ak = AccountKey::generate();
        let key = SecretKey::generate();
        let ctx = DeviceKeyContext {
            account_id: Uuid::new_v4(),
            epoch: 3,
            device_id: "d1",
        };
        let sealed = ctx.seal(Slot::Password, &key, &ak);
        assert!(ctx.open(Slot::Password, &key, &sealed) == Some(ak.clone()));
        assert!(
            ctx.open(Slot::VaultKey, &key, &sealed).is_none(),
            "other slot"
        );
        assert!(ctx
            .open(Slot::Password, &SecretKey::generate(), &sealed)
            .is_none());
        for other in [
            DeviceKeyContext { epoch: 4, ..ctx },
            DeviceKeyContext {
                device_id: "d2",
                ..ctx
            },
            DeviceKeyContext {
                account_id: Uuid::new_v4(),
                ..ctx
            },
        ] {
            assert!(other.open(Slot::Password, &key, &sealed).is_none());
        }
    }
}
