//! The SQLite backend: the default, one file next to the server.
//!
//! Writes go through a pool of exactly one connection, and every write transaction starts with
//! `BEGIN IMMEDIATE`, so writers queue inside the process instead of failing with
//! `SQLITE_BUSY`; readers use a pool of their own and, thanks to WAL mode, never wait for the
//! writer. `busy_timeout` covers another process holding the write lock. New deployments and
//! their updates, the bulk of the writes, are group-committed: every write waiting when a
//! transaction starts goes into it (see [`group`]), and the audit log writes its entries in
//! batches.
//!
//! Durability: the journal is a write-ahead log with `synchronous = NORMAL`. A committed
//! transaction survives a crash of the process; after a power loss the last transactions
//! before it may be rolled back, but the database is never corrupted. That is the trade-off
//! SQLite documents for WAL mode, and the deployments it could lose are re-sent by their
//! triggers with the same idempotency key.
//!
//! `sqlite::memory:` keeps a private database in memory, reached through the one writer
//! connection, for tests and demos.

/// The audit log on SQLite.
mod audit;
/// Checkpoints of the write-ahead log on a task of their own.
mod checkpoint;
/// Group commit of deployment inserts and updates.
mod group;
/// Pins on SQLite.
mod pins;
/// CI releases on SQLite.
mod releases;
/// API tokens on SQLite.
mod tokens;
/// Received triggers on SQLite.
mod triggers;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, Status, Target};
use deployer_core::ports::{DeploymentFilter, Inserted, PageRequest, StoreError};

use crate::columns::{
    DeploymentRow, TERMINAL, decode_event, decode_record, event_rows, parse_sqlite_time, parse_sqlite_time_opt,
    sql_limit, sqlite_time, truncate_error,
};
use crate::error::{OpenError, Scrubber, corrupt};
use crate::migrate::{self, Applied};
use crate::outbox::{OutboxBacklog, OutboxEntry, OutboxId, OutboxState, SinkName, lease_end, not_pending};
use crate::settings::{Backend, StoreSettings};

/// The history store on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    updates: group::Committer,
    reader: SqlitePool,
    /// `None` for an in-memory database, which has no write-ahead log.
    checkpoints: Option<checkpoint::Checkpoints>,
    scrubber: Scrubber,
    lease: Duration,
    sinks: Vec<SinkName>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

/// The columns an outbox query returns, in order.
const OUTBOX_COLUMNS: &str = "o.id, o.sink, o.state, o.attempts, o.next_attempt_at, o.last_error, e.seq, e.payload";

impl SqliteStore {
    /// Opens (creating when missing) the database named by `settings.url` and brings its
    /// schema up to date.
    ///
    /// # Errors
    /// [`OpenError`] when the settings are not for SQLite, the file cannot be opened, the
    /// schema is newer than this build, or a migration fails.
    pub async fn open(settings: &StoreSettings) -> Result<Self, OpenError> {
        if settings.url.backend() != Backend::Sqlite {
            return Err(OpenError::InvalidSettings {
                message: format!("`{}` is not a SQLite URL", settings.url.redacted()),
            });
        }
        if settings.schema.is_some() || settings.password_file.is_some() || settings.password_env.is_some() {
            return Err(OpenError::InvalidSettings {
                message:
                    "`schema`, `password_file` and `password_env` apply to PostgreSQL only; remove them for SQLite"
                        .to_owned(),
            });
        }
        let scrubber = Scrubber::new(settings.url.inline_password().map(SecretString::from));
        let shown = settings.url.redacted();
        let raw = settings.url.expose();
        let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(raw)
            .map_err(|e| scrubber.open_error(shown.clone(), &e))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(settings.busy_timeout);
        let mut checkpoints = None;
        let mut wrote = None;
        if !in_memory {
            // Checkpoints run on a task of their own (`checkpoint`), never inside a commit.
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("wal_autocheckpoint", "0");
            let (task, notes) = checkpoint::Checkpoints::start(options.clone(), scrubber.clone());
            checkpoints = Some(task);
            wrote = Some(notes);
        }
        // An in-memory database lives as long as a connection to it: keep the one writer open
        // for good.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // Like the readers, a connection to a local database cannot break: no ping before
            // each transaction, which would be one more round trip to its thread per write.
            .test_before_acquire(false)
            .acquire_timeout(settings.busy_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_release(move |_, _| {
                // Every write goes through the one writer: each use of it makes a checkpoint due.
                if let Some(wrote) = &wrote {
                    wrote.note();
                }
                Box::pin(async { Ok(true) })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| scrubber.open_error(shown.clone(), &e))?;
        migrate_sqlite(&writer, &scrubber).await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            // A connection to a local file cannot break: no ping before each read.
            SqlitePoolOptions::new()
                .max_connections(settings.max_connections.max(1))
                .test_before_acquire(false)
                .acquire_timeout(settings.busy_timeout)
                .connect_with(options)
                .await
                .map_err(|e| scrubber.open_error(shown, &e))?
        };
        Ok(Self {
            updates: group::Committer::start(writer.clone(), scrubber.clone()),
            writer,
            reader,
            checkpoints,
            scrubber,
            lease: settings.outbox_lease,
            sinks: Vec::new(),
        })
    }

    /// Queues every event written from now on for each of `sinks`, in the same transaction.
    #[must_use]
    pub fn with_outbox_sinks(mut self, sinks: Vec<SinkName>) -> Self {
        self.sinks = sinks;
        self
    }

    /// Closes the pools, waiting for the connections to finish.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.close().await;
        }
    }

    fn err(&self, doing: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        let doing = doing.to_owned();
        move |e| self.scrubber.store_error(&doing, &e)
    }

    async fn begin_write(&self, doing: &str) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(self.err(doing))
    }

    /// See [`Store::insert_deployment`](deployer_core::ports::Store::insert_deployment).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id is already used; others when the database fails.
    pub async fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        events: &[DeploymentEvent],
    ) -> Result<Inserted, StoreError> {
        let insert = group::Update {
            id: record.id,
            row: DeploymentRow::from_record(record)?,
            events: events.to_vec(),
            sinks: self.sinks.clone(),
        };
        self.updates.insert(insert).await
    }

    /// See [`Store::update_deployment`](deployer_core::ports::Store::update_deployment).
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the deployment does not exist; others when the database fails.
    pub async fn update_deployment(
        &self,
        record: &DeploymentRecord,
        events: &[DeploymentEvent],
    ) -> Result<(), StoreError> {
        let update = group::Update {
            id: record.id,
            row: DeploymentRow::from_record(record)?,
            events: events.to_vec(),
            sinks: self.sinks.clone(),
        };
        self.updates.write(update).await
    }

    /// See [`Store::get_deployment`](deployer_core::ports::Store::get_deployment).
    ///
    /// # Errors
    /// When the database fails or the row is corrupt.
    pub async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        let json: Option<String> = sqlx::query_scalar("SELECT record FROM deployments WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(self.err(&format!("reading deployment {id}")))?;
        json.as_deref().map(decode_record).transpose()
    }

    /// See [`Store::list_deployments`](deployer_core::ports::Store::list_deployments).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new("SELECT record FROM deployments WHERE 1 = 1");
        push_filter(&mut q, filter, page);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(sql_limit(page.limit));
        let rows: Vec<String> = q
            .build_query_scalar()
            .fetch_all(&self.reader)
            .await
            .map_err(self.err("listing deployments"))?;
        rows.iter().map(|r| decode_record(r)).collect()
    }

    /// See [`Store::unfinished_deployments`](deployer_core::ports::Store::unfinished_deployments).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM deployments WHERE status IN ('queued', 'running') ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(self.err("listing unfinished deployments"))?;
        rows.iter().map(|r| decode_record(r)).collect()
    }

    /// See [`Store::last_deployment`](deployer_core::ports::Store::last_deployment): the most
    /// recently accepted deployment of `target` with `status`, or, without a status, the most
    /// recently accepted one that has finished.
    ///
    /// # Errors
    /// When the database fails or the row is corrupt.
    pub async fn last_deployment(
        &self,
        target: &Target,
        status: Option<Status>,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT record FROM deployments WHERE region = ");
        q.push_bind(target.region.to_string());
        q.push(" AND cluster = ").push_bind(target.cluster.to_string());
        q.push(" AND file = ").push_bind(target.file.to_string());
        push_status(&mut q, status);
        q.push(" ORDER BY id DESC LIMIT 1");
        let json: Option<String> = q
            .build_query_scalar()
            .fetch_optional(&self.reader)
            .await
            .map_err(self.err(&format!("reading the last deployment of {target}")))?;
        json.as_deref().map(decode_record).transpose()
    }

    /// See [`Store::events`](deployer_core::ports::Store::events).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, payload FROM deployment_events WHERE deployment_id = ? AND seq > ? ORDER BY seq")
                .bind(id.to_string())
                .bind(after)
                .fetch_all(&self.reader)
                .await
                .map_err(self.err(&format!("reading the events of deployment {id}")))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq").map_err(|e| corrupt("event", e))?;
                let payload: String = r.try_get("payload").map_err(|e| corrupt("event", e))?;
                decode_event(seq, &payload)
            })
            .collect()
    }

    /// See [`OutboxStore::enqueue`](crate::OutboxStore::enqueue).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when no event has that sequence number.
    pub async fn enqueue(&self, event_seq: i64, sink: &SinkName, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let doing = format!("queuing event {event_seq} for sink `{sink}`");
        let mut tx = self.begin_write(&doing).await?;
        let n = sqlx::query(
            "INSERT INTO outbox (event_seq, sink, state, attempts, next_attempt_at) VALUES (?, ?, 'pending', 0, ?) \
             ON CONFLICT (event_seq, sink) DO NOTHING",
        )
        .bind(event_seq)
        .bind(sink.as_str())
        .bind(sqlite_time(now))
        .execute(&mut *tx)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        tx.commit().await.map_err(self.err(&doing))?;
        Ok(n > 0)
    }

    /// See [`OutboxStore::claim_due`](crate::OutboxStore::claim_due).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn claim_due(
        &self,
        sink: &SinkName,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let doing = format!("claiming outbox entries of sink `{sink}`");
        let until = lease_end(now, self.lease);
        let mut tx = self.begin_write(&doing).await?;
        // An entry waits while an earlier pending entry of the same sink and target is not due
        // (leased by a worker, possibly one that died, or waiting for its retry): a target's
        // events go out in order, across restarts too.
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o JOIN deployment_events e ON e.seq = o.event_seq \
             JOIN deployments d ON d.id = e.deployment_id \
             WHERE o.sink = ? AND o.state = 'pending' AND o.next_attempt_at <= ? \
             AND NOT EXISTS (SELECT 1 FROM outbox o2 JOIN deployment_events e2 ON e2.seq = o2.event_seq \
                 JOIN deployments d2 ON d2.id = e2.deployment_id \
                 WHERE o2.sink = o.sink AND o2.state = 'pending' AND o2.event_seq < o.event_seq \
                 AND o2.next_attempt_at > ? AND d2.region = d.region AND d2.cluster = d.cluster AND d2.file = d.file) \
             ORDER BY o.event_seq LIMIT ?"
        ))
        .bind(sink.as_str())
        .bind(sqlite_time(now))
        .bind(sqlite_time(now))
        .bind(sql_limit(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err(&doing))?;
        let mut entries = rows.iter().map(outbox_entry).collect::<Result<Vec<_>, _>>()?;
        for entry in &mut entries {
            sqlx::query("UPDATE outbox SET next_attempt_at = ? WHERE id = ?")
                .bind(sqlite_time(until))
                .bind(entry.id.0)
                .execute(&mut *tx)
                .await
                .map_err(self.err(&doing))?;
            entry.next_attempt_at = until;
        }
        tx.commit().await.map_err(self.err(&doing))?;
        Ok(entries)
    }

    /// Runs an outbox transition on a pending entry; explains when it matched nothing.
    async fn transition<'q>(
        &self,
        id: OutboxId,
        doing: &str,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write(doing).await?;
        let n = query.execute(&mut *tx).await.map_err(self.err(doing))?.rows_affected();
        if n == 0 {
            let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err(doing))?;
            tx.rollback().await.map_err(self.err(doing))?;
            return Err(not_pending(id, state.as_deref().and_then(OutboxState::parse)));
        }
        tx.commit().await.map_err(self.err(doing))
    }

    /// See [`OutboxStore::mark_delivered`](crate::OutboxStore::mark_delivered).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the entry is missing or dead.
    pub async fn mark_delivered(&self, id: OutboxId) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE outbox SET state = 'delivered' WHERE id = ? AND state IN ('pending', 'delivered')")
            .bind(id.0);
        self.transition(id, &format!("marking outbox entry {id} delivered"), q)
            .await
    }

    /// See [`OutboxStore::mark_failed`](crate::OutboxStore::mark_failed).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the entry is missing or not pending.
    pub async fn mark_failed(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(sqlite_time(next_attempt_at))
        .bind(truncate_error(error))
        .bind(id.0);
        self.transition(id, &format!("recording a failed delivery of outbox entry {id}"), q)
            .await
    }

    /// See [`OutboxStore::mark_dead`](crate::OutboxStore::mark_dead).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the entry is missing or not pending.
    pub async fn mark_dead(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(truncate_error(error))
        .bind(id.0);
        self.transition(id, &format!("marking outbox entry {id} dead"), q).await
    }

    /// See [`OutboxStore::list_dead`](crate::OutboxStore::list_dead).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn list_dead(&self, sink: &SinkName, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o JOIN deployment_events e ON e.seq = o.event_seq \
             WHERE o.sink = ? AND o.state = 'dead' ORDER BY o.event_seq LIMIT ?"
        ))
        .bind(sink.as_str())
        .bind(sql_limit(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(self.err(&format!("listing dead outbox entries of sink `{sink}`")))?;
        rows.iter().map(outbox_entry).collect()
    }

    /// See [`OutboxStore::retry_dead`](crate::OutboxStore::retry_dead).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn retry_dead(&self, sink: &SinkName, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let doing = format!("reviving dead outbox entries of sink `{sink}`");
        let mut tx = self.begin_write(&doing).await?;
        let n = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE sink = ? AND state = 'dead'",
        )
        .bind(sqlite_time(now))
        .bind(sink.as_str())
        .execute(&mut *tx)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        tx.commit().await.map_err(self.err(&doing))?;
        Ok(n)
    }
    /// See [`OutboxStore::retry_dead_entry`](crate::OutboxStore::retry_dead_entry).
    ///
    /// # Errors
    /// When the database fails or the stored state is unknown.
    pub async fn retry_dead_entry(&self, id: OutboxId, now: DateTime<Utc>) -> Result<Option<OutboxState>, StoreError> {
        let doing = format!("reviving dead outbox entry {id}");
        let mut tx = self.begin_write(&doing).await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err(&doing))?;
        let Some(state) = state else {
            tx.rollback().await.map_err(self.err(&doing))?;
            return Ok(None);
        };
        let state =
            OutboxState::parse(&state).ok_or_else(|| corrupt("outbox entry", format!("unknown state `{state}`")))?;
        if state == OutboxState::Dead {
            sqlx::query("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND state = 'dead'")
                .bind(sqlite_time(now))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(self.err(&doing))?;
        }
        tx.commit().await.map_err(self.err(&doing))?;
        Ok(Some(state))
    }

    /// See [`OutboxStore::backlog`](crate::OutboxStore::backlog).
    ///
    /// # Errors
    /// When the database fails or a time is corrupt.
    pub async fn backlog(&self, sink: &SinkName) -> Result<OutboxBacklog, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(e.at) AS oldest FROM outbox o JOIN deployment_events e ON e.seq = o.event_seq \
             WHERE o.sink = ? AND o.state = 'pending'",
        )
        .bind(sink.as_str())
        .fetch_one(&self.reader)
        .await
        .map_err(self.err(&format!("counting pending outbox entries of sink `{sink}`")))?;
        let bad = |e: sqlx::Error| corrupt("outbox backlog", e);
        let pending: i64 = row.try_get("pending").map_err(bad)?;
        let oldest: Option<String> = row.try_get("oldest").map_err(bad)?;
        Ok(OutboxBacklog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_event_at: parse_sqlite_time_opt(oldest)?,
        })
    }
}

/// Writes `events` of deployment `id` (and their outbox entries for each of `sinks`) inside `tx`.
async fn write_events(
    tx: &mut Transaction<'static, Sqlite>,
    scrubber: &Scrubber,
    sinks: &[SinkName],
    id: DeploymentId,
    events: &[DeploymentEvent],
) -> Result<(), StoreError> {
    let doing = format!("writing the events of deployment {id}");
    for row in event_rows(id, events)? {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO deployment_events (deployment_id, kind, at, payload) VALUES (?, ?, ?, ?) RETURNING seq",
        )
        .bind(&row.deployment_id)
        .bind(row.kind)
        .bind(sqlite_time(row.at))
        .bind(&row.payload)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| scrubber.store_error(&doing, &e))?;
        for sink in sinks {
            sqlx::query(
                "INSERT INTO outbox (event_seq, sink, state, attempts, next_attempt_at) VALUES (?, ?, 'pending', 0, ?)",
            )
            .bind(seq)
            .bind(sink.as_str())
            .bind(sqlite_time(row.at))
            .execute(&mut **tx)
            .await
            .map_err(|e| scrubber.store_error(&doing, &e))?;
        }
    }
    Ok(())
}

/// Binds a deployment row in the column order of the insert and update statements.
fn bind_deployment<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    row: &DeploymentRow,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(row.release_id.clone())
        .bind(row.region.clone())
        .bind(row.cluster.clone())
        .bind(row.file.clone())
        .bind(row.status)
        .bind(row.phase)
        .bind(row.method)
        .bind(row.idempotency_key.clone())
        .bind(row.requested_by.clone())
        .bind(sqlite_time(row.created_at))
        .bind(sqlite_time(row.updated_at))
        .bind(row.finished_at.map(sqlite_time))
        .bind(row.commit_sha.clone())
        .bind(row.record.clone())
        .bind(row.id.clone())
}

/// Adds the filter and the cursor to a listing.
fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, filter: &DeploymentFilter, page: &PageRequest) {
    if let Some(v) = &filter.region {
        q.push(" AND region = ").push_bind(v.clone());
    }
    if let Some(v) = &filter.cluster {
        q.push(" AND cluster = ").push_bind(v.clone());
    }
    if let Some(v) = &filter.file {
        q.push(" AND file = ").push_bind(v.clone());
    }
    if let Some(v) = filter.status {
        q.push(" AND status = ").push_bind(v.as_str());
    }
    if let Some(v) = &filter.release_id {
        q.push(" AND release_id = ").push_bind(v.clone());
    }
    if let Some(before) = page.before {
        q.push(" AND id < ").push_bind(before.to_string());
    }
}

/// Restricts to one status, or to the finished ones.
fn push_status(q: &mut QueryBuilder<'_, Sqlite>, status: Option<Status>) {
    match status {
        Some(s) => {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        None => {
            q.push(" AND status IN (");
            let mut sep = q.separated(", ");
            for s in TERMINAL {
                sep.push_bind(s.as_str());
            }
            q.push(")");
        }
    }
}

/// Decodes an outbox row selected with [`OUTBOX_COLUMNS`].
fn outbox_entry(r: &SqliteRow) -> Result<OutboxEntry, StoreError> {
    let bad = |e: sqlx::Error| corrupt("outbox entry", e);
    let sink: String = r.try_get("sink").map_err(bad)?;
    let state: String = r.try_get("state").map_err(bad)?;
    let attempts: i64 = r.try_get("attempts").map_err(bad)?;
    let next: String = r.try_get("next_attempt_at").map_err(bad)?;
    let seq: i64 = r.try_get("seq").map_err(bad)?;
    let payload: String = r.try_get("payload").map_err(bad)?;
    Ok(OutboxEntry {
        id: OutboxId(r.try_get("id").map_err(bad)?),
        sink: SinkName::new(&sink).map_err(|e| corrupt("outbox entry", e))?,
        state: OutboxState::parse(&state).ok_or_else(|| corrupt("outbox entry", format!("unknown state `{state}`")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: parse_sqlite_time(&next)?,
        last_error: r.try_get("last_error").map_err(bad)?,
        event: decode_event(seq, &payload)?,
    })
}

/// Applies the pending migrations in one transaction.
async fn migrate_sqlite(pool: &SqlitePool, scrubber: &Scrubber) -> Result<(), OpenError> {
    let fail = |doing: &'static str| move |e: sqlx::Error| scrubber.migration_error(doing, &e);
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(fail("starting the migration"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(fail("creating schema_migrations"))?;
    let rows = sqlx::query("SELECT version, name FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await
        .map_err(fail("reading schema_migrations"))?;
    let applied = rows
        .iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get("version")?,
                name: r.try_get("name")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(fail("reading schema_migrations"))?;
    let pending = migrate::plan(migrate::SQLITE, &applied)?;
    for m in pending {
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| scrubber.migration_error(&format!("applying migration {:04}_{}", m.version, m.name), &e))?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.name)
            .bind(sqlite_time(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(fail("recording a migration"))?;
    }
    tx.commit().await.map_err(fail("committing the migration"))
}
