//! Signed HTTP webhooks: each event is POSTed as a structured-mode CloudEvent.
//!
//! # Request
//! - `POST <url>` with the CloudEvent JSON as body and
//!   `Content-Type: application/cloudevents+json; charset=utf-8`;
//! - `X-Deployer-Event-Id`: the CloudEvent `id` (`<deployment id>-<seq>`), the same on every
//!   re-delivery, so receivers can drop duplicates;
//! - `X-Deployer-Event-Type`: the CloudEvent `type`;
//! - `X-Deployer-Delivery-Attempt`: 1 on the first delivery, then 2, 3, …;
//! - `X-Deployer-Signature: t=<unix seconds>,v1=<hex>` when a secret is configured, where
//!   `<hex>` is the lowercase hex HMAC-SHA256, keyed with the secret, of `<t>.<body>` (the
//!   decimal timestamp, a `.`, and the exact body bytes). Receivers recompute it, compare in
//!   constant time and refuse timestamps older than a few minutes ([`verify_signature`](crate::webhook::verify_signature)).
//!
//! # Responses
//! 2xx is delivered. 408, 425, 429 and 5xx are retried (honouring `Retry-After`), as are
//! timeouts and connection failures. Every other status, including 3xx (redirects are not
//! followed), is permanent: the event goes dead.

mod config;
mod deliver;
mod encode;

pub use config::{WebhookConfig, WebhookSettings};
pub use deliver::WebhookSink;
pub use encode::{
    ATTEMPT_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, SignatureError, WebhookRequest,
    build_request, sign, signature_header, verify_signature,
};
