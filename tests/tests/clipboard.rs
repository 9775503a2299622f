//! The clipboard through the real binaries, under a real Xvfb (issue 17):
//! `get --clip` and `totp --clip` put the value on the X11 clipboard of the
//! client's display (the daemon itself has none), the daemon clears it
//! after `clipboard_clear_secs` if it still holds the value, and leaves it
//! alone when something else was copied meanwhile; no display is a clear
//! error. (No Wayland test: no headless compositor with the data-control
//! protocol is installed here; the Wayland path is arboard's.)
//!
//! Needs `Xvfb` and `xclip` (skipped without them, failing under
//! `COFFER_REQUIRE_TOOLS=1`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use coffer_blackbox::tools::require;
use coffer_blackbox::wait::wait_for;
use coffer_blackbox::{run_with_timeout, stderr, stdout, Device};

const PW: &str = "correct horse battery staple";
const EMAIL: &str = "clip@example.org";

/// An Xvfb on a display of its own, killed when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(xvfb: &Path) -> Xvfb {
        let base = 200 + (std::process::id() % 400);
        for n in base..base + 50 {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let child = Command::new(xvfb)
                .args([
                    &format!(":{n}"),
                    "-nolisten",
                    "tcp",
                    "-screen",
                    "0",
                    "640x480x24",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb starts");
            let mut x = Xvfb {
                child,
                display: format!(":{n}"),
            };
            let up = wait_for("Xvfb's socket", Duration::from_secs(10), || {
                if let Ok(Some(_)) = x.child.try_wait() {
                    return Some(false);
                }
                Path::new(&format!("/tmp/.X11-unix/X{n}"))
                    .exists()
                    .then_some(true)
            });
            if up {
                return x;
            }
        }
        panic!("no free X display for Xvfb");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `xclip -o` reads from the clipboard; `None` when it holds nothing.
fn clipboard(xclip: &Path, display: &str) -> Option<String> {
    let mut cmd = Command::new(xclip);
    cmd.args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", display);
    let out = run_with_timeout(cmd, Duration::from_secs(10)).expect("xclip -o answers");
    out.status.success().then(|| stdout(&out))
}

/// The daemon's children that own a clipboard.
fn owners(daemon: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) state ppid …: the comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(daemon) && String::from_utf8_lossy(&cmdline).contains("--clipboard-owner") {
            found.push(pid);
        }
    }
    found
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    let found = require("clipboard", &["Xvfb", "xclip"])?;
    Some((found[0].clone(), found[1].clone()))
}

#[test]
fn get_and_totp_clip_under_xvfb_and_the_daemon_clears_only_its_value() {
    let Some((xvfb, xclip)) = tools() else { return };
    let x = Xvfb::start(&xvfb);
    let dev = Device::new("clip");
    let config = dev.dirs().config_file();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("clipboard_clear_secs = 2\n");
    std::fs::write(&config, text).unwrap();
    dev.signup(EMAIL, PW);
    let secret = "clip-secret-4f1e";
    dev.ok(&["add", "Mail", "--username", "ann", "--password", secret]);
    let daemon = dev.daemon_pid().expect("the daemon runs");
    let environ = std::fs::read(format!("/proc/{daemon}/environ")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&environ).contains("DISPLAY="),
        "the daemon has a display of its own; the test would prove nothing"
    );
    let on_x = [("DISPLAY", x.display.as_str())];

    // The value is there, then gone once the time is up.
    let out = dev.with_env(&on_x).run(&["get", "mail", "--clip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--clip prints no value");
    assert!(stderr(&out).contains("cleared in 2 s"), "{}", stderr(&out));
    assert_eq!(clipboard(&xclip, &x.display).as_deref(), Some(secret));
    wait_for(
        "the clipboard to be cleared",
        Duration::from_secs(20),
        || clipboard(&xclip, &x.display).is_none().then_some(()),
    );
    wait_for(
        "the clipboard owner to leave",
        Duration::from_secs(20),
        || owners(daemon).is_empty().then_some(()),
    );

    // A field other than the password.
    dev.with_env(&on_x)
        .ok(&["get", "Mail", "--field", "username", "--clip"]);
    assert_eq!(clipboard(&xclip, &x.display).as_deref(), Some("ann"));
    wait_for("the owner to leave", Duration::from_secs(20), || {
        owners(daemon).is_empty().then_some(())
    });

    // Something else copied meanwhile is left alone.
    dev.with_env(&on_x).ok(&["get", "Mail", "--clip"]);
    assert_eq!(clipboard(&xclip, &x.display).as_deref(), Some(secret));
    let mut other = Command::new(&xclip)
        .args(["-i", "-selection", "clipboard", "-quiet"])
        .env("DISPLAY", &x.display)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip -i starts");
    {
        use std::io::Write;
        let mut stdin = other.stdin.take().unwrap();
        stdin.write_all(b"copied by the user").unwrap();
    }
    wait_for("the user's copy", Duration::from_secs(10), || {
        (clipboard(&xclip, &x.display).as_deref() == Some("copied by the user")).then_some(())
    });
    wait_for("the owner to leave", Duration::from_secs(20), || {
        owners(daemon).is_empty().then_some(())
    });
    assert_eq!(
        clipboard(&xclip, &x.display).as_deref(),
        Some("copied by the user"),
        "the daemon cleared a value it did not put there"
    );
    let _ = other.kill();
    let _ = other.wait();

    // A one-time code.
    dev.ok(&[
        "add",
        "Codes",
        "--otp",
        "otpauth://totp/X:ann?secret=JBSWY3DPEHPK3PXP",
    ]);
    let out = dev.with_env(&on_x).run(&["totp", "codes", "--clip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let code = clipboard(&xclip, &x.display).expect("a code on the clipboard");
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code:?}"
    );

    // No display, and a display nobody serves: clear errors, exit 1.
    let out = dev.coffer(&["get", "Mail", "--clip"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("DISPLAY and WAYLAND_DISPLAY are unset")
            && stderr(&out).contains("without --clip"),
        "{}",
        stderr(&out)
    );
    let out = dev.coffer(&["totp", "Codes", "--clip"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = dev
        .with_env(&[("DISPLAY", ":999")])
        .run(&["get", "Mail", "--clip"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no X11 or Wayland display reachable (DISPLAY=:999)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dev.with_env(&on_x).code(&["get", "Nothing", "--clip"]), 4);
    assert!(!dev.log().contains(secret), "the value reached the log");
}
