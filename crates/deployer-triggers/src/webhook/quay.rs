//! Quay repository push notifications ("Webhook POST" of the `repo_push` event).
//!
//! Quay signs nothing, so, as for Docker Hub, the credential is a hook token in the URL
//! (`POST /webhooks/quay/{hook_token}`). `updated_tags` is a list of tag names in current
//! Quay and an object keyed by tag in old quay.io payloads; both are accepted, and each tag
//! becomes one event.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::{check_allowed, optional, repository, tag};
use super::{Delivery, Hooks, IgnoreReason, WebhookError};
use crate::event::{ImageEvent, Provider};

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    docker_url: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    updated_tags: Option<UpdatedTags>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UpdatedTags {
    List(Vec<String>),
    Map(BTreeMap<String, serde_json::Value>),
}

/// Authenticates and parses one Quay delivery.
///
/// # Errors
/// [`WebhookError`]: unknown token, oversized or malformed body, missing `docker_url` (and
/// `repository`), an invalid tag, or a repository the hook may not speak for.
pub fn receive(hooks: &Hooks, hook_token: &str, body: &[u8]) -> Result<Delivery, WebhookError> {
    check_size(body)?;
    let hook = hooks
        .by_token(Provider::Quay, hook_token)?
        .ok_or(WebhookError::UnknownHookToken)?;
    let payload: Payload = decode(Provider::Quay, body)?;
    let (field, name) = match (optional(payload.docker_url), optional(payload.repository)) {
        (Some(url), _) => ("docker_url", url),
        (None, Some(repo)) => ("repository", format!("quay.io/{repo}")),
        (None, None) => return Err(WebhookError::MissingField { field: "docker_url" }),
    };
    let image = repository(field, &name)?;
    let probe = ImageEvent::from_reference(&image, Provider::Quay);
    check_allowed(hook, &probe, &name)?;
    let tags: Vec<String> = match payload.updated_tags {
        Some(UpdatedTags::List(tags)) => tags,
        Some(UpdatedTags::Map(tags)) => tags.into_keys().collect(),
        None => Vec::new(),
    };
    let mut delivery = Delivery::new(hook.name());
    if tags.is_empty() {
        delivery.ignore(probe.repository, IgnoreReason::Untagged);
        return Ok(delivery);
    }
    for t in tags {
        let pushed = tag("updated_tags[]", t.trim())?;
        delivery.events.push(ImageEvent {
            tag: Some(pushed),
            ..probe.clone()
        });
    }
    Ok(delivery)
}
