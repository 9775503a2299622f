//! Fleets: N devices signed in to one account, the way most sync and reset
//! scenarios begin. The first device signs up, the others log in with the
//! Account Key it printed.
//!
//! - [`Fleet::shared`]: every device on one shared folder (an engine that
//!   is always in step).
//! - [`Fleet::replicated`]: one folder per device, and the [`Replicator`]
//!   that plays the sync engine between them, returned apart so that a test
//!   can drive it while it holds the devices. It has carried the signup to
//!   every folder before the logins; nothing has run since.
//! - [`Fleet::on_folders`]: one given folder per device, kept in step by
//!   whatever the test runs (a real engine): `carry` brings the signup to
//!   the other folders before the logins.
//!
//! Fields drop in order: the devices first (their daemons stop), then the
//! folders.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::replicator::Replicator;
use crate::{shared_folder, text, Device};

/// The account a fleet signs up.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The email address.
    pub email: &'a str,
    /// The Account Password.
    pub password: &'a str,
    /// The password hint given at signup (`None`: no `--hint` at all).
    pub hint: Option<&'a str>,
}

impl<'a> Account<'a> {
    /// An account without a hint.
    pub const fn new(email: &'a str, password: &'a str) -> Self {
        Account {
            email,
            password,
            hint: None,
        }
    }

    /// The same account, signed up with `--hint HINT`.
    pub const fn with_hint(self, hint: &'a str) -> Self {
        Account {
            hint: Some(hint),
            ..self
        }
    }
}

/// N devices signed in to one account.
pub struct Fleet<const N: usize> {
    /// The devices, named as asked; device 0 signed up.
    pub devices: [Device; N],
    /// The sync folder of each device (all the same for a shared fleet).
    pub folders: [PathBuf; N],
    /// What `signup --json` printed.
    pub signup: Value,
    /// The Account Key.
    pub account_key: String,
    /// The account id (the name of the account's directory in a folder).
    pub account_id: String,
    _dirs: Vec<TempDir>,
}

impl<const N: usize> Fleet<N> {
    /// N devices named `names`, all on one new shared folder.
    pub fn shared(names: [&str; N], account: Account<'_>) -> Fleet<N> {
        let dir = shared_folder();
        let folders = std::array::from_fn(|_| dir.path().to_path_buf());
        Self::sign_in(names, folders, vec![dir], account, || {})
    }

    /// N devices named `names`, each on a new folder of its own, and the
    /// replicator (shuffles seeded with `seed`) between those folders.
    pub fn replicated(names: [&str; N], account: Account<'_>, seed: u64) -> (Fleet<N>, Replicator) {
        let dirs: Vec<TempDir> = (0..N).map(|_| shared_folder()).collect();
        let folders: [PathBuf; N] = std::array::from_fn(|i| dirs[i].path().to_path_buf());
        let mut rep = Replicator::with_seed(folders.to_vec(), seed);
        let fleet = Self::sign_in(names, folders, dirs, account, || {
            rep.sync_all();
        });
        (fleet, rep)
    }

    /// N devices named `names` on the folders `dirs` (one each), which the
    /// fleet keeps until it drops; `carry` (an engine's run) is called after
    /// the signup, before the logins.
    pub fn on_folders(
        names: [&str; N],
        dirs: [TempDir; N],
        account: Account<'_>,
        carry: impl FnOnce(),
    ) -> Fleet<N> {
        let folders: [PathBuf; N] = std::array::from_fn(|i| dirs[i].path().to_path_buf());
        Self::sign_in(names, folders, dirs.into(), account, carry)
    }

    /// Signs device 0 up, runs `carry` (the engine's round that brings the
    /// header to the other folders), and logs the others in.
    fn sign_in(
        names: [&str; N],
        folders: [PathBuf; N],
        dirs: Vec<TempDir>,
        account: Account<'_>,
        carry: impl FnOnce(),
    ) -> Fleet<N> {
        assert!(N > 0, "a fleet has at least the device that signs up");
        let devices: [Device; N] =
            std::array::from_fn(|i| Device::with_sync_folder(names[i], &folders[i]));
        let signup = devices[0].signup_with_hint(account.email, account.password, account.hint);
        let account_key = text(&signup["account_key"]);
        let account_id = text(&signup["account_id"]);
        carry();
        for (dev, folder) in devices.iter().zip(&folders).skip(1) {
            dev.login_ok(account.email, account.password, &account_key, folder);
            let st = dev.status();
            assert_eq!(
                st["state"],
                "unlocked",
                "device {} after its login: {st:#}",
                dev.name()
            );
        }
        Fleet {
            devices,
            folders,
            signup,
            account_key,
            account_id,
            _dirs: dirs,
        }
    }

    /// Device 0's folder (the one folder of a shared fleet).
    pub fn folder(&self) -> &Path {
        &self.folders[0]
    }

    /// The account's directory in device `i`'s folder.
    pub fn account_dir(&self, i: usize) -> PathBuf {
        self.folders[i].join(&self.account_id)
    }

    /// The devices, as references (for helpers that take `&[&Device]`).
    pub fn refs(&self) -> [&Device; N] {
        std::array::from_fn(|i| &self.devices[i])
    }
}
