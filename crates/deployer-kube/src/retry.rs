//! When to try a failed request again, and how long to wait first.
//!
//! Transient failures (5xx, 429, dropped connections, timeouts) are retried with a bounded
//! exponential backoff with jitter. A `Retry-After` from the server is honoured: the wait is
//! never shorter than what the server asked for, and when the server asks for more time than
//! the budget has left, the request fails at once instead of waiting in vain.

use std::time::Duration;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first failure (before jitter).
    pub initial_delay: Duration,
    /// The longest wait between two attempts (before `Retry-After`).
    pub max_delay: Duration,
    /// The total time after which no new attempt is started.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, waiting about 100 ms, 200 ms, 400 ms and 800 ms, within a minute.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The default policy with its budget set to twice the request timeout, so that one call
    /// never takes much longer than two timeouts.
    pub fn for_request_timeout(request_timeout: Duration) -> Self {
        Self {
            budget: request_timeout.saturating_mul(2),
            ..Self::default()
        }
    }

    /// How long to wait before attempt `failed + 1`, or `None` to give up.
    ///
    /// `failed` counts the attempts made so far (at least 1), `elapsed` is the time since the
    /// first attempt began, `retry_after` is what the server asked for, if anything, and
    /// `jitter` is a number in `[0, 1)` that spreads the wait over its upper half.
    pub fn next_delay(
        &self,
        failed: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if failed >= self.max_attempts {
            return None;
        }
        let exponent = failed.saturating_sub(1).min(20);
        let base = self.initial_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let jittered = base / 2 + base.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let delay = retry_after.map_or(jittered, |asked| asked.max(jittered));
        if elapsed.saturating_add(delay) > self.budget {
            return None;
        }
        Some(delay)
    }
}

/// Reads a `Retry-After` header given in seconds (the form the API server uses).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            budget: Duration::from_secs(600),
            ..RetryPolicy::default()
        };
        let waits: Vec<_> = (1..=6)
            .filter_map(|n| policy.next_delay(n, Duration::ZERO, None, 1.0))
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000]);
    }

    #[test]
    fn jitter_keeps_the_wait_within_the_upper_half() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_delay(3, Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(200))
        );
        let mid = policy.next_delay(3, Duration::ZERO, None, 0.5).unwrap_or_default();
        assert!(
            mid > Duration::from_millis(200) && mid < Duration::from_millis(400),
            "{mid:?}"
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy::default();
        assert!(policy.next_delay(4, Duration::ZERO, None, 0.0).is_some());
        assert_eq!(policy.next_delay(5, Duration::ZERO, None, 0.0), None);
    }

    #[test]
    fn retry_after_is_never_shortened() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, Some(Duration::from_secs(3)), 0.3),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_wait_beyond_the_budget_gives_up_at_once() {
        let policy = RetryPolicy::for_request_timeout(Duration::from_secs(5));
        assert_eq!(policy.budget, Duration::from_secs(10));
        assert_eq!(
            policy.next_delay(1, Duration::from_secs(2), Some(Duration::from_secs(30)), 0.0),
            None
        );
        assert_eq!(policy.next_delay(2, Duration::from_secs(10), None, 0.0), None);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
