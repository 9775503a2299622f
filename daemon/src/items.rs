//! Item requests: add, get, list, edit, rm, history.
//!
//! A query is an item id or an exact title (case-insensitive); an
//! ambiguous title is an error listing the candidates. Standard fields map
//! to the vault's names; any other name is a custom field (`field:NAME` in
//! the vault).

use std::sync::Arc;

use coffer_proto::reply::{
    AddReply, FieldView, HistoryEntryView, HistoryReply, ItemSummary, ItemView,
};
use coffer_proto::request::{AddParams, EditParams, FieldInput, QueryParams};
use coffer_proto::{ErrorBody, ErrorCode, Secret};
use coffer_vault::ids::ItemId;
use coffer_vault::item::{custom_field, Item};
use coffer_vault::replica::{Replica, UndoPoint};
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::json;

use crate::daemon::{err, internal, now_ms, to_reply, Daemon, Inner, Reply};

const STANDARD: [&str; 5] = ["title", "username", "password", "url", "notes"];
const CUSTOM_PREFIX: &str = "field:";

/// The vault's name for a field the user names.
pub(crate) fn vault_field(name: &str) -> Result<String, ErrorBody> {
    let name = name.trim();
    if name.is_empty() {
        return Err(err(
            ErrorCode::InvalidParams,
            "a field name must not be empty",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if STANDARD.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let v = custom_field(name);
    if !coffer_vault::item::is_valid_field_name(&v) {
        return Err(err(
            ErrorCode::InvalidParams,
            format!("{name:?} is not a valid field name"),
        ));
    }
    Ok(v)
}

/// The user's name for a vault field.
fn user_field(name: &str) -> &str {
    name.strip_prefix(CUSTOM_PREFIX).unwrap_or(name)
}

fn get_str(item: &Item, name: &str) -> String {
    item.get(name)
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

pub(crate) fn view(item: &Item) -> ItemView {
    let fields = item
        .live_fields()
        .filter(|(n, _)| n.starts_with(CUSTOM_PREFIX))
        .map(|(n, v)| FieldView {
            name: user_field(n).to_owned(),
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

fn summary(item: &Item) -> ItemSummary {
    ItemSummary {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        username: get_str(item, "username"),
        url: get_str(item, "url"),
        modified_ms: item.modified_ms(),
    }
}

/// Finds one live item by id or exact title.
pub(crate) fn find(replica: &Replica, key: &SecretKey, query: &str) -> Result<Item, ErrorBody> {
    let q = query.trim();
    if let Ok(id) = q.parse::<ItemId>() {
        if let Some(item) = replica.get(key, id).map_err(internal)? {
            return Ok(item);
        }
    }
    let mut hits: Vec<Item> = replica.find_by_title(key, q).map_err(internal)?;
    match hits.len() {
        0 => Err(err(
            ErrorCode::NoSuchItem,
            format!("no item has the id or title {q:?}; `coffer list` shows them"),
        )),
        1 => Ok(hits.remove(0)),
        n => {
            let candidates: Vec<_> = hits
                .iter()
                .map(|i| json!({"id": i.id.to_string(), "title": i.title(), "username": get_str(i, "username")}))
                .collect();
            let mut e = err(
                ErrorCode::Ambiguous,
                format!("{n} items are titled {q:?}; name one by its id"),
            );
            e.data = Some(json!({ "candidates": candidates }));
            Err(e)
        }
    }
}

fn changes(fields: &[FieldInput]) -> Result<Vec<(String, Option<SecretString>)>, ErrorBody> {
    fields
        .iter()
        .map(|f| {
            let name = vault_field(&f.name)?;
            let value = f
                .value
                .as_ref()
                .map(|v| SecretString::new(v.expose().to_owned()));
            if name == "title" && value.as_ref().is_none_or(|v| v.expose().trim().is_empty()) {
                return Err(err(ErrorCode::InvalidParams, "the title must not be empty"));
            }
            Ok((name, value))
        })
        .collect()
}

impl Daemon {
    /// Saves after a change; on failure the in-memory change is rolled
    /// back to `undo`, and the client gets the error.
    fn commit(&self, inner: &mut Inner, undo: UndoPoint) -> Result<(), ErrorBody> {
        if let Err(e) = self.save_container(inner) {
            if let Some(r) = inner.replica.as_mut() {
                r.rollback(undo);
            }
            return Err(e);
        }
        self.kick.notify_one();
        Ok(())
    }

    pub(crate) async fn add(self: &Arc<Self>, p: AddParams) -> Reply {
        let fields = changes(&p.fields)?;
        if !fields.iter().any(|(n, v)| n == "title" && v.is_some()) {
            return Err(err(ErrorCode::InvalidParams, "an item needs a title"));
        }
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let undo = replica.undo_point(&[]);
        let fields = fields
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .collect();
        let id = replica.add(&key, fields, now_ms()).map_err(internal)?;
        self.commit(&mut inner, undo)?;
        tracing::debug!(item = %id, "added");
        to_reply(AddReply { id: id.to_string() })
    }

    pub(crate) async fn get(self: &Arc<Self>, p: QueryParams) -> Reply {
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let item = find(replica, &key, &p.query)?;
        to_reply(view(&item))
    }

    pub(crate) async fn list(self: &Arc<Self>) -> Reply {
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let mut items: Vec<ItemSummary> = replica
            .items(&key)
            .map_err(internal)?
            .iter()
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

    pub(crate) async fn edit(self: &Arc<Self>, p: EditParams) -> Reply {
        let ch = changes(&p.fields)?;
        if ch.is_empty() {
            return Err(err(
                ErrorCode::InvalidParams,
                "nothing to change: pass --title, --password, --field …",
            ));
        }
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let item = find(replica, &key, &p.query)?;
        let undo = replica.undo_point(&[item.id]);
        replica
            .edit(&key, item.id, ch, now_ms())
            .map_err(internal)?;
        self.commit(&mut inner, undo)?;
        Ok(json!({"id": item.id.to_string()}))
    }

    pub(crate) async fn remove(self: &Arc<Self>, p: QueryParams) -> Reply {
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let item = find(replica, &key, &p.query)?;
        let undo = replica.undo_point(&[item.id]);
        replica.delete(&key, item.id, now_ms()).map_err(internal)?;
        self.commit(&mut inner, undo)?;
        Ok(json!({"id": item.id.to_string(), "title": item.title()}))
    }

    pub(crate) async fn history(self: &Arc<Self>, p: QueryParams) -> Reply {
        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let item = find(replica, &key, &p.query)?;
        let mut entries: Vec<HistoryEntryView> = item
            .history
            .iter()
            .flat_map(|(field, list)| {
                list.iter().map(move |h| HistoryEntryView {
                    field: user_field(field).to_owned(),
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
}
