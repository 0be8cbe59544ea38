//! Rollbacks: `POST /api/v1/deployments/{id}/rollback` (undo that deployment: restore the
//! images it replaced) and `POST /api/v1/rollbacks` (roll a target back to a deployment, a
//! tag, or, without `to`, undo its latest succeeded deployment that changed images).
//!
//! The rollback deployment is built by `deployer_core::rollback::rollback_request` and goes
//! the normal way ([`submit`]: validate, store, queue). Its target is pinned first, so that no
//! automatic trigger slips in between, and the pin is then pointed at the new deployment.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deployer_core::model::{DeployRequest, DeploymentId, Status, Target};
use deployer_core::rollback::{RollbackTo, rollback_request};
use deployer_store::Pin;
use serde::{Deserialize, Serialize};

use super::create::{CreateQuery, Links, wait_timeout};
use super::error::ApiError;
use super::extract::{json_body, query};
use super::get::parse_id;
use super::pins::{PinView, target_of};
use super::record::waited;
use super::request::MAX_REASON;
use super::state::AppState;
use super::submit::submit;
use super::wait::until_finished;
use crate::auth::Principal;
use crate::rollbacks::{pin_to, resolve};

/// The body of `POST /api/v1/rollbacks`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// The application file.
    pub file: String,
    /// A deployment id (go back to what it deployed) or a tag; absent: undo the latest
    /// succeeded deployment that changed images.
    #[serde(default)]
    pub to: Option<String>,
    /// Why (goes into the commit message and the pin).
    #[serde(default)]
    pub reason: Option<String>,
    /// How long the rollout may take (`"90s"`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Answer once the rollback has ended (as `?wait=true`).
    #[serde(default)]
    pub wait: bool,
}

/// The body of `POST /api/v1/deployments/{id}/rollback` (it may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long the rollout may take.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Answer once the rollback has ended.
    #[serde(default)]
    pub wait: bool,
}

/// The answer to an accepted rollback (202).
#[derive(Debug, Serialize)]
pub struct RollbackAccepted {
    /// The rollback deployment.
    pub id: DeploymentId,
    /// Its status now.
    pub status: Status,
    /// The deployment it undoes, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<DeploymentId>,
    /// The pin it set on the target.
    pub pin: PinView,
    /// Where to follow it.
    pub links: Links,
}

fn reason_of(reason: Option<String>) -> Result<Option<String>, ApiError> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON => Err(ApiError::unprocessable(
            "field_too_long",
            format!("`reason` is longer than {MAX_REASON} characters"),
        )),
        Some(r) if r.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn timeout_of(text: Option<String>) -> Result<Option<std::time::Duration>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let hint = "write a duration such as `90s`, `10m` or `1h 30m`, between 1s and 24h";
    let d = humantime::parse_duration(&text)
        .map_err(|e| ApiError::unprocessable("invalid_timeout", format!("invalid timeout: {e}")).with_hint(hint))?;
    let (min, max) = super::request::TIMEOUT_RANGE;
    if d < min || d > max {
        return Err(ApiError::unprocessable("invalid_timeout", "the timeout is out of range").with_hint(hint));
    }
    Ok(Some(d))
}

/// Pins, submits and re-pins one rollback, then answers (waiting when asked).
async fn roll_back(
    state: &AppState,
    request: DeployRequest,
    wait: Option<std::time::Duration>,
) -> Result<Response, ApiError> {
    let target: Target = request.target.clone();
    let reason = request.reason.clone();
    let listener = state.hub.subscribe();
    // Pin first, so that no automatic trigger is queued between the rollback and its pin.
    let earlier: Option<Pin> = state.pins.get_pin(&target).await?;
    let provisional = Pin {
        target: target.clone(),
        pinned_by: request.requested_by.clone(),
        reason: reason.clone(),
        deployment_id: None,
        pinned_at: state.clock.now(),
    };
    if earlier.is_some() {
        state.pins.unpin(&target).await?;
    }
    state.pins.pin(&provisional).await?;
    let submitted = match submit(state, request, None).await {
        Ok(s) => s,
        Err(e) => {
            // Put the pins back as they were.
            let _ = state.pins.unpin(&target).await;
            if let Some(pin) = &earlier {
                let _ = state.pins.pin(pin).await;
            }
            return Err(e);
        }
    };
    let record = submitted.record;
    let pin = pin_to(state.pins.as_ref(), &record, reason, state.clock.now()).await?;
    tracing::info!(message = "Rollback accepted; target pinned.", deployment_id = %record.id, target = %target, rollback_of = ?record.request.rollback_of);
    match wait {
        Some(timeout) => {
            let (record, timed_out) = until_finished(state, listener, record.id, timeout).await?;
            Ok(waited(state, record, timed_out))
        }
        None => Ok((
            StatusCode::ACCEPTED,
            Json(RollbackAccepted {
                id: record.id,
                status: record.status,
                rollback_of: record.request.rollback_of,
                pin: PinView::from(&pin),
                links: Links::of(record.id),
            }),
        )
            .into_response()),
    }
}

fn optional_body<T: Default + serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    match &body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        _ => json_body(body),
    }
}

fn wait_of(state: &AppState, body_wait: bool, q: &CreateQuery) -> Result<Option<std::time::Duration>, ApiError> {
    if body_wait || q.wait {
        Ok(Some(wait_timeout(state, q.timeout.as_deref())?))
    } else {
        Ok(None)
    }
}

/// `POST /api/v1/deployments/{id}/rollback`: undoes the deployment (restores the images it
/// replaced). 202 with `{id, status, rollback_of, pin, links}`; with `wait`, 200 with the
/// record once it ended.
pub async fn undo(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<CreateQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let body: UndoBody = optional_body(body)?;
    let parsed = parse_id(&id)?;
    let record = state
        .store
        .get_deployment(parsed)
        .await?
        .ok_or_else(|| ApiError::deployment_not_found(&id))?;
    if !record.status.is_terminal() {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "deployment_running",
            format!("deployment `{}` is still {}", record.id, record.status),
        )
        .with_hint("wait for it to end, then roll it back"));
    }
    let wait = wait_of(&state, body.wait, &q)?;
    let target = record.request.target.clone();
    let mut request = rollback_request(
        &target,
        &RollbackTo::Undo(Box::new(record)),
        &principal.name,
        reason_of(body.reason)?,
    )?;
    request.timeout = timeout_of(body.timeout)?;
    roll_back(&state, request, wait).await
}

/// `POST /api/v1/rollbacks`: rolls a target back to a deployment (`to` = its id), a tag
/// (`to` = the tag) or, without `to`, undoes its latest succeeded deployment that changed
/// images. Answers as [`undo`].
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    q: Result<Query<CreateQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let body: RollbackBody = json_body(body)?;
    let wait = wait_of(&state, body.wait, &q)?;
    let target = target_of(body.region, body.cluster, body.file)?;
    let (to, undone) = resolve(state.store.as_ref(), &target, body.to.as_deref().map(str::trim)).await?;
    let mut request = rollback_request(&target, &to, &principal.name, reason_of(body.reason)?)?;
    if request.rollback_of.is_none() {
        request.rollback_of = undone;
    }
    request.timeout = timeout_of(body.timeout)?;
    roll_back(&state, request, wait).await
}
