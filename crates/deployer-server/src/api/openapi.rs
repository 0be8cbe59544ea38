//! `GET /api/openapi.json`: the API document, checked in at `openapi/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI 3.1 document of this API.
pub const DOCUMENT: &str = include_str!("../../../../openapi/openapi.json");

/// Serves [`DOCUMENT`].
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
