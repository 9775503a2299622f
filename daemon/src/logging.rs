//! Logging with `tracing`: stderr always (plain, without timestamps, when
//! systemd's journal is reading it), plus a log file when the daemon was
//! started by the CLI. Filters come from `COFFER_LOG`, else `RUST_LOG`, else
//! `info`. Nothing logged anywhere carries a secret: the daemon logs
//! methods, ids, paths and counts, never parameters.

use std::path::Path;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber.
pub fn init(log_file: Option<&Path>, journal: bool) -> anyhow::Result<()> {
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let filter = || {
        std::env::var("COFFER_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .ok()
            .and_then(|f| EnvFilter::try_new(f).ok())
            .unwrap_or_else(|| EnvFilter::new("info"))
    };
    let mut layers: Vec<Boxed> = Vec::new();
    let stderr = fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(false);
    if journal {
        layers.push(stderr.without_time().with_filter(filter()).boxed());
    } else {
        layers.push(stderr.with_filter(filter()).boxed());
    }
    if let Some(path) = log_file {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?;
        layers.push(
            fmt::layer()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_filter(filter())
                .boxed(),
        );
    }
    tracing_subscriber::registry().with(layers).try_init()?;
    Ok(())
}
