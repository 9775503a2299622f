//! In-process tests of the session's transitions and of a sync round on
//! temporary folders (the mini-redis `tests/server.rs` way): no daemon
//! process, no socket; a `Daemon` on temporary directories with a memory key
//! cache, driven through its session and `sync::merge_step` directly.
//!
//! Each test runs in its own process (nextest), so pointing `HOME` and
//! `XDG_DATA_HOME` at a temporary directory keeps the trash out of the real
//! home.

mod common;

use coffer_proto::reply::State;
use coffer_vault::secret::SecretString;
use cofferd::config::Config;
use cofferd::daemon::Daemon;
use cofferd::session::{ResetCause, Session};
use cofferd::sync::merge_step;

use common::*;

fn titles(session: &mut Session) -> Vec<String> {
    let (account, key) = session.unlocked().expect("unlocked");
    let key = key.clone();
    let mut t: Vec<String> = account
        .replica
        .items(&key)
        .expect("items")
        .iter()
        .map(|i| i.title().to_owned())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn every_transition_moves_the_state_and_what_belongs_to_it() {
    let root = isolated_root();
    let d = daemon(root.path(), "a", Config::default());
    let new = account();
    let folder = folder(root.path());
    let mut core = d.core().await;
    assert_eq!(core.session.state(), State::SignedOut);
    core.session
        .sign_in(&d.ctx(), sign_in_of(&d, &new, "pw", &folder))
        .expect("sign in");
    assert_eq!(core.session.state(), State::Unlocked);
    let container = core
        .session
        .account()
        .expect("account")
        .container
        .path()
        .to_owned();
    assert!(container.exists(), "the container is written at sign-in");
    assert!(d.dirs.data.join("device.json").exists());
    // A second sign-in is refused and changes nothing.
    assert!(core
        .session
        .sign_in(&d.ctx(), sign_in_of(&d, &new, "pw", &folder))
        .is_err());
    add(&mut core.session, "One");

    assert!(core.session.lock(&d.ctx(), "test"));
    assert_eq!(core.session.state(), State::Locked);
    assert!(
        !core.session.lock(&d.ctx(), "again"),
        "locking twice is a no-op"
    );
    assert!(core.session.unlocked().is_err());
    core.session
        .unlock(&d.ctx(), new.vault_key.clone())
        .expect("unlock");
    assert_eq!(titles(&mut core.session), ["One"]);

    // A reset seen in a folder: the container goes to the trash, the state is reset.
    let reset = reset_of(&new);
    let details = core
        .session
        .enter_reset(
            &d.ctx(),
            ResetCause::Remote {
                header: reset.header.clone(),
                lost: None,
            },
        )
        .expect("enter reset");
    assert_eq!(core.session.state(), State::Reset);
    assert_eq!((details.previous_epoch, details.new_epoch), (1, 2));
    let trashed = details
        .trashed_container
        .expect("the container was trashed");
    assert!(
        trashed.exists() && !container.exists(),
        "never unlinked: {trashed:?}"
    );
    assert!(
        core.session.account().is_none(),
        "nothing of the old epoch is left"
    );

    // Logout from reset: signed out, device.json gone.
    assert_eq!(core.session.logout(&d.ctx()).expect("logout"), None);
    assert_eq!(core.session.state(), State::SignedOut);
    assert!(!d.dirs.data.join("device.json").exists());
    assert!(
        core.session.logout(&d.ctx()).is_err(),
        "nothing to log out of"
    );
}

#[tokio::test]
async fn a_round_merges_the_other_device_and_reports_a_reset_without_moving_the_session() {
    let root = isolated_root();
    let folder = folder(root.path());
    let new = account();
    let (a, b) = (
        daemon(root.path(), "a", Config::default()),
        daemon(root.path(), "b", Config::default()),
    );
    let mut ca = a.core().await;
    let mut cb = b.core().await;
    ca.session
        .sign_in(&a.ctx(), sign_in_of(&a, &new, "pw", &folder))
        .expect("a signs in");
    cb.session
        .sign_in(&b.ctx(), sign_in_of(&b, &new, "pw", &folder))
        .expect("b signs in");
    add(&mut ca.session, "From A");

    // A publishes; B's round merges it.
    let out = merge_step(&a.ctx(), &mut ca.session, true);
    out.publish
        .expect("a publishes its file")
        .write()
        .commit(&mut ca.session);
    let out = merge_step(&b.ctx(), &mut cb.session, false);
    assert_eq!(out.report.merged_files, 1, "{:?}", out.report);
    assert_eq!(out.report.new_versions, 1);
    assert!(out.reset_seen.is_none());
    assert_eq!(titles(&mut cb.session), ["From A"]);
    // Nothing new: the file is skipped by its stamp.
    let again = merge_step(&b.ctx(), &mut cb.session, false);
    assert_eq!(again.report.merged_files, 0);

    // A newer epoch in the folder: the round says so and leaves the session alone.
    let reset = reset_of(&new);
    let dir = folder.join(new.header.account_id.to_string());
    std::fs::write(dir.join("account.json"), reset.header.to_json()).expect("header");
    let out = merge_step(&b.ctx(), &mut cb.session, false);
    let seen = out.reset_seen.expect("the reset is seen");
    assert_eq!(seen.header.epoch, 2);
    assert_eq!(
        cb.session.state(),
        State::Unlocked,
        "the round itself moves nothing"
    );
}

/// Publishes `c`'s round (if it has anything to write).
fn publish(d: &Daemon, session: &mut Session) -> coffer_proto::reply::SyncReport {
    let mut out = merge_step(&d.ctx(), session, false);
    if let Some(p) = out.publish.take() {
        p.write().commit(session);
    }
    out.report
}

fn own_files(session: &Session) -> usize {
    session
        .sync()
        .expect("signed in")
        .folders
        .values()
        .next()
        .map_or(0, |h| h.own_files)
}

/// A device publishing change after change (one item over and over, then
/// many items, which outgrows the snapshot): its files stay few, every
/// change costs the folder about a segment, and the other device reads
/// only the fresh segments: the merged segments and snapshots that take
/// over files it merged are skipped unread. A new device reads what is left.
#[tokio::test]
async fn a_reader_reads_only_what_it_has_not_merged() {
    let root = isolated_root();
    let folder = folder(root.path());
    let new = account();
    let (a, b) = (
        daemon(root.path(), "a", Config::default()),
        daemon(root.path(), "b", Config::default()),
    );
    let mut ca = a.core().await;
    let mut cb = b.core().await;
    ca.session
        .sign_in(&a.ctx(), sign_in_of(&a, &new, "pw", &folder))
        .expect("a signs in");
    cb.session
        .sign_in(&b.ctx(), sign_in_of(&b, &new, "pw", &folder))
        .expect("b signs in");
    publish(&b, &mut cb.session);
    add(&mut ca.session, "Hot");
    publish(&a, &mut ca.session);
    publish(&b, &mut cb.session);
    let written = |s: &Session| {
        s.sync()
            .unwrap()
            .folders
            .values()
            .next()
            .unwrap()
            .written_bytes
    };
    let (before, b_before) = (written(&ca.session), written(&cb.session));
    let edits = 60;
    for i in 0..edits {
        let (account, key) = ca.session.unlocked().expect("unlocked");
        let key = key.clone();
        let id = account.replica.find_by_title(&key, "Hot").unwrap()[0].id;
        account
            .replica
            .edit(
                &key,
                id,
                vec![(
                    "password".into(),
                    Some(SecretString::from(format!("p{i}").as_str())),
                )],
                1_735_689_700_000 + i,
            )
            .expect("edit");
        account.save().expect("save");
        publish(&a, &mut ca.session);
        assert!(
            own_files(&ca.session) <= 10,
            "{} files",
            own_files(&ca.session)
        );
        let r = publish(&b, &mut cb.session);
        assert_eq!(
            r.merged_files, 1,
            "b read more than the fresh segment: {r:?}"
        );
        assert_eq!(r.new_versions, 1);
    }
    let per_edit = (written(&ca.session) - before) / edits;
    assert!(per_edit < 4096, "{per_edit} bytes per edit");
    assert_eq!(
        written(&cb.session),
        b_before,
        "b wrote a's changes back into the folder they came from"
    );
    // Many items: the segments outgrow the snapshot, which is rewritten.
    for i in 0..150 {
        add(&mut ca.session, &format!("bulk {i:03} {}", "x".repeat(400)));
        publish(&a, &mut ca.session);
        let r = publish(&b, &mut cb.session);
        assert_eq!(
            r.merged_files, 1,
            "b read more than the fresh segment: {r:?}"
        );
    }
    assert!(
        own_files(&ca.session) <= 20,
        "{} files",
        own_files(&ca.session)
    );
    assert_eq!(titles(&mut cb.session), titles(&mut ca.session));
    // The snapshot was rewritten meanwhile (and b skipped it, above).
    let a_id = ca.session.device().unwrap().device_id.clone();
    let snap = folder
        .join(new.header.account_id.to_string())
        .join(coffer_vault::sync_names::device_file_name(&a_id));
    let header = coffer_vault::segment::read_segment_header(&std::fs::read(snap).unwrap())
        .expect("a's snapshot");
    assert!(
        header.seq > 2 && !header.supersedes.is_empty(),
        "{header:?}"
    );
    // A new device reads what the folder holds now, and has everything.
    let c = daemon(root.path(), "c", Config::default());
    let mut cc = c.core().await;
    cc.session
        .sign_in(&c.ctx(), sign_in_of(&c, &new, "pw", &folder))
        .expect("c signs in");
    publish(&c, &mut cc.session);
    assert_eq!(titles(&mut cc.session), titles(&mut ca.session));
}
