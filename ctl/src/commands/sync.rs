//! `sync now`, `sync add DIR`, `sync remove DIR`, `sync list`.

use coffer_proto::reply::{SyncFolderInfo, SyncReport};
use coffer_proto::request::{NoParams, PathParams};
use coffer_proto::Request;

use super::{emit, emit_json, line, say, show, Ctx};
use crate::cli::SyncCommand;
use crate::client::decode;
use crate::error::CliError;
use crate::files::absolute;
use crate::output;

pub fn run(ctx: &mut Ctx, cmd: SyncCommand) -> Result<(), CliError> {
    match cmd {
        SyncCommand::Now(a) => {
            let request = Request::SyncNow(NoParams {});
            show(ctx, request, a.json, |r: SyncReport| {
                line(&synced(&r))?;
                emit(&output::sync_folders(&r.folders))
            })
        }
        SyncCommand::Add(d) => {
            let path = absolute(&d.dir)?;
            let done = format!("Syncing through {} from now on.", path.display());
            say(ctx, Request::SyncAdd(PathParams { path }), false, &done)
        }
        SyncCommand::Remove(d) => {
            let path = absolute(&d.dir)?;
            let done = format!("No longer syncing through {}.", path.display());
            say(ctx, Request::SyncRemove(PathParams { path }), false, &done)
        }
        SyncCommand::List(a) => {
            let value = folders_of(ctx.client()?.call(Request::SyncList(NoParams {}))?);
            if a.json {
                return emit_json(&value);
            }
            let folders: Vec<SyncFolderInfo> = decode("sync_list", value)?;
            if folders.is_empty() {
                return line("No sync folders. Add one with `coffer sync add DIR`.");
            }
            emit(&output::sync_folders(&folders))
        }
    }
}

/// The summary line of a sync round.
fn synced(r: &SyncReport) -> String {
    let stale = match r.stale_files_retired {
        0 => String::new(),
        n => format!(", {n} stale file(s) of an earlier epoch moved to the trash"),
    };
    format!(
        "Synced: {} device file(s) merged, {} new version(s), {} conflict cop{} merged and removed{stale}.",
        r.merged_files,
        r.new_versions,
        r.conflict_copies_removed,
        if r.conflict_copies_removed == 1 { "y" } else { "ies" }
    )
}

/// The folders of a `sync_list` result: an array, or an object with
/// `folders`.
fn folders_of(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut o) if o.contains_key("folders") => {
            o.remove("folders").unwrap_or_default()
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_stale_files_moved_to_the_trash_only_when_there_were_some() {
        let mut r = SyncReport {
            merged_files: 1,
            conflict_copies_removed: 1,
            ..SyncReport::default()
        };
        assert_eq!(
            synced(&r),
            "Synced: 1 device file(s) merged, 0 new version(s), 1 conflict copy merged and removed."
        );
        r.stale_files_retired = 1;
        assert!(
            synced(&r)
                .ends_with("removed, 1 stale file(s) of an earlier epoch moved to the trash."),
            "{}",
            synced(&r)
        );
    }
}
