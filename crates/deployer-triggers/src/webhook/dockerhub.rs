//! Docker Hub repository webhooks (`POST /webhooks/dockerhub/{hook_token}`).
//!
//! Docker Hub signs nothing and sends no custom header, so the only credential is the hook
//! token in the URL: a long random secret bound in configuration to the repositories it may
//! speak for. The token is compared in constant time, and a token used for a repository it
//! is not bound to is refused. The payload is a hint: it has no digest, so the caller should
//! resolve the tag from the registry before deploying.

use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::{check_allowed, epoch_seconds, optional, repository, required, tag};
use super::{Delivery, Hooks, WebhookError};
use crate::event::{ImageEvent, Provider};

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    callback_url: Option<String>,
    push_data: PushData,
    repository: Repository,
}

#[derive(Deserialize)]
struct PushData {
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    pushed_at: Option<serde_json::Number>,
    #[serde(default)]
    pusher: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    #[serde(default)]
    repo_name: Option<String>,
}

/// The hosts a legacy `callback_url` may point at; anything else is dropped so a payload
/// cannot make the server call an arbitrary URL.
const CALLBACK_PREFIXES: [&str; 2] = ["https://registry.hub.docker.com/", "https://hub.docker.com/"];

/// Authenticates and parses one Docker Hub delivery.
///
/// # Errors
/// [`WebhookError`]: unknown token, oversized or malformed body, missing `push_data.tag` or
/// `repository.repo_name`, or a repository the hook may not speak for.
pub fn receive(hooks: &Hooks, hook_token: &str, body: &[u8]) -> Result<Delivery, WebhookError> {
    check_size(body)?;
    let hook = hooks
        .by_token(Provider::Dockerhub, hook_token)?
        .ok_or(WebhookError::UnknownHookToken)?;
    let payload: Payload = decode(Provider::Dockerhub, body)?;
    let repo_name = required(payload.repository.repo_name, "repository.repo_name")?;
    let image = repository("repository.repo_name", &repo_name)?;
    let pushed_tag = tag("push_data.tag", &required(payload.push_data.tag, "push_data.tag")?)?;
    let mut event = ImageEvent::from_reference(&image.with_tag(pushed_tag), Provider::Dockerhub);
    if event.registry != "docker.io" {
        return Err(WebhookError::RepositoryNotAllowed { repository: repo_name });
    }
    check_allowed(hook, &event, &repo_name)?;
    event.pushed_at = epoch_seconds(payload.push_data.pushed_at.as_ref());
    event.actor = optional(payload.push_data.pusher);
    let mut delivery = Delivery::new(hook.name());
    delivery.callback_url =
        optional(payload.callback_url).filter(|url| CALLBACK_PREFIXES.iter().any(|p| url.starts_with(p)));
    delivery.events.push(event);
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::testing::{TOKEN_A, hooks};

    #[test]
    fn a_repository_name_with_a_tag_is_refused() {
        let body = br#"{"push_data":{"tag":"1"},"repository":{"repo_name":"acme/api:2"}}"#;
        let err = receive(&hooks(), TOKEN_A, body).err();
        assert_eq!(err.map(|e| e.kind()), Some("unexpected_tag_or_digest"));
    }

    #[test]
    fn a_repository_on_another_registry_is_refused() {
        let body = br#"{"push_data":{"tag":"1"},"repository":{"repo_name":"ghcr.io/acme/api"}}"#;
        let err = receive(&hooks(), TOKEN_A, body).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("repository ghcr.io/acme/api is not allowed for this hook")
        );
    }

    #[test]
    fn a_callback_url_outside_docker_hub_is_dropped() {
        let body = br#"{"callback_url":"http://169.254.169.254/latest","push_data":{"tag":"1"},"repository":{"repo_name":"acme/api"}}"#;
        let delivery = receive(&hooks(), TOKEN_A, body).ok();
        assert_eq!(delivery.map(|d| d.callback_url), Some(None));
    }
}
