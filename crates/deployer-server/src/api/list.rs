//! `GET /api/v1/deployments`: the history, newest first, a page at a time.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use deployer_core::model::{AppFile, ClusterName, DeploymentId, Region, Status};
use deployer_core::ports::{DeploymentFilter, PageRequest};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::query;
use super::record::RecordView;
use super::state::AppState;

/// The default and largest page sizes.
pub const LIMITS: (usize, usize) = (50, 200);

/// The query string of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this region.
    pub region: Option<String>,
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only this file.
    pub file: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<usize>,
    /// Continue after this id (the `next` of the previous page).
    pub before: Option<String>,
}

/// One page.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The deployments, newest first (with `commit_url` when commits are linked).
    pub items: Vec<RecordView>,
    /// The `before` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<DeploymentId>,
}

fn invalid(code: &'static str, e: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(code, e.to_string())
}

/// Turns the query into a filter and a page request.
///
/// # Errors
/// A 422 naming the parameter that is wrong.
pub fn filter_of(q: ListQuery) -> Result<(DeploymentFilter, usize, Option<DeploymentId>), ApiError> {
    let filter = DeploymentFilter {
        region: q
            .region
            .map(Region::new)
            .transpose()
            .map_err(|e| invalid("invalid_region", e))?
            .map(|r| r.to_string()),
        cluster: q
            .cluster
            .map(ClusterName::new)
            .transpose()
            .map_err(|e| invalid("invalid_cluster", e))?
            .map(|c| c.to_string()),
        file: q
            .file
            .map(AppFile::new)
            .transpose()
            .map_err(|e| invalid("invalid_file", e))?
            .map(|f| f.to_string()),
        status: q
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()
            .map_err(|e| invalid("invalid_status", e))?,
        release_id: None,
    };
    let limit = q.limit.unwrap_or(LIMITS.0);
    if limit == 0 || limit > LIMITS.1 {
        return Err(ApiError::unprocessable(
            "invalid_limit",
            format!("`limit` must be between 1 and {}", LIMITS.1),
        ));
    }
    let before = q
        .before
        .as_deref()
        .map(str::parse::<DeploymentId>)
        .transpose()
        .map_err(|e| invalid("invalid_cursor", e).with_hint("pass the `next` value of the previous page"))?;
    Ok((filter, limit, before))
}

/// Lists deployments.
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let (filter, limit, before) = filter_of(query(q)?)?;
    let mut items = state
        .store
        .list_deployments(
            &filter,
            &PageRequest {
                limit: limit + 1,
                before,
            },
        )
        .await?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| r.id)
    } else {
        None
    };
    let items = items.into_iter().map(|r| RecordView::of(&state, r)).collect();
    Ok(Json(Page { items, next }))
}
