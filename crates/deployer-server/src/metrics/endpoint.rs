//! `GET /metrics`: the registry in the OpenMetrics text format.

use std::sync::Arc;

use axum::Extension;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

use crate::api::error::ApiError;

/// The media type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry the endpoint serves (an extension of the router).
#[derive(Debug, Clone)]
pub struct Served(pub Arc<Registry>);

/// Encodes the registry.
pub async fn metrics(served: Option<Extension<Served>>) -> Response {
    let Some(Extension(Served(registry))) = served else {
        return ApiError::client(
            StatusCode::NOT_FOUND,
            "metrics_disabled",
            "this server does not keep metrics",
        )
        .into_response();
    };
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => ApiError::internal(format!("encoding the metrics failed: {e}")).into_response(),
    }
}
