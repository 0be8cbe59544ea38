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
