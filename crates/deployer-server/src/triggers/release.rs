//! Handling a release: the branch selects the environment, the rules select the targets, and
//! every planned deployment is made under one release id.
//!
//! The release id is also the id of the trigger recorded for it, so `GET /api/v1/releases/{id}`
//! can say why nothing deployed even when no release record could be made.

use chrono::{DateTime, Utc};
use deployer_core::image::ImageRef;
use deployer_core::model::Status;
use deployer_core::ports::{DeploymentFilter, PageRequest};
use deployer_store::{ReleaseId, ReleaseRecord, TriggerId};
use deployer_triggers::ReleaseRequest;
use deployer_triggers::plan::plan_release;
use serde::Serialize;

use super::dispatch::{Skipped, TriggerContext, TriggeredDeployment, carry_out, idempotency_dedup_key};
use super::observe::observe;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::auth::Principal;
use crate::config::TriggerConfig;

/// How long an idempotency key of a release names its first release.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::days(30);

/// The most deployments one release lists.
pub const MAX_DEPLOYMENTS: usize = 1000;

/// The combined outcome of a release's deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Nothing was deployed: no environment for the branch, no rule, or every target refused.
    Rejected,
    /// Every deployment is still waiting.
    Queued,
    /// Some deployment is still going on.
    Running,
    /// Every deployment succeeded or found its image already in place.
    Succeeded,
    /// Every deployment ended and at least one failed.
    Failed,
}

impl ReleaseOutcome {
    /// The combined outcome of `deployments`.
    pub fn of(deployments: &[TriggeredDeployment]) -> Self {
        if deployments.is_empty() {
            return ReleaseOutcome::Rejected;
        }
        if deployments.iter().all(|d| d.status == Status::Queued) {
            return ReleaseOutcome::Queued;
        }
        if deployments.iter().any(|d| !d.status.is_terminal()) {
            return ReleaseOutcome::Running;
        }
        if deployments
            .iter()
            .all(|d| matches!(d.status, Status::Succeeded | Status::Unchanged))
        {
            ReleaseOutcome::Succeeded
        } else {
            ReleaseOutcome::Failed
        }
    }

    /// Whether every deployment has ended (or there is none).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReleaseOutcome::Rejected | ReleaseOutcome::Succeeded | ReleaseOutcome::Failed
        )
    }
}

/// What a release became.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseAnswer {
    /// The release's id (for a duplicate: the earlier release's).
    pub release_id: String,
    /// The trigger recorded for this request.
    pub trigger_id: TriggerId,
    /// The environment the branch selected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The combined outcome of the deployments.
    pub outcome: ReleaseOutcome,
    /// One deployment per target.
    pub deployments: Vec<TriggeredDeployment>,
    /// What was not deployed, and why.
    pub skipped: Vec<Skipped>,
    /// Why nothing (or not everything) deployed, as recorded (answers read back from the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The earlier release this one repeats (same content within the window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// With `?wait=true`: whether the wait ended before every deployment did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
}

/// A release answer and whether it was made now (`false`: an idempotent replay or a duplicate).
#[derive(Debug, Clone)]
pub struct ReleaseResult {
    /// The answer.
    pub answer: ReleaseAnswer,
    /// Whether deployments were created now.
    pub created: bool,
}

/// Plans and carries out a release.
///
/// # Errors
/// A 503 [`ApiError`] when the observed state or the store cannot be read.
pub async fn handle_release(
    state: &AppState,
    config: &TriggerConfig,
    release: &ReleaseRequest,
    principal: &Principal,
    idempotency_key: Option<String>,
    payload_digest: String,
) -> Result<ReleaseResult, ApiError> {
    let now = state.clock.now();
    if let Some(key) = &idempotency_key
        && let Some(answer) = replay(state, &principal.name, key, now).await?
    {
        return Ok(ReleaseResult { answer, created: false });
    }
    let release_id = ReleaseId::generate(now);
    let trigger_id = release_id
        .to_string()
        .parse::<TriggerId>()
        .unwrap_or_else(|_| TriggerId::generate(now));
    let observed = observe(state, &config.rules, &[release.dedup_key()], now).await?;
    let plan = plan_release(release, &config.rules, &observed, now);
    let ctx = TriggerContext {
        id: trigger_id,
        source: release.trigger_kind().as_str().to_owned(),
        payload_digest,
        identity: principal.name.clone(),
        requested_by: principal.name.clone(),
        release_id: plan.duplicate_of.is_none().then_some(release_id),
        idempotency_key,
        force: release.force,
    };
    let handled = carry_out(state, &plan, &ctx).await;
    let environment = plan.environment.as_ref().map(ToString::to_string);
    let created = handled.duplicate_of.is_none() && !handled.deployments.is_empty();
    if created {
        let image = release
            .image
            .clone()
            .or_else(|| plan.deployments.first().map(|d| d.image.clone()))
            .and_then(|i| ImageRef::parse(&i.repository()).ok());
        if let Some(image) = image {
            let record = ReleaseRecord {
                id: release_id,
                at: now,
                tag: release.tag.clone(),
                image,
                branch: Some(release.branch.clone()),
                environment: environment.clone(),
                commit: release.commit.clone(),
                build_url: release.build_url.clone(),
                deployment_ids: handled.deployments.iter().map(|d| d.id).collect(),
            };
            if let Err(error) = state.releases.create_release(&record).await {
                tracing::error!(message = "Cannot record a release; its deployments go on.", release_id = %release_id, error = %error);
            }
        }
    }
    let answer = ReleaseAnswer {
        release_id: handled.duplicate_of.clone().unwrap_or_else(|| release_id.to_string()),
        trigger_id: handled.trigger_id,
        environment,
        outcome: ReleaseOutcome::of(&handled.deployments),
        deployments: handled.deployments,
        skipped: handled.skipped,
        reason: None,
        duplicate_of: handled.duplicate_of,
        timed_out: None,
    };
    Ok(ReleaseResult { answer, created })
}

/// The release a caller's idempotency key already made, if any.
async fn replay(
    state: &AppState,
    caller: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<ReleaseAnswer>, ApiError> {
    let found = state
        .trigger_log
        .find_recent_trigger_by_dedup_key(&idempotency_dedup_key(caller, key), now - IDEMPOTENCY_WINDOW)
        .await?;
    match found {
        Some(trigger) => read_release(state, &trigger.id.to_string()).await,
        None => Ok(None),
    }
}

/// A release as recorded: its record, its trigger and its deployments as they are now.
/// `None` when nothing is known under `id`.
///
/// # Errors
/// A 503 [`ApiError`] when the store cannot be read.
pub async fn read_release(state: &AppState, id: &str) -> Result<Option<ReleaseAnswer>, ApiError> {
    let (Ok(release_id), Ok(trigger_id)) = (id.parse::<ReleaseId>(), id.parse::<TriggerId>()) else {
        return Ok(None);
    };
    let record = state.releases.get_release(release_id).await?;
    let trigger = state.trigger_log.get_trigger(trigger_id).await?;
    if record.is_none() && trigger.is_none() {
        return Ok(None);
    }
    let filter = DeploymentFilter {
        release_id: Some(release_id.to_string()),
        ..DeploymentFilter::default()
    };
    let page = PageRequest {
        limit: MAX_DEPLOYMENTS,
        before: None,
    };
    let mut deployments: Vec<TriggeredDeployment> = state
        .store
        .list_deployments(&filter, &page)
        .await?
        .into_iter()
        .map(|r| TriggeredDeployment {
            id: r.id,
            target: r.request.target,
            status: r.status,
        })
        .collect();
    deployments.sort_by(|a, b| (&a.target, a.id).cmp(&(&b.target, b.id)));
    Ok(Some(ReleaseAnswer {
        release_id: release_id.to_string(),
        trigger_id,
        environment: record.and_then(|r| r.environment),
        outcome: ReleaseOutcome::of(&deployments),
        deployments,
        skipped: Vec::new(),
        reason: trigger.and_then(|t| t.reason),
        duplicate_of: None,
        timed_out: None,
    }))
}

/// Refreshes the statuses of `deployments` from the store.
///
/// # Errors
/// A 503 [`ApiError`] when the store cannot be read.
pub async fn refresh(state: &AppState, deployments: &mut [TriggeredDeployment]) -> Result<(), ApiError> {
    for d in deployments.iter_mut() {
        if let Some(record) = state.store.get_deployment(d.id).await? {
            d.status = record.status;
        }
    }
    Ok(())
}

/// Sorts deployments by target, for stable answers.
pub fn by_target(deployments: &mut [TriggeredDeployment]) {
    deployments.sort_by(|a, b| a.target.cmp(&b.target));
}
