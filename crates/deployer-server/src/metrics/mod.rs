//! Prometheus metrics of the service, on a [`Registry`] passed in (nothing global).
//!
//! [`Metrics::register`] adds the service's own metrics to the registry and returns the
//! handles that feed them; the binary adds the sinks' collector
//! (`deployer_sinks::metrics::SinkMetrics`) to the same registry and hands it to
//! [`Server::with_metrics`](crate::Server::with_metrics), which serves it at `GET /metrics`
//! in the OpenMetrics text format.
//!
//! | metric | type | labels | fed by |
//! |---|---|---|---|
//! | `deployer_deployments_total` | counter | `status`, `method` | [`DeploymentMetrics`], a notifier next to the hub |
//! | `deployer_deployment_phase_duration_seconds` | histogram | `stage` (`queued_to_committed`, `committed_to_applied`, `applied_to_finished`) | the records' `phase_times`, when a deployment ends |
//! | `deployer_queue_depth`, `deployer_queue_busy_targets` | gauge | – | the queue, read at scrape time |
//! | `deployer_outbox_pending`, `deployer_outbox_oldest_pending_age_seconds` | gauge | `sink` | [`OutboxGauges::poll`], every few seconds from the store |
//! | `deployer_http_requests_total` | counter | `method`, `route`, `status` | [`HttpMetrics`], a middleware |
//!
//! Every label takes values from a fixed set (route templates, not paths; sink names from the
//! configuration), so no series is created per deployment or per caller.

mod deployments;
/// `GET /metrics`.
pub mod endpoint;
mod http;
mod outbox;
mod queue;

use std::sync::Arc;

use prometheus_client::registry::Registry;

pub use deployments::{DeploymentMetrics, Tee};
pub use http::{HttpMetrics, track};
pub use outbox::OutboxGauges;
pub use queue::QueueGauges;

/// The handles feeding the service's metrics (cheap to clone).
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Deployment outcomes and phase durations.
    pub deployments: DeploymentMetrics,
    /// HTTP requests.
    pub http: HttpMetrics,
    /// The queue's depth.
    pub queue: QueueGauges,
    /// The outbox backlog per sink.
    pub outbox: OutboxGauges,
}

impl Metrics {
    /// Registers every metric of the service on `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        Self {
            deployments: DeploymentMetrics::register(registry),
            http: HttpMetrics::register(registry),
            queue: QueueGauges::register(registry),
            outbox: OutboxGauges::register(registry),
        }
    }
}

/// The registry to serve at `GET /metrics`, with the handles the server feeds.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// The complete registry.
    pub registry: Arc<Registry>,
    /// The service's handles.
    pub metrics: Metrics,
}
