//! The KeePassXC and 1Password CSV exports: which header means what.
//! The rows themselves are read by [`crate::columns`].

use crate::columns::{parse_table, Role};
use crate::error::ImportError;
use crate::{Format, Parsed};

/// KeePassXC CSV export (2.6: Group .. Notes; 2.7 adds TOTP, Icon, Last
/// Modified, Created). Unknown columns become custom fields.
pub(crate) fn parse_keepass_csv(text: &str) -> Result<Parsed, ImportError> {
    parse_table(Format::KeepassCsv, text, keepass_role, &[Role::Title])
}

fn keepass_role(name: &str) -> Option<Role> {
    Some(match name {
        "group" => Role::KeepassGroup,
        "title" => Role::Title,
        "username" | "user name" => Role::Username,
        "password" => Role::Password,
        "url" => Role::Url,
        "notes" => Role::Notes,
        "totp" => Role::Otp,
        "tags" => Role::Tags(&[',', ';']),
        "icon" | "last modified" | "created" => Role::Ignore,
        _ => return None,
    })
}

/// 1Password 8 CSV export: `Title,Url,Username,Password,OTPAuth,Favorite,
/// Archived,Tags,Notes`. Tags are split on `;`; `Favorite` is dropped;
/// `Archived` = `true` adds the tag `archived`.
pub(crate) fn parse_onepassword_csv(text: &str) -> Result<Parsed, ImportError> {
    parse_table(
        Format::OnePasswordCsv,
        text,
        onepassword_role,
        &[Role::Title],
    )
}

fn onepassword_role(name: &str) -> Option<Role> {
    Some(match name {
        "title" => Role::Title,
        "url" | "website" => Role::Url,
        "username" => Role::Username,
        "password" => Role::Password,
        "otpauth" | "one-time password" => Role::Otp,
        "favorite" => Role::Ignore,
        "archived" => Role::Archived,
        "tags" => Role::Tags(&[';']),
        "notes" | "notesplain" => Role::Notes,
        _ => return None,
    })
}
