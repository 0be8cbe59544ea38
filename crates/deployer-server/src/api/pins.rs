//! Pins: `GET /api/v1/pins`, and `GET`, `PUT` (pin) and `DELETE` (unpin) of
//! `/api/v1/pins/{region}/{cluster}/{file}`.
//!
//! A pinned target is left alone by automatic triggers (registry pushes, CI releases, and
//! `POST /api/v1/deployments` with `source.kind` `ci` or `registry`, which get a 409
//! `target_pinned`); people can still deploy and roll it back. Rollbacks pin their target;
//! `PUT` pins one by hand; `DELETE` lifts the pin.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use deployer_core::model::{AppFile, ClusterName, DeployRequest, DeploymentId, Region, Target};
use deployer_store::Pin;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::json_body;
use super::request::MAX_REASON;
use super::state::AppState;
use crate::auth::Principal;
use crate::rollbacks::{pinned_message, unpin_hint};

/// A pin, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinView {
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// The application file.
    pub file: String,
    /// Who pinned it.
    pub pinned_by: String,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The deployment the target is held at (the rollback that pinned it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<DeploymentId>,
    /// When.
    pub pinned_at: DateTime<Utc>,
}

impl From<&Pin> for PinView {
    fn from(pin: &Pin) -> Self {
        Self {
            region: pin.target.region.to_string(),
            cluster: pin.target.cluster.to_string(),
            file: pin.target.file.to_string(),
            pinned_by: pin.pinned_by.clone(),
            reason: pin.reason.clone(),
            deployment_id: pin.deployment_id,
            pinned_at: pin.pinned_at,
        }
    }
}

/// Every pin.
#[derive(Debug, Serialize)]
pub struct PinList {
    /// The pins, by region, cluster and file.
    pub pins: Vec<PinView>,
}

/// The body of `PUT /api/v1/pins/{region}/{cluster}/{file}` (it may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    /// Why the target is pinned.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Parses the target of a pin path.
///
/// # Errors
/// A 422 naming the part that is not a valid name.
pub fn target_of(region: String, cluster: String, file: String) -> Result<Target, ApiError> {
    let field = |code: &'static str, e: deployer_core::model::InvalidName| ApiError::unprocessable(code, e.to_string());
    Ok(Target {
        region: Region::new(region).map_err(|e| field("invalid_region", e))?,
        cluster: ClusterName::new(cluster).map_err(|e| field("invalid_cluster", e))?,
        file: AppFile::new(file).map_err(|e| field("invalid_file", e))?,
    })
}

/// Refuses an automatic request (`source.kind` `ci` or `registry`) to a pinned target with a
/// 409 `target_pinned` naming the pin.
///
/// # Errors
/// The 409, or a 503 when the pins cannot be read.
pub async fn refuse_if_pinned(state: &AppState, request: &DeployRequest) -> Result<(), ApiError> {
    if !request.source.kind.is_automatic() {
        return Ok(());
    }
    match state.pins.get_pin(&request.target).await? {
        Some(pin) => Err(
            ApiError::client(StatusCode::CONFLICT, "target_pinned", pinned_message(&pin))
                .with_hint(unpin_hint(&request.target)),
        ),
        None => Ok(()),
    }
}

/// `GET /api/v1/pins`.
pub async fn list(State(state): State<AppState>) -> Result<Json<PinList>, ApiError> {
    let pins = state.pins.list_pins().await?;
    Ok(Json(PinList {
        pins: pins.iter().map(PinView::from).collect(),
    }))
}

fn not_pinned(target: &Target) -> ApiError {
    ApiError::client(StatusCode::NOT_FOUND, "not_pinned", format!("`{target}` is not pinned"))
        .with_hint("list the pins with `GET /api/v1/pins`")
}

/// `GET /api/v1/pins/{region}/{cluster}/{file}`: the pin, or 404 `not_pinned`.
pub async fn get(
    State(state): State<AppState>,
    Path((region, cluster, file)): Path<(String, String, String)>,
) -> Result<Json<PinView>, ApiError> {
    let target = target_of(region, cluster, file)?;
    match state.pins.get_pin(&target).await? {
        Some(pin) => Ok(Json(PinView::from(&pin))),
        None => Err(not_pinned(&target)),
    }
}

/// `PUT /api/v1/pins/{region}/{cluster}/{file}`: pins the target by hand (replacing an
/// earlier pin). 200 with the pin; 404 when the file is not in the configuration repository.
pub async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((region, cluster, file)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PinView>, ApiError> {
    let target = target_of(region, cluster, file)?;
    let body: PinBody = match &body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => PinBody::default(),
        _ => json_body(body)?,
    };
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(ApiError::unprocessable(
            "field_too_long",
            format!("`reason` is longer than {MAX_REASON} characters"),
        ));
    }
    let mut exists = false;
    for path in target.candidate_paths() {
        if state.repo.read_file(&path, false).await.ok().flatten().is_some() {
            exists = true;
            break;
        }
    }
    if !exists {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("file `{}.yaml` does not exist in `{}`", target.file, target.apps_dir()),
        )
        .with_hint("list the applications with `GET /api/v1/clusters`"));
    }
    let pin = Pin {
        target: target.clone(),
        pinned_by: principal.name.clone(),
        reason: reason.map(|r| deployer_core::commit::one_line(&r)),
        deployment_id: None,
        pinned_at: state.clock.now(),
    };
    if let deployer_store::PinOutcome::AlreadyPinned(_) = state.pins.pin(&pin).await? {
        state.pins.unpin(&target).await?;
        state.pins.pin(&pin).await?;
    }
    tracing::info!(message = "Target pinned.", target = %target, pinned_by = %pin.pinned_by);
    Ok(Json(PinView::from(&pin)))
}

/// `DELETE /api/v1/pins/{region}/{cluster}/{file}`: lifts the pin and returns it; 404
/// `not_pinned` when there was none.
pub async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((region, cluster, file)): Path<(String, String, String)>,
) -> Result<Json<PinView>, ApiError> {
    let target = target_of(region, cluster, file)?;
    match state.pins.unpin(&target).await? {
        Some(pin) => {
            tracing::info!(message = "Target unpinned.", target = %target, unpinned_by = %principal.name, pinned_by = %pin.pinned_by);
            Ok(Json(PinView::from(&pin)))
        }
        None => Err(not_pinned(&target)),
    }
}
