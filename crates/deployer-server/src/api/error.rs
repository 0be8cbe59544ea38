//! Error answers: `{"error": {"code", "message", "hint"}}` with the right status.
//!
//! The status and the `code` are part of the API contract (see `openapi/openapi.json`). A 5xx
//! answer carries only the canonical reason; the internal detail is logged here, where the
//! answer is built, inside the request's span, and nowhere else.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deployer_core::error::DeployError;
use serde::Serialize;

/// An error on its way to the caller (boxed: it travels through every handler's `Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(Box<Repr>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Repr {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
    internal: Option<String>,
    retry_after: Option<Duration>,
    www_authenticate: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

impl ApiError {
    /// A 4xx error the caller can act on.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Repr {
            status,
            code,
            message: message.into(),
            hint: None,
            internal: None,
            retry_after: None,
            www_authenticate: None,
        }))
    }

    /// A 400 for a body or query that cannot be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 422 for a well-formed request whose values break a rule.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// A 404 for a deployment that does not exist (or an id that cannot be one).
    pub fn deployment_not_found(id: &str) -> Self {
        let shown: String = id.chars().take(40).flat_map(char::escape_default).collect();
        Self::client(
            StatusCode::NOT_FOUND,
            "deployment_not_found",
            format!("deployment `{shown}` does not exist"),
        )
        .with_hint("list deployments with `GET /api/v1/deployments`")
    }

    /// A 500 whose detail goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::client(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error");
        e.0.internal = Some(detail.into());
        e
    }

    /// A 503 whose detail goes to the log only.
    pub fn unavailable(code: &'static str, message: &str, detail: Option<String>, retry_after: Duration) -> Self {
        let mut e = Self::client(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.0.internal = detail;
        e.0.retry_after = Some(retry_after);
        e
    }

    /// A 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>, invalid_token: bool) -> Self {
        let mut e = Self::client(StatusCode::UNAUTHORIZED, code, message);
        e.0.www_authenticate = Some(if invalid_token {
            "Bearer realm=\"k8s-app-deployer\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"k8s-app-deployer\""
        });
        e.0.hint = Some("send `Authorization: Bearer <token>` with a token from `[[auth.tokens]]`".to_owned());
        e
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Asks the caller to retry after a while (`Retry-After`).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The message the caller sees.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let code = e.code();
        match e {
            DeployError::NotFound { message, hint, .. } => {
                let mut e = ApiError::client(StatusCode::NOT_FOUND, code, message);
                e.0.hint = hint;
                e
            }
            DeployError::InvalidRequest { message, hint, .. } => {
                let mut e = ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                e.0.hint = hint;
                e
            }
            DeployError::Forbidden { message, .. } => ApiError::client(StatusCode::FORBIDDEN, code, message),
            DeployError::Conflict { message, .. } => ApiError::client(StatusCode::CONFLICT, code, message),
            DeployError::Unavailable { internal } => ApiError::unavailable(
                "unavailable",
                "service unavailable",
                Some(internal),
                Duration::from_secs(5),
            ),
            DeployError::Internal { internal } => ApiError::internal(internal),
        }
    }
}

impl From<deployer_core::ports::StoreError> for ApiError {
    fn from(e: deployer_core::ports::StoreError) -> Self {
        DeployError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        if this.status.is_server_error() {
            tracing::error!(
                message = "Request failed.",
                code = this.code,
                status = this.status.as_u16(),
                error = this.internal.as_deref().unwrap_or("(no detail)"),
            );
        }
        let body = Body {
            error: Detail {
                code: this.code,
                message: &this.message,
                hint: this.hint.as_deref(),
            },
        };
        let mut response = (this.status, axum::Json(body)).into_response();
        if let Some(after) = this.retry_after {
            let secs = after.as_secs().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let Some(challenge) = this.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_detail_out_of_the_message() {
        let e = ApiError::from(DeployError::Internal {
            internal: "db password wrong at 10.0.0.1".to_owned(),
        });
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message(), "internal error");
        assert_eq!(e.code(), "internal");
    }

    #[test]
    fn domain_errors_map_to_their_statuses() {
        let cases = [
            (
                DeployError::not_found("cluster_not_found", "x", None),
                StatusCode::NOT_FOUND,
            ),
            (
                DeployError::invalid("invalid_tag", "x", None),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                DeployError::Forbidden {
                    code: "pinned",
                    message: "x".to_owned(),
                },
                StatusCode::FORBIDDEN,
            ),
            (
                DeployError::Conflict {
                    code: "conflict",
                    message: "x".to_owned(),
                },
                StatusCode::CONFLICT,
            ),
            (
                DeployError::Unavailable {
                    internal: "x".to_owned(),
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status(), status);
        }
    }
}
