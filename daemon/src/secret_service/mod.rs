//! cofferd as the freedesktop Secret Service (`org.freedesktop.secrets` on
//! the session bus), so that browsers, `git credential-libsecret`,
//! NetworkManager, python-keyring and every other libsecret client keep
//! their secrets in the coffer vault: end-to-end encrypted, synced and
//! surviving a reinstall.
//!
//! The provider implements the Secret Service API 0.2 (Service, Collection,
//! Item, Session, Prompt) in pure Rust over zbus, against the abstract
//! [`SecretStore`]; the daemon implements that trait over the vault
//! ([`vault_store::VaultSecretStore`]) and decides when to start the
//! provider ([`manager`]: `coffer secret-service enable`).
//!
//! ```text
//!   client ──D-Bus──▶ service / collection / item / session / prompt
//!                         │   (zbus's executor thread)
//!                         ▼
//!                     StoreHandle ──tokio runtime──▶ dyn SecretStore (the vault)
//!                         ▲
//!   exports ◀── store change notices, lock state, clients leaving
//! ```
//!
//! # Layout
//!
//! - [`store`]: the [`SecretStore`] trait and its types (what the daemon
//!   implements); [`memory`]: [`MemoryStore`], its reference
//!   implementation, used by the tests.
//! - [`vault_store`]: [`vault_store::VaultSecretStore`], the trait over the
//!   session's vault; [`vault_items`]: how a Secret Service item is a coffer
//!   item (fields); [`vault_index`]: which vault items are Secret Service
//!   items, and the changes made elsewhere (sync, `coffer edit`, reset).
//! - [`manager`]: the daemon's side of `coffer secret-service`: the
//!   provider's life, `enable`, `disable`, `status`; [`setup`]: the choice
//!   file, the bus cofferd is in, the activation file's place and text.
//! - [`provider`]: [`SecretServiceProvider::start`]/`stop`, [`Bus`],
//!   [`current_owner`], the background tasks.
//! - `service`, `collection`, `item`, `session`, `prompt` (private): the
//!   D-Bus objects.
//! - `exports` (private): which objects are on the bus, and the signals.
//! - `deferred` (private): how a locked store that cannot search answers a
//!   search (a stand-in that `coffer unlock` resolves).
//! - [`crypto`]: the `dh-ietf1024-sha256-aes128-cbc-pkcs7` session crypto.
//! - [`paths`]: object paths and the escaping of store ids.
//! - `peer` (private): who calls (pid, executable, uid check, debug log).
//! - [`owner`]: claiming the name, and naming who has it when taken.
//! - [`activation`]: the D-Bus activation file.
//! - [`error`]: D-Bus error replies and start errors.
//!
//! # Wiring
//!
//! [`manager::Manager`] (one per daemon) starts a
//! [`vault_store::VaultSecretStore`] and a [`SecretServiceProvider`] over
//! it on `enable` and at start-up when enabled, watches
//! [`SecretServiceProvider::watch_running`] for a lost name, and stops it
//! on `disable` and at shutdown; a [`StartError::NameTaken`] becomes the
//! refusal `enable` shows.
#![warn(missing_docs)]

pub mod activation;
mod collection;
pub mod crypto;
mod deferred;
pub mod error;
mod exports;
mod item;
pub mod manager;
pub mod memory;
pub mod owner;
pub mod paths;
mod peer;
mod prompt;
pub mod provider;
mod service;
mod session;
pub mod setup;
pub mod store;
pub mod vault_index;
pub mod vault_items;
pub mod vault_store;

pub use error::StartError;
pub use memory::{MemoryStore, MemoryStoreOptions};
pub use owner::{NameOwner, BUS_NAME};
pub use provider::{current_owner, Bus, SecretServiceProvider};
pub use session::SessionStats;
pub use store::{
    Attributes, CollectionId, CollectionInfo, Created, ItemId, ItemInfo, NewItem, Secret,
    SecretStore, StoreChange, StoreError, UnlockRequest, DEFAULT_ALIAS, LOGIN,
};
