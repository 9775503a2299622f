//! Unlock from the keyring cache after a daemon restart, against a full key
//! derivation with the default calibrated parameters.
//!
//! The key cache needs a kernel session keyring of its own, so the
//! measurement re-runs this binary under `keyctl session -` (the hidden
//! `unlock-inner` command) with `COFFER_KEYRING=keyutils`, and reads its
//! rows back from a JSON file. The account uses the real KDF (no
//! `COFFER_KDF=fast`) and holds 10,000 items.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use coffer_vault::account::AccountHeader;
use coffer_vault::kdf::stretch_password;
use coffer_vault::secret::SecretString;

use crate::device::{self, Bins, Device, PASSWORD};
use crate::report::{Report, Row, Value};
use crate::stats::Samples;
use crate::tools::{self, Tool};
use crate::Mode;

const SECTION: &str = "Unlock";

/// Runs the unlock measurement in a fresh kernel session keyring.
pub fn run(bins: &Bins, tools: &[Tool], mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let Some(keyctl) = tools::found(tools, "keyctl") else {
        report.note(tools::missing_note(tools, "keyctl"));
        return Ok(());
    };
    let out = tempfile::Builder::new()
        .prefix("cb-unlock-")
        .suffix(".json")
        .tempfile_in("/tmp")?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let bin_dir = bins.coffer.parent().context("coffer has no directory")?;
    let mut cmd = Command::new(keyctl);
    cmd.args(["session", "-"])
        .arg(exe)
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--json")
        .arg(out.path());
    if mode == Mode::Full {
        cmd.arg("--full");
    }
    cmd.arg("unlock-inner");
    let status = cmd.status().context("cannot run keyctl session")?;
    if !status.success() {
        bail!("the unlock measurement failed ({status})");
    }
    let text = std::fs::read_to_string(out.path())?;
    let inner: serde_json::Value = serde_json::from_str(&text)?;
    for row in inner["rows"].as_array().into_iter().flatten() {
        let row: Row = serde_json::from_value(row.clone())?;
        report.rows.push(row);
    }
    for note in inner["notes"].as_array().into_iter().flatten() {
        if let Some(n) = note.as_str() {
            report.notes.push(n.to_owned());
        }
    }
    Ok(())
}

/// The measurement itself (inside `keyctl session -`).
pub fn run_inner(bins: &Bins, mode: Mode, report: &mut Report) -> anyhow::Result<()> {
    let runs = mode.pick(5, 15);
    let folder = tempfile::Builder::new()
        .prefix("cb-usync-")
        .tempdir_in("/tmp")?;
    let mut dev = Device::new(bins, "unlock", false)?;
    dev.set_env("COFFER_KEYRING", "keyutils");
    let t = Instant::now();
    dev.signup("unlock@bench.example.org", Some(folder.path()))?;
    let signup = t.elapsed();
    let status = dev.status()?;
    if status["key_cache"]["backend"] != "keyutils" || status["key_cache"]["persistent"] != true {
        bail!("the kernel keyring is not in use: {}", status["key_cache"]);
    }
    let account = status["account_id"]
        .as_str()
        .context("no account_id")?
        .to_owned();
    let header = AccountHeader::from_json(&std::fs::read(
        folder.path().join(&account).join("account.json"),
    )?)?;
    let p = header.kdf;
    report.add(Row::new(
        SECTION,
        "default calibrated KDF parameters (Argon2id)",
        Value::Text {
            text: format!("m = {} MiB, t = {}, p = {}", p.m_kib / 1024, p.t, p.p),
        },
    ));
    report.add(Row::new(
        SECTION,
        "coffer signup, real KDF (calibration + derivation), once",
        Value::Text {
            text: crate::stats::secs(signup.as_secs_f64()),
        },
    ));
    let csv = dev.home().join("items.csv");
    device::write_csv(&csv, 10_000, "item")?;
    dev.import_csv(&csv)?;

    // The key derivation alone, in process, with the account's parameters.
    let mut kdf = Samples::new();
    let pw = SecretString::from(PASSWORD);
    for _ in 0..runs {
        let t = Instant::now();
        let k = stretch_password(&pw, &header.salt, &header.kdf)?;
        kdf.push(t.elapsed());
        drop(k);
    }
    let kdf = kdf.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        "Argon2id derivation alone (in process)",
        kdf,
    ));

    // Restart → unlocked from the keyring.
    let (mut cached, mut locked_unlock) = (Samples::new(), Samples::new());
    for _ in 0..runs {
        dev.stop()?;
        let spawned = dev.start_daemon()?;
        let ready = dev.wait_ready(Some("unlocked"), Duration::from_secs(60))?;
        cached.push(ready - spawned);
        dev.run(&["get", "item-000001"])?;
    }
    // Full derivation: locked (key purged from memory and keyring), then
    // `coffer unlock` with the password.
    for _ in 0..runs {
        dev.run(&["lock"])?;
        locked_unlock.push(dev.time(&["unlock"])?);
        dev.run(&["get", "item-000001"])?;
    }
    // And a restart after `lock` comes back locked (nothing cached).
    dev.run(&["lock"])?;
    dev.stop()?;
    dev.start_daemon()?;
    dev.wait_ready(None, Duration::from_secs(60))?;
    let state = dev.status()?["state"].as_str().unwrap_or("").to_owned();
    if state != "locked" {
        report.note(format!(
            "after lock and restart the daemon was {state}, not locked"
        ));
    }
    dev.stop()?;
    let full = locked_unlock.summary().context("no sample")?;
    let cached = cached.summary().context("no sample")?;
    report.add(
        Row::time(
            SECTION,
            "coffer unlock with the password (full KDF, 10,000 items)",
            full,
        )
        .vs("Argon2id alone", &kdf),
    );
    report.add(
        Row::time(
            SECTION,
            "cofferd restart → status unlocked from the keyring (10,000 items)",
            cached,
        )
        .vs("coffer unlock with the password", &full),
    );
    Ok(())
}
