//! Hybrid logical clocks: wall time in milliseconds plus a counter.
//!
//! A [`Clock`] never goes backwards and never repeats a stamp: a tick takes
//! the larger of the wall clock and the last stamp it issued or observed, and
//! bumps the counter when the wall clock has not moved past it. Every stamp a
//! device has seen is observed, so once any device has seen an edit stamped
//! by a clock that runs a year ahead, its own later edits are stamped later
//! still and win, instead of losing to the skewed device for a year.

use serde::{Deserialize, Serialize};

/// One hybrid-logical-clock stamp. Ordered by wall time, then counter.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch (the physical part).
    pub wall_ms: u64,
    /// Orders stamps that share a wall time.
    pub counter: u32,
}

impl Hlc {
    /// A stamp from its two parts.
    pub const fn new(wall_ms: u64, counter: u32) -> Self {
        Hlc { wall_ms, counter }
    }

    /// The smallest stamp strictly greater than `self`.
    pub fn successor(self) -> Hlc {
        match self.counter.checked_add(1) {
            Some(counter) => Hlc {
                wall_ms: self.wall_ms,
                counter,
            },
            None => Hlc {
                wall_ms: self.wall_ms.saturating_add(1),
                counter: 0,
            },
        }
    }
}

/// A device's clock: the last stamp it issued or observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    last: Hlc,
}

impl Clock {
    /// A clock that has seen nothing yet.
    pub fn new() -> Self {
        Clock::default()
    }

    /// A clock resumed at `last` (as persisted in a container).
    pub fn resume(last: Hlc) -> Self {
        Clock { last }
    }

    /// The last stamp issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Issues a stamp for an event now: strictly greater than every stamp
    /// issued or observed before, and at least `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        let next = if wall_ms > self.last.wall_ms {
            Hlc {
                wall_ms,
                counter: 0,
            }
        } else {
            self.last.successor()
        };
        self.last = next;
        next
    }

    /// Records a stamp seen in another device's data, so that later ticks
    /// are stamped after it.
    pub fn observe(&mut self, seen: Hlc) {
        if seen > self.last {
            self.last = seen;
        }
    }
}

/// Serde helper: a stamp as the pair `[wall_ms, counter]` (the compact
/// form used inside record plaintexts).
pub(crate) mod pair {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Hlc;

    pub fn serialize<S: Serializer>(h: &Hlc, s: S) -> Result<S::Ok, S::Error> {
        (h.wall_ms, h.counter).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hlc, D::Error> {
        let (wall_ms, counter) = <(u64, u32)>::deserialize(d)?;
        Ok(Hlc { wall_ms, counter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_strictly_increase_even_when_wall_goes_back() {
        let mut c = Clock::new();
        let a = c.tick(1000);
        let b = c.tick(1000);
        let d = c.tick(500);
        let e = c.tick(2000);
        assert!(a < b && b < d && d < e);
        assert_eq!(a, Hlc::new(1000, 0));
        assert_eq!(d, Hlc::new(1000, 2));
        assert_eq!(e, Hlc::new(2000, 0));
    }

    #[test]
    fn observing_a_future_stamp_moves_the_clock() {
        let year = 365 * 24 * 3600 * 1000;
        let mut c = Clock::new();
        c.observe(Hlc::new(1000 + year, 7));
        let t = c.tick(1000);
        assert_eq!(t, Hlc::new(1000 + year, 8));
        // Observing an older stamp changes nothing.
        c.observe(Hlc::new(5, 0));
        assert_eq!(c.last(), t);
    }

    #[test]
    fn successor_carries_over_the_counter() {
        assert_eq!(Hlc::new(1, u32::MAX).successor(), Hlc::new(2, 0));
        assert!(Hlc::new(1, 3).successor() > Hlc::new(1, 3));
    }
}
