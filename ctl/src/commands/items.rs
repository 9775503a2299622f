//! Item commands: add, get, list, edit, rm, history.

use coffer_proto::clipboard::{ClipParams, ClipReply, DisplayEnv};
use coffer_proto::reply::{AddReply, HistoryReply, ItemRef, ItemSummary, ItemView};
use coffer_proto::request::{AddParams, EditParams, FieldInput, ListParams, QueryParams};
use coffer_proto::{Request, Secret};

use super::{emit, emit_json, generate, line, show, Ctx};
use crate::cli::{AddArgs, EditArgs, FieldArgs, GetArgs, ListArgs, QueryArgs};
use crate::client::decode;
use crate::error::CliError;
use crate::output;

/// The fields every item has.
const BUILT_IN: &[&str] = &["title", "username", "password", "url", "notes"];

/// The inputs for `add`/`edit`, in a stable order: title, username,
/// password, url, notes, then custom fields, then removals.
pub(super) fn field_inputs(
    title: Option<String>,
    f: FieldArgs,
    remove: Vec<String>,
) -> Result<Vec<FieldInput>, CliError> {
    let mut out = Vec::new();
    let set = |out: &mut Vec<FieldInput>, name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push(FieldInput {
                name: name.to_string(),
                value: Some(Secret::new(v)),
            });
        }
    };
    set(&mut out, "title", title);
    set(&mut out, "username", f.username);
    set(&mut out, "password", f.password);
    set(&mut out, "url", f.url);
    set(&mut out, "notes", f.notes);
    if let Some(otp) = f.otp {
        let value = if otp == "-" { read_stdin_line()? } else { otp };
        out.push(FieldInput {
            name: "otp".into(),
            value: Some(Secret::new(value)),
        });
    }
    for spec in f.fields {
        let (name, value) = spec.split_once('=').ok_or_else(|| {
            CliError::Usage("--field takes NAME=VALUE, for example --field pin=1234".into())
        })?;
        if name.trim().is_empty() {
            return Err(CliError::Usage(
                "--field needs a name before the =, for example --field pin=1234".into(),
            ));
        }
        out.push(FieldInput {
            name: name.to_string(),
            value: Some(Secret::new(value)),
        });
    }
    for name in remove {
        if BUILT_IN.iter().any(|b| b.eq_ignore_ascii_case(&name)) {
            return Err(CliError::Usage(format!(
                "--remove-field removes custom fields; {name} is built in: clear it with --{} ''",
                name.to_ascii_lowercase()
            )));
        }
        out.push(FieldInput { name, value: None });
    }
    Ok(out)
}

/// `--otp -`: the setup from the first line of stdin (kept out of argv).
fn read_stdin_line() -> Result<String, CliError> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::io("cannot read the one-time-code setup from stdin", e))?;
    let value = line.trim().to_owned();
    if value.is_empty() {
        return Err(CliError::Usage(
            "--otp - reads the setup from stdin, which was empty".into(),
        ));
    }
    Ok(value)
}

pub fn add(ctx: &mut Ctx, mut a: AddArgs) -> Result<(), CliError> {
    if a.title.trim().is_empty() {
        return Err(CliError::Usage("the title cannot be empty".into()));
    }
    let generate = generate::params(&a.generate, a.json)?;
    if let Some(file) = a.ssh_key.take() {
        return super::ssh::import(ctx, a, &file);
    }
    let fields = field_inputs(Some(a.title), a.fields, Vec::new())?;
    let show_password = a.generate.show;
    show(
        ctx,
        Request::Add(AddParams { fields, generate }),
        a.json,
        |reply: AddReply| {
            line(&reply.id)?;
            match &reply.generated {
                Some(g) => generate::report(g, show_password),
                None => Ok(()),
            }
        },
    )
}

/// The value of field `name` of `item`: a built-in name (any case), else a
/// custom field (exact name first, then any case).
pub fn pick_field<'a>(item: &'a ItemView, name: &str) -> Option<&'a str> {
    match name.to_ascii_lowercase().as_str() {
        "title" => return Some(&item.title),
        "username" => return Some(&item.username),
        "password" => return Some(item.password.expose()),
        "url" => return Some(&item.url),
        "notes" => return Some(item.notes.expose()),
        "id" => return Some(&item.id),
        _ => {}
    }
    item.fields
        .iter()
        .find(|f| f.name == name)
        .or_else(|| {
            item.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
        })
        .map(|f| f.value.expose())
}

pub fn get(ctx: &mut Ctx, a: GetArgs) -> Result<(), CliError> {
    let query = match (&a.query, &a.search) {
        (_, Some(terms)) => super::search::only_hit(ctx, terms)?,
        (Some(q), None) => q.clone(),
        (None, None) => {
            return Err(CliError::Usage(
                "name the item: coffer get QUERY, or coffer get --search TERMS".into(),
            ))
        }
    };
    if a.clip {
        let request = Request::Clip(ClipParams {
            query,
            field: a.field,
            display: DisplayEnv::from_env(),
        });
        return show(ctx, request, false, |r: ClipReply| {
            eprintln!(
                "Copied the {} of \"{}\" to the clipboard; it is cleared in {} s.",
                r.field, r.title, r.clear_after_secs
            );
            Ok(())
        });
    }
    let named = a.field.is_some();
    let field = a.field.as_deref().unwrap_or("password");
    let request = Request::Get(QueryParams { query });
    show(ctx, request, a.json, |item: ItemView| {
        if !named && item.password.expose().is_empty() && is_ssh_key(&item) {
            return Err(CliError::Failed(format!(
                "\"{}\" is an SSH key and has no password; name a field: --field ssh-public-key \
                 (or `coffer ssh public`), --field ssh-private-key, --field ssh-fingerprint",
                item.title
            )));
        }
        print_field(&item, field)
    })
}

/// Whether `item` is an SSH key (its `kind` field says `ssh-key`).
fn is_ssh_key(item: &ItemView) -> bool {
    item.fields
        .iter()
        .any(|f| f.name == "kind" && f.value.expose().trim() == "ssh-key")
}

/// Prints field `field` of `item`, or says which fields it has.
fn print_field(item: &ItemView, field: &str) -> Result<(), CliError> {
    match pick_field(item, field) {
        Some(v) => {
            let mut text = zeroize::Zeroizing::new(String::with_capacity(v.len() + 1));
            text.push_str(v);
            text.push('\n');
            emit(&text)
        }
        None => {
            let mut names: Vec<&str> = BUILT_IN.to_vec();
            names.extend(item.fields.iter().map(|f| f.name.as_str()));
            Err(CliError::Failed(format!(
                "\"{}\" has no field named {field:?}; its fields are: {}",
                item.title,
                names.join(", ")
            )))
        }
    }
}

/// The items of a `list` result: an array, or an object with `items`.
fn list_items(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut o) if o.contains_key("items") => {
            o.remove("items").unwrap_or_default()
        }
        other => other,
    }
}

/// `list`: with `--json` the daemon's list of the collection asked for;
/// for people, the default collection's items and how many the others
/// hold, or the named collection's items with their attributes.
pub fn list(ctx: &mut Ctx, a: ListArgs) -> Result<(), CliError> {
    let params = ListParams {
        all_collections: !a.json && a.collection.is_none(),
        collection: a.collection.clone(),
    };
    let value = list_items(ctx.client()?.call(Request::List(params))?);
    if a.json {
        return emit_json(&value);
    }
    let items: Vec<ItemSummary> = decode("list", value)?;
    match &a.collection {
        Some(c) => emit(&output::collection_table(c, &items)),
        None => {
            let (default, other): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|i| i.collection.is_none());
            let mut text = output::item_table(&default);
            text.push_str(&output::other_collections(&other));
            emit(&text)
        }
    }
}

pub fn edit(ctx: &mut Ctx, a: EditArgs) -> Result<(), CliError> {
    let generate = generate::params(&a.generate, a.json)?;
    let fields = field_inputs(a.title, a.fields, a.remove_fields)?;
    if fields.is_empty() && generate.is_none() {
        return Err(CliError::Usage(
            "nothing to change: give --title, --username, --password, --generate, --url, --notes, \
             --otp, --field NAME=VALUE or --remove-field NAME"
                .into(),
        ));
    }
    let done = format!("Updated \"{}\".", a.query);
    let show_password = a.generate.show;
    let request = Request::Edit(EditParams {
        query: a.query,
        fields,
        generate,
    });
    show(ctx, request, a.json, |r: ItemRef| {
        line(&done)?;
        match &r.generated {
            Some(g) => generate::report(g, show_password),
            None => Ok(()),
        }
    })
}

pub fn rm(ctx: &mut Ctx, a: QueryArgs) -> Result<(), CliError> {
    let request = Request::Remove(QueryParams { query: a.query });
    show(ctx, request, a.json, |r: ItemRef| {
        line(&format!(
            "Moved \"{}\" to the trash; `coffer trash restore {}` brings it back.",
            r.title.as_deref().unwrap_or(""),
            r.id
        ))
    })
}

pub fn history(ctx: &mut Ctx, a: QueryArgs) -> Result<(), CliError> {
    let request = Request::History(QueryParams { query: a.query });
    show(ctx, request, a.json, |h: HistoryReply| {
        emit(&output::history(&h))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_proto::reply::FieldView;

    fn names(v: &[FieldInput]) -> Vec<(String, Option<String>)> {
        v.iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.value.as_ref().map(|s| s.expose().to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn fields_in_order_with_removals() {
        let f = FieldArgs {
            username: Some("me".into()),
            password: Some("pw".into()),
            url: None,
            notes: Some("".into()),
            fields: vec!["pin=1=2".into()],
            otp: None,
        };
        let v = field_inputs(Some("T".into()), f, vec!["old".into()]).unwrap();
        assert_eq!(
            names(&v),
            vec![
                ("title".into(), Some("T".into())),
                ("username".into(), Some("me".into())),
                ("password".into(), Some("pw".into())),
                ("notes".into(), Some("".into())),
                ("pin".into(), Some("1=2".into())),
                ("old".into(), None),
            ]
        );
    }

    #[test]
    fn bad_fields_are_usage_errors() {
        let bad = |spec: &str| {
            let f = FieldArgs {
                fields: vec![spec.into()],
                ..FieldArgs::default()
            };
            field_inputs(None, f, vec![]).unwrap_err()
        };
        assert_eq!(bad("novalue").exit_code(), 2);
        assert_eq!(bad("=v").exit_code(), 2);
        let e = field_inputs(None, FieldArgs::default(), vec!["Password".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--password ''"), "{e}");
    }

    #[test]
    fn picking_fields() {
        let item = ItemView {
            id: "i".into(),
            title: "Mail".into(),
            username: "me".into(),
            password: Secret::new("pw"),
            url: "https://x".into(),
            notes: Secret::new("n"),
            fields: vec![
                FieldView {
                    name: "PIN".into(),
                    value: Secret::new("1"),
                },
                FieldView {
                    name: "pin".into(),
                    value: Secret::new("2"),
                },
            ],
            created_ms: 0,
            modified_ms: 0,
        };
        assert_eq!(pick_field(&item, "password"), Some("pw"));
        assert_eq!(pick_field(&item, "URL"), Some("https://x"));
        assert_eq!(pick_field(&item, "pin"), Some("2"));
        assert_eq!(pick_field(&item, "Pin"), Some("1"));
        assert_eq!(pick_field(&item, "nope"), None);
    }

    #[test]
    fn list_results_in_both_shapes() {
        let a = serde_json::json!([{"id": "1"}]);
        assert_eq!(list_items(a.clone()), a);
        assert_eq!(list_items(serde_json::json!({"items": a.clone()})), a);
    }
}
