//! Group commit of deployment writes on SQLite.
//!
//! SQLite has one writer, and every write transaction is a handful of round trips to the
//! connection's worker thread (`BEGIN IMMEDIATE`, the insert or update, the events and their
//! outbox entries, `COMMIT`). Under load those round trips, not SQLite, bound how many
//! deployments can be accepted and record their phases per second. So inserts of new
//! deployments and updates are handed to one committer task, which writes every write that is
//! waiting when it starts a transaction in that one transaction: when writes arrive one at a
//! time nothing changes, and when a fleet of deployments is accepted or records its phases at
//! once, dozens share a commit, and accepting a request never waits for the writer connection
//! behind a transaction of updates.
//!
//! New deployments go first: each transaction takes the inserts waiting, then fills up with
//! updates, so accepting a request never waits behind a backlog of phase updates.
//!
//! Each caller still gets its own answer, given only after the transaction holding its write
//! is committed. An update of a deployment that does not exist changes nothing and fails
//! alone, and an insert whose idempotency key is taken answers with the deployment holding it;
//! when the shared transaction fails for any other reason, it is rolled back and each of its
//! writes is retried in a transaction of its own, so one bad write never fails another.
//!
//! The committer runs on a task of its own, so a caller that stops waiting (a cancelled
//! request) cannot leave a transaction half written: a write handed over is committed or
//! rolled back whole.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use deployer_core::model::{DeploymentEvent, DeploymentId};
use deployer_core::ports::{Inserted, StoreError};

use super::{bind_deployment, write_events};
use crate::columns::{DeploymentRow, decode_record, sqlite_time};
use crate::error::Scrubber;
use crate::outbox::SinkName;

/// The most writes one transaction holds; the rest wait for the next one.
const MAX_GROUP: usize = 128;

/// One deployment write waiting for the committer: the row of a new deployment or of an
/// update, with the events written with it.
pub(super) struct Update {
    pub(super) id: DeploymentId,
    pub(super) row: DeploymentRow,
    pub(super) events: Vec<DeploymentEvent>,
    pub(super) sinks: Vec<SinkName>,
}

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Inserts a new deployment.
    Insert,
    /// Updates a stored deployment.
    Update,
}

struct Job {
    kind: Kind,
    update: Update,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// What a committed write did.
enum Written {
    /// The update was written.
    Updated,
    /// The insert's answer.
    Inserted(Inserted),
}

/// The handle to the committer task; the task ends when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Committer {
    inserts: mpsc::UnboundedSender<Job>,
    updates: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the committer on the current Tokio runtime, writing through `pool` (the store's
    /// one writer connection).
    pub(super) fn start(pool: SqlitePool, scrubber: Scrubber) -> Self {
        let (inserts, inserts_queue) = mpsc::unbounded_channel();
        let (updates, updates_queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, scrubber, inserts_queue, updates_queue));
        Self { inserts, updates }
    }

    /// Writes `update` and waits until the transaction holding it is committed.
    pub(super) async fn write(&self, update: Update) -> Result<(), StoreError> {
        self.submit(Kind::Update, update).await.map(|_| ())
    }

    /// Inserts the new deployment of `insert` (unless its idempotency key is taken) and waits
    /// until the transaction holding it is committed.
    pub(super) async fn insert(&self, insert: Update) -> Result<Inserted, StoreError> {
        match self.submit(Kind::Insert, insert).await? {
            Written::Inserted(inserted) => Ok(inserted),
            Written::Updated => Err(StoreError::Internal {
                message: "the history store's writer answered an insert as an update".to_owned(),
            }),
        }
    }

    async fn submit(&self, kind: Kind, update: Update) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable {
            message: "the history store's writer has stopped; restart the deployer".to_owned(),
        };
        let queue = match kind {
            Kind::Insert => &self.inserts,
            Kind::Update => &self.updates,
        };
        queue.send(Job { kind, update, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes the next transaction's writes into `batch`, waiting for one when none is waiting:
/// new deployments first, then updates. A caller waits for its deployment's id on an insert,
/// and no update can be about a deployment whose insert is still waiting, so inserts never
/// wait behind a backlog of updates. Returns false once both queues are closed and empty.
async fn next_batch(
    inserts: &mut mpsc::UnboundedReceiver<Job>,
    updates: &mut mpsc::UnboundedReceiver<Job>,
    open: &mut (bool, bool),
    batch: &mut Vec<Job>,
) -> bool {
    while batch.is_empty() {
        if !open.0 && !open.1 {
            return false;
        }
        tokio::select! {
            biased;
            job = inserts.recv(), if open.0 => match job {
                Some(job) => batch.push(job),
                None => open.0 = false,
            },
            job = updates.recv(), if open.1 => match job {
                Some(job) => batch.push(job),
                None => open.1 = false,
            },
        }
    }
    for queue in [inserts, updates] {
        while batch.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
    }
    true
}

async fn run(
    pool: SqlitePool,
    scrubber: Scrubber,
    mut inserts: mpsc::UnboundedReceiver<Job>,
    mut updates: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::new();
    let mut open = (true, true);
    while next_batch(&mut inserts, &mut updates, &mut open, &mut batch).await {
        let results = if batch.len() == 1 {
            vec![alone(&pool, &scrubber, &batch[0]).await]
        } else {
            match together(&pool, &scrubber, &batch).await {
                Ok(results) => results,
                Err(_) => {
                    let mut results = Vec::with_capacity(batch.len());
                    for job in &batch {
                        results.push(alone(&pool, &scrubber, job).await);
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

/// What a write did inside a transaction.
enum Applied {
    /// Written.
    Written(Written),
    /// An update that matched no row: nothing changed.
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

/// Writes one job inside `tx`.
async fn apply(tx: &mut Transaction<'static, Sqlite>, scrubber: &Scrubber, job: &Job) -> Result<Applied, StoreError> {
    match job.kind {
        Kind::Update => update(tx, scrubber, &job.update).await,
        Kind::Insert => insert(tx, scrubber, &job.update).await,
    }
}

/// Writes one update inside `tx`.
///
/// Only what changes over a deployment's life is written: status, phase, times, commit and the
/// record. What is fixed when it is accepted (target, method, idempotency key, requester,
/// creation time, release) was written by the insert. SQLite rewrites the entries of every
/// index on a column named in `SET`, changed or not, so setting every column rewrote eight
/// indexes per phase (about 9 pages of log per update); the status, which three indexes hold,
/// is set by a second statement only when it changes, which is twice in a deployment's life.
async fn update(
    tx: &mut Transaction<'static, Sqlite>,
    scrubber: &Scrubber,
    update: &Update,
) -> Result<Applied, StoreError> {
    let doing = format!("updating deployment {}", update.id);
    let row = &update.row;
    // `status` is not set here, so `RETURNING` gives the stored one.
    let stored: Option<String> = sqlx::query_scalar(
        "UPDATE deployments SET phase = ?, updated_at = ?, finished_at = ?, commit_sha = ?, record = ? \
         WHERE id = ? RETURNING status",
    )
    .bind(row.phase)
    .bind(sqlite_time(row.updated_at))
    .bind(row.finished_at.map(sqlite_time))
    .bind(row.commit_sha.clone())
    .bind(row.record.clone())
    .bind(row.id.clone())
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| scrubber.store_error(&doing, &e))?;
    let Some(stored) = stored else {
        return Ok(Applied::NoSuchDeployment);
    };
    if stored != row.status {
        sqlx::query("UPDATE deployments SET status = ? WHERE id = ?")
            .bind(row.status)
            .bind(row.id.clone())
            .execute(&mut **tx)
            .await
            .map_err(|e| scrubber.store_error(&doing, &e))?;
    }
    write_events(tx, scrubber, &update.sinks, update.id, &update.events).await?;
    Ok(Applied::Written(Written::Updated))
}

/// Writes one new deployment inside `tx`; when its idempotency key is taken, nothing is
/// written and the deployment holding the key is the answer.
async fn insert(
    tx: &mut Transaction<'static, Sqlite>,
    scrubber: &Scrubber,
    insert: &Update,
) -> Result<Applied, StoreError> {
    let doing = format!("inserting deployment {}", insert.id);
    let inserted = bind_deployment(
        sqlx::query(
            "INSERT INTO deployments (release_id, region, cluster, file, status, phase, method, idempotency_key, \
             requested_by, created_at, updated_at, finished_at, commit_sha, record, id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        ),
        &insert.row,
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| scrubber.store_error(&doing, &e))?
    .rows_affected();
    if inserted == 0 {
        let existing: Option<String> = sqlx::query_scalar("SELECT record FROM deployments WHERE idempotency_key = ?")
            .bind(&insert.row.idempotency_key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| scrubber.store_error(&doing, &e))?;
        return match existing {
            Some(json) => Ok(Applied::Written(Written::Inserted(Inserted::Existing(Box::new(
                decode_record(&json)?,
            ))))),
            None => Err(StoreError::Conflict {
                message: format!("deployment {} conflicts with another write", insert.id),
            }),
        };
    }
    write_events(tx, scrubber, &insert.sinks, insert.id, &insert.events).await?;
    Ok(Applied::Written(Written::Inserted(Inserted::New)))
}

/// One write in a transaction of its own; a write that changes nothing (an update of an
/// unknown deployment, an insert whose key is taken) is rolled back.
async fn alone(pool: &SqlitePool, scrubber: &Scrubber, job: &Job) -> Result<Written, StoreError> {
    let doing = format!("writing deployment {}", job.update.id);
    let mut tx = begin(pool, scrubber, &doing).await?;
    match apply(&mut tx, scrubber, job).await {
        Ok(Applied::Written(Written::Inserted(Inserted::Existing(existing)))) => {
            tx.rollback().await.map_err(|e| scrubber.store_error(&doing, &e))?;
            Ok(Written::Inserted(Inserted::Existing(existing)))
        }
        Ok(Applied::Written(written)) => {
            tx.commit().await.map_err(|e| scrubber.store_error(&doing, &e))?;
            Ok(written)
        }
        Ok(Applied::NoSuchDeployment) => {
            tx.rollback().await.map_err(|e| scrubber.store_error(&doing, &e))?;
            Err(no_such_deployment(job.update.id))
        }
        // The transaction is rolled back when dropped.
        Err(e) => Err(e),
    }
}

/// Every write of `batch` in one transaction; an error means nothing was written.
async fn together(
    pool: &SqlitePool,
    scrubber: &Scrubber,
    batch: &[Job],
) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
    let doing = format!("writing {} deployments", batch.len());
    let mut tx = begin(pool, scrubber, &doing).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // A write that changed nothing leaves the others free to commit.
        results.push(match apply(&mut tx, scrubber, job).await? {
            Applied::Written(written) => Ok(written),
            Applied::NoSuchDeployment => Err(no_such_deployment(job.update.id)),
        });
    }
    tx.commit().await.map_err(|e| scrubber.store_error(&doing, &e))?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deployer_core::image::Tag;
    use deployer_core::model::{
        AppFile, ClusterName, DeployRequest, DeploymentRecord, ImageChange, Method, Region, Source, Target,
    };

    fn job(kind: Kind) -> Job {
        let now = chrono::Utc::now();
        let request = DeployRequest {
            target: Target {
                region: Region::new("eu").expect("valid region"),
                cluster: ClusterName::new("c1").expect("valid cluster"),
                file: AppFile::new("app").expect("valid file"),
            },
            image: None,
            container: None,
            change: ImageChange::Tag {
                tag: Tag::new("v1").expect("valid tag"),
            },
            method: Method::Apply,
            reason: None,
            timeout: None,
            source: Source::default(),
            requested_by: "tester".to_owned(),
            idempotency_key: None,
            environment: None,
            force: false,
            rollback_of: None,
        };
        let record = DeploymentRecord::accepted(DeploymentId::generate(now), request, now);
        Job {
            kind,
            update: Update {
                id: record.id,
                row: DeploymentRow::from_record(&record).expect("a fresh record has a row"),
                events: Vec::new(),
                sinks: Vec::new(),
            },
            reply: oneshot::channel().0,
        }
    }

    #[tokio::test]
    async fn an_insert_goes_into_the_next_transaction_ahead_of_a_backlog_of_updates() {
        let (inserts, mut inserts_queue) = mpsc::unbounded_channel();
        let (updates, mut updates_queue) = mpsc::unbounded_channel();
        for _ in 0..MAX_GROUP + 10 {
            updates.send(job(Kind::Update)).expect("the queue is open");
        }
        inserts.send(job(Kind::Insert)).expect("the queue is open");
        let (mut open, mut batch) = ((true, true), Vec::new());

        assert!(next_batch(&mut inserts_queue, &mut updates_queue, &mut open, &mut batch).await);
        assert_eq!(batch.len(), MAX_GROUP);
        assert_eq!(batch[0].kind, Kind::Insert);
        assert_eq!(batch.iter().filter(|job| job.kind == Kind::Insert).count(), 1);

        batch.clear();
        assert!(next_batch(&mut inserts_queue, &mut updates_queue, &mut open, &mut batch).await);
        assert_eq!(
            batch.len(),
            11,
            "the rest of the backlog follows in the next transaction"
        );
    }

    #[tokio::test]
    async fn the_committer_stops_only_once_both_queues_are_closed_and_drained() {
        let (inserts, mut inserts_queue) = mpsc::unbounded_channel();
        let (updates, mut updates_queue) = mpsc::unbounded_channel();
        updates.send(job(Kind::Update)).expect("the queue is open");
        drop(inserts);
        drop(updates);
        let (mut open, mut batch) = ((true, true), Vec::new());

        assert!(next_batch(&mut inserts_queue, &mut updates_queue, &mut open, &mut batch).await);
        assert_eq!(
            batch.len(),
            1,
            "an update handed over before the close is still written"
        );
        batch.clear();
        assert!(!next_batch(&mut inserts_queue, &mut updates_queue, &mut open, &mut batch).await);
    }
}
