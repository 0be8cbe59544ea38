//! Response builders: JSON bodies, plain text and `Status` errors.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

use crate::store::ApiStatus;

/// A JSON response with the given status code.
pub(crate) fn json(code: u16, body: &Value) -> Response<Body> {
    json_with_type(code, body, "application/json")
}

/// A JSON response with an explicit content type (aggregated discovery).
pub(crate) fn json_with_type(code: u16, body: &Value, content_type: &'static str) -> Response<Body> {
    let mut text = body.to_string();
    text.push('\n');
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A `text/plain` response.
pub(crate) fn text(code: u16, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A `Status` error response.
pub(crate) fn status(error: &ApiStatus) -> Response<Body> {
    let mut response = json(error.code, &error.to_json());
    if let Some(after) = error.details.get("retryAfterSeconds").and_then(Value::as_u64)
        && let Ok(v) = HeaderValue::from_str(&after.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Adds one `Warning: 299 - "…"` header per warning.
pub(crate) fn with_warnings(mut response: Response<Body>, warnings: &[String]) -> Response<Body> {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}
