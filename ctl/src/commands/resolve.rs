//! Turning `coffer://ITEM/FIELD` references into values through the
//! daemon, for `coffer run` and `coffer inject`: one `get` per distinct
//! item (by id or exact title, as every command names items), the field
//! picked as `coffer get --field` picks it, and `totp` computed from the
//! item's `otp` field (a time-based code; counter-based HOTP codes are
//! refused, since a reference cannot advance the counter).

use std::collections::HashMap;
use std::fmt;

use coffer_proto::reply::ItemView;
use coffer_proto::request::QueryParams;
use coffer_proto::{ErrorBody, ErrorCode, Request};
use coffer_vault::otp::{totp_at, OtpSpec};
use zeroize::Zeroizing;

use super::items::pick_field;
use crate::client::{decode, Client};
use crate::error::CliError;
use crate::refs::{Field, Reference, ResolveError};

/// Why one reference did not resolve (never holds a value).
#[derive(Debug, Clone)]
pub enum Unresolved {
    /// The vault is not unlocked: nothing can resolve.
    NotReady(ErrorBody),
    /// No item has that id or title.
    NoItem(String),
    /// The item has no such field.
    NoField(String),
    /// Anything else (an ambiguous title, a NUL byte, an HOTP code …).
    Other(String),
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::NotReady(body) => f.write_str(&body.message),
            Unresolved::NoItem(m) | Unresolved::NoField(m) | Unresolved::Other(m) => f.write_str(m),
        }
    }
}

/// Resolves references over one connection, asking for each item once.
pub struct Resolver<'c> {
    client: &'c mut Client,
    items: HashMap<String, Result<ItemView, Unresolved>>,
}

impl<'c> Resolver<'c> {
    /// A resolver over `client`.
    pub fn new(client: &'c mut Client) -> Self {
        Resolver {
            client,
            items: HashMap::new(),
        }
    }

    fn item(&mut self, query: &str) -> Result<&ItemView, Unresolved> {
        if !self.items.contains_key(query) {
            let got = fetch(self.client, query);
            self.items.insert(query.to_owned(), got);
        }
        match &self.items[query] {
            Ok(item) => Ok(item),
            Err(e) => Err(e.clone()),
        }
    }

    /// The value `reference` names.
    pub fn resolve(&mut self, reference: &Reference) -> Result<Zeroizing<String>, Unresolved> {
        let item = self.item(&reference.item)?;
        let value = match &reference.field {
            Field::Totp => return totp(item),
            Field::Password => Some(item.password.expose()),
            Field::Username => Some(item.username.as_str()),
            Field::Url => Some(item.url.as_str()),
            Field::Notes => Some(item.notes.expose()),
            Field::Title => Some(item.title.as_str()),
            Field::Custom(name) => pick_field(item, name),
        };
        value
            .map(|v| Zeroizing::new(v.to_owned()))
            .ok_or_else(|| no_field(item, reference.field.name()))
    }
}

fn fetch(client: &mut Client, query: &str) -> Result<ItemView, Unresolved> {
    let request = Request::Get(QueryParams {
        query: query.to_owned(),
    });
    match client.call(request) {
        Ok(value) => decode("get", value).map_err(|e| Unresolved::Other(e.to_string())),
        Err(CliError::Daemon(body)) => Err(match body.code {
            ErrorCode::SignedOut | ErrorCode::Locked | ErrorCode::Reset => {
                Unresolved::NotReady(body)
            }
            ErrorCode::NoSuchItem => Unresolved::NoItem(body.message),
            ErrorCode::Ambiguous => {
                let ids: Vec<String> = body
                    .data
                    .as_ref()
                    .and_then(|d| d.get("candidates"))
                    .and_then(|c| c.as_array())
                    .map(|c| {
                        c.iter()
                            .filter_map(|x| x.get("id").and_then(|i| i.as_str()))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                Unresolved::Other(format!("{} (ids: {})", body.message, ids.join(", ")))
            }
            _ => Unresolved::Other(body.message),
        }),
        Err(e) => Err(Unresolved::Other(e.to_string())),
    }
}

fn no_field(item: &ItemView, name: &str) -> Unresolved {
    let mut names = vec!["title", "username", "password", "url", "notes"];
    names.extend(item.fields.iter().map(|f| f.name.as_str()));
    Unresolved::NoField(format!(
        "\"{}\" has no field named {name:?}; its fields are: {}",
        item.title,
        names.join(", ")
    ))
}

/// The item's current time-based one-time code.
fn totp(item: &ItemView) -> Result<Zeroizing<String>, Unresolved> {
    let uri = pick_field(item, "otp").ok_or_else(|| {
        Unresolved::NoField(format!(
            "\"{}\" has no one-time code (no otp field)",
            item.title
        ))
    })?;
    let spec = OtpSpec::parse_uri(uri)
        .map_err(|e| Unresolved::Other(format!("the otp field of \"{}\": {e}", item.title)))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (code, _) = totp_at(&spec, now).map_err(|_| {
        Unresolved::Other(format!(
            "the one-time code of \"{}\" is counter-based (HOTP): a reference cannot use it, \
             since each code must advance the counter",
            item.title
        ))
    })?;
    Ok(Zeroizing::new(code.expose().to_owned()))
}

/// The error for references that did not resolve, naming every one and
/// what was not done: the daemon's own error when the vault is not
/// unlocked (exit 3), "no such item" (exit 4) when an item is missing,
/// else a plain error (exit 1).
pub fn failure(e: ResolveError<Unresolved>, not_done: &str) -> CliError {
    if let Some(body) = e.failures.iter().find_map(|u| match &u.error {
        Unresolved::NotReady(body) => Some(body.clone()),
        _ => None,
    }) {
        return CliError::Daemon(body);
    }
    let n = e.failures.len();
    let message = format!(
        "{n} reference{} did not resolve; {not_done}:\n{e}",
        if n == 1 { "" } else { "s" }
    );
    if e.failures
        .iter()
        .any(|u| matches!(u.error, Unresolved::NoItem(_)))
    {
        CliError::Daemon(ErrorBody::new(ErrorCode::NoSuchItem, message))
    } else {
        CliError::Failed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::{Place, Unresolved as Failure};
    use coffer_proto::reply::FieldView;
    use coffer_proto::Secret;

    fn item(fields: &[(&str, &str)]) -> ItemView {
        ItemView {
            id: "i".into(),
            title: "T".into(),
            username: "u".into(),
            password: Secret::new("p"),
            url: String::new(),
            notes: Secret::new(""),
            fields: fields
                .iter()
                .map(|(n, v)| FieldView {
                    name: (*n).into(),
                    value: Secret::new(*v),
                })
                .collect(),
            created_ms: 0,
            modified_ms: 0,
        }
    }

    #[test]
    fn totp_codes_come_from_the_otp_field_and_hotp_is_refused() {
        // RFC 6238's SHA-1 seed "12345678901234567890" in base32.
        let t = item(&[(
            "otp",
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8",
        )]);
        let code = totp(&t).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let h = item(&[(
            "otp",
            "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1",
        )]);
        assert!(totp(&h).unwrap_err().to_string().contains("HOTP"));
        assert!(matches!(totp(&item(&[])), Err(Unresolved::NoField(_))));
    }

    fn fail(error: Unresolved) -> Failure<Unresolved> {
        Failure {
            place: Place::Env("X".into()),
            reference: crate::refs::parse_reference("coffer://a/password").unwrap(),
            error,
        }
    }

    #[test]
    fn failures_map_to_the_exit_codes() {
        let locked = ErrorBody::new(
            ErrorCode::Locked,
            "the vault is locked; run `coffer unlock`",
        );
        let e = failure(
            ResolveError {
                failures: vec![
                    fail(Unresolved::NoItem("no".into())),
                    fail(Unresolved::NotReady(locked)),
                ],
            },
            "nothing ran",
        );
        assert_eq!(e.exit_code(), 3);
        let e = failure(
            ResolveError {
                failures: vec![
                    fail(Unresolved::NoField("f".into())),
                    fail(Unresolved::NoItem("no item".into())),
                ],
            },
            "CMD was not run",
        );
        assert_eq!(e.exit_code(), 4);
        let shown = e.to_string();
        assert!(
            shown.starts_with("2 references did not resolve; CMD was not run:"),
            "{shown}"
        );
        assert!(
            shown.contains("--env X: coffer://a/password: no item"),
            "{shown}"
        );
        let e = failure(
            ResolveError {
                failures: vec![fail(Unresolved::NoField("f".into()))],
            },
            "x",
        );
        assert_eq!(e.exit_code(), 1);
    }
}
