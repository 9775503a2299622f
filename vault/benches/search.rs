//! Benchmarks of search over 10k and 100k synthetic items.
//!
//! Run with `cargo bench -p coffer-vault --bench search`. Items are made
//! from the EFF word list with a fixed seed: a two-word title, a username,
//! one or two URLs under assorted public suffixes (com, co.uk, org, de,
//! github.io ...) and zero to two tags; one item in 500 is a GitHub login.
//!
//! Baselines in the same run: `title scan` is what an exact-title lookup
//! costs today (a linear scan comparing each title case-insensitively with
//! the query); `HashMap id` is a lookup by id. The `build` rows measure
//! preparing the index (folding, hosts, registrable domains); the `edit +`
//! row replaces one item and searches (the index needs no rebuild).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use coffer_vault::generate::eff_large;
use coffer_vault::search::{SearchIndex, Searchable};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Item {
    title: String,
    username: String,
    urls: Vec<String>,
    tags: Vec<&'static str>,
}

const SUFFIXES: [&str; 8] = [
    "com",
    "co.uk",
    "org",
    "de",
    "net",
    "com.au",
    "github.io",
    "io",
];
const TAGS: [&str; 6] = [
    "work", "personal", "finance", "social", "shopping", "Family",
];

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn items(n: usize) -> Vec<Item> {
    let words = eff_large();
    let mut rng = StdRng::seed_from_u64(17);
    let mut w = || words[rng.gen_range(0..words.len())];
    let mut out = Vec::with_capacity(n);
    let mut rng2 = StdRng::seed_from_u64(18);
    for i in 0..n {
        if i % 500 == 7 {
            out.push(Item {
                title: format!("GitHub {}", capitalised(w())),
                username: format!("{}{}", w(), i),
                urls: vec!["https://github.com/login".to_owned()],
                tags: vec!["work"],
            });
            continue;
        }
        let (a, b, c) = (w(), w(), w());
        let suffix = SUFFIXES[rng2.gen_range(0..SUFFIXES.len())];
        let mut urls = vec![format!("https://www.{b}.{suffix}/login")];
        if rng2.gen_bool(0.2) {
            urls.push(format!("https://accounts.{c}.{suffix}/"));
        }
        let tags = (0..rng2.gen_range(0..3))
            .map(|_| TAGS[rng2.gen_range(0..TAGS.len())])
            .collect();
        out.push(Item {
            title: format!("{} {}", capitalised(a), capitalised(b)),
            username: format!("{a}.{c}@example.org"),
            urls,
            tags,
        });
    }
    out
}

fn index(items: &[Item], url_refs: &[Vec<&str>]) -> SearchIndex {
    SearchIndex::build(items.iter().zip(url_refs).map(|(it, urls)| Searchable {
        title: &it.title,
        username: &it.username,
        urls,
        tags: &it.tags,
    }))
}

fn search(c: &mut Criterion) {
    for n in [10_000usize, 100_000] {
        let items = items(n);
        let url_refs: Vec<Vec<&str>> = items
            .iter()
            .map(|i| i.urls.iter().map(String::as_str).collect())
            .collect();
        let idx = index(&items, &url_refs);
        let ids: HashMap<u64, usize> = (0..n).map(|i| (i as u64 * 7919, i)).collect();
        let probe_title = items[n / 2].title.to_uppercase();

        let mut g = c.benchmark_group(format!("search {}k", n / 1000));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1));
        g.bench_function("baseline: HashMap id", |b| {
            b.iter(|| ids.get(black_box(&((n as u64 / 2) * 7919))).copied())
        });
        g.bench_function("baseline: title scan (eq_ignore_case)", |b| {
            b.iter(|| {
                items
                    .iter()
                    .position(|i| i.title.eq_ignore_ascii_case(black_box(&probe_title)))
            })
        });
        for (name, q) in [
            ("exact title", probe_title.as_str()),
            ("one word", "zoom"),
            ("two words", "abacus zoom"),
            ("domain", "github.com"),
            ("url", "https://gist.github.com/x"),
            ("no match", "qqxzjv"),
            ("fuzzy typo", "gthub"),
            ("broad (1 letter)", "e"),
        ] {
            let hits = idx.search(q).len();
            g.bench_function(format!("{name}: {q:?} ({hits} hits)"), |b| {
                b.iter(|| idx.search(black_box(q)))
            });
        }
        // An edit replaces one entry in place; the next search needs
        // nothing rebuilt.
        let mut edited = idx.clone();
        let first = &items[0];
        g.bench_function("edit + one word \"zoom\"", |b| {
            b.iter(|| {
                edited.replace(
                    0,
                    &Searchable {
                        title: &first.title,
                        username: &first.username,
                        urls: &url_refs[0],
                        tags: &first.tags,
                    },
                );
                edited.search(black_box("zoom"))
            })
        });
        g.bench_function("build index", |b| {
            b.iter(|| index(black_box(&items), &url_refs))
        });
        g.finish();
    }
}

criterion_group!(benches, search);
criterion_main!(benches);
