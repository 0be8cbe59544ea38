//! `GET /api/v1/deployments/{id}`: one deployment.

use axum::Json;
use axum::extract::{Path, State};
use deployer_core::model::DeploymentId;

use super::error::ApiError;
use super::record::RecordView;
use super::state::AppState;

/// Parses a path id; an id that cannot exist is simply not found.
pub fn parse_id(text: &str) -> Result<DeploymentId, ApiError> {
    text.parse().map_err(|_| ApiError::deployment_not_found(text))
}

/// Returns the deployment's record (with `commit_url` when commits are linked), or 404.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RecordView>, ApiError> {
    let parsed = parse_id(&id)?;
    state
        .store
        .get_deployment(parsed)
        .await?
        .map(|record| Json(RecordView::of(&state, record)))
        .ok_or_else(|| ApiError::deployment_not_found(&id))
}
