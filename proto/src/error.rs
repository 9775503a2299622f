//! Typed error codes carried in responses.

use serde::{Deserialize, Serialize};

/// What went wrong, in a form scripts can match on. The CLI maps these to
/// its exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The line was not valid JSON or not an envelope.
    BadRequest,
    /// The method name is unknown to this daemon.
    UnknownMethod,
    /// The parameters do not fit the method.
    InvalidParams,
    /// Client and daemon speak different protocol versions.
    ProtocolMismatch,
    /// A line exceeded [`crate::MAX_LINE`].
    LineTooLong,
    /// No account on this device: sign up or log in first.
    SignedOut,
    /// The vault is locked: unlock first.
    Locked,
    /// The account was reset: log in again with the new secrets.
    Reset,
    /// The device is already signed in to an account.
    AlreadySignedIn,
    /// The Account Password or Account Key is wrong.
    WrongCredentials,
    /// The Account Key is malformed (caught before any key derivation).
    BadAccountKey,
    /// This device cannot check the Account Password alone (it was changed
    /// on a device that did not know this one yet): send the Account Key too.
    AccountKeyNeeded,
    /// No item matches the query.
    NoSuchItem,
    /// Several items match the query; `data` lists them.
    Ambiguous,
    /// The email does not match the account.
    EmailMismatch,
    /// No account was found (in the sync folder or on this device).
    AccountNotFound,
    /// A sync folder is missing, unreadable or already configured.
    SyncFolder,
    /// Reading or writing a file failed; nothing was changed.
    Io,
    /// Input to import or restore is malformed.
    BadInput,
    /// Too many attempts; wait and retry.
    RateLimited,
    /// A bug or an unexpected condition in the daemon.
    Internal,
    /// The Secret Service cannot be provided (no session bus, another
    /// provider owns the name); the message says which and what to do.
    SecretService,
    /// No clipboard could be reached (no display, or it refused).
    Clipboard,
}

impl ErrorCode {
    /// The stable snake_case name of the code, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownMethod => "unknown_method",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::ProtocolMismatch => "protocol_mismatch",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::SignedOut => "signed_out",
            ErrorCode::Locked => "locked",
            ErrorCode::Reset => "reset",
            ErrorCode::AlreadySignedIn => "already_signed_in",
            ErrorCode::WrongCredentials => "wrong_credentials",
            ErrorCode::BadAccountKey => "bad_account_key",
            ErrorCode::AccountKeyNeeded => "account_key_needed",
            ErrorCode::NoSuchItem => "no_such_item",
            ErrorCode::Ambiguous => "ambiguous",
            ErrorCode::EmailMismatch => "email_mismatch",
            ErrorCode::AccountNotFound => "account_not_found",
            ErrorCode::SyncFolder => "sync_folder",
            ErrorCode::Io => "io",
            ErrorCode::BadInput => "bad_input",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::SecretService => "secret_service",
            ErrorCode::Clipboard => "clipboard",
        }
    }
}

/// The error half of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The typed code.
    pub code: ErrorCode,
    /// One readable sentence: what is wrong and what to do. Never a secret.
    pub message: String,
    /// Structured detail (for `ambiguous`, the candidates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ErrorBody {
    /// An error with no structured detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorBody {}
