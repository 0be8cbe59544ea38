//! Response headers that make browsers and caches handle the API safely.
//!
//! Every answer gets `X-Content-Type-Options: nosniff` (a JSON error is never run as a script)
//! and `Referrer-Policy: no-referrer`; HTML answers also get a `Content-Security-Policy` that
//! allows nothing from elsewhere and no framing; with HTTPS, `Strict-Transport-Security` tells
//! browsers to use HTTPS only for a year.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// `Strict-Transport-Security` sent with HTTPS.
pub const HSTS: &str = "max-age=31536000";
/// `Content-Security-Policy` sent with HTML.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether answers go out over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Https(pub bool);

/// Wraps `router` so that every answer, whatever route made it, gets the headers.
pub fn apply(router: axum::Router, https: bool) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(Https(https), secure))
}

/// Adds the headers to every answer.
pub async fn secure(State(https): State<Https>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // A page that sets its own policy (the web UI) keeps it.
    if html {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(CSP));
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
    }
    if https.0 {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}
