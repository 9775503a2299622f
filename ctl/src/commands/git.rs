//! `coffer git-credential get|store|erase`: git's credential helper
//! (protocol and matching rule in [`crate::gitcred`]), over the ordinary
//! item requests (`list`, `get`, `add`, `edit`, `rm`).
//!
//! - `get` answers with the best matching item that has a password; with
//!   none, it prints nothing and git asks the user (exit 0).
//! - `store` (git approves a credential that worked) updates the password
//!   of the item that matches exactly, or adds an item titled after the
//!   host with the URL `protocol://host[/path]`; an unchanged password
//!   writes nothing (git approves after every successful use).
//! - `erase` (git rejects a credential) moves to the trash only the exact
//!   matches whose password is the one git rejected, as `coffer rm` does.
//!
//! A locked, signed-out or reset vault: nothing on stdout, one line on
//! stderr, exit 3 (coffer's code for "not unlocked"). git ignores a
//! helper's exit status (checked with git 2.47: no warning, it goes on to
//! the next helper or asks the user), so the status only serves people and
//! scripts. Nothing secret is ever written to stderr: errors carry
//! messages from the daemon or the protocol parser, which hold none.

use std::io::{self, Write};

use coffer_proto::reply::{ItemRef, ItemSummary, ItemView};
use coffer_proto::request::{AddParams, EditParams, FieldInput, ListParams, QueryParams};
use coffer_proto::{ErrorCode, Request, Secret};

use super::Ctx;
use crate::client::{decode, Client};
use crate::error::CliError;
use crate::gitcred::{self, Answer, Candidate, CredentialError};

/// Runs one operation git asked for; an unknown one is ignored, as git's
/// protocol asks of helpers (a newer git may add operations).
pub fn run(ctx: &mut Ctx, operation: &str) -> Result<(), CliError> {
    let op = match operation {
        "get" | "store" | "erase" => operation,
        _ => return Ok(()),
    };
    let req = gitcred::read_request(&mut io::stdin().lock()).map_err(protocol)?;
    let mut client = ctx.client()?;
    let result = match op {
        "get" => get(&mut client, &req),
        "store" => store(&mut client, &req),
        _ => erase(&mut client, &req),
    };
    result.map_err(|e| explain(op, e))
}

fn protocol(e: CredentialError) -> CliError {
    CliError::Failed(format!("git-credential: {e}"))
}

/// Says what a "not unlocked" error means for git.
fn explain(op: &str, e: CliError) -> CliError {
    match e {
        CliError::Daemon(mut body)
            if matches!(
                body.code,
                ErrorCode::Locked | ErrorCode::SignedOut | ErrorCode::Reset
            ) =>
        {
            let what = match op {
                "get" => "git asks for the credential itself",
                "store" => "the credential git used was not saved",
                _ => "the credential git rejected was not removed",
            };
            body.message = format!("{} ({what})", body.message);
            CliError::Daemon(body)
        }
        other => other,
    }
}

fn items(client: &mut Client) -> Result<Vec<ItemSummary>, CliError> {
    let value = client.call(Request::List(ListParams::default()))?;
    decode("list", value)
}

fn candidates(items: &[ItemSummary]) -> Vec<Candidate<'_>> {
    items
        .iter()
        .map(|i| Candidate {
            url: &i.url,
            username: Some(i.username.as_str()).filter(|u| !u.is_empty()),
            changed: i64::try_from(i.modified_ms).ok(),
        })
        .collect()
}

fn item(client: &mut Client, id: &str) -> Result<ItemView, CliError> {
    let value = client.call(Request::Get(QueryParams { query: id.into() }))?;
    decode("get", value)
}

fn get(client: &mut Client, req: &gitcred::Request) -> Result<(), CliError> {
    let all = items(client)?;
    let all: Vec<ItemSummary> = all.into_iter().filter(|i| !i.url.is_empty()).collect();
    let cands = candidates(&all);
    for i in gitcred::rank(req, &cands) {
        let found = item(client, &all[i].id)?;
        if found.password.expose().is_empty() {
            continue;
        }
        let username = Some(found.username.as_str())
            .filter(|u| !u.is_empty())
            .or(req.username.as_deref());
        let answer = Answer {
            protocol: req.protocol.as_deref(),
            host: req.host.as_deref(),
            path: req.path.as_deref(),
            username,
            password: found.password.expose(),
        };
        let mut out = io::stdout().lock();
        gitcred::write_answer(&mut out, &answer).map_err(protocol)?;
        return out
            .flush()
            .map_err(|e| CliError::io("cannot answer git", e));
    }
    Ok(())
}

/// The title of a new item: the host, and the path when git sent one.
fn title(req: &gitcred::Request) -> String {
    let host = req.host.as_deref().unwrap_or("");
    match req.path.as_deref().filter(|p| !p.is_empty()) {
        Some(path) => format!("{host}/{path}"),
        None => host.to_owned(),
    }
}

fn store(client: &mut Client, req: &gitcred::Request) -> Result<(), CliError> {
    let Some(password) = req.password.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(()); // nothing to keep
    };
    let url = gitcred::item_url(req).map_err(protocol)?;
    let all = items(client)?;
    let cands = candidates(&all);
    let field = |name: &str, value: &str| FieldInput {
        name: name.into(),
        value: Some(Secret::new(value)),
    };
    if let Some(&i) = gitcred::exact_matches(req, &cands).first() {
        // `edit` writes nothing when the password is the same.
        let request = Request::Edit(EditParams {
            query: all[i].id.clone(),
            fields: vec![field("password", password)],
            generate: None,
        });
        let _: ItemRef = decode("edit", client.call(request)?)?;
        return Ok(());
    }
    let mut fields = vec![field("title", &title(req)), field("url", &url)];
    if let Some(user) = req.username.as_deref().filter(|u| !u.is_empty()) {
        fields.push(field("username", user));
    }
    fields.push(field("password", password));
    client.call(Request::Add(AddParams {
        fields,
        generate: None,
    }))?;
    Ok(())
}

fn erase(client: &mut Client, req: &gitcred::Request) -> Result<(), CliError> {
    if req.password.is_none() {
        // git sends the password it rejected; without it, nothing is
        // known to be wrong, and nothing is removed.
        return Ok(());
    }
    let all = items(client)?;
    let cands = candidates(&all);
    let exact: Vec<usize> = gitcred::exact_matches(req, &cands);
    let mut sub = Vec::with_capacity(exact.len());
    let mut views = Vec::with_capacity(exact.len());
    for &i in &exact {
        sub.push(cands[i]);
        views.push(item(client, &all[i].id)?);
    }
    let passwords: Vec<&str> = views.iter().map(|v| v.password.expose()).collect();
    for k in gitcred::erase_targets(req, &sub, &passwords) {
        let id = views[k].id.clone();
        client.call(Request::Remove(QueryParams { query: id }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_items_are_titled_after_host_and_path() {
        let r = gitcred::parse_request(b"protocol=https\nhost=example.com:8443\n").unwrap();
        assert_eq!(title(&r), "example.com:8443");
        let r = gitcred::parse_request(b"protocol=https\nhost=h\npath=org/repo.git\n").unwrap();
        assert_eq!(title(&r), "h/org/repo.git");
    }

    #[test]
    fn only_not_unlocked_errors_are_explained() {
        let locked = CliError::Daemon(coffer_proto::ErrorBody::new(
            ErrorCode::Locked,
            "the vault is locked; run `coffer unlock`",
        ));
        let e = explain("get", locked);
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string().contains("git asks for the credential itself"),
            "{e}"
        );
        let other = explain("store", CliError::Failed("x".into()));
        assert_eq!(other.to_string(), "x");
    }
}
