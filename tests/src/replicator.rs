//! A test replicator that plays the sync engine between per-device folders.
//!
//! Every simulated device has its own sync folder; the [`Replicator`] copies files between those
//! folders the way an engine such as Syncthing or Dropbox would, but only when a test tells it to,
//! so a scenario is reproducible: [`Replicator::sync_all`] converges every folder,
//! [`Replicator::sync_pair`] moves changes one way only (partitions and heals), and the other
//! methods misbehave on purpose as real engines do: delayed and reordered deliveries, silent
//! last-writer-wins overwrites, conflict copies under each engine's names, files that vanish for a
//! moment, half-written files, and replays of old versions.
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

use std::collections::{hash_map::DefaultHasher, BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}

impl Engine {
    /// Every engine, for tests that try them all.
    pub const ALL: [Engine; 5] = [
        Engine::Syncthing,
        Engine::Dropbox,
        Engine::Nextcloud,
        Engine::ICloud,
        Engine::OneDrive,
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

/// A version of a file as the replicator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    mtime: SystemTime,
    hash: u64,
}

impl Version {
    /// The newer of two versions wins: modification time, then the content hash.
    fn newer_than(&self, other: &Version) -> bool {
        (self.mtime, self.hash) > (other.mtime, other.hash)
    }
}

/// What the replicator remembers about one path of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rec {
    File(Version),
    Dir,
    /// The file was there with this content hash, and was deleted.
    GoneFile(u64),
    GoneDir,
}

/// How deliveries treat a target that holds a different version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Newest,
    Overwrite,
    Conflict(Engine),
}

/// One change to carry from a folder to another, with the source content as it was when planned.
#[derive(Debug, Clone)]
struct Delivery {
    from: usize,
    to: usize,
    rel: PathBuf,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    File { bytes: Arc<[u8]>, version: Version },
    Dir,
    DeleteFile { hash: u64 },
    DeleteDir,
}

struct Inner {
    folders: Vec<PathBuf>,
    index: Vec<BTreeMap<PathBuf, Rec>>,
    /// (folder, path) pairs that a half-written delivery or a vanishing owns for now.
    busy: HashSet<(usize, PathBuf)>,
    queue: Vec<Delivery>,
    rng: XorShift,
    /// Errors of the background thread, for [`Replicator::take_errors`].
    errors: Vec<String>,
}

impl Replicator {
    /// A replicator between `folders` (which should exist), with a fixed default seed.
    pub fn new(folders: Vec<PathBuf>) -> Self {
        Self::with_seed(folders, 0x2545_f491_4f6c_dd1d)
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

    /// Plans the deliveries from `from` to `to` now, with the content as it is now, and keeps them
    /// in a queue for [`Replicator::deliver_queued`]. Returns how many were queued.
    pub fn enqueue(&mut self, from: usize, to: usize) -> usize {
        let mut inner = self.lock();
        let mut stats = Stats::default();
        inner.scan(from, &mut stats);
        inner.scan(to, &mut stats);
        let planned = inner.plan(from, to, Mode::Newest, &mut stats);
        inner.errors.extend(stats.errors);
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
        let planned = {
            let mut inner = self.lock();
            let mut stats = Stats::default();
            inner.scan(from, &mut stats);
            inner.scan(to, &mut stats);
            let planned = inner.plan(from, to, Mode::Newest, &mut stats);
            inner.errors.extend(stats.errors);
            planned
        };
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

impl Inner {
    /// Rounds until nothing changes, at most a few more than there are folders.
    fn converge(&mut self, shuffled: bool) -> Stats {
        let mut stats = Stats::default();
        for _ in 0..self.folders.len() + 3 {
            let round = self.round(shuffled);
            let changes = round.changes();
            stats.absorb(round);
            if changes == 0 {
                break;
            }
        }
        stats
    }

    /// One round between every ordered pair of folders.
    fn round(&mut self, shuffled: bool) -> Stats {
        let mut stats = Stats::default();
        let n = self.folders.len();
        for f in 0..n {
            self.scan(f, &mut stats);
        }
        if shuffled {
            let mut planned = Vec::new();
            for from in 0..n {
                for to in (0..n).filter(|&to| to != from) {
                    planned.extend(self.plan(from, to, Mode::Newest, &mut stats));
                }
            }
            self.rng.shuffle(&mut planned);
            for delivery in &planned {
                self.apply(delivery, Mode::Newest, &mut stats);
            }
        } else {
            for from in 0..n {
                for to in (0..n).filter(|&to| to != from) {
                    for delivery in self.plan(from, to, Mode::Newest, &mut stats) {
                        self.apply(&delivery, Mode::Newest, &mut stats);
                    }
                }
            }
        }
        stats
    }

    fn is_busy(&self, folder: usize, rel: &Path) -> bool {
        self.busy.contains(&(folder, rel.to_path_buf()))
    }

    /// Brings the index of `folder` up to date with the disk: new and changed paths are recorded,
    /// paths that disappeared become tombstones.
    fn scan(&mut self, folder: usize, stats: &mut Stats) {
        let mut found = BTreeMap::new();
        walk(&self.folders[folder], Path::new(""), &mut found, stats);
        let busy: Vec<PathBuf> = self
            .busy
            .iter()
            .filter(|(f, _)| *f == folder)
            .map(|(_, rel)| rel.clone())
            .collect();
        let index = &mut self.index[folder];
        for (rel, rec) in index.iter_mut() {
            if found.contains_key(rel) || busy.contains(rel) {
                continue;
            }
            match *rec {
                Rec::File(v) => *rec = Rec::GoneFile(v.hash),
                Rec::Dir => *rec = Rec::GoneDir,
                Rec::GoneFile(_) | Rec::GoneDir => {}
            }
        }
        for (rel, rec) in found {
            if !busy.contains(&rel) {
                index.insert(rel, rec);
            }
        }
    }

    /// Re-reads one path of one folder and updates the index; returns the fresh record.
    fn refresh(&mut self, folder: usize, rel: &Path) -> Option<Rec> {
        let path = self.folders[folder].join(rel);
        let current = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Some(Rec::Dir),
            Ok(meta) if meta.is_file() => read_with_mtime(&path)
                .ok()
                .map(|(bytes, mtime)| Rec::File(version_of(&bytes, mtime))),
            _ => None,
        };
        let index = &mut self.index[folder];
        match (current, index.get(rel).copied()) {
            (Some(rec), _) => {
                index.insert(rel.to_path_buf(), rec);
                Some(rec)
            }
            (None, Some(Rec::File(v))) => {
                let gone = Rec::GoneFile(v.hash);
                index.insert(rel.to_path_buf(), gone);
                Some(gone)
            }
            (None, Some(Rec::Dir)) => {
                index.insert(rel.to_path_buf(), Rec::GoneDir);
                Some(Rec::GoneDir)
            }
            (None, other) => other,
        }
    }

    /// What would carry `from`'s state (as indexed) to `to` (as indexed), with `from`'s content
    /// read now. Directory removals come last, deepest first.
    fn plan(&mut self, from: usize, to: usize, mode: Mode, stats: &mut Stats) -> Vec<Delivery> {
        let mut planned = Vec::new();
        let mut dir_removals = Vec::new();
        let entries: Vec<(PathBuf, Rec)> = self.index[from]
            .iter()
            .map(|(rel, rec)| (rel.clone(), *rec))
            .collect();
        for (rel, rec) in entries {
            if self.is_busy(from, &rel) || self.is_busy(to, &rel) {
                continue;
            }
            let target = self.index[to].get(&rel).copied();
            let what = match rec {
                Rec::File(version) => {
                    if !wanted(version, target, mode) {
                        continue;
                    }
                    let path = self.folders[from].join(&rel);
                    match read_with_mtime(&path) {
                        Ok((bytes, mtime)) => What::File {
                            version: version_of(&bytes, mtime),
                            bytes: bytes.into(),
                        },
                        // Removed since the scan: the next scan records the deletion.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            stats.errors.push(format!("read {}: {e}", path.display()));
                            continue;
                        }
                    }
                }
                Rec::Dir if target.is_none() => What::Dir,
                Rec::GoneFile(hash) => match target {
                    Some(Rec::File(v)) if v.hash == hash => What::DeleteFile { hash },
                    _ => continue,
                },
                Rec::GoneDir if target == Some(Rec::Dir) => {
                    dir_removals.push(Delivery {
                        from,
                        to,
                        rel,
                        what: What::DeleteDir,
                    });
                    continue;
                }
                Rec::Dir | Rec::GoneDir => continue,
            };
            planned.push(Delivery {
                from,
                to,
                rel,
                what,
            });
        }
        dir_removals.reverse();
        planned.extend(dir_removals);
        planned
    }

    /// Applies one delivery, judged against what its target holds now.
    fn apply(&mut self, delivery: &Delivery, mode: Mode, stats: &mut Stats) {
        let Delivery {
            from,
            to,
            rel,
            what,
        } = delivery;
        let (from, to) = (*from, *to);
        if self.is_busy(to, rel) {
            return;
        }
        let target = self.refresh(to, rel);
        let path = self.folders[to].join(rel);
        match what {
            What::File { bytes, version } => {
                if !wanted(*version, target, mode) {
                    return;
                }
                if let (Mode::Conflict(engine), Some(Rec::File(_))) = (mode, target) {
                    self.put_conflict_copy(from, to, rel, bytes, *version, engine, stats);
                    return;
                }
                match write_atomic(&path, bytes, version.mtime) {
                    Ok(written) => {
                        self.index[to].insert(rel.clone(), Rec::File(written));
                        stats.copied += 1;
                    }
                    Err(e) => stats.errors.push(format!("write {}: {e}", path.display())),
                }
            }
            What::Dir => {
                if target.is_some() {
                    return;
                }
                match fs::create_dir_all(&path) {
                    Ok(()) => {
                        self.index[to].insert(rel.clone(), Rec::Dir);
                        stats.dirs += 1;
                    }
                    Err(e) => stats.errors.push(format!("mkdir {}: {e}", path.display())),
                }
            }
            What::DeleteFile { hash } => {
                if !matches!(target, Some(Rec::File(v)) if v.hash == *hash) {
                    return;
                }
                match fs::remove_file(&path) {
                    Ok(()) => {
                        self.index[to].insert(rel.clone(), Rec::GoneFile(*hash));
                        stats.deleted += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => stats.errors.push(format!("remove {}: {e}", path.display())),
                }
            }
            What::DeleteDir => {
                if target != Some(Rec::Dir) {
                    return;
                }
                // A directory that still holds something stays; a later round retries.
                if fs::remove_dir(&path).is_ok() {
                    self.index[to].insert(rel.clone(), Rec::GoneDir);
                    stats.dirs += 1;
                }
            }
        }
    }

    /// Puts `bytes` beside `rel` in `to` under `engine`'s conflict name for a copy from `from`.
    #[allow(clippy::too_many_arguments)]
    fn put_conflict_copy(
        &mut self,
        from: usize,
        to: usize,
        rel: &Path,
        bytes: &[u8],
        version: Version,
        engine: Engine,
        stats: &mut Stats,
    ) {
        let Some(file_name) = rel.file_name().and_then(|n| n.to_str()) else {
            stats
                .errors
                .push(format!("{}: not a UTF-8 file name", rel.display()));
            return;
        };
        let now = SystemTime::now();
        for n in 0..1000 {
            let name = conflict_name(engine, file_name, from, now, n);
            let conflict_rel = rel.with_file_name(&name);
            let path = self.folders[to].join(&conflict_rel);
            match read_with_mtime(&path) {
                // Already delivered.
                Ok((existing, _)) if existing == bytes => return,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    stats.errors.push(format!("read {}: {e}", path.display()));
                    return;
                }
            }
            match write_atomic(&path, bytes, version.mtime) {
                Ok(written) => {
                    self.index[to].insert(conflict_rel, Rec::File(written));
                    stats.conflicts += 1;
                }
                Err(e) => stats.errors.push(format!("write {}: {e}", path.display())),
            }
            return;
        }
        stats
            .errors
            .push(format!("{}: no free conflict name", rel.display()));
    }
}

/// Whether a file version should go to a target that holds `target`.
fn wanted(version: Version, target: Option<Rec>, mode: Mode) -> bool {
    match (target, mode) {
        (None | Some(Rec::GoneDir), _) => true,
        (Some(Rec::Dir), _) => false,
        (Some(Rec::File(t)), Mode::Newest) => t.hash != version.hash && version.newer_than(&t),
        (Some(Rec::File(t)), Mode::Overwrite | Mode::Conflict(_)) => t.hash != version.hash,
        // The target deleted this very content: the deletion wins and flows the other way.
        (Some(Rec::GoneFile(hash)), Mode::Newest | Mode::Conflict(_)) => hash != version.hash,
        (Some(Rec::GoneFile(_)), Mode::Overwrite) => true,
    }
}

/// Names an engine never replicates: temporary files (coffer's and the engines').
fn skipped(name: &str) -> bool {
    (name.starts_with('.') && name.ends_with(".tmp"))
        || (name.starts_with("~syncthing~") && name.ends_with(".tmp"))
}

/// Records every file and directory under `dir` (`rel` is `dir` relative to the folder).
fn walk(dir: &Path, rel: &Path, found: &mut BTreeMap<PathBuf, Rec>, stats: &mut Stats) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            stats.errors.push(format!("list {}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(skipped) {
            continue;
        }
        let child_rel = rel.join(&name);
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                found.insert(child_rel.clone(), Rec::Dir);
                walk(&path, &child_rel, found, stats);
            }
            Ok(t) if t.is_file() => match read_with_mtime(&path) {
                Ok((bytes, mtime)) => {
                    found.insert(child_rel, Rec::File(version_of(&bytes, mtime)));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => stats.errors.push(format!("read {}: {e}", path.display())),
            },
            _ => {}
        }
    }
}

fn read_with_mtime(path: &Path) -> io::Result<(Vec<u8>, SystemTime)> {
    let mut file = File::open(path)?;
    let mtime = file.metadata()?.modified()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((bytes, mtime))
}

fn version_of(bytes: &[u8], mtime: SystemTime) -> Version {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    Version {
        mtime,
        hash: hasher.finish(),
    }
}

/// Writes `bytes` to `.syncthing.NAME.tmp` beside `path` with modification time `mtime`, then
/// renames it over `path`. Returns the version as stored (the file system may round the time).
fn write_atomic(path: &Path, bytes: &[u8], mtime: SystemTime) -> io::Result<Version> {
    let parent = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path without a parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path without a file name"))?;
    fs::create_dir_all(parent)?;
    let mut temp_name = std::ffi::OsString::from(".syncthing.");
    temp_name.push(name);
    temp_name.push(".tmp");
    let temp = parent.join(temp_name);
    let stored = {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.set_modified(mtime)?;
        file.metadata()?.modified()?
    };
    if let Err(e) = fs::rename(&temp, path) {
        // Best effort: a leftover temp is skipped by everyone anyway.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(version_of(bytes, stored))
}

/// The conflict-copy name `engine` gives a copy of `file_name` coming from folder `from` at
/// `now`; `n` > 0 gives the further names used when the first is taken.
pub fn conflict_name(
    engine: Engine,
    file_name: &str,
    from: usize,
    now: SystemTime,
    n: u32,
) -> String {
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (file_name, String::new()),
    };
    let base = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let at = |secs: u64| utc(i64::try_from(secs).unwrap_or(i64::MAX));
    // Engines that stamp the time move on by a second for each further name.
    let t = at(base.saturating_add(u64::from(n)));
    match engine {
        Engine::Syncthing => format!(
            "{stem}.sync-conflict-{:04}{:02}{:02}-{:02}{:02}{:02}-{}{ext}",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            syncthing_short_id(from)
        ),
        Engine::Dropbox => {
            let number = if n == 0 {
                String::new()
            } else {
                format!(" ({n})")
            };
            let t = at(base);
            format!(
                "{stem} ({}'s conflicted copy {:04}-{:02}-{:02}{number}){ext}",
                host_name(from),
                t.year,
                t.month,
                t.day
            )
        }
        Engine::Nextcloud => format!(
            "{stem} (conflicted copy {:04}-{:02}-{:02} {:02}{:02}{:02}){ext}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        Engine::ICloud => format!("{stem} {}{ext}", n + 2),
        Engine::OneDrive => {
            let number = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            format!("{stem}-{}{number}{ext}", host_name(from))
        }
    }
}

/// The host name the simulated device of folder `folder` has: `DESKTOP-` and seven letters and
/// digits, as Windows names machines (used by the Dropbox and OneDrive names).
pub fn host_name(folder: usize) -> String {
    format!(
        "DESKTOP-{}",
        tag(folder, 0x9e37_79b9, b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
    )
}

/// The 7-character short device id Syncthing would show for the device of folder `folder`.
pub fn syncthing_short_id(folder: usize) -> String {
    tag(folder, 0x85eb_ca6b, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
}

fn tag(folder: usize, salt: u64, alphabet: &[u8]) -> String {
    let mut rng = XorShift::new((folder as u64 + 1).wrapping_mul(salt));
    (0..7)
        .map(|_| {
            let i = (rng.next() % alphabet.len() as u64) as usize;
            char::from(alphabet[i])
        })
        .collect()
}

/// A calendar date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

/// The UTC calendar time of `secs` seconds since the Unix epoch (proleptic Gregorian calendar).
pub fn utc(secs: i64) -> UtcTime {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Every value below is in range by construction.
    UtcTime {
        year,
        month: month as u32,
        day: day as u32,
        hour: (of_day / 3600) as u32,
        minute: (of_day / 60 % 60) as u32,
        second: (of_day % 60) as u32,
    }
}

/// xorshift64*: small, seeded, good enough to shuffle deliveries.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // The state must never be zero.
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Deliveries running late on a helper thread ([`Replicator::deliver_with_delay`]). Dropping the
/// handle lets them still arrive.
#[must_use = "wait() to know the deliveries arrived"]
pub struct Delayed {
    handle: JoinHandle<Stats>,
}

impl Delayed {
    /// Waits until the deliveries arrived; what they did.
    pub fn wait(self) -> Stats {
        self.handle.join().unwrap_or_else(|_| Stats {
            errors: vec!["the delivery thread panicked".to_owned()],
            ..Stats::default()
        })
    }

    /// Whether the deliveries have arrived.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// A file that is away for a moment ([`Replicator::vanish_for`]). Dropping the handle lets it
/// still come back.
#[must_use = "wait() to know the file is back"]
pub struct Vanish {
    handle: JoinHandle<io::Result<()>>,
}

impl Vanish {
    /// Waits until the file is back.
    pub fn wait(self) -> io::Result<()> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the vanish thread panicked")))
    }

    /// Whether the file is back.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// A file of which only the first half has been delivered ([`Replicator::deliver_half_written`]).
/// [`HalfWritten::complete`] writes the rest; dropping the handle completes it too.
pub struct HalfWritten {
    shared: Arc<Mutex<Inner>>,
    folder: usize,
    rel: PathBuf,
    path: PathBuf,
    bytes: Vec<u8>,
    mtime: SystemTime,
    done: bool,
}

impl HalfWritten {
    /// The path of the half-written file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole content the file will have once complete.
    pub fn full_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Writes the second half in place, gives the file the source's modification time, and
    /// hands the path back to the replicator.
    pub fn complete(mut self) -> io::Result<()> {
        self.finish()
    }

    /// Completes the write on a helper thread after `delay`.
    pub fn complete_after(self, delay: Duration) -> JoinHandle<io::Result<()>> {
        thread::spawn(move || {
            thread::sleep(delay);
            self.complete()
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let mut inner = lock(&self.shared);
        let result = (|| {
            let half = self.bytes.len() / 2;
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)?;
            file.seek(SeekFrom::Start(half as u64))?;
            file.write_all(&self.bytes[half..])?;
            file.set_len(self.bytes.len() as u64)?;
            file.set_modified(self.mtime)?;
            file.sync_data()?;
            file.metadata()?.modified()
        })();
        inner.busy.remove(&(self.folder, self.rel.clone()));
        let stored = result?;
        inner.index[self.folder]
            .insert(self.rel.clone(), Rec::File(version_of(&self.bytes, stored)));
        Ok(())
    }
}

impl Drop for HalfWritten {
    fn drop(&mut self) {
        // Best effort: an explicit complete() reports errors; a drop cannot.
        let _ = self.finish();
    }
}

/// The background replication thread ([`Replicator::background`]); dropping it stops the thread
/// and waits for the round in progress.
pub struct Background {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            // A panic of the thread has already been printed; nothing more to do here.
            let _ = handle.join();
        }
    }
}
