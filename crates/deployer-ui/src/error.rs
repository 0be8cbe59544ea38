//! Error answers of the UI's own endpoints, in the API's shape:
//! `{"error": {"code", "message", "hint"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a UI endpoint, or the session layer, refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UiError {
    /// The request carries no open session.
    #[error("not signed in, or the session has ended")]
    NotSignedIn,
    /// A state-changing request with a session lacks the session's CSRF token.
    #[error("the request lacks the session's CSRF token")]
    CsrfRejected,
    /// A sign-in or sign-out request came from another site.
    #[error("the request comes from another origin")]
    ForeignOrigin,
    /// The API refused the token at sign-in.
    #[error("the API token is not valid")]
    TokenRefused,
    /// The sign-in form held no usable token.
    #[error("the API token is empty or malformed")]
    TokenMalformed,
    /// The API asks the caller to slow down.
    #[error("too many attempts; try again later")]
    RateLimited,
    /// The API could not check the token now.
    #[error("the token cannot be checked right now")]
    Unavailable,
    /// The session layer is not installed in front of the UI routes (a wiring bug).
    #[error("the UI session layer is not installed")]
    LayerMissing,
}

impl UiError {
    /// A stable label for metrics and the error body's `code`.
    pub fn kind(&self) -> &'static str {
        match self {
            UiError::NotSignedIn => "no_session",
            UiError::CsrfRejected => "invalid_csrf_token",
            UiError::ForeignOrigin => "cross_origin_request",
            UiError::TokenRefused => "invalid_token",
            UiError::TokenMalformed => "malformed_token",
            UiError::RateLimited => "rate_limited",
            UiError::Unavailable => "unavailable",
            UiError::LayerMissing => "internal",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::NotSignedIn | UiError::TokenRefused => StatusCode::UNAUTHORIZED,
            UiError::CsrfRejected | UiError::ForeignOrigin => StatusCode::FORBIDDEN,
            UiError::TokenMalformed => StatusCode::UNPROCESSABLE_ENTITY,
            UiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            UiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            UiError::LayerMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            UiError::NotSignedIn => "sign in with an API token at `/`",
            UiError::CsrfRejected => "send the `csrf_token` of `GET /ui/session` in the `X-CSRF-Token` header",
            UiError::ForeignOrigin => "sign in from the deployer's own pages",
            UiError::TokenRefused | UiError::TokenMalformed => {
                "paste a token of `[[auth.tokens]]` (the demo prints one when it starts)"
            }
            UiError::RateLimited => "wait a minute before trying again",
            UiError::Unavailable => "try again in a moment",
            UiError::LayerMissing => "the operator should check the service's logs",
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if matches!(self, UiError::LayerMissing) {
            tracing::error!(message = "A UI request arrived without the session layer.", error = %self);
            let body = json!({"error": {"code": "internal", "message": "internal error"}});
            return (self.status(), axum::Json(body)).into_response();
        }
        let body = json!({"error": {"code": self.kind(), "message": self.to_string(), "hint": self.hint()}});
        (self.status(), axum::Json(body)).into_response()
    }
}
