//! Harbor webhooks (`PUSH_ARTIFACT`, "Default" payload format).
//!
//! Harbor sends the "Auth Header" string configured in its UI verbatim as the
//! `Authorization` header; it is compared in constant time with the hook's secret. One push
//! may list several resources (tags of the same artifact), each becoming an event.

use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::{check_allowed, digest, epoch_seconds, optional, required, tag};
use super::{Delivery, Headers, Hooks, IgnoreReason, WebhookError};
use crate::event::{ImageEvent, Provider};

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    occur_at: Option<serde_json::Number>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    event_data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    resource_url: Option<String>,
}

/// Authenticates and parses one Harbor delivery.
///
/// # Errors
/// [`WebhookError`]: a missing or wrong `Authorization` header, an oversized or malformed
/// body, an invalid `resource_url`, or a repository the hook may not speak for.
pub fn receive(hooks: &Hooks, headers: &Headers, body: &[u8]) -> Result<Delivery, WebhookError> {
    const HEADER: &str = "Authorization";
    check_size(body)?;
    let value = headers
        .get(HEADER)
        .ok_or(WebhookError::MissingHeader { header: HEADER })?;
    let hook = hooks
        .by_token(Provider::Harbor, value.trim())?
        .ok_or(WebhookError::BadCredentials {
            provider: Provider::Harbor,
        })?;
    let payload: Payload = decode(Provider::Harbor, body)?;
    let mut delivery = Delivery::new(hook.name());
    if payload.kind != "PUSH_ARTIFACT" {
        delivery.ignore(
            format!("{} event", payload.kind.chars().take(40).collect::<String>()),
            IgnoreReason::NotAPush {
                action: payload.kind.chars().take(40).collect(),
            },
        );
        return Ok(delivery);
    }
    let resources = payload.event_data.map(|d| d.resources).unwrap_or_default();
    if resources.is_empty() {
        return Err(WebhookError::MissingField {
            field: "event_data.resources",
        });
    }
    let pushed_at = epoch_seconds(payload.occur_at.as_ref());
    let actor = optional(payload.operator);
    for resource in resources {
        let url = required(resource.resource_url, "event_data.resources[].resource_url")?;
        let image = deployer_core::image::ImageRef::parse(&url).map_err(|source| WebhookError::InvalidReference {
            field: "event_data.resources[].resource_url",
            source,
        })?;
        let pushed_tag = match optional(resource.tag) {
            Some(t) => Some(tag("event_data.resources[].tag", &t)?),
            None => image.tag().cloned(),
        };
        let pushed_digest = match optional(resource.digest) {
            Some(d) => Some(digest("event_data.resources[].digest", &d)?),
            None => image.digest().cloned(),
        };
        let mut event = ImageEvent::from_reference(&image, Provider::Harbor);
        check_allowed(hook, &event, &event.repository)?;
        let Some(pushed_tag) = pushed_tag else {
            delivery.ignore(event.repository, IgnoreReason::Untagged);
            continue;
        };
        event.tag = Some(pushed_tag);
        event.digest = pushed_digest;
        event.pushed_at = pushed_at;
        event.actor.clone_from(&actor);
        delivery.events.push(event);
    }
    Ok(delivery)
}
