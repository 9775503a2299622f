//! Start-up and shutdown.
//!
//! Order: private umask and no core dumps; paths and config; logging; the
//! single-instance lock (a second daemon exits with
//! [`EXIT_ALREADY_RUNNING`]); the socket (handed over by systemd/launchd, or
//! bound safely); the key cache; the state; the SSH agent's socket (unless
//! `ssh_agent = false`; a failure there is logged and shown in `status`,
//! not fatal); then "ready" (sd_notify), and the Secret Service provider
//! claims its bus name when enabled. On SIGTERM, SIGINT or `coffer stop`:
//! stop accepting (the agent too), let requests in flight and their writes
//! finish, release the bus name, then exit 0.

use std::path::PathBuf;
use std::sync::Arc;

use coffer_proto::dirs::Dirs;
use tokio::sync::watch;

use crate::config::Config;
use crate::daemon::Daemon;
use crate::error::Fatal;
use crate::keycache::KeyCache;
use crate::store::lockfile::{InstanceLock, LockError};

/// Exit code when another cofferd already runs for this user.
pub const EXIT_ALREADY_RUNNING: i32 = 17;

/// Command-line options.
#[derive(Debug, Default, clap::Parser)]
#[command(
    name = "cofferd",
    version = crate::hooks::version(),
    about = "coffer's per-user daemon (runs in the foreground)"
)]
pub struct Args {
    /// Also log to this file (the CLI passes it when it starts the daemon).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Internal: own the clipboard for SECS seconds (the daemon starts
    /// this itself; see the `clipboard` module).
    #[arg(long, value_name = "SECS", hide = true)]
    pub clipboard_owner: Option<u64>,
}

/// Keeps secrets out of core dumps and debuggers.
fn harden_process() {
    // SAFETY: plain libc calls with valid arguments.
    unsafe {
        libc::umask(0o077);
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// Runs the daemon; returns the process exit code.
pub fn main(args: Args) -> i32 {
    harden_process();
    if let Some(secs) = args.clipboard_owner {
        return crate::clipboard::owner::run(secs);
    }
    match start(args) {
        Ok(code) => code,
        Err(fatal) => {
            tracing::error!("{fatal}");
            eprintln!("cofferd: {fatal}");
            fatal.exit_code()
        }
    }
}

/// Everything before the runtime: paths, config, logging, the lock.
fn start(args: Args) -> Result<i32, Fatal> {
    // Before any thread exists: taking the socket unsets LISTEN_* variables.
    let activated = crate::activation::take_listen_fd();
    let dirs = Dirs::from_env()
        .and_then(|d| d.create().map(|_| d))
        .map_err(|e| Fatal::Startup(e.to_string()))?;
    let config = Config::load(&dirs.config_file()).map_err(|e| Fatal::Config(e.to_string()))?;
    crate::logging::init(
        args.log_file.as_deref(),
        crate::activation::under_systemd_journal(),
    )
    .map_err(|e| Fatal::Startup(e.to_string()))?;
    crate::hooks::report();
    crate::store::fsutil::FaultInjector::init_from_env();
    let _lock = InstanceLock::acquire(&dirs.lock_file()).map_err(|e| match e {
        e @ LockError::AlreadyRunning { .. } => Fatal::AlreadyRunning(e.to_string()),
        e => Fatal::Startup(e.to_string()),
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .map_err(|e| Fatal::Startup(format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(dirs, config, activated))
}

async fn serve(
    dirs: Dirs,
    config: Config,
    activated: Result<Option<std::os::unix::net::UnixListener>, crate::activation::ActivationError>,
) -> Result<i32, Fatal> {
    let listener = match activated {
        Ok(Some(std_listener)) => {
            let l = crate::socket::from_activation(std_listener)
                .map_err(|e| Fatal::Startup(format!("the socket handed over is unusable: {e}")))?;
            tracing::info!("using the socket handed over by the service manager");
            l
        }
        Ok(None) => {
            crate::socket::bind(&dirs.socket()).map_err(|e| Fatal::Startup(e.to_string()))?
        }
        Err(e) => return Err(Fatal::Startup(format!("socket activation failed: {e}"))),
    };
    // While cofferd provides the Secret Service its key stays off it.
    let open_cache = if crate::secret_service::setup::enabled_on_disk(&dirs) {
        KeyCache::open_without_secret_service
    } else {
        KeyCache::open
    };
    let keycache = tokio::task::spawn_blocking(open_cache)
        .await
        .unwrap_or_else(|_| KeyCache::memory());
    tracing::info!(backend = keycache.backend(), "key cache ready");
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let daemon = Daemon::load(dirs.clone(), config, keycache, shutdown_tx.clone());
    let sync_task = tokio::spawn(crate::watch::run(daemon.clone(), shutdown_rx.clone()));
    let agent = start_ssh_agent(&daemon, shutdown_rx.clone()).await;
    let timer = tokio::spawn(daemon.clone().lock_timer());
    let signals = tokio::spawn(wait_for_signals(shutdown_tx.clone()));
    // Claiming org.freedesktop.secrets waits for the bus: not before ready.
    let provider = {
        let d = Arc::clone(&daemon);
        tokio::spawn(async move { d.secret_service.boot(&d).await })
    };
    tracing::info!(socket = %dirs.socket().display(), pid = std::process::id(), "cofferd ready");
    if let Err(e) = crate::activation::notify_ready() {
        tracing::warn!(error = %e, "could not tell the service manager that cofferd is ready");
    }
    crate::server::run(listener, Arc::clone(&daemon), shutdown_rx).await;
    let _ = crate::activation::notify_stopping();
    let _ = provider.await;
    daemon.secret_service.shutdown().await;
    // Requests in flight have finished (and with them their writes); the
    // sync task stops at its next await point.
    let _ = sync_task.await;
    if let Some(agent) = agent {
        let _ = agent.await;
    }
    timer.abort();
    signals.abort();
    tracing::info!("cofferd stopped");
    Ok(0)
}

/// Binds the SSH agent's socket and serves it until shutdown; `None` when
/// the agent is off or its socket cannot be bound (logged, and shown in
/// `status`).
async fn start_ssh_agent(
    daemon: &Arc<Daemon>,
    shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    use crate::ssh_agent::{serve, AgentOptions, AgentSocket};
    let config = daemon.ssh.config();
    if crate::handlers::ssh::keeps_index(daemon) {
        // Listing while locked: the public-key index is written for a vault
        // resumed unlocked before the first client asks.
        let core = daemon.core().await;
        drop(crate::handlers::ssh::refresh_keys(daemon, &core.session));
    } else {
        // Only a leftover index is removed: the key list is built when the
        // agent is first asked (the scan opens every item, 42 ms at 10,000
        // items, which need not delay `ready`).
        daemon.ssh.keys().sweep();
    }
    if !config.enabled {
        tracing::info!("the SSH agent is off (ssh_agent = false)");
        return None;
    }
    let path = daemon.ssh.socket().to_path_buf();
    let socket = match AgentSocket::bind(&path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot serve the SSH agent");
            daemon.ssh.set_bound(Err(e.to_string()));
            return None;
        }
    };
    daemon.ssh.set_bound(Ok(()));
    let backend = Arc::new(crate::handlers::agent::VaultAgentBackend::new(
        daemon.clone(),
    ));
    let options = AgentOptions {
        add_policy: config.add,
        ..AgentOptions::default()
    };
    Some(tokio::spawn(async move {
        if let Err(e) = serve(socket, backend, options, shutdown).await {
            tracing::error!(error = %e, "the SSH agent stopped");
        }
    }))
}

async fn wait_for_signals(shutdown: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    let _ = shutdown.send(true);
}
