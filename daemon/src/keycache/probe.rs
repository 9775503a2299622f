//! Probing a store (write, read back, delete a random entry) and running a
//! store call under a deadline on its own thread, so that a hung D-Bus can
//! never hang the daemon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use zeroize::Zeroizing;

use super::backend::Backend;
use super::os::{describe, os_delete, os_get, os_set, scrub};
use super::PROBE_TIMEOUT;

/// Hex digits used for the stored value.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Numbers the probe entries of this process, so that concurrent probes never share an entry.
static PROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Why a bounded call produced no result.
pub(super) enum Bounded {
    TimedOut,
    NoThread(String),
}

/// Runs `f` on its own thread and waits at most `limit` for it. A call that overruns is left
/// behind (its thread ends whenever the call does; its result is dropped, zeroizing any secret).
pub(super) fn bounded<T, F>(limit: Duration, f: F) -> Result<T, Bounded>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("coffer-keycache".into())
        .spawn(move || {
            // The receiver is gone only after a timeout; the result is then just dropped.
            let _ = tx.send(f());
        })
        .map_err(|err| Bounded::NoThread(format!("cannot start a worker thread: {err}")))?;
    rx.recv_timeout(limit).map_err(|err| match err {
        mpsc::RecvTimeoutError::Timeout => Bounded::TimedOut,
        mpsc::RecvTimeoutError::Disconnected => {
            Bounded::NoThread("the worker thread panicked".into())
        }
    })
}
/// Writes, reads back and deletes a probe entry with a random value; checks the deletion too.
pub(super) fn probe(backend: Backend) -> Result<(), String> {
    let user = format!(
        ".probe/{}/{}",
        std::process::id(),
        PROBE_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let token = random_token();
    match bounded(PROBE_TIMEOUT, move || probe_now(backend, &user, &token)) {
        Ok(result) => result,
        Err(Bounded::TimedOut) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        Err(Bounded::NoThread(reason)) => Err(reason),
    }
}

fn probe_now(backend: Backend, user: &str, token: &Zeroizing<Vec<u8>>) -> Result<(), String> {
    // keyutils maps the kernel's EACCES (no usable session keyring) to "no entry".
    let no_entry = |step: &str| {
        if backend == Backend::Keyutils {
            format!(
                "{step} failed with 'no entry', which is how the keyring crate reports the \
                 kernel's EACCES: this process has no session keyring of its own, or may not link \
                 keys into the user's persistent keyring; run the daemon in a login session or \
                 under `keyctl session -`"
            )
        } else {
            format!("{step} failed: no such entry")
        }
    };
    let failed = |step: &str, err: &keyring::Error| match err {
        keyring::Error::NoEntry => no_entry(step),
        other => format!("{step} failed: {}", describe(other)),
    };
    if let Err(err) = os_set(backend, user, token) {
        scrub(backend, user);
        return Err(failed("writing a probe entry", &err));
    }
    let read_back = match os_get(backend, user) {
        Ok(Some(value)) if value.as_slice() == token.as_slice() => Ok(()),
        Ok(Some(_)) => Err("the probe entry read back with another value".to_string()),
        Ok(None) => Err(no_entry("reading the probe entry back")),
        Err(e) => Err(failed("reading the probe entry back", &e)),
    };
    let deleted = os_delete(backend, user);
    if read_back.is_err() || !matches!(deleted, Ok(true)) {
        scrub(backend, user);
    }
    read_back?;
    match deleted {
        Ok(true) => {}
        Ok(false) => return Err(no_entry("deleting the probe entry")),
        Err(e) => return Err(failed("deleting the probe entry", &e)),
    }
    match os_get(backend, user) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("the probe entry is still there after deleting it".into()),
        Err(e) => Err(failed("reading the deleted probe entry", &e)),
    }
}
/// A random, non-secret probe value (16 random bytes in hex).
fn random_token() -> Zeroizing<Vec<u8>> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !filled {
        // Good enough for a probe value: it only has to differ between probes.
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            let word = hasher.finish().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    hex_encode(&bytes)
}
/// Lowercase hex of `bytes`, in zeroized memory.
pub(super) fn hex_encode(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() * 2));
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
    out
}

/// Parses exactly 64 hex digits (either case) into a key; `None` for anything else.
pub(super) fn hex_decode(text: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() != 64 {
        return None;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (slot, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(key)
}
