//! Base32 (RFC 4648 §6) for OTP secrets, as authenticator apps write them:
//! case-insensitive, padding optional, spaces allowed between groups.
//!
//! The decoder reports *where* the input is wrong, never *what* it holds,
//! because the input is a secret; the output is zeroized on drop.

use zeroize::{Zeroize, Zeroizing};

/// Why a base32 secret could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base32Error {
    /// Nothing but spaces and padding.
    Empty,
    /// The character at this 1-based position is not base32.
    BadChar(usize),
    /// The number of base32 characters cannot encode whole bytes
    /// (a count of 1, 3 or 6 modulo 8).
    BadLength,
}

impl Base32Error {
    /// Text for an error message (positions only, no content).
    pub(crate) fn describe(self) -> String {
        match self {
            Base32Error::Empty => "it is empty".to_owned(),
            Base32Error::BadChar(pos) => {
                format!("character {pos} is not base32 (A–Z, 2–7, spaces and `=` padding)")
            }
            Base32Error::BadLength => {
                "its length is not a whole number of bytes (a character is missing or extra)"
                    .to_owned()
            }
        }
    }
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn value(c: char) -> Option<u32> {
    match c {
        'A'..='Z' => Some(c as u32 - 'A' as u32),
        'a'..='z' => Some(c as u32 - 'a' as u32),
        '2'..='7' => Some(c as u32 - '2' as u32 + 26),
        _ => None,
    }
}

/// Decodes `input`. Spaces are skipped anywhere; `=` may only end the
/// input (spaces may follow it). Unused trailing bits are ignored, as most
/// authenticators do.
pub(crate) fn decode(input: &str) -> Result<Zeroizing<Vec<u8>>, Base32Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(input.len() * 5 / 8 + 1));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut count = 0usize;
    let mut padding = false;
    for (i, c) in input.chars().enumerate() {
        if c == ' ' {
            continue;
        }
        if c == '=' {
            padding = true;
            continue;
        }
        let v = match value(c) {
            Some(v) if !padding => v,
            _ => {
                acc.zeroize();
                return Err(Base32Error::BadChar(i + 1));
            }
        };
        acc = (acc << 5) | v;
        bits += 5;
        count += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    acc.zeroize();
    if count == 0 {
        return Err(Base32Error::Empty);
    }
    if matches!(count % 8, 1 | 3 | 6) {
        return Err(Base32Error::BadLength);
    }
    Ok(out)
}

/// Encodes `bytes` in upper case without padding (the form authenticator
/// apps and `otpauth://` URIs use).
pub(crate) fn encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(5) * 8));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    acc.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 §10.
        for (plain, coded) in [
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(decode(coded).unwrap().as_slice(), plain.as_bytes());
            assert_eq!(
                encode(plain.as_bytes()).as_str(),
                coded.trim_end_matches('=')
            );
        }
    }

    #[test]
    fn lenient_forms() {
        let want = b"12345678901234567890";
        for s in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            " gezd gnbv gy3t qojq gezd gnbv gy3t qojq ",
        ] {
            assert_eq!(decode(s).unwrap().as_slice(), want, "{s}");
        }
        assert_eq!(decode("MZXW6 === ").unwrap().as_slice(), b"foo");
    }

    #[test]
    fn errors_give_positions() {
        assert_eq!(decode(""), Err(Base32Error::Empty));
        assert_eq!(decode(" == "), Err(Base32Error::Empty));
        assert_eq!(decode("MZX1"), Err(Base32Error::BadChar(4)));
        assert_eq!(decode("MZ=XW"), Err(Base32Error::BadChar(4)));
        assert_eq!(decode("MZXW6YTB8"), Err(Base32Error::BadChar(9)));
        assert_eq!(decode("MZXÉ"), Err(Base32Error::BadChar(4)));
        assert_eq!(decode("M"), Err(Base32Error::BadLength));
        assert_eq!(decode("MZX"), Err(Base32Error::BadLength));
        assert_eq!(decode("MZXW6Y"), Err(Base32Error::BadLength));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..80)) {
            let s = encode(&bytes);
            let upper = decode(&s).unwrap();
            let lower = decode(&s.to_lowercase()).unwrap();
            prop_assert_eq!(upper.as_slice(), bytes.as_slice());
            prop_assert_eq!(lower.as_slice(), bytes.as_slice());
        }
    }
}
