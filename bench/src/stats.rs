//! Samples of one measurement and their summary: median, 5th and 95th
//! percentiles, quartiles, extremes; and how durations, sizes and ratios
//! are printed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timings of one measurement, in seconds.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    values: Vec<f64>,
}

impl Samples {
    /// No samples yet.
    pub fn new() -> Self {
        Samples::default()
    }

    /// Adds one timing.
    pub fn push(&mut self, d: Duration) {
        self.values.push(d.as_secs_f64());
    }

    /// Adds one timing given in seconds (for differences of timings).
    pub fn push_secs(&mut self, s: f64) {
        self.values.push(s);
    }

    /// The summary; `None` without samples.
    pub fn summary(&self) -> Option<Summary> {
        if self.values.is_empty() {
            return None;
        }
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        Some(Summary {
            n: v.len(),
            median: percentile(&v, 50.0),
            p5: percentile(&v, 5.0),
            p95: percentile(&v, 95.0),
            q1: percentile(&v, 25.0),
            q3: percentile(&v, 75.0),
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// The `p`th percentile of sorted, non-empty `v`, interpolating linearly
/// between the two nearest ranks.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    debug_assert!(!v.is_empty(), "a percentile of nothing");
    if v.len() == 1 {
        return v[0];
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// A summary of timings, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// The median.
    pub median: f64,
    /// The 5th percentile.
    pub p5: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The first quartile.
    pub q1: f64,
    /// The third quartile.
    pub q3: f64,
    /// The fastest sample.
    pub min: f64,
    /// The slowest sample.
    pub max: f64,
}

impl Summary {
    /// `median (p5 … p95, n=N)`.
    pub fn text(&self) -> String {
        format!(
            "{} (p5 {}, p95 {}, n={})",
            secs(self.median),
            secs(self.p5),
            secs(self.p95),
            self.n
        )
    }
}

/// A duration in seconds, printed with a unit that keeps 3 significant
/// digits: `812 µs`, `1.23 ms`, `10.4 s`.
pub fn secs(s: f64) -> String {
    let (value, unit) = if s.abs() >= 1.0 {
        (s, "s")
    } else if s.abs() >= 1e-3 {
        (s * 1e3, "ms")
    } else if s.abs() >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    format!("{} {unit}", sig3(value))
}

/// A byte count in MiB (or KiB under one MiB).
pub fn bytes(b: u64) -> String {
    if b >= 1024 * 1024 {
        format!("{} MiB", sig3(b as f64 / (1024.0 * 1024.0)))
    } else {
        format!("{} KiB", sig3(b as f64 / 1024.0))
    }
}

/// A ratio: `2.41×`.
pub fn ratio(r: f64) -> String {
    format!("{}×", sig3(r))
}

/// `x` with three significant digits (no exponent).
fn sig3(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        // Below 1, as many decimals as three significant digits need
        // (0.712, 0.0123, 0.000407), at most 9.
        let decimals = (2 - a.log10().floor() as i32).clamp(3, 9) as usize;
        format!("{x:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert!((percentile(&v, 25.0) - 2.0).abs() < 1e-12);
        assert!((percentile(&[1.0, 2.0], 50.0) - 1.5).abs() < 1e-12);
        assert!((percentile(&v, 95.0) - 4.8).abs() < 1e-12);
    }

    #[test]
    fn small_ratios_keep_three_significant_digits() {
        assert_eq!(ratio(0.712), "0.712×");
        assert_eq!(ratio(0.0123), "0.0123×");
        assert_eq!(ratio(0.000407), "0.000407×");
        assert_eq!(ratio(2.41), "2.41×");
    }

    #[test]
    fn summary_sorts_its_samples() {
        let mut s = Samples::new();
        for ms in [5u64, 1, 4, 2, 3] {
            s.push(Duration::from_millis(ms));
        }
        let sum = s.summary().expect("five samples");
        assert_eq!(sum.n, 5);
        assert!((sum.median - 0.003).abs() < 1e-9);
        assert!((sum.min - 0.001).abs() < 1e-9);
        assert!((sum.max - 0.005).abs() < 1e-9);
        assert!(Samples::new().summary().is_none());
    }

    #[test]
    fn units_keep_three_digits() {
        assert_eq!(secs(0.000_812), "812 µs");
        assert_eq!(secs(0.001_234), "1.23 ms");
        assert_eq!(secs(10.42), "10.4 s");
        assert_eq!(secs(0.25), "250 ms");
        assert_eq!(bytes(30 * 1024 * 1024), "30.0 MiB");
        assert_eq!(bytes(512 * 1024), "512 KiB");
        assert_eq!(ratio(2.414), "2.41×");
    }
}
