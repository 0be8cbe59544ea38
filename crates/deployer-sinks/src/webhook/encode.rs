//! The webhook request and its signature, as pure functions.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cloudevents::{CLOUDEVENTS_JSON, CloudEvent};

/// The header carrying the CloudEvent id.
pub const EVENT_ID_HEADER: &str = "x-deployer-event-id";
/// The header carrying the CloudEvent type.
pub const EVENT_TYPE_HEADER: &str = "x-deployer-event-type";
/// The header carrying the delivery attempt (1, 2, …).
pub const ATTEMPT_HEADER: &str = "x-deployer-delivery-attempt";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-deployer-signature";

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The JSON body.
    pub body: Vec<u8>,
    /// The headers, lowercase names.
    pub headers: Vec<(&'static str, String)>,
}

/// Builds the request for `event`: body, content type, id, type, attempt and, with a
/// secret, the signature at `unix_time`.
pub fn build_request(event: &CloudEvent, attempt: u32, secret: Option<&[u8]>, unix_time: i64) -> WebhookRequest {
    let body = event.to_json();
    let mut headers = vec![
        ("content-type", CLOUDEVENTS_JSON.to_owned()),
        (EVENT_ID_HEADER, event.id.clone()),
        (EVENT_TYPE_HEADER, event.event_type.to_owned()),
        (ATTEMPT_HEADER, attempt.to_string()),
    ];
    if let Some(secret) = secret {
        headers.push((SIGNATURE_HEADER, signature_header(secret, unix_time, &body)));
    }
    WebhookRequest { body, headers }
}

/// The lowercase hex HMAC-SHA256 of `<unix_time>.<body>`.
pub fn sign(secret: &[u8], unix_time: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, unix_time, body).finalize().into_bytes())
}

/// `t=<unix_time>,v1=<signature>`.
pub fn signature_header(secret: &[u8], unix_time: i64, body: &[u8]) -> String {
    format!("t={unix_time},v1={}", sign(secret, unix_time, body))
}

fn mac(secret: &[u8], unix_time: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of any length"));
    mac.update(unix_time.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<digits>,v1=<hex>`.
    #[error("malformed signature header: expected `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("signature timestamp outside the accepted window")]
    Expired,
    /// No `v1` value matches.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// A stable label.
    pub fn kind(self) -> &'static str {
        match self {
            SignatureError::Malformed => "malformed",
            SignatureError::Expired => "expired",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

/// Checks a `X-Deployer-Signature` header against `body`: the timestamp must be within
/// `tolerance_secs` of `now_unix` and one `v1` value must match (compared in constant time).
///
/// # Errors
/// [`SignatureError`] saying what is wrong.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_unix - t).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    let ok = candidates.iter().any(|c| mac(secret, t, body).verify_slice(c).is_ok());
    if ok { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let header = signature_header(b"s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify_signature(b"s3cret", &header, b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"s3cret", &header, b"{\"a\":2}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", &header, b"{\"a\":1}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"s3cret", &header, b"{\"a\":1}", 1_700_001_000, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(b"s3cret", "v1=zz", b"", 0, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_signature_matches_a_known_vector() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(sign(b"key", 1_700_000_000, b"{}"), KNOWN);
    }

    const KNOWN: &str = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae";
}
