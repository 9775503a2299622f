//! `coffer import coffer-container FILE`: a regretted reset loses nothing.
//!
//! FILE is a container a reset moved to the trash (`COFFER-CONTAINER`), or
//! an encrypted backup (`COFFER-BACKUP`), of any epoch of this account (an
//! older one after a reset, or the current one). Its embedded account header
//! must open with that epoch's Account Password and Account Key, given with
//! the request; then every record version is checked under its vault key,
//! and its live items are added to the CURRENT vault as new items with their
//! history, skipping those the vault has, exactly as `restore` does. Without
//! the right secrets nothing is read and nothing changes.

use std::sync::Arc;

use coffer_proto::request::ImportContainerParams;
use coffer_vault::backup::Backup;
use coffer_vault::format::Container;
use serde_json::Value;
use zeroize::Zeroizing;

use super::backup::add_items;
use super::open;
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::handlers::{parse_account_key, secret, to_reply};
use crate::session::credentials;
use crate::store::device::b64_decode;

/// `import_container`.
pub async fn import_container(d: &Arc<Daemon>, mut p: ImportContainerParams) -> Result<Value> {
    let file = p.file_name.clone();
    let bytes = Zeroizing::new(
        b64_decode(p.content_base64.expose())
            .ok_or_else(|| Error::Invalid("the file content is not base64".into()))?,
    );
    p.content_base64 = coffer_proto::Secret::default();
    let account_id = {
        // Locked or signed out: say so before anything slow.
        let mut core = d.core().await;
        let (account, _) = open(d, &mut core)?;
        account.header.account_id
    };
    let ak = parse_account_key(p.account_key.expose())?;
    let pw = secret(&p.password);
    let nothing = "; nothing was imported";
    let items = if bytes.starts_with(b"COFFER-CONTAINER ") {
        let container = Container::from_bytes(&bytes).map_err(|e| {
            Error::BadInput(format!("{file}: not a readable container: {e}{nothing}"))
        })?;
        let (header, mut replica) = container.into_replica();
        check_account(&file, header.account_id, account_id)?;
        let epoch = header.epoch;
        let key = credentials::run(move || header.unlock(&pw, &ak))
            .await
            .map_err(|e| wrong(&file, epoch, e))?;
        let rejected = replica.verify_and_compact(&key);
        if !rejected.is_empty() {
            tracing::warn!(
                count = rejected.len(),
                "record versions of the imported container do not open; left out"
            );
        }
        replica
            .items(&key)
            .map_err(|e| Error::BadInput(format!("{file}: {e}{nothing}")))?
    } else if bytes.starts_with(b"COFFER-BACKUP ") {
        let sealed = Backup::parse(&bytes)
            .map_err(|e| Error::BadInput(format!("{file}: not a readable backup: {e}{nothing}")))?;
        check_account(&file, sealed.header.account_id, account_id)?;
        let header = sealed.header.clone();
        let epoch = header.epoch;
        let key = credentials::run(move || header.unlock(&pw, &ak))
            .await
            .map_err(|e| wrong(&file, epoch, e))?;
        sealed
            .open(&key)
            .map_err(|e| Error::BadInput(format!("{file}: {e}{nothing}")))?
    } else {
        return Err(Error::BadInput(format!(
            "{file}: neither a coffer container nor a coffer backup{nothing}"
        )));
    };
    let reply = add_items(d, &items, "import", p.dry_run).await?;
    to_reply(reply)
}

fn check_account(file: &str, theirs: uuid::Uuid, ours: uuid::Uuid) -> Result<()> {
    if theirs == ours {
        return Ok(());
    }
    Err(Error::BadInput(format!(
        "{file} belongs to another account ({theirs}); nothing was imported"
    )))
}

fn wrong(file: &str, epoch: u64, e: coffer_vault::account::AccountError) -> Error {
    match e {
        coffer_vault::account::AccountError::WrongCredentials => Error::WrongCredentials(format!(
            "the Account Password or Account Key is wrong for {file}: it needs the ones of \
             epoch {epoch}, the account as it was before the reset; nothing was imported"
        )),
        other => Error::BadInput(format!("{file}: {other}; nothing was imported")),
    }
}
