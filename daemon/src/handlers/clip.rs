//! `clip`: one field of an item onto the client's clipboard, which the
//! daemon owns and clears later (see [`crate::clipboard`]).

use coffer_proto::clipboard::{ClipParams, ClipReply};
use coffer_vault::item::fields::{self, is_custom, to_user};
use coffer_vault::item::Item;
use coffer_vault::secret::SecretString;
use serde_json::Value;

use super::items::open;
use super::{lookup, to_reply};
use crate::daemon::Daemon;
use crate::error::{Error, Result};

/// The value of the field a user names: a standard name in any case, else
/// a custom field (exact name first, then any case).
pub(crate) fn user_field(item: &Item, name: &str) -> Option<SecretString> {
    if let Ok(stored) = fields::from_user(name) {
        if let Some(v) = item.get(&stored) {
            return Some(v.clone());
        }
    }
    item.live_fields()
        .find(|(n, _)| is_custom(n) && to_user(n).eq_ignore_ascii_case(name.trim()))
        .map(|(_, v)| v.clone())
}

/// `clip`.
pub async fn clip(d: &Daemon, p: ClipParams) -> Result<Value> {
    let field = p.field.as_deref().unwrap_or(fields::PASSWORD).to_owned();
    let (item, value) = {
        let mut core = d.core().await;
        let (account, key) = open(d, &mut core)?;
        let item = lookup::find_or_search(&account.replica, &key, &p.query)?;
        let value = user_field(&item, &field)
            .filter(|v| !v.expose().is_empty())
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "\"{}\" has no {field} to copy; `coffer get {} --json` shows its fields",
                    item.title(),
                    item.id
                ))
            })?;
        (item, value)
    };
    crate::clipboard::copy(&p.display, &value, d.config.clipboard_clear).await?;
    to_reply(ClipReply {
        id: item.id.to_string(),
        title: item.title().to_owned(),
        field,
        clear_after_secs: d.config.clipboard_clear.as_secs(),
    })
}
