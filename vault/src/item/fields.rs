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
