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
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    // The CLI points stderr at the log file too: then one copy is enough.
    let stderr_is_log = log_file.is_some_and(same_file_as_stderr);
    if journal {
        layers.push(stderr.without_time().with_filter(filter()).boxed());
    } else if !stderr_is_log {
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
                .with_target(false)
                .with_filter(filter())
                .boxed(),
        );
    }
    tracing_subscriber::registry().with(layers).try_init()?;
    Ok(())
}

/// Is file descriptor 2 the file at `path`?
fn same_file_as_stderr(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return false;
    };
    // SAFETY: fstat on fd 2 into a stat buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev as u64 == m.dev() && st.st_ino as u64 == m.ino()
}
