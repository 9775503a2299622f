//! Encrypted backups: `backup` writes one, `restore` brings its items back.
//!
//! Format: `COFFER-BACKUP 1\n`, then JSON `{"account": HEADER, "items":
//! BASE64, "created_ms": N}`. `HEADER` is the account header of the epoch
//! the backup was made in (it wraps that epoch's vault key under the
//! Account Password and Account Key); `items` is every live item (fields
//! and history) as JSON, sealed with XChaCha20-Poly1305 under a subkey of
//! that vault key, bound to the account id and epoch. Opening it needs that
//! epoch's Account Password and Account Key, so it also works after a reset
//! and on another account.
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
use coffer_proto::{ErrorBody, ErrorCode, Secret};
use coffer_vault::account::AccountHeader;
use coffer_vault::aead;
use coffer_vault::hlc::Hlc;
use coffer_vault::ids::DeviceId;
use coffer_vault::item::Item;
use coffer_vault::secret::SecretString;
use serde_json::json;
use zeroize::Zeroizing;

use super::mapping::{id_key, tuu_key, vault_keys, Changes, Plan};
use super::Batch;
use crate::daemon::{blocking, err, internal, now_ms, Daemon, Reply};
use crate::device::{b64_decode, b64_encode};

/// The first line of every backup, with its format version.
pub const BACKUP_MAGIC: &str = "COFFER-BACKUP 1\n";
const BACKUP_PURPOSE: &[u8] = b"coffer backup v1";

fn backup_ad(header: &AccountHeader) -> Vec<u8> {
    format!("coffer backup v1|{}|{}", header.account_id, header.epoch).into_bytes()
}

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
fn bad(why: impl std::fmt::Display) -> ErrorBody {
    err(
        ErrorCode::BadInput,
        format!("not a coffer backup: {why}; nothing was restored"),
    )
}

/// A parsed backup, not yet opened.
struct Sealed {
    header: AccountHeader,
    items: Vec<u8>,
}

fn parse_backup(bytes: &[u8]) -> Result<Sealed, ErrorBody> {
    let body = bytes.strip_prefix(BACKUP_MAGIC.as_bytes()).ok_or_else(|| {
        if bytes.starts_with(b"COFFER-BACKUP ") {
            err(
                ErrorCode::BadInput,
                "this backup is in a newer format than this coffer reads; update coffer",
            )
        } else {
            bad("it does not start with `COFFER-BACKUP 1`")
        }
    })?;
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        bad(format_args!(
            "line {}, column {}: not valid JSON",
            e.line() + 1,
            e.column()
        ))
    })?;
    let header_json = serde_json::to_vec(&v["account"]).map_err(internal)?;
    let header = AccountHeader::from_json(&header_json)
        .map_err(|e| bad(format_args!("its account header: {e}")))?;
    let items = v["items"]
        .as_str()
        .and_then(b64_decode)
        .ok_or_else(|| bad("it has no sealed items"))?;
    Ok(Sealed { header, items })
}

impl Daemon {
    pub(crate) async fn backup(self: &Arc<Self>) -> Reply {
        let mut inner = self.inner.lock().await;
        let (_, header, key) = self.unlocked(&mut inner)?;
        let replica = inner
            .replica
            .as_ref()
            .ok_or_else(|| internal("no replica"))?;
        let items = replica.items(&key).map_err(internal)?;
        drop(inner);
        let mut plain = Zeroizing::new(Vec::with_capacity(items.len() * 512 + 2));
        plain.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                plain.push(b',');
            }
            plain.extend_from_slice(&item.to_json());
        }
        plain.push(b']');
        let sealed = aead::seal(
            &aead::subkey(&key, BACKUP_PURPOSE),
            &backup_ad(&header),
            &plain,
        );
        let header_json: serde_json::Value =
            serde_json::from_slice(&header.to_json()).map_err(internal)?;
        let body =
            json!({ "account": header_json, "items": b64_encode(&sealed), "created_ms": now_ms() });
        let mut out = BACKUP_MAGIC.as_bytes().to_vec();
        out.extend_from_slice(&serde_json::to_vec(&body).map_err(internal)?);
        tracing::info!(items = items.len(), "backup");
        serde_json::to_value(BlobReply {
            content_base64: Secret::new(b64_encode(&out)),
            items: items.len(),
        })
        .map_err(internal)
    }

    pub(crate) async fn restore(self: &Arc<Self>, mut p: RestoreParams) -> Reply {
        let bytes = b64_decode(p.content_base64.expose())
            .ok_or_else(|| err(ErrorCode::InvalidParams, "the backup content is not base64"))?;
        p.content_base64 = coffer_proto::Secret::default();
        let sealed = parse_backup(&bytes)?;
        {
            // Locked or signed out: say so before the slow key derivation.
            let mut inner = self.inner.lock().await;
            self.unlocked(&mut inner)?;
        }
        let ak = crate::daemon::parse_account_key(p.account_key.expose())?;
        let pw = SecretString::new(p.password.expose().to_owned());
        let header = sealed.header.clone();
        let vault_key = blocking(move || header.unlock(&pw, &ak))
            .await
            .map_err(|_| {
                err(
                    ErrorCode::WrongCredentials,
                    "Account Password or Account Key is wrong for this backup (it needs the ones \
                 of the account and epoch it was made in)",
                )
            })?;
        let plain = aead::open(
            &aead::subkey(&vault_key, BACKUP_PURPOSE),
            &backup_ad(&sealed.header),
            &sealed.items,
        )
        .map_err(|_| bad("its items do not open (the file was changed)"))?;
        // serde's messages may quote values: say only where.
        let mut items: Vec<Item> = serde_json::from_slice(&plain).map_err(|e| {
            bad(format_args!(
                "its items do not read (line {}, column {} of the sealed list)",
                e.line(),
                e.column()
            ))
        })?;
        drop(plain);
        for item in &mut items {
            item.normalize();
        }

        let mut inner = self.inner.lock().await;
        let (replica, key) = self.open_vault(&mut inner)?;
        let keys = vault_keys(&replica.items(&key).map_err(internal)?);
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
        let restored = plans.len();
        let batch = Batch {
            plans,
            labels,
            operation: "restore",
            dry_run: false,
        };
        self.add_all(&mut inner, key, batch, |label, why| {
            format!("{label}: {why}; nothing was restored")
        })
        .await?;
        tracing::info!(
            read = items.len(),
            restored,
            skipped = skipped.len(),
            "restore"
        );
        serde_json::to_value(ImportReply {
            read: items.len(),
            imported: restored,
            skipped,
            dry_run: false,
        })
        .map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::hlc::Clock;
    use coffer_vault::ids::ItemId;

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

    #[test]
    fn unreadable_backups_say_why() {
        let e = parse_backup(b"hello")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("COFFER-BACKUP"), "{e}");
        let e = parse_backup(b"COFFER-BACKUP 2\n{}")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("newer format"), "{e}");
        let e = parse_backup(b"COFFER-BACKUP 1\n{\"account\":")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("line 2, column"), "{e}");
    }
}
