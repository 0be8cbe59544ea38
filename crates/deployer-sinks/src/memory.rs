//! An in-memory [`OutboxSource`] with the store's semantics (ordered claims, leases, retry
//! times, dead entries), for tests and for running the sinks without a database.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::DeploymentEvent;
use deployer_core::ports::StoreError;

use crate::outbox::{ItemId, OrderingKey, OutboxItem, OutboxSource, SinkName};

/// Where an in-memory entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Waiting to be delivered or retried.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on.
    Dead,
}

/// A snapshot of one entry, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySnapshot {
    /// Its id.
    pub id: ItemId,
    /// The sink.
    pub sink: SinkName,
    /// Its state.
    pub state: EntryState,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// When it is next due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last error.
    pub last_error: Option<String>,
    /// The event.
    pub event: DeploymentEvent,
}

/// The in-memory outbox.
#[derive(Debug)]
pub struct MemoryOutbox {
    lease: Duration,
    entries: Mutex<Vec<EntrySnapshot>>,
}

impl MemoryOutbox {
    /// An empty outbox whose claims lease entries for `lease`.
    pub fn new(lease: Duration) -> Self {
        Self {
            lease,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Queues `event` for `sink`, due at `now`. Events are claimed in the order of their
    /// `seq`, so give each event a distinct, increasing `seq` as the store does.
    pub fn enqueue(&self, sink: &SinkName, event: DeploymentEvent, now: DateTime<Utc>) -> ItemId {
        let mut entries = self.lock();
        let id = ItemId(i64::try_from(entries.len()).unwrap_or(i64::MAX).saturating_add(1));
        entries.push(EntrySnapshot {
            id,
            sink: sink.clone(),
            state: EntryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            event,
        });
        id
    }

    /// Every entry of `sink`, in event order.
    pub fn entries(&self, sink: &SinkName) -> Vec<EntrySnapshot> {
        let mut out: Vec<_> = self.lock().iter().filter(|e| &e.sink == sink).cloned().collect();
        out.sort_by_key(|e| (e.event.seq, e.id));
        out
    }

    /// Whether every entry of `sink` is delivered or dead.
    pub fn settled(&self, sink: &SinkName) -> bool {
        self.lock()
            .iter()
            .filter(|e| &e.sink == sink)
            .all(|e| e.state != EntryState::Pending)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EntrySnapshot>> {
        // A poisoned lock only means a test thread panicked while holding it; the data is
        // still consistent because every update is a single assignment.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, id: ItemId, f: impl FnOnce(&mut EntrySnapshot)) -> Result<(), StoreError> {
        let mut entries = self.lock();
        let entry = entries
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| StoreError::Conflict {
                message: format!("outbox entry {id} does not exist"),
            })?;
        if entry.state != EntryState::Pending {
            return Err(StoreError::Conflict {
                message: format!("outbox entry {id} is not pending"),
            });
        }
        f(entry);
        Ok(())
    }
}

#[async_trait]
impl OutboxSource for MemoryOutbox {
    async fn claim_due(
        &self,
        sink: &SinkName,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let until = chrono::Duration::from_std(self.lease)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        let mut entries = self.lock();
        // As in the store: an entry waits while an earlier pending entry of its target is not due.
        let mut held_from: std::collections::HashMap<OrderingKey, i64> = std::collections::HashMap::new();
        for e in entries
            .iter()
            .filter(|e| &e.sink == sink && e.state == EntryState::Pending && e.next_attempt_at > now)
        {
            let seq = held_from.entry(OrderingKey::of(&e.event)).or_insert(e.event.seq);
            *seq = (*seq).min(e.event.seq);
        }
        let mut due: Vec<&mut EntrySnapshot> = entries
            .iter_mut()
            .filter(|e| &e.sink == sink && e.state == EntryState::Pending && e.next_attempt_at <= now)
            .filter(|e| {
                held_from
                    .get(&OrderingKey::of(&e.event))
                    .is_none_or(|held| *held > e.event.seq)
            })
            .collect();
        due.sort_by_key(|e| (e.event.seq, e.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|e| {
                e.next_attempt_at = until;
                OutboxItem {
                    id: e.id,
                    attempts: e.attempts,
                    lease_until: until,
                    event: e.event.clone(),
                }
            })
            .collect())
    }

    async fn mark_delivered(&self, id: ItemId) -> Result<(), StoreError> {
        self.update(id, |e| e.state = EntryState::Delivered)
    }

    async fn mark_failed(&self, id: ItemId, next_attempt_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.update(id, |e| {
            e.attempts += 1;
            e.next_attempt_at = next_attempt_at;
            e.last_error = Some(error.to_owned());
        })
    }

    async fn mark_dead(&self, id: ItemId, error: &str) -> Result<(), StoreError> {
        self.update(id, |e| {
            e.attempts += 1;
            e.state = EntryState::Dead;
            e.last_error = Some(error.to_owned());
        })
    }
}
