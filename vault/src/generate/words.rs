//! The EFF large word list, embedded in the binary.
//!
//! 7,776 words (6^5, one per roll of five dice), chosen by the EFF to be
//! memorable, distinct in their first three letters' spelling and free of
//! offensive entries. The file `vault/data/eff_large_wordlist.txt` holds one
//! word per line; where it came from, its SHA-256 and its licence
//! (CC BY 3.0 US) are in `vault/data/EFF-WORDLIST-LICENSE.md`.

use std::sync::OnceLock;

/// The raw list, one word per line.
const RAW: &str = include_str!("../../data/eff_large_wordlist.txt");

/// How many words the list has.
pub const EFF_LARGE_LEN: usize = 7776;

/// The EFF large word list, in the file's order.
///
/// Split once on first use; the slices borrow the embedded text.
pub fn eff_large() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        RAW.lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn has_7776_unique_words() {
        let words = eff_large();
        assert_eq!(words.len(), EFF_LARGE_LEN);
        let unique: HashSet<&str> = words.iter().copied().collect();
        assert_eq!(unique.len(), EFF_LARGE_LEN);
    }

    #[test]
    fn words_are_lowercase_ascii() {
        for w in eff_large() {
            assert!(
                w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "unexpected character in {w:?}"
            );
            assert!((3..=9).contains(&w.len()), "{w:?}");
        }
    }

    #[test]
    fn first_and_last_words_are_the_eff_ones() {
        let words = eff_large();
        assert_eq!(words[0], "abacus");
        assert_eq!(words[EFF_LARGE_LEN - 1], "zoom");
    }
}
