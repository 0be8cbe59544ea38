//! The delivery worker: one per sink, it claims due outbox entries, delivers them in order
//! per target and records the outcome.
//!
//! # Ordering and retries
//! Entries are claimed oldest event first and grouped by [`OrderingKey`] (the target). Within
//! a key they are delivered one after another; a retryable failure marks the entry failed with
//! its next attempt time (exponential backoff with jitter, at least the `Retry-After` the
//! target asked for) and holds back the later entries of that key, which stay claimed in
//! memory, until the failed one is delivered or given up on. Other keys go on. A permanent
//! error, or a retryable one on the `max_attempts`-th try, marks the entry dead with the error,
//! and the key goes on with its next entry.
//!
//! A `Retry-After` pauses the whole sink for that long: a rate-limited webhook or Slack
//! workspace refuses the next request too, whatever its target.
//!
//! # What it never does
//! It never writes deployments and never blocks them: the executor only writes events and
//! outbox entries, in its own transaction, and this worker only reads and settles entries. A
//! store that fails makes the worker wait a poll interval and try again; an outcome it could
//! not record is recorded first on the next round (so nothing is delivered twice because of
//! it, nor out of order).
//!
//! # After a restart
//! The hold on a key lives in this worker's memory, and the outbox keeps the order too: a
//! claim leaves out an entry while an earlier pending entry of its target is not due (leased
//! by a worker that died, or failed and waiting for its retry time). So after a crash a
//! target's events wait for the dead worker's leases to end and then go out in order; other
//! targets are not held up.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use deployer_core::ports::{Clock, StoreError, SystemClock};

use crate::backoff::Backoff;
use crate::delivery::{Delivered, DeliveryError, Sink};
use crate::outbox::{ItemId, OrderingKey, OutboxItem, OutboxSource, SinkName};

/// How long a key stays held back by a failed entry that does not come back once its retry
/// time has passed (taken by another worker, for example).
const BLOCK_GRACE: Duration = Duration::from_secs(300);

/// How a worker retries and polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Deliveries of one entry before it is marked dead (at least 1).
    pub max_attempts: u32,
    /// The retry schedule.
    pub backoff: Backoff,
    /// How often to look for due entries when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Entries claimed at once.
    pub batch_size: usize,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
    /// A delivery taking longer than this counts as a retryable failure.
    pub delivery_timeout: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            backoff: Backoff::default(),
            poll_interval: Duration::from_secs(1),
            batch_size: 32,
            max_retry_after: Duration::from_secs(3600),
            delivery_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of one worker, for metrics. Every field only grows except `backlog`.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Events delivered.
    pub delivered: AtomicU64,
    /// Events the sink is configured not to send (counted as settled).
    pub skipped: AtomicU64,
    /// Failed delivery attempts (each retry counts).
    pub failed: AtomicU64,
    /// Entries given up on.
    pub dead: AtomicU64,
    /// Entries claimed and not yet settled, plus targets held back by a failed entry.
    pub backlog: AtomicU64,
    /// Outbox operations that failed.
    pub store_errors: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// See [`SinkCounters::delivered`].
    pub delivered: u64,
    /// See [`SinkCounters::skipped`].
    pub skipped: u64,
    /// See [`SinkCounters::failed`].
    pub failed: u64,
    /// See [`SinkCounters::dead`].
    pub dead: u64,
    /// See [`SinkCounters::backlog`].
    pub backlog: u64,
    /// See [`SinkCounters::store_errors`].
    pub store_errors: u64,
}

impl SinkCounters {
    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            delivered: self.delivered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            backlog: self.backlog.load(Ordering::Relaxed),
            store_errors: self.store_errors.load(Ordering::Relaxed),
        }
    }
}

/// The outcome of a delivery, to be recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settlement {
    Delivered(Delivered),
    Failed { next: DateTime<Utc>, error: String },
    Dead { error: String },
}

/// A claimed entry, with its outcome once known but not yet recorded.
#[derive(Debug)]
struct Held {
    item: OutboxItem,
    settlement: Option<Settlement>,
}

/// A key held back until its failed entry `seq` is claimed again.
#[derive(Debug, Clone, Copy)]
struct Block {
    seq: i64,
    until: DateTime<Utc>,
}

/// The worker's memory between rounds.
#[derive(Debug, Default)]
struct State {
    queues: BTreeMap<OrderingKey, BTreeMap<(i64, ItemId), Held>>,
    blocked: HashMap<OrderingKey, Block>,
    paused_until: Option<DateTime<Utc>>,
}

/// What a round asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// More may be due right away.
    Again,
    /// Sleep until woken or this long has passed.
    Wait(Duration),
}

/// The delivery worker of one sink; see the module documentation.
pub struct Worker<O: ?Sized, S: ?Sized> {
    outbox: Arc<O>,
    sink: Arc<S>,
    settings: WorkerSettings,
    counters: Arc<SinkCounters>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
}

impl<O, S> Worker<O, S>
where
    O: OutboxSource + ?Sized,
    S: Sink + ?Sized,
{
    /// A worker delivering `sink`'s entries of `outbox`.
    pub fn new(outbox: Arc<O>, sink: Arc<S>, settings: WorkerSettings) -> Self {
        Self {
            outbox,
            sink,
            settings,
            counters: Arc::new(SinkCounters::default()),
            wake: Arc::new(Notify::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses another clock for the times written to the outbox.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The worker's counters, to be read by the metrics endpoint.
    pub fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }

    /// A handle that wakes the worker before its poll interval ends, for example right after
    /// new events were written.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The sink's name.
    pub fn sink_name(&self) -> &SinkName {
        self.sink.name()
    }

    /// Delivers until `shutdown` completes. A delivery in flight when it does is abandoned;
    /// its entry stays claimed until its lease ends and is delivered again then.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut state = State::default();
        tokio::pin!(shutdown);
        info!(message = "Delivery worker started.", sink = %self.sink.name());
        loop {
            let next = tokio::select! {
                biased;
                () = &mut shutdown => break,
                next = self.round(&mut state) => next,
            };
            let wait = match next {
                Ok(Next::Again) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Next::Wait(wait)) => wait,
                Err(err) => {
                    self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(message = "Outbox unavailable; will try again.", sink = %self.sink.name(), error = %err);
                    self.settings.poll_interval
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        info!(message = "Delivery worker stopped.", sink = %self.sink.name());
    }

    /// One round: claim, deliver what may go, record outcomes.
    async fn round(&self, state: &mut State) -> Result<Next, StoreError> {
        let now = self.clock.now();
        if state.paused_until.is_some_and(|p| p <= now) {
            state.paused_until = None;
        }
        let claimed = self
            .outbox
            .claim_due(self.sink.name(), self.settings.batch_size.max(1), now)
            .await?;
        let full = claimed.len() >= self.settings.batch_size.max(1);
        for item in claimed {
            let key = item.key();
            if state.blocked.get(&key).is_some_and(|b| b.seq == item.event.seq) {
                state.blocked.remove(&key);
            }
            let queue = state.queues.entry(key).or_default();
            let slot = (item.event.seq, item.id);
            match queue.get_mut(&slot) {
                Some(held) => held.item.lease_until = item.lease_until,
                None => {
                    queue.insert(slot, Held { item, settlement: None });
                }
            }
        }

        let mut progressed = false;
        let keys: Vec<OrderingKey> = state.queues.keys().cloned().collect();
        let result = self.deliver_keys(state, &keys, &mut progressed).await;
        state.queues.retain(|_, q| !q.is_empty());
        let held: usize = state.queues.values().map(BTreeMap::len).sum();
        let backlog = held + state.blocked.len();
        self.counters
            .backlog
            .store(u64::try_from(backlog).unwrap_or(u64::MAX), Ordering::Relaxed);
        result?;

        if full && progressed {
            return Ok(Next::Again);
        }
        Ok(Next::Wait(self.next_wait(state)))
    }

    /// Delivers the heads of each key's queue as far as they may go.
    async fn deliver_keys(
        &self,
        state: &mut State,
        keys: &[OrderingKey],
        progressed: &mut bool,
    ) -> Result<(), StoreError> {
        for key in keys {
            let now = self.clock.now();
            if let Some(block) = state.blocked.get(key) {
                if now < add(block.until, BLOCK_GRACE) {
                    continue;
                }
                warn!(message = "Failed entry did not come back; releasing its target.", sink = %self.sink.name(), key = %key, seq = block.seq);
                state.blocked.remove(key);
            }
            loop {
                if state.paused_until.is_some_and(|p| self.clock.now() < p) {
                    return Ok(());
                }
                let Some(queue) = state.queues.get_mut(key) else { break };
                let Some(mut entry) = queue.first_entry() else { break };
                let held = entry.get_mut();
                if held.settlement.is_none() {
                    if held.item.lease_until <= self.clock.now() {
                        // Our claim ran out: the entry is due again and the next claim returns
                        // it, still ahead of the later entries of this key.
                        entry.remove();
                        break;
                    }
                    let settlement = self.deliver(&held.item, &mut state.paused_until).await;
                    held.settlement = Some(settlement);
                }
                let Some(settlement) = held.settlement.clone() else {
                    break;
                };
                let item = held.item.clone();
                match self.record(&item, &settlement).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict { message }) => {
                        // Settled or reclaimed elsewhere: nothing more to do with it here.
                        warn!(message = "Outbox entry changed under the worker.", sink = %self.sink.name(), item = %item.id, detail = %message);
                        entry.remove();
                        continue;
                    }
                    Err(err) => return Err(err),
                }
                entry.remove();
                *progressed = true;
                if let Settlement::Failed { next, .. } = settlement {
                    state.blocked.insert(
                        key.clone(),
                        Block {
                            seq: item.event.seq,
                            until: next,
                        },
                    );
                    break;
                }
            }
        }
        Ok(())
    }

    /// Sends one item and decides what it ended with.
    async fn deliver(&self, item: &OutboxItem, paused_until: &mut Option<DateTime<Utc>>) -> Settlement {
        let outcome = match tokio::time::timeout(self.settings.delivery_timeout, self.sink.deliver(item)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DeliveryError::retryable(
                "timeout",
                format!(
                    "delivery took longer than {}",
                    humantime::format_duration(self.settings.delivery_timeout)
                ),
            )),
        };
        let err = match outcome {
            Ok(delivered) => {
                debug!(message = "Event delivered.", sink = %self.sink.name(), item = %item.id, seq = item.event.seq);
                return Settlement::Delivered(delivered);
            }
            Err(err) => err,
        };
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let attempt = item.attempts.saturating_add(1);
        let error = format!("{} (attempt {attempt}): {}", err.kind, err.message);
        if !err.retryable || attempt >= self.settings.max_attempts.max(1) {
            error!(
                message = "Giving up on an event.",
                sink = %self.sink.name(), item = %item.id, seq = item.event.seq, attempt,
                retryable = err.retryable, error = %err.message, kind = err.kind,
            );
            return Settlement::Dead { error };
        }
        let now = self.clock.now();
        let retry_after = err.retry_after.map(|d| d.min(self.settings.max_retry_after));
        if let Some(wait) = retry_after {
            let until = add(now, wait);
            *paused_until = Some(paused_until.map_or(until, |p| p.max(until)));
        }
        let delay = self.settings.backoff.delay(attempt, fastrand::f64(), retry_after);
        warn!(
            message = "Delivery failed; will retry.",
            sink = %self.sink.name(), item = %item.id, seq = item.event.seq, attempt,
            retry_in = %humantime::format_duration(delay), error = %err.message, kind = err.kind,
        );
        Settlement::Failed {
            next: add(now, delay),
            error,
        }
    }

    /// Writes an outcome to the outbox and counts it.
    async fn record(&self, item: &OutboxItem, settlement: &Settlement) -> Result<(), StoreError> {
        match settlement {
            Settlement::Delivered(how) => {
                self.outbox.mark_delivered(item.id).await?;
                let counter = match how {
                    Delivered::Sent => &self.counters.delivered,
                    Delivered::Skipped => &self.counters.skipped,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Settlement::Failed { next, error } => self.outbox.mark_failed(item.id, *next, error).await?,
            Settlement::Dead { error } => {
                self.outbox.mark_dead(item.id, error).await?;
                self.counters.dead.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// How long to sleep after a round: the poll interval, or less when a retry or the end
    /// of a pause comes sooner.
    fn next_wait(&self, state: &State) -> Duration {
        let now = self.clock.now();
        let mut wait = self.settings.poll_interval;
        let soonest = state
            .blocked
            .values()
            .map(|b| b.until)
            .chain(state.paused_until)
            .filter(|t| *t > now)
            .min();
        if let Some(t) = soonest {
            wait = wait.min((t - now).to_std().unwrap_or_default());
        }
        wait
    }
}

/// `t + d`, saturating.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// A worker started by [`spawn_workers`].
pub struct RunningWorker {
    /// The sink it delivers to.
    pub sink: SinkName,
    /// Its counters, for metrics.
    pub counters: Arc<SinkCounters>,
    /// Wakes it before its poll interval ends (after new events were written).
    pub waker: Arc<Notify>,
    /// Its task; it ends once its shutdown future completes.
    pub handle: tokio::task::JoinHandle<()>,
}

/// Starts one worker per sink on the current tokio runtime. `shutdown` is called once per
/// worker and its future stops that worker (e.g. `|| token.clone().cancelled_owned()` with a
/// `tokio_util` cancellation token).
pub fn spawn_workers<F>(
    outbox: Arc<dyn OutboxSource>,
    sinks: Vec<Arc<dyn Sink>>,
    settings: &WorkerSettings,
    shutdown: impl Fn() -> F,
) -> Vec<RunningWorker>
where
    F: Future<Output = ()> + Send + 'static,
{
    sinks
        .into_iter()
        .map(|sink| {
            let worker = Worker::new(Arc::clone(&outbox), sink, settings.clone());
            RunningWorker {
                sink: worker.sink_name().clone(),
                counters: worker.counters(),
                waker: worker.waker(),
                handle: tokio::spawn(worker.run(shutdown())),
            }
        })
        .collect()
}
