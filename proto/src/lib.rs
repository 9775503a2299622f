//! The socket protocol between `cofferd` and `coffer`: message types and
//! framing, shared by both binaries and nothing else.
//!
//! # Wire format
//!
//! Newline-delimited JSON over a Unix socket. The client speaks first with a
//! [`Hello`]; the daemon answers with its own [`Hello`] or an error whose code
//! is [`ErrorCode::ProtocolMismatch`]. Then each line from the client is a
//! [`RequestEnvelope`] (`{"id":N,"method":"…","params":{…}}`) and each line
//! from the daemon is a [`ResponseEnvelope`] carrying the same `id` with
//! either `result` or `error`, or, after a `subscribe` request, an
//! [`EventEnvelope`] (`{"event":{…}}`). A line longer than [`MAX_LINE`] is
//! refused with [`ErrorCode::LineTooLong`].
//!
//! # Layout
//!
//! - [`dirs`]: every path, resolved from the environment.
//! - [`envelope`]: hello, request, response and event envelopes.
//! - [`request`]: the typed requests and their parameters.
//! - [`reply`]: the typed results.
//! - [`error`]: error codes and the error body.
//! - [`frame`]: blocking, bounded line framing for the client.
//! - [`secret`]: a zeroizing string for passwords in transit.
//! - [`secret_service`]: `coffer secret-service …` and the session bus.
//! - [`generate`], [`otp`], [`clipboard`], [`search`], [`trash`]: the
//!   parameters and replies of the generator, one-time codes, clipboard,
//!   search and trash methods.
//! - [`time`]: times as both binaries print them.
//! - [`ssh`]: SSH-key requests and replies, and the agent in `status`.
#![warn(missing_docs)]

pub mod clipboard;
pub mod dirs;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod generate;
pub mod otp;
pub mod reply;
pub mod request;
pub mod search;
pub mod secret;
pub mod secret_service;
pub mod ssh;
pub mod time;
pub mod trash;

pub use envelope::{EventEnvelope, Hello, RequestEnvelope, ResponseEnvelope};
pub use error::{ErrorBody, ErrorCode};
pub use request::Request;
pub use secret::Secret;

/// The git commit the binaries were built from (12 hex digits), or
/// `unknown` when the source tree was not a git checkout.
pub const GIT_COMMIT: &str = env!("COFFER_GIT_COMMIT");

/// `VERSION (commit COMMIT)`: what `coffer --version` and `cofferd
/// --version` print after the program's name.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| format!("{} (commit {GIT_COMMIT})", env!("CARGO_PKG_VERSION")))
}

/// The protocol version. Bumped on any incompatible change; client and
/// daemon must agree exactly.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, newline included (32 MiB: room for
/// an import of tens of thousands of items).
pub const MAX_LINE: usize = 32 * 1024 * 1024;
