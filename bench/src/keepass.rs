//! KeePass databases equivalent to the coffer vaults of the merge
//! measurement, and `keepassxc-cli` driven over them.
//!
//! The databases are built with `keepassxc-cli import` from KeePass XML that
//! this module writes: base `A` has N entries; `B` has the same entries
//! (same UUIDs) with 20 % of them edited later (new password, newer
//! modification time) and 10 % new ones, as the coffer side has. Both are
//! opened with a key file and no password. `keepassxc-cli` will not go
//! below a 100 ms KDF target (`-t 100`, AES-KDF), and a merge opens two
//! databases and saves one, so the KDF is measured apart: the same merge of
//! two one-entry databases is timed in the same run, and its median (process
//! start-up plus every KDF run) is subtracted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;

use crate::proc::{self, run_with_timeout};

/// One KeePass entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its UUID.
    pub uuid: [u8; 16],
    /// Title.
    pub title: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// URL.
    pub url: String,
    /// Modification time, ISO 8601.
    pub modified: String,
}

/// A deterministic UUID for entry `i` (the same in A and B).
fn uuid_of(i: usize) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&0xC0FF_EE00_u64.to_be_bytes());
    u[8..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    u
}

fn entry(i: usize, password: String, modified: &str) -> Entry {
    Entry {
        uuid: uuid_of(i),
        title: format!("item-{i:06}"),
        username: format!("user{i}@example.org"),
        password,
        url: format!("https://site{i}.example.org/login"),
        modified: modified.to_owned(),
    }
}

/// Base entries (`n`) and the other side's (`edited` of them changed later,
/// `added` new).
pub fn entries(n: usize, edited: usize, added: usize) -> (Vec<Entry>, Vec<Entry>) {
    let old = "2024-01-01T00:00:00Z";
    let new = "2024-06-01T00:00:00Z";
    let a: Vec<Entry> = (0..n)
        .map(|i| entry(i, format!("pw-{i:06}"), old))
        .collect();
    let mut b = a.clone();
    for (i, e) in b.iter_mut().enumerate().take(edited) {
        e.password = format!("edited-{i:06}");
        e.modified = new.to_owned();
    }
    b.extend((n..n + added).map(|i| entry(i, format!("pw-{i:06}"), new)));
    (a, b)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// KeePass 2 XML (the format `keepassxc-cli import` reads).
pub fn xml(entries: &[Entry]) -> String {
    let b64 = |u: &[u8; 16]| base64::engine::general_purpose::STANDARD.encode(u);
    let mut out = String::with_capacity(entries.len() * 900 + 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\n<KeePassFile>\n");
    out.push_str(
        "<Meta><Generator>coffer-bench</Generator><DatabaseName>bench</DatabaseName></Meta>\n",
    );
    let _ = writeln!(
        out,
        "<Root><Group><UUID>{}</UUID><Name>Root</Name>",
        b64(&[0u8; 16])
    );
    for e in entries {
        let t = &e.modified;
        let _ = writeln!(
            out,
            "<Entry><UUID>{}</UUID><Times><CreationTime>2024-01-01T00:00:00Z</CreationTime>\
             <LastModificationTime>{t}</LastModificationTime><LastAccessTime>{t}</LastAccessTime>\
             <LocationChanged>2024-01-01T00:00:00Z</LocationChanged><ExpiryTime>2024-01-01T00:00:00Z</ExpiryTime>\
             <Expires>False</Expires><UsageCount>0</UsageCount></Times>\
             <String><Key>Title</Key><Value>{}</Value></String>\
             <String><Key>UserName</Key><Value>{}</Value></String>\
             <String><Key>Password</Key><Value ProtectInMemory=\"True\">{}</Value></String>\
             <String><Key>URL</Key><Value>{}</Value></String>\
             <String><Key>Notes</Key><Value></Value></String></Entry>",
            b64(&e.uuid),
            escape(&e.title),
            escape(&e.username),
            escape(&e.password),
            escape(&e.url)
        );
    }
    out.push_str("</Group></Root>\n</KeePassFile>\n");
    out
}

/// `keepassxc-cli` with a key file and no password.
pub struct Kp {
    cli: PathBuf,
    key: PathBuf,
}

/// How long one keepassxc-cli run may take.
const KP_TIMEOUT: Duration = Duration::from_secs(600);

impl Kp {
    /// Uses `cli`, with a fresh random key file in `dir`.
    pub fn new(cli: &Path, dir: &Path) -> anyhow::Result<Kp> {
        let key = dir.join("bench.key");
        let bytes: [u8; 32] = rand::random();
        std::fs::write(&key, bytes).context("cannot write the key file")?;
        Ok(Kp {
            cli: cli.to_path_buf(),
            key,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cli);
        cmd.args(args);
        cmd
    }

    fn key(&self) -> String {
        self.key.to_string_lossy().into_owned()
    }

    /// Builds `db` from `entries` through `keepassxc-cli import` at the
    /// lowest KDF target it accepts (100 ms).
    pub fn create(&self, db: &Path, entries: &[Entry]) -> anyhow::Result<()> {
        let xml_path = db.with_extension("xml");
        std::fs::write(&xml_path, xml(entries)).context("cannot write the KeePass XML")?;
        let _ = std::fs::remove_file(db);
        let out = run_with_timeout(
            self.command(&[
                "import",
                "-q",
                "-t",
                "100",
                "--set-key-file",
                &self.key(),
                &xml_path.to_string_lossy(),
                &db.to_string_lossy(),
            ]),
            KP_TIMEOUT,
        )?;
        std::fs::remove_file(&xml_path).ok();
        if !out.status.success() || !db.is_file() {
            bail!(
                "keepassxc-cli import failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// `keepassxc-cli merge` of `from` into `into` (both with the key file),
    /// timed as a whole process.
    pub fn time_merge(&self, into: &Path, from: &Path) -> anyhow::Result<Duration> {
        let (status, took) = proc::time_process(&mut self.command(&[
            "merge",
            "-q",
            "-s",
            "--no-password",
            "-k",
            &self.key(),
            &into.to_string_lossy(),
            &from.to_string_lossy(),
        ]))?;
        if !status.success() {
            bail!("keepassxc-cli merge failed ({status})");
        }
        Ok(took)
    }

    /// `keepassxc-cli ls` of `db`, timed: start-up, one KDF, parse, list.
    pub fn time_open(&self, db: &Path) -> anyhow::Result<Duration> {
        let (status, took) = proc::time_process(&mut self.command(&[
            "ls",
            "-q",
            "--no-password",
            "-k",
            &self.key(),
            &db.to_string_lossy(),
        ]))?;
        if !status.success() {
            bail!("keepassxc-cli ls failed ({status})");
        }
        Ok(took)
    }

    /// `keepassxc-cli ls` of a file that does not exist: start-up only.
    pub fn time_startup(&self, dir: &Path) -> anyhow::Result<Duration> {
        let missing = dir.join("no-such.kdbx");
        let (_, took) = proc::time_process(&mut self.command(&[
            "ls",
            "-q",
            "--no-password",
            "-k",
            &self.key(),
            &missing.to_string_lossy(),
        ]))?;
        Ok(took)
    }

    /// The entries in `db`'s root group, and the password of `title`.
    pub fn check(&self, db: &Path, title: &str) -> anyhow::Result<(usize, String)> {
        let key = self.key();
        let dbs = db.to_string_lossy();
        let out = run_with_timeout(
            self.command(&["ls", "-q", "--no-password", "-k", &key, &dbs]),
            KP_TIMEOUT,
        )?;
        let count = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.ends_with('/'))
            .count();
        let out = run_with_timeout(
            self.command(&[
                "show",
                "-q",
                "--no-password",
                "-k",
                &key,
                "-s",
                "-a",
                "Password",
                &dbs,
                title,
            ]),
            KP_TIMEOUT,
        )?;
        Ok((
            count,
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_side_edits_some_and_adds_some() {
        let (a, b) = entries(10, 2, 1);
        assert_eq!(a.len(), 10);
        assert_eq!(b.len(), 11);
        assert_eq!(a[0].uuid, b[0].uuid);
        assert_ne!(a[0].password, b[0].password);
        assert!(b[0].modified > a[0].modified);
        assert_eq!(a[5], b[5]);
        assert!(!a.iter().any(|e| e.uuid == b[10].uuid));
    }

    #[test]
    fn xml_has_every_entry_escaped() {
        let mut e = entry(1, "a<b&c".into(), "2024-01-01T00:00:00Z");
        e.title = "x\"y".into();
        let text = xml(&[e]);
        assert!(text.contains("a&lt;b&amp;c"), "{text}");
        assert!(text.contains("x&quot;y"), "{text}");
        assert_eq!(text.matches("<Entry>").count(), 1);
        assert!(text.starts_with("<?xml"));
    }
}
