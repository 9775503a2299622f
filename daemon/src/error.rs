//! The daemon's errors.
//!
//! - [`Error`]: a request could not be done. Handlers return it; the
//!   dispatch (`handlers::dispatch`) is the one place it becomes the wire's
//!   [`ErrorBody`]. Every message says what is wrong and what to do, and
//!   never holds a secret.
//! - [`Fatal`]: cofferd cannot start (bad paths or config, another daemon,
//!   no socket); `run` prints it and exits with [`Fatal::exit_code`].

use coffer_proto::reply::State;
use coffer_proto::{ErrorBody, ErrorCode};
use serde::Serialize;

/// A handler's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One candidate of an ambiguous query.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The item's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its username.
    pub username: String,
}

/// A request that could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device is not in a state that allows the request.
    #[error("{}", not_ready_message(*.0))]
    NotReady(State),
    /// The device is signed in already (or waits after a reset).
    #[error("{0}")]
    AlreadySignedIn(String),
    /// The parameters do not fit the request.
    #[error("{0}")]
    Invalid(String),
    /// The input (a file, an account header) is malformed.
    #[error("{0}")]
    BadInput(String),
    /// The Account Key is malformed (caught before any key derivation).
    #[error("{0}")]
    BadAccountKey(String),
    /// The Account Password or Account Key is wrong.
    #[error("{0}")]
    WrongCredentials(String),
    /// The device cannot check the password alone: the Account Key is needed.
    #[error("{0}")]
    AccountKeyNeeded(String),
    /// Too many wrong attempts.
    #[error("too many wrong attempts; try again in {secs} s")]
    RateLimited {
        /// Seconds to wait.
        secs: u64,
    },
    /// No item matches the query.
    #[error("{0}")]
    NoSuchItem(String),
    /// Several items match the query.
    #[error("{message}")]
    Ambiguous {
        /// What matched, in words.
        message: String,
        /// The items that matched.
        candidates: Vec<Candidate>,
    },
    /// The email does not match the account.
    #[error("that email is not this account's; nothing was changed")]
    EmailMismatch,
    /// No account was found.
    #[error("{0}")]
    AccountNotFound(String),
    /// A sync folder is missing, unreadable or already configured.
    #[error("{0}")]
    SyncFolder(String),
    /// Reading or writing a file failed; the message says what was and was
    /// not changed.
    #[error("{0}")]
    Io(String),
    /// The method is not known to this daemon.
    #[error("this method is not supported by this cofferd")]
    UnknownMethod,
    /// No clipboard could be reached; says why and what to do instead.
    #[error("{0}")]
    Clipboard(String),
    /// A bug or an unexpected condition.
    #[error("internal error: {0}")]
    Internal(String),
    /// The Secret Service cannot be provided (the message says why and
    /// what to do).
    #[error("{0}")]
    SecretService(String),
    /// An SSH key cannot be imported or made; `kind` names the problem
    /// for clients (`passphrase_needed`, `wrong_passphrase`, `invalid`,
    /// `duplicate`) in the error's data as `{"ssh_key": kind}`.
    #[error("{message}")]
    SshKey {
        /// What is wrong and what to do (never key material).
        message: String,
        /// The problem, for clients that react to it.
        kind: &'static str,
    },
}

impl Error {
    /// A file operation failed before anything was changed.
    pub fn nothing_changed(e: impl std::fmt::Display) -> Error {
        Error::Io(format!("{e}; nothing was changed"))
    }

    /// A file operation failed after `done` had already happened.
    pub fn io_after(done: &str, e: impl std::fmt::Display) -> Error {
        Error::Io(format!("{e} (after {done})"))
    }

    /// A bug or an unexpected condition, logged as such.
    pub fn internal(e: impl std::fmt::Display) -> Error {
        tracing::error!(error = %e, "internal error");
        Error::Internal(e.to_string())
    }

    /// The wire's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotReady(State::SignedOut) => ErrorCode::SignedOut,
            Error::NotReady(State::Locked) => ErrorCode::Locked,
            Error::NotReady(State::Reset) => ErrorCode::Reset,
            Error::NotReady(State::Unlocked) | Error::AlreadySignedIn(_) => {
                ErrorCode::AlreadySignedIn
            }
            Error::Invalid(_) => ErrorCode::InvalidParams,
            Error::BadInput(_) => ErrorCode::BadInput,
            Error::BadAccountKey(_) => ErrorCode::BadAccountKey,
            Error::WrongCredentials(_) => ErrorCode::WrongCredentials,
            Error::AccountKeyNeeded(_) => ErrorCode::AccountKeyNeeded,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::NoSuchItem(_) => ErrorCode::NoSuchItem,
            Error::Ambiguous { .. } => ErrorCode::Ambiguous,
            Error::EmailMismatch => ErrorCode::EmailMismatch,
            Error::AccountNotFound(_) => ErrorCode::AccountNotFound,
            Error::SyncFolder(_) => ErrorCode::SyncFolder,
            Error::Io(_) => ErrorCode::Io,
            Error::UnknownMethod => ErrorCode::UnknownMethod,
            Error::Internal(_) => ErrorCode::Internal,
            Error::SecretService(_) => ErrorCode::SecretService,
            Error::Clipboard(_) => ErrorCode::Clipboard,
            Error::SshKey { .. } => ErrorCode::BadInput,
        }
    }
}

impl From<Error> for ErrorBody {
    fn from(e: Error) -> ErrorBody {
        let mut body = ErrorBody::new(e.code(), e.to_string());
        if let Error::Ambiguous { candidates, .. } = &e {
            body.data = Some(serde_json::json!({ "candidates": candidates }));
        }
        if let Error::SshKey { kind, .. } = &e {
            body.data = Some(serde_json::json!({ "ssh_key": kind }));
        }
        body
    }
}

fn not_ready_message(s: State) -> &'static str {
    match s {
        State::SignedOut => {
            "this device is not signed in; run `coffer signup --email EMAIL` or `coffer login --email EMAIL --sync-folder DIR`"
        }
        State::Locked => "the vault is locked; run `coffer unlock`",
        State::Reset => {
            "the account was reset; run `coffer login --email EMAIL` with the new Account Password and Account Key (see `coffer status`)"
        }
        State::Unlocked => "this device is already signed in and unlocked",
    }
}

/// Why cofferd cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Another daemon runs for this user.
    #[error("{0}")]
    AlreadyRunning(String),
    /// The config file is wrong (file, line and key in the message).
    #[error("bad config: {0}")]
    Config(String),
    /// Anything else that keeps the daemon from starting.
    #[error("{0}")]
    Startup(String),
}

impl Fatal {
    /// The process's exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Fatal::AlreadyRunning(_) => crate::run::EXIT_ALREADY_RUNNING,
            Fatal::Config(_) | Fatal::Startup(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_wire_bodies_with_their_codes() {
        let body: ErrorBody = Error::NotReady(State::Locked).into();
        assert_eq!(body.code, ErrorCode::Locked);
        assert!(body.message.contains("coffer unlock"));
        let body: ErrorBody = Error::Ambiguous {
            message: "2 items".into(),
            candidates: vec![Candidate {
                id: "i".into(),
                title: "t".into(),
                username: "u".into(),
            }],
        }
        .into();
        assert_eq!(body.data.unwrap()["candidates"][0]["id"], "i");
        let body: ErrorBody = Error::nothing_changed("disk full").into();
        assert_eq!(
            (body.code, body.message.as_str()),
            (ErrorCode::Io, "disk full; nothing was changed")
        );
        assert!(!Error::io_after("trashing the container", "EIO")
            .to_string()
            .contains("nothing was changed"));
        assert_eq!(Fatal::AlreadyRunning("x".into()).exit_code(), 17);
    }
}
