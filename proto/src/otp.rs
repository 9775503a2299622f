//! One-time codes: the daemon computes them (the secret never leaves it)
//! and, for HOTP, moves the item's counter on.

use serde::{Deserialize, Serialize};

use crate::clipboard::{ClipReply, DisplayEnv};
use crate::secret::Secret;

/// `totp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpParams {
    /// Id, exact title, or search terms matching one item.
    pub query: String,
    /// Put the code on the clipboard of this display instead of sending it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<DisplayEnv>,
}

/// `totp`: the current code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotpReply {
    /// The item's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `totp`, `hotp` or `steam`.
    pub kind: String,
    /// The code (absent when it went to the clipboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Secret>,
    /// TOTP: seconds until the code changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<u64>,
    /// TOTP: the period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    /// HOTP: the counter this code used (the item now holds the next one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<u64>,
    /// Where the code went when it went to the clipboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipboard: Option<ClipReply>,
}
