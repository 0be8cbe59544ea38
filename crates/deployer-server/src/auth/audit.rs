//! Writing the audit log without ever holding up a request.
//!
//! [`AuditLog::record`] puts the entry on a bounded channel and returns at once; one task
//! appends the entries to the store in order. When the store is slower than the requests and
//! the channel is full, the entry is dropped and counted ([`AuditLog::dropped`]), and a
//! warning is logged: an audit store outage never fails or slows down the API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deployer_store::{AuditEntry, AuditStore};
use tokio::sync::mpsc;

/// How many entries wait for the store at most, by default.
pub const DEFAULT_CAPACITY: usize = 4096;
/// The most entries written in one batch.
const BATCH: usize = 128;

/// Counters shared by the handles and the writer task.
#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// A handle on the audit log (cheap to clone).
#[derive(Clone)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<AuditEntry>>,
    store: Option<Arc<dyn AuditStore>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.tx.is_some())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl AuditLog {
    /// No store: entries are only logged at `debug` level, and `GET /api/v1/audit` answers 503.
    pub fn disabled() -> Self {
        Self {
            tx: None,
            store: None,
            counters: Arc::new(Counters::default()),
        }
    }

    /// Writes entries to `store` from a task of the current runtime, keeping at most
    /// `capacity` waiting.
    pub fn spawn(store: Arc<dyn AuditStore>, capacity: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<AuditEntry>(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let writer_store = store.clone();
        let writer_counters = counters.clone();
        tokio::spawn(async move {
            // Every entry waiting is written in one batch (one transaction on SQLite).
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(error) = writer_store.append_audit_batch(&batch).await {
                    let count = batch.len() as u64;
                    let before = writer_counters.failed.fetch_add(count, Ordering::Relaxed);
                    let n = before + count;
                    // Warn at 1, 2, 4, 8… failed entries.
                    if before.checked_next_power_of_two() != n.checked_next_power_of_two() || n.is_power_of_two() {
                        tracing::warn!(message = "Cannot write to the audit log.", failed = n, %error);
                    }
                }
                batch.clear();
            }
        });
        Self {
            tx: Some(tx),
            store: Some(store),
            counters,
        }
    }

    /// Queues `entry` for the store; never waits. A full queue drops the entry and counts it.
    pub fn record(&self, entry: AuditEntry) {
        tracing::debug!(
            message = "Audit entry.",
            identity = %entry.identity,
            action = %entry.action,
            target = entry.target.as_deref().unwrap_or(""),
            outcome = entry.outcome.as_str(),
            status = entry.status_code.unwrap_or(0),
            detail = entry.detail.as_deref().unwrap_or(""),
        );
        let Some(tx) = &self.tx else { return };
        if tx.try_send(entry).is_err() {
            let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    message = "The audit log is falling behind; entries were dropped.",
                    dropped = n
                );
            }
        }
    }

    /// How many entries were dropped because the store fell behind.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// How many entries the store refused.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// The store to read the log from, when there is one.
    pub fn reader(&self) -> Option<Arc<dyn AuditStore>> {
        self.store.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use chrono::Utc;
    use deployer_core::ports::StoreError;
    use deployer_store::{AuditFilter, AuditOutcome, AuditPage};
    use std::time::Duration;

    /// A store that takes its time, or never answers.
    struct Stuck;

    #[async_trait]
    impl AuditStore for Stuck {
        async fn append_audit(&self, _: &AuditEntry) -> Result<i64, StoreError> {
            std::future::pending().await
        }
        async fn query_audit(&self, _: &AuditFilter, _: &AuditPage) -> Result<Vec<AuditEntry>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_stuck_store_never_blocks_recording_and_drops_are_counted() {
        let log = AuditLog::spawn(Arc::new(Stuck), 4);
        let started = std::time::Instant::now();
        for _ in 0..100 {
            log.record(AuditEntry::new(Utc::now(), "anonymous", "read", AuditOutcome::Denied));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        // One entry is being written (forever), four wait; the rest are dropped.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(log.dropped() >= 95, "dropped {}", log.dropped());
    }
}
