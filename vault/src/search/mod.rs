//! Ranked search over items' non-secret fields: title, username, URLs and
//! tags (never passwords, notes, custom fields or one-time-code secrets).
//!
//! The daemon builds a [`SearchIndex`] from plain [`Searchable`] records
//! (one per live item, in a stable order such as its list order) and keeps
//! it next to its plaintext cache; [`SearchIndex::search`] returns the
//! matching positions in that order, best first.
//!
//! # Matching
//!
//! The query is split on whitespace into terms; every term must match (AND).
//! Text is [`fold`]ed on both sides (case, accents, compatibility forms). A
//! term matches an item when it is
//! - a substring of the title, the username, a URL (scheme left out) or a
//!   tag; or
//! - for a term that looks like a URL or a domain (`github.com`,
//!   `https://gist.github.com/x`, `10.0.0.1`), an item URL with the same
//!   registrable domain (`github.com` matches `https://gist.github.com/x`;
//!   `example.co.uk` does not match `other.co.uk`) or the same IP address;
//!   such a term is not also matched as a substring of URLs, so
//!   `example.com` never matches `example.com.evil.net`; or
//! - a fuzzy subsequence (its characters in order, spread over at most
//!   four times its length) of the title, the username or a tag.
//!
//! # Ranking
//!
//! Each hit has a [`Tier`], best first: the title equals the whole query
//! ([`Tier::Exact`]); the title starts with it ([`Tier::TitlePrefix`]);
//! every term starts a word of the title; every term is in the title;
//! every term matched somewhere without fuzziness ([`Tier::Field`]); some
//! term only fuzzily ([`Tier::Fuzzy`]). Within a tier, hits with stronger
//! term matches score higher (a title word over a username, an exact host
//! over a sibling subdomain, a tight fuzzy match over a loose one); equal
//! scores are ordered by folded title, then by position in the index. The
//! order is therefore deterministic.
//!
//! [`choose`] turns hits into what `coffer get QUERY` does: one exact title
//! or a single hit is taken; several are candidates; none is "no such item".
//!
//! # Cost
//!
//! Each entry keeps its folded text in one string with a 128-bit summary
//! of the bytes in it, so most non-matching entries are rejected without
//! reading their text. `vault/benches/search.rs` measures 10k and 100k
//! items.

mod domain;
mod fold;

pub use domain::{registrable_domain, HostKey};
pub use fold::fold;

use std::cmp::Reverse;

use domain::{host_key, host_of, term_host_key, url_text};
use fold::byte_mask;

/// Separates fields in an entry's folded text; [`fold`] drops control
/// characters, so no term contains it.
const SEP: char = '\u{0}';

/// Terms beyond this many are ignored (a pasted paragraph is not a query).
pub const MAX_TERMS: usize = 32;

/// One item's searchable fields, borrowed from the daemon's cache. Secret
/// fields have no place here.
#[derive(Clone, Copy, Debug, Default)]
pub struct Searchable<'a> {
    /// The title.
    pub title: &'a str,
    /// The username (empty when none).
    pub username: &'a str,
    /// The URLs.
    pub urls: &'a [&'a str],
    /// The tags.
    pub tags: &'a [&'a str],
}

/// How well an item matched, worst to best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Some term matched only as a fuzzy subsequence.
    Fuzzy,
    /// Every term matched a field as a substring (or a URL by domain), not
    /// all in the title.
    Field,
    /// Every term is a substring of the title.
    TitleSubstring,
    /// Every term starts a word of the title.
    TitleWordPrefix,
    /// The title starts with the whole query.
    TitlePrefix,
    /// The title equals the whole query (folded).
    Exact,
}

/// One matching item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Position of the item in the index.
    pub index: usize,
    /// Higher is better; the tier dominates.
    pub score: u32,
    /// The tier of the match.
    pub tier: Tier,
}

impl Hit {
    /// True when the title equals the query.
    pub fn is_exact(&self) -> bool {
        self.tier == Tier::Exact
    }
}

/// What `coffer get QUERY` should do with the hits of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Nothing matched (exit 4).
    None,
    /// Take this item.
    One(usize),
    /// Ambiguous: list these candidates, best first.
    Several(Vec<usize>),
}

/// The item to take from `hits` (as [`SearchIndex::search`] sorted them):
/// the only exact-title hit when there is exactly one, else the only hit;
/// several exact titles, or several hits and no exact title, are
/// candidates (only the exact ones when there are some).
pub fn choose(hits: &[Hit]) -> Choice {
    let exact: Vec<usize> = hits
        .iter()
        .filter(|h| h.is_exact())
        .map(|h| h.index)
        .collect();
    match (exact.len(), hits.len()) {
        (1, _) => Choice::One(exact[0]),
        (0, 0) => Choice::None,
        (0, 1) => Choice::One(hits[0].index),
        (0, _) => Choice::Several(hits.iter().map(|h| h.index).collect()),
        _ => Choice::Several(exact),
    }
}

/// One prepared entry: the folded fields in one string, separated by
/// [`SEP`], in the order title, username, tags, URLs (so that the fields
/// fuzzy matching reads come first).
#[derive(Clone, Debug)]
struct Entry {
    text: Box<str>,
    /// [`byte_mask`] of the whole text.
    mask: u128,
    /// [`byte_mask`] of the title, username and tags.
    fuzzy_mask: u128,
    /// The folded title's first 16 bytes, big-endian, zero-padded:
    /// ordering these integers orders titles as far as those bytes go (a
    /// folded title has no NUL).
    title_key: u128,
    /// Byte ranges of the fields in `text`: title, username, then tags,
    /// then URLs.
    spans: Box<[(u32, u32)]>,
    n_tags: u16,
    hosts: Box<[HostKey]>,
}

impl Drop for Entry {
    /// Titles, usernames, URLs and tags are item data: wiped with the entry.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.text);
    }
}

impl Entry {
    fn new(rec: &Searchable<'_>) -> Entry {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(2 + rec.urls.len() + rec.tags.len());
        let mut push = |s: &str, text: &mut String| {
            if !text.is_empty() {
                text.push(SEP);
            }
            let start = text.len() as u32;
            text.push_str(&fold(s));
            spans.push((start, text.len() as u32));
        };
        push(rec.title, &mut text);
        push(rec.username, &mut text);
        let tags = &rec.tags[..rec.tags.len().min(u16::MAX as usize)];
        for tag in tags {
            push(tag, &mut text);
        }
        let fuzzy_mask = byte_mask(&text);
        for url in rec.urls {
            push(&url_text(url), &mut text);
        }
        let hosts = rec
            .urls
            .iter()
            .filter_map(|u| host_key(host_of(u)?))
            .collect();
        let mut key = [0u8; 16];
        let title_len = (spans[0].1 as usize).min(16);
        key[..title_len].copy_from_slice(&text.as_bytes()[..title_len]);
        Entry {
            mask: byte_mask(&text),
            fuzzy_mask,
            title_key: u128::from_be_bytes(key),
            text: text.into(),
            spans: spans.into(),
            n_tags: tags.len() as u16,
            hosts,
        }
    }

    fn field(&self, i: usize) -> &str {
        let (a, b) = self.spans[i];
        &self.text[a as usize..b as usize]
    }

    fn title(&self) -> &str {
        self.field(0)
    }

    fn tags(&self) -> impl Iterator<Item = &str> {
        (2..2 + self.n_tags as usize).map(|i| self.field(i))
    }

    fn urls(&self) -> impl Iterator<Item = &str> {
        (2 + self.n_tags as usize..self.spans.len()).map(|i| self.field(i))
    }

    /// The title, username and tags: what fuzzy matching reads.
    fn fuzzy_region(&self) -> &str {
        let end = self.spans[1 + self.n_tags as usize].1;
        &self.text[..end as usize]
    }
}

/// A parsed query: folded terms, and the whole query for the title tiers.
#[derive(Clone, Debug)]
pub struct Query {
    joined: String,
    terms: Vec<Term>,
}

#[derive(Clone, Debug)]
struct Term {
    text: String,
    chars: usize,
    mask: u128,
    host: Option<HostKey>,
}

impl Query {
    /// Splits `query` on whitespace into at most [`MAX_TERMS`] terms.
    pub fn parse(query: &str) -> Query {
        let terms: Vec<Term> = query
            .split_whitespace()
            .filter_map(|raw| {
                let text = fold(raw);
                if text.is_empty() {
                    return None;
                }
                Some(Term {
                    chars: text.chars().count(),
                    mask: byte_mask(&text),
                    host: term_host_key(raw),
                    text,
                })
            })
            .take(MAX_TERMS)
            .collect();
        let joined = terms
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Query { joined, terms }
    }

    /// True when the query has no terms (it then matches nothing).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// How one term matched one entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TermKind {
    Fuzzy,
    Other,
    TitleSub,
    TitleWord,
}

/// Points per kind of term match (a title word start beats a title
/// substring beats an exact host beats a username or URL beats a tag beats
/// any fuzzy match, which scores 1–99).
const TITLE_START: u32 = 500;
const TITLE_WORD: u32 = 400;
const TITLE_SUB: u32 = 300;
const HOST_EXACT: u32 = 250;
const USERNAME_OR_URL: u32 = 200;
const TAG: u32 = 150;

/// True when byte offset `i` of `s` starts a word.
fn at_word_start(s: &str, i: usize) -> bool {
    s[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

/// The best title match of `t`: at the start, at a word start, anywhere.
fn title_match(title: &str, t: &str) -> Option<(TermKind, u32)> {
    let mut best = None;
    for (i, _) in title.match_indices(t) {
        if i == 0 {
            return Some((TermKind::TitleWord, TITLE_START));
        }
        if at_word_start(title, i) {
            best = Some((TermKind::TitleWord, TITLE_WORD));
        } else if best.is_none() {
            best = Some((TermKind::TitleSub, TITLE_SUB));
        }
    }
    best
}

/// True when the bytes of `needle` occur in order in `hay` (necessary for
/// a character subsequence, and cheap).
fn byte_subsequence(hay: &str, needle: &str) -> bool {
    let mut it = hay.bytes();
    needle.bytes().all(|b| it.any(|h| h == b))
}

/// Fuzzy score (1–99) of `term` as a subsequence of `field`: the tightest
/// window holding the term's characters in order, if at most four times
/// the term's length; a window that starts a word scores a little more.
fn fuzzy_score(field: &str, term: &str, term_chars: usize) -> Option<u32> {
    let first = term.chars().next()?;
    let limit = term_chars * 4;
    // (span, starts a word) of the best window so far.
    let mut best: Option<(usize, bool)> = None;
    for (start, _) in field.char_indices().filter(|(_, c)| *c == first) {
        let mut want = term.chars().skip(1).peekable();
        let mut span = 1;
        for c in field[start..].chars().skip(1) {
            if want.peek().is_none() || span >= limit {
                break;
            }
            span += 1;
            if want.peek() == Some(&c) {
                want.next();
            }
        }
        if want.peek().is_some() {
            continue;
        }
        let word = at_word_start(field, start);
        if best.is_none_or(|(s, w)| span < s || (span == s && word && !w)) {
            best = Some((span, word));
        }
    }
    let (span, word) = best?;
    let score = (89 * term_chars / span) as u32 + if word { 10 } else { 0 };
    Some(score.clamp(1, 99))
}

/// How `term` matches `entry`, if it does, with its points.
fn match_term(entry: &Entry, term: &Term) -> Option<(TermKind, u32)> {
    let mut best: Option<(TermKind, u32)> = None;
    fn keep(best: &mut Option<(TermKind, u32)>, m: Option<(TermKind, u32)>) {
        if let Some(m) = m {
            if best.is_none_or(|b| (m.1, m.0) > (b.1, b.0)) {
                *best = Some(m);
            }
        }
    }
    if let Some(key) = &term.host {
        for h in entry.hosts.iter() {
            let points = match (key, h) {
                (HostKey::Ip(a), HostKey::Ip(b)) if a == b => HOST_EXACT,
                (
                    HostKey::Name {
                        host: qh,
                        registrable: qr,
                    },
                    HostKey::Name {
                        host: eh,
                        registrable: er,
                    },
                ) if qr == er => {
                    if qh == eh {
                        HOST_EXACT
                    } else {
                        USERNAME_OR_URL
                    }
                }
                _ => continue,
            };
            keep(&mut best, Some((TermKind::Other, points)));
        }
    }
    if entry.mask & term.mask != term.mask {
        return best;
    }
    let t = term.text.as_str();
    if entry.text.contains(t) {
        keep(&mut best, title_match(entry.title(), t));
        if best.is_some_and(|b| b.0 >= TermKind::TitleSub) {
            return best;
        }
        if entry.field(1).contains(t) {
            keep(&mut best, Some((TermKind::Other, USERNAME_OR_URL)));
        }
        if term.host.is_none() && entry.urls().any(|u| u.contains(t)) {
            keep(&mut best, Some((TermKind::Other, USERNAME_OR_URL)));
        }
        if entry.tags().any(|g| g.contains(t)) {
            keep(&mut best, Some((TermKind::Other, TAG)));
        }
    }
    if best.is_none()
        && term.chars > 1
        && entry.fuzzy_mask & term.mask == term.mask
        && byte_subsequence(entry.fuzzy_region(), t)
    {
        let fuzzy = std::iter::once(entry.title())
            .chain(std::iter::once(entry.field(1)))
            .chain(entry.tags())
            .filter_map(|f| fuzzy_score(f, t, term.chars))
            .max();
        keep(&mut best, fuzzy.map(|s| (TermKind::Fuzzy, s)));
    }
    best
}

/// The tier and score of `entry` for `query`, if every term matches.
fn score_entry(entry: &Entry, query: &Query) -> Option<(Tier, u32)> {
    // Cheap rejection first: a word term whose bytes the entry lacks
    // cannot match (a host term may still match the entry's URLs).
    if query
        .terms
        .iter()
        .any(|t| t.host.is_none() && entry.mask & t.mask != t.mask)
    {
        return None;
    }
    let mut points = 0u32;
    let mut weakest = TermKind::TitleWord;
    for term in &query.terms {
        let (kind, p) = match_term(entry, term)?;
        points += p;
        weakest = weakest.min(kind);
    }
    let title = entry.title();
    let tier = if title == query.joined {
        Tier::Exact
    } else if title.starts_with(&query.joined) {
        Tier::TitlePrefix
    } else {
        match weakest {
            TermKind::TitleWord => Tier::TitleWordPrefix,
            TermKind::TitleSub => Tier::TitleSubstring,
            TermKind::Other => Tier::Field,
            TermKind::Fuzzy => Tier::Fuzzy,
        }
    };
    // At most MAX_TERMS * 500 points, well under the gap between tiers.
    Some((tier, (tier as u32 + 1) * 1_000_000 + points))
}

/// The prepared, folded fields of every item, in the daemon's order.
#[derive(Clone, Debug, Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> SearchIndex {
        SearchIndex::default()
    }

    /// An index of `records`, in their order.
    pub fn build<'a, I>(records: I) -> SearchIndex
    where
        I: IntoIterator<Item = Searchable<'a>>,
    {
        SearchIndex {
            entries: records.into_iter().map(|r| Entry::new(&r)).collect(),
        }
    }

    /// Appends an item; returns its position.
    pub fn push(&mut self, record: &Searchable<'_>) -> usize {
        self.entries.push(Entry::new(record));
        self.entries.len() - 1
    }

    /// Replaces the item at `index` (after an edit); false when there is
    /// no such position.
    pub fn replace(&mut self, index: usize, record: &Searchable<'_>) -> bool {
        match self.entries.get_mut(index) {
            Some(e) => {
                *e = Entry::new(record);
                true
            }
            None => false,
        }
    }

    /// Removes the item at `index` and moves the last item into its place
    /// (as [`Vec::swap_remove`] on a `Vec` kept alongside); constant time.
    /// False when there is no such position.
    pub fn swap_remove(&mut self, index: usize) -> bool {
        if index < self.entries.len() {
            self.entries.swap_remove(index);
            true
        } else {
            false
        }
    }

    /// Removes the item at `index`; later items move down by one (as in a
    /// `Vec` the daemon keeps alongside). False when there is no such
    /// position.
    pub fn remove(&mut self, index: usize) -> bool {
        if index < self.entries.len() {
            self.entries.remove(index);
            true
        } else {
            false
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index has no items.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The hits for `query`, best first (see the module docs).
    pub fn search(&self, query: &str) -> Vec<Hit> {
        self.search_query(&Query::parse(query))
    }

    /// The hits for a parsed query, best first.
    pub fn search_query(&self, query: &Query) -> Vec<Hit> {
        if query.is_empty() {
            return Vec::new();
        }
        // Sorted by score, then title, then position. Titles are compared
        // by their first 16 bytes as an integer kept beside each hit, so the
        // sort reads no entry; only runs that tie on those bytes are then
        // put in order by their full titles.
        let mut keyed: Vec<(Reverse<u32>, u128, Hit)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, e)| {
                let (tier, score) = score_entry(e, query)?;
                Some((Reverse(score), e.title_key, Hit { index, score, tier }))
            })
            .collect();
        keyed.sort_unstable_by_key(|&(score, key, hit)| (score, key, hit.index));
        let mut start = 0;
        while start < keyed.len() {
            let (score, key, _) = keyed[start];
            let end = start
                + keyed[start..]
                    .iter()
                    .take_while(|k| k.0 == score && k.1 == key)
                    .count();
            if end - start > 1 {
                keyed[start..end].sort_unstable_by(|a, b| {
                    let (ta, tb) = (
                        self.entries[a.2.index].title(),
                        self.entries[b.2.index].title(),
                    );
                    ta.cmp(tb).then(a.2.index.cmp(&b.2.index))
                });
            }
            start = end;
        }
        keyed.into_iter().map(|(_, _, hit)| hit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        title: &'static str,
        username: &'static str,
        urls: Vec<&'static str>,
        tags: Vec<&'static str>,
    }

    fn item(title: &'static str, username: &'static str, urls: &[&'static str]) -> Item {
        Item {
            title,
            username,
            urls: urls.to_vec(),
            tags: Vec::new(),
        }
    }

    fn index(items: &[Item]) -> SearchIndex {
        SearchIndex::build(items.iter().map(|i| Searchable {
            title: i.title,
            username: i.username,
            urls: &i.urls,
            tags: &i.tags,
        }))
    }

    fn titles(items: &[Item], idx: &SearchIndex, q: &str) -> Vec<&'static str> {
        idx.search(q).iter().map(|h| items[h.index].title).collect()
    }

    #[test]
    fn ranking_order() {
        let items = vec![
            item("Bank of Mars", "", &[]),                 // 0: word prefix
            item("Databank", "", &[]),                     // 1: substring
            item("Bank", "", &[]),                         // 2: exact
            item("Mail", "bank@example.com", &[]),         // 3: username
            item("Banking portal", "", &[]),               // 4: title prefix
            item("Brokerage and kin", "", &[]),            // 5: fuzzy b-a-n-k
            item("Zebra", "", &["https://bank.example/"]), // 6: url
            item("Unrelated", "", &[]),                    // 7: no match
            item("bank", "", &[]),                         // 8: exact too, same folded title
        ];
        let idx = index(&items);
        assert_eq!(
            titles(&items, &idx, "bank"),
            vec![
                "Bank",
                "bank",
                "Bank of Mars",
                "Banking portal",
                "Databank",
                "Mail",
                "Zebra",
                "Brokerage and kin"
            ]
        );
        let tiers: Vec<Tier> = idx.search("bank").iter().map(|h| h.tier).collect();
        assert_eq!(
            tiers,
            vec![
                Tier::Exact,
                Tier::Exact,
                Tier::TitlePrefix,
                Tier::TitlePrefix,
                Tier::TitleSubstring,
                Tier::Field,
                Tier::Field,
                Tier::Fuzzy
            ]
        );
    }

    #[test]
    fn word_prefix_and_multi_term_queries() {
        let items = vec![
            item("My Mars Bank", "", &[]),
            item("Mars rover blog", "", &[]),
            item("Bank on Venus", "mars@example.com", &[]),
            item("Marsbank", "", &[]),
        ];
        let idx = index(&items);
        // Both terms start words of the first title; the third needs the
        // username; "Marsbank" has "bank" inside a word only.
        let hits = idx.search("mars bank");
        let got: Vec<(&str, Tier)> = hits
            .iter()
            .map(|h| (items[h.index].title, h.tier))
            .collect();
        assert_eq!(
            got,
            vec![
                ("My Mars Bank", Tier::TitleWordPrefix),
                ("Marsbank", Tier::TitleSubstring),
                ("Bank on Venus", Tier::Field),
            ]
        );
        // AND: every term must match.
        assert!(idx.search("mars venus rover").is_empty());
    }

    #[test]
    fn ties_are_broken_by_title_then_position() {
        let items = vec![
            item("Zeta mail", "", &[]),
            item("Alpha mail", "", &[]),
            item("Alpha mail", "", &[]),
        ];
        let idx = index(&items);
        let order: Vec<usize> = idx.search("mail").iter().map(|h| h.index).collect();
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn titles_sharing_a_long_prefix_are_ordered_in_full() {
        let items = vec![
            item("Accounts payable B", "", &[]),
            item("Accounts payable A", "", &[]),
            item("Accounts", "", &[]),
            item("Accountsz", "", &[]),
        ];
        let idx = index(&items);
        assert_eq!(
            titles(&items, &idx, "payable"),
            vec!["Accounts payable A", "Accounts payable B"]
        );
        let order: Vec<usize> = idx.search("ccount").iter().map(|h| h.index).collect();
        assert_eq!(order, vec![2, 1, 0, 3]);
    }

    proptest::proptest! {
        /// The sort is the documented one: score, then folded title, then
        /// position.
        #[test]
        fn hits_are_in_documented_order(
            titles in proptest::collection::vec("[abAB é]{0,12}", 1..40),
            query in "[abé]{1,2}",
        ) {
            let records: Vec<Searchable> = titles
                .iter()
                .map(|t| Searchable { title: t, ..Default::default() })
                .collect();
            let idx = SearchIndex::build(records.iter().copied());
            let hits = idx.search(&query);
            for w in hits.windows(2) {
                let (a, b) = (w[0], w[1]);
                let key = |h: Hit| (std::cmp::Reverse(h.score), fold(&titles[h.index]), h.index);
                proptest::prop_assert!(key(a) < key(b), "{:?} before {:?}", a, b);
            }
        }
    }

    #[test]
    fn secret_fields_are_not_searchable_because_they_are_not_indexed() {
        // The index only has what Searchable carries; a typical password
        // string matches nothing.
        let items = vec![item("Mail", "me", &["https://mail.example.com"])];
        let idx = index(&items);
        assert!(idx.search("hunter2").is_empty());
    }

    #[test]
    fn domains() {
        let items = vec![
            item("A", "", &["https://gist.github.com/x"]),     // 0
            item("B", "", &["https://github.com/login"]),      // 1
            item("C", "", &["https://example.co.uk/"]),        // 2
            item("D", "", &["https://other.co.uk/"]),          // 3
            item("E", "", &["http://192.168.1.1:8080/admin"]), // 4
            item("F", "", &["https://user:pw@shop.example.com:8443/cart?x=1"]), // 5
            item("G", "", &["https://example.com.evil.net/"]), // 6
            item("H", "", &["http://[2001:db8::1]/"]),         // 7
            item("I", "", &["https://alice.github.io/"]),      // 8
            item("J", "", &["github.com"]),                    // 9: no scheme
            item("K", "", &["http://192.168.1.10/"]),          // 10
        ];
        let idx = index(&items);
        let found = |q: &str| {
            let mut v: Vec<usize> = idx.search(q).iter().map(|h| h.index).collect();
            v.sort();
            v
        };
        assert_eq!(found("github.com"), vec![0, 1, 9]);
        assert_eq!(found("https://gist.github.com/other/path"), vec![0, 1, 9]);
        assert_eq!(found("example.co.uk"), vec![2]);
        assert_eq!(found("other.co.uk"), vec![3]);
        assert_eq!(found("192.168.1.1"), vec![4]);
        assert_eq!(found("192.168.1.1:8080"), vec![4]);
        assert_eq!(found("example.com"), vec![5]);
        assert_eq!(found("www.example.com"), vec![5]);
        assert_eq!(found("[2001:db8:0::1]"), vec![7]);
        assert_eq!(found("alice.github.io"), vec![8]);
        assert_eq!(found("bob.github.io"), Vec::<usize>::new());
        // A bare word is a substring of URLs: "github" is in three URLs
        // and in "alice.github.io".
        assert_eq!(found("github"), vec![0, 1, 8, 9]);
        // A public suffix alone is a plain word.
        assert_eq!(found("co.uk"), vec![2, 3]);
        // The exact host ranks above a sibling subdomain.
        let top = idx.search("github.com")[0].index;
        assert!(top == 1 || top == 9, "{top}");
        assert_eq!(idx.search("gist.github.com")[0].index, 0);
        // URL paths are not hosts, but they are text; userinfo (which may
        // hold a password) is not indexed at all.
        assert_eq!(found("cart"), vec![5]);
        assert_eq!(found("8443/cart"), vec![5]);
        assert!(found("pw").is_empty());
        assert!(found("user").is_empty());
    }

    #[test]
    fn unicode_case_folding() {
        let items = vec![
            item("Café Crème", "", &[]),
            item("ΟΔΟΣ", "", &[]),
            item("Straße", "", &[]),
            item("ИНТЕРНЕТ-БАНК", "", &[]),
            item("İstanbul Kart", "", &[]),
        ];
        let idx = index(&items);
        assert_eq!(titles(&items, &idx, "cafe"), vec!["Café Crème"]);
        assert_eq!(titles(&items, &idx, "CAFÉ CRÈME")[0], "Café Crème");
        assert!(idx.search("CAFÉ CRÈME")[0].is_exact());
        assert_eq!(titles(&items, &idx, "οδος"), vec!["ΟΔΟΣ"]);
        assert_eq!(titles(&items, &idx, "straße"), vec!["Straße"]);
        assert_eq!(titles(&items, &idx, "банк"), vec!["ИНТЕРНЕТ-БАНК"]);
        assert_eq!(idx.search("банк")[0].tier, Tier::TitleWordPrefix);
        assert_eq!(titles(&items, &idx, "istanbul"), vec!["İstanbul Kart"]);
    }

    #[test]
    fn fuzzy_matches_are_bounded_and_ranked_by_tightness() {
        let items = vec![
            item("GitHub", "", &[]),
            item("Great big thing hub", "", &[]),
            item("gxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxithub", "", &[]),
        ];
        let idx = index(&items);
        let hits = idx.search("gthb");
        let got: Vec<&str> = hits.iter().map(|h| items[h.index].title).collect();
        assert_eq!(got, vec!["GitHub", "Great big thing hub"]);
        assert!(hits.iter().all(|h| h.tier == Tier::Fuzzy));
        assert!(hits[0].score > hits[1].score);
        // A single character is never fuzzy.
        assert!(idx.search("z").is_empty());
    }

    #[test]
    fn tags_match() {
        let items = vec![Item {
            title: "Router",
            username: "admin",
            urls: vec![],
            tags: vec!["Home Network", "hardware"],
        }];
        let idx = index(&items);
        assert_eq!(idx.search("network")[0].tier, Tier::Field);
        assert_eq!(idx.search("hrdwr")[0].tier, Tier::Fuzzy);
        assert_eq!(idx.search("admin")[0].tier, Tier::Field);
    }

    #[test]
    fn choose_what_get_takes() {
        let items = vec![
            item("GitHub", "", &[]),
            item("GitHub Enterprise", "", &[]),
            item("GitLab", "", &[]),
        ];
        let idx = index(&items);
        assert_eq!(choose(&idx.search("github")), Choice::One(0));
        assert_eq!(choose(&idx.search("enterprise")), Choice::One(1));
        assert_eq!(choose(&idx.search("git")), Choice::Several(vec![0, 1, 2]));
        assert_eq!(choose(&idx.search("nothing")), Choice::None);
        assert_eq!(choose(&idx.search("")), Choice::None);
        let twins = vec![item("Mail", "a", &[]), item("mail", "b", &[])];
        let idx = index(&twins);
        assert_eq!(choose(&idx.search("MAIL")), Choice::Several(vec![0, 1]));
    }

    #[test]
    fn updates_keep_positions() {
        let items = vec![
            item("One", "", &[]),
            item("Two", "", &[]),
            item("Three", "", &[]),
        ];
        let mut idx = index(&items);
        assert!(idx.replace(
            1,
            &Searchable {
                title: "Deux",
                ..Default::default()
            }
        ));
        assert!(idx.search("two").is_empty());
        assert_eq!(idx.search("deux")[0].index, 1);
        assert!(idx.remove(0));
        assert_eq!(idx.search("three")[0].index, 1);
        assert_eq!(
            idx.push(&Searchable {
                title: "Four",
                ..Default::default()
            }),
            2
        );
        assert_eq!(idx.len(), 3);
        assert!(!idx.replace(9, &Searchable::default()));
        assert!(!idx.remove(9));
    }

    #[test]
    fn terms_are_capped_and_whitespace_ignored() {
        let q = Query::parse("  a \t b\n");
        assert_eq!(q.terms.len(), 2);
        let many = "x ".repeat(100);
        assert_eq!(Query::parse(&many).terms.len(), MAX_TERMS);
        assert!(Query::parse(" \u{301} ").is_empty());
    }
}
