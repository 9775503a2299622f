//! A test replicator that plays the sync engine between per-device folders.
//!
//! Every simulated device has its own sync folder; the [`Replicator`] copies files between those
//! folders the way an engine such as Syncthing or Dropbox would, but only when a test tells it to,
//! so a scenario is reproducible: [`Replicator::sync_all`] converges every folder,
//! [`Replicator::sync_pair`] moves changes one way only (partitions and heals), and the other
//! methods misbehave on purpose as real engines do: delayed and reordered deliveries, silent
//! last-writer-wins overwrites, conflict copies under each engine's names, rclone bisync's way of
//! renaming both versions away ([`Replicator::rclone_conflict`]), files that vanish for a moment,
//! half-written files, and replays of old versions.
//!
//! How it decides, per file (paths relative to the folder, recursively):
//! - the newest version wins, by modification time and then by a hash of the content (so ties
//!   are broken the same way everywhere); copies keep the source's modification time;
//! - the replicator remembers, per folder, what it last saw there. A file that disappears from a
//!   folder is a deletion, which is carried to every folder that still holds the very same content;
//!   a folder that changed the file meanwhile keeps it, and the change flows back (as Syncthing does);
//! - copies are atomic: written to `.syncthing.NAME.tmp` beside the target, then renamed;
//! - names an engine never replicates are skipped: `.*.tmp` (coffer's temps and Syncthing's) and
//!   `~syncthing~*.tmp`;
//! - a file that is being delivered half-written, or has vanished for a moment, is left alone by
//!   every other operation until that delivery or vanishing is over.
//!
//! Nothing runs in the background unless a test asks for [`Replicator::background`]. Errors on
//! single files (a file removed while it was read, say) do not stop a round; they are counted in
//! [`Stats::errors`]. Randomness (shuffled deliveries) comes from a seeded xorshift generator.
//! Folders are numbered by their position in [`Replicator::new`]'s list; a number out of range is
//! a bug in the test and panics.
//!
//! # Layout
//!
//! - this module: the operations a test calls, and what they report ([`Stats`]);
//! - `state`: what the replicator remembers of each folder, and how it plans and applies a
//!   delivery;
//! - `naming`: the conflict-copy names of each [`Engine`], and the calendar they need;
//! - `handles`: the handles of work that finishes later ([`Delayed`], [`Vanish`],
//!   [`HalfWritten`], [`Background`]).

mod handles;
mod naming;
mod state;

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime};

pub use handles::{Background, Delayed, HalfWritten, Vanish};
pub use naming::{conflict_name, host_name, syncthing_short_id, utc, UtcTime};
use state::{read_with_mtime, write_atomic, Inner, Mode, XorShift};

/// A sync engine whose conflict-copy naming [`Replicator::conflict_copy`] imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// `name.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.ext`, DEVICE a 7-character short device id.
    Syncthing,
    /// `name (HOST's conflicted copy YYYY-MM-DD).ext`, then `… YYYY-MM-DD (1)).ext`, ….
    Dropbox,
    /// `name (conflicted copy YYYY-MM-DD HHMMSS).ext`.
    Nextcloud,
    /// `name 2.ext`, `name 3.ext`, ….
    ICloud,
    /// `name-HOSTNAME.ext`, then `name-HOSTNAME-1.ext`, ….
    OneDrive,
    /// rclone bisync: `name.ext..pathN` (N: 1 for a copy from folder 0, 2 from folder 1…), then
    /// `name.ext.conflict1`, ….
    Rclone,
    /// unison `-copyonconflict`: `name (conflict_on_YYYY-MM-DD).ext`, then
    /// `name (conflict #1_on_YYYY-MM-DD).ext`, ….
    Unison,
}

impl Engine {
    /// Every engine, for tests that try them all.
    pub const ALL: [Engine; 7] = [
        Engine::Syncthing,
        Engine::Dropbox,
        Engine::Nextcloud,
        Engine::ICloud,
        Engine::OneDrive,
        Engine::Rclone,
        Engine::Unison,
    ];
}

/// The order in which [`Replicator::deliver_queued`] delivers what was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Fifo,
    /// Newest first.
    Lifo,
    /// A random order from the replicator's seeded generator.
    Shuffled,
}

/// What one operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files written over or created under their own name.
    pub copied: usize,
    /// Files deleted.
    pub deleted: usize,
    /// Conflict copies created.
    pub conflicts: usize,
    /// Directories created or removed.
    pub dirs: usize,
    /// Problems with single files, each naming the path; the round went on without them.
    pub errors: Vec<String>,
}

impl Stats {
    /// How many changes were made to the folders.
    pub fn changes(&self) -> usize {
        self.copied + self.deleted + self.conflicts + self.dirs
    }

    fn absorb(&mut self, other: Stats) {
        self.copied += other.copied;
        self.deleted += other.deleted;
        self.conflicts += other.conflicts;
        self.dirs += other.dirs;
        self.errors.extend(other.errors);
    }
}

/// Plays the sync engine between per-device folders; see the module documentation.
pub struct Replicator {
    folders: Vec<PathBuf>,
    shared: Arc<Mutex<Inner>>,
}

/// The seed of [`Replicator::new`].
pub const DEFAULT_SEED: u64 = 0x2545_f491_4f6c_dd1d;

impl Replicator {
    /// A replicator between `folders` (which should exist), with [`DEFAULT_SEED`].
    pub fn new(folders: Vec<PathBuf>) -> Self {
        Self::with_seed(folders, DEFAULT_SEED)
    }

    /// A replicator whose shuffles are driven by `seed`.
    pub fn with_seed(folders: Vec<PathBuf>, seed: u64) -> Self {
        let inner = Inner {
            index: vec![BTreeMap::new(); folders.len()],
            folders: folders.clone(),
            busy: HashSet::new(),
            queue: Vec::new(),
            rng: XorShift::new(seed),
            errors: Vec::new(),
        };
        Replicator {
            folders,
            shared: Arc::new(Mutex::new(inner)),
        }
    }

    /// The folders, in the order the other methods number them.
    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }

    /// `rel` inside folder `folder`.
    pub fn path(&self, folder: usize, rel: impl AsRef<Path>) -> PathBuf {
        self.folders[folder].join(rel)
    }

    /// Makes every folder hold the newest version of every file of every other folder,
    /// recursively, and carries deletions; runs rounds until nothing changes (at most a few more
    /// rounds than there are folders, so a test whose daemons keep writing still returns).
    pub fn sync_all(&mut self) -> Stats {
        self.lock().converge(false)
    }

    /// Like [`Replicator::sync_all`], but each round first plans every delivery between every pair
    /// of folders, then applies them in a random (seeded) order: a delivery planned from a version
    /// that was overtaken meanwhile arrives late and is dropped if its target already has newer.
    pub fn sync_all_shuffled(&mut self) -> Stats {
        self.lock().converge(true)
    }

    /// Carries the changes of folder `from` to folder `to`, one way only, once.
    pub fn sync_pair(&mut self, from: usize, to: usize) -> Stats {
        self.pair(from, to, Mode::Newest)
    }

    /// Like [`Replicator::sync_pair`], but as a last-writer-wins engine: every file of `from` that
    /// differs in `to` is copied over it, even when `to` has a newer version (which is lost there).
    pub fn overwrite_silently(&mut self, from: usize, to: usize) -> Stats {
        self.pair(from, to, Mode::Overwrite)
    }

    /// Like [`Replicator::sync_pair`], but where `to` holds a different version of a file,
    /// `from`'s version is put beside it under `engine`'s conflict name instead (numbered further
    /// if that name is taken by other content); `to`'s file is left as it is.
    pub fn conflict_copy(&mut self, from: usize, to: usize, engine: Engine) -> Stats {
        self.pair(from, to, Mode::Conflict(engine))
    }

    /// What rclone bisync does when `rel` changed in both folders `a` and `b` since its last run:
    /// in both folders the file is gone, and both versions are there as `rel..path1` (`a`'s) and
    /// `rel..path2` (`b`'s), with their modification times. Nothing happens when `rel` is the
    /// same in both, or missing from one. Returns what changed.
    pub fn rclone_conflict(&mut self, rel: impl AsRef<Path>, a: usize, b: usize) -> Stats {
        let rel = rel.as_ref();
        let mut inner = self.lock();
        let mut stats = Stats::default();
        inner.scan(a, &mut stats);
        inner.scan(b, &mut stats);
        let versions = [a, b].map(|f| read_with_mtime(&self.folders[f].join(rel)).ok());
        let [Some(va), Some(vb)] = versions else {
            return stats;
        };
        if va.0 == vb.0 {
            return stats;
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for folder in [a, b] {
            let dir = self.folders[folder].join(rel).with_file_name("");
            for (suffix, (bytes, mtime)) in [("..path1", &va), ("..path2", &vb)] {
                let path = dir.join(format!("{name}{suffix}"));
                match write_atomic(&path, bytes, *mtime) {
                    Ok(_) => stats.conflicts += 1,
                    Err(e) => stats.errors.push(format!("write {}: {e}", path.display())),
                }
            }
            match fs::remove_file(self.folders[folder].join(rel)) {
                Ok(()) => stats.deleted += 1,
                Err(e) => stats.errors.push(format!("remove {}: {e}", rel.display())),
            }
            inner.scan(folder, &mut stats);
        }
        stats
    }

    /// Puts `from`'s file `rel` into `to` under `engine`'s conflict name only, whatever `to` holds
    /// as `rel` (left as it is): engines make conflict copies of any file, immutable ones included,
    /// and this delivers such a copy without the original.
    pub fn conflict_copy_of(
        &mut self,
        from: usize,
        to: usize,
        rel: impl AsRef<Path>,
        engine: Engine,
    ) -> io::Result<Stats> {
        let rel = rel.as_ref();
        let (bytes, mtime) = read_with_mtime(&self.path(from, rel))?;
        let mut inner = self.lock();
        let mut stats = Stats::default();
        let version = state::version_of(&bytes, mtime);
        inner.put_conflict_copy(from, to, rel, &bytes, version, engine, &mut stats);
        Ok(stats)
    }

    /// Plans the deliveries from `from` to `to` now, with the content as it is now, and keeps them
    /// in a queue for [`Replicator::deliver_queued`]. Returns how many were queued.
    pub fn enqueue(&mut self, from: usize, to: usize) -> usize {
        let mut inner = self.lock();
        let planned = inner.plan_now(from, to);
        let n = planned.len();
        inner.queue.extend(planned);
        n
    }

    /// [`Replicator::enqueue`] for every ordered pair of folders. Returns how many were queued.
    pub fn enqueue_all(&mut self) -> usize {
        let n = self.folders.len();
        let mut queued = 0;
        for from in 0..n {
            for to in 0..n {
                if from != to {
                    queued += self.enqueue(from, to);
                }
            }
        }
        queued
    }

    /// How many deliveries are queued.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Delivers everything queued, in `order`. Each delivery is judged when it arrives, against
    /// what its target holds then: a stale one is dropped, as an engine would.
    pub fn deliver_queued(&mut self, order: Order) -> Stats {
        let mut inner = self.lock();
        let mut queue = std::mem::take(&mut inner.queue);
        match order {
            Order::Fifo => {}
            Order::Lifo => queue.reverse(),
            Order::Shuffled => inner.rng.shuffle(&mut queue),
        }
        let mut stats = Stats::default();
        for delivery in &queue {
            inner.apply(delivery, Mode::Newest, &mut stats);
        }
        stats
    }

    /// Forgets everything queued (lost deliveries). Returns how many were dropped.
    pub fn discard_queued(&mut self) -> usize {
        std::mem::take(&mut self.lock().queue).len()
    }

    /// Plans the deliveries from `from` to `to` now and applies them on a helper thread after
    /// `delay`, judged against what `to` holds then.
    pub fn deliver_with_delay(&mut self, from: usize, to: usize, delay: Duration) -> Delayed {
        let planned = self.lock().plan_now(from, to);
        let shared = Arc::clone(&self.shared);
        let handle = thread::spawn(move || {
            thread::sleep(delay);
            let mut inner = lock(&shared);
            let mut stats = Stats::default();
            for delivery in &planned {
                inner.apply(delivery, Mode::Newest, &mut stats);
            }
            stats
        });
        Delayed { handle }
    }

    /// Makes `rel` in `folder` disappear now and come back (same bytes, same modification time)
    /// after `away`, on a helper thread. Meanwhile no operation of the replicator touches that
    /// path in that folder, nor takes its absence for a deletion.
    pub fn vanish_for(
        &mut self,
        folder: usize,
        rel: impl AsRef<Path>,
        away: Duration,
    ) -> io::Result<Vanish> {
        let rel = rel.as_ref().to_path_buf();
        let path = self.path(folder, &rel);
        let (bytes, mtime) = {
            let mut inner = self.lock();
            let (bytes, mtime) = read_with_mtime(&path)?;
            fs::remove_file(&path)?;
            inner.busy.insert((folder, rel.clone()));
            (bytes, mtime)
        };
        let shared = Arc::clone(&self.shared);
        let handle = thread::spawn(move || {
            thread::sleep(away);
            let mut inner = lock(&shared);
            let written = write_atomic(&path, &bytes, mtime);
            inner.busy.remove(&(folder, rel));
            written.map(|_| ())
        });
        Ok(Vanish { handle })
    }

    /// Writes the first half of `from`'s `rel` into `to`'s `rel` in place (truncating what was
    /// there, not atomically) and returns a handle that writes the rest later. Until then, no
    /// operation of the replicator reads or writes that path in `to`.
    pub fn deliver_half_written(
        &mut self,
        from: usize,
        to: usize,
        rel: impl AsRef<Path>,
    ) -> io::Result<HalfWritten> {
        let rel = rel.as_ref().to_path_buf();
        let (bytes, mtime) = read_with_mtime(&self.path(from, &rel))?;
        let path = self.path(to, &rel);
        let mut inner = self.lock();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let half = bytes.len() / 2;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.write_all(&bytes[..half])?;
        file.sync_data()?;
        inner.busy.insert((to, rel.clone()));
        Ok(HalfWritten {
            shared: Arc::clone(&self.shared),
            folder: to,
            rel,
            path,
            bytes,
            mtime,
            done: false,
        })
    }

    /// Puts `old_bytes` back as `rel` in `folder` (atomically), stamped now: the next
    /// [`Replicator::sync_all`] takes it for the newest version and spreads it everywhere, as an
    /// engine restoring an old version or a device coming back from a backup would.
    pub fn replay_old(
        &mut self,
        folder: usize,
        rel: impl AsRef<Path>,
        old_bytes: &[u8],
    ) -> io::Result<()> {
        self.replay_old_at(folder, rel, old_bytes, SystemTime::now())
    }

    /// Like [`Replicator::replay_old`], with the modification time `mtime` (an old one keeps it
    /// from winning over newer copies elsewhere; only this folder sees it until it is replaced).
    pub fn replay_old_at(
        &mut self,
        folder: usize,
        rel: impl AsRef<Path>,
        old_bytes: &[u8],
        mtime: SystemTime,
    ) -> io::Result<()> {
        let path = self.path(folder, rel);
        let _inner = self.lock();
        write_atomic(&path, old_bytes, mtime).map(|_| ())
    }

    /// Runs [`Replicator::sync_all`] every `every` on a helper thread until the returned handle
    /// is dropped. The replicator's other methods still work meanwhile (they take turns).
    pub fn background(&self, every: Duration) -> Background {
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = Arc::clone(&self.shared);
        let handle = thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let mut inner = lock(&shared);
                let stats = inner.converge(false);
                inner.errors.extend(stats.errors);
            }
        });
        Background {
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Errors met by background work (the background thread, queued planning), oldest first.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lock().errors)
    }

    fn pair(&mut self, from: usize, to: usize, mode: Mode) -> Stats {
        let mut inner = self.lock();
        let mut stats = Stats::default();
        if from == to {
            return stats;
        }
        inner.scan(from, &mut stats);
        inner.scan(to, &mut stats);
        for delivery in inner.plan(from, to, mode, &mut stats) {
            inner.apply(&delivery, mode, &mut stats);
        }
        stats
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }
}

/// Takes the lock even if a thread panicked while holding it (the index stays usable: at worst
/// it is stale, and the next scan corrects it).
fn lock(shared: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
