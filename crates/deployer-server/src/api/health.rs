//! `/healthz` (the process runs) and `/readyz` (it can serve: store reachable, not stopping).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use deployer_core::ports::{DeploymentFilter, PageRequest};
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;

/// How long the store gets to answer the readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Always 200 while the process runs.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the store answers and the service is not shutting down; 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::unavailable(
            "shutting_down",
            "the service is shutting down",
            None,
            Duration::from_secs(5),
        ));
    }
    let (filter, page) = (DeploymentFilter::default(), PageRequest { limit: 1, before: None });
    let probe = state.store.list_deployments(&filter, &page);
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(e)) => Err(ApiError::unavailable(
            "store_unavailable",
            "the history store is unavailable",
            Some(e.to_string()),
            Duration::from_secs(5),
        )),
        Err(_) => Err(ApiError::unavailable(
            "store_unavailable",
            "the history store is unavailable",
            Some("readiness probe timed out".to_owned()),
            Duration::from_secs(5),
        )),
    }
}
