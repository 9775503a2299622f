//! Helpers of the in-process sync tests (`stale.rs`, `header_restore.rs`):
//! daemons on temporary directories with a memory key cache, accounts,
//! sign-ins, rounds driven through `sync::merge_step`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffer_proto::dirs::Dirs;
use coffer_proto::reply::SyncFolderInfo;
use coffer_vault::account::{AccountHeader, NewAccount};
use coffer_vault::kdf::KdfParams;
use coffer_vault::secret::SecretString;
use cofferd::config::Config;
use cofferd::daemon::Daemon;
use cofferd::handlers::account::new_device_record;
use cofferd::keycache::KeyCache;
use cofferd::session::{Session, SignIn};
use cofferd::sync::{merge_step, RoundOutcome};

/// Points `HOME` and `XDG_DATA_HOME` (so the trash) into `root` (each test is its own process).
pub fn isolate(root: &Path) {
    std::env::set_var("HOME", root);
    std::env::set_var("XDG_DATA_HOME", root.join("share"));
}

/// A temporary directory that is this test process's home
/// ([`isolate`]).
pub fn isolated_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    isolate(root.path());
    root
}

/// The trash's files directory under `root`.
pub fn trash(root: &Path) -> PathBuf {
    root.join("share/Trash/files")
}

pub fn daemon(root: &Path, name: &str, config: Config) -> Arc<Daemon> {
    let base = root.join(name);
    let dirs = Dirs {
        config: base.join("config"),
        data: base.join("data"),
        state: base.join("state"),
        runtime: base.join("run"),
    };
    dirs.create().expect("private dirs");
    let (tx, _rx) = tokio::sync::watch::channel(false);
    let config = Config {
        device_name: Some(name.into()),
        ..config
    };
    Daemon::load(dirs, config, KeyCache::memory(), tx)
}

pub fn account() -> NewAccount {
    AccountHeader::create(
        "s@example.org",
        "",
        &SecretString::from("pw"),
        KdfParams::fast_insecure_for_tests(),
        1,
    )
    .expect("an account")
}

/// The reset of `old` (new password "new").
pub fn reset_of(old: &NewAccount) -> NewAccount {
    old.header
        .reset(
            &SecretString::from("new"),
            None,
            KdfParams::fast_insecure_for_tests(),
            9,
            "x",
            "other",
        )
        .expect("reset")
}

pub fn sign_in_of(d: &Daemon, new: &NewAccount, password: &str, folder: &Path) -> SignIn {
    let stretched = coffer_vault::kdf::stretch_password(
        &SecretString::from(password),
        &new.header.salt,
        &new.header.kdf,
    )
    .expect("stretch");
    let device = new_device_record(
        d,
        &new.header,
        vec![folder.to_owned()],
        &new.account_key,
        &stretched,
        &new.vault_key,
    );
    SignIn::fresh(device, new.header.clone(), new.vault_key.clone()).expect("device id")
}

pub fn add(session: &mut Session, title: &str) {
    let (account, key) = session.unlocked().expect("unlocked");
    let key = key.clone();
    account
        .replica
        .add(
            &key,
            vec![("title".into(), SecretString::from(title))],
            1_735_689_600_000,
        )
        .expect("add");
    account.save().expect("save");
}

pub fn item_count(session: &Session) -> usize {
    match session {
        Session::Unlocked(a, _) => a.replica.state().live_item_count(),
        _ => panic!("not unlocked"),
    }
}

/// A round of `d` that publishes its file (`publish`) and commits it.
pub async fn round(d: &Daemon, publish: bool) -> RoundOutcome {
    let mut core = d.core().await;
    let mut out = merge_step(&d.ctx(), &mut core.session, publish);
    if let Some(plan) = out.publish.take() {
        plan.write().commit(&mut core.session);
    }
    out
}

pub fn only_folder(out: &RoundOutcome) -> &SyncFolderInfo {
    assert_eq!(out.report.folders.len(), 1, "{:?}", out.report);
    &out.report.folders[0]
}

/// Signs `name` in to `acct` on `folder` with an item, and publishes.
pub async fn device_with_item(
    root: &Path,
    name: &str,
    acct: &NewAccount,
    pw: &str,
    folder: &Path,
) -> (Arc<Daemon>, String) {
    let d = daemon(root, name, Config::default());
    let id = {
        let mut core = d.core().await;
        core.session
            .sign_in(&d.ctx(), sign_in_of(&d, acct, pw, folder))
            .expect("sign in");
        add(&mut core.session, &format!("from {name}"));
        core.session.device().expect("signed in").device_id.clone()
    };
    round(&d, true).await;
    (d, id)
}

/// The sync folder under `root` (made).
pub fn folder(root: &Path) -> PathBuf {
    let f = root.join("sync");
    std::fs::create_dir_all(&f).expect("folder");
    f
}

/// Backdates `path`'s modification time by `days`.
pub fn set_mtime_days_ago(path: &Path, days: u64) {
    let t = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .expect("set mtime");
}
