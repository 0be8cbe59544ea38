//! The outbox: deployment events waiting to be delivered to each notification sink.
//!
//! An entry is one event for one sink. Workers claim due entries, deliver them and mark each
//! delivered, failed (to be retried at a given time) or dead (given up on). Claiming leases an
//! entry for [`StoreSettings::outbox_lease`](crate::StoreSettings::outbox_lease): a worker that
//! dies mid-delivery leaves it due again once the lease runs out, so delivery is at least once.
//! Entries of a sink are claimed in event order. An entry is not claimed while an earlier
//! pending entry of the same sink and target is not due (leased, or failed and waiting for its
//! retry time), so a target's events are delivered in order even across a crash; other targets
//! go ahead. A dead entry holds nothing back.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::DeploymentEvent;
use deployer_core::ports::StoreError;

/// The name of a configured sink (`slack`, `kafka`, `webhook-audit`): lowercase letters,
/// digits, `-` and `_`, at most 64 characters.
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
    /// [`InvalidSinkName`] when it is empty, too long or has other characters.
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

/// The id of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub i64);

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting to be delivered (or retried).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on; [`OutboxStore::retry_dead`] brings it back.
    Dead,
}

impl OutboxState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [OutboxState::Pending, OutboxState::Delivered, OutboxState::Dead]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// One event for one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub id: OutboxId,
    /// The sink it goes to.
    pub sink: SinkName,
    /// Its state.
    pub state: OutboxState,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// When it is next due (for a claimed entry: when its lease ends).
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// The event, with its `seq`.
    pub event: DeploymentEvent,
}

/// The pending entries of one sink at one moment, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    /// Entries waiting to be delivered, retried, or being delivered.
    pub pending: u64,
    /// When the event of the oldest pending entry happened (`None` when nothing is pending).
    pub oldest_event_at: Option<DateTime<Utc>>,
}

/// The outbox operations, implemented by both backends.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues the event with sequence number `event_seq` for `sink`, due at `now`. Queuing the
    /// same event for the same sink twice does nothing; returns whether an entry was added.
    async fn enqueue(&self, event_seq: i64, sink: &SinkName, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Claims up to `limit` pending entries of `sink` due at `now`, oldest event first, and
    /// leases them so that no other claim returns them until the lease ends. An entry behind
    /// an earlier pending entry of the same target that is not due is left for later.
    async fn claim_due(
        &self,
        sink: &SinkName,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks a pending entry delivered. Marking a delivered entry again is fine.
    async fn mark_delivered(&self, id: OutboxId) -> Result<(), StoreError>;

    /// Records a failed delivery of a pending entry and when to try again.
    async fn mark_failed(&self, id: OutboxId, next_attempt_at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Gives up on a pending entry after a failed delivery.
    async fn mark_dead(&self, id: OutboxId, error: &str) -> Result<(), StoreError>;

    /// Dead entries of `sink`, oldest event first.
    async fn list_dead(&self, sink: &SinkName, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Makes every dead entry of `sink` pending again, due at `now`, with its attempts reset.
    /// Returns how many were revived.
    async fn retry_dead(&self, sink: &SinkName, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Makes one dead entry pending again, due at `now`, with its attempts reset. Returns the
    /// state the entry was in (`None` when there is no such entry); only a dead entry changes.
    async fn retry_dead_entry(&self, id: OutboxId, now: DateTime<Utc>) -> Result<Option<OutboxState>, StoreError>;

    /// How many entries of `sink` are pending and how old the oldest one's event is.
    async fn backlog(&self, sink: &SinkName) -> Result<OutboxBacklog, StoreError>;
}

/// When a lease taken at `now` ends.
pub(crate) fn lease_end(now: DateTime<Utc>, lease: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

/// The error for a transition asked of an entry that is missing or in another state.
pub(crate) fn not_pending(id: OutboxId, state: Option<OutboxState>) -> StoreError {
    match state {
        None => StoreError::Conflict {
            message: format!("outbox entry {id} does not exist"),
        },
        Some(st) => StoreError::Conflict {
            message: format!("outbox entry {id} is {}, not pending", st.as_str()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_names_are_short_lowercase_words() {
        assert!(SinkName::new("slack").is_ok());
        assert!(SinkName::new("webhook-audit_2").is_ok());
        for bad in ["", "Slack", "a b", "x/y", &"a".repeat(65)] {
            assert!(SinkName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for st in [OutboxState::Pending, OutboxState::Delivered, OutboxState::Dead] {
            assert_eq!(OutboxState::parse(st.as_str()), Some(st));
        }
        assert_eq!(OutboxState::parse("gone"), None);
    }
}
