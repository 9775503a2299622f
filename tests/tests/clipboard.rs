//! The clipboard through the real binaries, under a real Xvfb (issue 17):
//! `get --clip` and `totp --clip` put the value on the X11 clipboard of the
//! client's display (the daemon itself has none), the daemon clears it
//! after `clipboard_clear_secs` if it still holds the value, and leaves it
//! alone when something else was copied meanwhile; no display is a clear
//! error. The same on Wayland, under a headless sway (wlroots, with the
//! data-control protocol the clipboard owner uses), read back with
//! `wl-paste`.
//!
//! Needs `Xvfb` and `xclip`, and `sway`, `wl-copy`, `wl-paste` (and, as
//! root, `setpriv`: sway refuses to run as root, so it runs as nobody);
//! skipped without them, failing under `COFFER_REQUIRE_TOOLS=1`.

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

/// A headless sway with its own runtime directory, killed when dropped.
struct Sway {
    child: Child,
    runtime: tempfile::TempDir,
    display: String,
}

impl Sway {
    fn start(sway: &Path, setpriv: Option<&Path>) -> Sway {
        let runtime = coffer_blackbox::short_tempdir("cway");
        let config = runtime.path().join("sway.conf");
        std::fs::write(&config, "").unwrap();
        let mut cmd = match setpriv {
            Some(setpriv) => {
                // sway refuses root: run it as nobody, in a directory of its own.
                let nobody = 65534;
                std::os::unix::fs::chown(runtime.path(), Some(nobody), Some(nobody)).unwrap();
                let mut c = Command::new(setpriv);
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(sway);
                c
            }
            None => Command::new(sway),
        };
        cmd.arg("-c")
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", runtime.path())
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("sway starts");
        let display = wait_for("sway's Wayland socket", Duration::from_secs(15), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sway exited at start ({status})");
            }
            std::fs::read_dir(runtime.path())
                .ok()?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with("wayland-") && !n.ends_with(".lock"))
        });
        Sway {
            child,
            runtime,
            display,
        }
    }

    fn env(&self) -> [(&str, &str); 2] {
        [
            ("WAYLAND_DISPLAY", self.display.as_str()),
            ("XDG_RUNTIME_DIR", self.runtime.path().to_str().unwrap()),
        ]
    }

    /// What `wl-paste` reads; `None` when the clipboard holds nothing.
    fn paste(&self, wl_paste: &Path) -> Option<String> {
        let mut cmd = Command::new(wl_paste);
        cmd.arg("--no-newline").env_clear();
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let out = run_with_timeout(cmd, Duration::from_secs(10)).expect("wl-paste answers");
        (out.status.success() && !out.stdout.is_empty()).then(|| stdout(&out))
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_clip_on_wayland_under_a_headless_sway() {
    let root = coffer_blackbox::nobody::is_root();
    let mut needed = vec!["sway", "wl-copy", "wl-paste"];
    if root {
        needed.push("setpriv");
    }
    let Some(found) = require("clipboard_wayland", &needed) else {
        return;
    };
    let (sway, wl_copy, wl_paste) = (&found[0], &found[1], &found[2]);
    let w = Sway::start(sway, root.then(|| found[3].as_path()));
    let mut dev = Device::new("wclip");
    // The client's XDG_RUNTIME_DIR is the compositor's: keep coffer's own
    // socket elsewhere.
    let coffer_home = dev.home().join("coffer");
    dev.set_env("COFFER_HOME", coffer_home.as_os_str());
    let config = dev.dirs().config_file();
    coffer_proto::dirs::create_private_dir(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "clipboard_clear_secs = 2\n").unwrap();
    dev.signup(EMAIL, PW);
    let secret = "wayland-secret-8d2c";
    dev.ok(&["add", "Mail", "--password", secret]);
    let daemon = dev.daemon_pid().expect("the daemon runs");
    let env = w.env();

    let out = dev.with_env(&env).run(&["get", "Mail", "--clip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.paste(wl_paste).as_deref(), Some(secret));
    wait_for(
        "the clipboard to be cleared",
        Duration::from_secs(20),
        || w.paste(wl_paste).is_none().then_some(()),
    );
    wait_for("the owner to leave", Duration::from_secs(20), || {
        owners(daemon).is_empty().then_some(())
    });

    // Something else copied meanwhile is left alone.
    dev.with_env(&env).ok(&["get", "Mail", "--clip"]);
    assert_eq!(w.paste(wl_paste).as_deref(), Some(secret));
    let mut copy = Command::new(wl_copy);
    copy.args(["--foreground", "copied on wayland"]).env_clear();
    for (k, v) in env {
        copy.env(k, v);
    }
    let mut other = copy
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wl-copy starts");
    wait_for("the user's copy", Duration::from_secs(10), || {
        (w.paste(wl_paste).as_deref() == Some("copied on wayland")).then_some(())
    });
    wait_for("the owner to leave", Duration::from_secs(20), || {
        owners(daemon).is_empty().then_some(())
    });
    assert_eq!(w.paste(wl_paste).as_deref(), Some("copied on wayland"));
    let _ = other.kill();
    let _ = other.wait();
    assert!(!dev.log().contains(secret), "the value reached the log");
}
