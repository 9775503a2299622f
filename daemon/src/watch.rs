//! The sync task: watches the sync folders (folders, not files) and runs a
//! debounced sync round when something changes; runs a round when the
//! daemon asks (a local change to publish). No timer fires while idle:
//! only while files have problems (retry with back-off) or for folders the
//! OS cannot watch (polling, e.g. network mounts).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::daemon::Daemon;
use crate::fsutil::is_temp_name;

/// Runs until shutdown.
pub async fn run(daemon: Arc<Daemon>, mut shutdown: watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<notify::Event>();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let _ = tx.send(ev);
            }
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch files; falling back to polling");
                None
            }
        };
    let mut watched: Vec<PathBuf> = Vec::new();
    rewatch(&daemon, watcher.as_mut(), &mut watched).await;
    crate::sync::round(&daemon, false).await;
    let mut retry = Duration::from_secs(1);
    loop {
        let (has_problems, polled) = {
            let inner = daemon.inner.lock().await;
            (
                inner
                    .folders
                    .values()
                    .any(|h| !h.problems.is_empty() || h.unreachable.is_some()),
                watcher.is_none() || inner.folders.values().any(|h| h.polled),
            )
        };
        let timer = if has_problems {
            Some(retry)
        } else if polled {
            Some(daemon.config.poll_interval)
        } else {
            retry = Duration::from_secs(1);
            None
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = daemon.kick.notified() => {
                crate::sync::round(&daemon, false).await;
            }
            _ = daemon.rewatch.notified() => {
                rewatch(&daemon, watcher.as_mut(), &mut watched).await;
                crate::sync::round(&daemon, false).await;
            }
            Some(ev) = rx.recv() => {
                tracing::trace!(?ev, "file event");
                let mut container = is_change(&ev) && touches_container(&ev, &daemon.dirs.data);
                let mut structural = is_structural(&ev, &watched);
                if !container && !relevant(&ev) && !structural {
                    continue;
                }
                // Debounce: wait for the burst to settle.
                let deadline = Instant::now() + daemon.config.debounce;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline), if !container => break,
                        Some(more) = rx.recv(), if !container => {
                            structural |= is_structural(&more, &watched);
                            container |= is_change(&more) && touches_container(&more, &daemon.dirs.data);
                        }
                        // The container is written by rename: no need to wait.
                        else => break,
                    }
                }
                if container {
                    crate::sync::container_changed(&daemon).await;
                }
                if structural {
                    rewatch(&daemon, watcher.as_mut(), &mut watched).await;
                }
                crate::sync::round(&daemon, false).await;
            }
            _ = sleep_opt(timer) => {
                crate::sync::round(&daemon, false).await;
                if has_problems {
                    retry = (retry * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Events that say something changed: creations, writes, renames and
/// removals. Opens, reads and closes without writing (our own reads
/// included) are not changes.
fn is_change(ev: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// An event on the local container (not on its temp files).
fn touches_container(ev: &notify::Event, data: &std::path::Path) -> bool {
    ev.paths.iter().any(|p| {
        p.parent() == Some(data)
            && p.extension().is_some_and(|e| e == "coffer")
            && !p
                .file_name()
                .is_some_and(|n| is_temp_name(&n.to_string_lossy()))
    })
}

/// A change to a sync file (not only to coffer's own temp files).
fn relevant(ev: &notify::Event) -> bool {
    is_change(ev)
        && ev.paths.iter().any(|p| {
            p.file_name()
                .map(|n| !is_temp_name(&n.to_string_lossy()))
                .unwrap_or(true)
        })
}

/// A directory appearing or vanishing in a watched sync folder (the
/// account directory) needs the watches re-armed.
fn is_structural(ev: &notify::Event, watched: &[PathBuf]) -> bool {
    use notify::EventKind;
    matches!(
        ev.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(notify::event::ModifyKind::Name(_))
    ) && ev.paths.iter().any(|p| {
        p.parent()
            .is_some_and(|parent| watched.iter().any(|w| w == parent))
            && !p
                .file_name()
                .is_some_and(|n| is_temp_name(&n.to_string_lossy()))
            && (p.is_dir() || !p.exists())
    })
}

async fn rewatch(
    daemon: &Arc<Daemon>,
    watcher: Option<&mut notify::RecommendedWatcher>,
    watched: &mut Vec<PathBuf>,
) {
    let mut inner = daemon.inner.lock().await;
    let want: Vec<PathBuf> = match &inner.device {
        Some(d) => d
            .sync_folders
            .iter()
            .flat_map(|f| [f.clone(), f.join(d.account_id.to_string())])
            .chain(std::iter::once(daemon.dirs.data.clone()))
            .collect(),
        None => Vec::new(),
    };
    let Some(w) = watcher else {
        for h in inner.folders.values_mut() {
            h.polled = true;
        }
        return;
    };
    // Only what changed: re-adding a watch would drop events in between.
    watched.retain(|old| {
        let keep = want.contains(old) && old.is_dir();
        if !keep {
            let _ = w.unwatch(old);
        }
        keep
    });
    for path in want {
        if !path.is_dir() || watched.contains(&path) {
            continue;
        }
        match w.watch(&path, RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "watching");
                watched.push(path)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch; polling this folder");
                if let Some(h) = inner
                    .folders
                    .iter_mut()
                    .find(|(f, _)| path.starts_with(f))
                    .map(|(_, h)| h)
                {
                    h.polled = true;
                }
            }
        }
    }
}
