//! `cofferd`, coffer's per-user daemon: it holds the unlocked vault, serves
//! the `coffer` CLI over a Unix socket, watches the sync folders, merges
//! other devices' changes, caches the key in the OS keyring, and handles
//! account resets.
//!
//! # Layout
//!
//! - [`run`]: start-up and shutdown (lock, socket, ready, signals).
//! - [`daemon`]: the shared handles and the state lock.
//! - [`session`]: the state and its transitions (the one owner of state).
//! - [`handlers`]: one module per area of requests, and the dispatch.
//! - [`interop`]: import, export, backup and restore, and the import of an
//!   older epoch's container (a regretted reset).
//! - [`sync`]: sync rounds (layout, pull, publish, health, reset watch, the
//!   per-device header changes and unlock keys, adopting newer headers,
//!   stale files, own-file losses, paced removals, header restore).
//! - [`watch`]: the file watcher and sync scheduling.
//! - [`store`]: the container, `device.json`, durable writes, trash, lock file.
//! - [`server`]: the accept loop and connections; [`socket`]: binding it safely.
//! - [`keycache`]: the OS keyring cache.
//! - [`ssh_agent`]: the OpenSSH agent served from the vault's SSH keys.
//! - [`activation`]: systemd/launchd socket activation and readiness.
//! - [`error`]: request errors (turned into wire replies in one place) and
//!   fatal start-up errors.
//! - [`hooks`]: test seams, compiled in only with the `test-hooks` feature.
//! - [`config`], [`logging`].
//! - [`secret_service`]: the freedesktop Secret Service provider and the
//!   vault behind it (`coffer secret-service`).
//! - [`clipboard`]: `--clip`: the daemon owns the clipboard through a
//!   child process that clears it later.
#![warn(missing_docs)]

pub mod activation;
pub mod clipboard;
pub mod config;
pub mod daemon;
pub mod error;
pub mod handlers;
pub mod hooks;
pub mod interop;
pub mod keycache;
pub mod logging;
pub mod run;
pub mod secret_service;
pub mod server;
pub mod session;
pub mod socket;
pub mod ssh_agent;
pub mod store;
pub mod sync;
pub mod watch;
