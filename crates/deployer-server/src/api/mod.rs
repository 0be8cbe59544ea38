//! The HTTP API.
//!
//! [`router`] builds the whole API from [`endpoints`], the one table of routes, which the
//! OpenAPI drift test compares with `openapi/openapi.json`. Every error answer has the shape
//! `{"error": {"code", "message", "hint"}}` ([`error::ApiError`]).
//!
//! Three kinds of callers: anyone (health, the API document), holders of a bearer token
//! (`/api/v1/…`), and registries posting webhooks (`/webhooks/…`), which authenticate with
//! their provider's own credential and are never asked for a bearer token.

mod clusters;
mod create;
/// Error answers and the mapping from domain errors.
pub mod error;
mod events;
/// Events that could not be delivered, and reviving them.
pub mod events_admin;
mod extract;
mod get;
mod health;
mod limits;
mod list;
/// The embedded OpenAPI document.
pub mod openapi;
/// Pins: targets automatic triggers leave alone.
pub mod pins;
/// Deployment records as answered, with `commit_url`.
pub mod record;
/// The release request body and its validation.
pub mod release_request;
mod releases;
/// The deploy request body and its validation.
pub mod request;
/// Rollbacks of a deployment or a target.
mod rollback;
mod state;
/// The one path of every deployment into the service.
pub mod submit;
mod triggers;
mod wait;
/// Registry webhooks.
pub mod webhooks;
/// Who the caller is and what its token may do.
pub mod whoami;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, on};
use tokio::sync::Semaphore;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use state::AppState;

use crate::auth::{Guard, guard_api, guard_webhook};
use error::ApiError;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health checks and the API document).
    Public,
    /// Callers with a valid bearer token.
    Token,
    /// Registries and other webhook senders, authenticated by their provider's credential
    /// (never by a bearer token); load shedding applies.
    Webhook,
}

/// One route of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters as in OpenAPI.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

type Handler = fn() -> MethodRouter<AppState>;

fn table() -> Vec<(Method, &'static str, Access, Handler)> {
    vec![
        (Method::GET, "/healthz", Access::Public, || {
            on(MethodFilter::GET, health::healthz)
        }),
        (Method::GET, "/readyz", Access::Public, || {
            on(MethodFilter::GET, health::readyz)
        }),
        (Method::GET, "/api/openapi.json", Access::Public, || {
            on(MethodFilter::GET, openapi::openapi)
        }),
        (Method::GET, "/metrics", Access::Public, || {
            on(MethodFilter::GET, crate::metrics::endpoint::metrics)
        }),
        (Method::POST, "/api/v1/deployments", Access::Token, || {
            on(MethodFilter::POST, create::create)
        }),
        (Method::GET, "/api/v1/deployments", Access::Token, || {
            on(MethodFilter::GET, list::list)
        }),
        (Method::GET, "/api/v1/deployments/{id}", Access::Token, || {
            on(MethodFilter::GET, get::get)
        }),
        (Method::GET, "/api/v1/deployments/{id}/events", Access::Token, || {
            on(MethodFilter::GET, events::events)
        }),
        (Method::GET, "/api/v1/clusters", Access::Token, || {
            on(MethodFilter::GET, clusters::clusters)
        }),
        (Method::GET, "/api/v1/whoami", Access::Token, || {
            on(MethodFilter::GET, whoami::whoami)
        }),
        (Method::POST, "/api/v1/deployments/{id}/rollback", Access::Token, || {
            on(MethodFilter::POST, rollback::undo)
        }),
        (Method::POST, "/api/v1/rollbacks", Access::Token, || {
            on(MethodFilter::POST, rollback::create)
        }),
        (Method::GET, "/api/v1/pins", Access::Token, || {
            on(MethodFilter::GET, pins::list)
        }),
        (
            Method::GET,
            "/api/v1/pins/{region}/{cluster}/{file}",
            Access::Token,
            || on(MethodFilter::GET, pins::get),
        ),
        (
            Method::PUT,
            "/api/v1/pins/{region}/{cluster}/{file}",
            Access::Token,
            || on(MethodFilter::PUT, pins::put),
        ),
        (
            Method::DELETE,
            "/api/v1/pins/{region}/{cluster}/{file}",
            Access::Token,
            || on(MethodFilter::DELETE, pins::delete),
        ),
        (Method::POST, "/api/v1/releases", Access::Token, || {
            on(MethodFilter::POST, releases::create)
        }),
        (Method::GET, "/api/v1/releases/{id}", Access::Token, || {
            on(MethodFilter::GET, releases::get)
        }),
        (Method::GET, "/api/v1/triggers", Access::Token, || {
            on(MethodFilter::GET, triggers::list)
        }),
        (Method::GET, "/api/v1/triggers/{id}", Access::Token, || {
            on(MethodFilter::GET, triggers::get)
        }),
        (Method::GET, "/api/v1/audit", Access::Token, || {
            on(MethodFilter::GET, crate::auth::audit_api::list)
        }),
        (Method::GET, "/api/v1/events", Access::Token, || {
            on(MethodFilter::GET, events_admin::list)
        }),
        (Method::POST, "/api/v1/events/{id}/retry", Access::Token, || {
            on(MethodFilter::POST, events_admin::retry)
        }),
        (Method::POST, "/api/v1/events/retry", Access::Token, || {
            on(MethodFilter::POST, events_admin::retry_all)
        }),
        (
            Method::POST,
            "/webhooks/dockerhub/{hook_token}",
            Access::Webhook,
            || webhook(on(MethodFilter::POST, webhooks::dockerhub)),
        ),
        (Method::POST, "/webhooks/quay/{hook_token}", Access::Webhook, || {
            webhook(on(MethodFilter::POST, webhooks::quay))
        }),
        (Method::POST, "/webhooks/distribution/{hook}", Access::Webhook, || {
            webhook(on(MethodFilter::POST, webhooks::distribution))
        }),
        (Method::POST, "/webhooks/harbor/{hook}", Access::Webhook, || {
            webhook(on(MethodFilter::POST, webhooks::harbor))
        }),
        (Method::POST, "/webhooks/github/{hook}", Access::Webhook, || {
            webhook(on(MethodFilter::POST, webhooks::github))
        }),
        (Method::POST, "/webhooks/generic/{hook}", Access::Webhook, || {
            webhook(on(MethodFilter::POST, webhooks::generic))
        }),
    ]
}

/// Webhook payloads get their own size limit, whatever `server.body_limit_bytes` says.
fn webhook(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.layer(DefaultBodyLimit::max(deployer_triggers::webhook::MAX_BODY_BYTES))
}

/// Every route the router serves.
pub fn endpoints() -> Vec<Endpoint> {
    table()
        .into_iter()
        .map(|(method, path, access, _)| Endpoint { method, path, access })
        .collect()
}

fn routes(access: Access) -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for (_, path, a, handler) in table() {
        if a != access {
            continue;
        }
        let route = match by_path.remove(path) {
            Some(existing) => existing.merge(handler()),
            None => handler(),
        };
        by_path.insert(path, route);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, route)| router.route(path, route))
}

async fn not_found() -> ApiError {
    ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such endpoint").with_hint("see `GET /api/openapi.json`")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

/// The whole API: public routes, token-protected routes behind the [`Guard`] (rate limits,
/// tokens, scopes, body limits, audit) and load shedding, webhook routes behind the guard's
/// webhook checks and load shedding, a request span per request, JSON 404 and 405 answers.
/// ([`crate::Server::serve`] adds the security headers of [`crate::transport::headers`].)
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let in_flight = Arc::new(Semaphore::new(state.settings.max_in_flight.max(1)));
    let protected = routes(Access::Token)
        .route_layer(from_fn_with_state((guard.clone(), state.clone()), guard_api))
        .route_layer(from_fn_with_state(in_flight.clone(), limits::shed_load));
    let webhooks = routes(Access::Webhook)
        .route_layer(from_fn_with_state((guard, state.clone()), guard_webhook))
        .route_layer(from_fn_with_state(in_flight, limits::shed_load));
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let path = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("(unmatched)", MatchedPath::as_str);
            tracing::info_span!("request", method = %request.method(), path, caller = tracing::field::Empty)
        })
        // Failures are logged once, where the error answer is built (`ApiError`).
        .on_failure(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    routes(Access::Public)
        .merge(protected)
        .merge(webhooks)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit_bytes))
        .layer(trace)
        .with_state(state)
}
