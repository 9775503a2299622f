//! `coffer://ITEM/FIELD` references, for `coffer run --env NAME=…` and
//! `coffer inject`.
//!
//! A reference names an item by id or title and one of its fields:
//!
//! - `ITEM` is the item's id or its title. A `/`, `%`, space or control
//!   character in a title is written percent-encoded (`%2F`, `%25`, `%20`):
//!   `coffer://Work%20VPN/password`. Any other byte may be encoded too.
//! - `FIELD` is a standard field, `password`, `username`, `url`, `notes`,
//!   `title` or `totp` (the current one-time code), matched without regard
//!   to case, or else the name of a custom field (exact, encoded the same
//!   way).
//!
//! A template ([`Template`]) is any text with references in double braces,
//! `{{ coffer://ITEM/FIELD }}` (spaces or tabs inside the braces allowed).
//! Only `{{` followed by `coffer:` starts a reference: other `{{ … }}`
//! (another template language's) is copied as it is. To write such a
//! reference literally, put a backslash before it: `\{{ coffer://a/b }}`
//! renders as `{{ coffer://a/b }}`; a backslash anywhere else is copied.
//! Text outside references is copied byte for byte (it need not be UTF-8).
//!
//! Rendering is two steps so that nothing is written when a reference is
//! unknown: every distinct reference is first resolved through the
//! caller's resolver, then, only if all resolved, the output is built.
//! Errors name the line and column of the reference; resolved values and
//! the output are zeroized buffers.

use std::fmt;

use zeroize::Zeroizing;

/// The scheme every reference starts with.
pub const SCHEME: &str = "coffer://";

/// A field of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The password.
    Password,
    /// The username.
    Username,
    /// The URL.
    Url,
    /// The notes.
    Notes,
    /// The title.
    Title,
    /// The current TOTP code (from the item's OTP seed).
    Totp,
    /// A custom field, by its exact name.
    Custom(String),
}

impl Field {
    /// The standard field called `name` (any case), else a custom field.
    pub fn from_name(name: &str) -> Field {
        match name.to_ascii_lowercase().as_str() {
            "password" => Field::Password,
            "username" => Field::Username,
            "url" => Field::Url,
            "notes" => Field::Notes,
            "title" => Field::Title,
            "totp" => Field::Totp,
            _ => Field::Custom(name.to_string()),
        }
    }

    /// The field's name as a reference writes it (custom names as given).
    pub fn name(&self) -> &str {
        match self {
            Field::Password => "password",
            Field::Username => "username",
            Field::Url => "url",
            Field::Notes => "notes",
            Field::Title => "title",
            Field::Totp => "totp",
            Field::Custom(name) => name,
        }
    }
}

/// A parsed `coffer://ITEM/FIELD`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The item's id or title, decoded.
    pub item: String,
    /// The field.
    pub field: Field,
}

impl fmt::Display for Reference {
    /// The canonical form: `coffer://` + the encoded item + `/` + the
    /// encoded field; it parses back to the same reference.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/{}",
            encode(&self.item),
            encode(self.field.name())
        )
    }
}

/// What is wrong with a reference. The messages quote only the reference
/// (never a value), and say how to write it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// It does not start with `coffer://`.
    #[error("a reference starts with coffer:// (like coffer://ITEM/password)")]
    NoScheme,
    /// No `/FIELD` part.
    #[error("{0:?} names no field: write coffer://ITEM/FIELD (FIELD: password, username, url, notes, title, totp or a custom field)")]
    NoField(String),
    /// An empty item.
    #[error("{0:?} names no item: write coffer://ITEM/FIELD with the item's id or title")]
    EmptyItem(String),
    /// An empty field.
    #[error("{0:?} has an empty field name after the /")]
    EmptyField(String),
    /// More than one `/`.
    #[error("{0:?} has more than one /: write a / inside a title or field name as %2F")]
    ExtraSlash(String),
    /// A space, tab or control character that must be encoded.
    #[error("{0:?} contains a space or control character: write a space as %20")]
    Unencoded(String),
    /// A `%` not followed by two hex digits.
    #[error("{0:?} has a % not followed by two hex digits: write a % itself as %25")]
    BadPercent(String),
    /// Decoded bytes that are not UTF-8, or that decode to a control
    /// character.
    #[error("{0:?} decodes to something that is not text")]
    NotText(String),
}

/// Parses `coffer://ITEM/FIELD`.
pub fn parse_reference(text: &str) -> Result<Reference, RefError> {
    let shown = || text.to_string();
    let rest = text.strip_prefix(SCHEME).ok_or(RefError::NoScheme)?;
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RefError::Unencoded(shown()));
    }
    let (item, field) = rest
        .split_once('/')
        .ok_or_else(|| RefError::NoField(shown()))?;
    if field.contains('/') {
        return Err(RefError::ExtraSlash(shown()));
    }
    if item.is_empty() {
        return Err(RefError::EmptyItem(shown()));
    }
    if field.is_empty() {
        return Err(RefError::EmptyField(shown()));
    }
    let item = decode(item).map_err(|e| e.with(shown()))?;
    let field = decode(field).map_err(|e| e.with(shown()))?;
    if item.trim().is_empty() {
        return Err(RefError::EmptyItem(shown()));
    }
    Ok(Reference {
        item,
        field: Field::from_name(&field),
    })
}

/// Why decoding failed, before the reference's text is attached.
enum DecodeError {
    BadPercent,
    NotText,
}

impl DecodeError {
    fn with(self, shown: String) -> RefError {
        match self {
            DecodeError::BadPercent => RefError::BadPercent(shown),
            DecodeError::NotText => RefError::NotText(shown),
        }
    }
}

fn decode(s: &str) -> Result<String, DecodeError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
            match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => return Err(DecodeError::BadPercent),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).map_err(|_| DecodeError::NotText)?;
    if text.chars().any(char::is_control) {
        return Err(DecodeError::NotText);
    }
    Ok(text)
}

/// Encodes what a reference cannot hold as it is: `%`, `/`, `{`, `}`,
/// whitespace and control characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '%' || c == '/' || c == '{' || c == '}' || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One `--env NAME=coffer://ITEM/FIELD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvAssignment {
    /// The variable's name.
    pub name: String,
    /// What it is set to.
    pub reference: Reference,
}

/// What is wrong with an `--env` argument. The value is never quoted (it
/// might be a secret typed in the wrong place).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// No `=`.
    #[error("--env takes NAME=coffer://ITEM/FIELD")]
    NoEquals,
    /// An invalid variable name.
    #[error("--env {0:?}: a variable name is letters, digits and _, not starting with a digit")]
    BadName(String),
    /// The value is not a reference.
    #[error(
        "--env {name}: the value is not a coffer:// reference (write NAME=coffer://ITEM/FIELD)"
    )]
    NotAReference {
        /// The variable.
        name: String,
    },
    /// The reference is malformed.
    #[error("--env {name}: {source}")]
    BadReference {
        /// The variable.
        name: String,
        /// What is wrong.
        source: RefError,
    },
}

/// Whether `name` is a portable environment variable name
/// (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one `--env NAME=coffer://ITEM/FIELD`.
pub fn parse_env(arg: &str) -> Result<EnvAssignment, EnvError> {
    let (name, value) = arg.split_once('=').ok_or(EnvError::NoEquals)?;
    if !is_env_name(name) {
        return Err(EnvError::BadName(name.to_string()));
    }
    if !value.starts_with(SCHEME) {
        return Err(EnvError::NotAReference {
            name: name.to_string(),
        });
    }
    let reference = parse_reference(value).map_err(|source| EnvError::BadReference {
        name: name.to_string(),
        source,
    })?;
    Ok(EnvAssignment {
        name: name.to_string(),
        reference,
    })
}

/// A reference that could not be resolved, and where it was used.
#[derive(Debug)]
pub struct Unresolved<E> {
    /// Where (a template's line and column; for `--env`, the variable).
    pub place: Place,
    /// The reference.
    pub reference: Reference,
    /// The resolver's error.
    pub error: E,
}

/// Where a reference was used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// In a template, 1-based.
    At {
        /// Line.
        line: usize,
        /// Column, in characters.
        column: usize,
    },
    /// In `--env NAME=…`.
    Env(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::At { line, column } => write!(f, "line {line}, column {column}"),
            Place::Env(name) => write!(f, "--env {name}"),
        }
    }
}

/// Every reference that failed to resolve (all are tried, so the user sees
/// every mistake at once).
#[derive(Debug)]
pub struct ResolveError<E> {
    /// The failures, in the order of the references.
    pub failures: Vec<Unresolved<E>>,
}

impl<E: fmt::Display> fmt::Display for ResolveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, u) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {}: {}", u.place, u.reference, u.error)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ResolveError<E> {}

/// Resolves every `--env` assignment before anything runs; the
/// `(NAME, value)` pairs in order. A value holding a NUL byte cannot be an
/// environment variable and fails with `nul_error`'s error.
pub fn resolve_env<E>(
    assignments: &[EnvAssignment],
    mut resolve: impl FnMut(&Reference) -> Result<Zeroizing<String>, E>,
    nul_error: impl Fn(&str) -> E,
) -> Result<Vec<(String, Zeroizing<String>)>, ResolveError<E>> {
    let mut out = Vec::with_capacity(assignments.len());
    let mut failures = Vec::new();
    for a in assignments {
        match resolve(&a.reference) {
            Ok(v) if v.contains('\0') => failures.push(Unresolved {
                place: Place::Env(a.name.clone()),
                reference: a.reference.clone(),
                error: nul_error(&a.name),
            }),
            Ok(v) => out.push((a.name.clone(), v)),
            Err(error) => failures.push(Unresolved {
                place: Place::Env(a.name.clone()),
                reference: a.reference.clone(),
                error,
            }),
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(ResolveError { failures })
    }
}

/// A syntax error in a template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {what}")]
pub struct TemplateError {
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column (in characters) of its `{{`.
    pub column: usize,
    /// What is wrong.
    pub what: String,
}

/// A piece of a parsed template.
#[derive(Debug)]
enum Piece {
    /// Bytes copied as they are (a range of the source).
    Text(std::ops::Range<usize>),
    /// A reference: index into the distinct references.
    Ref(usize),
}

/// A parsed template: text and references.
#[derive(Debug)]
pub struct Template<'a> {
    source: &'a [u8],
    pieces: Vec<Piece>,
    /// Distinct references, each with the place of its first use.
    refs: Vec<(Reference, Place)>,
}

/// `[line, column]` (1-based, column in characters) of byte `at`.
fn position(src: &[u8], at: usize) -> (usize, usize) {
    let before = &src[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters: every byte that is not a UTF-8 continuation byte.
    let column = before[start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Where a reference starting at `open` (the index of `{{`) has its
/// `coffer:` text, if it is one.
fn reference_start(src: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 2;
    while i < src.len() && is_blank(src[i]) {
        i += 1;
    }
    src[i..].starts_with(b"coffer:").then_some(i)
}

impl<'a> Template<'a> {
    /// Parses `source`, checking every reference's syntax.
    pub fn parse(source: &'a [u8]) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut refs: Vec<(Reference, Place)> = Vec::new();
        let mut text_start = 0;
        let mut i = 0;
        while i + 1 < source.len() {
            if source[i] != b'{' || source[i + 1] != b'{' {
                i += 1;
                continue;
            }
            let Some(ref_start) = reference_start(source, i) else {
                i += 1;
                continue;
            };
            // `\{{ coffer:` is the escape: drop the backslash, copy the rest.
            if i > 0 && source[i - 1] == b'\\' {
                pieces.push(Piece::Text(text_start..i - 1));
                text_start = i;
                i += 2;
                continue;
            }
            let (line, column) = position(source, i);
            let err = |what: String| TemplateError { line, column, what };
            let mut end = ref_start;
            while end < source.len()
                && !is_blank(source[end])
                && source[end] != b'}'
                && source[end] != b'\n'
            {
                end += 1;
            }
            let text = std::str::from_utf8(&source[ref_start..end])
                .map_err(|_| err("the reference is not UTF-8 text".into()))?;
            let mut close = end;
            while close < source.len() && is_blank(source[close]) {
                close += 1;
            }
            if !source[close..].starts_with(b"}}") {
                return Err(err(format!(
                    "expected }}}} after {text} (a reference ends at a space, and a space in a title is %20)"
                )));
            }
            let reference = parse_reference(text).map_err(|e| err(e.to_string()))?;
            pieces.push(Piece::Text(text_start..i));
            let index = match refs.iter().position(|(r, _)| *r == reference) {
                Some(k) => k,
                None => {
                    refs.push((reference, Place::At { line, column }));
                    refs.len() - 1
                }
            };
            pieces.push(Piece::Ref(index));
            i = close + 2;
            text_start = i;
        }
        pieces.push(Piece::Text(text_start..source.len()));
        pieces.retain(|p| !matches!(p, Piece::Text(r) if r.is_empty()));
        Ok(Template {
            source,
            pieces,
            refs,
        })
    }

    /// The distinct references, in order of first use.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.refs.iter().map(|(r, _)| r)
    }

    /// Resolves every distinct reference (all of them, even after a
    /// failure, so every mistake is reported), then, if all resolved,
    /// renders the output.
    pub fn render<E>(
        &self,
        mut resolve: impl FnMut(&Reference) -> Result<Zeroizing<String>, E>,
    ) -> Result<Zeroizing<Vec<u8>>, ResolveError<E>> {
        let mut values = Vec::with_capacity(self.refs.len());
        let mut failures = Vec::new();
        for (reference, place) in &self.refs {
            match resolve(reference) {
                Ok(v) => values.push(v),
                Err(error) => failures.push(Unresolved {
                    place: place.clone(),
                    reference: reference.clone(),
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            return Err(ResolveError { failures });
        }
        let size: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Text(r) => r.len(),
                Piece::Ref(k) => values[*k].len(),
            })
            .sum();
        // Sized up front so the buffer never reallocates (a reallocation
        // would leave a copy of the secrets behind, unzeroized).
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        for p in &self.pieces {
            match p {
                Piece::Text(r) => out.extend_from_slice(&self.source[r.clone()]),
                Piece::Ref(k) => out.extend_from_slice(values[*k].as_bytes()),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(item: &str, field: Field) -> Reference {
        Reference {
            item: item.into(),
            field,
        }
    }

    #[test]
    fn references_parse_by_id_title_and_field() {
        assert_eq!(
            parse_reference("coffer://8f14e45f-ceea-467f-a0e5-1b2c3d4e5f60/password").unwrap(),
            r("8f14e45f-ceea-467f-a0e5-1b2c3d4e5f60", Field::Password)
        );
        assert_eq!(
            parse_reference("coffer://Work%20VPN/Username").unwrap(),
            r("Work VPN", Field::Username)
        );
        assert_eq!(
            parse_reference("coffer://a%2Fb%25c/API%20key").unwrap(),
            r("a/b%c", Field::Custom("API key".into()))
        );
        for (name, field) in [
            ("url", Field::Url),
            ("NOTES", Field::Notes),
            ("title", Field::Title),
            ("totp", Field::Totp),
        ] {
            assert_eq!(
                parse_reference(&format!("coffer://x/{name}"))
                    .unwrap()
                    .field,
                field
            );
        }
        assert_eq!(
            parse_reference("coffer://caf%C3%A9/password").unwrap().item,
            "café"
        );
        assert_eq!(
            parse_reference("coffer://café/password").unwrap().item,
            "café"
        );
    }

    #[test]
    fn malformed_references_say_what_to_do() {
        use RefError::*;
        type Check = fn(&RefError) -> bool;
        let cases: [(&str, Check); 9] = [
            ("https://x/password", |e| *e == NoScheme),
            ("coffer://item", |e| matches!(e, NoField(_))),
            ("coffer:///password", |e| matches!(e, EmptyItem(_))),
            ("coffer://%20/password", |e| matches!(e, EmptyItem(_))),
            ("coffer://item/", |e| matches!(e, EmptyField(_))),
            ("coffer://a/b/c", |e| matches!(e, ExtraSlash(_))),
            ("coffer://My Item/password", |e| matches!(e, Unencoded(_))),
            ("coffer://100%/password", |e| matches!(e, BadPercent(_))),
            ("coffer://%FF/password", |e| matches!(e, NotText(_))),
        ];
        for (text, check) in cases {
            let e = parse_reference(text).unwrap_err();
            assert!(check(&e), "{text}: {e:?}");
        }
        assert!(parse_reference("coffer://a%0Ab/x")
            .unwrap_err()
            .to_string()
            .contains("not text"));
        assert!(parse_reference("coffer://a/b/c")
            .unwrap_err()
            .to_string()
            .contains("%2F"));
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        let x = r("a/b c%{d}", Field::Custom("my field".into()));
        assert_eq!(x.to_string(), "coffer://a%2Fb%20c%25%7Bd%7D/my%20field");
        assert_eq!(parse_reference(&x.to_string()).unwrap(), x);
    }

    #[test]
    fn env_assignments() {
        assert_eq!(
            parse_env("DB_PASSWORD=coffer://Postgres/password").unwrap(),
            EnvAssignment {
                name: "DB_PASSWORD".into(),
                reference: r("Postgres", Field::Password)
            }
        );
        assert_eq!(parse_env("nothing"), Err(EnvError::NoEquals));
        assert_eq!(
            parse_env("1X=coffer://a/b"),
            Err(EnvError::BadName("1X".into()))
        );
        assert_eq!(
            parse_env("=coffer://a/b"),
            Err(EnvError::BadName("".into()))
        );
        assert_eq!(
            parse_env("A-B=coffer://a/b"),
            Err(EnvError::BadName("A-B".into()))
        );
        // A literal secret in the wrong place is never echoed.
        let e = parse_env("TOKEN=hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(matches!(
            parse_env("T=coffer://a"),
            Err(EnvError::BadReference { .. })
        ));
        assert!(is_env_name("_x1") && !is_env_name("é"));
    }

    #[test]
    fn env_values_are_all_resolved_or_none() {
        let a = [
            parse_env("A=coffer://one/password").unwrap(),
            parse_env("B=coffer://missing/password").unwrap(),
            parse_env("C=coffer://nul/password").unwrap(),
        ];
        let resolve = |r: &Reference| match r.item.as_str() {
            "one" => Ok(Zeroizing::new("1".to_string())),
            "nul" => Ok(Zeroizing::new("a\0b".to_string())),
            _ => Err("no such item".to_string()),
        };
        let e = resolve_env(&a, resolve, |n| format!("{n} would hold a NUL byte")).unwrap_err();
        let shown = e.to_string();
        assert_eq!(
            shown,
            "--env B: coffer://missing/password: no such item\n--env C: coffer://nul/password: C would hold a NUL byte"
        );
        let ok = resolve_env(&a[..1], resolve, |n| n.to_string()).unwrap();
        assert_eq!(ok[0].0, "A");
        assert_eq!(ok[0].1.as_str(), "1");
    }

    fn render(src: &str, values: &[(&str, &str)]) -> Result<String, String> {
        let t = Template::parse(src.as_bytes()).map_err(|e| e.to_string())?;
        let out = t
            .render(|r| {
                values
                    .iter()
                    .find(|(k, _)| *k == r.to_string())
                    .map(|(_, v)| Zeroizing::new(v.to_string()))
                    .ok_or_else(|| "no such item".to_string())
            })
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn templates_render_references_and_copy_the_rest() {
        let src = "host: db\npassword: {{ coffer://Postgres/password }}\nuser: {{coffer://Postgres/username}}\t# again: {{\tcoffer://Postgres/password\t}}\n";
        let out = render(
            src,
            &[
                ("coffer://Postgres/password", "s3cr=t"),
                ("coffer://Postgres/username", "app"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "host: db\npassword: s3cr=t\nuser: app\t# again: s3cr=t\n"
        );
        let t = Template::parse(src.as_bytes()).unwrap();
        assert_eq!(t.references().count(), 2, "distinct references");
    }

    #[test]
    fn other_braces_and_the_escape() {
        // Another template language's braces are left alone.
        let helm = "image: {{ .Values.image }}\n{{- if x }}{{ end }}";
        assert_eq!(render(helm, &[]).unwrap(), helm);
        // The escape writes a reference literally; a backslash elsewhere
        // is copied.
        assert_eq!(
            render(r"a \{{ coffer://x/password }} b \{{ other }} c\n", &[]).unwrap(),
            r"a {{ coffer://x/password }} b \{{ other }} c\n"
        );
        // Braces around a reference's braces.
        assert_eq!(
            render(
                "{{{ coffer://x/password }}}",
                &[("coffer://x/password", "v")]
            )
            .unwrap(),
            "{v}"
        );
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = render("ok\n  x {{ coffer://My Item/password }}\n", &[]).unwrap_err();
        assert!(
            e.starts_with("line 2, column 5: expected }} after coffer://My"),
            "{e}"
        );
        let e = render("é {{ coffer://a }}", &[]).unwrap_err();
        assert!(e.starts_with("line 1, column 3: "), "{e}");
        assert!(e.contains("names no field"), "{e}");
        let e = render("{{ coffer://a/password", &[]).unwrap_err();
        assert!(e.contains("expected }}"), "{e}");
        let e = render("{{ coffer:/a/password }}", &[]).unwrap_err();
        assert!(e.contains("starts with coffer://"), "{e}");
    }

    #[test]
    fn an_unknown_reference_fails_before_anything_is_rendered() {
        let src = "a={{ coffer://known/password }}\nb={{ coffer://unknown/password }}\nc={{ coffer://gone/url }}\n";
        let t = Template::parse(src.as_bytes()).unwrap();
        let mut asked = Vec::new();
        let e = t
            .render(|r| {
                asked.push(r.item.clone());
                if r.item == "known" {
                    Ok(Zeroizing::new("v".into()))
                } else {
                    Err(format!("no item {:?}", r.item))
                }
            })
            .unwrap_err();
        assert_eq!(
            asked,
            ["known", "unknown", "gone"],
            "every reference is tried"
        );
        assert_eq!(e.failures.len(), 2);
        assert_eq!(e.failures[0].place, Place::At { line: 2, column: 3 });
        assert_eq!(
            e.to_string(),
            "line 2, column 3: coffer://unknown/password: no item \"unknown\"\nline 3, column 3: coffer://gone/url: no item \"gone\""
        );
    }

    #[test]
    fn non_utf8_text_outside_references_is_copied() {
        let src = b"\xff\xfe {{ coffer://k/password }} \x00\x80";
        let t = Template::parse(src).unwrap();
        let out = t
            .render(|_| Ok::<_, String>(Zeroizing::new("V".into())))
            .unwrap();
        assert_eq!(out.as_slice(), b"\xff\xfe V \x00\x80");
    }

    proptest! {
        /// Text without a reference renders unchanged, byte for byte
        /// (braces, backslashes and invalid UTF-8 included).
        #[test]
        fn text_without_references_renders_unchanged(
            tokens in proptest::collection::vec(
                prop_oneof![
                    Just(b"{{".to_vec()), Just(b"}}".to_vec()), Just(b"\\".to_vec()),
                    Just(b" ".to_vec()), Just(b"\t".to_vec()), Just(b"\n".to_vec()),
                    Just(b"coffer".to_vec()), Just(b"//x/password".to_vec()), Just(b":".to_vec()),
                    proptest::collection::vec(any::<u8>(), 1..4),
                ],
                0..60,
            )
        ) {
            let bytes = tokens.concat();
            // Only `{{` + blanks + `coffer:` starts a reference.
            let text = String::from_utf8_lossy(&bytes).into_owned();
            prop_assume!(!text.contains("coffer:"));
            let t = Template::parse(&bytes).unwrap();
            prop_assert_eq!(t.references().count(), 0);
            let out = t.render(|_| Err::<Zeroizing<String>, ()>(())).unwrap();
            prop_assert_eq!(out.as_slice(), bytes.as_slice());
        }

        /// Any reference's canonical form parses back to it.
        #[test]
        fn canonical_references_round_trip(item in "\\PC{1,20}", field in "\\PC{1,20}") {
            prop_assume!(!item.trim().is_empty());
            let reference = Reference { item, field: Field::from_name(&field) };
            prop_assert_eq!(parse_reference(&reference.to_string()).unwrap(), reference);
        }
    }
}
