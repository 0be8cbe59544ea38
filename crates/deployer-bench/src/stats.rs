//! Latency samples and their percentiles.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub p50: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// The arithmetic mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of `samples` (milliseconds), by the nearest-rank method; `None` when empty.
    pub fn of_millis(samples: &[f64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        Some(Percentiles {
            count: sorted.len(),
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }

    /// Percentiles of durations.
    pub fn of(samples: &[Duration]) -> Option<Percentiles> {
        let millis: Vec<f64> = samples.iter().map(|d| millis(*d)).collect();
        Self::of_millis(&millis)
    }
}

/// A duration in milliseconds, with fractions.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Formats milliseconds for a table: three significant figures or so.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// `numerator / denominator` as `"12.3×"`, or `"n/a"` when the denominator is zero.
pub fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 && numerator.is_finite() {
        format!("{:.1}×", numerator / denominator)
    } else {
        "n/a".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_nearest_rank_method() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of_millis(&samples);
        assert_eq!(p.map(|p| (p.p50, p.p95, p.p99, p.max)), Some((50.0, 95.0, 99.0, 100.0)));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let p = Percentiles::of(&[Duration::from_millis(7)]);
        assert_eq!(p.map(|p| (p.p50, p.p99, p.count)), Some((7.0, 7.0, 1)));
    }

    #[test]
    fn no_samples_give_no_percentiles() {
        assert_eq!(Percentiles::of_millis(&[]), None);
    }

    #[test]
    fn ratios_refuse_a_zero_denominator() {
        assert_eq!(ratio(10.0, 0.0), "n/a");
        assert_eq!(ratio(30.0, 1.5), "20.0×");
    }
}
