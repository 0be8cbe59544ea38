//! `GET /api/v1/triggers` and `GET /api/v1/triggers/{id}`: every trigger received, what it
//! matched and what it became.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use deployer_core::model::DeploymentId;
use deployer_store::{TriggerId, TriggerPage, TriggerRecord};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::query;
use super::list::LIMITS;
use super::state::AppState;

/// The query string of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerQuery {
    /// At most this many (1 to 200, default 50).
    pub limit: Option<usize>,
    /// Continue after this id (the `next` of the previous page).
    pub before: Option<String>,
}

/// One received trigger.
#[derive(Debug, Serialize)]
pub struct TriggerView {
    /// Its id.
    pub id: TriggerId,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Where from: the webhook provider, `ci` or `api`.
    pub source: String,
    /// `sha256:<hex>` of the payload.
    pub payload_digest: String,
    /// Who sent it: the hook's or the token's name.
    pub identity: String,
    /// The rules that applied.
    pub matched_rules: Vec<String>,
    /// The deployments it created.
    pub deployment_ids: Vec<DeploymentId>,
    /// `accepted`, `ignored`, `duplicate`, `rejected` or `failed`.
    pub outcome: &'static str,
    /// Why nothing (or not everything) deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key duplicates are recognised by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

impl From<TriggerRecord> for TriggerView {
    fn from(t: TriggerRecord) -> Self {
        Self {
            id: t.id,
            at: t.at,
            source: t.source,
            payload_digest: t.payload_digest,
            identity: t.identity,
            matched_rules: t.matched_rules,
            deployment_ids: t.deployment_ids,
            outcome: t.outcome.as_str(),
            reason: t.reason,
            dedup_key: t.dedup_key,
        }
    }
}

/// One page of triggers.
#[derive(Debug, Serialize)]
pub struct TriggerList {
    /// Newest first.
    pub items: Vec<TriggerView>,
    /// The `before` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<TriggerId>,
}

fn trigger_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(40).flat_map(char::escape_default).collect();
    ApiError::client(
        StatusCode::NOT_FOUND,
        "trigger_not_found",
        format!("trigger `{shown}` does not exist"),
    )
    .with_hint("list triggers with `GET /api/v1/triggers`")
}

/// Lists triggers, newest first.
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<TriggerQuery>, QueryRejection>,
) -> Result<Json<TriggerList>, ApiError> {
    let q = query(q)?;
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
        .map(str::parse::<TriggerId>)
        .transpose()
        .map_err(|e| {
            ApiError::unprocessable("invalid_cursor", e.to_string())
                .with_hint("pass the `next` value of the previous page")
        })?;
    let mut items = state
        .trigger_log
        .list_triggers(&TriggerPage {
            limit: limit + 1,
            before,
        })
        .await?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| t.id)
    } else {
        None
    };
    Ok(Json(TriggerList {
        items: items.into_iter().map(TriggerView::from).collect(),
        next,
    }))
}

/// Returns one trigger, or 404.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<TriggerView>, ApiError> {
    let parsed = id.parse::<TriggerId>().map_err(|_| trigger_not_found(&id))?;
    state
        .trigger_log
        .get_trigger(parsed)
        .await?
        .map(|t| Json(TriggerView::from(t)))
        .ok_or_else(|| trigger_not_found(&id))
}
