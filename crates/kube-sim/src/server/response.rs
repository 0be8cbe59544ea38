//! Response builders: JSON bodies, plain text and `Status` errors.

use std::sync::Arc;

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

/// A 200 JSON list response: the fields of `head` (`kind`, `apiVersion`, `metadata`) followed
/// by `"items"`, written straight from the shared objects, byte for byte what serialising the
/// whole list as one `Value` gives.
pub(crate) fn json_list(head: &Value, items: &[Arc<Value>]) -> Response<Body> {
    let head = head.to_string();
    // `head` is a JSON object: reopen it to append the items.
    let Some(open_head) = head.strip_suffix('}') else {
        return status(&list_failed());
    };
    let mut text: Vec<u8> = Vec::with_capacity(head.len() + 16 + items.len() * ITEM_SIZE_HINT);
    text.extend_from_slice(open_head.as_bytes());
    if open_head.len() > 1 {
        text.push(b',');
    }
    text.extend_from_slice(b"\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        if serde_json::to_writer(&mut text, item.as_ref()).is_err() {
            return status(&list_failed());
        }
    }
    text.extend_from_slice(b"]}\n");
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn list_failed() -> ApiStatus {
    ApiStatus::new(500, "InternalError", "the list could not be serialised")
}

/// The expected serialised size of one listed object, to size the list buffer once.
const ITEM_SIZE_HINT: usize = 2048;

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

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;

    async fn body_of(response: Response<Body>) -> Vec<u8> {
        match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_list_written_from_shared_items_is_the_serialised_list() {
        let items: Vec<Arc<Value>> = (0..3)
            .map(|i| {
                Arc::new(json!({"metadata": {"name": format!("d-{i}"), "labels": {"x": "\"q\""}}, "spec": {"n": i}}))
            })
            .collect();
        let metadata = json!({"resourceVersion": "42", "continue": "abc"});
        for items in [&items[..], &[][..]] {
            let head = json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": metadata});
            let whole = json!({
                "kind": "DeploymentList",
                "apiVersion": "apps/v1",
                "metadata": metadata,
                "items": items.iter().map(|o| (**o).clone()).collect::<Vec<_>>(),
            });
            let written = json_list(&head, items);
            assert_eq!(written.status(), StatusCode::OK);
            assert_eq!(body_of(written).await, body_of(json(200, &whole)).await);
        }
    }
}
