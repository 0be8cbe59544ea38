//! `POST /api/v1/deployments`: accept a deployment, store it, queue it.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deployer_core::model::{DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, EventKind, Status};
use deployer_core::ports::Inserted;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{json_body, query};
use super::request::{CreateDeployment, parse};
use super::state::AppState;
use super::wait::until_finished;
use crate::auth::Principal;
use crate::queue::EnqueueError;

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

fn wait_timeout(state: &AppState, text: Option<&str>) -> Result<Duration, ApiError> {
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

fn queue_error(e: EnqueueError) -> ApiError {
    let message = e.to_string();
    match e {
        EnqueueError::TargetFull { .. } => {
            ApiError::client(StatusCode::TOO_MANY_REQUESTS, "target_queue_full", message)
                .with_hint("wait for the deployments already queued for this file to finish")
                .with_retry_after(Duration::from_secs(30))
        }
        EnqueueError::Full { .. } => ApiError::unavailable("queue_full", &message, None, Duration::from_secs(10)),
        EnqueueError::ShuttingDown => ApiError::unavailable("shutting_down", &message, None, Duration::from_secs(5)),
    }
}

/// Whether a retried request asks for the same change as the deployment its key names.
fn same_change(a: &DeployRequest, b: &DeployRequest) -> bool {
    a.target == b.target
        && a.image == b.image
        && a.container == b.container
        && a.change == b.change
        && a.method == b.method
}

/// The record as JSON, with `timed_out` added.
fn waited(record: &DeploymentRecord, timed_out: bool) -> Result<Response, ApiError> {
    let mut value =
        serde_json::to_value(record).map_err(|e| ApiError::internal(format!("record not serialisable: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("timed_out".to_owned(), serde_json::Value::Bool(timed_out));
    }
    Ok((StatusCode::OK, Json(value)).into_response())
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
    state.engine.validate(&request).await?;
    let reservation = state.queue.reserve(&request.target).map_err(queue_error)?;
    let listener = state.hub.subscribe();

    let now = state.clock.now();
    let id = DeploymentId::generate(now);
    let target = request.target.clone();
    let record = DeploymentRecord::accepted(id, request, now);
    let queued = DeploymentEvent::new(EventKind::Queued, &record, now);
    let (status, record) = match state.store.insert_deployment(&record, &[queued]).await? {
        Inserted::New => {
            state.queue.push(target, id, reservation);
            state.hub.publish(id);
            tracing::info!(message = "Deployment accepted.", deployment_id = %id, target = %record.request.target, requested_by = %record.request.requested_by);
            (StatusCode::ACCEPTED, record)
        }
        Inserted::Existing(existing) => {
            if !same_change(&existing.request, &record.request) {
                return Err(ApiError::client(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    format!(
                        "idempotency key was already used by deployment `{}` for a different change",
                        existing.id
                    ),
                )
                .with_hint("use a new key for a new change"));
            }
            (StatusCode::OK, *existing)
        }
    };
    match timeout {
        Some(timeout) => {
            let (record, timed_out) = until_finished(&state, listener, record.id, timeout).await?;
            waited(&record, timed_out)
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
