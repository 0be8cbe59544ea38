//! The queue itself: per-target FIFOs, one worker per busy target, a global concurrency bound.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use deployer_core::model::{ClusterKey, DeploymentId, DeploymentRecord, Target};
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::finished::Finished;
use crate::config::QueueSettings;
use crate::engine::Engine;
use crate::hub::Hub;

/// Why a deployment cannot be queued now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue holds `capacity` deployments already.
    #[error("the deployment queue is full ({capacity} deployments waiting or running)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// The target has `per_target` deployments waiting already.
    #[error("target `{target}` already has {limit} deployments waiting or running")]
    TargetFull {
        /// The target.
        target: String,
        /// The configured limit.
        limit: usize,
    },
    /// The service is shutting down.
    #[error("the service is shutting down")]
    ShuttingDown,
}

impl EnqueueError {
    /// A stable label for metrics and error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            EnqueueError::Full { .. } => "queue_full",
            EnqueueError::TargetFull { .. } => "target_queue_full",
            EnqueueError::ShuttingDown => "shutting_down",
        }
    }
}

/// A place in the queue, held from before the deployment is stored until it is queued.
#[derive(Debug)]
pub struct Reservation {
    slot: OwnedSemaphorePermit,
}

/// A snapshot of the queue, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Deployments waiting or running.
    pub queued: usize,
    /// Targets with work.
    pub busy_targets: usize,
}

struct Job {
    id: DeploymentId,
    /// The record exactly as stored, when whoever queued the job had just stored it: the
    /// worker then starts without reading it back. Taken by the first run.
    stored: Option<Box<DeploymentRecord>>,
    _slot: Option<OwnedSemaphorePermit>,
}

struct Inner {
    engine: Arc<dyn Engine>,
    hub: Arc<Hub>,
    settings: QueueSettings,
    targets: Mutex<HashMap<Target, VecDeque<Job>>>,
    slots: Arc<Semaphore>,
    running: Arc<Semaphore>,
    /// Running deployments per cluster, bounded by `cluster_concurrency`.
    clusters: Mutex<HashMap<ClusterKey, Arc<Semaphore>>>,
    /// Told about every deployment a worker carried to its end.
    finished: OnceLock<Arc<dyn Finished>>,
    tracker: TaskTracker,
    /// Stop taking new deployments.
    stop: CancellationToken,
    /// Drop running deployments.
    abort: CancellationToken,
}

/// The per-target queue (cheap to clone).
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("stats", &self.stats()).finish()
    }
}

const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl Queue {
    /// An empty queue whose workers run deployments with `engine`.
    pub fn new(engine: Arc<dyn Engine>, hub: Arc<Hub>, settings: QueueSettings) -> Self {
        let inner = Inner {
            engine,
            hub,
            slots: Arc::new(Semaphore::new(settings.capacity.max(1))),
            running: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            targets: Mutex::new(HashMap::new()),
            clusters: Mutex::new(HashMap::new()),
            finished: OnceLock::new(),
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    fn targets(&self) -> MutexGuard<'_, HashMap<Target, VecDeque<Job>>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.inner.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets who hears about every deployment a worker carried to its end (automatic
    /// rollbacks); only the first call has an effect.
    pub fn on_finished(&self, hook: Arc<dyn Finished>) {
        let _ = self.inner.finished.set(hook);
    }

    /// The semaphore bounding the deployments running on `target`'s cluster.
    fn cluster_slots(&self, target: &Target) -> Arc<Semaphore> {
        let mut clusters = self.inner.clusters.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            clusters
                .entry(target.cluster_key())
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.settings.cluster_concurrency.max(1)))),
        )
    }

    /// Reserves a place for a deployment to `target`, before it is stored.
    ///
    /// # Errors
    /// [`EnqueueError`] when the queue or the target's queue is full, or the service stops.
    pub fn reserve(&self, target: &Target) -> Result<Reservation, EnqueueError> {
        if self.inner.stop.is_cancelled() {
            return Err(EnqueueError::ShuttingDown);
        }
        let waiting = self.targets().get(target).map_or(0, VecDeque::len);
        if waiting >= self.inner.settings.per_target {
            return Err(EnqueueError::TargetFull {
                target: target.to_string(),
                limit: self.inner.settings.per_target,
            });
        }
        let slot = Arc::clone(&self.inner.slots)
            .try_acquire_owned()
            .map_err(|_| EnqueueError::Full {
                capacity: self.inner.settings.capacity,
            })?;
        Ok(Reservation { slot })
    }

    /// Queues a deployment just stored as `record` behind the target's earlier ones.
    ///
    /// The record goes with the job only when the deployment can start at once (its target
    /// idle, a cluster slot and a work slot free), to save the worker reading it back. One that
    /// has to wait reads it when its turn comes, so that a long queue holds ids, not records.
    pub fn push(&self, target: Target, record: DeploymentRecord, reservation: Reservation) {
        let starts_now = self.inner.running.available_permits() > 0
            && self.cluster_slots(&target).available_permits() > 0
            && !self.targets().contains_key(&target);
        self.enqueue(
            target,
            Job {
                id: record.id,
                stored: starts_now.then(|| Box::new(record)),
                _slot: Some(reservation.slot),
            },
        );
    }

    /// Queues a deployment found unfinished at start-up. It takes a slot when one is free but
    /// is queued even when none is: stored work is never dropped.
    pub fn resume(&self, target: Target, id: DeploymentId) {
        let slot = Arc::clone(&self.inner.slots).try_acquire_owned().ok();
        self.enqueue(
            target,
            Job {
                id,
                stored: None,
                _slot: slot,
            },
        );
    }

    fn enqueue(&self, target: Target, job: Job) {
        let mut targets = self.targets();
        match targets.get_mut(&target) {
            Some(jobs) => jobs.push_back(job),
            None => {
                targets.insert(target.clone(), VecDeque::from([job]));
                let queue = self.clone();
                let span = tracing::info_span!("target_worker", target = %target);
                self.inner
                    .tracker
                    .spawn(async move { queue.work(target).await }.instrument(span));
            }
        }
    }

    /// The worker of one target: runs its deployments in order until none is left. The job
    /// being run stays at the front, so the target counts as busy until it is done.
    async fn work(self, target: Target) {
        loop {
            let next = self
                .targets()
                .get_mut(&target)
                .and_then(|jobs| jobs.front_mut().map(|j| (j.id, j.stored.take())));
            let Some((id, stored)) = next else {
                self.targets().remove(&target);
                return;
            };
            // The cluster's slot first: deployments waiting for a slow cluster hold no global
            // slot, so other clusters keep their full share of workers.
            let cluster_permit = tokio::select! {
                permit = self.cluster_slots(&target).acquire_owned() => permit,
                () = self.inner.stop.cancelled() => return,
            };
            let Ok(cluster_permit) = cluster_permit else { return };
            let permit = tokio::select! {
                permit = Arc::clone(&self.inner.running).acquire_owned() => permit,
                () = self.inner.stop.cancelled() => return,
            };
            let Ok(permit) = permit else { return };
            if self.inner.stop.is_cancelled() {
                return;
            }
            // Both slots bound the work of committing and applying; once the executor records
            // that it watches the rollout (waiting, mostly), the hub gives them back, so that
            // slow rollouts do not hold back the commits and applies of other targets. The
            // target itself stays busy until its deployment ends.
            self.inner
                .hub
                .hold_until_watching(id, Box::new((cluster_permit, permit)));
            let finished = self.run_one(id, stored).await;
            self.inner.hub.give_back(id);
            if !finished {
                return;
            }
            let mut targets = self.targets();
            let empty = targets.get_mut(&target).is_none_or(|jobs| {
                jobs.pop_front();
                jobs.is_empty()
            });
            if empty {
                targets.remove(&target);
                return;
            }
        }
    }

    /// Runs one deployment, retrying while the engine reports a retryable failure. Returns
    /// `false` when the service stopped before the run ended. `stored` is the record as
    /// stored, when known; a retry reads it again, since the failed run may have moved it on.
    async fn run_one(&self, id: DeploymentId, mut stored: Option<Box<DeploymentRecord>>) -> bool {
        let mut delay = RETRY_FIRST;
        loop {
            let span = tracing::info_span!("deployment", deployment_id = %id);
            let engine = &self.inner.engine;
            let run = match stored.take() {
                Some(record) => engine.carry(*record),
                None => engine.run(id),
            };
            let outcome = tokio::select! {
                r = AssertUnwindSafe(run.instrument(span)).catch_unwind() => match r {
                    Ok(r) => r,
                    Err(_) => {
                        // A bug in the engine must not block the target's later deployments.
                        tracing::error!(message = "Deployment run panicked; moving on to the next one.", deployment_id = %id);
                        self.inner.hub.publish(id);
                        return true;
                    }
                },
                () = self.inner.abort.cancelled() => {
                    tracing::warn!(message = "Deployment interrupted by shutdown; it resumes at the next start.", deployment_id = %id);
                    return false;
                }
            };
            match outcome {
                Ok(record) => {
                    self.inner.hub.publish(id);
                    if let Some(hook) = self.inner.finished.get() {
                        hook.finished(&record, self).await;
                    }
                    return true;
                }
                Err(error) if error.retryable() => {
                    tracing::warn!(message = "Deployment could not proceed; retrying.", deployment_id = %id, error = %error, retry_in = ?delay);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.inner.stop.cancelled() => return false,
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
                Err(error) => {
                    let detail = match &error {
                        deployer_core::error::DeployError::Internal { internal } => internal.as_str(),
                        _ => "",
                    };
                    tracing::error!(message = "Deployment run failed; moving on to the next one.", deployment_id = %id, error = %error, detail);
                    self.inner.hub.publish(id);
                    return true;
                }
            }
        }
    }

    /// How much work is queued.
    pub fn stats(&self) -> QueueStats {
        let targets = self.targets();
        QueueStats {
            queued: targets.values().map(VecDeque::len).sum(),
            busy_targets: targets.len(),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.stop.is_cancelled()
    }

    /// Stops taking deployments, waits up to `deadline` for the running ones, then drops
    /// those still running (they resume at the next start). Returns whether all ended in time.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.inner.stop.cancel();
        self.inner.tracker.close();
        let clean = tokio::time::timeout(deadline, self.inner.tracker.wait()).await.is_ok();
        if !clean {
            self.inner.abort.cancel();
            self.inner.tracker.wait().await;
        }
        clean
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use deployer_core::error::DeployError;
    use deployer_core::model::{AppFile, ClusterName, DeployRequest, Region};

    use super::*;

    /// Records the ids it runs; panics on the first one it is given.
    struct Recorder {
        ran: Mutex<Vec<DeploymentId>>,
        panic_on: DeploymentId,
    }

    #[async_trait]
    impl Engine for Recorder {
        async fn validate(&self, _: &DeployRequest) -> Result<(), DeployError> {
            Ok(())
        }

        async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
            self.ran.lock().unwrap_or_else(PoisonError::into_inner).push(id);
            if id == self.panic_on {
                panic!("engine bug");
            }
            Err(DeployError::Internal {
                internal: "no record in this double".to_owned(),
            })
        }
    }

    fn target() -> Target {
        Target {
            region: Region::new("r").unwrap_or_else(|e| panic!("{e}")),
            cluster: ClusterName::new("c").unwrap_or_else(|e| panic!("{e}")),
            file: AppFile::new("f").unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[tokio::test]
    async fn a_panicking_run_does_not_block_the_targets_later_deployments() {
        let now = chrono::Utc::now();
        let ids: Vec<DeploymentId> = (0..3).map(|_| DeploymentId::generate(now)).collect();
        let engine = Arc::new(Recorder {
            ran: Mutex::new(Vec::new()),
            panic_on: ids[0],
        });
        let queue = Queue::new(engine.clone(), Arc::new(Hub::new()), QueueSettings::default());
        for id in &ids {
            queue.resume(target(), *id);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while queue.stats().queued > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*engine.ran.lock().unwrap_or_else(PoisonError::into_inner), ids);
        assert_eq!(
            queue.stats(),
            QueueStats {
                queued: 0,
                busy_targets: 0
            }
        );
        assert!(queue.shutdown(Duration::from_secs(1)).await);
    }
}
