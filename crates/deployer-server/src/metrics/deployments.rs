//! Deployment outcomes and phase durations, recorded from the executor's notifications.

use std::sync::Arc;

use deployer_core::execute::Notifier;
use deployer_core::model::{DeploymentEvent, DeploymentRecord, Phase};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The labels of `deployer_deployments_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    status: &'static str,
    method: &'static str,
}

/// The label of `deployer_deployment_phase_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Stage {
    stage: &'static str,
}

/// The stages measured: from which phase to which, and the label.
const STAGES: [(Phase, Phase, &str); 3] = [
    (Phase::Queued, Phase::Committed, "queued_to_committed"),
    (Phase::Committed, Phase::Applied, "committed_to_applied"),
    (Phase::Applied, Phase::Finished, "applied_to_finished"),
];

fn durations_histogram() -> Histogram {
    // 50 ms to about 20 minutes.
    Histogram::new(exponential_buckets(0.05, 2.5, 12))
}

/// Counts finished deployments by outcome and observes their phase durations; a
/// [`Notifier`] (compose it with the hub through [`Tee`]).
#[derive(Debug, Clone)]
pub struct DeploymentMetrics {
    outcomes: Family<Outcome, Counter>,
    durations: Family<Stage, Histogram, fn() -> Histogram>,
}

impl DeploymentMetrics {
    /// Registers `deployer_deployments_total` and `deployer_deployment_phase_duration_seconds`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            outcomes: Family::default(),
            durations: Family::new_with_constructor(durations_histogram),
        };
        registry.register(
            "deployer_deployments",
            "Deployments that ended, by status and method.",
            metrics.outcomes.clone(),
        );
        registry.register_with_unit(
            "deployer_deployment_phase_duration",
            "Time between two phases of deployments that ended.",
            Unit::Seconds,
            metrics.durations.clone(),
        );
        metrics
    }

    /// Records a deployment that ended.
    pub fn finished(&self, record: &DeploymentRecord) {
        self.outcomes
            .get_or_create(&Outcome {
                status: record.status.as_str(),
                method: record.request.method.as_str(),
            })
            .inc();
        for (from, to, stage) in STAGES {
            let (Some(start), Some(end)) = (
                record.phase_times.get(from.as_str()),
                record.phase_times.get(to.as_str()),
            ) else {
                continue;
            };
            if let Ok(elapsed) = (*end - *start).to_std() {
                self.durations
                    .get_or_create(&Stage { stage })
                    .observe(elapsed.as_secs_f64());
            }
        }
    }
}

impl Notifier for DeploymentMetrics {
    fn changed(&self, record: &DeploymentRecord, events: &[DeploymentEvent]) {
        // A change that ends a deployment writes its terminal event; later writes of the same
        // finished record (none today) would carry no such event and count nothing.
        let ended = record.status.is_terminal() && events.iter().any(|e| e.record.status.is_terminal());
        if ended {
            self.finished(record);
        }
    }
}

/// Tells two notifiers, in order.
pub struct Tee {
    first: Arc<dyn Notifier>,
    second: Arc<dyn Notifier>,
}

impl Tee {
    /// Tells `first`, then `second`.
    pub fn new(first: Arc<dyn Notifier>, second: Arc<dyn Notifier>) -> Self {
        Self { first, second }
    }
}

impl Notifier for Tee {
    fn changed(&self, record: &DeploymentRecord, events: &[DeploymentEvent]) {
        self.first.changed(record, events);
        self.second.changed(record, events);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use deployer_core::model::{DeployRequest, DeploymentId, EventKind, Status};

    use super::*;

    fn record() -> DeploymentRecord {
        let request: DeployRequest = serde_json::from_value(serde_json::json!({
            "target": {"region": "r", "cluster": "c", "file": "api"},
            "change": {"type": "tag", "tag": "v2"},
            "method": "apply",
            "source": {"kind": "api"},
            "requested_by": "tester",
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).single().unwrap_or_default();
        DeploymentRecord::accepted(DeploymentId::generate(t0), request, t0)
    }

    fn encoded(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn only_the_change_that_ends_a_deployment_is_counted_with_its_phase_durations() {
        let mut registry = Registry::default();
        let metrics = DeploymentMetrics::register(&mut registry);
        let mut r = record();
        let t0 = r.created_at;
        metrics.changed(&r, &[DeploymentEvent::new(EventKind::Queued, &r, t0)]);
        r.enter(Phase::Committed, t0 + chrono::Duration::seconds(2));
        metrics.changed(&r, &[DeploymentEvent::new(EventKind::Committed, &r, t0)]);
        r.enter(Phase::Applied, t0 + chrono::Duration::seconds(3));
        metrics.changed(&r, &[]);
        r.finish(Status::Succeeded, t0 + chrono::Duration::seconds(10));
        metrics.changed(&r, &[DeploymentEvent::new(EventKind::Succeeded, &r, t0)]);
        let text = encoded(&registry);
        for line in [
            r#"deployer_deployments_total{status="succeeded",method="apply"} 1"#,
            r#"deployer_deployment_phase_duration_seconds_count{stage="queued_to_committed"} 1"#,
            r#"deployer_deployment_phase_duration_seconds_sum{stage="queued_to_committed"} 2.0"#,
            r#"deployer_deployment_phase_duration_seconds_sum{stage="committed_to_applied"} 1.0"#,
            r#"deployer_deployment_phase_duration_seconds_sum{stage="applied_to_finished"} 7.0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        assert!(
            !text.contains("status=\"running\""),
            "unfinished changes are not counted:\n{text}"
        );
    }

    #[test]
    fn a_commit_only_deployment_has_no_apply_stages() {
        let mut registry = Registry::default();
        let metrics = DeploymentMetrics::register(&mut registry);
        let mut r = record();
        r.request.method = deployer_core::model::Method::CommitOnly;
        let t0 = r.created_at;
        r.enter(Phase::Committed, t0 + chrono::Duration::seconds(1));
        r.fail(
            deployer_core::model::Failure {
                code: "push_failed".to_owned(),
                message: "x".to_owned(),
                pods: Vec::new(),
            },
            t0 + chrono::Duration::seconds(2),
        );
        metrics.changed(&r, &[DeploymentEvent::new(EventKind::Failed, &r, t0)]);
        let text = encoded(&registry);
        assert!(
            text.contains(r#"deployer_deployments_total{status="failed",method="commit-only"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"stage="applied_to_finished""#), "{text}");
    }
}
