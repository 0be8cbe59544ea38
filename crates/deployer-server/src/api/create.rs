//! `POST /api/v1/deployments`: accept a deployment, store it, queue it.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deployer_core::model::{DeploymentId, Status};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{json_body, query};
use super::record::waited;
use super::request::{CreateDeployment, parse};
use super::state::AppState;
use super::submit::submit;
use super::wait::until_finished;
use crate::auth::Principal;

/// The query string of the create call.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Answer only once the deployment has ended (or `timeout` passed).
    #[serde(default)]
    pub wait: bool,
    /// How long to wait (`"5m"`); the server's `wait_default` when absent.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Links of a deployment.
#[derive(Debug, Serialize)]
pub struct Links {
    /// The deployment.
    #[serde(rename = "self")]
    pub this: String,
    /// Its event stream.
    pub events: String,
}

impl Links {
    /// The links of deployment `id`.
    pub fn of(id: DeploymentId) -> Self {
        Self {
            this: format!("/api/v1/deployments/{id}"),
            events: format!("/api/v1/deployments/{id}/events"),
        }
    }
}

/// The answer to an accepted (202) or replayed (200) request.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The deployment's id.
    pub id: DeploymentId,
    /// Its status now.
    pub status: Status,
    /// Where to follow it.
    pub links: Links,
}

pub(super) fn wait_timeout(state: &AppState, text: Option<&str>) -> Result<Duration, ApiError> {
    let Some(text) = text else {
        return Ok(state.settings.wait_default);
    };
    let max = state.settings.wait_max;
    let d = humantime::parse_duration(text).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("invalid wait timeout: {e}"))
            .with_hint("write e.g. `timeout=5m`")
    })?;
    if d > max {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("the wait timeout may be at most {}", humantime::format_duration(max)),
        ));
    }
    Ok(d)
}

/// Accepts a deployment.
///
/// 202 with `{id, status, links}`; 200 with the same shape when `idempotency_key` names an
/// earlier deployment of the same change (409 when the change differs); with `?wait=true`,
/// 200 with the record once it ended, or with `"timed_out": true` and the current record
/// when the wait timed out.
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    q: Result<Query<CreateQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let body: CreateDeployment = json_body(body)?;
    let timeout = if q.wait {
        Some(wait_timeout(&state, q.timeout.as_deref())?)
    } else {
        None
    };
    let request = parse(body, &principal)?;
    super::pins::refuse_if_pinned(&state, &request).await?;
    let listener = state.hub.subscribe();
    let submitted = submit(&state, request, None).await?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let record = submitted.record;
    match timeout {
        Some(timeout) => {
            let (record, timed_out) = until_finished(&state, listener, record.id, timeout).await?;
            Ok(waited(&state, record, timed_out))
        }
        None => Ok((
            status,
            Json(Accepted {
                id: record.id,
                status: record.status,
                links: Links::of(record.id),
            }),
        )
            .into_response()),
    }
}
