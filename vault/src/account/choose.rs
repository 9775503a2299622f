//! Which of several headers of one epoch a device adopts, and which one an
//! unlock (or login) opens.
//!
//! Headers of one *lineage* (same account, epoch and reset details) are
//! ordered by [`AccountHeader::precedence`]: the higher generation wins, at
//! equal generations (two devices changed at once) the smaller SHA-256 of
//! the MAC input and MAC. The order is total, so every device picks the same
//! winner from any set of candidates, in any order.
//!
//! Nothing is taken on trust: a signed-in device adopts a candidate only
//! when it authenticates under the vault key the device holds
//! ([`adoptable`]); an unlock opens the highest candidate the typed secrets
//! open, then refuses when an authentic candidate above it exists (the
//! password typed is an old one, [`open_newest`]).

use super::{AccountError, AccountHeader};
use crate::secret::SecretKey;

/// At most this many distinct candidates are derived from at one unlock
/// (each costs one Argon2id run); the device's own header is tried anyway.
pub const MAX_TRIES: usize = 4;

impl AccountHeader {
    /// Whether `other` belongs to this header's lineage: the same account,
    /// epoch and reset (the same vault key, if both are authentic).
    pub fn same_lineage(&self, other: &AccountHeader) -> bool {
        self.account_id == other.account_id
            && self.epoch == other.epoch
            && self.reset == other.reset
    }
}

/// What a signed-in device makes of the candidates of its lineage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The authentic candidate that wins over the device's header, if any.
    pub newest: Option<usize>,
    /// Candidates of the lineage that do not authenticate under the vault
    /// key (forged or damaged): ignored.
    pub forged: Vec<usize>,
    /// Authentic candidates of a lower generation than the device's header
    /// (older changes; a replay if a file went back to one): ignored.
    pub older: Vec<usize>,
    /// The highest generation among the device's header and the authentic
    /// candidates (a new change takes the next one).
    pub highest: u64,
}

/// Judges `candidates` against `current` (the device's header) with the
/// vault key. Candidates of another lineage are left out (a reset is not
/// judged here).
pub fn adoptable(
    current: &AccountHeader,
    candidates: &[AccountHeader],
    vault_key: &SecretKey,
) -> Verdict {
    let mut v = Verdict {
        highest: current.generation,
        ..Verdict::default()
    };
    let mut best = current.precedence();
    for (i, c) in candidates.iter().enumerate() {
        if !current.same_lineage(c) {
            continue;
        }
        if c.verify(vault_key).is_err() {
            v.forged.push(i);
            continue;
        }
        if c.generation < current.generation {
            v.older.push(i);
        }
        v.highest = v.highest.max(c.generation);
        if c.precedence() > best {
            best = c.precedence();
            v.newest = Some(i);
        }
    }
    v
}

/// A successful [`open_newest`].
#[derive(Debug)]
pub struct Opening<T> {
    /// The candidate that opened, which is the newest authentic one.
    pub index: usize,
    /// Its vault key.
    pub vault_key: SecretKey,
    /// What the opener returned with it.
    pub extra: T,
}

/// Why [`open_newest`] failed.
#[derive(Debug)]
pub enum OpenFailure {
    /// Nothing opened: the error of the best attempt (wrong credentials
    /// unless a header unwrapped and failed its MAC, or a KDF was refused).
    Failed(AccountError),
    /// The secrets open candidate `opened`, but the authentic candidate
    /// `newest` is of a later generation: the password typed was replaced.
    Superseded {
        /// What opened.
        opened: usize,
        /// What holds now.
        newest: usize,
    },
}

/// Tries the candidates (one lineage) from the highest precedence down,
/// `open` deriving the vault key from the typed secrets, at most
/// [`MAX_TRIES`] distinct ones plus `pinned` (the device's own header). The
/// first that opens gives the vault key; every candidate is then checked
/// with it, and the highest authentic one must be the one that opened.
pub fn open_newest<T>(
    candidates: &[AccountHeader],
    pinned: Option<usize>,
    mut open: impl FnMut(&AccountHeader) -> Result<(SecretKey, T), AccountError>,
) -> Result<Opening<T>, OpenFailure> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(candidates[i].precedence()));
    order.dedup_by_key(|i| candidates[*i].precedence());
    let mut tries: Vec<usize> = order.iter().copied().take(MAX_TRIES).collect();
    if let Some(p) = pinned.filter(|p| *p < candidates.len() && !tries.contains(p)) {
        tries.push(p);
    }
    let mut error = AccountError::WrongCredentials;
    for i in tries {
        match open(&candidates[i]) {
            Ok((vault_key, extra)) => {
                let opened = candidates[i].precedence();
                let newest = order
                    .iter()
                    .copied()
                    .filter(|&j| candidates[j].same_lineage(&candidates[i]))
                    .filter(|&j| candidates[j].precedence() > opened)
                    .find(|&j| candidates[j].verify(&vault_key).is_ok());
                return match newest {
                    Some(newest) => Err(OpenFailure::Superseded { opened: i, newest }),
                    None => Ok(Opening {
                        index: i,
                        vault_key,
                        extra,
                    }),
                };
            }
            Err(AccountError::WrongCredentials) => {}
            Err(e) => error = e,
        }
    }
    Err(OpenFailure::Failed(error))
}
