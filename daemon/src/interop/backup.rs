//! `backup` and `restore` of encrypted backups (the file format is
//! [`coffer_vault::backup`]).
//!
//! `restore` adds the backup's items the vault does not have: an item is
//! skipped when the vault has an item with its id, or one with its title,
//! username and URL (compared with the vault as it was before the restore).
//! Restored items keep their field history (replayed in stamp order); they
//! get new ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_proto::reply::{BlobReply, ImportReply};
use coffer_proto::request::RestoreParams;
use coffer_proto::Secret;
use coffer_vault::backup::{Backup, BackupError};
use coffer_vault::hlc::Hlc;
use coffer_vault::ids::DeviceId;
use coffer_vault::item::Item;
use serde_json::Value;

use super::mapping::{id_key, tuu_key, vault_keys, Changes, Plan};
use super::{add_all, open, Batch};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::handlers::{parse_account_key, secret, to_reply};
use crate::session::credentials;
use crate::store::device::b64_encode;

fn get(item: &Item, name: &str) -> String {
    item.get(name)
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

/// The versions that rebuild `item` with its history: every historical
/// value grouped by the (stamp, device) that set it, oldest first, then the
/// current fields.
pub(crate) fn item_plan(item: &Item) -> Plan {
    let mut by_stamp: BTreeMap<(Hlc, DeviceId), Changes> = BTreeMap::new();
    for (name, entries) in &item.history {
        for h in entries {
            by_stamp
                .entry((h.stamp, h.device))
                .or_default()
                .push((name.clone(), Some(h.value.clone())));
        }
    }
    let current: Changes = item
        .fields
        .iter()
        .map(|(n, f)| (n.clone(), f.value.clone()))
        .collect();
    let mut versions: Vec<Changes> = by_stamp.into_values().collect();
    versions.push(current);
    Plan { versions }
}

/// What is wrong with a file that is not a backup we can read.
fn bad(e: BackupError) -> Error {
    match e {
        BackupError::NewerFormat => Error::BadInput(e.to_string()),
        other => Error::BadInput(format!(
            "not a coffer backup: {other}; nothing was restored"
        )),
    }
}

/// `backup`: every live item, sealed under this epoch's vault key.
pub async fn backup(d: &Arc<Daemon>) -> Result<Value> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let header = account.header.clone();
    let items = account.replica.items(&key).map_err(Error::internal)?;
    drop(core);
    let out = Backup::seal(&header, &key, &items, now_ms());
    tracing::info!(items = items.len(), "backup");
    to_reply(BlobReply {
        content_base64: Secret::new(b64_encode(&out)),
        items: items.len(),
    })
}

/// `restore BACKUP`: adds the items the vault does not have.
pub async fn restore(d: &Arc<Daemon>, mut p: RestoreParams, bytes: Vec<u8>) -> Result<Value> {
    p.content_base64 = coffer_proto::Secret::default();
    let sealed = Backup::parse(&bytes).map_err(bad)?;
    drop(bytes);
    {
        // Locked or signed out: say so before the slow key derivation.
        let mut core = d.core().await;
        open(d, &mut core)?;
    }
    let ak = parse_account_key(p.account_key.expose())?;
    let pw = secret(&p.password);
    let header = sealed.header.clone();
    let vault_key = credentials::run(move || header.unlock(&pw, &ak))
        .await
        .map_err(|_| {
            Error::WrongCredentials(
                "Account Password or Account Key is wrong for this backup (it needs the ones \
                 of the account and epoch it was made in)"
                    .into(),
            )
        })?;
    let items = sealed.open(&vault_key).map_err(bad)?;
    let reply = add_items(d, &items, "restore", false).await?;
    to_reply(reply)
}

/// Adds `items` (of another vault: a backup, an older epoch's container) to
/// the vault as new items with their history, skipping those the vault has
/// (same id, or same title, username and URL, compared with the vault as it
/// was before). All or nothing; a dry run changes nothing.
pub(crate) async fn add_items(
    d: &Arc<Daemon>,
    items: &[Item],
    operation: &'static str,
    dry_run: bool,
) -> Result<ImportReply> {
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let keys = vault_keys(&account.replica.items(&key).map_err(Error::internal)?);
    let (mut plans, mut labels, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (i, it) in items.iter().enumerate() {
        let label = super::item_label(i, it.title());
        let why = if keys.contains(&id_key(&it.id.to_string())) {
            Some("the same item")
        } else if keys.contains(&tuu_key(it.title(), &get(it, "username"), &get(it, "url"))) {
            Some("same title, username and URL")
        } else {
            None
        };
        match why {
            Some(why) => skipped.push(format!("{label}: already in the vault ({why})")),
            None => {
                plans.push(item_plan(it));
                labels.push(label);
            }
        }
    }
    let added = plans.len();
    let batch = Batch {
        plans,
        labels,
        operation,
        dry_run,
    };
    add_all(d, &mut core, batch, |label, why| {
        format!("{label}: {why}; nothing was added")
    })
    .await?;
    tracing::info!(
        operation,
        read = items.len(),
        added,
        skipped = skipped.len(),
        dry_run,
        "items of another vault added"
    );
    Ok(ImportReply {
        read: items.len(),
        imported: added,
        skipped,
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::hlc::Clock;
    use coffer_vault::ids::ItemId;
    use coffer_vault::secret::SecretString;

    fn s(v: &str) -> Option<SecretString> {
        Some(SecretString::from(v))
    }

    #[test]
    fn restored_items_keep_their_history() {
        let dev = DeviceId::new_random();
        let mut clock = Clock::new();
        let mut item = Item::new(ItemId::new_random(), 1);
        item.apply(
            vec![("title".into(), s("Mail")), ("password".into(), s("one"))],
            &mut clock,
            10,
            dev,
        );
        item.apply(
            vec![("password".into(), s("two")), ("url".into(), s("u"))],
            &mut clock,
            20,
            dev,
        );
        item.apply(
            vec![("password".into(), s("three")), ("url".into(), None)],
            &mut clock,
            30,
            dev,
        );
        let plan = item_plan(&item);
        let mut copy = Item::new(ItemId::new_random(), 2);
        let mut clock2 = Clock::new();
        for v in plan.versions {
            copy.apply(v, &mut clock2, 40, dev);
        }
        let values = |i: &Item, f: &str| -> Vec<String> {
            i.history_of(f)
                .iter()
                .map(|h| h.value.expose().to_owned())
                .collect()
        };
        assert_eq!(values(&copy, "password"), ["one", "two"]);
        assert_eq!(values(&copy, "url"), ["u"]);
        assert_eq!(copy.get("password"), s("three").as_ref());
        assert!(copy.get("url").is_none());
        assert_eq!(copy.title(), "Mail");
    }
}
