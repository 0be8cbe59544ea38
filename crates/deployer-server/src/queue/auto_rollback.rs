//! Automatic rollback: when a deployment ends `failed` and the `[[policies]]` covering it say
//! `on_failure = "rollback"`, the queue undoes it.
//!
//! The rollback is a deployment of the images the failed one replaced
//! (`deployer_core::rollback::RollbackTo::Undo`), linked to it through `rollback_of`, requested
//! by `auto-rollback`, with the idempotency key `auto-rollback-<failed id>` so that it is made
//! once even if the decision is taken twice. It is stored with its `queued` event, the target
//! is pinned to it, and it is queued behind the failed one. The failed deployment's own events
//! are untouched: it stays `failed`.
//!
//! Only deployments that pushed a commit are undone (one that failed before committing changed
//! nothing), and never a rollback itself, so a rollback that fails does not start a loop.
//! [`AutoRollback::recover`] repeats the decision at start-up for recent failures, in case the
//! service stopped between a failure and its rollback.

use std::sync::Arc;

use async_trait::async_trait;
use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, EventKind, Status, TriggerKind};
use deployer_core::ports::{Clock, DeploymentFilter, Inserted, PageRequest, Store};
use deployer_core::rollback::{RollbackTo, rollback_request};
use deployer_store::PinStore;

use super::{Finished, Queue};
use crate::config::{OnFailure, PolicySettings, on_failure_for};
use crate::engine::Engine;
use crate::hub::Hub;
use crate::rollbacks::{changed_images, pin_to};

/// Who the automatic rollbacks are requested by (in the history, the commit and the pin).
pub const REQUESTED_BY: &str = "auto-rollback";

/// How many recent failures [`AutoRollback::recover`] looks at.
const RECOVER_WINDOW: usize = 50;

/// Undoes failed deployments as the policies say.
pub struct AutoRollback {
    policies: Vec<PolicySettings>,
    engine: Arc<dyn Engine>,
    store: Arc<dyn Store>,
    pins: Arc<dyn PinStore>,
    clock: Arc<dyn Clock>,
    hub: Arc<Hub>,
}

/// What the decision for one finished deployment was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Keep,
    /// Roll it back.
    RollBack,
}

/// Whether `record` should be undone under `policies`: it failed, it pushed a commit that
/// changed images, it is not a rollback itself, and its policy says `rollback`.
pub fn decide(policies: &[PolicySettings], record: &DeploymentRecord) -> Decision {
    let is_rollback = record.request.source.kind == TriggerKind::Rollback || record.request.rollback_of.is_some();
    let undoable = record.status == Status::Failed && !is_rollback && changed_images(record);
    if undoable && on_failure_for(policies, &record.request) == OnFailure::Rollback {
        Decision::RollBack
    } else {
        Decision::Keep
    }
}

impl AutoRollback {
    /// The automatic rollback over these ports, following `policies`.
    pub fn new(
        policies: Vec<PolicySettings>,
        engine: Arc<dyn Engine>,
        store: Arc<dyn Store>,
        pins: Arc<dyn PinStore>,
        clock: Arc<dyn Clock>,
        hub: Arc<Hub>,
    ) -> Self {
        Self {
            policies,
            engine,
            store,
            pins,
            clock,
            hub,
        }
    }

    /// Whether any policy can ever roll back (when none can, nothing needs to be hooked).
    pub fn enabled(&self) -> bool {
        self.policies.iter().any(|p| p.on_failure == OnFailure::Rollback)
    }

    /// Creates, pins and queues the rollback of `failed`. Returns its id, or `None` when it
    /// existed already (same idempotency key).
    async fn roll_back(&self, failed: &DeploymentRecord, queue: &Queue) -> Result<Option<DeploymentId>, String> {
        let code = failed.failure.as_ref().map_or("failed", |f| f.code.as_str());
        let reason = format!("automatic rollback of deployment {} ({code})", failed.id);
        let target = &failed.request.target;
        let mut request = rollback_request(
            target,
            &RollbackTo::Undo(Box::new(failed.clone())),
            REQUESTED_BY,
            Some(reason.clone()),
        )
        .map_err(|e| e.to_string())?;
        request.idempotency_key = Some(format!("auto-rollback-{}", failed.id));
        request.environment = failed.request.environment.clone();
        self.engine.validate(&request).await.map_err(|e| match e {
            deployer_core::error::DeployError::Unavailable { internal } => internal,
            other => other.to_string(),
        })?;
        let reservation = queue.reserve(target).map_err(|e| e.to_string())?;
        let now = self.clock.now();
        let id = DeploymentId::generate(now);
        let record = DeploymentRecord::accepted(id, request, now);
        let queued = DeploymentEvent::new(EventKind::Queued, &record, now);
        match self
            .store
            .insert_deployment(&record, &[queued])
            .await
            .map_err(|e| e.to_string())?
        {
            Inserted::New => {
                // Pinned before it is queued: no automatic trigger slips in between.
                if let Err(error) = pin_to(self.pins.as_ref(), &record, Some(reason), now).await {
                    tracing::error!(message = "Cannot pin the target of an automatic rollback.", deployment_id = %id, error = %error);
                }
                queue.push(target.clone(), record, reservation);
                self.hub.publish(id);
                Ok(Some(id))
            }
            Inserted::Existing(_) => Ok(None),
        }
    }

    /// Repeats the decision for the recent failures that have no rollback yet and are still
    /// their target's latest deployment (the service may have stopped between a failure and
    /// its rollback).
    pub async fn recover(&self, queue: &Queue) {
        if !self.enabled() {
            return;
        }
        let filter = DeploymentFilter {
            status: Some(Status::Failed),
            ..DeploymentFilter::default()
        };
        let page = PageRequest {
            limit: RECOVER_WINDOW,
            before: None,
        };
        let failed = match self.store.list_deployments(&filter, &page).await {
            Ok(f) => f,
            Err(error) => {
                tracing::warn!(message = "Cannot look for failures to roll back.", error = %error);
                return;
            }
        };
        for record in failed
            .into_iter()
            .filter(|r| decide(&self.policies, r) == Decision::RollBack)
        {
            let target = &record.request.target;
            let latest = self
                .store
                .list_deployments(
                    &DeploymentFilter {
                        region: Some(target.region.to_string()),
                        cluster: Some(target.cluster.to_string()),
                        file: Some(target.file.to_string()),
                        ..DeploymentFilter::default()
                    },
                    &PageRequest { limit: 1, before: None },
                )
                .await;
            if matches!(latest.as_deref(), Ok([newest]) if newest.id == record.id) {
                self.finished(&record, queue).await;
            }
        }
    }
}

#[async_trait]
impl Finished for AutoRollback {
    async fn finished(&self, record: &DeploymentRecord, queue: &Queue) {
        if decide(&self.policies, record) != Decision::RollBack {
            return;
        }
        match self.roll_back(record, queue).await {
            Ok(Some(id)) => {
                tracing::warn!(message = "Deployment failed; rolling it back as its policy says.", deployment_id = %record.id, rollback_id = %id, target = %record.request.target);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(message = "Cannot roll back a failed deployment.", deployment_id = %record.id, error = %error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use deployer_core::image::Tag;
    use deployer_core::model::{DeployRequest, Failure, ImageChange, Method, Source};

    use super::*;

    fn failed(kind: TriggerKind, committed: bool) -> DeploymentRecord {
        let request = DeployRequest {
            target: "us-west-2/prod-1/api".parse().unwrap_or_else(|e| panic!("{e}")),
            image: None,
            container: None,
            change: ImageChange::Tag {
                tag: Tag::new("2.0.0").unwrap_or_else(|e| panic!("{e}")),
            },
            method: Method::Apply,
            reason: None,
            timeout: None,
            source: Source {
                kind,
                ..Source::default()
            },
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: Some("production".to_owned()),
            force: false,
            rollback_of: None,
        };
        let now = chrono::Utc::now();
        let mut r = DeploymentRecord::accepted(DeploymentId::generate(now), request, now);
        r.old_images = vec!["ghcr.io/acme/api:1.0.0".to_owned()];
        r.new_images = vec!["ghcr.io/acme/api:2.0.0".to_owned()];
        r.commit_sha = committed.then(|| "a".repeat(40));
        r.fail(
            Failure {
                code: "progress_deadline_exceeded".to_owned(),
                message: "x".to_owned(),
                pods: Vec::new(),
            },
            now,
        );
        r
    }

    fn production(on_failure: OnFailure) -> Vec<PolicySettings> {
        vec![PolicySettings {
            environment: Some("production".to_owned()),
            on_failure,
            ..PolicySettings::default()
        }]
    }

    #[test]
    fn a_failed_committed_deployment_is_rolled_back_when_its_policy_says_so() {
        assert_eq!(
            decide(&production(OnFailure::Rollback), &failed(TriggerKind::Ci, true)),
            Decision::RollBack
        );
        assert_eq!(
            decide(&production(OnFailure::Stop), &failed(TriggerKind::Ci, true)),
            Decision::Keep
        );
        assert_eq!(decide(&[], &failed(TriggerKind::Ci, true)), Decision::Keep);
    }

    #[test]
    fn rollbacks_and_deployments_that_pushed_nothing_are_never_rolled_back() {
        let policies = production(OnFailure::Rollback);
        assert_eq!(decide(&policies, &failed(TriggerKind::Rollback, true)), Decision::Keep);
        assert_eq!(decide(&policies, &failed(TriggerKind::Api, false)), Decision::Keep);
        let mut linked = failed(TriggerKind::Api, true);
        linked.request.rollback_of = Some(DeploymentId::generate(chrono::Utc::now()));
        assert_eq!(decide(&policies, &linked), Decision::Keep);
    }
}
