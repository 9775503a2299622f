//! The import formats and their command-line names.

use std::fmt;
use std::str::FromStr;

/// An export format of another password manager that [`crate::parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// KeePass 2 / KeePassXC unencrypted XML export.
    KeepassXml,
    /// KeePassXC CSV export.
    KeepassCsv,
    /// Bitwarden unencrypted JSON export.
    Bitwarden,
    /// 1Password 8 CSV export.
    OnePasswordCsv,
    /// mSecure 5/6 CSV export.
    MsecureCsv,
    /// Any CSV with a header row (title, username, password, url, notes, ...).
    GenericCsv,
}

/// Every format with its canonical name and the other names [`Format::from_str`] accepts.
const NAMES: &[(Format, &str, &[&str])] = &[
    (
        Format::KeepassXml,
        "keepass-xml",
        &["keepassxc-xml", "keepass2-xml", "keepass"],
    ),
    (Format::KeepassCsv, "keepassxc-csv", &["keepass-csv"]),
    (Format::Bitwarden, "bitwarden", &["bitwarden-json"]),
    (
        Format::OnePasswordCsv,
        "1password-csv",
        &["1password", "onepassword-csv"],
    ),
    (Format::MsecureCsv, "msecure-csv", &["msecure"]),
    (Format::GenericCsv, "csv", &["generic-csv"]),
];

impl Format {
    /// All formats, in documentation order.
    pub const ALL: [Format; 6] = [
        Format::KeepassXml,
        Format::KeepassCsv,
        Format::Bitwarden,
        Format::OnePasswordCsv,
        Format::MsecureCsv,
        Format::GenericCsv,
    ];

    /// The canonical command-line name (`keepass-xml`, `bitwarden`, `csv`, ...).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _, _)| *f == self)
            .map(|(_, name, _)| *name)
            .expect("every Format variant has an entry in NAMES")
    }

    /// The canonical names of all formats, for help texts and error messages.
    pub fn names() -> Vec<&'static str> {
        NAMES.iter().map(|(_, name, _)| *name).collect()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An import format name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {given:?}; valid formats: {}", Format::names().join(", "))]
pub struct UnknownFormat {
    /// The name that was given.
    pub given: String,
}

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Accepts the canonical names and their aliases, case-insensitively:
    /// `keepass-xml` (`keepassxc-xml`, `keepass2-xml`, `keepass`),
    /// `keepassxc-csv` (`keepass-csv`), `bitwarden` (`bitwarden-json`),
    /// `1password-csv` (`1password`, `onepassword-csv`), `msecure-csv`
    /// (`msecure`), `csv` (`generic-csv`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, name, aliases)| *name == wanted || aliases.contains(&wanted.as_str()))
            .map(|(f, _, _)| *f)
            .ok_or_else(|| UnknownFormat {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!("KeePassXC-CSV".parse::<Format>(), Ok(Format::KeepassCsv));
        assert_eq!("1password".parse::<Format>(), Ok(Format::OnePasswordCsv));
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "lastpass".parse::<Format>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"lastpass\""), "{text}");
        for name in Format::names() {
            assert!(text.contains(name), "{text} lacks {name}");
        }
    }
}
