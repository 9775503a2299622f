//! The password generator over the socket: `add --generate` and
//! `edit --generate` send [`GenerateParams`] and the daemon makes the
//! password, so it never crosses the socket from the client; it comes back
//! ([`Generated::password`]) only when the client asks to show it.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// How to make the password (the flags of `coffer generate`). The daemon
/// starts from `policy` when given, else the item's remembered policy
/// (its `password-policy` field), else the default, and applies the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateParams {
    /// A policy in its text form (`chars:len=24;classes=luds`,
    /// `words:n=6;sep=-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `--length N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// `--no-symbols`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_symbols: bool,
    /// `--symbols SET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<String>,
    /// `--no-similar`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_similar: bool,
    /// `--words N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<usize>,
    /// `--separator S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Send the password back in the reply (`--show`, `--json`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reveal: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What the daemon generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// The policy used, in its text form (now the item's remembered one).
    pub policy: String,
    /// Its entropy in bits.
    pub entropy_bits: f64,
    /// The password, only when the request asked to reveal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}
