//! The field vocabulary, the one place every crate takes field names from.
//!
//! An item's fields are [`TITLE`], [`USERNAME`], [`PASSWORD`], [`URL`],
//! [`NOTES`] and custom fields stored as `field:NAME` ([`custom_field`]).
//! Users name a custom field by `NAME` alone ([`from_user`], [`to_user`]).

/// The item's name, shown in lists.
pub const TITLE: &str = "title";
/// The login name.
pub const USERNAME: &str = "username";
/// The password.
pub const PASSWORD: &str = "password";
/// The site's address.
pub const URL: &str = "url";
/// Free text.
pub const NOTES: &str = "notes";
/// The standard field names, in display order.
pub const STANDARD_FIELDS: [&str; 5] = [TITLE, USERNAME, PASSWORD, URL, NOTES];
/// Prefix of a custom field's name: `field:NAME`.
pub const CUSTOM_PREFIX: &str = "field:";
/// How many earlier values each field keeps (the newest ones).
pub const HISTORY_CAP: usize = 32;

/// The stored name of the custom field `name` (`field:NAME`).
pub fn custom_field(name: &str) -> String {
    format!("{CUSTOM_PREFIX}{name}")
}

/// True for a standard name or `field:NAME` with a non-empty `NAME`.
pub fn is_valid_field_name(name: &str) -> bool {
    STANDARD_FIELDS.contains(&name)
        || name
            .strip_prefix(CUSTOM_PREFIX)
            .is_some_and(|n| !n.is_empty())
}

/// Custom fields that coffer itself reads (named as users name them; the
/// stored name is [`custom_field`] of it). They are ordinary custom fields:
/// synced, merged field by field and kept in history like any other.
pub mod reserved {
    /// Tags, one per line (imports put groups and folders here).
    pub const TAGS: &str = "tags";
    /// Where an imported item came from (`FORMAT:ID`).
    pub const IMPORTED_FROM: &str = "imported-from";
    /// A one-time-code secret as an `otpauth://` URI (HOTP: with its counter).
    pub const OTP: &str = "otp";
    /// The generator policy the item's password was made with.
    pub const PASSWORD_POLICY: &str = "password-policy";
    /// What the item is when not a login: `ssh-key`, `secret` (a Secret
    /// Service item) …; absent for logins.
    pub const KIND: &str = "kind";
    /// The collection (folder) the item lives in; absent for the default one.
    pub const COLLECTION: &str = "collection";
    /// An SSH key item: the private key as OpenSSH text (secret).
    pub const SSH_PRIVATE_KEY: &str = "ssh-private-key";
    /// An SSH key item: the public key line (not secret).
    pub const SSH_PUBLIC_KEY: &str = "ssh-public-key";
    /// An SSH key item: the SHA256 fingerprint (not secret).
    pub const SSH_FINGERPRINT: &str = "ssh-fingerprint";
    /// Prefix of a Secret Service item's attribute fields (`attribute:NAME`).
    pub const ATTRIBUTE_PREFIX: &str = "attribute:";
    // The trash is no field: a trashed item is a deletion whose tombstone
    // keeps its content (see `crate::record::Tombstone`).
    /// A Secret Service item's content type, when not `text/plain`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// How a Secret Service item's secret is kept in `password` when it is
    /// not UTF-8 text: `base64`; absent for text.
    pub const SECRET_ENCODING: &str = "secret-encoding";
}

/// Why a field name a user gave cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldNameError {
    /// The name is empty (or only white space).
    #[error("a field name must not be empty")]
    Empty,
    /// The name cannot be stored (see [`is_valid_field_name`]).
    #[error("{0:?} is not a valid field name")]
    Invalid(String),
}

/// The stored name of the field a user names `name`: a standard name in
/// any case (`Password` is [`PASSWORD`]), anything else a custom field.
pub fn from_user(name: &str) -> Result<String, FieldNameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldNameError::Empty);
    }
    let lower = name.to_ascii_lowercase();
    if let Some(standard) = STANDARD_FIELDS.iter().find(|s| **s == lower) {
        return Ok((*standard).to_owned());
    }
    let stored = custom_field(name);
    if !is_valid_field_name(&stored) {
        return Err(FieldNameError::Invalid(name.to_owned()));
    }
    Ok(stored)
}

/// The name a user sees for the stored field `name` (`field:NAME` is `NAME`).
pub fn to_user(name: &str) -> &str {
    name.strip_prefix(CUSTOM_PREFIX).unwrap_or(name)
}

/// Whether the stored field `name` is a custom one.
pub fn is_custom(name: &str) -> bool {
    name.starts_with(CUSTOM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_map_both_ways() {
        assert_eq!(from_user(" Password ").as_deref(), Ok(PASSWORD));
        assert_eq!(from_user("PIN").as_deref(), Ok("field:PIN"));
        assert_eq!(to_user("field:PIN"), "PIN");
        assert_eq!(to_user(URL), URL);
        assert_eq!(from_user("  "), Err(FieldNameError::Empty));
        assert!(is_custom("field:x") && !is_custom(NOTES));
    }
}
