//! The middleware that requires a bearer token and records the caller in the request.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AuthError, Authenticator};
use crate::api::error::ApiError;

/// Refuses requests without a valid `Authorization: Bearer` token with a 401; otherwise
/// inserts the [`super::Principal`] into the request's extensions.
pub async fn require_bearer(State(auth): State<Arc<dyn Authenticator>>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(token) = presented.filter(|t| !t.is_empty()) else {
        return ApiError::unauthorized("missing_token", "this endpoint needs a bearer token", false).into_response();
    };
    match auth.authenticate(token).await {
        Ok(principal) => {
            tracing::Span::current().record("caller", principal.name.as_str());
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(AuthError::InvalidToken) => {
            ApiError::unauthorized("invalid_token", "the bearer token is not valid", true).into_response()
        }
        Err(AuthError::Unavailable { internal }) => ApiError::unavailable(
            "unavailable",
            "service unavailable",
            Some(internal),
            std::time::Duration::from_secs(5),
        )
        .into_response(),
    }
}
