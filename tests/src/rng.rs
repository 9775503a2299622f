//! The seeded generator of the randomised tests (crashes at random moments,
//! mutated requests): a run is replayed from its seed, which `COFFER_SEED=N`
//! sets and which is printed when such a test fails.
//!
//! [`Rng`] is xorshift64 (shifts 13, 7, 17): small, fast, and the same
//! sequence for a seed on every machine, which is all these tests need.
//! [`split`] derives independent seeds (SplitMix64), one per client thread.

use std::time::{SystemTime, UNIX_EPOCH};

/// A small xorshift generator: reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed` (a zero seed, which would give zeros
    /// for ever, is replaced by a fixed odd one).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index into a slice of `len` elements (`0` when it is empty).
    pub fn index(&mut self, len: usize) -> usize {
        // The result is below `len`, so it fits back into a usize.
        self.below(len as u64) as usize
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() & 0xff) as u8
    }
}

/// SplitMix64: the `n`-th independent seed derived from `seed` (odd, so
/// never zero).
pub fn split(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// The seed of one randomised test: `COFFER_SEED` when set, else the clock.
/// While it lives, a panic of the test prints the seed and how to replay it
/// (keep it alive for the whole test).
#[derive(Debug)]
pub struct Seed {
    value: u64,
    test: String,
}

impl Seed {
    /// The seed for `test` (a name for the replay note).
    pub fn new(test: &str) -> Seed {
        let value = std::env::var("COFFER_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    // The low 64 bits of the nanoseconds are random enough; a clock
                    // before 1970 gives a fixed seed, still printed.
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        Seed {
            value,
            test: test.to_owned(),
        }
    }

    /// The seed.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// A generator started at the seed.
    pub fn rng(&self) -> Rng {
        Rng::new(self.value)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{} failed with COFFER_SEED={}: run it again with that variable to replay it",
                self.test, self.value
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence_and_stays_in_range() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..100).map(|_| a.below(7)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(7)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 7));
        assert!(xs.iter().any(|&x| x != xs[0]), "not constant: {xs:?}");
        assert_eq!(Rng::new(5).below(0), 0);
        assert_eq!(Rng::new(5).index(0), 0);
    }

    #[test]
    fn the_first_values_are_those_of_xorshift_13_7_17() {
        // Replays of old runs depend on this exact sequence.
        let mut r = Rng::new(1);
        assert_eq!(r.next_u64(), 1_082_269_761);
        assert_eq!(r.next_u64(), 1_152_992_998_833_853_505);
        assert_ne!(
            Rng::new(0).next_u64(),
            0,
            "a zero seed does not stick at zero"
        );
    }

    #[test]
    fn split_seeds_differ_and_are_odd() {
        let seeds: std::collections::BTreeSet<u64> = (0..64).map(|n| split(7, n)).collect();
        assert_eq!(seeds.len(), 64);
        assert!(seeds.iter().all(|s| s % 2 == 1));
    }

    #[test]
    fn coffer_seed_is_honoured_when_set() {
        // Only read here: the variable is not changed from the test, which would race
        // other tests reading it.
        let seed = Seed::new("unit");
        match std::env::var("COFFER_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(n) => assert_eq!(seed.value(), n),
            None => assert_eq!(seed.value() % 2, 1, "a clock seed is odd"),
        }
        assert_eq!(seed.rng().next_u64(), Rng::new(seed.value()).next_u64());
    }
}
