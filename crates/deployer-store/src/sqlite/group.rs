//! Group commit of deployment updates on SQLite.
//!
//! SQLite has one writer, and every write transaction is a handful of round trips to the
//! connection's worker thread (`BEGIN IMMEDIATE`, the update, the events and their outbox
//! entries, `COMMIT`). Under load those round trips, not SQLite, bound how many deployments
//! can record their phases per second. So updates are handed to one committer task, which
//! writes every update that is waiting when it starts a transaction in that one transaction:
//! when updates arrive one at a time nothing changes, and when a fleet of deployments records
//! its phases at once, dozens share a commit.
//!
//! Each caller still gets its own answer, given only after the transaction holding its update
//! is committed. An update of a deployment that does not exist changes nothing and fails
//! alone; when the shared transaction fails for any other reason, it is rolled back and each
//! of its updates is retried in a transaction of its own, so one bad update never fails
//! another.
//!
//! The committer runs on a task of its own, so a caller that stops waiting (a cancelled
//! request) cannot leave a transaction half written: an update handed over is committed or
//! rolled back whole.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use deployer_core::model::{DeploymentEvent, DeploymentId};
use deployer_core::ports::StoreError;

use super::{bind_deployment, write_events};
use crate::columns::DeploymentRow;
use crate::error::Scrubber;
use crate::outbox::SinkName;

/// The most updates one transaction holds; the rest wait for the next one.
const MAX_GROUP: usize = 128;

/// One deployment update waiting for the committer.
pub(super) struct Update {
    pub(super) id: DeploymentId,
    pub(super) row: DeploymentRow,
    pub(super) events: Vec<DeploymentEvent>,
    pub(super) sinks: Vec<SinkName>,
}

struct Job {
    update: Update,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle to the committer task; the task ends when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the committer on the current Tokio runtime, writing through `pool` (the store's
    /// one writer connection).
    pub(super) fn start(pool: SqlitePool, scrubber: Scrubber) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, scrubber, queue));
        Self { jobs }
    }

    /// Writes `update` and waits until the transaction holding it is committed.
    pub(super) async fn write(&self, update: Update) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable {
            message: "the history store's writer has stopped; restart the deployer".to_owned(),
        };
        self.jobs.send(Job { update, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(pool: SqlitePool, scrubber: Scrubber, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, MAX_GROUP).await > 0 {
        let results = if batch.len() == 1 {
            vec![alone(&pool, &scrubber, &batch[0].update).await]
        } else {
            match together(&pool, &scrubber, &batch).await {
                Ok(results) => results,
                Err(_) => {
                    let mut results = Vec::with_capacity(batch.len());
                    for job in &batch {
                        results.push(alone(&pool, &scrubber, &job.update).await);
                    }
                    results
                }
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            // A caller that stopped waiting needs no answer; its update stands.
            let _ = job.reply.send(result);
        }
    }
}

/// What an update did inside a transaction.
enum Applied {
    Written,
    NoSuchDeployment,
}

fn no_such_deployment(id: DeploymentId) -> StoreError {
    StoreError::Internal {
        message: format!("updating deployment {id}: no such deployment"),
    }
}

async fn begin(
    pool: &SqlitePool,
    scrubber: &Scrubber,
    doing: &str,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| scrubber.store_error(doing, &e))
}

/// Writes one update inside `tx`.
async fn apply(
    tx: &mut Transaction<'static, Sqlite>,
    scrubber: &Scrubber,
    update: &Update,
) -> Result<Applied, StoreError> {
    let doing = format!("updating deployment {}", update.id);
    let updated = bind_deployment(
        sqlx::query(
            "UPDATE deployments SET release_id = ?, region = ?, cluster = ?, file = ?, status = ?, phase = ?, \
             method = ?, idempotency_key = ?, requested_by = ?, created_at = ?, updated_at = ?, finished_at = ?, \
             commit_sha = ?, record = ? WHERE id = ?",
        ),
        &update.row,
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| scrubber.store_error(&doing, &e))?
    .rows_affected();
    if updated == 0 {
        return Ok(Applied::NoSuchDeployment);
    }
    write_events(tx, scrubber, &update.sinks, update.id, &update.events).await?;
    Ok(Applied::Written)
}

/// One update in a transaction of its own.
async fn alone(pool: &SqlitePool, scrubber: &Scrubber, update: &Update) -> Result<(), StoreError> {
    let doing = format!("updating deployment {}", update.id);
    let mut tx = begin(pool, scrubber, &doing).await?;
    match apply(&mut tx, scrubber, update).await? {
        Applied::Written => tx.commit().await.map_err(|e| scrubber.store_error(&doing, &e)),
        Applied::NoSuchDeployment => {
            tx.rollback().await.map_err(|e| scrubber.store_error(&doing, &e))?;
            Err(no_such_deployment(update.id))
        }
    }
}

/// Every update of `batch` in one transaction; an error means nothing was written.
async fn together(
    pool: &SqlitePool,
    scrubber: &Scrubber,
    batch: &[Job],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let doing = format!("updating {} deployments", batch.len());
    let mut tx = begin(pool, scrubber, &doing).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // An update that matched no row changed nothing: the others can still commit.
        results.push(match apply(&mut tx, scrubber, &job.update).await? {
            Applied::Written => Ok(()),
            Applied::NoSuchDeployment => Err(no_such_deployment(job.update.id)),
        });
    }
    tx.commit().await.map_err(|e| scrubber.store_error(&doing, &e))?;
    Ok(results)
}
