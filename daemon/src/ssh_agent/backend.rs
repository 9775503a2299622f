//! What the agent asks of the daemon: the [`AgentBackend`] trait.
//!
//! The agent server ([`super::server`]) speaks the protocol; the daemon
//! implements this trait over its vault: which keys to list, how to sign
//! with one, whether to keep a key that `ssh-add` gives it. The trait is
//! object-safe (methods return boxed futures) so the server holds an
//! `Arc<dyn AgentBackend>`, and every call is async so the daemon can take
//! its state lock without blocking the runtime.
//!
//! The server bounds every call (see [`super::server::AgentOptions`]): a
//! backend that does not answer in time gets the client a failure, never a
//! hang. Requests the agent never forwards here (`ssh-add -d`, `-D`, `-x`,
//! `-X`, smartcards) are refused by the server itself, with a log line.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ssh_key::public::KeyData;
use ssh_key::Signature;

use super::keys::SigningKey;

/// The future a backend call returns.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Refusal>> + Send + 'a>>;

/// One key the agent offers: its public half and the comment `ssh-add -l`
/// shows (the daemon may use the item's title).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentIdentity {
    /// The public key, as the agent protocol names it.
    pub public_key: KeyData,
    /// The comment shown to the user.
    pub comment: String,
}

/// Why the backend said no. The agent protocol can only answer
/// "failure", so the reason goes to the daemon's log (it never holds
/// secret data).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The vault is locked (or signed out): signing needs `coffer unlock`.
    /// For a listing, the server answers an empty list, as OpenSSH's own
    /// agent does while locked.
    Locked,
    /// No key of coffer's has this public key.
    UnknownKey,
    /// The user's configuration refuses the request; the text says which
    /// setting.
    Policy(String),
    /// The backend failed; the text says why, without secrets.
    Failed(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked => f.write_str("the vault is locked: run coffer unlock"),
            Self::UnknownKey => f.write_str("no key in coffer has this public key"),
            Self::Policy(why) => write!(f, "refused by the configuration: {why}"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// The daemon's side of the SSH agent.
pub trait AgentBackend: Send + Sync + 'static {
    /// The keys to offer, in the order clients should try them. While the
    /// vault is locked, either the keys (if the user allows listing while
    /// locked) or [`Refusal::Locked`].
    fn identities(&self) -> BackendFuture<'_, Vec<AgentIdentity>>;

    /// Signs `data` with the private key whose public half is `key`,
    /// honouring the agent's `flags` (see [`SigningKey::sign`], which does
    /// the work once the key is found). [`Refusal::Locked`] while locked,
    /// [`Refusal::UnknownKey`] for a key coffer does not hold.
    fn sign<'a>(
        &'a self,
        key: &'a KeyData,
        data: &'a [u8],
        flags: u32,
    ) -> BackendFuture<'a, Signature>;

    /// Stores a key that a client gave the agent (`ssh-add FILE`), with its
    /// comment. The server only calls this when
    /// [`super::server::AddPolicy::Store`] is configured (the default
    /// refuses such keys without asking).
    fn add(&self, key: SigningKey, comment: String) -> BackendFuture<'_, ()>;
}
