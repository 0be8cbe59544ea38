//! Docker Distribution (registry v2) notification envelopes, also sent by GitLab's registry.
//!
//! The registry is configured with a static `Authorization: Bearer <token>` header for the
//! endpoint. One envelope batches unrelated events of the whole registry, so events that do
//! not deploy (pulls, deletes, layer pushes, untagged per-platform manifests, repositories
//! the hook may not speak for) are reported as ignored rather than refusing the envelope,
//! which the registry would retry forever.

use chrono::DateTime;
use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::optional;
use super::{Delivery, Headers, Hooks, IgnoreReason, WebhookError};
use crate::event::{ImageEvent, Provider};

/// Media types of manifests and indexes; pushes of anything else are blobs.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

#[derive(Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    request: Option<Request>,
    #[serde(default)]
    actor: Option<Actor>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    host: Option<String>,
}

#[derive(Deserialize)]
struct Actor {
    #[serde(default)]
    name: Option<String>,
}

/// Authenticates and parses one notification envelope.
///
/// # Errors
/// [`WebhookError`]: a missing or unknown bearer token, an oversized or malformed body.
pub fn receive(hooks: &Hooks, headers: &Headers, body: &[u8]) -> Result<Delivery, WebhookError> {
    const HEADER: &str = "Authorization";
    check_size(body)?;
    let value = headers
        .get(HEADER)
        .ok_or(WebhookError::MissingHeader { header: HEADER })?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(WebhookError::MalformedHeader {
            header: HEADER,
            reason: "expected `Bearer <token>`",
        })?;
    let hook = hooks
        .by_token(Provider::Distribution, token)?
        .ok_or(WebhookError::BadCredentials {
            provider: Provider::Distribution,
        })?;
    let envelope: Envelope = decode(Provider::Distribution, body)?;
    let mut delivery = Delivery::new(hook.name());
    for (i, event) in envelope.events.into_iter().enumerate() {
        let what = match optional(event.id.clone()) {
            Some(id) => format!("events[{i}] ({})", id.chars().take(80).collect::<String>()),
            None => format!("events[{i}]"),
        };
        match accept(event) {
            Ok(image_event) if hook.allows(&image_event.repository) => delivery.events.push(image_event),
            Ok(image_event) => delivery.ignore(
                what,
                IgnoreReason::RepositoryNotAllowed {
                    repository: image_event.repository,
                },
            ),
            Err(reason) => delivery.ignore(what, reason),
        }
    }
    Ok(delivery)
}

/// Turns one event into an image event, or says why it deploys nothing.
fn accept(event: Event) -> Result<ImageEvent, IgnoreReason> {
    let action = optional(event.action).unwrap_or_default();
    if action != "push" {
        return Err(IgnoreReason::NotAPush { action });
    }
    let target = event.target.ok_or(IgnoreReason::InvalidReference {
        reason: "the event has no `target`".into(),
    })?;
    let media_type = optional(target.media_type).unwrap_or_default();
    if !MANIFEST_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(IgnoreReason::NotAManifest { media_type });
    }
    let tag = optional(target.tag).ok_or(IgnoreReason::Untagged)?;
    let invalid = |reason: &str| IgnoreReason::InvalidReference {
        reason: reason.to_owned(),
    };
    let host = event
        .request
        .and_then(|r| optional(r.host))
        .ok_or_else(|| invalid("the event has no `request.host`"))?;
    let repository = optional(target.repository).ok_or_else(|| invalid("the event has no `target.repository`"))?;
    let mut reference = format!("{host}/{repository}:{tag}");
    if let Some(digest) = optional(target.digest) {
        reference = format!("{reference}@{digest}");
    }
    let image = deployer_core::image::ImageRef::parse(&reference).map_err(|e| invalid(&e.to_string()))?;
    if image.domain().is_none() {
        return Err(invalid("`request.host` is not a registry host"));
    }
    let mut image_event = ImageEvent::from_reference(&image, Provider::Distribution);
    image_event.pushed_at = optional(event.timestamp)
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.to_utc());
    image_event.actor = event.actor.and_then(|a| optional(a.name));
    Ok(image_event)
}
