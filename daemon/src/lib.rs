//! `cofferd`, coffer's per-user daemon: it holds the unlocked vault, serves
//! the `coffer` CLI over a Unix socket, watches the sync folders, merges
//! other devices' changes, caches the key in the OS keyring, and handles
//! account resets.
//!
//! # Layout
//!
//! - [`run`]: start-up and shutdown (lock, socket, ready, signals).
//! - [`daemon`]: the state machine and account requests.
//! - [`items`]: item requests.
//! - [`reset`]: account reset and sync-folder requests.
//! - [`interop`]: import, export, backup and restore.
//! - [`sync`]: sync rounds, remote resets.
//! - [`sync_names`]: which file in a sync folder is what.
//! - [`watch`]: the file watcher and sync scheduling.
//! - [`server`]: the accept loop and connections.
//! - [`socket`]: binding the socket safely.
//! - [`keycache`]: the OS keyring cache.
//! - [`activation`]: systemd/launchd socket activation and readiness.
//! - [`secret_service`]: the freedesktop Secret Service provider.
//! - [`device`]: the `device.json` file.
//! - [`config`], [`logging`], [`lockfile`], [`fsutil`], [`trash`].
#![warn(missing_docs)]

pub mod activation;
pub mod config;
pub mod daemon;
pub mod device;
pub mod fsutil;
pub mod interop;
pub mod items;
pub mod keycache;
pub mod lockfile;
pub mod logging;
pub mod reset;
pub mod run;
pub mod secret_service;
pub mod server;
pub mod socket;
pub mod sync;
pub mod sync_names;
pub mod trash;
pub mod watch;

/// Creates `dir` 0700 (and its parents).
pub(crate) fn dirs_private(dir: &std::path::Path) -> std::io::Result<()> {
    coffer_proto::dirs::create_private_dir(dir)
}
