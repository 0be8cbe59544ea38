//! The HTTP API.
//!
//! [`router`] builds the whole API from [`endpoints`], the one table of routes, which the
//! OpenAPI drift test compares with `openapi/openapi.json`. Every error answer has the shape
//! `{"error": {"code", "message", "hint"}}` ([`error::ApiError`]).

mod clusters;
mod create;
/// Error answers and the mapping from domain errors.
pub mod error;
mod events;
mod extract;
mod get;
mod health;
mod limits;
mod list;
/// The embedded OpenAPI document.
pub mod openapi;
/// The deploy request body and its validation.
pub mod request;
mod state;
mod wait;

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

use crate::auth::{Authenticator, require_bearer};
use error::ApiError;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health checks and the API document).
    Public,
    /// Callers with a valid bearer token.
    Token,
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
    ]
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

/// The whole API: public routes, token-protected routes behind `auth` and load shedding,
/// a request span per request, JSON 404 and 405 answers.
pub fn router(state: AppState, auth: Arc<dyn Authenticator>) -> Router {
    let in_flight = Arc::new(Semaphore::new(state.settings.max_in_flight.max(1)));
    let protected = routes(Access::Token)
        .route_layer(from_fn_with_state(auth, require_bearer))
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit_bytes))
        .layer(trace)
        .with_state(state)
}
