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
//!
//! # Wiring
//!
//! The daemon binds `AgentSocket::bind(&server::socket_path(runtime_dir))`
//! next to its main socket, and spawns
//! `serve(socket, Arc::new(its_backend), AgentOptions { add_policy, .. }, shutdown_rx)`
//! on the same shutdown signal as the main server.

pub mod backend;
pub mod keys;
pub mod server;

pub use backend::{AgentBackend, AgentIdentity, BackendFuture, Refusal};
pub use keys::{KeyError, KeyKind, KeyMaterial, SigningKey};
pub use server::{serve, AddPolicy, AgentOptions, AgentSocket};
