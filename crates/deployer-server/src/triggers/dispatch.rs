//! Carrying out a trigger plan: each planned deployment goes through the same path as
//! `POST /api/v1/deployments`, then the trigger is recorded with what came of it.

use deployer_core::model::{DeploymentId, Status, Target};
use deployer_store::{ReleaseId, TriggerId, TriggerOutcome, TriggerRecord};
use deployer_triggers::plan::{SkipReason, TriggerPlan};
use serde::Serialize;

use super::observe::stored_key;
use crate::api::AppState;
use crate::api::submit::submit;

/// The longest `reason` recorded with a trigger, in characters.
pub const MAX_REASON: usize = 2000;

/// A deployment a trigger created, or, for a duplicate, the earlier trigger created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggeredDeployment {
    /// The deployment.
    pub id: DeploymentId,
    /// Where it goes.
    pub target: Target,
    /// Its status when the answer was made.
    pub status: Status,
}

/// Something the trigger did not deploy, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The target, when the reason concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The rule, when the reason concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The environment, when the reason concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A stable code: the planner's reason (`pinned`, `downgrade`, `promotion_gate`, …) or
    /// the refusal of the deployment itself (`file_not_found`, `target_queue_full`, …).
    pub reason: String,
    /// The reason in words.
    pub message: String,
}

/// Who and what a trigger is, for its record and its deployments.
#[derive(Debug, Clone)]
pub struct TriggerContext {
    /// The trigger's id.
    pub id: TriggerId,
    /// Where it came from (`dockerhub`, …, `ci`, `api`).
    pub source: String,
    /// `sha256:<hex>` of the payload.
    pub payload_digest: String,
    /// Who sent it: the hook's or the token's name.
    pub identity: String,
    /// The deployments' `requested_by`.
    pub requested_by: String,
    /// The release the deployments belong to.
    pub release_id: Option<ReleaseId>,
    /// The caller's idempotency key: each deployment gets one derived from it, and the trigger
    /// is recorded under it instead of its content key.
    pub idempotency_key: Option<String>,
    /// Deploy even a semver downgrade.
    pub force: bool,
}

/// What a trigger became.
#[derive(Debug, Clone)]
pub struct Handled {
    /// The trigger's id.
    pub trigger_id: TriggerId,
    /// The deployments created (or, for a duplicate, found).
    pub deployments: Vec<TriggeredDeployment>,
    /// What was not deployed.
    pub skipped: Vec<Skipped>,
    /// The earlier trigger, when this one is a duplicate.
    pub duplicate_of: Option<String>,
    /// What came of it.
    pub outcome: TriggerOutcome,
}

/// The key a keyed release is recorded under.
pub fn idempotency_dedup_key(caller: &str, key: &str) -> String {
    format!("idempotency:{caller}:{key}")
}

/// Submits the planned deployments and records the trigger.
pub async fn carry_out(state: &AppState, plan: &TriggerPlan, ctx: &TriggerContext) -> Handled {
    let mut skipped: Vec<Skipped> = plan.skipped.iter().map(skipped_of).collect();
    let mut deployments = Vec::new();
    if let Some(earlier) = &plan.duplicate_of {
        deployments = deployments_of_trigger(state, &earlier.id).await;
    } else {
        for planned in &plan.deployments {
            let mut request = planned.request(&plan.source, &ctx.requested_by);
            request.force = ctx.force;
            request.idempotency_key = ctx
                .idempotency_key
                .as_ref()
                .map(|k| format!("release:{k}:{}", planned.target));
            match submit(state, request, ctx.release_id.map(|id| id.to_string())).await {
                Ok(submitted) => deployments.push(TriggeredDeployment {
                    id: submitted.record.id,
                    target: submitted.record.request.target,
                    status: submitted.record.status,
                }),
                Err(e) => skipped.push(Skipped {
                    target: Some(planned.target.clone()),
                    rule: Some(planned.rule.clone()),
                    environment: Some(planned.environment.to_string()),
                    reason: e.code().to_owned(),
                    message: e.message().to_owned(),
                }),
            }
        }
    }
    let outcome = match (&plan.duplicate_of, deployments.is_empty(), plan.deployments.is_empty()) {
        (Some(_), _, _) => TriggerOutcome::Duplicate,
        (None, false, _) => TriggerOutcome::Accepted,
        (None, true, true) => TriggerOutcome::Ignored,
        (None, true, false) => TriggerOutcome::Failed,
    };
    let dedup_key = match (outcome, &ctx.idempotency_key) {
        (TriggerOutcome::Accepted, Some(key)) => Some(idempotency_dedup_key(&ctx.identity, key)),
        (TriggerOutcome::Accepted, None) => Some(stored_key(&plan.dedup_key)),
        _ => None,
    };
    let record = TriggerRecord {
        id: ctx.id,
        at: state.clock.now(),
        source: ctx.source.clone(),
        payload_digest: ctx.payload_digest.clone(),
        identity: ctx.identity.clone(),
        matched_rules: matched_rules(plan),
        deployment_ids: if outcome == TriggerOutcome::Duplicate {
            Vec::new()
        } else {
            deployments.iter().map(|d| d.id).collect()
        },
        outcome,
        reason: reason(&skipped),
        dedup_key,
    };
    if let Err(error) = state.trigger_log.record_trigger(&record).await {
        tracing::error!(message = "Cannot record a trigger; its deployments go on.", trigger_id = %ctx.id, error = %error);
    }
    tracing::info!(
        message = "Trigger handled.",
        trigger_id = %ctx.id,
        source = %ctx.source,
        identity = %ctx.identity,
        outcome = outcome.as_str(),
        deployments = deployments.len(),
        skipped = skipped.len(),
    );
    Handled {
        trigger_id: ctx.id,
        deployments,
        skipped,
        duplicate_of: plan.duplicate_of.as_ref().map(|d| d.id.clone()),
        outcome,
    }
}

/// Records a trigger that planned nothing (a delivery whose every entry was ignored, or one
/// refused after authentication).
pub async fn record_without_plan(state: &AppState, ctx: &TriggerContext, outcome: TriggerOutcome, reason: String) {
    let record = TriggerRecord {
        id: ctx.id,
        at: state.clock.now(),
        source: ctx.source.clone(),
        payload_digest: ctx.payload_digest.clone(),
        identity: ctx.identity.clone(),
        matched_rules: Vec::new(),
        deployment_ids: Vec::new(),
        outcome,
        reason: Some(bounded(reason)),
        dedup_key: None,
    };
    if let Err(error) = state.trigger_log.record_trigger(&record).await {
        tracing::error!(message = "Cannot record a trigger.", trigger_id = %ctx.id, error = %error);
    }
}

/// The deployments an earlier trigger created, as they are now.
pub async fn deployments_of_trigger(state: &AppState, id: &str) -> Vec<TriggeredDeployment> {
    let Ok(id) = id.parse::<TriggerId>() else {
        return Vec::new();
    };
    let ids = match state.trigger_log.get_trigger(id).await {
        Ok(Some(t)) => t.deployment_ids,
        Ok(None) => Vec::new(),
        Err(error) => {
            tracing::warn!(message = "Cannot read an earlier trigger.", trigger_id = %id, error = %error);
            Vec::new()
        }
    };
    let mut out = Vec::new();
    for id in ids {
        if let Ok(Some(record)) = state.store.get_deployment(id).await {
            out.push(TriggeredDeployment {
                id,
                target: record.request.target,
                status: record.status,
            });
        }
    }
    out
}

fn skipped_of(skip: &deployer_triggers::plan::Skip) -> Skipped {
    Skipped {
        target: skip.target.clone(),
        rule: skip.rule.clone(),
        environment: skip.environment.as_ref().map(ToString::to_string),
        reason: skip.reason.kind().to_owned(),
        message: skip.message.clone(),
    }
}

/// The rules that applied to the trigger (whether or not their targets deployed).
fn matched_rules(plan: &TriggerPlan) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let applied = plan.deployments.iter().map(|d| d.rule.as_str()).chain(
        plan.skipped
            .iter()
            .filter(|s| !matches!(s.reason, SkipReason::TagFilterMismatch { .. }))
            .filter_map(|s| s.rule.as_deref()),
    );
    for name in applied {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Why nothing (or not everything) deployed, in one bounded text. Files that do not use the
/// image at all (`image_not_in_file`) are left out when anything else is said.
fn reason(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let telling: Vec<&Skipped> = skipped.iter().filter(|s| s.reason != "image_not_in_file").collect();
    let shown: Vec<&Skipped> = if telling.is_empty() {
        skipped.iter().collect()
    } else {
        telling
    };
    let parts: Vec<String> = shown
        .into_iter()
        .map(|s| match &s.target {
            Some(t) => format!("{t}: {}", s.message),
            None => s.message.clone(),
        })
        .collect();
    Some(bounded(parts.join("; ")))
}

fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_REASON {
        text
    } else {
        let mut cut: String = text.chars().take(MAX_REASON - 1).collect();
        cut.push('…');
        cut
    }
}
