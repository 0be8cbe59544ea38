//! Event delivery: the store's outbox feeding the sink workers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deployer_core::ports::StoreError;
use deployer_sinks::{ItemId, OutboxItem, OutboxSource, SinkName};
use deployer_store::HistoryStore;

/// The history store as the delivery workers' outbox.
pub struct StoreOutbox(pub Arc<dyn HistoryStore>);

fn store_sink(name: &SinkName) -> Result<deployer_store::SinkName, StoreError> {
    deployer_store::SinkName::new(name.as_str()).map_err(|e| StoreError::Internal { message: e.to_string() })
}

#[async_trait]
impl OutboxSource for StoreOutbox {
    async fn claim_due(
        &self,
        sink: &SinkName,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let entries = self.0.claim_due(&store_sink(sink)?, limit, now).await?;
        Ok(entries
            .into_iter()
            .map(|e| OutboxItem {
                id: ItemId(e.id.0),
                attempts: e.attempts,
                lease_until: e.next_attempt_at,
                event: e.event,
            })
            .collect())
    }

    async fn mark_delivered(&self, id: ItemId) -> Result<(), StoreError> {
        self.0.mark_delivered(deployer_store::OutboxId(id.0)).await
    }

    async fn mark_failed(&self, id: ItemId, next: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.0.mark_failed(deployer_store::OutboxId(id.0), next, error).await
    }

    async fn mark_dead(&self, id: ItemId, error: &str) -> Result<(), StoreError> {
        self.0.mark_dead(deployer_store::OutboxId(id.0), error).await
    }
}

/// How often the outbox backlog metrics are read from the store.
const BACKLOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts one delivery worker per configured sink and builds the metrics registry: the
/// service's metrics, the workers' counters, and the outbox backlog of each sink (read from
/// the store every five seconds). Returns the registry, ready to serve, and the handles that
/// feed the service's metrics.
pub fn start_delivery(
    history: &Arc<dyn HistoryStore>,
    sinks: deployer_sinks::settings::BuiltSinks,
    names: Vec<deployer_store::SinkName>,
    clock: Arc<dyn deployer_core::ports::Clock>,
) -> (prometheus_client::registry::Registry, deployer_server::metrics::Metrics) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = deployer_server::metrics::Metrics::register(&mut registry);
    if sinks.sinks.is_empty() {
        return (registry, metrics);
    }
    let outbox = Arc::new(StoreOutbox(Arc::clone(history)));
    let running = deployer_sinks::spawn_workers(outbox, sinks.sinks, &sinks.worker, std::future::pending::<()>);
    tracing::info!(message = "Event delivery started.", sinks = running.len());
    deployer_sinks::metrics::SinkMetrics::of_workers(&running).register(&mut registry);
    let store: Arc<dyn deployer_store::OutboxStore> = history.clone();
    tokio::spawn(
        metrics
            .outbox
            .clone()
            .poll(store, names, clock, BACKLOG_EVERY, std::future::pending::<()>()),
    );
    // The workers run for the life of the process; their leases make a crash lose nothing.
    std::mem::forget(running);
    (registry, metrics)
}
