//! The Account Key: the second secret, generated on the device, typed by the
//! user when signing in a new device.
//!
//! Text form (see `docs/FORMAT.md`, "Account Key"):
//! `C1-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`. `C` names coffer, `1` is
//! the format version; then 7 groups of 4 data symbols and 1 check symbol
//! over the 32-symbol alphabet [`ALPHABET`] (no `0`, `1`, `I`, `O`). The 28
//! data symbols carry 140 random bits. Each check symbol is Luhn mod 32 over
//! the group's 1-based index and its 4 data symbols, so a mistyped
//! character, most adjacent swaps and a group typed in the wrong place are
//! caught, and the error names the group, before any slow key derivation.
//!
//! Parsing is lenient about case, spaces and dashes. Errors never contain
//! the key's text.

use std::fmt;

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::secret::SecretString;

/// The 32 symbols of an Account Key, in value order (`2` is 0, `Z` is 31).
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// The text prefix of the format this coffer writes: `C` + version `1`.
pub const PREFIX: &str = "C1";

/// Number of groups after the prefix.
pub const GROUPS: usize = 7;
/// Characters per group: 4 data symbols and 1 check symbol.
pub const GROUP_LEN: usize = 5;
const DATA_PER_GROUP: usize = GROUP_LEN - 1;
/// Number of data symbols (5 bits each: 140 random bits).
pub const DATA_SYMBOLS: usize = GROUPS * DATA_PER_GROUP;
/// Length of the canonical text, `C1` and 7 dash-led groups.
pub const TEXT_LEN: usize = PREFIX.len() + GROUPS * (1 + GROUP_LEN);

const RADIX: u32 = ALPHABET.len() as u32;

/// Symbol value of each ASCII byte, or `NONE`.
const NONE: u8 = 0xFF;
const VALUES: [u8; 256] = {
    let mut table = [NONE; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The byte a non-ASCII character is replaced with while parsing; never a
/// symbol, so it is reported as an invalid character.
const NOT_ASCII: u8 = 0x80;

/// An Account Key. Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AccountKey {
    /// The 28 data symbols as uppercase ASCII (the HKDF input).
    data: [u8; DATA_SYMBOLS],
}

/// Why a text is not a valid Account Key. No variant carries the key's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountKeyError {
    /// Nothing but spaces and dashes was given.
    #[error("no Account Key was given")]
    Empty,
    /// The text does not start with `C` and a version digit.
    #[error("this is not a coffer Account Key: it should start with {PREFIX}-")]
    NotAnAccountKey,
    /// A `C<digit>` prefix other than `C1`.
    #[error(
        "this Account Key is format version {0}, which this coffer does not know; update coffer"
    )]
    UnknownVersion(u32),
    /// Not 35 characters after the prefix, and the groups do not say which
    /// one is off.
    #[error(
        "the Account Key should have 35 characters after {PREFIX}- (7 groups of 5), not {found}"
    )]
    WrongLength {
        /// Characters found after the prefix (spaces and dashes excluded).
        found: usize,
    },
    /// Groups of 5, but not 7 of them.
    #[error("the Account Key should have 7 groups of 5 characters, not {found} groups")]
    WrongGroupCount {
        /// Number of groups found.
        found: usize,
    },
    /// Seven groups, one of which does not have 5 characters.
    #[error("group {group} of the Account Key has {found} characters; each group has 5")]
    GroupLength {
        /// 1-based group number.
        group: usize,
        /// Characters in that group.
        found: usize,
    },
    /// A character that is not in the alphabet (the character itself is not
    /// named, since it is part of a secret).
    #[error(
        "group {group} of the Account Key has a character that cannot be in an Account Key \
         at position {position} (Account Keys never contain 0, 1, I or O)"
    )]
    InvalidCharacter {
        /// 1-based group number.
        group: usize,
        /// 1-based position in the group.
        position: usize,
    },
    /// The group's check symbol does not match.
    #[error("group {group} of the Account Key is mistyped")]
    Mistyped {
        /// 1-based group number.
        group: usize,
    },
}

/// Luhn mod 32 check symbol value over symbol values `input`.
fn check_symbol(input: &[u8]) -> u8 {
    let mut factor = 2u32;
    let mut sum = 0u32;
    for &value in input.iter().rev() {
        let addend = factor * u32::from(value);
        sum += addend / RADIX + addend % RADIX;
        factor = if factor == 2 { 1 } else { 2 };
    }
    // Always < 32, so it fits in a u8.
    ((RADIX - sum % RADIX) % RADIX) as u8
}

/// The check symbol (as ASCII) of 1-based group `group` with data symbols
/// `data` (as ASCII, all in the alphabet).
fn group_check(group: usize, data: &[u8]) -> u8 {
    let mut input = Zeroizing::new([0u8; 1 + DATA_PER_GROUP]);
    // Group numbers are 1..=7, all valid symbol values.
    input[0] = group as u8;
    for (slot, &c) in input[1..].iter_mut().zip(data) {
        *slot = VALUES[usize::from(c)];
    }
    ALPHABET[usize::from(check_symbol(&input[..]))]
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
        )
}

impl AccountKey {
    /// A fresh Account Key with 140 bits from the operating system's CSPRNG.
    pub fn generate() -> AccountKey {
        let mut random = Zeroizing::new([0u8; DATA_SYMBOLS]);
        rand::rngs::OsRng.fill_bytes(&mut random[..]);
        let mut data = [0u8; DATA_SYMBOLS];
        for (d, r) in data.iter_mut().zip(random.iter()) {
            // 256 is a multiple of 32: the low 5 bits are uniform.
            *d = ALPHABET[usize::from(r & 31)];
        }
        AccountKey { data }
    }

    /// Reads an Account Key typed or pasted by the user.
    ///
    /// Case, spaces and dashes (missing, extra, or typographic ones) do not
    /// matter. Checks the prefix, the length, every character and every
    /// group's check symbol, and says which group is wrong.
    pub fn parse(text: &str) -> Result<AccountKey, AccountKeyError> {
        // The text without separators, uppercased ASCII, in one buffer sized
        // up front (wiped on drop, never reallocated), and the token
        // boundaries within it.
        let mut chars = Zeroizing::new(Vec::with_capacity(text.len()));
        let mut tokens: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        for c in text.chars() {
            if is_separator(c) {
                if chars.len() > start {
                    tokens.push(start..chars.len());
                }
                start = chars.len();
            } else if c.is_ascii() {
                chars.push(c.to_ascii_uppercase() as u8);
            } else {
                chars.push(NOT_ASCII);
            }
        }
        if chars.len() > start {
            tokens.push(start..chars.len());
        }

        let first = tokens.first().ok_or(AccountKeyError::Empty)?;
        let first = &chars[first.clone()];
        if first.first() != Some(&b'C') {
            return Err(AccountKeyError::NotAnAccountKey);
        }
        match first.get(1) {
            Some(b'1') => {}
            Some(&d) if d.is_ascii_digit() => {
                return Err(AccountKeyError::UnknownVersion(u32::from(d - b'0')));
            }
            _ => return Err(AccountKeyError::NotAnAccountKey),
        }

        // The groups: what follows the prefix in the first token, then the
        // other tokens.
        let mut groups: Vec<&[u8]> = Vec::with_capacity(tokens.len());
        if first.len() > PREFIX.len() {
            groups.push(&first[PREFIX.len()..]);
        }
        groups.extend(tokens[1..].iter().map(|t| &chars[t.clone()]));
        let total: usize = groups.iter().map(|g| g.len()).sum();

        if total != GROUPS * GROUP_LEN {
            if groups.len() == GROUPS {
                if let Some((i, g)) = groups
                    .iter()
                    .enumerate()
                    .find(|(_, g)| g.len() != GROUP_LEN)
                {
                    return Err(AccountKeyError::GroupLength {
                        group: i + 1,
                        found: g.len(),
                    });
                }
            }
            if !groups.is_empty() && groups.iter().all(|g| g.len() == GROUP_LEN) {
                return Err(AccountKeyError::WrongGroupCount {
                    found: groups.len(),
                });
            }
            return Err(AccountKeyError::WrongLength { found: total });
        }

        // Exactly 35 characters: regroup by fives, whatever the dashes said.
        // (`chars` is the prefix's two characters, then these 35.)
        let symbols = &chars[PREFIX.len()..];

        for (i, group) in symbols.chunks_exact(GROUP_LEN).enumerate() {
            if let Some(p) = group.iter().position(|&c| VALUES[usize::from(c)] == NONE) {
                return Err(AccountKeyError::InvalidCharacter {
                    group: i + 1,
                    position: p + 1,
                });
            }
        }
        let mut data = [0u8; DATA_SYMBOLS];
        for (i, group) in symbols.chunks_exact(GROUP_LEN).enumerate() {
            let (body, check) = group.split_at(DATA_PER_GROUP);
            if group_check(i + 1, body) != check[0] {
                data.zeroize();
                return Err(AccountKeyError::Mistyped { group: i + 1 });
            }
            data[i * DATA_PER_GROUP..(i + 1) * DATA_PER_GROUP].copy_from_slice(body);
        }
        Ok(AccountKey { data })
    }

    /// The canonical text, `C1-XXXXX-…` (44 characters, uppercase).
    pub fn to_text(&self) -> SecretString {
        // Sized up front so that no reallocation leaves a copy behind.
        let mut s = String::with_capacity(TEXT_LEN);
        s.push_str(PREFIX);
        for (i, body) in self.data.chunks_exact(DATA_PER_GROUP).enumerate() {
            s.push('-');
            for &c in body {
                s.push(char::from(c));
            }
            s.push(char::from(group_check(i + 1, body)));
        }
        SecretString::new(s)
    }

    /// A QR code of [`to_text`](Self::to_text) drawn with Unicode half
    /// blocks, two modules per character cell, with its quiet zone.
    ///
    /// Drawn for a terminal with light text on a dark background (dark
    /// modules are blank cells). The string shows the key: treat it as a
    /// secret and only print it to the user's terminal.
    pub fn qr_unicode(&self) -> String {
        let text = self.to_text();
        let code = QrCode::with_error_correction_level(text.expose().as_bytes(), EcLevel::M)
            // 44 alphanumeric characters fit in a version 3 code; never too long.
            .expect("an Account Key's text always fits in a QR code");
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build()
    }

    /// The bytes fed to HKDF: the 28 data symbols as uppercase ASCII
    /// (without prefix, dashes or check symbols).
    pub(crate) fn material(&self) -> &[u8] {
        &self.data
    }
}

impl PartialEq for AccountKey {
    fn eq(&self, other: &Self) -> bool {
        self.data.ct_eq(&other.data).into()
    }
}

impl Eq for AccountKey {}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_from_seed(seed: [u8; DATA_SYMBOLS]) -> AccountKey {
        let mut data = [0u8; DATA_SYMBOLS];
        for (d, s) in data.iter_mut().zip(seed) {
            *d = ALPHABET[usize::from(s & 31)];
        }
        AccountKey { data }
    }

    /// Byte index of the `pos`th (0-based) group character in canonical text.
    fn text_index(group: usize, pos: usize) -> usize {
        PREFIX.len() + group * (1 + GROUP_LEN) + 1 + pos
    }

    #[test]
    fn alphabet_has_32_distinct_unambiguous_symbols() {
        let mut seen = std::collections::HashSet::new();
        for &c in ALPHABET {
            assert!(seen.insert(c));
            assert!(!b"01IO".contains(&c));
        }
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn canonical_text_shape() {
        let text = AccountKey::generate().to_text();
        let t = text.expose();
        assert_eq!(t.len(), TEXT_LEN);
        assert!(t.starts_with("C1-"));
        let groups: Vec<&str> = t.split('-').collect();
        assert_eq!(groups.len(), 8);
        assert!(groups[1..].iter().all(|g| g.len() == 5));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(AccountKey::generate(), AccountKey::generate());
    }

    #[test]
    fn lenient_about_case_spaces_and_dashes() {
        let key = AccountKey::generate();
        let text = key.to_text();
        let t = text.expose();
        // The 35 group characters regrouped by sevens: dashes in the wrong places.
        let body: Vec<char> = t[2..].chars().filter(|&c| c != '-').collect();
        let by_sevens: Vec<String> = body.chunks(7).map(|c| c.iter().collect()).collect();
        let variants = [
            t.to_lowercase(),
            t.replace('-', ""),
            t.replace('-', " "),
            format!("  {}\n", t.replace('-', " - ")),
            t.replace('-', "\u{2013}"),
            format!("C1-{}", by_sevens.join("-")),
            format!("c1{}--", by_sevens.join("--")),
        ];
        for v in variants {
            assert_eq!(AccountKey::parse(&v).expect("lenient variant"), key);
        }
    }

    #[test]
    fn errors() {
        use AccountKeyError::*;
        let text = AccountKey::generate().to_text();
        let t = text.expose();
        assert_eq!(AccountKey::parse(""), Err(Empty));
        assert_eq!(AccountKey::parse(" - "), Err(Empty));
        assert_eq!(
            AccountKey::parse(&t.replacen("C1", "C2", 1)),
            Err(UnknownVersion(2))
        );
        assert_eq!(
            AccountKey::parse(&t.replacen("C1", "X1", 1)),
            Err(NotAnAccountKey)
        );
        assert_eq!(
            AccountKey::parse(&t.replacen("C1", "C", 1)),
            Err(NotAnAccountKey)
        );
        assert_eq!(
            AccountKey::parse(&t[..t.len() - 6]),
            Err(WrongGroupCount { found: 6 })
        );
        assert_eq!(
            AccountKey::parse(&t[..t.len() - 1]),
            Err(GroupLength { group: 7, found: 4 })
        );
        let mut short = t.to_owned();
        short.remove(text_index(2, 1));
        assert_eq!(
            AccountKey::parse(&short),
            Err(GroupLength { group: 3, found: 4 })
        );
        assert_eq!(
            AccountKey::parse(&short.replacen('-', "", 2)),
            Err(WrongLength { found: 34 })
        );
        for (bad, group, pos) in [
            ('0', 1, 0),
            ('O', 4, 4),
            ('é', 7, 2),
            ('1', 5, 3),
            ('I', 2, 0),
        ] {
            let mut s: Vec<char> = t.chars().collect();
            s[text_index(group - 1, pos)] = bad;
            let s: String = s.into_iter().collect();
            assert_eq!(
                AccountKey::parse(&s),
                Err(InvalidCharacter {
                    group,
                    position: pos + 1
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_messages_name_group_never_the_text() {
        let text = AccountKey::generate().to_text();
        let t = text.expose();
        let mut s = t.as_bytes().to_vec();
        let i = text_index(2, 2);
        s[i] = if s[i] == b'Z' { b'Y' } else { b'Z' };
        let s = String::from_utf8(s).expect("ASCII");
        let err = AccountKey::parse(&s).expect_err("mistyped");
        let msg = err.to_string();
        assert_eq!(msg, "group 3 of the Account Key is mistyped");
        assert!(!msg.contains(&t[3..8]));
        assert_eq!(
            AccountKey::parse(&t.replacen("C1", "C2", 1))
                .expect_err("v2")
                .to_string(),
            "this Account Key is format version 2, which this coffer does not know; update coffer"
        );
    }

    #[test]
    fn long_input_is_refused_cheaply() {
        let many_tokens = "C1-".to_owned() + &"A-".repeat(500_000);
        assert_eq!(
            AccountKey::parse(&many_tokens),
            Err(AccountKeyError::WrongLength { found: 500_000 })
        );
        let one_token = "C1".to_owned() + &"A".repeat(1_000_000);
        assert_eq!(
            AccountKey::parse(&one_token),
            Err(AccountKeyError::WrongLength { found: 1_000_000 })
        );
    }

    #[test]
    fn group_in_wrong_place_is_caught() {
        let key = AccountKey::generate();
        let text = key.to_text();
        let groups: Vec<&str> = text.expose().split('-').collect();
        for a in 1..=GROUPS {
            for b in 1..=GROUPS {
                if a == b || groups[a] == groups[b] {
                    continue;
                }
                let mut g = groups.clone();
                g[b] = groups[a];
                assert_eq!(
                    AccountKey::parse(&g.join("-")),
                    Err(AccountKeyError::Mistyped { group: b }),
                    "group {a} typed in place of {b}"
                );
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = AccountKey::generate();
        let text = key.to_text();
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "AccountKey([redacted])");
        assert!(!dbg.contains(&text.expose()[3..8]));
    }

    #[test]
    fn qr_code_renders() {
        let qr = AccountKey::generate().qr_unicode();
        let lines: Vec<&str> = qr.lines().collect();
        // Version 3 (29 modules) + 2 x 4 quiet zone = 37 columns, 19 rows.
        assert_eq!(lines[0].chars().count(), 37);
        assert_eq!(lines.len(), 19);
        assert!(qr
            .chars()
            .all(|c| " \u{2580}\u{2584}\u{2588}\n".contains(c)));
    }

    #[test]
    fn material_is_the_data_symbols() {
        let key = key_from_seed([0u8; DATA_SYMBOLS]);
        assert_eq!(key.material(), &[b'2'; DATA_SYMBOLS][..]);
        let text = key.to_text();
        assert!(text.expose().starts_with("C1-2222"));
    }

    proptest! {
        #[test]
        fn round_trip(seed in any::<[u8; DATA_SYMBOLS]>()) {
            let key = key_from_seed(seed);
            let text = key.to_text();
            let parsed = AccountKey::parse(text.expose()).expect("canonical text parses");
            prop_assert_eq!(parsed.material(), key.material());
            let again = parsed.to_text();
            prop_assert_eq!(again.expose(), text.expose());
        }

        #[test]
        fn every_substitution_is_caught(seed in any::<[u8; DATA_SYMBOLS]>()) {
            let text = key_from_seed(seed).to_text();
            let t = text.expose().as_bytes();
            for group in 0..GROUPS {
                for pos in 0..GROUP_LEN {
                    let i = text_index(group, pos);
                    for &c in ALPHABET {
                        if c == t[i] {
                            continue;
                        }
                        let mut s = t.to_vec();
                        s[i] = c;
                        let s = String::from_utf8(s).expect("ASCII");
                        prop_assert_eq!(
                            AccountKey::parse(&s),
                            Err(AccountKeyError::Mistyped { group: group + 1 })
                        );
                    }
                }
            }
        }

        #[test]
        fn adjacent_swaps_are_caught(seed in any::<[u8; DATA_SYMBOLS]>()) {
            let text = key_from_seed(seed).to_text();
            let t = text.expose().as_bytes();
            for group in 0..GROUPS {
                for pos in 0..GROUP_LEN - 1 {
                    let (i, j) = (text_index(group, pos), text_index(group, pos + 1));
                    let (a, b) = (VALUES[usize::from(t[i])], VALUES[usize::from(t[j])]);
                    // Luhn mod N misses exactly one swap: the first and last
                    // symbols (`2` and `Z`) next to each other.
                    if a == b || (a.min(b) == 0 && a.max(b) == 31) {
                        continue;
                    }
                    let mut s = t.to_vec();
                    s.swap(i, j);
                    let s = String::from_utf8(s).expect("ASCII");
                    prop_assert_eq!(
                        AccountKey::parse(&s),
                        Err(AccountKeyError::Mistyped { group: group + 1 })
                    );
                }
            }
        }
    }
}
