//! The one path every deployment takes into the service: validate, reserve a queue slot,
//! store with its `queued` event, enqueue. `POST /api/v1/deployments`, webhooks and releases
//! all go through [`submit`].

use std::time::Duration;

use axum::http::StatusCode;
use deployer_core::model::{DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, EventKind};
use deployer_core::ports::Inserted;

use super::error::ApiError;
use super::state::AppState;
use crate::queue::EnqueueError;

/// A deployment that went through [`submit`].
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The stored record (an earlier one when the idempotency key named it).
    pub record: DeploymentRecord,
    /// Whether it was created now (`false`: the idempotency key named an earlier one).
    pub created: bool,
}

/// Maps a queue refusal to its answer.
pub fn queue_error(e: EnqueueError) -> ApiError {
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

/// Validates `request`, stores it (as part of `release_id` when given) and queues it.
///
/// # Errors
/// The engine's refusal (404/422), a full queue (429/503), a store failure (503), or a 409
/// when the idempotency key names an earlier deployment of a different change.
pub async fn submit(
    state: &AppState,
    request: DeployRequest,
    release_id: Option<String>,
) -> Result<Submitted, ApiError> {
    // The API caller's scopes, for every deployment it makes (a release's included).
    crate::auth::authorize_submit(state, &request)?;
    state.engine.validate(&request).await?;
    let reservation = state.queue.reserve(&request.target).map_err(queue_error)?;
    let now = state.clock.now();
    let id = DeploymentId::generate(now);
    let target = request.target.clone();
    let mut record = DeploymentRecord::accepted(id, request, now);
    record.release_id = release_id;
    let queued = DeploymentEvent::new(EventKind::Queued, &record, now);
    match state.store.insert_deployment(&record, &[queued]).await? {
        Inserted::New => {
            tracing::info!(message = "Deployment accepted.", deployment_id = %id, target = %record.request.target, requested_by = %record.request.requested_by);
            state.queue.push(target, record.clone(), reservation);
            state.hub.publish(id);
            Ok(Submitted { record, created: true })
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
            Ok(Submitted {
                record: *existing,
                created: false,
            })
        }
    }
}
