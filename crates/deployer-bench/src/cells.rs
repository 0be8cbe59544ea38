//! Formatting figures into table cells.

use crate::stats::{Percentiles, fmt_ms};

/// A percentile of an optional set, in ms, or `–`.
pub fn pct(p: Option<&Percentiles>, pick: fn(&Percentiles) -> f64) -> String {
    p.map_or_else(|| "–".to_owned(), |p| fmt_ms(pick(p)))
}

/// `p50 / p95 / p99` in ms, or `–`.
pub fn triple(p: Option<&Percentiles>) -> String {
    p.map_or_else(
        || "–".to_owned(),
        |p| format!("{} / {} / {}", fmt_ms(p.p50), fmt_ms(p.p95), fmt_ms(p.p99)),
    )
}

/// Seconds with one decimal from optional milliseconds, or `–`.
pub fn secs(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_owned(), |ms| format!("{:.1}", ms / 1000.0))
}

/// A number with one decimal.
pub fn one(x: f64) -> String {
    format!("{x:.1}")
}

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// Whether `mib` MiB is within a target of `mb` megabytes (10⁶ bytes: 60 MB is 57.2 MiB).
pub fn within_mb(mib: f64, mb: f64) -> bool {
    mib * MIB <= mb * 1e6
}

/// `mib` MiB as `"57.0 MiB (59.8 MB)"`, for a target given in megabytes.
pub fn mib_and_mb(mib: f64) -> String {
    format!("{mib:.1} MiB ({:.1} MB)", mib * MIB / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_megabyte_target_is_checked_in_bytes_not_in_mib() {
        assert!(within_mb(57.2, 60.0));
        assert!(!within_mb(57.3, 60.0));
        assert!(!within_mb(19.2, 20.0));
        assert!(within_mb(19.0, 20.0));
        assert_eq!(mib_and_mb(57.0), "57.0 MiB (59.8 MB)");
    }
}
