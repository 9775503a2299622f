//! Bitwarden's unencrypted JSON export: [`read`] parses it, [`write`]
//! produces it. The tables here say how card, identity and SSH-key data map
//! to custom fields, in both directions.

pub(crate) mod read;
pub(crate) mod write;

/// One Bitwarden sub-object key and the custom field it becomes.
pub(crate) struct Slot {
    /// Key in the Bitwarden object (`cardholderName`).
    pub key: &'static str,
    /// Custom field name (`Cardholder name`).
    pub label: &'static str,
    /// Whether the custom field is hidden.
    pub hidden: bool,
}

const fn slot(key: &'static str, label: &'static str, hidden: bool) -> Slot {
    Slot { key, label, hidden }
}

/// `card` (type 3).
pub(crate) const CARD: &[Slot] = &[
    slot("cardholderName", "Cardholder name", false),
    slot("brand", "Brand", false),
    slot("number", "Card number", true),
    slot("expMonth", "Expiration month", false),
    slot("expYear", "Expiration year", false),
    slot("code", "Security code", true),
];

/// `identity` (type 4).
pub(crate) const IDENTITY: &[Slot] = &[
    slot("title", "Title", false),
    slot("firstName", "First name", false),
    slot("middleName", "Middle name", false),
    slot("lastName", "Last name", false),
    slot("address1", "Address 1", false),
    slot("address2", "Address 2", false),
    slot("address3", "Address 3", false),
    slot("city", "City", false),
    slot("state", "State", false),
    slot("postalCode", "Postal code", false),
    slot("country", "Country", false),
    slot("company", "Company", false),
    slot("email", "Email", false),
    slot("phone", "Phone", false),
    slot("ssn", "SSN", true),
    slot("username", "Username", false),
    slot("passportNumber", "Passport number", true),
    slot("licenseNumber", "License number", true),
];

/// `sshKey` (type 5, newer Bitwarden); read only, items of kind Other.
pub(crate) const SSH_KEY: &[Slot] = &[
    slot("privateKey", "Private key", true),
    slot("publicKey", "Public key", false),
    slot("keyFingerprint", "Fingerprint", false),
];

/// Custom field holding the tags beyond the first (which is the folder),
/// one per line, so that a Bitwarden round trip keeps them all.
pub(crate) const EXTRA_TAGS_FIELD: &str = "coffer-tags";

/// The name of the custom field a TOTP secret or `otpauth://` URI becomes.
pub(crate) const OTP_FIELD: &str = "otp";
