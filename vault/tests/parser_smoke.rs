//! A stable-Rust stand-in for the fuzzers in `fuzz/`: feeds every test
//! vector, and many random mutations of each, to every parser through the
//! same check functions the fuzz targets call (`fuzz/src/lib.rs`): no
//! input may panic, and whatever a parser accepts must round-trip.
//!
//! `COFFER_SMOKE_MUTATIONS=N` sets the mutations per seed (default 400);
//! `COFFER_SMOKE_SEED=S` changes the random seed.

#[path = "../../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Check = fn(&[u8]);

const CHECKS: [(&str, Check); 9] = [
    ("account_header", checks::account_header),
    ("backup", checks::backup),
    ("device_key", checks::device_key),
    ("sync_name", checks::sync_name),
    ("account_key", checks::account_key),
    ("container", checks::container),
    ("sync_file", checks::sync_file),
    ("item_json", checks::item_json),
    ("unlock_key", checks::unlock_key),
];

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("vectors dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).expect("readable vector");
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if name.ends_with(".txt") {
            // The file's bytes follow the `---` line.
            if let Some(at) = bytes.windows(5).position(|w| w == b"\n---\n") {
                out.push(bytes[at + 5..].to_vec());
            }
        } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            // Header vectors carry `account.json` text and key texts,
            // unlock-key vectors the file.
            for k in ["header", "account_key", "file"] {
                if let Some(s) = v.get(k).and_then(|x| x.as_str()) {
                    out.push(s.as_bytes().to_vec());
                }
            }
            if let Some(cases) = v.get("cases").and_then(|c| c.as_array()) {
                for c in cases {
                    if let Some(s) = c.get("input").and_then(|x| x.as_str()) {
                        out.push(s.as_bytes().to_vec());
                    }
                }
            }
        }
    }
    // A few of the sync folder's names (one engine's each; mutations make the rest).
    let names = std::fs::read_to_string(dir.join("names.txt")).expect("names vector");
    for line in names.lines().filter(|l| !l.starts_with('#')).step_by(5) {
        if let Some((name, _)) = line.split_once('\t') {
            out.push(name.as_bytes().to_vec());
        }
    }
    out.push(
        br#"{"id":"6f9619ff-8b86-d011-b42d-00c04fc964ff","c":5,"d":["6f9619ff-8b86-d011-b42d-00c04fc964ff","a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1"],"f":{"title":["x",1,2,1],"password":[null,3,0,0]},"h":{"password":[["old",1,0,1]]}}"#
            .to_vec(),
    );
    out
}

fn mutate(rng: &mut StdRng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = b.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] = rng.gen();
            }
            2 if len > 0 => b.truncate(rng.gen_range(0..len)),
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let j = rng.gen_range(i..=len.min(i + 64));
                b.drain(i..j);
            }
            4 => {
                let i = rng.gen_range(0..=len);
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                b.splice(i..i, extra);
            }
            5 if len > 0 => {
                // Replace with a "interesting" token.
                let tokens: [&[u8]; 10] = [
                    b"0",
                    b"-1",
                    b"18446744073709551616",
                    b"null",
                    b"\"\"",
                    b"[]",
                    b"{}",
                    b"\"\\u0000\"",
                    b"1e999",
                    b"\xff",
                ];
                let i = rng.gen_range(0..len);
                let t = tokens[rng.gen_range(0..tokens.len())];
                let j = (i + rng.gen_range(1..8)).min(len);
                b.splice(i..j, t.iter().copied());
            }
            6 if len > 0 => {
                // Duplicate a slice.
                let i = rng.gen_range(0..len);
                let j = rng.gen_range(i..=len.min(i + 128));
                let chunk = b[i..j].to_vec();
                let at = rng.gen_range(0..=len);
                b.splice(at..at, chunk);
            }
            7 if !pool.is_empty() => {
                // Splice in a piece of another seed.
                let other = &pool[rng.gen_range(0..pool.len())];
                if !other.is_empty() {
                    let i = rng.gen_range(0..other.len());
                    let j = rng.gen_range(i..=other.len());
                    let at = rng.gen_range(0..=len);
                    b.splice(at..at, other[i..j].iter().copied());
                }
            }
            _ if len > 0 => {
                // Change a digit (versions, counters, epochs).
                if let Some(i) = (0..8)
                    .map(|_| rng.gen_range(0..len))
                    .find(|&i| b[i].is_ascii_digit())
                {
                    b[i] = b'0' + rng.gen_range(0..10);
                }
            }
            _ => {}
        }
    }
    b
}

#[test]
fn parsers_survive_vectors_and_mutations() {
    let mutations: usize = std::env::var("COFFER_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("COFFER_SMOKE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xC0FFEE);
    let pool = seeds();
    assert!(
        pool.len() >= 20,
        "expected the test vectors as seeds, found {}",
        pool.len()
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut inputs = 0usize;
    for s in &pool {
        for (_, check) in CHECKS {
            check(s);
        }
        for _ in 0..mutations {
            let m = mutate(&mut rng, s, &pool);
            for (_, check) in CHECKS {
                check(&m);
            }
            inputs += 1;
        }
    }
    // Pure noise, short and long.
    for _ in 0..mutations * 4 {
        let len = rng.gen_range(0..256);
        let noise: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        for (_, check) in CHECKS {
            check(&noise);
        }
        inputs += 1;
    }
    assert!(inputs > pool.len() * mutations);
}

#[test]
fn each_check_accepts_its_own_seed() {
    // Sanity: the checks are not vacuous, each parser accepts something.
    let pool = seeds();
    let accepts = |f: &dyn Fn(&[u8]) -> bool| pool.iter().any(|s| f(s));
    use coffer_vault::account::AccountHeader;
    use coffer_vault::account_key::AccountKey;
    use coffer_vault::format::{Container, SyncFile};
    use coffer_vault::item::Item;
    assert!(accepts(&|s| AccountHeader::from_json(s).is_ok()));
    assert!(accepts(
        &|s| std::str::from_utf8(s).is_ok_and(|t| AccountKey::parse(t).is_ok())
    ));
    assert!(accepts(&|s| Container::from_bytes(s).is_ok()));
    assert!(accepts(&|s| SyncFile::from_bytes(s).is_ok()));
    assert!(accepts(
        &|s| coffer_vault::segment::Segment::from_bytes(s).is_ok()
    ));
    assert!(accepts(&|s| Item::from_json(s).is_ok()));
    assert!(accepts(&|s| {
        coffer_vault::unlock_key::UnlockKeyFile::from_json(s).is_ok()
    }));
}
