//! `import`, `export`, `backup`, `restore`: files in and out, sent to and
//! from the daemon as base64.

use std::path::Path;

use base64::Engine as _;
use coffer_proto::reply::{BlobReply, ImportReply};
use coffer_proto::request::{ExportParams, ImportParams, NoParams, RestoreParams};
use coffer_proto::{Request, Secret, MAX_LINE};
use coffer_vault::account_key::AccountKey;
use zeroize::Zeroizing;

use super::{emit_bytes, emit_json, line, message_or, Ctx};
use crate::cli::{BackupArgs, ExportArgs, ImportArgs, RestoreArgs};
use crate::client::decode;
use crate::error::CliError;
use crate::files::write_private;
use crate::secrets;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Room left in a request line for everything but the file's base64.
const ENVELOPE_ROOM: usize = 64 * 1024;

/// Reads a file to send and encodes it, refusing one too large for a
/// request line before reading it all.
fn read_base64(path: &Path) -> Result<Secret, CliError> {
    let limit = (MAX_LINE - ENVELOPE_ROOM) / 4 * 3;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    if meta.len() > limit as u64 {
        return Err(CliError::Failed(format!(
            "{} is {} bytes; coffer takes files of at most {} MiB",
            path.display(),
            meta.len(),
            limit / (1024 * 1024)
        )));
    }
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?,
    );
    Ok(Secret::new(B64.encode(&bytes[..])))
}

fn decode_blob(what: &str, b: &BlobReply) -> Result<Zeroizing<Vec<u8>>, CliError> {
    B64.decode(b.content_base64.expose())
        .map(Zeroizing::new)
        .map_err(|e| CliError::Failed(format!("cofferd sent a {what} that is not base64: {e}")))
}

fn import_summary(r: &ImportReply, source: &str) -> String {
    let mut s = if r.dry_run {
        format!(
            "Dry run: {} item(s) read from {source}; {} would be imported. Nothing was changed.",
            r.read, r.imported
        )
    } else {
        format!(
            "{} item(s) read from {source}; {} imported.",
            r.read, r.imported
        )
    };
    if !r.skipped.is_empty() {
        s.push_str(&format!("\nSkipped {}:", r.skipped.len()));
        for why in &r.skipped {
            s.push_str(&format!("\n  {why}"));
        }
    }
    s
}

pub fn import(ctx: &mut Ctx, a: ImportArgs) -> Result<(), CliError> {
    let content = read_base64(&a.file)?;
    let file_name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| a.file.display().to_string());
    let value = ctx.client()?.call(Request::Import(ImportParams {
        format: a.format,
        file_name: file_name.clone(),
        content_base64: content.expose().to_string(),
        dry_run: a.dry_run,
    }))?;
    drop(content);
    if a.json {
        return emit_json(&value);
    }
    let r: ImportReply = decode("import", value)?;
    line(&import_summary(&r, &file_name))
}

pub fn export(ctx: &mut Ctx, a: ExportArgs) -> Result<(), CliError> {
    let value = ctx.client()?.call(Request::Export(ExportParams {
        format: a.format.clone(),
    }))?;
    let blob: BlobReply = decode("export", value)?;
    let bytes = decode_blob("export", &blob)?;
    match &a.file {
        Some(path) => {
            write_private(path, &bytes)?;
            eprintln!(
                "coffer: warning: {} is NOT encrypted: it holds every password in plain text. \
                 Delete it as soon as you are done with it.",
                path.display()
            );
            line(&format!(
                "Exported {} item(s) to {} ({}).",
                blob.items,
                path.display(),
                a.format
            ))
        }
        None => {
            eprintln!(
                "coffer: warning: this export is NOT encrypted: it holds every password in plain text."
            );
            emit_bytes(&bytes)
        }
    }
}

pub fn backup(ctx: &mut Ctx, a: BackupArgs) -> Result<(), CliError> {
    let value = ctx.client()?.call(Request::Backup(NoParams {}))?;
    let blob: BlobReply = decode("backup", value)?;
    let bytes = decode_blob("backup", &blob)?;
    match &a.file {
        Some(path) => {
            write_private(path, &bytes)?;
            line(&format!(
                "Wrote an encrypted backup of {} item(s) to {}. Restoring it needs the current \
                 Account Password and Account Key.",
                blob.items,
                path.display()
            ))
        }
        None => emit_bytes(&bytes),
    }
}

pub fn restore(ctx: &mut Ctx, a: RestoreArgs) -> Result<(), CliError> {
    let content = read_base64(&a.file)?;
    let text = ctx.secrets().get(secrets::ACCOUNT_KEY)?;
    let key = AccountKey::parse(text.expose()).map_err(CliError::BadAccountKey)?;
    let account_key = Secret::new(key.to_text().expose());
    let password = ctx.secrets().get(secrets::PASSWORD)?;
    let value = ctx.client()?.call(Request::Restore(RestoreParams {
        content_base64: content.expose().to_string(),
        password,
        account_key,
    }))?;
    if a.json {
        return emit_json(&value);
    }
    let source = a.file.display().to_string();
    match decode::<ImportReply>("restore", value.clone()) {
        Ok(r) => line(&import_summary(&r, &source)),
        Err(_) => line(&message_or(&value, &format!("Restored {source}."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let r = ImportReply {
            read: 3,
            imported: 2,
            skipped: vec!["row 3: no title".into()],
            dry_run: true,
        };
        let s = import_summary(&r, "x.csv");
        assert!(
            s.starts_with("Dry run: 3 item(s) read from x.csv; 2 would be imported."),
            "{s}"
        );
        assert!(s.contains("Skipped 1:\n  row 3: no title"), "{s}");
    }

    #[test]
    fn files_round_trip_through_base64() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(&p, b"a,b\n\xff").unwrap();
        let enc = read_base64(&p).unwrap();
        let blob = BlobReply {
            content_base64: enc,
            items: 1,
        };
        assert_eq!(&decode_blob("export", &blob).unwrap()[..], b"a,b\n\xff");
        assert!(read_base64(&dir.path().join("missing")).is_err());
    }
}
