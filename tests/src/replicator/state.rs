//! What the replicator remembers of each folder (an index of versions and tombstones), and how
//! it plans a delivery from one folder to another and applies it, judged against what the target
//! holds when it arrives.

use std::collections::{hash_map::DefaultHasher, BTreeMap, HashSet};
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::naming::conflict_name;
use super::{Engine, Stats};

/// A version of a file as the replicator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version {
    pub(super) mtime: SystemTime,
    pub(super) hash: u64,
}

impl Version {
    /// The newer of two versions wins: modification time, then the content hash.
    fn newer_than(&self, other: &Version) -> bool {
        (self.mtime, self.hash) > (other.mtime, other.hash)
    }
}

/// What the replicator remembers about one path of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rec {
    File(Version),
    Dir,
    /// The file was there with this content hash, and was deleted.
    GoneFile(u64),
    GoneDir,
}

/// How deliveries treat a target that holds a different version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Newest,
    Overwrite,
    Conflict(Engine),
}

/// One change to carry from a folder to another, with the source content as it was when planned.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) rel: PathBuf,
    pub(super) what: What,
}

#[derive(Debug, Clone)]
pub(super) enum What {
    File { bytes: Arc<[u8]>, version: Version },
    Dir,
    DeleteFile { hash: u64 },
    DeleteDir,
}

pub(super) struct Inner {
    pub(super) folders: Vec<PathBuf>,
    pub(super) index: Vec<BTreeMap<PathBuf, Rec>>,
    /// (folder, path) pairs that a half-written delivery or a vanishing owns for now.
    pub(super) busy: HashSet<(usize, PathBuf)>,
    pub(super) queue: Vec<Delivery>,
    pub(super) rng: XorShift,
    /// Errors of the background thread, for [`Replicator::take_errors`](super::Replicator::take_errors).
    pub(super) errors: Vec<String>,
}

impl Inner {
    /// Rounds until nothing changes, at most a few more than there are folders.
    pub(super) fn converge(&mut self, shuffled: bool) -> Stats {
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
    pub(super) fn scan(&mut self, folder: usize, stats: &mut Stats) {
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

    /// Scans both folders and plans the deliveries from `from` to `to` with the content as it is
    /// now, for later: errors on single files are kept for [`Replicator::take_errors`](super::Replicator::take_errors).
    pub(super) fn plan_now(&mut self, from: usize, to: usize) -> Vec<Delivery> {
        let mut stats = Stats::default();
        self.scan(from, &mut stats);
        self.scan(to, &mut stats);
        let planned = self.plan(from, to, Mode::Newest, &mut stats);
        self.errors.extend(stats.errors);
        planned
    }

    /// What would carry `from`'s state (as indexed) to `to` (as indexed), with `from`'s content
    /// read now. Directory removals come last, deepest first.
    pub(super) fn plan(
        &mut self,
        from: usize,
        to: usize,
        mode: Mode,
        stats: &mut Stats,
    ) -> Vec<Delivery> {
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
    pub(super) fn apply(&mut self, delivery: &Delivery, mode: Mode, stats: &mut Stats) {
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
    pub(super) fn put_conflict_copy(
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

pub(super) fn read_with_mtime(path: &Path) -> io::Result<(Vec<u8>, SystemTime)> {
    let mut file = File::open(path)?;
    let mtime = file.metadata()?.modified()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((bytes, mtime))
}

pub(super) fn version_of(bytes: &[u8], mtime: SystemTime) -> Version {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    Version {
        mtime,
        hash: hasher.finish(),
    }
}

/// Writes `bytes` to `.syncthing.NAME.tmp` beside `path` with modification time `mtime`, then
/// renames it over `path`. Returns the version as stored (the file system may round the time).
pub(super) fn write_atomic(path: &Path, bytes: &[u8], mtime: SystemTime) -> io::Result<Version> {
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

/// xorshift64*: small, seeded, good enough to shuffle deliveries.
#[derive(Debug, Clone)]
pub(super) struct XorShift(u64);

impl XorShift {
    pub(super) fn new(seed: u64) -> Self {
        // The state must never be zero.
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fisher–Yates.
    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
