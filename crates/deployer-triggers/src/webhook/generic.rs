//! The deployer's own webhook, for registries and scripts without a format of their own.
//!
//! The body is `{"image": "<repository>", "tag": "<tag>", "digest"?: "<digest>"}`. The
//! sender signs `timestamp + "." + body` with HMAC-SHA256 and sends
//! `X-Deployer-Timestamp: <unix seconds>` and `X-Deployer-Signature: sha256=<hex>`
//! ([`sign_sha256`](super::sign_sha256) computes it). A timestamp older than five minutes or
//! more than one minute ahead is refused, and so is a signature already accepted within
//! the window.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::{check_allowed, digest, repository, tag};
use super::replay::{MAX_AGE, MAX_SKEW};
use super::signature::decode_sha256_header;
use super::{Delivery, Headers, Hooks, ReplayCache, WebhookError};
use crate::event::{ImageEvent, Provider};

/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Deployer-Timestamp";
/// The signature header (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Deployer-Signature";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    image: String,
    tag: String,
    #[serde(default)]
    digest: Option<String>,
}

/// Authenticates and parses one generic delivery, remembering its signature in `replay`.
///
/// # Errors
/// [`WebhookError`]: missing or malformed headers, a wrong signature, a timestamp outside
/// the window, a replayed signature, an oversized or malformed body, or a repository the
/// hook may not speak for.
pub fn receive(
    hooks: &Hooks,
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
    replay: &mut ReplayCache,
) -> Result<Delivery, WebhookError> {
    check_size(body)?;
    let signature = headers.get(SIGNATURE_HEADER).ok_or(WebhookError::MissingHeader {
        header: SIGNATURE_HEADER,
    })?;
    let mac = decode_sha256_header(SIGNATURE_HEADER, signature)?;
    let timestamp = headers
        .get(TIMESTAMP_HEADER)
        .ok_or(WebhookError::MissingHeader {
            header: TIMESTAMP_HEADER,
        })?
        .trim();
    let signed_at = timestamp
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or(WebhookError::MalformedHeader {
            header: TIMESTAMP_HEADER,
            reason: "expected Unix seconds",
        })?;
    let hook = hooks
        .by_hmac(Provider::Generic, &[timestamp.as_bytes(), b".", body], &mac)?
        .ok_or(WebhookError::SignatureMismatch)?;
    if signed_at < now - MAX_AGE {
        return Err(WebhookError::TimestampTooOld);
    }
    if signed_at > now + MAX_SKEW {
        return Err(WebhookError::TimestampInFuture);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&mac);
    if !replay.remember(key, signed_at, now) {
        return Err(WebhookError::Replayed);
    }
    let payload: Payload = decode(Provider::Generic, body)?;
    let image = repository("image", payload.image.trim())?;
    let mut event = ImageEvent::from_reference(&image, Provider::Generic);
    check_allowed(hook, &event, payload.image.trim())?;
    event.tag = Some(tag("tag", payload.tag.trim())?);
    if let Some(d) = payload.digest {
        event.digest = Some(digest("digest", d.trim())?);
    }
    event.pushed_at = Some(signed_at);
    let mut delivery = Delivery::new(hook.name());
    delivery.events.push(event);
    Ok(delivery)
}
