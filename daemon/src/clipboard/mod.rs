//! The clipboard: `coffer get --clip` and `totp --clip`.
//!
//! The CLI exits at once, but on X11 (and Wayland) a clipboard holds
//! nothing by itself: its owner must stay alive to hand the value to
//! whoever pastes. So the daemon owns it, through a short-lived child
//! process of its own binary (`cofferd --clipboard-owner SECS`, see
//! [`owner`]), for three reasons: the child connects with the *client's*
//! display (DISPLAY, XAUTHORITY, WAYLAND_DISPLAY, XDG_RUNTIME_DIR), which a
//! daemon started by systemd may not have, without changing the daemon's
//! own environment; a clipboard library's threads and connections live and
//! die with it; and the daemon keeps serving requests meanwhile.
//!
//! The value goes to the child through a pipe (never argv or the
//! environment); the child, hardened like the daemon (no core dumps, not
//! dumpable), answers one line (`ok` or `error: …`) and then holds the
//! clipboard until the configured `clipboard_clear_secs` pass, when it
//! clears it only if it still holds the value; when something else is
//! copied meanwhile it leaves at once and clears nothing.
//!
//! # Layout
//!
//! - this file: [`copy`], the daemon's side;
//! - [`owner`]: the child's side.

pub mod owner;

use std::process::Stdio;
use std::time::Duration;

use coffer_proto::clipboard::DisplayEnv;
use coffer_vault::secret::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::error::{Error, Result};

/// The flag that runs `cofferd` as a clipboard owner.
pub const OWNER_FLAG: &str = "--clipboard-owner";

/// How long the child may take to reach the display and take the clipboard.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What to say when no display can be reached.
const WITHOUT_CLIP: &str = "use `coffer get` (or `coffer totp`) without --clip";

/// Puts `value` on the clipboard of `display` for `clear_after`; returns
/// once the clipboard holds it.
pub async fn copy(display: &DisplayEnv, value: &SecretString, clear_after: Duration) -> Result<()> {
    if display.is_empty() {
        return Err(Error::Clipboard(format!(
            "no X11 or Wayland display reachable: DISPLAY and WAYLAND_DISPLAY are unset; {WITHOUT_CLIP}"
        )));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Clipboard(format!("cannot find cofferd to own the clipboard: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg(OWNER_FLAG)
        .arg(clear_after.as_secs().max(1).to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(false);
    for (name, value) in child_env(display) {
        cmd.env(name, value);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Clipboard(format!("cannot start the clipboard owner: {e}")))?;
    let answer = async {
        let mut stdin = child.stdin.take().ok_or("no pipe to the clipboard owner")?;
        stdin
            .write_all(value.expose().as_bytes())
            .await
            .map_err(|_| "the clipboard owner did not take the value")?;
        drop(stdin);
        let stdout = child
            .stdout
            .take()
            .ok_or("no pipe from the clipboard owner")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .map_err(|_| "the clipboard owner did not answer")?;
        Ok::<String, &str>(line)
    };
    let line = match tokio::time::timeout(START_TIMEOUT, answer).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => {
            let _ = child.start_kill();
            return Err(Error::Clipboard(format!("{e}; {WITHOUT_CLIP}")));
        }
        Err(_) => {
            let _ = child.start_kill();
            return Err(Error::Clipboard(format!(
                "the display {} did not answer within {} s; {WITHOUT_CLIP}",
                describe(display),
                START_TIMEOUT.as_secs()
            )));
        }
    };
    // Reap the child whenever it leaves.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    match line.trim_end().strip_prefix("error: ") {
        None if line.trim_end() == "ok" => Ok(()),
        Some(reason) => Err(Error::Clipboard(format!(
            "no X11 or Wayland display reachable ({}): {reason}; {WITHOUT_CLIP}",
            describe(display)
        ))),
        None => Err(Error::Clipboard(format!(
            "the clipboard owner failed at {}; {WITHOUT_CLIP}",
            describe(display)
        ))),
    }
}

/// The child's whole environment: the client's display, and HOME for
/// `~/.Xauthority` when XAUTHORITY is not given.
fn child_env(display: &DisplayEnv) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    let mut put = |name: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            env.push((name, v));
        }
    };
    put("DISPLAY", display.display.clone());
    put("XAUTHORITY", display.xauthority.clone());
    put("WAYLAND_DISPLAY", display.wayland_display.clone());
    put(
        "XDG_RUNTIME_DIR",
        display
            .xdg_runtime_dir
            .clone()
            .or_else(|| std::env::var("XDG_RUNTIME_DIR").ok()),
    );
    put("HOME", std::env::var("HOME").ok());
    env
}

/// `DISPLAY=:0, WAYLAND_DISPLAY=wayland-0` for messages.
fn describe(display: &DisplayEnv) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &display.display {
        parts.push(format!("DISPLAY={d}"));
    }
    if let Some(w) = &display.wayland_display {
        parts.push(format!("WAYLAND_DISPLAY={w}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_display_is_a_clear_error() {
        let e = copy(
            &DisplayEnv::default(),
            &SecretString::from("x"),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("DISPLAY and WAYLAND_DISPLAY are unset"),
            "{msg}"
        );
        assert!(msg.contains("without --clip"), "{msg}");
        assert_eq!(e.code(), coffer_proto::ErrorCode::Clipboard);
    }

    #[test]
    fn the_child_gets_only_the_display() {
        let env = child_env(&DisplayEnv {
            display: Some(":7".into()),
            xauthority: None,
            wayland_display: Some(String::new()),
            xdg_runtime_dir: Some("/run/user/1".into()),
        });
        let names: Vec<&str> = env.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"DISPLAY") && names.contains(&"XDG_RUNTIME_DIR"));
        assert!(!names.contains(&"WAYLAND_DISPLAY") && !names.contains(&"XAUTHORITY"));
        assert_eq!(
            describe(&DisplayEnv {
                display: Some(":7".into()),
                ..DisplayEnv::default()
            }),
            "DISPLAY=:7"
        );
    }
}
