//! Handling an authenticated webhook delivery: each pushed image is planned against the rules
//! in force and carried out as a trigger of its own.

use deployer_store::{TriggerId, TriggerOutcome};
use deployer_triggers::plan::plan_image_event;
use deployer_triggers::webhook::Delivery;
use deployer_triggers::{ImageEvent, Provider};
use serde::Serialize;

use super::dispatch::{Handled, Skipped, TriggerContext, TriggeredDeployment, carry_out, record_without_plan};
use super::observe::observe;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::config::TriggerConfig;

/// One part of a delivery that triggers nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredEntry {
    /// What it was.
    pub what: String,
    /// A stable code (`not_a_push`, `untagged`, …).
    pub reason: &'static str,
    /// Why, in words.
    pub message: String,
}

/// The answer to an accepted delivery.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAnswer {
    /// The trigger recorded for the first pushed image (or for the delivery, when it announced
    /// none).
    pub trigger_id: TriggerId,
    /// One trigger per pushed image, when the delivery announced several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trigger_ids: Vec<TriggerId>,
    /// The deployments created (for a duplicate delivery: those the first one created).
    pub deployments: Vec<TriggeredDeployment>,
    /// What was not deployed, and why.
    pub skipped: Vec<Skipped>,
    /// Entries of the delivery that are not deployable pushes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredEntry>,
    /// The earlier trigger, when the delivery repeats one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

impl DeliveryAnswer {
    /// One line for the Docker Hub acknowledgement.
    pub fn describe(&self) -> String {
        let n = self.deployments.len();
        format!(
            "k8s-app-deployer: {n} deployment{} started, {} skipped",
            if n == 1 { "" } else { "s" },
            self.skipped.len()
        )
    }
}

fn ignore_code(reason: &deployer_triggers::webhook::IgnoreReason) -> &'static str {
    use deployer_triggers::webhook::IgnoreReason as R;
    match reason {
        R::NotAPush { .. } => "not_a_push",
        R::NotAManifest { .. } => "not_a_manifest",
        R::Untagged => "untagged",
        R::NotAContainer { .. } => "not_a_container",
        R::UnsupportedEvent { .. } => "unsupported_event",
        R::RepositoryNotAllowed { .. } => "repository_not_allowed",
        R::InvalidReference { .. } => "invalid_reference",
    }
}

/// Plans and carries out every pushed image of `delivery`.
///
/// # Errors
/// A 503 [`ApiError`] when the observed state cannot be read; nothing is deployed then, and
/// the sender's retry will be handled as new.
pub async fn handle_delivery(
    state: &AppState,
    config: &TriggerConfig,
    provider: Provider,
    delivery: &Delivery,
    payload_digest: &str,
) -> Result<DeliveryAnswer, ApiError> {
    let now = state.clock.now();
    let ignored: Vec<IgnoredEntry> = delivery
        .ignored
        .iter()
        .map(|i| IgnoredEntry {
            what: i.what.clone(),
            reason: ignore_code(&i.reason),
            message: i.reason.to_string(),
        })
        .collect();
    let context = |id: TriggerId| TriggerContext {
        id,
        source: provider.as_str().to_owned(),
        payload_digest: payload_digest.to_owned(),
        identity: delivery.hook.clone(),
        requested_by: format!("webhook:{}", delivery.hook),
        release_id: None,
        idempotency_key: None,
        force: false,
    };
    if delivery.events.is_empty() {
        let id = TriggerId::generate(now);
        let reason = if ignored.is_empty() {
            "the delivery announces no push".to_owned()
        } else {
            ignored
                .iter()
                .map(|i| format!("{}: {}", i.what, i.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        record_without_plan(state, &context(id), TriggerOutcome::Ignored, reason).await;
        return Ok(DeliveryAnswer {
            trigger_id: id,
            trigger_ids: Vec::new(),
            deployments: Vec::new(),
            skipped: Vec::new(),
            ignored,
            duplicate_of: None,
        });
    }
    let keys: Vec<_> = delivery.events.iter().map(ImageEvent::dedup_key).collect();
    let observed = observe(state, &config.rules, &keys, now).await?;
    let mut handled: Vec<Handled> = Vec::new();
    for event in &delivery.events {
        let plan = plan_image_event(event, &config.rules, &observed, now);
        let id = TriggerId::generate(state.clock.now());
        handled.push(carry_out(state, &plan, &context(id)).await);
    }
    let trigger_ids: Vec<TriggerId> = handled.iter().map(|h| h.trigger_id).collect();
    let first = trigger_ids.first().copied().unwrap_or_else(|| TriggerId::generate(now));
    let duplicate_of = handled.iter().find_map(|h| h.duplicate_of.clone());
    let mut answer = DeliveryAnswer {
        trigger_id: first,
        trigger_ids: if trigger_ids.len() > 1 { trigger_ids } else { Vec::new() },
        deployments: Vec::new(),
        skipped: Vec::new(),
        ignored,
        duplicate_of,
    };
    for h in handled {
        answer.deployments.extend(h.deployments);
        answer.skipped.extend(h.skipped);
    }
    Ok(answer)
}
