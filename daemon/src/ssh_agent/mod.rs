//! coffer's SSH agent: SSH-key items served over the OpenSSH agent
//! protocol on their own socket (`$XDG_RUNTIME_DIR/coffer/ssh-agent.sock`).
//!
//! # Layout
//!
//! - [`keys`]: pure functions over keys: import (OpenSSH, encrypted or
//!   not; PEM/PKCS#8 RSA), generate (ed25519, rsa, ecdsa), describe (public
//!   line, fingerprint), sign (honouring the RSA SHA-2 flags).
//! - [`backend`]: [`AgentBackend`], the trait the daemon implements over
//!   its vault (list, sign, add), and [`Refusal`].
//! - [`server`]: [`AgentSocket`] (binding safely, as the main socket) and
//!   [`serve`] (peer uid check, bounded frames and backend calls,
//!   graceful shutdown).
//! - [`keylist`]: which items are SSH keys, kept up to date cheaply.
//! - [`index`]: the public-key index for listing while locked
//!   (`ssh_agent_list_locked = true`).
//! - [`state`]: [`AgentState`], the agent's part of the daemon (settings,
//!   whether it serves, the key list).
//!
//! # Wiring
//!
//! `run` binds `AgentSocket::bind(&dirs.ssh_agent_socket())` next to the
//! main socket (unless `ssh_agent = false`) and spawns
//! `serve(socket, Arc::new(VaultAgentBackend), AgentOptions { add_policy, .. }, shutdown_rx)`
//! on the same shutdown signal as the main server. The backend over the
//! session is `crate::handlers::agent`; the `ssh_*` requests of the CLI
//! are `crate::handlers::ssh`.

pub mod backend;
pub mod index;
pub mod keylist;
pub mod keys;
pub mod server;
pub mod state;

pub use backend::{AgentBackend, AgentIdentity, BackendFuture, Refusal};
pub use keylist::{KeyList, VaultKey, KIND_SSH_KEY};
pub use keys::{KeyError, KeyKind, KeyMaterial, SigningKey};
pub use server::{serve, AddPolicy, AgentOptions, AgentSocket};
pub use state::AgentState;
