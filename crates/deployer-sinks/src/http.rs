//! Pieces shared by the HTTP sinks: reading `Retry-After`, classifying statuses and
//! transport errors.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::delivery::DeliveryError;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("k8s-app-deployer/", env!("CARGO_PKG_VERSION"));

/// Parses a `Retry-After` value: delta-seconds or an HTTP date, relative to `now`. A date in
/// the past gives zero; anything else gives `None`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

/// The `Retry-After` of a response, if it has a readable one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()))
}

/// Whether a non-2xx status is worth retrying: 408, 425, 429 and 5xx are; other statuses
/// (4xx, and 3xx since redirects are not followed) are not.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || (500..=599).contains(&status)
}

/// A failed response as a delivery error; `body` is shortened.
pub fn status_error(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> DeliveryError {
    let message = format!("HTTP {status}: {}", shorten(body, 200));
    if status_is_retryable(status.as_u16()) {
        DeliveryError::retryable("http_status", message).with_retry_after(retry_after(headers))
    } else {
        DeliveryError::permanent("http_status", message)
    }
}

/// A transport error (no response) as a delivery error. Every transport error is retryable
/// except a request that could not be built. The URL is left out: webhook URLs can hold
/// secrets.
pub fn transport_error(err: &reqwest::Error) -> DeliveryError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_builder() {
        return DeliveryError::permanent("request", "could not build the request");
    } else {
        "failed"
    };
    let detail = std::error::Error::source(err)
        .map(ToString::to_string)
        .unwrap_or_default();
    let kind = if err.is_timeout() { "timeout" } else { "transport" };
    DeliveryError::retryable(
        kind,
        format!("the request {what}: {}", shorten(&strip_urls(&detail), 200)),
    )
}

/// Cuts text to `max` characters, marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// Replaces anything that looks like a URL with `<url>`.
fn strip_urls(s: &str) -> String {
    s.split(' ')
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An HTTP client without redirects (a webhook that moved must be reconfigured, and a
/// redirect would carry the signature elsewhere), with the given timeout.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let Some(now) = DateTime::from_timestamp(1_445_412_480, 0) else {
            panic!("valid time")
        };
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_timeouts_rate_limits_and_server_errors_are_retried() {
        for s in [408, 425, 429, 500, 502, 503, 599] {
            assert!(status_is_retryable(s), "{s}");
        }
        for s in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!status_is_retryable(s), "{s}");
        }
    }
}
