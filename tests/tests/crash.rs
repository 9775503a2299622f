//! Crashes (issue 7): the daemon is killed with SIGKILL at random moments
//! while several clients add and edit items. After every kill the files on
//! disk are checked directly with the vault library: the container parses
//! and authenticates, every ACKNOWLEDGED change is in it (an edit whose
//! answer was lost may or may not be, nothing else may), every version
//! opens, and the sync file parses. After the restart no temp file of a
//! dead writer is left, in the data directory or the sync folder.
//!
//! 20 cycles by default; `COFFER_LONG=1` runs 300 (`COFFER_CRASH_CYCLES=N`
//! sets any number). `COFFER_SEED=N` replays a run (the seed is printed).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_blackbox::folder::temp_names;
use coffer_blackbox::process::kill9;
use coffer_blackbox::rng::{split, Rng, Seed};
use coffer_blackbox::{pid_alive, shared_folder, stderr, Device};
use coffer_vault::account_key::AccountKey;
use coffer_vault::format::Container;
use coffer_vault::secret::SecretString;

const PW: &str = "crashing horse battery";
const EMAIL: &str = "crash@example.org";
const CLIENTS: usize = 3;

/// Makes every title unique across clients and cycles.
static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn cycles() -> usize {
    if let Some(n) = std::env::var("COFFER_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return n;
    }
    if std::env::var("COFFER_LONG").is_ok_and(|v| v == "1") {
        300
    } else {
        20
    }
}

/// What the clients know about one item.
#[derive(Debug, Clone)]
struct Known {
    /// The last password whose change was acknowledged (`None`: the add's
    /// answer was lost, so the item may not exist).
    acked: Option<String>,
    /// Values sent after that whose answer was lost: any may have landed.
    maybe: Vec<String>,
}

/// Everything the clients did: by title (titles are unique).
type Ledger = Arc<Mutex<BTreeMap<String, Known>>>;

/// Runs one change of `title` to `value` (`coffer ARGS`, 30 s at most); when it is
/// acknowledged, `value` becomes the item's acknowledged value.
fn attempt(dev: &Device, ledger: &Ledger, args: &[&str], title: &str, value: String) {
    let out = dev.call().timeout(Duration::from_secs(30)).try_run(args);
    if out.is_ok_and(|o| o.status.success()) {
        let mut l = ledger.lock().unwrap();
        let k = l.get_mut(title).expect("a known item");
        k.acked = Some(value);
        k.maybe.clear();
    }
}

/// One client: adds and edits its own items until `stop`.
fn client(dev: &Device, n: usize, ledger: Ledger, stop: Arc<AtomicBool>, seed: u64) -> usize {
    let mut rng = Rng::new(seed);
    let mut ops = 0;
    let mut mine: Vec<String> = ledger
        .lock()
        .unwrap()
        .keys()
        .filter(|t| t.starts_with(&format!("c{n}-")))
        .cloned()
        .collect();
    while !stop.load(Ordering::SeqCst) {
        ops += 1;
        let tag = SERIAL.fetch_add(1, Ordering::SeqCst);
        if mine.is_empty() || rng.below(10) < 4 {
            let title = format!("c{n}-{tag}");
            let value = format!("v-{title}-0");
            let known = Known {
                acked: None,
                maybe: vec![value.clone()],
            };
            ledger.lock().unwrap().insert(title.clone(), known);
            let args = ["add", title.as_str(), "--password", value.as_str()];
            attempt(dev, &ledger, &args, &title, value.clone());
            mine.push(title);
        } else {
            let title = mine[rng.index(mine.len())].clone();
            let value = format!("v-{title}-{tag}");
            let mut l = ledger.lock().unwrap();
            l.get_mut(&title)
                .expect("a known item")
                .maybe
                .push(value.clone());
            drop(l);
            let args = ["edit", title.as_str(), "--password", value.as_str()];
            attempt(dev, &ledger, &args, &title, value.clone());
        }
    }
    ops
}

/// Coffer temp files (`.….<pid>-<n>.tmp`) in `dir` whose writer is gone.
fn dead_temps(dir: &Path) -> Vec<String> {
    temp_names(dir)
        .into_iter()
        .filter(|n| {
            let pid = n
                .trim_end_matches(".tmp")
                .rsplit('.')
                .next()
                .and_then(|s| s.split('-').next())
                .and_then(|s| s.parse::<u32>().ok());
            pid.is_none_or(|p| !pid_alive(p))
        })
        .collect()
}

/// Makes sure a daemon runs and is unlocked; returns its pid.
fn ensure_unlocked(dev: &Device) -> u32 {
    let st = dev.json(&["status", "--json"]);
    if st["state"] == "locked" {
        let out = dev.with_env(&[("COFFER_PASSWORD", PW)]).run(&["unlock"]);
        assert!(
            out.status.success(),
            "unlock after a crash: {}",
            stderr(&out)
        );
    } else {
        assert_eq!(st["state"], "unlocked", "{st}");
    }
    dev.daemon_pid().expect("the daemon runs")
}

/// The on-disk checks after a kill; returns (items, versions).
fn check_disk(
    container: &Path,
    sync_dir: &Path,
    ak: &AccountKey,
    ledger: &Ledger,
) -> (usize, usize) {
    let bytes = std::fs::read(container).expect("the container exists after a crash");
    let c = Container::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("the container is corrupt after a crash: {e}"));
    let (header, mut replica) = c.into_replica();
    let key = header
        .unlock(&SecretString::new(PW.into()), ak)
        .unwrap_or_else(|e| panic!("the container's header does not open after a crash: {e}"));
    let rejected = replica.verify_and_compact(&key);
    assert!(
        rejected.is_empty(),
        "versions that do not open: {rejected:?}"
    );
    let items = replica.items(&key).expect("the items open");
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for item in &items {
        let pw = item
            .get("password")
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        if found.insert(item.title().to_owned(), pw).is_some() {
            let same: Vec<String> = items
                .iter()
                .filter(|i| i.title() == item.title())
                .map(|i| {
                    format!(
                        "{} created {} versions {:?}",
                        i.id,
                        i.created_ms,
                        replica.state().versions(&i.id)
                    )
                })
                .collect();
            let copy = std::env::temp_dir().join("coffer-crash-evidence.coffer");
            let _ = std::fs::write(&copy, &bytes);
            panic!(
                "two items titled {}: {same:#?} (container copied to {})",
                item.title(),
                copy.display()
            );
        }
    }
    let ledger = ledger.lock().unwrap();
    for (title, k) in ledger.iter() {
        match (&k.acked, found.get(title)) {
            (Some(acked), Some(now)) => assert!(
                now == acked || k.maybe.contains(now),
                "{title}: holds {now:?}, but {acked:?} was acknowledged (and only {:?} sent since)",
                k.maybe
            ),
            (Some(acked), None) => {
                panic!("{title}: acknowledged (last {acked:?}) but missing after a crash")
            }
            (None, Some(now)) => assert!(k.maybe.contains(now), "{title}: unexpected {now:?}"),
            (None, None) => {}
        }
    }
    for title in found.keys() {
        assert!(ledger.contains_key(title), "an item nobody added: {title}");
    }
    // Our sync files (snapshot and segments), if any were published, parse too.
    if let Ok(rd) = std::fs::read_dir(sync_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".cofsync") && !name.starts_with('.') {
                let b = std::fs::read(e.path()).unwrap();
                coffer_vault::segment::read_sync_file(&b)
                    .unwrap_or_else(|err| panic!("{name} is corrupt after a crash: {err}"));
            }
        }
    }
    (items.len(), replica.state().version_count())
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let seed = Seed::new("sigkill_at_random_moments_loses_nothing_acknowledged");
    let mut rng = seed.rng();
    let seed = seed.value();
    let cycles = cycles();
    eprintln!("crash test: {cycles} cycles, COFFER_SEED={seed}");
    let sync = shared_folder();
    let dev = Arc::new(Device::with_sync_folder("crashy", sync.path()));
    let signup = dev.signup(EMAIL, PW);
    let ak = AccountKey::parse(signup["account_key"].as_str().expect("account_key"))
        .expect("the printed Account Key parses");
    let container = dev.container();
    let data_dir = container.parent().unwrap().to_path_buf();
    let sync_dir = sync
        .path()
        .join(signup["account_id"].as_str().expect("account_id"));
    let ledger: Ledger = Arc::new(Mutex::new(BTreeMap::new()));
    // Ballast, so that each container write takes long enough for kills to
    // land inside it (about 250 kB written per change).
    for b in 0..3 {
        let title = format!("ballast-{b}");
        let value = format!("v-{title}");
        let notes = "n".repeat(64 * 1024);
        dev.ok(&["add", &title, "--password", &value, "--notes", &notes]);
        ledger.lock().unwrap().insert(
            title,
            Known {
                acked: Some(value),
                maybe: Vec::new(),
            },
        );
    }
    let started = Instant::now();
    let (mut ops, mut temps_seen, mut acked_total) = (0usize, 0usize, 0usize);
    let mut last = (0, 0);

    for cycle in 0..cycles {
        let pid = ensure_unlocked(&dev);
        // The restarted daemon swept the data directory; a round swept the
        // sync folder (each write removes its target's dead temp files).
        let left = dead_temps(&data_dir);
        assert!(
            left.is_empty(),
            "cycle {cycle}: temp files left in the data dir: {left:?}"
        );
        dev.ok(&["sync", "now"]);
        let left = dead_temps(&sync_dir);
        let all: Vec<_> = std::fs::read_dir(&sync_dir)
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "cycle {cycle}: temp files left in the sync folder: {left:?} (all: {all:?})"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let (dev, ledger, stop) = (dev.clone(), ledger.clone(), stop.clone());
                let s = split(seed, (cycle * CLIENTS + n) as u64);
                std::thread::spawn(move || client(&dev, n, ledger, stop, s))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.below(450)));
        kill9(pid);
        std::thread::sleep(Duration::from_millis(rng.below(30)));
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            ops += h.join().expect("a client thread ends");
        }
        // A client may have started a new daemon after the kill: kill it too,
        // so the files are looked at as the crash left them.
        while let Some(p) = dev.daemon_pid() {
            kill9(p);
        }
        temps_seen += dead_temps(&data_dir).len() + dead_temps(&sync_dir).len();
        last = check_disk(&container, &sync_dir, &ak, &ledger);
    }
    acked_total += ledger
        .lock()
        .unwrap()
        .values()
        .filter(|k| k.acked.is_some())
        .count();
    ensure_unlocked(&dev);
    let list = dev.json(&["list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(last.0));
    eprintln!(
        "crash test: {cycles} SIGKILLs in {:?}; {ops} client operations, {acked_total} items acknowledged, \
         {} items and {} versions at the end; {temps_seen} temp files left by kills, all cleaned",
        started.elapsed(),
        last.0,
        last.1
    );
}
