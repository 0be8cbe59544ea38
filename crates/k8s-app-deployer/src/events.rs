//! Event delivery: the store's outbox feeding the sink workers, which run as long as the
//! service and are flushed and stopped with it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deployer_core::ports::StoreError;
use deployer_sinks::{ItemId, OutboxItem, OutboxSource, SinkName};
use deployer_store::HistoryStore;
use tokio::sync::watch;

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
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// How often the outbox is looked at while it is flushed at shutdown.
const FLUSH_CHECK_EVERY: Duration = Duration::from_millis(100);
/// A flush at shutdown gives up when the backlog has not shrunk for this long (a sink that is
/// down keeps its events for the next start).
const FLUSH_STALL: Duration = Duration::from_secs(1);

/// The running event delivery: one worker per sink and the backlog poller, owned here and
/// stopped by [`Delivery::shutdown`] (or when this value is dropped).
pub struct Delivery {
    workers: Vec<deployer_sinks::RunningWorker>,
    poller: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    outbox: Option<Arc<dyn deployer_store::OutboxStore>>,
    names: Vec<deployer_store::SinkName>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// A future that completes once `stop` says so (or its sender is gone).
fn stopped(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut receiver = stop.subscribe();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// Starts one delivery worker per configured sink and builds the metrics registry: the
/// service's metrics, the workers' counters, and the outbox backlog of each sink (read from
/// the store every five seconds). Returns the registry, ready to serve, the handles that feed
/// the service's metrics, and the running delivery, to be shut down with the service.
pub fn start_delivery(
    history: &Arc<dyn HistoryStore>,
    sinks: deployer_sinks::settings::BuiltSinks,
    names: Vec<deployer_store::SinkName>,
    clock: Arc<dyn deployer_core::ports::Clock>,
) -> (
    prometheus_client::registry::Registry,
    deployer_server::metrics::Metrics,
    Delivery,
) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = deployer_server::metrics::Metrics::register(&mut registry);
    let (stop, _) = watch::channel(false);
    if sinks.sinks.is_empty() {
        let idle = Delivery {
            workers: Vec::new(),
            poller: None,
            stop,
            outbox: None,
            names: Vec::new(),
        };
        return (registry, metrics, idle);
    }
    let outbox = Arc::new(StoreOutbox(Arc::clone(history)));
    let workers = deployer_sinks::spawn_workers(outbox, sinks.sinks, &sinks.worker, || stopped(&stop));
    tracing::info!(message = "Event delivery started.", sinks = workers.len());
    deployer_sinks::metrics::SinkMetrics::of_workers(&workers).register(&mut registry);
    let store: Arc<dyn deployer_store::OutboxStore> = history.clone();
    let poller = tokio::spawn(metrics.outbox.clone().poll(
        Arc::clone(&store),
        names.clone(),
        clock,
        BACKLOG_EVERY,
        stopped(&stop),
    ));
    let delivery = Delivery {
        workers,
        poller: Some(poller),
        stop,
        outbox: Some(store),
        names,
    };
    (registry, metrics, delivery)
}

impl Delivery {
    /// Delivers what is due, then stops: wakes every worker, waits until the outbox of every
    /// sink is empty, or has not shrunk for a second, or `within` has passed, then stops the
    /// workers and the poller and waits for them to end. Whatever is left is delivered after
    /// the next start (the outbox keeps it). Returns whether the outbox was empty.
    pub async fn shutdown(mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let flushed = self.flush(deadline).await;
        self.stop.send_replace(true);
        let mut tasks: Vec<tokio::task::JoinHandle<()>> = self.workers.drain(..).map(|w| w.handle).collect();
        tasks.extend(self.poller.take());
        for task in tasks {
            // A worker stops at its next await point; one stuck past the deadline is dropped
            // with the runtime, its leased entries retried after the next start.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now()) + FLUSH_STALL;
            if tokio::time::timeout(left, task).await.is_err() {
                tracing::warn!(message = "A delivery worker did not stop in time.");
            }
        }
        if !self.names.is_empty() {
            tracing::info!(message = "Event delivery stopped.", flushed);
        }
        flushed
    }

    /// Wakes the workers until the outbox is empty; see [`Delivery::shutdown`].
    async fn flush(&self, deadline: tokio::time::Instant) -> bool {
        let Some(outbox) = &self.outbox else {
            return true;
        };
        let mut least: Option<u64> = None;
        let mut shrunk_at = tokio::time::Instant::now();
        loop {
            let mut pending = 0u64;
            for name in &self.names {
                match outbox.backlog(name).await {
                    Ok(backlog) => pending += backlog.pending,
                    Err(error) => {
                        tracing::warn!(message = "Cannot read the outbox while stopping.", error = %error);
                        return false;
                    }
                }
            }
            if pending == 0 {
                return true;
            }
            let now = tokio::time::Instant::now();
            if least.is_none_or(|l| pending < l) {
                least = Some(pending);
                shrunk_at = now;
            }
            if now >= deadline || now.duration_since(shrunk_at) >= FLUSH_STALL {
                tracing::info!(message = "Events left for the next start.", pending);
                return false;
            }
            for worker in &self.workers {
                worker.waker.notify_one();
            }
            tokio::time::sleep(FLUSH_CHECK_EVERY).await;
        }
    }
}
