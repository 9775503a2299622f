//! Identifiers: the device that wrote something and the item it belongs to.
//!
//! Both are random UUIDs, shown and serialized as the hyphenated lowercase
//! text form (`6f1c…-…`). Their order is the order of their 16 bytes, which
//! is also the order of that text, so ties broken "by device id" come out the
//! same whether a reader compares values or strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (version 4) identifier.
            pub fn new_random() -> Self {
                $name(Uuid::new_v4())
            }

            /// The identifier's 16 bytes, as bound into associated data.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }
    };
}

uuid_id!(
    /// One installation of coffer (one device's daemon and container).
    DeviceId
);

uuid_id!(
    /// One item (a login, a note…) across all its versions and devices.
    ItemId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let d = DeviceId::new_random();
        let text = d.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<DeviceId>().unwrap(), d);
        assert!("not-a-uuid".parse::<ItemId>().is_err());
    }

    #[test]
    fn serde_is_the_hyphenated_string() {
        let i = ItemId::new_random();
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(json, format!("\"{i}\""));
        assert_eq!(serde_json::from_str::<ItemId>(&json).unwrap(), i);
    }

    #[test]
    fn order_matches_text_order() {
        for _ in 0..50 {
            let a = DeviceId::new_random();
            let b = DeviceId::new_random();
            assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }
    }
}
