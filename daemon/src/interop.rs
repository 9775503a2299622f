//! Import, export, backup and restore (all through an unlocked daemon).
//!
//! - **Import** is all or nothing: the whole file is parsed first, then the
//!   items are added to a copy of the vault that replaces the real one only
//!   when every item went in, and only then is the container written.
//!   Re-importing a file adds nothing twice: an item whose source id (or,
//!   without one, title + username + URL) is already in the vault is
//!   skipped, with the reason in the summary. The source key is kept in a
//!   custom field `imported-from`. Source history becomes field history (the
//!   old versions are applied in order, then the current one).
//! - **Export** writes Bitwarden-compatible JSON or generic CSV (plaintext:
//!   the CLI warns and writes the file 0600).
//! - **Backup** is `COFFER-BACKUP 1\n` + JSON: the account header of the
//!   epoch it was made in (which wraps that epoch's vault key under the
//!   Account Password and Account Key) and every live item sealed under a
//!   subkey of that vault key, bound to account and epoch. Opening it needs
//!   that epoch's Account Password and Account Key; `restore` adds the
//!   backup's items that the vault does not already have (same title,
//!   username and URL), so it also brings data back after a reset.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use coffer_interchange::{dedup_key, CustomField, ExternalItem, Format};
use coffer_proto::reply::{BlobReply, ImportReply};
use coffer_proto::request::{ExportParams, ImportParams, RestoreParams};
use coffer_proto::{ErrorCode, Secret};
use coffer_vault::account::AccountHeader;
use coffer_vault::aead;
use coffer_vault::item::Item;
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::json;

use crate::daemon::{blocking, err, internal, now_ms, Daemon, Reply};
use crate::device::{b64_decode, b64_encode};

const SOURCE_FIELD: &str = "imported-from";
const BACKUP_MAGIC: &str = "COFFER-BACKUP 1\n";

fn key_of(title: &str, username: &str, url: &str) -> String {
    format!(
        "tuu:{}\u{1f}{}\u{1f}{}",
        title.trim().to_lowercase(),
        username.trim().to_lowercase(),
        url.trim().to_lowercase()
    )
}

fn field(item: &Item, name: &str) -> String {
    item.get(name).map(|s| s.expose().to_owned()).unwrap_or_default()
}

/// The dedup keys of the vault's items: their recorded source, and their
/// title + username + URL.
fn existing_keys(items: &[Item]) -> HashSet<String> {
    let mut keys = HashSet::new();
    for i in items {
        if let Some(src) = i.get(&coffer_vault::item::custom_field(SOURCE_FIELD)) {
            keys.insert(src.expose().to_owned());
        }
        keys.insert(key_of(i.title(), &field(i, "username"), &field(i, "url")));
    }
    keys
}

fn s(v: &str) -> Option<SecretString> {
    Some(SecretString::new(v.to_owned()))
}

/// The vault fields of an external item (custom names made unique).
fn to_fields(x: &ExternalItem, source: Option<&str>) -> Vec<(String, Option<SecretString>)> {
    let title = if x.title.trim().is_empty() { "(untitled)" } else { x.title.as_str() };
    let mut out = vec![
        ("title".to_owned(), s(title)),
        ("username".to_owned(), s(&x.username)),
        ("password".to_owned(), s(&x.password)),
        ("url".to_owned(), s(&x.url)),
        ("notes".to_owned(), s(&x.notes)),
    ];
    let mut used: HashSet<String> = HashSet::new();
    let mut custom = |name: &str, value: &str, out: &mut Vec<(String, Option<SecretString>)>| {
        let base = if name.trim().is_empty() { "field" } else { name.trim() };
        let mut n = base.to_owned();
        let mut k = 2;
        while !used.insert(n.to_lowercase()) || ["title", "username", "password", "url", "notes"].contains(&n.to_lowercase().as_str()) {
            n = format!("{base} ({k})");
            k += 1;
        }
        out.push((coffer_vault::item::custom_field(&n), s(value)));
    };
    for (i, u) in x.urls.iter().enumerate() {
        custom(&format!("url {}", i + 2), u, &mut out);
    }
    if !x.tags.is_empty() {
        custom("tags", &x.tags.join(", "), &mut out);
    }
    for CustomField { name, value, .. } in &x.fields {
        custom(name, value, &mut out);
    }
    if let Some(src) = source {
        custom(SOURCE_FIELD, src, &mut out);
    }
    out.retain(|(n, v)| !n.starts_with("field:") || v.as_ref().is_some_and(|v| !v.is_empty()) || n.ends_with(SOURCE_FIELD));
    out
}

/// Adds one external item (its history first, so it lands in field history).
fn add_external(replica: &mut Replica, key: &SecretKey, x: &ExternalItem, source: Option<&str>) -> Result<(), String> {
    let now = now_ms();
    let current = to_fields(x, source);
    let mut versions: Vec<Vec<(String, Option<SecretString>)>> = Vec::new();
    for h in &x.history {
        let mut v = Vec::new();
        for (name, val) in [("title", &h.title), ("username", &h.username), ("password", &h.password), ("url", &h.url), ("notes", &h.notes)] {
            if let Some(val) = val {
                if name != "title" || !val.trim().is_empty() {
                    v.push((name.to_owned(), s(val)));
                }
            }
        }
        if !v.is_empty() {
            versions.push(v);
        }
    }
    let mut first = versions.first().cloned().unwrap_or_else(|| current.clone());
    if !first.iter().any(|(n, _)| n == "title") {
        first.push(("title".to_owned(), current[0].1.clone()));
    }
    let add: Vec<(String, SecretString)> = first.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))).collect();
    let id = replica.add(key, add, now).map_err(|e| e.to_string())?;
    for v in versions.into_iter().skip(1).chain(std::iter::once(current)) {
        replica.edit(key, id, v, now).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn to_external(item: &Item) -> ExternalItem {
    let mut x = ExternalItem::default();
    x.source_id = Some(item.id.to_string());
    x.title = item.title().to_owned();
    x.username = field(item, "username");
    x.password = field(item, "password");
    x.url = field(item, "url");
    x.notes = field(item, "notes");
    for (name, value) in item.live_fields() {
        if let Some(n) = name.strip_prefix(coffer_vault::item::CUSTOM_PREFIX) {
            if n != SOURCE_FIELD {
                x.fields.push(CustomField { name: n.to_owned(), value: value.expose().to_owned(), hidden: true });
            }
        }
    }
    x
}

fn backup_ad(header: &AccountHeader) -> Vec<u8> {
    format!("coffer backup v1|{}|{}", header.account_id, header.epoch).into_bytes()
}

impl Daemon {
    pub(crate) async fn import(self: &Arc<Self>, p: ImportParams) -> Reply {
        let format = Format::from_str(&p.format).map_err(|e| err(ErrorCode::InvalidParams, e.to_string()))?;
        let bytes = b64_decode(&p.content_base64)
            .ok_or_else(|| err(ErrorCode::InvalidParams, "the file content is not base64"))?;
        let parsed = blocking(move || coffer_interchange::parse_report(format, &bytes))
            .await
            .map_err(|e| err(ErrorCode::BadInput, format!("{}: {e}; nothing was imported", p.file_name)))?;
        let mut inner = self.inner.lock().await;
        let (_, _, key) = self.unlocked(&mut inner)?;
        let replica = inner.replica.as_ref().ok_or_else(|| internal("no replica"))?;
        let mut keys = existing_keys(&replica.items(&key).map_err(internal)?);
        let mut work = replica.clone();
        let mut skipped: Vec<String> = parsed.dropped.iter().map(|d| format!("{}: {}", d.location, d.reason)).collect();
        let mut imported = 0;
        for (i, x) in parsed.items.iter().enumerate() {
            let k = dedup_key(x);
            let tuu = key_of(&x.title, &x.username, &x.url);
            if keys.contains(&k) || keys.contains(&tuu) {
                skipped.push(format!("item {} ({:?}): already in the vault", i + 1, x.title));
                continue;
            }
            let source = (!k.starts_with("tuu:")).then_some(k.as_str());
            add_external(&mut work, &key, x, source)
                .map_err(|e| err(ErrorCode::BadInput, format!("{}: item {} ({:?}): {e}; nothing was imported", p.file_name, i + 1, x.title)))?;
            keys.insert(k);
            keys.insert(tuu);
            imported += 1;
        }
        if !p.dry_run && imported > 0 {
            let before = inner.replica.replace(work).ok_or_else(|| internal("no replica"))?;
            if let Err(e) = self.save_container(&inner) {
                inner.replica = Some(before);
                return Err(e);
            }
            self.kick.notify_one();
        }
        tracing::info!(imported, skipped = skipped.len(), dry_run = p.dry_run, "import");
        Ok(serde_json::to_value(ImportReply { read: parsed.items.len(), imported, skipped, dry_run: p.dry_run })
            .map_err(internal)?)
    }

    pub(crate) async fn export(self: &Arc<Self>, p: ExportParams) -> Reply {
        let format = Format::from_str(&p.format).map_err(|e| err(ErrorCode::InvalidParams, e.to_string()))?;
        let mut inner = self.inner.lock().await;
        let (_, _, key) = self.unlocked(&mut inner)?;
        let replica = inner.replica.as_ref().ok_or_else(|| internal("no replica"))?;
        let items: Vec<ExternalItem> = replica.items(&key).map_err(internal)?.iter().map(to_external).collect();
        let bytes = match format {
            Format::Bitwarden => coffer_interchange::write_bitwarden_json(&items),
            Format::GenericCsv => coffer_interchange::write_generic_csv(&items),
            _ => {
                return Err(err(
                    ErrorCode::InvalidParams,
                    "coffer exports `bitwarden` (JSON) and `csv`; for an encrypted copy use `coffer backup FILE`",
                ))
            }
        };
        Ok(serde_json::to_value(BlobReply { content_base64: Secret::new(b64_encode(&bytes)), items: items.len() })
            .map_err(internal)?)
    }

    pub(crate) async fn backup(self: &Arc<Self>) -> Reply {
        let mut inner = self.inner.lock().await;
        let (_, header, key) = self.unlocked(&mut inner)?;
        let replica = inner.replica.as_ref().ok_or_else(|| internal("no replica"))?;
        let items = replica.items(&key).map_err(internal)?;
        let plain: Vec<serde_json::Value> = items
            .iter()
            .map(|i| serde_json::from_slice(&i.to_json()).map_err(internal))
            .collect::<Result<_, _>>()?;
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&plain).map_err(internal)?);
        let sealed = aead::seal(&aead::subkey(&key, b"coffer backup v1"), &backup_ad(&header), &plain);
        let header_json: serde_json::Value = serde_json::from_slice(&header.to_json()).map_err(internal)?;
        let body = json!({ "account": header_json, "items": b64_encode(&sealed), "created_ms": now_ms() });
        let mut out = BACKUP_MAGIC.as_bytes().to_vec();
        out.extend_from_slice(&serde_json::to_vec(&body).map_err(internal)?);
        Ok(serde_json::to_value(BlobReply { content_base64: Secret::new(b64_encode(&out)), items: items.len() })
            .map_err(internal)?)
    }

    pub(crate) async fn restore(self: &Arc<Self>, p: RestoreParams) -> Reply {
        let bad = |m: &str| err(ErrorCode::BadInput, format!("not a coffer backup: {m}"));
        let bytes = b64_decode(&p.content_base64).ok_or_else(|| err(ErrorCode::InvalidParams, "content is not base64"))?;
        let body = bytes.strip_prefix(BACKUP_MAGIC.as_bytes()).ok_or_else(|| {
            if bytes.starts_with(b"COFFER-BACKUP ") {
                err(ErrorCode::BadInput, "this backup is a newer format version than this coffer knows; update coffer")
            } else {
                bad("it does not start with COFFER-BACKUP")
            }
        })?;
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
        let header = AccountHeader::from_json(&serde_json::to_vec(&v["account"]).map_err(internal)?)
            .map_err(|e| bad(&e.to_string()))?;
        let sealed = v["items"].as_str().and_then(b64_decode).ok_or_else(|| bad("no items"))?;
        let ak = crate::daemon::parse_account_key(p.account_key.expose())?;
        let pw = SecretString::new(p.password.expose().to_owned());
        let h = header.clone();
        let vault_key = blocking(move || h.unlock(&pw, &ak))
            .await
            .map_err(|_| err(ErrorCode::WrongCredentials, "Account Password or Account Key is wrong for this backup"))?;
        let plain = aead::open(&aead::subkey(&vault_key, b"coffer backup v1"), &backup_ad(&header), &sealed)
            .map_err(|_| bad("its items do not open (tampered)"))?;
        let list: Vec<serde_json::Value> = serde_json::from_slice(&plain).map_err(|e| bad(&e.to_string()))?;
        let mut items = Vec::new();
        for v in list {
            let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&v).map_err(internal)?);
            items.push(Item::from_json(&bytes).map_err(|e| bad(&e.to_string()))?);
        }
        let mut inner = self.inner.lock().await;
        let (_, _, key) = self.unlocked(&mut inner)?;
        let replica = inner.replica.as_ref().ok_or_else(|| internal("no replica"))?;
        let mut keys = existing_keys(&replica.items(&key).map_err(internal)?);
        let mut work = replica.clone();
        let (mut restored, mut skipped) = (0, Vec::new());
        for it in &items {
            let k = key_of(it.title(), &field(it, "username"), &field(it, "url"));
            if !keys.insert(k) {
                skipped.push(format!("{:?}: already in the vault", it.title()));
                continue;
            }
            let fields: Vec<(String, SecretString)> =
                it.live_fields().map(|(n, v)| (n.to_owned(), v.clone())).collect();
            work.add(&key, fields, now_ms()).map_err(internal)?;
            restored += 1;
        }
        if restored > 0 {
            let before = inner.replica.replace(work).ok_or_else(|| internal("no replica"))?;
            if let Err(e) = self.save_container(&inner) {
                inner.replica = Some(before);
                return Err(e);
            }
            self.kick.notify_one();
        }
        Ok(serde_json::to_value(ImportReply { read: items.len(), imported: restored, skipped, dry_run: false })
            .map_err(internal)?)
    }
}
