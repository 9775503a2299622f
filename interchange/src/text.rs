//! Turning the bytes of an export into text: byte-order marks and encodings.

use std::borrow::Cow;

use zeroize::Zeroize;

use crate::error::ImportError;

/// Decoded export text. Text decoded into a new buffer (UTF-16 input) is
/// wiped when this drops.
pub(crate) struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    /// The text, without any byte-order mark.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Text<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(s) = &mut self.0 {
            s.zeroize();
        }
    }
}

/// Decodes UTF-8 (with or without a BOM) or BOM-marked UTF-16. Invalid
/// UTF-8 is an error naming the line it is on.
pub(crate) fn decode(bytes: &[u8]) -> Result<Text<'_>, ImportError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest).map(|s| Text(Cow::Borrowed(s)));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes).map(|s| Text(Cow::Owned(s)));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes).map(|s| Text(Cow::Owned(s)));
    }
    utf8(bytes).map(|s| Text(Cow::Borrowed(s)))
}

fn utf8(bytes: &[u8]) -> Result<&str, ImportError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError::malformed(
            format!("line {line}"),
            format!(
                "not valid UTF-8 (byte {} of the file); save the export as UTF-8",
                e.valid_up_to() + 1
            ),
        )
    })
}

fn utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> Result<String, ImportError> {
    if bytes.len() % 2 != 0 {
        return Err(ImportError::malformed(
            "end of file",
            "UTF-16 text with an odd number of bytes (truncated file?)",
        ));
    }
    let units = bytes.chunks_exact(2).map(|c| word([c[0], c[1]]));
    let mut out = String::with_capacity(bytes.len());
    let mut line = 1;
    for ch in char::decode_utf16(units) {
        match ch {
            Ok(c) => {
                if c == '\n' {
                    line += 1;
                }
                out.push(c);
            }
            Err(_) => {
                out.zeroize();
                return Err(ImportError::malformed(
                    format!("line {line}"),
                    "invalid UTF-16 (unpaired surrogate)",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bom_and_decodes_utf16() {
        assert_eq!(decode(b"\xEF\xBB\xBFab").unwrap().as_str(), "ab");
        assert_eq!(decode(b"\xFF\xFEa\0\xe9\0").unwrap().as_str(), "a\u{e9}");
        assert_eq!(decode(b"\xFE\xFF\0a").unwrap().as_str(), "a");
    }

    #[test]
    fn invalid_utf8_names_line() {
        let err = decode(b"a\nb\n\xff").err().unwrap();
        assert_eq!(err.location(), "line 3");
    }
}
