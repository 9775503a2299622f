//! Case and accent folding for search: both the index and the query go
//! through [`fold`], so comparisons are plain byte comparisons afterwards.
//!
//! Folding is: compatibility decomposition (NFKD: `ﬁ` → `fi`, `①` → `1`),
//! combining marks dropped (`é` → `e`, `İ` → `i`), Unicode lowercase
//! (`Σ` → `σ`, and final `ς` → `σ` so that Greek words match wherever the
//! sigma falls), whitespace runs collapsed to one space and trimmed, and
//! control characters dropped (so the index's field separator never occurs
//! in a folded query).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The folded form of `s` (see the module docs).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    if s.is_ascii() {
        // The common case, without the normalisation machinery: ASCII has
        // no marks or compatibility forms, so folding is lowercasing.
        for b in s.bytes() {
            if b.is_ascii_whitespace() || b == 0x0b {
                pending_space = !out.is_empty();
            } else if !b.is_ascii_control() {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        return out;
    }
    fold_general(s)
}

/// [`fold`] for any text.
fn fold_general(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        for l in c.to_lowercase() {
            if is_combining_mark(l) {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(if l == 'ς' { 'σ' } else { l });
        }
    }
    out
}

/// A 128-bit summary of which bytes occur in `s`: a string can only
/// contain `t` (as a substring or a subsequence) when its mask covers
/// `t`'s. Printable ASCII gets a bit each; other bytes share 32 bits.
pub(crate) fn byte_mask(s: &str) -> u128 {
    s.bytes().fold(0u128, |m, b| m | 1u128 << bucket(b))
}

fn bucket(b: u8) -> u32 {
    match b {
        0x20..=0x7e => u32::from(b - 0x20),
        _ => 95 + u32::from(b % 32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_compatibility_forms() {
        assert_eq!(fold("GitHub"), "github");
        assert_eq!(fold("Café Crème"), "cafe creme");
        assert_eq!(fold("CAFE\u{0301}"), "cafe"); // decomposed input
        assert_eq!(fold("ＷＩＤＥ"), "wide");
        assert_eq!(fold("ﬁle"), "file");
        assert_eq!(fold("İstanbul"), "istanbul");
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("οδος"), "οδοσ");
        assert_eq!(fold("Straße"), "straße");
        assert_eq!(fold("ПРИВЕТ"), "привет");
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_general_one() {
        for b in 0u8..128 {
            let c = b as char;
            for s in [format!("{c}"), format!("A{c}B"), format!("  {c}{c} x{c}")] {
                assert_eq!(fold(&s), fold_general(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn collapses_whitespace_and_drops_controls() {
        assert_eq!(fold("  my \t bank\n account  "), "my bank account");
        assert_eq!(fold("a\u{0}b\u{7}c"), "abc");
        assert_eq!(fold(""), "");
        assert_eq!(fold("   "), "");
    }

    #[test]
    fn masks_cover_substrings() {
        let text = fold("Big Bank — online");
        for t in ["big", "bank", "—", "line", "g b"] {
            let m = byte_mask(t);
            assert_eq!(byte_mask(&text) & m, m, "{t}");
        }
        let m = byte_mask("xyz");
        assert_ne!(byte_mask(&text) & m, m);
    }
}
