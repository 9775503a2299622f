//! The policy's one-line text form (see the parent module): writing it
//! canonically (`Display`) and reading it back strictly (`FromStr`).

use std::fmt;
use std::str::FromStr;

use super::*;

/// Escapes `;`, `\` and space for the text form.
pub(super) fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ';' => out.push_str("\\;"),
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\s"),
            c => out.push(c),
        }
    }
}

/// Splits the body on unescaped `;` and unescapes each part.
fn split_parts(body: &str) -> Result<Vec<String>, PolicyError> {
    let mut parts = vec![String::new()];
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let unescaped = match chars.next() {
                    Some(';') => ';',
                    Some('\\') => '\\',
                    Some('s') => ' ',
                    Some(other) => {
                        return Err(PolicyError::Syntax(format!(
                            "unknown escape `\\{other}` (use `\\;`, `\\\\` or `\\s`)"
                        )))
                    }
                    None => return Err(PolicyError::Syntax("a lone `\\` at the end".to_owned())),
                };
                // The vector starts non-empty and only grows.
                if let Some(last) = parts.last_mut() {
                    last.push(unescaped);
                }
            }
            ';' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    Ok(parts)
}

fn parse_number(key: &str, value: &str) -> Result<usize, PolicyError> {
    value
        .parse()
        .map_err(|_| PolicyError::Syntax(format!("`{key}={value}` is not a whole number")))
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self {
            Policy::Chars(p) => {
                let o = &p.opts;
                out.push_str(&format!("chars:len={};classes=", o.length));
                out.extend(o.classes.iter().map(Class::letter));
                if let Some(set) = &o.symbols {
                    out.push_str(";symbols=");
                    escape(set, &mut out);
                }
                if o.no_similar {
                    out.push_str(";no-similar");
                }
                if !o.require_each {
                    out.push_str(";optional-classes");
                }
            }
            Policy::Words(p) => {
                let o = &p.opts;
                out.push_str(&format!("words:n={};sep=", o.words));
                escape(&o.separator, &mut out);
                if o.capitalize {
                    out.push_str(";cap");
                }
            }
        }
        f.write_str(&out)
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Policy, PolicyError> {
        let (kind, body) = s
            .split_once(':')
            .ok_or_else(|| PolicyError::Syntax("no `chars:` or `words:` prefix".to_owned()))?;
        let parts = split_parts(body)?;
        match kind {
            "chars" => {
                let mut o = CharOptions::default();
                let mut has_len = false;
                let mut has_classes = false;
                for kv in keyed(&parts) {
                    let (key, value, part) = kv?;
                    match (key, value) {
                        ("len", Some(v)) => {
                            o.length = parse_number(key, v)?;
                            has_len = true;
                        }
                        ("classes", Some(v)) => {
                            let mut classes = Classes {
                                lower: false,
                                upper: false,
                                digits: false,
                                symbols: false,
                            };
                            for c in v.chars() {
                                let class = Class::from_letter(c).ok_or_else(|| {
                                    PolicyError::Syntax(format!(
                                        "unknown class `{c}` in `classes=` (use l, u, d, s)"
                                    ))
                                })?;
                                classes.set(class, true);
                            }
                            o.classes = classes;
                            has_classes = true;
                        }
                        ("symbols", Some(v)) => o.symbols = Some(v.to_owned()),
                        ("no-similar", None) => o.no_similar = true,
                        ("optional-classes", None) => o.require_each = false,
                        _ => return Err(unknown_part(part)),
                    }
                }
                if !has_len || !has_classes {
                    return Err(PolicyError::Syntax(
                        "a `chars:` policy needs `len=` and `classes=`".to_owned(),
                    ));
                }
                Ok(Policy::Chars(CharPolicy::new(o)?))
            }
            "words" => {
                let mut o = WordOptions::default();
                let mut has_n = false;
                for kv in keyed(&parts) {
                    let (key, value, part) = kv?;
                    match (key, value) {
                        ("n", Some(v)) => {
                            o.words = parse_number(key, v)?;
                            has_n = true;
                        }
                        ("sep", Some(v)) => o.separator = v.to_owned(),
                        ("cap", None) => o.capitalize = true,
                        _ => return Err(unknown_part(part)),
                    }
                }
                if !has_n {
                    return Err(PolicyError::Syntax(
                        "a `words:` policy needs `n=`".to_owned(),
                    ));
                }
                Ok(Policy::Words(WordPolicy::new(o)?))
            }
            other => Err(PolicyError::Syntax(format!(
                "unknown kind `{other}` (use `chars` or `words`)"
            ))),
        }
    }
}

/// The parts of a policy in order as `(key, value, part)` (`key=value`,
/// or a bare `key`); a key given twice is an error where it comes again.
fn keyed(
    parts: &[String],
) -> impl Iterator<Item = Result<(&str, Option<&str>, &str), PolicyError>> {
    let mut seen: Vec<&str> = Vec::new();
    parts.iter().map(move |part| {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (part.as_str(), None),
        };
        if seen.contains(&key) {
            return Err(PolicyError::Syntax(format!("`{key}` is given twice")));
        }
        seen.push(key);
        Ok((key, value, part.as_str()))
    })
}

fn unknown_part(part: &str) -> PolicyError {
    PolicyError::Syntax(format!("unknown or malformed part `{part}`"))
}
