//! Import, export, backup and restore.

use std::sync::Arc;

use coffer_proto::request::{ExportParams, ImportParams, RestoreParams};
use coffer_proto::ErrorCode;

use crate::daemon::{err, Daemon, Reply};

impl Daemon {
    pub(crate) async fn import(self: &Arc<Self>, _p: ImportParams) -> Reply {
        Err(err(ErrorCode::Internal, "import is being wired in"))
    }
    pub(crate) async fn export(self: &Arc<Self>, _p: ExportParams) -> Reply {
        Err(err(ErrorCode::Internal, "export is being wired in"))
    }
    pub(crate) async fn backup(self: &Arc<Self>) -> Reply {
        Err(err(ErrorCode::Internal, "backup is being wired in"))
    }
    pub(crate) async fn restore(self: &Arc<Self>, _p: RestoreParams) -> Reply {
        Err(err(ErrorCode::Internal, "restore is being wired in"))
    }
}
