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
    async fn claim_due(&self, sink: &SinkName, limit: usize, now: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
        let entries = self.0.claim_due(&store_sink(sink)?, limit, now).await?;
        Ok(entries
            .into_iter()
            .map(|e| OutboxItem { id: ItemId(e.id.0), attempts: e.attempts, lease_until: e.next_attempt_at, event: e.event })
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
