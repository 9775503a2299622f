//! The sync task: watches the sync folders (folders, not files) and runs a
//! debounced sync round when something changes; runs a round when the
//! daemon asks (a local change to publish). No timer fires while idle:
//! only while files have problems (retry with back-off), for folders the
//! OS cannot watch (polling, e.g. network mounts), when a removal waits for
//! its turn (others' files leave a folder one at a time) or a stale file of
//! an earlier epoch comes due (`sync::stale`).
//!
//! The debounce ends early when the burst visibly settled: every file a
//! writer started writing in it has been closed after writing or renamed
//! into place (how sync engines deliver files), and no further change came
//! for [`SETTLE_GRACE`]. Otherwise (a writer may still be busy, or something
//! was deleted: perhaps a whole folder is going away) the round waits the
//! full `config.debounce` after the first event.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::daemon::Daemon;
use crate::store::fsutil::is_temp_name;

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
    let mut watched: Vec<Watched> = Vec::new();
    rewatch(&daemon, watcher.as_mut(), &mut watched).await;
    crate::sync::round(&daemon, false).await;
    let mut retry = Duration::from_secs(1);
    loop {
        let (has_problems, polled, wake_at) = {
            let core = daemon.core().await;
            let sync = core.session.sync();
            let policy = crate::sync::stale::Policy::of(&daemon.config);
            (
                sync.is_some_and(|s| s.has_problems()),
                watcher.is_none() || sync.is_some_and(|s| s.folders.values().any(|h| h.polled)),
                sync.and_then(|s| s.wake_at_ms(policy, core.session.account().is_some())),
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
        let timer = earliest(timer, wake_at);
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
                // Debounce: wait for the burst to settle, at most the
                // configured debounce; less once every file written in it
                // is complete (closed or renamed into place).
                let mut last = Instant::now();
                let deadline = last + daemon.config.debounce;
                let mut burst = Burst::default();
                burst.note(&ev);
                // The container is written by rename: no need to wait.
                while !container {
                    let wake = if burst.settled() {
                        (last + SETTLE_GRACE).min(deadline)
                    } else {
                        deadline
                    };
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake) => break,
                        Some(more) = rx.recv() => {
                            structural |= is_structural(&more, &watched);
                            container |= is_change(&more) && touches_container(&more, &daemon.dirs.data);
                            burst.note(&more);
                            if relevant(&more) {
                                last = Instant::now();
                            }
                        }
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

/// The sooner of `timer` and the time `wake_at_ms` (ms since the Unix
/// epoch; at least a few ms from now, so a due time never spins the loop).
fn earliest(timer: Option<Duration>, wake_at_ms: Option<u64>) -> Option<Duration> {
    let wake = wake_at_ms.map(|at| {
        Duration::from_millis(at.saturating_sub(crate::daemon::now_ms()).max(MIN_WAKE_MS))
    });
    match (timer, wake) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The shortest wait for a due removal (one already due runs after this).
const MIN_WAKE_MS: u64 = 20;

/// How long a settled burst must stay quiet before its round runs: enough
/// for the sibling events of the same delivery (the rename's other half,
/// the next file of a batch) to arrive.
const SETTLE_GRACE: Duration = Duration::from_millis(5);

/// The state of one burst of file events: the files a writer started
/// writing in it (created or modified) and has not yet completed (closed
/// after writing, or renamed into place). Coffer's own temp files are
/// ignored; removals and renames away complete a file too.
#[derive(Debug, Default)]
struct Burst {
    writing: BTreeSet<PathBuf>,
    /// Something was deleted: maybe a folder is being emptied (unmounted,
    /// moved away by the user). A deletion brings nothing to merge, so such
    /// a burst waits the full debounce rather than racing the deletion
    /// (a round in a half-deleted folder would write its header back).
    removing: bool,
}

impl Burst {
    /// Takes one event of the burst into account, in arrival order.
    fn note(&mut self, ev: &notify::Event) {
        use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
        match ev.kind {
            EventKind::Create(CreateKind::Folder) => {}
            // A write started (or an event too vague to say otherwise).
            EventKind::Any
            | EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Other) => {
                for p in ev.paths.iter().filter(|p| !is_temp_path(p)) {
                    self.writing.insert(p.clone());
                }
            }
            // Complete: closed after writing, renamed into place (`To`, or
            // `Both` whose paths[1] is the destination), renamed away
            // (`From`, `Both`'s paths[0]).
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(_)) => {
                for p in &ev.paths {
                    self.writing.remove(p);
                }
            }
            EventKind::Remove(_) => {
                for p in &ev.paths {
                    self.writing.remove(p);
                }
                // A device retiring its superseded delta segments is routine
                // (it happens after most publications), not a folder going away.
                self.removing |= ev
                    .paths
                    .iter()
                    .any(|p| !is_temp_path(p) && !is_delta_segment(p));
            }
            // Opens, reads, metadata: nothing written.
            _ => {}
        }
    }

    /// Whether no file of the burst is still being written (and nothing
    /// was deleted).
    fn settled(&self) -> bool {
        self.writing.is_empty() && !self.removing
    }
}

fn is_delta_segment(p: &Path) -> bool {
    p.file_name().is_some_and(|n| {
        matches!(
            coffer_vault::sync_names::classify(&n.to_string_lossy()),
            coffer_vault::sync_names::Entry::DeltaFile { .. }
        )
    })
}

fn is_temp_path(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| is_temp_name(&n.to_string_lossy()))
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
fn is_structural(ev: &notify::Event, watched: &[Watched]) -> bool {
    use notify::EventKind;
    matches!(
        ev.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(notify::event::ModifyKind::Name(_))
    ) && ev.paths.iter().any(|p| {
        p.parent()
            .is_some_and(|parent| watched.iter().any(|w| w.path == parent))
            && !p
                .file_name()
                .is_some_and(|n| is_temp_name(&n.to_string_lossy()))
            && !is_delta_segment(p)
            && (p.is_dir() || !p.exists())
    })
}

/// A folder being watched, and which one it was (its inode then).
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    ino: u64,
}

/// The inode of the directory at `path`, if there is one.
fn dir_ino(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| m.ino())
}

async fn rewatch(
    daemon: &Arc<Daemon>,
    watcher: Option<&mut notify::RecommendedWatcher>,
    watched: &mut Vec<Watched>,
) {
    let mut core = daemon.core().await;
    let want: Vec<PathBuf> = match core.session.device() {
        Some(d) => d
            .sync_folders
            .iter()
            .flat_map(|f| [f.clone(), f.join(d.account_id.to_string())])
            .chain(std::iter::once(daemon.dirs.data.clone()))
            .collect(),
        None => Vec::new(),
    };
    let Some(w) = watcher else {
        for h in core
            .session
            .sync_mut()
            .into_iter()
            .flat_map(|s| s.folders.values_mut())
        {
            h.polled = true;
        }
        return;
    };
    // Only what changed: re-adding a watch would drop events in between.
    // A folder deleted and made again under the same name is a new folder
    // (the old watch went with the old one): watched again.
    watched.retain(|old| {
        let keep = want.contains(&old.path) && dir_ino(&old.path) == Some(old.ino);
        if !keep {
            let _ = w.unwatch(&old.path);
        }
        keep
    });
    for path in want {
        // Taken before the watch: if the folder is replaced in between, the
        // next re-arm sees another inode and watches again.
        let Some(ino) = dir_ino(&path) else {
            continue;
        };
        if watched.iter().any(|w| w.path == path) {
            continue;
        }
        match w.watch(&path, RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "watching");
                watched.push(Watched { path, ino })
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch; polling this folder");
                if let Some(h) = core
                    .session
                    .sync_mut()
                    .into_iter()
                    .flat_map(|s| s.folders.iter_mut())
                    .find(|(f, _)| path.starts_with(f))
                    .map(|(_, h)| h)
                {
                    h.polled = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, MetadataKind, ModifyKind,
        RemoveKind, RenameMode,
    };

    const DIR: &str = "/sync/acct";

    fn p(name: &str) -> PathBuf {
        Path::new(DIR).join(name)
    }

    fn ev(kind: EventKind, names: &[&str]) -> notify::Event {
        names
            .iter()
            .fold(notify::Event::new(kind), |e, n| e.add_path(p(n)))
    }

    fn create(n: &str) -> notify::Event {
        ev(EventKind::Create(CreateKind::File), &[n])
    }
    fn modify(n: &str) -> notify::Event {
        ev(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &[n])
    }
    fn close_write(n: &str) -> notify::Event {
        ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            &[n],
        )
    }
    fn rename_from(n: &str) -> notify::Event {
        ev(EventKind::Modify(ModifyKind::Name(RenameMode::From)), &[n])
    }
    fn rename_to(n: &str) -> notify::Event {
        ev(EventKind::Modify(ModifyKind::Name(RenameMode::To)), &[n])
    }
    fn rename_both(from: &str, to: &str) -> notify::Event {
        ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[from, to],
        )
    }

    fn burst(events: &[notify::Event]) -> Burst {
        let mut b = Burst::default();
        for e in events {
            b.note(e);
        }
        b
    }

    #[test]
    fn rename_into_place_settles() {
        // inotify: From, To, then the pair as Both.
        let b = burst(&[
            rename_from("x.tmp-incoming"),
            rename_to("device-a.cofsync"),
            rename_both("x.tmp-incoming", "device-a.cofsync"),
        ]);
        assert!(b.settled());
        assert!(burst(&[rename_to("device-a.cofsync")]).settled());
    }

    #[test]
    fn written_but_not_closed_does_not_settle() {
        let f = "device-a.cofsync";
        assert!(!burst(&[create(f), modify(f)]).settled());
        // Rewriting an existing file (truncate + writes) is no different.
        assert!(!burst(&[modify(f), modify(f)]).settled());
        // Metadata and reads say nothing about the write.
        let meta = ev(
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            &[f],
        );
        let open = ev(EventKind::Access(AccessKind::Open(AccessMode::Any)), &[f]);
        let read = ev(EventKind::Access(AccessKind::Close(AccessMode::Read)), &[f]);
        assert!(!burst(&[create(f), modify(f), meta, open, read]).settled());
    }

    #[test]
    fn written_and_closed_settles() {
        let f = "device-a.cofsync";
        assert!(burst(&[create(f), modify(f), close_write(f)]).settled());
        // Reopened for writing after the close: busy again.
        assert!(!burst(&[create(f), modify(f), close_write(f), modify(f)]).settled());
    }

    #[test]
    fn temp_written_then_renamed_onto_final_name_settles() {
        // Coffer's and syncthing's temp names, never closed (the rename
        // completes the delivery).
        for temp in [
            ".device-a.cofsync.1234-1.tmp",
            ".syncthing.device-a.cofsync.tmp",
        ] {
            let f = "device-a.cofsync";
            let b = burst(&[
                create(temp),
                modify(temp),
                modify(temp),
                rename_from(temp),
                rename_to(f),
                rename_both(temp, f),
            ]);
            assert!(b.settled(), "{temp}");
            // Before the rename the final name is not there yet, but the
            // temp file alone never holds a round back.
            assert!(burst(&[create(temp), modify(temp)]).settled(), "{temp}");
        }
        // A foreign temp name that coffer does not know: written, closed
        // and renamed away onto the final name.
        let b = burst(&[
            create("~device-a.partial"),
            modify("~device-a.partial"),
            close_write("~device-a.partial"),
            rename_from("~device-a.partial"),
            rename_to("device-a.cofsync"),
        ]);
        assert!(b.settled());
    }

    #[test]
    fn both_rename_completes_its_destination_and_source() {
        let f = "device-a.cofsync";
        // Only the Both event (some back-ends send no From/To): paths[1]
        // is the destination that was being written.
        assert!(burst(&[create(f), modify(f), rename_both("incoming", f)]).settled());
        // A file renamed away while written is no longer at that name.
        assert!(burst(&[
            create("incoming"),
            modify("incoming"),
            rename_both("incoming", f)
        ])
        .settled());
    }

    #[test]
    fn two_files_one_still_open_does_not_settle() {
        let (a, b) = ("device-a.cofsync", "device-b.cofsync");
        let half = burst(&[create(a), modify(a), create(b), modify(b), close_write(a)]);
        assert!(!half.settled());
        let both = burst(&[
            create(a),
            modify(a),
            create(b),
            modify(b),
            close_write(a),
            close_write(b),
        ]);
        assert!(both.settled());
        // One renamed into place while the other is still written in place.
        assert!(!burst(&[create(b), modify(b), rename_to(a)]).settled());
    }

    #[test]
    fn retired_delta_segments_do_not_hold_the_round_back() {
        let seg = "delta-6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6.3.0000000000000abc.cofsync";
        let new = "delta-6a1f3e9c-2b4d-4f8a-b1c7-93d2e5f0a8b6.9.0000000000000abd.cofsync";
        assert!(burst(&[
            rename_to(new),
            ev(EventKind::Remove(RemoveKind::File), &[seg]),
        ])
        .settled());
        // Any other removal still waits.
        assert!(!burst(&[
            rename_to(new),
            ev(EventKind::Remove(RemoveKind::File), &["account.json"]),
        ])
        .settled());
    }

    #[test]
    fn removals_wait_the_full_debounce_folders_and_renames_away_do_not() {
        let f = "device-a.cofsync";
        // A deletion (perhaps of the whole folder, in progress) never settles early.
        let rm = ev(EventKind::Remove(RemoveKind::File), &[f]);
        assert!(!burst(&[create(f), modify(f), rm]).settled());
        assert!(!burst(&[ev(EventKind::Remove(RemoveKind::File), &["gone.cofsync"])]).settled());
        // Coffer's own temp files going away are not deletions of the folder.
        let tmp = ev(
            EventKind::Remove(RemoveKind::File),
            &[".device-a.cofsync.1-1.tmp"],
        );
        assert!(burst(&[tmp]).settled());
        assert!(burst(&[rename_from(f)]).settled());
        assert!(burst(&[ev(EventKind::Create(CreateKind::Folder), &["new-account"])]).settled());
    }

    /// The same decisions on the events real inotify sends.
    #[cfg(target_os = "linux")]
    #[test]
    fn real_inotify_events() {
        use std::io::Write;
        use std::sync::mpsc;

        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
            if let Ok(e) = r {
                let _ = tx.send(e);
            }
        })
        .unwrap();
        w.watch(dir.path(), RecursiveMode::NonRecursive).unwrap();
        let mut b = Burst::default();
        // Notes events until one matches `until`, then whatever follows
        // within a short while.
        let take = |b: &mut Burst, until: &dyn Fn(&notify::Event) -> bool| {
            let limit = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let left = limit.saturating_duration_since(std::time::Instant::now());
                let e = rx.recv_timeout(left).expect("the awaited event");
                b.note(&e);
                if until(&e) {
                    break;
                }
            }
            while let Ok(e) = rx.recv_timeout(Duration::from_millis(50)) {
                b.note(&e);
            }
        };
        let f = dir.path().join("device-a.cofsync");
        let mut file = std::fs::File::create(&f).unwrap();
        file.write_all(b"half").unwrap();
        take(&mut b, &|e| {
            matches!(e.kind, EventKind::Modify(ModifyKind::Data(_))) && e.paths == [f.clone()]
        });
        assert!(!b.settled(), "still open for writing");
        drop(file);
        take(&mut b, &|e| {
            matches!(
                e.kind,
                EventKind::Access(AccessKind::Close(AccessMode::Write))
            )
        });
        assert!(b.settled(), "closed after writing");
        // A temp file written and renamed onto the final name.
        let temp = dir.path().join(".syncthing.device-a.cofsync.tmp");
        std::fs::write(&temp, b"whole").unwrap();
        std::fs::rename(&temp, &f).unwrap();
        take(&mut b, &|e| {
            matches!(
                e.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::Both))
            )
        });
        assert!(b.settled(), "renamed into place");
        // Reading it back writes nothing.
        let _ = std::fs::read(&f).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        file.write_all(b" more").unwrap();
        take(&mut b, &|e| {
            matches!(e.kind, EventKind::Modify(ModifyKind::Data(_)))
        });
        assert!(!b.settled(), "written in place again");
    }
}
