//! When to try a failed delivery again: exponential backoff with jitter, as a pure function.

use std::time::Duration;

/// The retry schedule of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `failures + 1`, given that `failures` deliveries failed so far
    /// (at least 1), and `jitter` in `[0, 1)`.
    ///
    /// The nominal delay doubles from `base` and is capped at `max`; the delay returned lies in
    /// `[nominal / 2, nominal]` ("equal jitter"), so retries of many entries spread out but
    /// never come sooner than half the schedule. A `retry_after` from the target raises the
    /// delay to at least that.
    pub fn delay(&self, failures: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        let nominal = self.base.saturating_mul(2u32.saturating_pow(exp)).min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        let half = nominal / 2;
        let spread = half.mul_f64(jitter);
        let delay = half + spread;
        match retry_after {
            Some(wait) => delay.max(wait),
            None => delay,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn delays_double_and_stop_at_the_maximum() {
        let full: Vec<u64> = (1..=8).map(|n| b().delay(n, 1.0, None).as_secs()).collect();
        assert_eq!(full, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b().delay(1000, 1.0, None), Duration::from_secs(60));
    }

    #[test]
    fn jitter_keeps_the_delay_between_half_and_the_whole_schedule() {
        assert_eq!(b().delay(3, 0.0, None), Duration::from_secs(2));
        let mid = b().delay(3, 0.5, None);
        assert!(mid > Duration::from_secs(2) && mid < Duration::from_secs(4), "{mid:?}");
    }

    #[test]
    fn retry_after_raises_the_delay_but_never_lowers_it() {
        assert_eq!(
            b().delay(1, 1.0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(b().delay(7, 1.0, Some(Duration::from_secs(1))), Duration::from_secs(60));
    }
}
