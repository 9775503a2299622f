//! Two Syncthing instances on loopback sharing one folder, with the
//! folder's default settings, to measure the delay Syncthing itself adds to
//! a change (its file watcher waits `fsWatcherDelayS`, 10 s by default,
//! before it scans).
//!
//! Each instance has a temporary home; before it starts, its `config.xml`
//! is locked down so nothing leaves 127.0.0.1 (no discovery, relays, NAT
//! traversal, usage reports, crash reports or upgrades). They are paired
//! through the REST API (HTTP/1.0 over a `TcpStream`, an API key chosen
//! here). Instance A dials B's explicit address and B only accepts, since
//! both dialling at once can stall a connection for a while.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::proc::run_with_timeout;

/// The shared folder's id.
pub const FOLDER: &str = "coffer-bench";
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One running instance; dropping it kills it.
pub struct Instance {
    name: String,
    child: Child,
    home: TempDir,
    gui: u16,
    listen: u16,
    api_key: String,
    /// Its device ID.
    pub id: String,
}

/// `n` distinct free loopback ports.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let ls = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ls
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Sets `<tag>value</tag>` inside `<options>`, adding it when absent.
fn set_option(xml: &mut String, tag: &str, value: &str) -> anyhow::Result<()> {
    let start = xml
        .find("<options>")
        .context("config.xml has no <options>")?;
    let end = start
        + xml[start..]
            .find("</options>")
            .context("<options> is not closed")?;
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    match xml[start..end].find(&open) {
        Some(at) => {
            let from = start + at + open.len();
            let to = from
                + xml[from..end]
                    .find(&close)
                    .context("an option is not closed")?;
            xml.replace_range(from..to, value);
        }
        None => xml.insert_str(end, &format!("{open}{value}{close}")),
    }
    Ok(())
}

impl Instance {
    /// Generates a home, locks it to loopback and starts `syncthing serve`;
    /// returns once its REST API answers.
    pub fn start(name: &str) -> anyhow::Result<Instance> {
        let ports = free_ports(2)?;
        let home = tempfile::Builder::new()
            .prefix("cb-st-")
            .tempdir_in("/tmp")?;
        let home_arg = home.path().to_string_lossy().into_owned();
        let mut gen = Command::new("syncthing");
        gen.args(["generate", "--home", &home_arg, "--no-default-folder"])
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let out = run_with_timeout(gen, Duration::from_secs(60))?;
        if !out.status.success() {
            bail!(
                "syncthing generate failed (this harness needs syncthing 1.18 or later): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let config = home.path().join("config.xml");
        let mut xml = std::fs::read_to_string(&config).context("syncthing wrote no config.xml")?;
        for (tag, value) in [
            ("listenAddress", format!("tcp://127.0.0.1:{}", ports[1])),
            ("globalAnnounceEnabled", "false".to_owned()),
            ("localAnnounceEnabled", "false".to_owned()),
            ("relaysEnabled", "false".to_owned()),
            ("natEnabled", "false".to_owned()),
            ("urAccepted", "-1".to_owned()),
            ("autoUpgradeIntervalH", "0".to_owned()),
            ("crashReportingEnabled", "false".to_owned()),
            ("startBrowser", "false".to_owned()),
            ("announceLANAddresses", "false".to_owned()),
            ("reconnectionIntervalS", "1".to_owned()),
        ] {
            set_option(&mut xml, tag, &value)?;
        }
        std::fs::write(&config, &xml)?;
        let api_key = format!("coffer-bench-{:016x}", rand::random::<u64>());
        let log = std::fs::File::create(home.path().join("syncthing.log"))?;
        let child = Command::new("syncthing")
            .args([
                "serve",
                "--home",
                &home_arg,
                "--no-browser",
                "--no-restart",
                "--no-upgrade",
                &format!("--gui-address=http://127.0.0.1:{}", ports[0]),
                &format!("--gui-apikey={api_key}"),
            ])
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STNORESTART", "1")
            .env("STNOUPGRADE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start syncthing")?;
        let mut st = Instance {
            name: name.to_owned(),
            child,
            home,
            gui: ports[0],
            listen: ports[1],
            api_key,
            id: String::new(),
        };
        let start = Instant::now();
        let status = loop {
            if let Some(code) = st.child.try_wait()? {
                bail!(
                    "syncthing {} exited at start ({code}):\n{}",
                    st.name,
                    st.log_tail()
                );
            }
            if let Ok(v) = st.get("/rest/system/status") {
                break v;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "syncthing {}'s REST API never answered:\n{}",
                    st.name,
                    st.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        st.id = status["myID"]
            .as_str()
            .context("no myID in /rest/system/status")?
            .to_owned();
        let opts = st.get("/rest/config/options")?;
        if opts["globalAnnounceEnabled"] != json!(false) || opts["relaysEnabled"] != json!(false) {
            bail!(
                "syncthing {} did not take the loopback-only options: {opts}",
                st.name
            );
        }
        Ok(st)
    }

    fn log_tail(&self) -> String {
        let t = std::fs::read_to_string(self.home.path().join("syncthing.log")).unwrap_or_default();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// One REST request; the status code and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, String)> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.gui))?;
        s.set_read_timeout(Some(HTTP_TIMEOUT))?;
        s.set_write_timeout(Some(HTTP_TIMEOUT))?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.api_key,
            body.len()
        )?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let resp = String::from_utf8_lossy(&resp);
        let (head, body) = resp.split_once("\r\n\r\n").context("no HTTP header")?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("no HTTP status")?;
        Ok((code, body.to_owned()))
    }

    /// GET `path` as JSON (status 200 required).
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (code, body) = self.request("GET", path, None)?;
        if code != 200 {
            bail!("GET {path}: {code} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<()> {
        let (code, text) = self.request(method, path, Some(body))?;
        if code != 200 {
            bail!("syncthing {}: {method} {path}: {code} {text}", self.name);
        }
        Ok(())
    }

    /// Knows `peer`; dials it when `dial`, else only accepts it.
    pub fn add_peer(&self, peer: &Instance, dial: bool) -> anyhow::Result<()> {
        let addr = if dial {
            format!("tcp://127.0.0.1:{}", peer.listen)
        } else {
            "dynamic".to_owned()
        };
        self.send(
            "POST",
            "/rest/config/devices",
            &json!({"deviceID": peer.id, "name": peer.name, "addresses": [addr]}),
        )
    }

    /// Shares `path` with `peer` as [`FOLDER`], with every other folder
    /// setting left at Syncthing's default (plus `extra`).
    pub fn share(&self, path: &Path, peer: &Instance, extra: &Value) -> anyhow::Result<()> {
        let mut folder = json!({
            "id": FOLDER,
            "label": FOLDER,
            "path": path,
            "type": "sendreceive",
            "devices": [{"deviceID": self.id}, {"deviceID": peer.id}],
        });
        if let (Some(f), Some(e)) = (folder.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                f.insert(k.clone(), v.clone());
            }
        }
        self.send("PUT", &format!("/rest/config/folders/{FOLDER}"), &folder)
    }

    /// The shared folder's configuration as this instance runs it.
    pub fn folder_config(&self) -> anyhow::Result<Value> {
        self.get(&format!("/rest/config/folders/{FOLDER}"))
    }

    /// Whether this instance is connected to `peer`.
    pub fn connected_to(&self, peer: &Instance) -> bool {
        self.get("/rest/system/connections")
            .is_ok_and(|v| v["connections"][&peer.id]["connected"] == json!(true))
    }

    /// Whether the shared folder is idle (scanned, nothing to pull).
    pub fn folder_idle(&self) -> bool {
        self.get(&format!("/rest/db/status?folder={FOLDER}"))
            .is_ok_and(|v| v["state"] == json!("idle"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two connected instances sharing `fa` ↔ `fb` with `extra` folder settings.
pub fn pair(fa: &Path, fb: &Path, extra: &Value) -> anyhow::Result<(Instance, Instance)> {
    let a = Instance::start("bench-a")?;
    let b = Instance::start("bench-b")?;
    b.add_peer(&a, false)?;
    a.add_peer(&b, true)?;
    a.share(fa, &b, extra)?;
    b.share(fb, &a, extra)?;
    let start = Instant::now();
    while !(a.connected_to(&b) && b.connected_to(&a) && a.folder_idle() && b.folder_idle()) {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the syncthing instances did not connect within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_replaced_or_added() {
        let mut xml =
            "<configuration><options><relaysEnabled>true</relaysEnabled></options></configuration>"
                .to_owned();
        set_option(&mut xml, "relaysEnabled", "false").expect("present");
        set_option(&mut xml, "natEnabled", "false").expect("added");
        assert_eq!(
            xml,
            "<configuration><options><relaysEnabled>false</relaysEnabled><natEnabled>false</natEnabled></options></configuration>"
        );
        assert!(set_option(&mut "<x/>".to_owned(), "a", "b").is_err());
    }

    #[test]
    fn free_ports_differ() {
        let p = free_ports(3).expect("loopback ports");
        assert!(p[0] != p[1] && p[1] != p[2] && p[0] != p[2]);
    }
}
