//! Item requests: add, get, list, edit, rm, history.
//!
//! A query is an item id or an exact title (case-insensitive); an
//! ambiguous title is an error listing the candidates; `get` and `history`
//! fall back to search ([`lookup`]). Standard fields map to the vault's
//! names; any other name is a custom field (`field:NAME` in the vault). A
//! one-time-code setup (`otp`) is stored in its canonical URI form, and a
//! bad one refused ([`super::otp::normalise`]). `rm` moves the item to the
//! vault's trash.

use coffer_proto::reply::{
    AddReply, FieldView, HistoryEntryView, HistoryReply, ItemRef, ItemSummary, ItemView,
};
use coffer_proto::request::{AddParams, EditParams, FieldInput, ListParams, QueryParams};
use coffer_proto::Secret;
use coffer_vault::item::fields::{self, FieldNameError};
use coffer_vault::item::Item;
use coffer_vault::replica::{Replica, UndoPoint};
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::Value;

use super::{lookup, to_reply};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::secret_service::vault_items;
use crate::session::{Account, Core};

/// The vault's name for a field the user names.
pub fn vault_field(name: &str) -> Result<String> {
    fields::from_user(name).map_err(|e| match e {
        FieldNameError::Empty => Error::Invalid("a field name must not be empty".into()),
        other => Error::Invalid(other.to_string()),
    })
}

fn get_str(item: &Item, name: &str) -> String {
    item.get(name)
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

pub(crate) fn view(item: &Item) -> ItemView {
    let fields = item
        .live_fields()
        .filter(|(n, _)| fields::is_custom(n))
        .map(|(n, v)| FieldView {
            name: fields::to_user(n).to_owned(),
            value: Secret::new(v.expose()),
        })
        .collect();
    ItemView {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        username: get_str(item, "username"),
        password: Secret::new(get_str(item, "password")),
        url: get_str(item, "url"),
        notes: Secret::new(get_str(item, "notes")),
        fields,
        created_ms: item.created_ms,
        modified_ms: item.modified_ms(),
    }
}

pub(crate) fn summary(item: &Item) -> ItemSummary {
    ItemSummary {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        username: get_str(item, "username"),
        url: get_str(item, "url"),
        modified_ms: item.modified_ms(),
        collection: vault_items::list_collection(item),
        attributes: vault_items::attributes(item),
        kind: item
            .get(&fields::custom_field(fields::reserved::KIND))
            .map(|k| k.expose().trim().to_owned())
            .filter(|k| !k.is_empty()),
    }
}

/// Finds one live item by id or exact title.
pub(crate) fn find(replica: &Replica, key: &SecretKey, query: &str) -> Result<Item> {
    let q = query.trim();
    lookup::exact(replica, key, q)?.ok_or_else(|| lookup::not_found(replica, key, q))
}

fn changes(fields: &[FieldInput]) -> Result<Vec<(String, Option<SecretString>)>> {
    fields
        .iter()
        .map(|f| {
            let name = vault_field(&f.name)?;
            let value = f
                .value
                .as_ref()
                .map(|v| SecretString::new(v.expose().to_owned()));
            if name == "title" && value.as_ref().is_none_or(|v| v.expose().trim().is_empty()) {
                return Err(Error::Invalid("the title must not be empty".into()));
            }
            let value = match value {
                Some(v) if name == super::otp::otp_field() => Some(super::otp::normalise(&v)?),
                other => other,
            };
            Ok((name, value))
        })
        .collect()
}

/// The unlocked account and its key (counts as use for the lock timeout).
pub(crate) fn open<'c>(d: &Daemon, core: &'c mut Core) -> Result<(&'c mut Account, SecretKey)> {
    d.touch(core);
    let (account, key) = core.session.unlocked()?;
    Ok((account, key.clone()))
}

/// Saves after a change; on failure the in-memory change is rolled back
/// to `undo`, and the client gets the error.
pub(crate) fn commit(d: &Daemon, account: &mut Account, undo: UndoPoint) -> Result<()> {
    if let Err(e) = account.save() {
        account.replica.rollback(undo);
        return Err(e);
    }
    d.kick.notify_one();
    Ok(())
}

/// `add`: prints the new item's id.
pub async fn add(d: &Daemon, p: AddParams) -> Result<Value> {
    let mut fields = changes(&p.fields)?;
    if !fields.iter().any(|(n, v)| n == "title" && v.is_some()) {
        return Err(Error::Invalid("an item needs a title".into()));
    }
    let generated = match &p.generate {
        Some(g) => {
            refuse_password_with_generate(&fields)?;
            let fresh = super::generate::fresh(g, None)?;
            fields.extend(fresh.changes.into_iter().map(|(n, v)| (n, Some(v))));
            Some(fresh.generated)
        }
        None => None,
    };
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let undo = account.replica.undo_point(&[]);
    let fields = fields
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
    let id = account
        .replica
        .add(&key, fields, now_ms())
        .map_err(Error::internal)?;
    commit(d, account, undo)?;
    tracing::debug!(item = %id, "added");
    to_reply(AddReply {
        id: id.to_string(),
        generated,
    })
}

fn refuse_password_with_generate(fields: &[(String, Option<SecretString>)]) -> Result<()> {
    if fields.iter().any(|(n, _)| n == "password") {
        return Err(Error::Invalid(
            "--generate makes the password: leave out --password".into(),
        ));
    }
    Ok(())
}

/// `get`: the whole item (the CLI picks the field).
pub async fn get(d: &Daemon, p: QueryParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let item = lookup::find_or_search(&account.replica, &key, &p.query)?;
    to_reply(view(&item))
}

/// `list`: the summary of every item of the collection asked for, by title.
pub async fn list(d: &Daemon, p: ListParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let mut items: Vec<ItemSummary> = account
        .replica
        .items(&key)
        .map_err(Error::internal)?
        .iter()
        .filter(|i| vault_items::listed(i, &p))
        .map(summary)
        .collect();
    items.sort_by(|a, b| {
        a.title
            .to_lowercase()
            .cmp(&b.title.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    to_reply(items)
}

/// `edit`.
pub async fn edit(d: &Daemon, p: EditParams) -> Result<Value> {
    let mut ch = changes(&p.fields)?;
    if ch.is_empty() && p.generate.is_none() {
        return Err(Error::Invalid(
            "nothing to change: pass --title, --password, --generate, --field …".into(),
        ));
    }
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let item = find(&account.replica, &key, &p.query)?;
    let generated = match &p.generate {
        Some(g) => {
            refuse_password_with_generate(&ch)?;
            let fresh = super::generate::fresh(g, Some(&item))?;
            ch.extend(fresh.changes.into_iter().map(|(n, v)| (n, Some(v))));
            Some(fresh.generated)
        }
        None => None,
    };
    let undo = account.replica.undo_point(&[item.id]);
    account
        .replica
        .edit(&key, item.id, ch, now_ms())
        .map_err(Error::internal)?;
    commit(d, account, undo)?;
    to_reply(ItemRef {
        id: item.id.to_string(),
        title: None,
        generated,
    })
}

/// `rm`: to the vault's trash.
pub async fn remove(d: &Daemon, p: QueryParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let item = find(&account.replica, &key, &p.query)?;
    let undo = account.replica.undo_point(&[item.id]);
    account
        .replica
        .delete(&key, item.id, now_ms())
        .map_err(Error::internal)?;
    commit(d, account, undo)?;
    to_reply(ItemRef {
        id: item.id.to_string(),
        title: Some(item.title().to_owned()),
        generated: None,
    })
}

/// `history`: every earlier value, newest first.
pub async fn history(d: &Daemon, p: QueryParams) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let item = lookup::find_or_search(&account.replica, &key, &p.query)?;
    let mut entries: Vec<HistoryEntryView> = item
        .history
        .iter()
        .flat_map(|(field, list)| {
            list.iter().map(move |h| HistoryEntryView {
                field: fields::to_user(field).to_owned(),
                value: Secret::new(h.value.expose()),
                set_ms: h.stamp.wall_ms,
                device_id: h.device.to_string(),
            })
        })
        .collect();
    entries.sort_by(|a, b| b.set_ms.cmp(&a.set_ms).then(a.field.cmp(&b.field)));
    to_reply(HistoryReply {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        entries,
    })
}
