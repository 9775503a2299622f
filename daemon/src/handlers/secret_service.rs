//! `secret_service_enable`, `secret_service_disable`,
//! `secret_service_status`: `coffer secret-service …` (the work is the
//! provider manager's, [`crate::secret_service::manager`]).

use std::sync::Arc;

use coffer_proto::secret_service::SecretServiceParams;
use serde_json::Value;

use super::to_reply;
use crate::daemon::Daemon;
use crate::error::Result;

/// `coffer secret-service enable`.
pub async fn enable(d: &Arc<Daemon>, p: SecretServiceParams) -> Result<Value> {
    to_reply(d.secret_service.enable(d, p).await?)
}

/// `coffer secret-service disable`.
pub async fn disable(d: &Arc<Daemon>) -> Result<Value> {
    to_reply(d.secret_service.disable(d).await?)
}

/// `coffer secret-service status`.
pub async fn status(d: &Arc<Daemon>, p: SecretServiceParams) -> Result<Value> {
    to_reply(d.secret_service.status(d, p).await)
}
