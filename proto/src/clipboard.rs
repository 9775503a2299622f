//! Putting a value on the clipboard: the CLI exits at once, so the daemon
//! owns the clipboard for it (and clears it later). The daemon may run
//! without a display (started by systemd), so a request carries the
//! client's display environment; none of it is secret.

use serde::{Deserialize, Serialize};

/// Where the client's graphical session is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayEnv {
    /// `DISPLAY` (X11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// `XAUTHORITY` (X11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xauthority: Option<String>,
    /// `WAYLAND_DISPLAY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wayland_display: Option<String>,
    /// `XDG_RUNTIME_DIR` (where the Wayland socket is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdg_runtime_dir: Option<String>,
}

impl DisplayEnv {
    /// The display environment of this process.
    pub fn from_env() -> DisplayEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        DisplayEnv {
            display: var("DISPLAY"),
            xauthority: var("XAUTHORITY"),
            wayland_display: var("WAYLAND_DISPLAY"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
        }
    }

    /// True when neither an X11 nor a Wayland display is named.
    pub fn is_empty(&self) -> bool {
        self.display.is_none() && self.wayland_display.is_none()
    }
}

/// `clip`: put one field of an item on the clipboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipParams {
    /// Id, exact title, or search terms matching one item.
    pub query: String,
    /// The field (default `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The client's display.
    pub display: DisplayEnv,
}

/// What was put on the clipboard (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipReply {
    /// The item's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The field copied.
    pub field: String,
    /// The clipboard is cleared after this many seconds, if it still holds
    /// the value then.
    pub clear_after_secs: u64,
}
