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
