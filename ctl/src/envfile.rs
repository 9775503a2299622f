//! `coffer run --env-file FILE`: `NAME=VALUE` lines, where a value that is
//! a `coffer://ITEM/FIELD` reference is resolved and any other value is
//! passed as it is (so one file can hold an app's whole environment).
//!
//! The syntax is the common subset of `.env` files:
//!
//! - blank lines and lines starting with `#` are skipped;
//! - `export NAME=VALUE` is the same as `NAME=VALUE`;
//! - `NAME` is letters, digits and `_`, not starting with a digit;
//! - an unquoted value runs to the end of the line, without the white
//!   space around it, and a ` #` starts a comment;
//! - `'…'` is taken literally; `"…"` knows the escapes `\"`, `\\`, `\n`,
//!   `\t` and `\$`; after the closing quote only a comment may follow;
//! - a value spans one line; a NUL byte is refused (no environment
//!   variable can hold one).
//!
//! Errors name the line and never quote a value (it may be a secret).

use crate::refs::{is_env_name, parse_reference, RefError, Reference, SCHEME};

/// One variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A reference to resolve.
    Reference(Reference),
    /// A value passed as it is.
    Plain(String),
}

/// A syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct EnvFileError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

/// Parses a whole env file into `(NAME, value)` pairs, in order.
pub fn parse(text: &str) -> Result<Vec<(String, Value)>, EnvFileError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |what: String| EnvFileError { line, what };
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(l, str::trim_start);
        let (name, rest) = l
            .split_once('=')
            .ok_or_else(|| err("expected NAME=VALUE".into()))?;
        let name = name.trim();
        if !is_env_name(name) {
            return Err(err(format!(
                "{name:?} is not a variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        let value = unquote(rest.trim()).map_err(|what| err(format!("{name}: {what}")))?;
        if value.contains('\0') {
            return Err(err(format!(
                "{name}: the value holds a NUL byte, which no environment variable can"
            )));
        }
        let value = if value.starts_with(SCHEME) {
            Value::Reference(
                parse_reference(&value).map_err(|e: RefError| err(format!("{name}: {e}")))?,
            )
        } else {
            Value::Plain(value)
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// The value of `rest` (already trimmed): quoted or not.
fn unquote(rest: &str) -> Result<String, String> {
    let after = |tail: &str| -> Result<(), String> {
        let tail = tail.trim_start();
        if tail.is_empty() || tail.starts_with('#') {
            Ok(())
        } else {
            Err("only a # comment may follow the closing quote".into())
        }
    };
    if let Some(body) = rest.strip_prefix('\'') {
        let end = body
            .find('\'')
            .ok_or("the single quote is not closed on this line")?;
        after(&body[end + 1..])?;
        return Ok(body[..end].to_owned());
    }
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    after(&body[i + 1..])?;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(e @ ('"' | '\\' | '$')) => out.push(e),
                    Some(e) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err("the double quote is not closed on this line".into());
    }
    let value = match rest.find(" #").or_else(|| rest.find("\t#")) {
        Some(at) => &rest[..at],
        None => rest,
    };
    Ok(value.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::Field;

    fn plain(s: &str) -> Value {
        Value::Plain(s.into())
    }

    #[test]
    fn a_typical_file() {
        let text = "# the app\n\nexport DB_HOST=db.internal  # a comment\nDB_PASSWORD=coffer://Postgres/password\n\
                    GREETING=\"hello \\\"world\\\"\\n\"\nLITERAL='$HOME #not a comment'\nEMPTY=\n  SPACED = x y \r\n";
        let got = parse(text).unwrap();
        assert_eq!(
            got,
            vec![
                ("DB_HOST".into(), plain("db.internal")),
                (
                    "DB_PASSWORD".into(),
                    Value::Reference(Reference {
                        item: "Postgres".into(),
                        field: Field::Password
                    })
                ),
                ("GREETING".into(), plain("hello \"world\"\n")),
                ("LITERAL".into(), plain("$HOME #not a comment")),
                ("EMPTY".into(), plain("")),
                ("SPACED".into(), plain("x y")),
            ]
        );
        // Quoted references work too; `exported=` is a name, not the keyword.
        assert!(matches!(
            &parse("A=\"coffer://Work%20VPN/totp\"").unwrap()[0].1,
            Value::Reference(r) if r.item == "Work VPN" && r.field == Field::Totp
        ));
        assert_eq!(parse("exported=1").unwrap()[0].0, "exported");
    }

    #[test]
    fn errors_name_the_line_and_hide_the_value() {
        let cases = [
            ("A=1\nnot a pair\n", 2, "NAME=VALUE"),
            ("1A=x", 1, "not a variable name"),
            ("A='open", 1, "not closed"),
            ("A=\"open", 1, "not closed"),
            ("A='x' y", 1, "only a # comment"),
            ("A=coffer://x", 1, "names no field"),
            ("A=a\0b", 1, "NUL"),
        ];
        for (text, line, what) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(what), "{text:?}: {e}");
        }
        let e = parse("TOKEN='s3cret").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
