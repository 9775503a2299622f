//! The password generator: random characters or EFF passphrases, from the
//! operating system's CSPRNG, with their exact entropy.
//!
//! - [`generate`] draws a fresh password for a [`Policy`] from
//!   [`OsRng`]; [`generate_with`] takes any
//!   cryptographic RNG (tests, or a daemon that wants its own).
//! - Every pick is uniform: indices come from rejection sampling on 32-bit
//!   draws ([`uniform_index`]), never from a biased `% n`.
//! - "Each enabled class at least once" is met by drawing whole candidates
//!   until one satisfies it, so the result is uniform over exactly the
//!   strings the policy allows (placing one character of each class and
//!   shuffling would favour small classes; a test shows the difference).
//!   The expected number of draws is small: at worst about 100 (4
//!   characters, a one-symbol set), usually 1 or 2.
//! - [`entropy_bits`] is log2 of the number of strings the policy can
//!   produce, the class rule counted by inclusion–exclusion.
//! - Results are [`SecretString`]s; the intermediate picks live in
//!   zeroizing buffers.
//!
//! Policies ([`Policy`]), their text form and the CLI flags
//! ([`GenerateFlags`]) are defined in `generate/policy.rs` and re-exported
//! here; the word list is [`eff_large`].

mod policy;
mod words;

pub use policy::{
    CharOptions, CharPolicy, Class, Classes, GenerateFlags, Policy, PolicyError, WordOptions,
    WordPolicy, DEFAULT_LENGTH, DEFAULT_SEPARATOR, DEFAULT_SYMBOLS, DEFAULT_WORDS, DIGITS, LOWER,
    MAX_LENGTH, MAX_SEPARATOR_CHARS, MAX_SYMBOLS, MAX_WORDS, MIN_LENGTH, MIN_WORDS, SIMILAR, UPPER,
};
pub use words::{eff_large, EFF_LARGE_LEN};

use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::secret::SecretString;

/// A suggested custom field name for remembering an item's policy in its
/// text form (`field:password-policy`), so that the next `--generate` on
/// that item reuses it.
pub const POLICY_FIELD: &str = "password-policy";

/// A fresh password for `policy`, from the operating system's CSPRNG.
pub fn generate(policy: &Policy) -> SecretString {
    generate_with(policy, &mut OsRng)
}

/// A fresh password for `policy`, from `rng`.
pub fn generate_with<R: RngCore + CryptoRng + ?Sized>(
    policy: &Policy,
    rng: &mut R,
) -> SecretString {
    match policy {
        Policy::Chars(p) => generate_chars(p, rng),
        Policy::Words(p) => generate_words(p, rng),
    }
}

/// A uniform index in `0..n`, by rejection sampling: 32-bit draws at or
/// above the largest multiple of `n` that fits are thrown away, so every
/// index has exactly the same number of accepted draws. At most half of
/// the draws are rejected, whatever `n`.
///
/// # Panics
///
/// When `n` is 0 or does not fit in 32 bits (a programming error: the
/// alphabets and the word list are far smaller).
pub fn uniform_index<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
    assert!(n > 0, "uniform_index over an empty range");
    let n = u32::try_from(n).expect("uniform_index: range fits in 32 bits");
    // 2^32 mod n, computed without 64-bit arithmetic: (2^32 - n) mod n.
    let rem = (u32::MAX - n + 1) % n;
    let last_accepted = u32::MAX - rem;
    loop {
        let x = rng.next_u32();
        if x <= last_accepted {
            return (x % n) as usize;
        }
    }
}

/// The alphabet of a character policy: every allowed character, and the
/// class index (into `required` flags) of each.
struct Alphabet {
    chars: Vec<char>,
    class_of: Vec<u8>,
    required_mask: u8,
}

impl Alphabet {
    fn new(p: &CharPolicy) -> Alphabet {
        let mut chars = Vec::new();
        let mut class_of = Vec::new();
        let mut required_mask = 0u8;
        let required = p.required();
        for (i, class) in Class::ALL.into_iter().enumerate() {
            let set = p.class_chars(class);
            if set.is_empty() {
                continue;
            }
            if required.contains(&class) {
                required_mask |= 1 << i;
            }
            class_of.extend(std::iter::repeat_n(i as u8, set.len()));
            chars.extend(set);
        }
        Alphabet {
            chars,
            class_of,
            required_mask,
        }
    }
}

fn generate_chars<R: RngCore + ?Sized>(p: &CharPolicy, rng: &mut R) -> SecretString {
    let alphabet = Alphabet::new(p);
    let mut picks = Zeroizing::new(vec![0usize; p.length()]);
    loop {
        let mut seen = 0u8;
        for slot in picks.iter_mut() {
            *slot = uniform_index(rng, alphabet.chars.len());
            seen |= 1 << alphabet.class_of[*slot];
        }
        if seen & alphabet.required_mask == alphabet.required_mask {
            break;
        }
    }
    // Sized up front so the string never reallocates (which would leave an
    // unzeroized copy behind).
    let bytes: usize = picks.iter().map(|&i| alphabet.chars[i].len_utf8()).sum();
    let mut out = String::with_capacity(bytes);
    out.extend(picks.iter().map(|&i| alphabet.chars[i]));
    SecretString::new(out)
}

fn generate_words<R: RngCore + ?Sized>(p: &WordPolicy, rng: &mut R) -> SecretString {
    let list = eff_large();
    let mut picks = Zeroizing::new(vec![0usize; p.words()]);
    for slot in picks.iter_mut() {
        *slot = uniform_index(rng, list.len());
    }
    let sep = p.separator();
    let bytes: usize =
        picks.iter().map(|&i| list[i].len()).sum::<usize>() + sep.len() * (picks.len() - 1);
    let mut out = String::with_capacity(bytes);
    for (n, &i) in picks.iter().enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        let word = list[i];
        if p.capitalize() {
            // The list is ASCII, so the first byte is the first character.
            let (first, rest) = word.split_at(1);
            out.push_str(&first.to_ascii_uppercase());
            out.push_str(rest);
        } else {
            out.push_str(word);
        }
    }
    SecretString::new(out)
}

/// The entropy of `policy` in bits: log2 of how many passwords it can
/// produce, each equally likely.
///
/// For characters, the count of strings of the policy's length over its
/// alphabet in which every required class appears, by inclusion–exclusion
/// over the required classes. For passphrases, `words × log2(7776)`
/// (≈ 12.925 bits a word); this counts word sequences, and two sequences
/// give the same text only when a separator also occurs inside words (the
/// list's four hyphenated words with `-`, or an empty separator), a
/// negligible loss.
pub fn entropy_bits(policy: &Policy) -> f64 {
    match policy {
        Policy::Chars(p) => {
            let required = p.required();
            let sizes: Vec<(usize, bool)> = Class::ALL
                .into_iter()
                .map(|c| (p.class_chars(c).len(), required.contains(&c)))
                .filter(|(n, _)| *n > 0)
                .collect();
            log2_count(&sizes, p.length())
        }
        Policy::Words(p) => p.words() as f64 * (EFF_LARGE_LEN as f64).log2(),
    }
}

/// log2 of the number of strings of length `len` over disjoint classes of
/// the given sizes, in which every class flagged `true` appears at least
/// once.
///
/// count = Σ over subsets S of the required classes of
/// (-1)^|S| (N - |S's characters|)^len; computed as
/// N^len · Σ (-1)^|S| (1 - |S|/N)^len so that nothing overflows. The sum is
/// the probability that a uniform string meets the rule, at least about
/// 0.01 for any valid policy, so the cancellation costs no precision that
/// matters.
fn log2_count(sizes: &[(usize, bool)], len: usize) -> f64 {
    let total: usize = sizes.iter().map(|(n, _)| n).sum();
    let required: Vec<usize> = sizes.iter().filter(|(_, r)| *r).map(|(n, _)| *n).collect();
    let mut fraction = 0.0;
    for mask in 0u32..(1 << required.len()) {
        let excluded: usize = required
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, n)| n)
            .sum();
        let term = ((total - excluded) as f64 / total as f64).powi(len as i32);
        if mask.count_ones() % 2 == 0 {
            fraction += term;
        } else {
            fraction -= term;
        }
    }
    len as f64 * (total as f64).log2() + fraction.log2()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::RngCore;
    use rand::SeedableRng;

    use super::*;

    // ---------- chi-square machinery ----------

    /// Upper-tail probability of the chi-square distribution with `df`
    /// degrees of freedom: Q(df/2, x/2), the regularised upper incomplete
    /// gamma function (series below a+1, continued fraction above).
    fn chi2_sf(x: f64, df: usize) -> f64 {
        let a = df as f64 / 2.0;
        let x = x / 2.0;
        if x <= 0.0 {
            return 1.0;
        }
        let ln_pre = a * x.ln() - x - ln_gamma(a);
        if x < a + 1.0 {
            let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
            for _ in 0..100_000 {
                ap += 1.0;
                term *= x / ap;
                sum += term;
                if term.abs() < sum.abs() * 1e-16 {
                    break;
                }
            }
            1.0 - sum * ln_pre.exp()
        } else {
            // Lentz's method for the continued fraction of Q.
            let tiny = 1e-300;
            let mut b = x + 1.0 - a;
            let mut c = 1.0 / tiny;
            let mut d = 1.0 / b;
            let mut h = d;
            for i in 1..100_000 {
                let an = -(i as f64) * (i as f64 - a);
                b += 2.0;
                d = an * d + b;
                if d.abs() < tiny {
                    d = tiny;
                }
                c = b + an / c;
                if c.abs() < tiny {
                    c = tiny;
                }
                d = 1.0 / d;
                let delta = d * c;
                h *= delta;
                if (delta - 1.0).abs() < 1e-16 {
                    break;
                }
            }
            ln_pre.exp() * h
        }
    }

    /// ln Γ(a) by the Lanczos approximation (g = 7, n = 9).
    fn ln_gamma(a: f64) -> f64 {
        const G: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        if a < 0.5 {
            let pi = std::f64::consts::PI;
            return (pi / (pi * a).sin()).ln() - ln_gamma(1.0 - a);
        }
        let a = a - 1.0;
        let mut x = G[0];
        for (i, g) in G.iter().enumerate().skip(1) {
            x += g / (a + i as f64);
        }
        let t = a + 7.5;
        0.5 * (2.0 * std::f64::consts::PI).ln() + (a + 0.5) * t.ln() - t + x.ln()
    }

    /// The chi-square value exceeded with probability `p` (bisection on
    /// `chi2_sf`). The tests use p = 1e-6: a correct generator fails one
    /// run in a million, a biased one essentially always.
    fn chi2_critical(df: usize, p: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, df as f64 + 100.0 * (df as f64).sqrt() + 100.0);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if chi2_sf(mid, df) > p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }

    const P_FAIL: f64 = 1e-6;

    fn chi2_stat(observed: &[u64], probabilities: &[f64]) -> f64 {
        let n: u64 = observed.iter().sum();
        observed
            .iter()
            .zip(probabilities)
            .map(|(&o, &p)| {
                let e = n as f64 * p;
                (o as f64 - e).powi(2) / e
            })
            .sum()
    }

    /// True when the counts are consistent with `probabilities` at P_FAIL.
    fn fits(observed: &[u64], probabilities: &[f64]) -> bool {
        let stat = chi2_stat(observed, probabilities);
        let crit = chi2_critical(observed.len() - 1, P_FAIL);
        stat < crit
    }

    #[test]
    fn chi2_machinery_matches_known_quantiles() {
        // Closed form for 2 degrees of freedom: Q = e^(-x/2).
        assert!((chi2_sf(10.0, 2) - (-5.0f64).exp()).abs() < 1e-12);
        // 0.999 quantiles from standard chi-square tables.
        for (df, q) in [(1, 10.828), (4, 18.467), (10, 29.588), (100, 149.449)] {
            let c = chi2_critical(df, 1e-3);
            assert!((c - q).abs() < 0.01, "df {df}: {c} vs {q}");
        }
    }

    // ---------- uniform_index ----------

    /// A deliberately biased picker: one byte modulo n, the classic mistake.
    fn biased_index<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
        (rng.next_u32() as u8) as usize % n
    }

    /// A picker biased only slightly: 16 bits modulo n.
    fn slightly_biased_index<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
        (rng.next_u32() as u16) as usize % n
    }

    fn histogram(n: usize, draws: usize, mut pick: impl FnMut() -> usize) -> Vec<u64> {
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            counts[pick()] += 1;
        }
        counts
    }

    #[test]
    fn uniform_index_stays_in_range() {
        let mut rng = StdRng::from_entropy();
        for n in [1, 2, 3, 7, 90, 7776, u32::MAX as usize] {
            for _ in 0..1000 {
                assert!(uniform_index(&mut rng, n) < n);
            }
        }
    }

    #[test]
    fn uniform_index_rejects_the_biased_tail() {
        /// Replays fixed 32-bit values.
        struct Replay(Vec<u32>);
        impl RngCore for Replay {
            fn next_u32(&mut self) -> u32 {
                self.0.remove(0)
            }
            fn next_u64(&mut self) -> u64 {
                unreachable!()
            }
            fn fill_bytes(&mut self, _: &mut [u8]) {
                unreachable!()
            }
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand::Error> {
                unreachable!()
            }
        }
        // 2^32 = 3 * 1431655765 + 1: only u32::MAX is in the biased tail.
        let mut r = Replay(vec![u32::MAX, u32::MAX, u32::MAX - 1]);
        assert_eq!(uniform_index(&mut r, 3), ((u32::MAX - 1) % 3) as usize);
        assert!(r.0.is_empty());
    }

    #[test]
    fn chi_square_tells_a_biased_picker_from_a_uniform_one() {
        let mut rng = StdRng::from_entropy();
        let uniform = vec![1.0 / 90.0; 90];
        let good = histogram(90, 200_000, || uniform_index(&mut rng, 90));
        assert!(fits(&good, &uniform));
        let bad = histogram(90, 200_000, || biased_index(&mut rng, 90));
        assert!(!fits(&bad, &uniform));

        // Words: 16-bit modulo 7776 favours 3328 words by 9/8. Fifty draws a
        // word are enough to see it, and not enough to fail a fair picker.
        let n = EFF_LARGE_LEN;
        let uniform = vec![1.0 / n as f64; n];
        let good = histogram(n, 50 * n, || uniform_index(&mut rng, n));
        assert!(fits(&good, &uniform));
        let bad = histogram(n, 50 * n, || slightly_biased_index(&mut rng, n));
        assert!(!fits(&bad, &uniform));
    }

    // ---------- character choice ----------

    fn chars_policy(s: &str) -> CharPolicy {
        match s.parse::<Policy>().unwrap() {
            Policy::Chars(p) => p,
            Policy::Words(_) => panic!("{s} is not a character policy"),
        }
    }

    #[test]
    fn character_choice_is_uniform() {
        let p = chars_policy("chars:len=20;classes=luds;optional-classes");
        let alphabet: Vec<char> = Class::ALL.iter().flat_map(|c| p.class_chars(*c)).collect();
        assert_eq!(alphabet.len(), 90);
        let index: HashMap<char, usize> =
            alphabet.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut counts = vec![0u64; alphabet.len()];
        let policy = Policy::Chars(p);
        for _ in 0..10_000 {
            for c in generate(&policy).expose().chars() {
                counts[index[&c]] += 1;
            }
        }
        assert!(fits(&counts, &vec![1.0 / 90.0; 90]));
    }

    /// Exact number of strings of length `len` over classes of `sizes` in
    /// which every class whose flag is set appears (inclusion–exclusion in
    /// integers).
    fn exact_count(sizes: &[(u128, bool)], len: u32) -> u128 {
        let total: u128 = sizes.iter().map(|(n, _)| n).sum();
        let required: Vec<u128> = sizes.iter().filter(|(_, r)| *r).map(|(n, _)| *n).collect();
        let mut plus = 0u128;
        let mut minus = 0u128;
        for mask in 0u32..(1 << required.len()) {
            let excluded: u128 = (0..required.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| required[i])
                .sum();
            let term = (total - excluded).pow(len);
            if mask.count_ones() % 2 == 0 {
                plus += term;
            } else {
                minus += term;
            }
        }
        plus - minus
    }

    /// Probabilities of "k characters of class `target`", k = 0..=len, for a
    /// string drawn uniformly among those where every class appears.
    fn class_count_distribution(sizes: &[u128], target: usize, len: u32) -> Vec<f64> {
        let all: Vec<(u128, bool)> = sizes.iter().map(|n| (*n, true)).collect();
        let valid = exact_count(&all, len) as f64;
        let rest: Vec<(u128, bool)> = sizes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != target)
            .map(|(_, n)| (*n, true))
            .collect();
        (0..=len)
            .map(|k| {
                if k == 0 {
                    return 0.0;
                }
                let choose = binomial(len, k) as f64;
                let with_k =
                    (sizes[target] as f64).powi(k as i32) * exact_count(&rest, len - k) as f64;
                choose * with_k / valid
            })
            .collect()
    }

    fn binomial(n: u32, k: u32) -> u128 {
        (0..k).fold(1u128, |acc, i| acc * (n - i) as u128 / (i + 1) as u128)
    }

    /// Uppercase-letter counts of `samples` passwords, as chi-square cells
    /// k = 1..=5 (8 characters, 4 required classes: at most 5 of one).
    fn upper_counts(samples: usize, mut gen: impl FnMut() -> String) -> Vec<u64> {
        let mut counts = vec![0u64; 5];
        for _ in 0..samples {
            let k = gen().chars().filter(char::is_ascii_uppercase).count();
            counts[k - 1] += 1;
        }
        counts
    }

    #[test]
    fn each_class_rule_is_uniform_over_valid_strings() {
        // 8 characters over 26+26+10+28, every class at least once. The
        // number of uppercase letters in a uniform valid string has a known
        // distribution; a generator that seeds one character of each class
        // and shuffles gives too many 1s, and this test must tell.
        let policy = Policy::Chars(chars_policy("chars:len=8;classes=luds"));
        let expected = class_count_distribution(&[26, 26, 10, 28], 1, 8);
        assert!(expected[0] == 0.0 && expected[6..].iter().all(|p| *p == 0.0));
        let cells = &expected[1..6];
        assert!((cells.iter().sum::<f64>() - 1.0).abs() < 1e-12);

        let mut rng = StdRng::from_entropy();
        let good = upper_counts(20_000, || {
            generate_with(&policy, &mut rng).expose().to_owned()
        });
        assert!(fits(&good, cells), "{good:?} vs {cells:?}");

        let Policy::Chars(p) = &policy else {
            unreachable!()
        };
        let seeded = upper_counts(20_000, || seed_then_shuffle(p, &mut rng));
        assert!(!fits(&seeded, cells), "{seeded:?} passed");
    }

    /// The common but biased way to meet the class rule: one character of
    /// each class, the rest from the whole alphabet, then a shuffle.
    fn seed_then_shuffle(p: &CharPolicy, rng: &mut StdRng) -> String {
        let alphabet: Vec<char> = Class::ALL.iter().flat_map(|c| p.class_chars(*c)).collect();
        let mut out: Vec<char> = p
            .required()
            .iter()
            .map(|c| {
                let set = p.class_chars(*c);
                set[uniform_index(rng, set.len())]
            })
            .collect();
        while out.len() < p.length() {
            out.push(alphabet[uniform_index(rng, alphabet.len())]);
        }
        for i in (1..out.len()).rev() {
            out.swap(i, uniform_index(rng, i + 1));
        }
        out.into_iter().collect()
    }

    // ---------- word choice ----------

    #[test]
    fn word_choice_is_uniform() {
        let policy: Policy = "words:n=10;sep=\\s".parse().unwrap();
        let index: HashMap<&str, usize> = eff_large()
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, i))
            .collect();
        let mut counts = vec![0u64; EFF_LARGE_LEN];
        let mut rng = StdRng::from_entropy();
        for _ in 0..(50 * EFF_LARGE_LEN / 10) {
            for w in generate_with(&policy, &mut rng).expose().split(' ') {
                counts[index[w]] += 1;
            }
        }
        assert!(fits(
            &counts,
            &vec![1.0 / EFF_LARGE_LEN as f64; EFF_LARGE_LEN]
        ));
    }

    #[test]
    fn passphrases_have_the_asked_shape() {
        let p: Policy = "words:n=6;sep=.;cap".parse().unwrap();
        let s = generate(&p);
        let words: Vec<&str> = s.expose().split('.').collect();
        assert_eq!(words.len(), 6);
        for w in words {
            assert!(w.starts_with(|c: char| c.is_ascii_uppercase()), "{w}");
            assert!(eff_large().contains(&w.to_ascii_lowercase().as_str()));
        }
        let empty: Policy = "words:n=3;sep=".parse().unwrap();
        let s = generate(&empty);
        assert!(s
            .expose()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-'));
    }

    #[test]
    fn generated_values_differ_and_are_redacted() {
        let p = Policy::default();
        let a = generate(&p);
        let b = generate(&p);
        assert_ne!(a, b);
        assert_eq!(a.expose().chars().count(), DEFAULT_LENGTH);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    // ---------- entropy ----------

    #[test]
    fn entropy_of_simple_policies() {
        let bits = |s: &str| entropy_bits(&s.parse().unwrap());
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(bits("chars:len=10;classes=d"), 10.0 * 10f64.log2()));
        assert!(close(
            bits("chars:len=16;classes=lu;optional-classes"),
            16.0 * 52f64.log2()
        ));
        assert!(close(bits("words:n=6;sep=-"), 6.0 * 7776f64.log2()));
        assert!((bits("words:n=6;sep=-") - 77.549).abs() < 1e-3);
        // No similar: 10 - 2 digits ('0', '1').
        assert!(close(
            bits("chars:len=10;classes=d;no-similar"),
            10.0 * 8f64.log2()
        ));
        // Default: 20 of 90 with each class, a little under 20·log2(90).
        let d = entropy_bits(&Policy::default());
        assert!(
            d < 20.0 * 90f64.log2() && d > 20.0 * 90f64.log2() - 0.5,
            "{d}"
        );
    }

    #[test]
    fn entropy_matches_exact_counts() {
        for s in [
            "chars:len=4;classes=luds",
            "chars:len=5;classes=luds;symbols=!",
            "chars:len=6;classes=lds;no-similar",
            "chars:len=8;classes=luds",
            "chars:len=8;classes=ud;symbols=#",
        ] {
            let p = chars_policy(s);
            let required = p.required();
            let sizes: Vec<(u128, bool)> = Class::ALL
                .iter()
                .map(|c| (p.class_chars(*c).len() as u128, required.contains(c)))
                .filter(|(n, _)| *n > 0)
                .collect();
            let exact = (exact_count(&sizes, p.length() as u32) as f64).log2();
            let got = entropy_bits(&Policy::Chars(p));
            assert!((got - exact).abs() < 1e-9, "{s}: {got} vs {exact}");
        }
    }

    #[test]
    fn inclusion_exclusion_matches_brute_force() {
        // Tiny classes, every string enumerated.
        for (sizes, len) in [
            (vec![(2, true), (1, true), (1, true)], 4usize),
            (vec![(2, true), (2, false), (1, true)], 5),
            (vec![(3, true), (1, true)], 6),
            (vec![(1, true), (1, true), (1, true), (1, true)], 4),
        ] {
            let total: usize = sizes.iter().map(|(n, _)| n).sum();
            let class_of: Vec<usize> = sizes
                .iter()
                .enumerate()
                .flat_map(|(i, (n, _))| std::iter::repeat_n(i, *n))
                .collect();
            let mut count = 0u64;
            for code in 0..total.pow(len as u32) {
                let mut seen = vec![false; sizes.len()];
                let mut x = code;
                for _ in 0..len {
                    seen[class_of[x % total]] = true;
                    x /= total;
                }
                if sizes.iter().zip(&seen).all(|((_, r), s)| !r || *s) {
                    count += 1;
                }
            }
            let got = log2_count(&sizes, len);
            assert!(
                (got - (count as f64).log2()).abs() < 1e-9,
                "{sizes:?} {len}: {got} vs {count}"
            );
        }
    }

    // ---------- properties ----------

    fn char_options() -> impl Strategy<Value = CharPolicy> {
        let pool: Vec<char> = "!#$%&*+-=?@^_~;\\|€§".chars().collect();
        (
            MIN_LENGTH..=64usize,
            1u8..16,
            proptest::option::of(proptest::sample::subsequence(pool, 1..6)),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_filter_map(
                "invalid policy",
                |(length, bits, symbols, no_similar, require)| {
                    let classes = Classes {
                        lower: bits & 1 != 0,
                        upper: bits & 2 != 0,
                        digits: bits & 4 != 0,
                        symbols: bits & 8 != 0,
                    };
                    CharPolicy::new(CharOptions {
                        length,
                        classes,
                        symbols: symbols.map(|s| s.into_iter().collect()),
                        no_similar,
                        require_each: require,
                    })
                    .ok()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn character_passwords_obey_their_policy(p in char_options()) {
            let policy = Policy::Chars(p.clone());
            let s = generate(&policy);
            let chars: Vec<char> = s.expose().chars().collect();
            prop_assert_eq!(chars.len(), p.length());
            let o = p.options();
            for c in &chars {
                let class = Class::ALL.iter().find(|k| p.class_chars(**k).contains(c));
                prop_assert!(class.is_some(), "{:?} is in no enabled class", c);
                prop_assert!(!(o.no_similar && SIMILAR.contains(*c)), "look-alike {:?}", c);
                if !c.is_ascii_alphanumeric() {
                    prop_assert!(o.classes.symbols && p.symbol_set().contains(*c));
                }
            }
            for class in p.required() {
                let set = p.class_chars(class);
                prop_assert!(chars.iter().any(|c| set.contains(c)), "{:?} missing", class);
            }
            let back: Policy = policy.to_string().parse().unwrap();
            prop_assert_eq!(back, policy);
        }

        #[test]
        fn passphrases_obey_their_policy(
            n in MIN_WORDS..=MAX_WORDS,
            sep in proptest::sample::select(vec![" ", ".", "_", "+", "::", "~~", "9", ";", "\\"]),
            cap in any::<bool>(),
        ) {
            let policy = Policy::Words(WordPolicy::new(WordOptions {
                words: n,
                separator: sep.to_owned(),
                capitalize: cap,
            }).unwrap());
            let s = generate(&policy);
            let words: Vec<&str> = s.expose().split(sep).collect();
            prop_assert_eq!(words.len(), n);
            for w in words {
                prop_assert!(eff_large().contains(&w.to_ascii_lowercase().as_str()), "{}", w);
                prop_assert_eq!(w.starts_with(|c: char| c.is_ascii_uppercase()), cap);
            }
            let back: Policy = policy.to_string().parse().unwrap();
            prop_assert_eq!(back, policy);
        }
    }
}
