//! Merge cost: two vaults of N items, the other side with 20 % of them
//! edited and 10 % new (2,000 and 1,000 at 10,000 items), merged
//!
//! - in process, through coffer-vault's public API, with real sealed
//!   records: [`VaultState::merge`] (key-free union and compaction, as a
//!   locked device does) and [`Replica::merge_remote`] with the key (what
//!   an unlocked daemon does: every new version opened, then union and
//!   compaction), and a whole round in memory (parse the other device's
//!   sync file, merge, serialize the container and our sync file);
//! - through real daemons: `coffer sync now` on a device whose sync folder
//!   just received the other device's file, against `coffer sync now` with
//!   nothing new;
//! - against `keepassxc-cli merge` of equivalent KeePass databases, with the
//!   fixed cost (start-up and key derivations) measured apart and subtracted.
//!
//! At 1,000, 10,000 and 50,000 items, to show how the cost grows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use coffer_vault::account::AccountHeader;
use coffer_vault::account_key::AccountKey;
use coffer_vault::format::SyncFile;
use coffer_vault::ids::{DeviceId, ItemId};
use coffer_vault::kdf::KdfParams;
use coffer_vault::replica::Replica;
use coffer_vault::secret::{SecretKey, SecretString};
use coffer_vault::state::VaultState;

use crate::device::{self, Bins, PASSWORD};
use crate::keepass::{self, Kp};
use crate::report::{Report, Row, Value};
use crate::stats::{self, Samples, Summary};
use crate::tools::{self, Tool};
use crate::Mode;

const SECTION: &str = "Merge";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How many items the other side edits and adds at `n` items.
pub fn changes_at(n: usize) -> (usize, usize) {
    (n / 5, n / 10)
}

pub(crate) fn fields(i: usize, password: &str) -> Vec<(String, SecretString)> {
    vec![
        (
            "title".to_owned(),
            SecretString::from(format!("item-{i:06}")),
        ),
        (
            "username".to_owned(),
            SecretString::from(format!("user{i}@example.org")),
        ),
        (
            "password".to_owned(),
            SecretString::from(password.to_owned()),
        ),
        (
            "url".to_owned(),
            SecretString::from(format!("https://site{i}.example.org/login")),
        ),
        ("notes".to_owned(), SecretString::from(format!("note {i}"))),
    ]
}

/// Device B's replica: `base` merged, then `edited` items edited and
/// `added` new ones.
fn other_side(
    base: &VaultState,
    account: uuid::Uuid,
    epoch: u64,
    key: &SecretKey,
    edited: usize,
    added: usize,
) -> anyhow::Result<Replica> {
    let mut b = Replica::new(account, epoch, DeviceId::new_random(), "bench-b".to_owned());
    let outcome = b.merge_remote(base, Some(key));
    if !outcome.rejected.is_empty() {
        bail!("{} base records did not open", outcome.rejected.len());
    }
    let ids: Vec<ItemId> = b.state().records().keys().take(edited).copied().collect();
    let later = now_ms() + 1_000;
    for (j, id) in ids.into_iter().enumerate() {
        b.edit(
            key,
            id,
            vec![(
                "password".to_owned(),
                Some(SecretString::from(format!("edited-{j:06}"))),
            )],
            later,
        )?;
    }
    let n = base.item_count();
    for i in n..n + added {
        b.add(key, fields(i, &format!("pw-{i:06}")), later)?;
    }
    Ok(b)
}

/// The in-process fixture: A with `n` items, B as [`other_side`].
pub(crate) struct Fixture {
    pub(crate) header: AccountHeader,
    pub(crate) key: SecretKey,
    pub(crate) a: Replica,
    pub(crate) b: Replica,
    pub(crate) expect_items: usize,
}

pub(crate) fn fixture(n: usize) -> anyhow::Result<Fixture> {
    let acct = AccountHeader::create(
        "merge@bench.example.org",
        "",
        &SecretString::from(PASSWORD),
        KdfParams::fast_insecure_for_tests(),
        now_ms(),
    )?;
    let key = acct.vault_key;
    let header = acct.header;
    let mut a = Replica::new(
        header.account_id,
        header.epoch,
        DeviceId::new_random(),
        "bench-a".to_owned(),
    );
    let t = now_ms();
    for i in 0..n {
        a.add(&key, fields(i, &format!("pw-{i:06}")), t)?;
    }
    let (edited, added) = changes_at(n);
    let b = other_side(
        a.state(),
        header.account_id,
        header.epoch,
        &key,
        edited,
        added,
    )?;
    Ok(Fixture {
        header,
        key,
        a,
        b,
        expect_items: n + added,
    })
}

/// Times `f` on a fresh clone of `a` per run (the clone is not timed).
fn time_on_clone(
    a: &Replica,
    runs: usize,
    mut f: impl FnMut(&mut Replica) -> anyhow::Result<()>,
) -> anyhow::Result<Samples> {
    let mut s = Samples::new();
    for _ in 0..runs {
        let mut r = a.clone();
        let start = Instant::now();
        f(&mut r)?;
        s.push(start.elapsed());
        drop(r);
    }
    Ok(s)
}

/// In-process results at one size.
struct InProcess {
    state_merge: Summary,
    replica_merge: Summary,
    round: Summary,
}

fn in_process(n: usize, runs: usize, report: &mut Report) -> anyhow::Result<InProcess> {
    let build = Instant::now();
    let fx = fixture(n)?;
    println!(
        "  (built two sealed {n}-item replicas in {})",
        stats::secs(build.elapsed().as_secs_f64())
    );
    let (edited, added) = changes_at(n);
    let what = format!("{n} items, {edited} edited, {added} new");

    // Check once that the merge does what it should.
    let mut check = fx.a.clone();
    let outcome = check.merge_remote(fx.b.state(), Some(&fx.key));
    if !outcome.rejected.is_empty()
        || check.state().item_count() != fx.expect_items
        || check.state().version_count() != fx.expect_items
    {
        bail!(
            "merge check failed: {} items, {} versions, {} rejected (expected {} items)",
            check.state().item_count(),
            check.state().version_count(),
            outcome.rejected.len(),
            fx.expect_items
        );
    }
    drop(check);

    let b_state = fx.b.state().clone();
    let mut s = Samples::new();
    for _ in 0..runs {
        let mut st = fx.a.state().clone();
        let start = Instant::now();
        st.merge(&b_state);
        s.push(start.elapsed());
    }
    let state_merge = s.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        format!("coffer VaultState::merge, key-free ({what})"),
        state_merge,
    ));

    let replica_merge = time_on_clone(&fx.a, runs, |r| {
        r.merge_remote(&b_state, Some(&fx.key));
        Ok(())
    })?
    .summary()
    .context("no sample")?;
    report.add(Row::time(
        SECTION,
        format!("coffer Replica::merge_remote, unlocked ({what})"),
        replica_merge,
    ));

    let b_bytes = fx.b.sync_file_bytes();
    let round = time_on_clone(&fx.a, runs, |r| {
        let file = SyncFile::from_bytes(&b_bytes)?;
        r.merge_sync_file(&file, Some(&fx.key))?;
        let c = r.container_bytes(&fx.header)?;
        let s = r.sync_file_bytes();
        std::hint::black_box((c.len(), s.len()));
        Ok(())
    })?
    .summary()
    .context("no sample")?;
    report.add(Row::time(
        SECTION,
        format!(
            "coffer round in memory: parse {} KiB file + merge + serialize ({what})",
            b_bytes.len() / 1024
        ),
        round,
    ));
    Ok(InProcess {
        state_merge,
        replica_merge,
        round,
    })
}

/// KeePassXC results at one size: raw merge, and net of the fixed cost.
struct KpResult {
    raw: Summary,
    net: Summary,
}

/// Measures keepassxc-cli: fixed costs once, then each size.
struct KpBench {
    kp: Kp,
    dir: tempfile::TempDir,
    fixed: Summary,
}

impl KpBench {
    fn new(cli: &Path, runs: usize, report: &mut Report) -> anyhow::Result<KpBench> {
        let dir = tempfile::Builder::new()
            .prefix("cb-kp-")
            .tempdir_in("/tmp")?;
        let kp = Kp::new(cli, dir.path())?;
        let (a, b) = keepass::entries(1, 1, 0);
        let (ta, tb) = (
            dir.path().join("tiny-a.kdbx"),
            dir.path().join("tiny-b.kdbx"),
        );
        kp.create(&ta, &a)?;
        kp.create(&tb, &b)?;
        let work = dir.path().join("tiny-work.kdbx");
        let (mut merge, mut open, mut startup) = (Samples::new(), Samples::new(), Samples::new());
        for _ in 0..runs {
            std::fs::copy(&ta, &work)?;
            merge.push(kp.time_merge(&work, &tb)?);
            open.push(kp.time_open(&ta)?);
            startup.push(kp.time_startup(dir.path())?);
        }
        let fixed = merge.summary().context("no sample")?;
        let open = open.summary().context("no sample")?;
        let startup = startup.summary().context("no sample")?;
        report.add(Row::time(
            SECTION,
            "keepassxc-cli start-up (ls of a missing file)",
            startup,
        ));
        report.add(Row::time(
            SECTION,
            "keepassxc-cli ls, 1 entry (start-up + 1 KDF, 100 ms target)",
            open,
        ));
        let kdf = open.median - startup.median;
        let kdfs = if kdf > 0.0 {
            (fixed.median - startup.median) / kdf
        } else {
            0.0
        };
        report.add(
            Row::time(
                SECTION,
                "keepassxc-cli merge, 1 entry each (fixed cost: start-up + KDFs)",
                fixed,
            )
            .ratio(
                format!(
                    "one KDF ≈ {}, so ≈ {kdfs:.1} KDF runs per merge",
                    stats::secs(kdf)
                ),
                kdfs,
            ),
        );
        Ok(KpBench { kp, dir, fixed })
    }

    fn at(&self, n: usize, runs: usize, report: &mut Report) -> anyhow::Result<KpResult> {
        let (edited, added) = changes_at(n);
        let (a, b) = keepass::entries(n, edited, added);
        let d = self.dir.path();
        let (pa, pb, work) = (
            d.join(format!("a-{n}.kdbx")),
            d.join(format!("b-{n}.kdbx")),
            d.join("work.kdbx"),
        );
        let build = Instant::now();
        self.kp.create(&pa, &a)?;
        self.kp.create(&pb, &b)?;
        println!(
            "  (built two {n}-entry KeePass databases in {})",
            stats::secs(build.elapsed().as_secs_f64())
        );
        let (mut raw, mut net) = (Samples::new(), Samples::new());
        for i in 0..runs {
            std::fs::copy(&pa, &work)?;
            let t = self.kp.time_merge(&work, &pb)?;
            raw.push(t);
            net.push_secs(t.as_secs_f64() - self.fixed.median);
            if i == 0 {
                let (count, pw) = self.kp.check(&work, "item-000000")?;
                if count != n + added || pw != "edited-000000" {
                    bail!(
                        "keepassxc-cli merge gave {count} entries (expected {}) and password {pw:?} for item-000000",
                        n + added
                    );
                }
            }
        }
        std::fs::remove_file(&pa).ok();
        std::fs::remove_file(&pb).ok();
        let what = format!("{n} entries, {edited} edited, {added} new");
        let raw = raw.summary().context("no sample")?;
        let net = net.summary().context("no sample")?;
        report.add(Row::time(
            SECTION,
            format!("keepassxc-cli merge ({what})"),
            raw,
        ));
        report.add(Row::time(
            SECTION,
            format!("keepassxc-cli merge minus fixed cost ({what})"),
            net,
        ));
        Ok(KpResult { raw, net })
    }
}

/// Log-log slope of time against size between the first and last point: 1
/// is linear growth.
fn slope(points: &[(usize, f64)]) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    if first.0 == last.0 || first.1 <= 0.0 || last.1 <= 0.0 {
        return None;
    }
    Some((last.1 / first.1).ln() / (last.0 as f64 / first.0 as f64).ln())
}

/// Through real daemons at `n` items: `coffer sync now` right after the
/// other device's file landed, against `sync now` with nothing new.
fn daemon_merge(
    bins: &Bins,
    n: usize,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<Summary> {
    let folder = tempfile::Builder::new()
        .prefix("cb-msync-")
        .tempdir_in("/tmp")?;
    let (mut a, ak_text) = device::with_items(bins, "merge", n, folder.path())?;
    a.run(&["sync", "now"])?;
    let status = a.status()?;
    let account = status["account_id"]
        .as_str()
        .context("status has no account_id")?
        .to_owned();
    let a_device = status["device_id"]
        .as_str()
        .context("status has no device_id")?
        .to_owned();
    let acct_dir = folder.path().join(&account);
    let header = AccountHeader::from_json(&std::fs::read(acct_dir.join("account.json"))?)?;
    let ak =
        AccountKey::parse(ak_text.trim()).map_err(|e| anyhow::anyhow!("bad Account Key: {e}"))?;
    let vault_key = header.unlock(&SecretString::from(PASSWORD), &ak)?;
    // A's state as its files in the folder hold it (snapshot and segments).
    let mut a_state = coffer_vault::state::VaultState::new();
    for e in std::fs::read_dir(&acct_dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if coffer_vault::sync_names::classify(&name).device_id() == Some(a_device.as_str()) {
            let f = coffer_vault::segment::read_sync_file(&std::fs::read(e.path())?)?;
            a_state.union(f.state());
        }
    }
    if a_state.item_count() != n {
        bail!(
            "A's sync files hold {} items, expected {n}",
            a_state.item_count()
        );
    }
    let (edited, added) = changes_at(n);
    let b = other_side(
        &a_state,
        header.account_id,
        header.epoch,
        &vault_key,
        edited,
        added,
    )?;
    let b_bytes = b.sync_file_bytes();
    let b_name = format!("device-{}.cofsync", b.device_id());
    drop(vault_key);

    // The watcher would merge the file on its own after the debounce: make
    // that 10 s, so that the timed `sync now` is what merges it.
    a.write_config("debounce_ms = 10000\n")?;
    a.stop()?;
    let snap = tempfile::Builder::new()
        .prefix("cb-msnap-")
        .tempdir_in("/tmp")?;
    copy_dir(&a.data_dir(), &snap.path().join("data"))?;
    copy_dir(&acct_dir, &snap.path().join("sync"))?;

    let (mut merge, mut noop) = (Samples::new(), Samples::new());
    for i in 0..runs {
        copy_dir(&snap.path().join("data"), &a.data_dir())?;
        std::fs::remove_dir_all(&acct_dir)?;
        copy_dir(&snap.path().join("sync"), &acct_dir)?;
        a.start_daemon()?;
        a.wait_ready(None, Duration::from_secs(60))?;
        a.run(&["unlock"])?;
        a.run(&["sync", "now"])?;
        // The other device's file lands (atomically, as an engine does).
        let tmp = acct_dir.join(format!(".{b_name}.bench.tmp"));
        std::fs::write(&tmp, &b_bytes)?;
        std::fs::rename(&tmp, acct_dir.join(&b_name))?;
        merge.push(a.time(&["sync", "now"])?);
        for _ in 0..3 {
            noop.push(a.time(&["sync", "now"])?);
        }
        if i == 0 {
            let items = a.status()?["items"].as_u64().unwrap_or(0);
            if items != (n + added) as u64 {
                bail!(
                    "after the merge A has {items} items, expected {}",
                    n + added
                );
            }
        }
        a.stop()?;
    }
    let what = format!("{n} items, {edited} edited, {added} new");
    let noop = noop.summary().context("no sample")?;
    let merge = merge.summary().context("no sample")?;
    report.add(Row::time(
        SECTION,
        format!("coffer sync now, nothing new ({n} items)"),
        noop,
    ));
    report.add(
        Row::time(
            SECTION,
            format!(
                "coffer sync now merging B's {} KiB file ({what})",
                b_bytes.len() / 1024
            ),
            merge,
        )
        .vs("sync now with nothing new", &noop),
    );
    Ok(merge)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e?;
        let dest: PathBuf = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else if e.file_type()?.is_file() {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// Runs the merge measurements.
pub fn run(
    bins: &Bins,
    tools: &[Tool],
    mode: Mode,
    max_items: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    println!("\n== {SECTION} ==");
    let sizes: Vec<usize> = [1_000usize, 10_000, 50_000]
        .into_iter()
        .filter(|n| *n <= max_items)
        .collect();
    let runs = |n: usize| match n {
        1_000 => mode.pick(15, 40),
        10_000 => mode.pick(7, 20),
        _ => mode.pick(3, 7),
    };
    let mut coffer_pts = Vec::new();
    let mut by_size = Vec::new();
    for &n in &sizes {
        let r = in_process(n, runs(n), report)?;
        coffer_pts.push((n, r.replica_merge.median));
        by_size.push((n, r));
    }

    let kp_runs = |n: usize| match n {
        1_000 => mode.pick(5, 10),
        10_000 => mode.pick(3, 7),
        _ => mode.pick(1, 3),
    };
    let mut kp_pts = Vec::new();
    match tools::found(tools, "keepassxc-cli") {
        Some(cli) => {
            let bench = KpBench::new(cli, mode.pick(5, 10), report)?;
            for (n, ours) in &by_size {
                let kr = bench.at(*n, kp_runs(*n), report)?;
                kp_pts.push((*n, kr.net.median));
                let faster = ours.replica_merge.median < kr.net.median;
                report.add(
                    Row::time(
                        SECTION,
                        format!("coffer merge_remote vs keepassxc-cli, {n} items"),
                        ours.replica_merge,
                    )
                    .vs("keepassxc-cli net of fixed cost", &kr.net)
                    .vs("keepassxc-cli raw", &kr.raw)
                    .target("faster than keepassxc-cli", faster),
                );
                report.add(
                    Row::time(
                        SECTION,
                        format!("coffer round in memory vs keepassxc-cli, {n} items"),
                        ours.round,
                    )
                    .vs("keepassxc-cli net of fixed cost", &kr.net),
                );
                let _ = ours.state_merge;
            }
        }
        None => report.note(tools::missing_note(tools, "keepassxc-cli")),
    }

    let daemon_sizes: &[usize] = mode.pick(&[10_000], &[1_000, 10_000, 50_000]);
    for &n in daemon_sizes.iter().filter(|n| **n <= max_items) {
        let s = daemon_merge(bins, n, mode.pick(3, 7), report)?;
        if let Some((_, k)) = kp_pts.iter().find(|(m, _)| *m == n) {
            report.add(
                Row::time(
                    SECTION,
                    format!("coffer sync now merge vs keepassxc-cli, {n} items"),
                    s,
                )
                .ratio("keepassxc-cli net of fixed cost", s.median / k),
            );
        }
    }

    if let Some(sl) = slope(&coffer_pts) {
        report.add(
            Row::new(
                SECTION,
                "growth of coffer merge_remote, 1k → 50k (log-log slope; 1 = linear)",
                Value::Text {
                    text: format!("{sl:.2}"),
                },
            )
            .target("no worse than linear (slope ≤ 1.1)", sl <= 1.1),
        );
    }
    if let Some(sl) = slope(&kp_pts) {
        report.add(Row::new(
            SECTION,
            "growth of keepassxc-cli merge net, 1k → 50k (log-log slope)",
            Value::Text {
                text: format!("{sl:.2}"),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_linear_and_quadratic_growth() {
        let lin = slope(&[(1_000, 1.0), (10_000, 10.0)]).expect("two points");
        assert!((lin - 1.0).abs() < 1e-9);
        let quad = slope(&[(1_000, 1.0), (10_000, 50.0), (100_000, 10_000.0)]).expect("points");
        assert!((quad - 2.0).abs() < 1e-9);
        assert!(slope(&[(1, 1.0)]).is_none());
    }

    #[test]
    fn a_small_fixture_merges_to_the_union() {
        let fx = fixture(50).expect("a fixture");
        assert_eq!(fx.expect_items, 55);
        let mut a = fx.a.clone();
        let out = a.merge_remote(fx.b.state(), Some(&fx.key));
        assert!(out.rejected.is_empty());
        assert_eq!(out.changed_items, 15, "10 edited and 5 new items changed");
        assert_eq!(a.state().item_count(), 55);
        assert_eq!(a.state().version_count(), 55);
        let mut st = fx.a.state().clone();
        st.merge(fx.b.state());
        assert_eq!(&st, a.state());
    }
}
