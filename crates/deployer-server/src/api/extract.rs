//! Reading JSON bodies and query strings with error answers in the API's shape.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Parses a JSON body, answering 413 for a body over the limit and 400 (with the field path)
/// for malformed JSON, unknown fields and wrong types.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large",
            )
            .with_hint("send at most the configured `server.body_limit_bytes` (1 MiB by default)")
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.to_string().starts_with("unknown field") {
            "unknown_field"
        } else {
            "invalid_body"
        };
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        ApiError::bad_request(code, format!("invalid JSON body{at}: {inner}"))
            .with_hint("see the request schema in `GET /api/openapi.json`")
    })
}

/// Unwraps a query string, answering 400 for unknown parameters and wrong types.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request("invalid_query", format!("invalid query string: {}", e.body_text())))
}
