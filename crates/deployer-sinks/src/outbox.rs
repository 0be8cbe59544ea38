//! What the delivery worker needs from the outbox, and the items it hands to sinks.
//!
//! The history store writes one outbox entry per event and sink, in the transaction that
//! records the event. [`OutboxSource`] is the part of the store the worker uses: claim the due
//! entries of one sink (oldest event first, leased so that no other claim returns them), then
//! mark each one delivered, failed (retry at a given time) or dead. `deployer-store`'s
//! `OutboxStore` has exactly these operations; [`MemoryOutbox`](crate::memory::MemoryOutbox)
//! implements them in memory.
//!
//! # Wiring the store
//! The adapter is a newtype where both crates are known (the server):
//!
//! ```ignore
//! struct StoreOutbox(Arc<dyn deployer_store::HistoryStore>);
//!
//! fn sink_name(name: &SinkName) -> Result<deployer_store::SinkName, StoreError> {
//!     deployer_store::SinkName::new(name.as_str()).map_err(|e| StoreError::Internal { message: e.to_string() })
//! }
//!
//! #[async_trait]
//! impl OutboxSource for StoreOutbox {
//!     async fn claim_due(&self, sink: &SinkName, limit: usize, now: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
//!         let entries = self.0.claim_due(&sink_name(sink)?, limit, now).await?;
//!         Ok(entries
//!             .into_iter()
//!             .map(|e| OutboxItem { id: ItemId(e.id.0), attempts: e.attempts, lease_until: e.next_attempt_at, event: e.event })
//!             .collect())
//!     }
//!     async fn mark_delivered(&self, id: ItemId) -> Result<(), StoreError> {
//!         self.0.mark_delivered(deployer_store::OutboxId(id.0)).await
//!     }
//!     async fn mark_failed(&self, id: ItemId, next: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
//!         self.0.mark_failed(deployer_store::OutboxId(id.0), next, error).await
//!     }
//!     async fn mark_dead(&self, id: ItemId, error: &str) -> Result<(), StoreError> {
//!         self.0.mark_dead(deployer_store::OutboxId(id.0), error).await
//!     }
//! }
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::DeploymentEvent;
use deployer_core::ports::StoreError;

/// The name of a configured sink (`kafka`, `slack`, `webhook-audit`): 1 to 64 lowercase
/// letters, digits, `-` and `_`, the same rule as the store's sink names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SinkName(String);

/// Text that is not a sink name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sink name `{0}`: use 1 to 64 lowercase letters, digits, `-` and `_`")]
pub struct InvalidSinkName(pub String);

impl SinkName {
    /// Validates a sink name.
    ///
    /// # Errors
    /// [`InvalidSinkName`] when it is empty, longer than 64 characters or has other characters.
    pub fn new(name: &str) -> Result<Self, InvalidSinkName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidSinkName(
                name.chars().take(64).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SinkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of an outbox entry (the store's `OutboxId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub i64);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The ordering key of an event: its target, `<region>/<cluster>/<file>`. Events of one key
/// are delivered in order; a failed one holds back the later ones of the same key only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderingKey(String);

impl OrderingKey {
    /// The key of an event.
    pub fn of(event: &DeploymentEvent) -> Self {
        Self(event.record.request.target.to_string())
    }

    /// The key as text (it is also the Kafka record key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One claimed event for one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The entry's id.
    pub id: ItemId,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// When the claim's lease ends: after it, another claim may return the entry again.
    pub lease_until: DateTime<Utc>,
    /// The event, with its store sequence number.
    pub event: DeploymentEvent,
}

impl OutboxItem {
    /// The ordering key of the item's event.
    pub fn key(&self) -> OrderingKey {
        OrderingKey::of(&self.event)
    }
}

/// The outbox operations the worker uses; see the module documentation.
///
/// The adapter over `deployer-store` maps each method to the `OutboxStore` method of the same
/// name, converting [`SinkName`] and [`ItemId`] and taking `lease_until` from the entry's
/// `next_attempt_at` (which, for a claimed entry, is the end of its lease).
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// Claims up to `limit` entries of `sink` due at `now`, oldest event first, and leases
    /// them.
    async fn claim_due(&self, sink: &SinkName, limit: usize, now: DateTime<Utc>)
    -> Result<Vec<OutboxItem>, StoreError>;

    /// Marks an entry delivered.
    async fn mark_delivered(&self, id: ItemId) -> Result<(), StoreError>;

    /// Records a failed delivery and when to try again.
    async fn mark_failed(&self, id: ItemId, next_attempt_at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Gives up on an entry, keeping the last error.
    async fn mark_dead(&self, id: ItemId, error: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_names_follow_the_store_rule() {
        assert!(SinkName::new("webhook-audit_2").is_ok());
        for bad in ["", "Slack", "a b", "x/y", &"a".repeat(65)] {
            assert!(SinkName::new(bad).is_err(), "{bad:?}");
        }
    }
}
