//! Load shedding: a bounded number of requests in flight, the rest answered 503 at once.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// Answers 503 with `Retry-After` when `limit` requests are already being handled. Streams
/// count only until their headers are sent.
pub async fn shed_load(State(limit): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match limit.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::unavailable(
            "overloaded",
            "the service is handling too many requests; retry shortly",
            None,
            Duration::from_secs(1),
        )
        .into_response(),
    }
}
