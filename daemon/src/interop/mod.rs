//! Import, export, backup and restore (all through an unlocked daemon).
//!
//! - **Import** is all or nothing: the whole file is parsed first (an error
//!   names the file, the line or entry, and what is wrong), then the items
//!   are added to a copy of the vault that replaces the real one only when
//!   every item went in and the container was written. A dry run does the
//!   same work on the copy and throws it away.
//! - **Deduplication**: an item the vault already has is skipped, with the
//!   reason in the summary. Items with a source id (KeePass UUID, Bitwarden
//!   id, mSecure id, a coffer export's item id) match on it, kept in the
//!   custom field `imported-from`; items without one match on title +
//!   username + URL. Items are matched against the vault as it was before
//!   the import, so two equal rows of one file are both imported (once).
//! - **History**: a source's earlier versions are applied first, as
//!   successive edits, so they become the fields' history.
//! - **Progress**: from [`PROGRESS_MIN`] items on, an [`Event::Progress`]
//!   goes out every [`PROGRESS_EVERY`] items (and at 0 and at the end).
//! - **Export** writes Bitwarden-compatible JSON or generic CSV (plaintext:
//!   the CLI warns and writes the file 0600).
//! - **Backup / restore**: see [`backup`](self::backup).
//! - **An older epoch's container or backup** (a regretted reset): see
//!   [`old_epoch`](self::old_epoch).
//!
//! The mapping between other managers' items and vault items is in
//! `interop/mapping.rs`.

pub mod backup;
mod mapping;
pub mod old_epoch;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use coffer_interchange::{ExternalItem, Format};
use coffer_proto::reply::{BlobReply, Event, ImportReply};
use coffer_proto::request::{ExportParams, ImportParams};
use coffer_proto::Secret;
use coffer_vault::replica::{Replica, VaultError};
use coffer_vault::secret::{SecretKey, SecretString};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};
use crate::handlers::to_reply;
use crate::session::{credentials, Account, Core};
use crate::store::device::{b64_decode, b64_encode};
use mapping::{external_of, incoming_key, plan_of, vault_keys, Plan};

/// Imports and restores of fewer items send no progress events.
pub const PROGRESS_MIN: usize = 300;
/// Items between two progress events.
pub const PROGRESS_EVERY: usize = 250;

/// Sends [`Event::Progress`] for one long request.
pub(crate) struct Progress {
    daemon: Arc<Daemon>,
    operation: &'static str,
    total: usize,
}

impl Progress {
    pub(crate) fn new(daemon: Arc<Daemon>, operation: &'static str, total: usize) -> Progress {
        Progress {
            daemon,
            operation,
            total,
        }
    }

    /// Reports `done` items when it is time to.
    pub(crate) fn report(&self, done: usize) {
        if self.total >= PROGRESS_MIN && (done % PROGRESS_EVERY == 0 || done == self.total) {
            self.daemon.emit(Event::Progress {
                operation: self.operation.to_owned(),
                done,
                total: self.total,
            });
        }
    }
}

/// Adds every planned item to `work`. On failure, the index of the plan
/// that failed and why (`work` is then half done: throw it away).
pub(crate) fn apply_plans(
    work: &mut Replica,
    key: &SecretKey,
    plans: &[Plan],
    progress: &dyn Fn(usize),
) -> Result<(), (usize, VaultError)> {
    let now = now_ms();
    progress(0);
    for (i, plan) in plans.iter().enumerate() {
        let mut versions = plan.versions.iter();
        if let Some(first) = versions.next() {
            let fields: Vec<(String, SecretString)> = first
                .iter()
                .filter_map(|(n, v)| v.clone().map(|v| (n.clone(), v)))
                .collect();
            let id = work.add(key, fields, now).map_err(|e| (i, e))?;
            for v in versions {
                work.edit(key, id, v.clone(), now).map_err(|e| (i, e))?;
            }
        }
        progress(i + 1);
    }
    Ok(())
}

/// Items one request adds.
pub(crate) struct Batch {
    /// How to build each item.
    pub(crate) plans: Vec<Plan>,
    /// What to call each item in errors (`item 3 ("Mail")`).
    pub(crate) labels: Vec<String>,
    /// `import` or `restore`, for the progress events.
    pub(crate) operation: &'static str,
    /// Do the work, keep nothing.
    pub(crate) dry_run: bool,
}

/// `item 3 ("Mail")`, as summaries and errors name an item.
fn item_label(index: usize, title: &str) -> String {
    if title.trim().is_empty() {
        format!("item {} (untitled)", index + 1)
    } else {
        format!("item {} ({title:?})", index + 1)
    }
}

/// Replaces the vault with `work` and writes the container; on failure
/// the vault stays as it was.
fn commit_work(d: &Daemon, account: &mut Account, work: Replica) -> Result<()> {
    let before = std::mem::replace(&mut account.replica, work);
    if let Err(e) = account.save() {
        account.replica = before;
        return Err(e);
    }
    d.kick.notify_one();
    Ok(())
}

/// The unlocked account and a copy of its key (counts as use).
pub(crate) fn open<'c>(d: &Daemon, core: &'c mut Core) -> Result<(&'c mut Account, SecretKey)> {
    d.touch(core);
    let (account, key) = core.session.unlocked()?;
    Ok((account, key.clone()))
}

/// Adds the batch's items to a copy of the vault off the async threads,
/// then (unless it is a dry run) makes the copy the vault. `what(label,
/// why)` words the error when an item cannot be added.
pub(crate) async fn add_all(
    d: &Arc<Daemon>,
    core: &mut Core,
    batch: Batch,
    what: impl FnOnce(&str, &str) -> String,
) -> Result<()> {
    let Batch {
        plans,
        labels,
        operation,
        dry_run,
    } = batch;
    let (account, key) = open(d, core)?;
    let work = account.replica.clone();
    let progress = Progress::new(d.clone(), operation, plans.len());
    let (work, result) = credentials::run(move || {
        let mut work = work;
        let result = apply_plans(&mut work, &key, &plans, &|done| progress.report(done));
        Ok::<_, std::convert::Infallible>((work, result))
    })
    .await
    .unwrap_or_else(|never| match never {});
    if let Err((i, e)) = result {
        let label = labels.get(i).map_or("an item", String::as_str);
        return Err(Error::BadInput(what(label, &e.to_string())));
    }
    if !dry_run && !labels.is_empty() {
        let (account, _) = open(d, core)?;
        commit_work(d, account, work)?;
    }
    Ok(())
}

/// `import FORMAT FILE`: all or nothing, without duplicates.
pub async fn import(d: &Arc<Daemon>, mut p: ImportParams) -> Result<Value> {
    let format = Format::from_str(&p.format).map_err(|e| Error::Invalid(e.to_string()))?;
    let file = p.file_name.clone();
    let bytes = Zeroizing::new(
        b64_decode(p.content_base64.expose())
            .ok_or_else(|| Error::Invalid("the file content is not base64".into()))?,
    );
    p.content_base64 = coffer_proto::Secret::default();
    {
        // Locked or signed out: say so before parsing anything.
        let mut core = d.core().await;
        open(d, &mut core)?;
    }
    let parsed = credentials::run(move || coffer_interchange::parse_report(format, &bytes))
        .await
        .map_err(|e| Error::BadInput(format!("{file}: {e}; nothing was imported")))?;
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let keys = vault_keys(&account.replica.items(&key).map_err(Error::internal)?);
    let mut skipped: Vec<String> = parsed
        .dropped
        .iter()
        .map(|d| format!("{}: {}", d.location, d.reason))
        .collect();
    let mut plans = Vec::new();
    let mut labels = Vec::new();
    for (i, x) in parsed.items.iter().enumerate() {
        let incoming = incoming_key(x);
        if let Some(why) = incoming.matched(&keys) {
            skipped.push(format!(
                "{}: already in the vault ({why})",
                item_label(i, &x.title)
            ));
            continue;
        }
        plans.push(plan_of(x, incoming.source()));
        labels.push(item_label(i, &x.title));
    }
    let read = parsed.items.len();
    drop(parsed);
    let imported = plans.len();
    let started = Instant::now();
    let file = &p.file_name;
    let batch = Batch {
        plans,
        labels,
        operation: "import",
        dry_run: p.dry_run,
    };
    add_all(d, &mut core, batch, |label, why| {
        format!("{file}: {label}: {why}; nothing was imported")
    })
    .await?;
    tracing::info!(
        read,
        imported,
        skipped = skipped.len(),
        dry_run = p.dry_run,
        ms = started.elapsed().as_millis() as u64,
        "import"
    );
    to_reply(ImportReply {
        read,
        imported,
        skipped,
        dry_run: p.dry_run,
    })
}

/// `export FORMAT`: plaintext (the CLI warns and writes it 0600).
pub async fn export(d: &Daemon, p: ExportParams) -> Result<Value> {
    let format = Format::from_str(&p.format).map_err(|e| Error::Invalid(e.to_string()))?;
    if !matches!(format, Format::Bitwarden | Format::GenericCsv) {
        return Err(Error::Invalid(format!(
            "coffer exports `bitwarden` (JSON) and `csv`, not `{}`; for an encrypted copy use `coffer backup FILE`",
            format.name()
        )));
    }
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let mut vault = account.replica.items(&key).map_err(Error::internal)?;
    drop(core);
    vault.sort_by(|a, b| {
        a.title()
            .to_lowercase()
            .cmp(&b.title().to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    let items: Vec<ExternalItem> = vault.iter().map(external_of).collect();
    drop(vault);
    let bytes = match format {
        Format::Bitwarden => coffer_interchange::write_bitwarden_json(&items),
        _ => coffer_interchange::write_generic_csv(&items),
    };
    tracing::info!(items = items.len(), format = format.name(), "export");
    to_reply(BlobReply {
        content_base64: Secret::new(b64_encode(&bytes)),
        items: items.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_vault::ids::DeviceId;
    use std::cell::RefCell;

    fn plan(title: &str, extra: &str) -> Plan {
        Plan {
            versions: vec![
                vec![("title".into(), Some(SecretString::from(title)))],
                vec![(extra.into(), Some(SecretString::from("v")))],
            ],
        }
    }

    #[test]
    fn plans_apply_in_order_and_a_bad_one_is_named() {
        let key = SecretKey::generate();
        let mut work = Replica::new(uuid::Uuid::new_v4(), 1, DeviceId::new_random(), "t".into());
        let seen = RefCell::new(Vec::new());
        let plans = vec![plan("a", "password"), plan("b", "field:x")];
        apply_plans(&mut work, &key, &plans, &|d| seen.borrow_mut().push(d)).unwrap();
        assert_eq!(*seen.borrow(), [0, 1, 2]);
        let items = work.items(&key).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items
            .iter()
            .any(|i| i.title() == "b" && i.get("field:x").is_some()));

        // An invalid field name in the third plan: its index comes back.
        let plans = vec![plan("c", "url"), plan("d", "notes"), plan("e", "field:")];
        let (i, e) = apply_plans(&mut work, &key, &plans, &|_| {}).unwrap_err();
        assert_eq!(i, 2, "{e}");
    }

    #[test]
    fn labels() {
        assert_eq!(item_label(0, "Mail"), "item 1 (\"Mail\")");
        assert_eq!(item_label(4, " "), "item 5 (untitled)");
    }
}
