//! `POST /api/v1/releases` and `GET /api/v1/releases/{id}`: a build of one image, fanned out by
//! the rules into one deployment per target of the branch's environment.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::create::{CreateQuery, wait_timeout};
use super::error::ApiError;
use super::extract::{json_body, query};
use super::release_request::{CreateRelease, parse_release};
use super::state::AppState;
use super::wait::until_finished;
use super::webhooks::payload_digest;
use crate::auth::Principal;
use crate::triggers::release::{ReleaseOutcome, handle_release, read_release, refresh};

fn release_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(40).flat_map(char::escape_default).collect();
    ApiError::client(
        StatusCode::NOT_FOUND,
        "release_not_found",
        format!("release `{shown}` does not exist"),
    )
    .with_hint("the id is the `release_id` of the answer to `POST /api/v1/releases`")
}

/// Makes a release.
///
/// 202 with the deployments created; 200 when nothing was created now (nothing to deploy, a
/// duplicate within the window, or an idempotency key naming an earlier release), and with
/// `?wait=true` once every deployment ended (or the wait timed out: `"timed_out": true`).
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    q: Result<Query<CreateQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let digest = match &body {
        Ok(bytes) => payload_digest(bytes),
        Err(_) => String::new(),
    };
    let raw: CreateRelease = json_body(body)?;
    let timeout = if q.wait {
        Some(wait_timeout(&state, q.timeout.as_deref())?)
    } else {
        None
    };
    let (release, key) = parse_release(raw)?;
    let config = state.triggers.current();
    let result = handle_release(&state, &config, &release, &principal, key, digest).await?;
    let mut answer = result.answer;
    let Some(timeout) = timeout else {
        let status = if result.created {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        return Ok((status, Json(answer)).into_response());
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut timed_out = false;
    for d in &answer.deployments {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (_, out_of_time) = until_finished(&state, state.hub.subscribe(), d.id, left).await?;
        if out_of_time {
            timed_out = true;
            break;
        }
    }
    refresh(&state, &mut answer.deployments).await?;
    answer.outcome = ReleaseOutcome::of(&answer.deployments);
    answer.timed_out = Some(timed_out || !answer.outcome.is_final());
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// Returns a release with its deployments as they are now, or 404.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match read_release(&state, &id).await? {
        Some(answer) => Ok(Json(answer).into_response()),
        None => Err(release_not_found(&id)),
    }
}
