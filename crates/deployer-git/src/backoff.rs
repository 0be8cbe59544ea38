//! Bounded exponential backoff with jitter between push attempts.

use std::time::Duration;

/// The first delay.
pub const BASE: Duration = Duration::from_millis(50);
/// The longest delay.
pub const CAP: Duration = Duration::from_secs(5);

/// The delay after failed attempt number `attempt` (1-based): `BASE * 2^(attempt-1)` capped at
/// [`CAP`], of which a random half is kept (`fraction` in `[0, 1)` picks where in that half).
pub fn backoff_delay(attempt: u32, fraction: f64) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(CAP);
    let fraction = fraction.clamp(0.0, 1.0);
    exp / 2 + exp.div_f64(2.0).mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        assert_eq!(backoff_delay(1, 0.0), Duration::from_millis(25));
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(3, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(40, 1.0), CAP);
        assert!(backoff_delay(40, 0.0) >= CAP / 2);
    }
}
