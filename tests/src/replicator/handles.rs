//! Handles of replicator work that finishes later, on a helper thread or when dropped.

use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use super::state::{version_of, Inner, Rec};
use super::{lock, Stats};

/// Deliveries running late on a helper thread ([`Replicator::deliver_with_delay`](super::Replicator::deliver_with_delay)). Dropping the
/// handle lets them still arrive.
#[must_use = "wait() to know the deliveries arrived"]
pub struct Delayed {
    pub(super) handle: JoinHandle<Stats>,
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

/// A file that is away for a moment ([`Replicator::vanish_for`](super::Replicator::vanish_for)). Dropping the handle lets it
/// still come back.
#[must_use = "wait() to know the file is back"]
pub struct Vanish {
    pub(super) handle: JoinHandle<io::Result<()>>,
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

/// A file of which only the first half has been delivered ([`Replicator::deliver_half_written`](super::Replicator::deliver_half_written)).
/// [`HalfWritten::complete`] writes the rest; dropping the handle completes it too.
pub struct HalfWritten {
    pub(super) shared: Arc<Mutex<Inner>>,
    pub(super) folder: usize,
    pub(super) rel: PathBuf,
    pub(super) path: PathBuf,
    pub(super) bytes: Vec<u8>,
    pub(super) mtime: SystemTime,
    pub(super) done: bool,
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

/// The background replication thread ([`Replicator::background`](super::Replicator::background)); dropping it stops the thread
/// and waits for the round in progress.
pub struct Background {
    pub(super) stop: Option<mpsc::Sender<()>>,
    pub(super) handle: Option<JoinHandle<()>>,
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
