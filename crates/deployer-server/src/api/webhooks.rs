//! `POST /webhooks/{provider}/…`: registry push webhooks.
//!
//! These routes are not behind bearer-token authentication: each provider's own credential
//! (a token in the URL, an `Authorization` value, an HMAC signature) is checked by
//! `deployer_triggers::webhook`, with the hooks of the configuration in force. Refusals are
//! 4xx answers in the usual error shape, and nothing is deployed. An accepted delivery is
//! answered as soon as its deployments are queued, with what was done and why the rest was not.

use std::sync::PoisonError;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use deployer_store::{TriggerId, TriggerOutcome};
use deployer_triggers::Provider;
use deployer_triggers::webhook::{
    Delivery, Headers, Hooks, MAX_BODY_BYTES, WebhookError, distribution, dockerhub, generic, github, harbor, quay,
};
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use super::state::AppState;
use crate::triggers::callback::Acknowledgement;
use crate::triggers::delivery::handle_delivery;
use crate::triggers::dispatch::{TriggerContext, record_without_plan};

/// `sha256:<hex>` of a payload.
pub fn payload_digest(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in digest.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the payload is larger than the {MAX_BODY_BYTES}-byte limit"),
            )
            .with_hint("webhook payloads of registries are a few kilobytes; check what the sender posts")
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

fn headers_of(map: &HeaderMap) -> Headers {
    Headers::new(map.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))))
}

/// The answer to a refused delivery.
fn refusal(provider: Provider, e: &WebhookError) -> ApiError {
    let mut message = e.to_string();
    if let Some(cause) = std::error::Error::source(e) {
        message = format!("{message}: {cause}");
    }
    let (status, hint) = match e {
        WebhookError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, None),
        WebhookError::RepositoryNotAllowed { .. } => (
            StatusCode::FORBIDDEN,
            Some("add the repository to the hook's `repositories` in `[[triggers.hooks]]`".to_owned()),
        ),
        WebhookError::NoHookConfigured { .. } => (
            StatusCode::UNAUTHORIZED,
            Some(format!(
                "configure a `[[triggers.hooks]]` entry with `provider = \"{provider}\"`"
            )),
        ),
        WebhookError::TimestampTooOld | WebhookError::TimestampInFuture | WebhookError::Replayed => (
            StatusCode::UNAUTHORIZED,
            Some("sign every delivery afresh with the current time".to_owned()),
        ),
        e if e.is_authentication() => (
            StatusCode::UNAUTHORIZED,
            Some("check the webhook's URL and secret against the hook in `[[triggers.hooks]]`".to_owned()),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            Some(format!(
                "the `{provider}` webhook's documented payload is expected; see `docs/triggers.md`"
            )),
        ),
    };
    let error = ApiError::client(status, e.kind(), message);
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

/// The hooks of `provider` named `name`, for the routes that name their hook.
fn named(hooks: &Hooks, provider: Provider, name: &str) -> Result<Hooks, ApiError> {
    let chosen: Vec<_> = hooks.of(provider).filter(|h| h.name() == name).cloned().collect();
    if chosen.is_empty() {
        let shown: String = name.chars().take(64).flat_map(char::escape_default).collect();
        return Err(ApiError::client(
            StatusCode::UNAUTHORIZED,
            "unknown_hook",
            format!("no `{provider}` hook is named `{shown}`"),
        )
        .with_hint(format!(
            "the URL ends with the `name` of a `[[triggers.hooks]]` entry whose provider is `{provider}`"
        )));
    }
    Ok(Hooks::new(chosen))
}

/// Authenticates and parses with `receive`, then plans and carries out the delivery.
async fn accept(
    state: &AppState,
    provider: Provider,
    hook: Option<&str>,
    body: Result<Bytes, BytesRejection>,
    receive: impl FnOnce(&Hooks, &[u8]) -> Result<Delivery, WebhookError>,
) -> Result<Response, ApiError> {
    let config = state.triggers.current();
    let body = body_of(body)?;
    let chosen;
    let hooks: &Hooks = match hook {
        Some(name) => {
            chosen = named(&config.hooks, provider, name)?;
            &chosen
        }
        None => &config.hooks,
    };
    let digest = payload_digest(&body);
    let delivery = match receive(hooks, &body) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(message = "Webhook refused.", provider = %provider, code = e.kind(), error = %e);
            // Only deliveries that authenticated are recorded: an unauthenticated sender must
            // not be able to write to the store.
            let authenticated = !e.is_authentication() && !matches!(e, WebhookError::PayloadTooLarge { .. });
            if authenticated {
                let ctx = TriggerContext {
                    id: TriggerId::generate(state.clock.now()),
                    source: provider.as_str().to_owned(),
                    payload_digest: digest,
                    identity: hook.map_or_else(|| format!("{provider} hook"), str::to_owned),
                    requested_by: String::new(),
                    release_id: None,
                    idempotency_key: None,
                    force: false,
                };
                record_without_plan(
                    state,
                    &ctx,
                    TriggerOutcome::Rejected,
                    refusal(provider, &e).message().to_owned(),
                )
                .await;
            }
            return Err(refusal(provider, &e));
        }
    };
    let answer = handle_delivery(state, &config, provider, &delivery, &digest).await?;
    if let Some(url) = delivery.callback_url.clone() {
        let callbacks = state.callbacks.clone();
        let ack = Acknowledgement {
            state: "success",
            description: answer.describe(),
            context: "k8s-app-deployer",
        };
        tokio::spawn(async move {
            if let Err(reason) = callbacks.acknowledge(&url, &ack).await {
                tracing::debug!(message = "Docker Hub callback not acknowledged.", reason);
            }
        });
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// `POST /webhooks/dockerhub/{hook_token}`.
pub async fn dockerhub(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    accept(&state, Provider::Dockerhub, None, body, |hooks, body| {
        dockerhub::receive(hooks, &token, body)
    })
    .await
}

/// `POST /webhooks/quay/{hook_token}`.
pub async fn quay(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    accept(&state, Provider::Quay, None, body, |hooks, body| {
        quay::receive(hooks, &token, body)
    })
    .await
}

/// `POST /webhooks/distribution/{hook}`.
pub async fn distribution(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let headers = headers_of(&headers);
    accept(&state, Provider::Distribution, Some(&hook), body, |hooks, body| {
        distribution::receive(hooks, &headers, body)
    })
    .await
}

/// `POST /webhooks/harbor/{hook}`.
pub async fn harbor(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let headers = headers_of(&headers);
    accept(&state, Provider::Harbor, Some(&hook), body, |hooks, body| {
        harbor::receive(hooks, &headers, body)
    })
    .await
}

/// `POST /webhooks/github/{hook}`.
pub async fn github(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let headers = headers_of(&headers);
    accept(&state, Provider::Github, Some(&hook), body, |hooks, body| {
        github::receive(hooks, &headers, body)
    })
    .await
}

/// `POST /webhooks/generic/{hook}`.
pub async fn generic(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let headers = headers_of(&headers);
    let now = state.clock.now();
    let replay = state.replay.clone();
    accept(&state, Provider::Generic, Some(&hook), body, |hooks, body| {
        let mut cache = replay.lock().unwrap_or_else(PoisonError::into_inner);
        generic::receive(hooks, &headers, body, now, &mut cache)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_digest_is_the_sha256_of_the_body() {
        assert_eq!(
            payload_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
