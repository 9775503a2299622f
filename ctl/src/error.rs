//! The CLI's errors and how they map to exit codes (DESIGN §6).

use std::io;
use std::path::PathBuf;

use coffer_proto::{ErrorBody, ErrorCode};

/// Exit code: an error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: not unlocked (signed out, locked or reset).
pub const EXIT_NOT_UNLOCKED: u8 = 3;
/// Exit code: no such item.
pub const EXIT_NO_SUCH_ITEM: u8 = 4;
/// Exit code: wrong Account Password or Account Key.
pub const EXIT_WRONG_CREDENTIALS: u8 = 5;
/// Exit code of `coffer run` when the command is not executable (as `env`).
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code of `coffer run` when the command is not found (as `env`).
pub const EXIT_NOT_FOUND: u8 = 127;

/// Everything that can make a command fail. Messages say what is wrong and
/// what to do, and never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The daemon answered with an error.
    #[error("{}", .0.message)]
    Daemon(ErrorBody),
    /// The command line does not make sense (beyond what clap checks).
    #[error("{0}")]
    Usage(String),
    /// A secret is needed, there is no terminal to ask on, and no other
    /// source gave it.
    #[error("no terminal to ask for the {what}: set {var} or pass --password-file FILE")]
    NoSecret {
        /// What was needed ("Account Password").
        what: &'static str,
        /// The variable that would have given it.
        var: &'static str,
    },
    /// A secret that only comes from the terminal or its variable.
    #[error("no terminal to ask for the {what}: set {var}")]
    NoSecretNoFile {
        /// What was needed ("Account Key").
        what: &'static str,
        /// The variable that would have given it.
        var: &'static str,
    },
    /// The Account Key typed or given is malformed (caught locally).
    #[error("{0}; check the Account Key in your emergency kit and type it again")]
    BadAccountKey(coffer_vault::account_key::AccountKeyError),
    /// Could not reach the daemon at all.
    #[error("cannot connect to cofferd at {}: {source}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The daemon does not run, and autostart is off.
    #[error("cofferd is not running (COFFER_NO_AUTOSTART is set): start it with `cofferd` or unset COFFER_NO_AUTOSTART")]
    NotRunning,
    /// The daemon speaks another protocol version.
    #[error("coffer {client} speaks protocol {ours}, cofferd speaks {theirs}: restart the daemon with `coffer stop`")]
    ProtocolMismatch {
        /// This client's version.
        client: &'static str,
        /// This client's protocol.
        ours: u32,
        /// The daemon's protocol, as text ("2", or "another version").
        theirs: String,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Anything else, with a message that says what to do.
    #[error("{0}")]
    Failed(String),
    /// `coffer run` could not start the command.
    #[error("cannot run {}: {source}", .program.to_string_lossy())]
    CannotRun {
        /// The command as given.
        program: std::ffi::OsString,
        /// Why.
        source: io::Error,
    },
}

impl CliError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> CliError {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Daemon(body) => exit_code_for(body.code),
            CliError::Usage(_) => EXIT_USAGE,
            CliError::CannotRun { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                EXIT_NOT_FOUND
            }
            CliError::CannotRun { .. } => EXIT_CANNOT_EXECUTE,
            _ => EXIT_ERROR,
        }
    }

    /// Extra lines to print after the message (the candidates of an
    /// ambiguous query).
    pub fn detail_lines(&self) -> Vec<String> {
        match self {
            CliError::Daemon(body) if body.code == ErrorCode::Ambiguous => {
                candidate_lines(body.data.as_ref())
            }
            _ => Vec::new(),
        }
    }
}

/// Maps a daemon error code to an exit code.
pub fn exit_code_for(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::InvalidParams => EXIT_USAGE,
        ErrorCode::SignedOut | ErrorCode::Locked | ErrorCode::Reset => EXIT_NOT_UNLOCKED,
        ErrorCode::NoSuchItem => EXIT_NO_SUCH_ITEM,
        ErrorCode::WrongCredentials | ErrorCode::AccountKeyNeeded => EXIT_WRONG_CREDENTIALS,
        _ => EXIT_ERROR,
    }
}

/// The candidates of an `ambiguous` error, one line each. `data` may be an
/// array or an object with a `candidates` array; each candidate an object
/// (id, title, username) or a plain string.
fn candidate_lines(data: Option<&serde_json::Value>) -> Vec<String> {
    let Some(data) = data else {
        return Vec::new();
    };
    let list = match data {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o
            .get("candidates")
            .or_else(|| o.get("items"))
            .and_then(|v| v.as_array())
        {
            Some(a) => a,
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    list.iter()
        .map(|c| match c {
            serde_json::Value::String(s) => format!("  {s}"),
            serde_json::Value::Object(o) => {
                let get = |k: &str| o.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let mut line = format!("  {}  {}", get("id"), get("title"));
                let user = get("username");
                if !user.is_empty() {
                    line.push_str(&format!("  ({user})"));
                }
                line
            }
            other => format!("  {other}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let d = |c| CliError::Daemon(ErrorBody::new(c, "m")).exit_code();
        assert_eq!(d(ErrorCode::SignedOut), 3);
        assert_eq!(d(ErrorCode::Locked), 3);
        assert_eq!(d(ErrorCode::Reset), 3);
        assert_eq!(d(ErrorCode::NoSuchItem), 4);
        assert_eq!(d(ErrorCode::WrongCredentials), 5);
        assert_eq!(d(ErrorCode::InvalidParams), 2);
        assert_eq!(d(ErrorCode::Ambiguous), 1);
        assert_eq!(d(ErrorCode::Internal), 1);
        assert_eq!(CliError::Usage("u".into()).exit_code(), 2);
        assert_eq!(CliError::NotRunning.exit_code(), 1);
    }

    #[test]
    fn no_secret_message_names_variable_and_file() {
        let e = CliError::NoSecret {
            what: "Account Password",
            var: "COFFER_PASSWORD",
        };
        assert_eq!(
            e.to_string(),
            "no terminal to ask for the Account Password: set COFFER_PASSWORD or pass --password-file FILE"
        );
    }

    #[test]
    fn ambiguous_lists_candidates_in_any_shape() {
        let mut body = ErrorBody::new(ErrorCode::Ambiguous, "\"Mail\" matches 2 items");
        body.data = Some(serde_json::json!({"candidates": [
            {"id": "a1", "title": "Mail", "username": "me"},
            {"id": "b2", "title": "mail"}
        ]}));
        let lines = CliError::Daemon(body.clone()).detail_lines();
        assert_eq!(lines, vec!["  a1  Mail  (me)", "  b2  mail"]);
        body.data = Some(serde_json::json!(["a1", "b2"]));
        assert_eq!(CliError::Daemon(body).detail_lines(), vec!["  a1", "  b2"]);
    }

    #[test]
    fn protocol_mismatch_says_what_to_do() {
        let e = CliError::ProtocolMismatch {
            client: "0.1.0",
            ours: 1,
            theirs: "2".into(),
        };
        assert_eq!(
            e.to_string(),
            "coffer 0.1.0 speaks protocol 1, cofferd speaks 2: restart the daemon with `coffer stop`"
        );
    }
}
