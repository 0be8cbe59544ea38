//! The middleware in front of the API and the webhooks: rate limits, authentication, body
//! limits, scopes and the audit log.
//!
//! For `/api/v1/…` ([`guard_api`]), in this order:
//! 1. the client address's rate limit (429 with `Retry-After`);
//! 2. the bearer token (401 when missing or refused, 503 when it cannot be checked);
//! 3. the token's rate limit (429);
//! 4. the body: at most `server.body_limit_bytes` (413), JSON nested at most
//!    [`json_limits::MAX_DEPTH`] deep and strings at most [`json_limits::MAX_API_STRING_BYTES`]
//!    long (400);
//! 5. the scope the endpoint needs ([`policy::requirement`]) on the request's targets
//!    ([`target::resolve`]): 403 naming the missing scope;
//! 6. the handler, inside the caller's [`Grant`].
//!
//! Each request is then written to the audit log with its outcome and status, refused or not.
//! Webhooks ([`guard_webhook`]) get the address's rate limit and the audit entry; their
//! credentials, body size and nesting are checked by their handlers (`deployer_triggers::webhook`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use deployer_auth::{Decision, RateKey, RateLimitSettings, RateLimiter, RetryAfter};
use deployer_store::{AuditEntry, AuditOutcome};

use super::submit::{Grant, forbidden};
use super::{AuditLog, AuthError, Authenticator, json_limits, policy, target};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::transport::ClientAddr;

/// What the middleware needs: the authenticator, the rate limiter and the audit log.
pub struct Guard {
    authenticator: Arc<dyn Authenticator>,
    limiter: Arc<RateLimiter>,
    audit: AuditLog,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard checking tokens with `authenticator`, limiting rates with `rate_limits` and
    /// recording to `audit`.
    pub fn new(authenticator: Arc<dyn Authenticator>, rate_limits: RateLimitSettings, audit: AuditLog) -> Self {
        Self {
            authenticator,
            limiter: Arc::new(RateLimiter::new(rate_limits)),
            audit,
        }
    }

    /// The same guard recording to `audit`.
    #[must_use]
    pub fn with_audit(&self, audit: AuditLog) -> Self {
        Self {
            authenticator: self.authenticator.clone(),
            limiter: self.limiter.clone(),
            audit,
        }
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Forgets the rate-limit buckets that are full again (call it now and then).
    pub fn sweep(&self) {
        self.limiter.sweep(Instant::now());
    }
}

/// The request's facts the audit entry needs.
struct Facts {
    identity: String,
    action: &'static str,
    target: Option<String>,
    client: Option<std::net::IpAddr>,
}

impl Facts {
    fn record(&self, guard: &Guard, app: &AppState, outcome: AuditOutcome, status: StatusCode, detail: Option<String>) {
        let mut entry =
            AuditEntry::new(app.clock.now(), self.identity.clone(), self.action, outcome).with_status(status.as_u16());
        if let Some(t) = &self.target {
            entry = entry.with_target(t.clone());
        }
        if let Some(d) = detail {
            entry = entry.with_detail(d);
        }
        if let Some(ip) = self.client {
            entry = entry.with_client_ip(ip);
        }
        guard.audit.record(entry);
    }

    /// Records a refusal and answers it.
    fn refuse(&self, guard: &Guard, app: &AppState, error: ApiError, detail: impl Into<String>) -> Response {
        self.record(guard, app, AuditOutcome::Denied, error.status(), Some(detail.into()));
        error.into_response()
    }
}

fn too_many(retry: RetryAfter) -> ApiError {
    ApiError::client(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; retry in {} s", retry.seconds()),
    )
    .with_retry_after(Duration::from_secs(retry.seconds()))
    .with_hint("slow down: see `[auth.rate_limits]` for the limits per token and per address")
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn outcome_of(status: StatusCode) -> AuditOutcome {
    match status.as_u16() {
        s if s < 400 => AuditOutcome::Allowed,
        401 | 403 | 429 => AuditOutcome::Denied,
        _ => AuditOutcome::Failed,
    }
}

async fn read_body(body: Body, limit: usize, max_string: usize) -> Result<Bytes, (ApiError, &'static str)> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large",
            )
            .with_hint(format!("send at most {limit} bytes")),
            "body_too_large",
        )
    })?;
    json_limits::check(&bytes, json_limits::MAX_DEPTH, max_string).map_err(|e| {
        (
            ApiError::bad_request(e.kind(), e.to_string()).with_hint("send the flat JSON object the API documents"),
            e.kind(),
        )
    })?;
    Ok(bytes)
}

async fn path_params(parts: &mut Parts) -> HashMap<String, String> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        Err(_) => HashMap::new(),
    }
}

fn client_of(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(ClientAddr(addr))| addr.ip())
}

/// The middleware of the `/api/v1/…` routes (see the module docs).
pub async fn guard_api(State((guard, app)): State<(Arc<Guard>, AppState)>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let need = policy::requirement(&parts.method, &template);
    let mut facts = Facts {
        identity: "anonymous".to_owned(),
        action: need.action.as_str(),
        target: None,
        client: client_of(&parts),
    };
    if let Some(ip) = facts.client
        && let Err(retry) = guard.limiter.check(&RateKey::ip(ip), Instant::now())
    {
        return facts.refuse(&guard, &app, too_many(retry), "rate_limited: address");
    }
    let Some(token) = bearer(&parts) else {
        let e = ApiError::unauthorized("missing_token", "this endpoint needs a bearer token", false).with_hint(
            "send `Authorization: Bearer <token>`; an administrator issues tokens with `k8s-app-deployer token create`",
        );
        return facts.refuse(&guard, &app, e, "missing_token");
    };
    let caller = match guard.authenticator.authenticate(token).await {
        Ok(caller) => caller,
        Err(AuthError::InvalidToken { reason, token_id }) => {
            let e = ApiError::unauthorized("invalid_token", "the bearer token is not valid", true).with_hint(
                "the token may be mistyped, revoked or expired; `k8s-app-deployer token list` shows the tokens",
            );
            let detail = match token_id {
                Some(id) => format!("{reason}: {id}"),
                None => reason.to_owned(),
            };
            return facts.refuse(&guard, &app, e, detail);
        }
        Err(AuthError::Unavailable { internal }) => {
            let e = ApiError::unavailable(
                "unavailable",
                "service unavailable",
                Some(internal),
                Duration::from_secs(5),
            );
            return facts.refuse(&guard, &app, e, "token_check_unavailable");
        }
    };
    facts.identity = caller.identity.clone();
    tracing::Span::current().record("caller", caller.identity.as_str());
    if let Err(retry) = guard.limiter.check(&caller.rate_key, Instant::now()) {
        return facts.refuse(&guard, &app, too_many(retry), "rate_limited: token");
    }
    let bytes = match read_body(body, app.settings.body_limit_bytes, json_limits::MAX_API_STRING_BYTES).await {
        Ok(b) => b,
        Err((e, detail)) => return facts.refuse(&guard, &app, e, detail),
    };
    let params = path_params(&mut parts).await;
    let resolved = match target::resolve(&app, need.target, &params, &parts.uri, &bytes).await {
        Ok(r) => r,
        Err(e) => {
            facts.record(
                &guard,
                &app,
                AuditOutcome::Failed,
                e.status(),
                Some(e.code().to_owned()),
            );
            return e.into_response();
        }
    };
    facts.target = resolved.audit_text();
    if let Decision::Deny { needed } = target::decide(&app, &caller.scopes, need.action, &resolved) {
        return facts.refuse(&guard, &app, forbidden(&needed), format!("missing_scope: {needed}"));
    }
    parts.extensions.insert(caller.principal.clone());
    parts.extensions.insert(guard.audit.clone());
    let grant = Grant {
        identity: caller.identity.clone(),
        scopes: caller.scopes.clone(),
        client_ip: facts.client,
        audit: guard.audit.clone(),
    };
    let response = grant
        .scope(next.run(Request::from_parts(parts, Body::from(bytes))))
        .await;
    let status = response.status();
    facts.record(&guard, &app, outcome_of(status), status, None);
    response
}

/// A hook name fit for the audit log, or `None`.
fn hook_name(text: &str) -> Option<&str> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then_some(text)
}

/// The middleware of the webhook routes: the address's rate limit and the audit entry (`webhook:<provider>/<hook>`; never the secret some providers put in the URL).
pub async fn guard_webhook(
    State((guard, app)): State<(Arc<Guard>, AppState)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let provider = template.split('/').nth(2).unwrap_or("unknown").to_owned();
    let params = path_params(&mut parts).await;
    let identity = match params.get("hook").and_then(|h| hook_name(h)) {
        Some(hook) => format!("webhook:{provider}/{hook}"),
        None => format!("webhook:{provider}"),
    };
    let facts = Facts {
        identity,
        action: "webhook",
        target: None,
        client: client_of(&parts),
    };
    if let Some(ip) = facts.client
        && let Err(retry) = guard.limiter.check(&RateKey::ip(ip), Instant::now())
    {
        return facts.refuse(&guard, &app, too_many(retry), "rate_limited: address");
    }
    // The webhook parsers limit the body's size and nesting themselves.
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    let outcome = outcome_of(status);
    let detail = (outcome == AuditOutcome::Denied).then(|| "webhook_rejected".to_owned());
    facts.record(&guard, &app, outcome, status, detail);
    response
}
