//! Registry webhooks: authentication and parsing into [`ImageEvent`](crate::ImageEvent)s.
//!
//! One module per provider, each exposing a `receive` function that takes the configured
//! [`Hooks`], what the request carried (URL token or [`Headers`]) and the raw body, and
//! returns a [`Delivery`] or a typed [`WebhookError`]. The order is always the same: size
//! check, authentication (constant-time), then parsing with a nesting limit, then the
//! repository allow-list of the hook that authenticated. Nothing here does I/O; the HTTP
//! layer maps errors to statuses ([`WebhookError::is_authentication`] → 401, others → 400)
//! and answers 2xx for deliveries that are ignored.
//!
//! | provider | route the server exposes | credential |
//! |---|---|---|
//! | [`dockerhub`] | `POST /webhooks/dockerhub/{hook_token}` | token in the URL |
//! | [`quay`] | `POST /webhooks/quay/{hook_token}` | token in the URL |
//! | [`distribution`] | `POST /webhooks/distribution` | `Authorization: Bearer <token>` |
//! | [`harbor`] | `POST /webhooks/harbor` | `Authorization: <auth header>` |
//! | [`github`] | `POST /webhooks/github` | `X-Hub-Signature-256` HMAC over the body |
//! | [`generic`] | `POST /webhooks/generic` | `X-Deployer-Signature` HMAC over `timestamp.body` |

mod body;
mod delivery;
mod error;
mod fields;
mod headers;
mod hooks;
mod replay;
mod signature;
#[cfg(test)]
mod testing;

/// Docker Distribution (registry v2) notification envelopes.
pub mod distribution;
/// Docker Hub repository webhooks.
pub mod dockerhub;
/// The deployer's own signed JSON webhook.
pub mod generic;
/// GitHub `package` / `registry_package` events for ghcr.io.
pub mod github;
/// Harbor `PUSH_ARTIFACT` webhooks.
pub mod harbor;
/// Quay repository push notifications.
pub mod quay;

pub use body::{MAX_BODY_BYTES, MAX_JSON_DEPTH};
pub use delivery::{Delivery, IgnoreReason, Ignored};
pub use error::WebhookError;
pub use headers::Headers;
pub use hooks::{Hook, HookSettings, Hooks, MIN_SECRET_LEN, SecretSource};
pub use replay::{DEFAULT_CAPACITY, MAX_AGE, MAX_SKEW, ReplayCache};
pub use signature::sign_sha256;
