//! The PostgreSQL backend (version 15 or newer), for deployers that share a database server.
//!
//! Every transaction that writes events first takes one transaction-scoped advisory lock, so
//! event sequence numbers become visible in the order they were assigned: a reader that has
//! seen event `n` will never later see an event below `n` appear. Deployment traffic is low,
//! so serialising these writes costs nothing noticeable.
//!
//! The tables live in `settings.schema` when set (created when missing), which lets several
//! deployers, or tests, share one database.

/// The audit log on PostgreSQL.
mod audit;
/// Pins on PostgreSQL.
mod pins;
/// CI releases on PostgreSQL.
mod releases;
/// API tokens on PostgreSQL.
mod tokens;
/// Received triggers on PostgreSQL.
mod triggers;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, Status, Target};
use deployer_core::ports::{DeploymentFilter, Inserted, PageRequest, StoreError};

use crate::columns::{DeploymentRow, TERMINAL, decode_event, decode_record, event_rows, sql_limit, truncate_error};
use crate::error::{OpenError, Scrubber, corrupt};
use crate::migrate::{self, Applied};
use crate::outbox::{OutboxBacklog, OutboxEntry, OutboxId, OutboxState, SinkName, lease_end, not_pending};
use crate::settings::{Backend, StoreSettings};

/// The history store on PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    scrubber: Scrubber,
    lease: Duration,
    sinks: Vec<SinkName>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

/// Serialises the transactions that append events, per schema.
const EVENT_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('k8s-app-deployer:events:' || coalesce(current_schema(), ''), 0))";

/// Serialises migrations across every deployer using the database.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('k8s-app-deployer:migrate', 0))";

/// The columns an outbox query returns.
const OUTBOX_COLUMNS: &str =
    "o.id, o.sink, o.state, o.attempts, o.next_attempt_at, o.last_error, e.seq, e.payload::text AS payload";

impl PostgresStore {
    /// Connects to the database named by `settings.url` and brings its schema up to date.
    ///
    /// # Errors
    /// [`OpenError`] when the settings are inconsistent, the password cannot be read, the
    /// server cannot be reached, the schema is newer than this build, or a migration fails.
    pub async fn open(settings: &StoreSettings) -> Result<Self, OpenError> {
        if settings.url.backend() != Backend::Postgres {
            return Err(OpenError::InvalidSettings {
                message: format!("`{}` is not a PostgreSQL URL", settings.url.redacted()),
            });
        }
        let shown = settings.url.redacted();
        let inline = settings.url.inline_password().map(SecretString::from);
        let password = resolve_password(settings, inline.is_some())?;
        let scrubber = Scrubber::new(inline.into_iter().chain(password.clone()));
        let mut options =
            PgConnectOptions::from_str(settings.url.expose()).map_err(|e| scrubber.open_error(shown.clone(), &e))?;
        if let Some(password) = &password {
            options = options.password(password.expose_secret());
        }
        let schema = settings.schema.as_deref().map(check_schema).transpose()?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.busy_timeout)
            .connect_with(options)
            .await
            .map_err(|e| scrubber.open_error(shown, &e))?;
        migrate_postgres(&pool, schema, &scrubber).await?;
        Ok(Self {
            pool,
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

    /// Closes the pool, waiting for the connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, doing: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        let doing = doing.to_owned();
        move |e| self.scrubber.store_error(&doing, &e)
    }

    /// Starts a transaction that will append events.
    async fn begin_events(&self, doing: &str) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(self.err(doing))?;
        sqlx::query(EVENT_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(self.err(doing))?;
        Ok(tx)
    }

    async fn write_events(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        id: DeploymentId,
        events: &[DeploymentEvent],
    ) -> Result<(), StoreError> {
        let doing = format!("writing the events of deployment {id}");
        for row in event_rows(id, events)? {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO deployment_events (deployment_id, kind, at, payload) VALUES ($1, $2, $3, $4::json) RETURNING seq",
            )
            .bind(&row.deployment_id)
            .bind(row.kind)
            .bind(row.at)
            .bind(&row.payload)
            .fetch_one(&mut **tx)
            .await
            .map_err(self.err(&doing))?;
            for sink in &self.sinks {
                sqlx::query("INSERT INTO outbox (event_seq, sink, state, attempts, next_attempt_at) VALUES ($1, $2, 'pending', 0, $3)")
                    .bind(seq)
                    .bind(sink.as_str())
                    .bind(row.at)
                    .execute(&mut **tx)
                    .await
                    .map_err(self.err(&doing))?;
            }
        }
        Ok(())
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
        let row = DeploymentRow::from_record(record)?;
        let doing = format!("inserting deployment {}", record.id);
        let mut tx = self.begin_events(&doing).await?;
        let inserted = bind_deployment(
            sqlx::query(
                "INSERT INTO deployments (release_id, region, cluster, file, status, phase, method, idempotency_key, \
                 requested_by, created_at, updated_at, finished_at, commit_sha, record, id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::json, $15) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            ),
            &row,
        )
        .execute(&mut *tx)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        if inserted == 0 {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT record::text FROM deployments WHERE idempotency_key = $1")
                    .bind(&row.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(self.err(&doing))?;
            tx.rollback().await.map_err(self.err(&doing))?;
            return match existing {
                Some(json) => Ok(Inserted::Existing(Box::new(decode_record(&json)?))),
                None => Err(StoreError::Conflict {
                    message: format!("deployment {} conflicts with another write", record.id),
                }),
            };
        }
        self.write_events(&mut tx, record.id, events).await?;
        tx.commit().await.map_err(self.err(&doing))?;
        Ok(Inserted::New)
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
        let row = DeploymentRow::from_record(record)?;
        let doing = format!("updating deployment {}", record.id);
        let mut tx = self.begin_events(&doing).await?;
        let updated = bind_deployment(
            sqlx::query(
                "UPDATE deployments SET release_id = $1, region = $2, cluster = $3, file = $4, status = $5, phase = $6, \
                 method = $7, idempotency_key = $8, requested_by = $9, created_at = $10, updated_at = $11, \
                 finished_at = $12, commit_sha = $13, record = $14::json WHERE id = $15",
            ),
            &row,
        )
        .execute(&mut *tx)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await.map_err(self.err(&doing))?;
            return Err(StoreError::Internal {
                message: format!("{doing}: no such deployment"),
            });
        }
        self.write_events(&mut tx, record.id, events).await?;
        tx.commit().await.map_err(self.err(&doing))
    }

    /// See [`Store::get_deployment`](deployer_core::ports::Store::get_deployment).
    ///
    /// # Errors
    /// When the database fails or the row is corrupt.
    pub async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        let json: Option<String> = sqlx::query_scalar("SELECT record::text FROM deployments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
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
        let mut q = QueryBuilder::<Postgres>::new("SELECT record::text FROM deployments WHERE TRUE");
        push_filter(&mut q, filter, page);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(sql_limit(page.limit));
        let rows: Vec<String> = q
            .build_query_scalar()
            .fetch_all(&self.pool)
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
            "SELECT record::text FROM deployments WHERE status IN ('queued', 'running') ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
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
        let mut q = QueryBuilder::<Postgres>::new("SELECT record::text FROM deployments WHERE region = ");
        q.push_bind(target.region.to_string());
        q.push(" AND cluster = ").push_bind(target.cluster.to_string());
        q.push(" AND file = ").push_bind(target.file.to_string());
        match status {
            Some(s) => {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            None => {
                q.push(" AND status = ANY(")
                    .push_bind(TERMINAL.map(|s| s.as_str().to_owned()).to_vec())
                    .push(")");
            }
        }
        q.push(" ORDER BY id DESC LIMIT 1");
        let json: Option<String> = q
            .build_query_scalar()
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err(&format!("reading the last deployment of {target}")))?;
        json.as_deref().map(decode_record).transpose()
    }

    /// See [`Store::events`](deployer_core::ports::Store::events).
    ///
    /// # Errors
    /// When the database fails or a row is corrupt.
    pub async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, payload::text AS payload FROM deployment_events WHERE deployment_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(after)
        .fetch_all(&self.pool)
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
        let n = sqlx::query(
            "INSERT INTO outbox (event_seq, sink, state, attempts, next_attempt_at) VALUES ($1, $2, 'pending', 0, $3) \
             ON CONFLICT (event_seq, sink) DO NOTHING",
        )
        .bind(event_seq)
        .bind(sink.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err(&format!("queuing event {event_seq} for sink `{sink}`")))?
        .rows_affected();
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
        // An entry waits while an earlier pending entry of the same sink and target is not due
        // (see the SQLite backend).
        let rows = sqlx::query(&format!(
            "WITH due AS ( \
                 SELECT o.id FROM outbox o JOIN deployment_events e ON e.seq = o.event_seq \
                 JOIN deployments d ON d.id = e.deployment_id \
                 WHERE o.sink = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 \
                 AND NOT EXISTS (SELECT 1 FROM outbox o2 JOIN deployment_events e2 ON e2.seq = o2.event_seq \
                     JOIN deployments d2 ON d2.id = e2.deployment_id \
                     WHERE o2.sink = o.sink AND o2.state = 'pending' AND o2.event_seq < o.event_seq \
                     AND o2.next_attempt_at > $2 AND d2.region = d.region AND d2.cluster = d.cluster AND d2.file = d.file) \
                 ORDER BY o.event_seq LIMIT $3 FOR UPDATE OF o SKIP LOCKED), \
             claimed AS ( \
                 UPDATE outbox SET next_attempt_at = $4 FROM due WHERE outbox.id = due.id RETURNING outbox.*) \
             SELECT {OUTBOX_COLUMNS} FROM claimed o JOIN deployment_events e ON e.seq = o.event_seq ORDER BY o.event_seq"
        ))
        .bind(sink.as_str())
        .bind(now)
        .bind(sql_limit(limit))
        .bind(lease_end(now, self.lease))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err(&format!("claiming outbox entries of sink `{sink}`")))?;
        rows.iter().map(outbox_entry).collect()
    }

    /// Runs an outbox transition on a pending entry; explains when it matched nothing.
    async fn transition(
        &self,
        id: OutboxId,
        doing: &str,
        query: sqlx::query::Query<'_, Postgres, PgArguments>,
    ) -> Result<(), StoreError> {
        let n = query
            .execute(&self.pool)
            .await
            .map_err(self.err(doing))?
            .rows_affected();
        if n == 0 {
            let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err(doing))?;
            return Err(not_pending(id, state.as_deref().and_then(OutboxState::parse)));
        }
        Ok(())
    }

    /// See [`OutboxStore::mark_delivered`](crate::OutboxStore::mark_delivered).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the entry is missing or dead.
    pub async fn mark_delivered(&self, id: OutboxId) -> Result<(), StoreError> {
        let q =
            sqlx::query("UPDATE outbox SET state = 'delivered' WHERE id = $1 AND state IN ('pending', 'delivered')")
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
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3 AND state = 'pending'",
        )
        .bind(next_attempt_at)
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
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $1 WHERE id = $2 AND state = 'pending'",
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
             WHERE o.sink = $1 AND o.state = 'dead' ORDER BY o.event_seq LIMIT $2"
        ))
        .bind(sink.as_str())
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err(&format!("listing dead outbox entries of sink `{sink}`")))?;
        rows.iter().map(outbox_entry).collect()
    }

    /// See [`OutboxStore::retry_dead`](crate::OutboxStore::retry_dead).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn retry_dead(&self, sink: &SinkName, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n = sqlx::query("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 WHERE sink = $2 AND state = 'dead'")
            .bind(now)
            .bind(sink.as_str())
            .execute(&self.pool)
            .await
            .map_err(self.err(&format!("reviving dead outbox entries of sink `{sink}`")))?
            .rows_affected();
        Ok(n)
    }
    /// See [`OutboxStore::retry_dead_entry`](crate::OutboxStore::retry_dead_entry).
    ///
    /// # Errors
    /// When the database fails or the stored state is unknown.
    pub async fn retry_dead_entry(&self, id: OutboxId, now: DateTime<Utc>) -> Result<Option<OutboxState>, StoreError> {
        let doing = format!("reviving dead outbox entry {id}");
        let revived = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = $2 AND state = 'dead'",
        )
        .bind(now)
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        if revived > 0 {
            return Ok(Some(OutboxState::Dead));
        }
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err(&doing))?;
        state
            .map(|s| OutboxState::parse(&s).ok_or_else(|| corrupt("outbox entry", format!("unknown state `{s}`"))))
            .transpose()
    }

    /// See [`OutboxStore::backlog`](crate::OutboxStore::backlog).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn backlog(&self, sink: &SinkName) -> Result<OutboxBacklog, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(e.at) AS oldest FROM outbox o JOIN deployment_events e ON e.seq = o.event_seq \
             WHERE o.sink = $1 AND o.state = 'pending'",
        )
        .bind(sink.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(self.err(&format!("counting pending outbox entries of sink `{sink}`")))?;
        let bad = |e: sqlx::Error| corrupt("outbox backlog", e);
        let pending: i64 = row.try_get("pending").map_err(bad)?;
        let oldest: Option<DateTime<Utc>> = row.try_get("oldest").map_err(bad)?;
        Ok(OutboxBacklog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_event_at: oldest,
        })
    }
}

/// Binds a deployment row in the parameter order of the insert and update statements.
fn bind_deployment<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    row: &DeploymentRow,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    q.bind(row.release_id.clone())
        .bind(row.region.clone())
        .bind(row.cluster.clone())
        .bind(row.file.clone())
        .bind(row.status)
        .bind(row.phase)
        .bind(row.method)
        .bind(row.idempotency_key.clone())
        .bind(row.requested_by.clone())
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.finished_at)
        .bind(row.commit_sha.clone())
        .bind(row.record.clone())
        .bind(row.id.clone())
}

/// Adds the filter and the cursor to a listing.
fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &DeploymentFilter, page: &PageRequest) {
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

/// Decodes an outbox row selected with [`OUTBOX_COLUMNS`].
fn outbox_entry(r: &PgRow) -> Result<OutboxEntry, StoreError> {
    let bad = |e: sqlx::Error| corrupt("outbox entry", e);
    let sink: String = r.try_get("sink").map_err(bad)?;
    let state: String = r.try_get("state").map_err(bad)?;
    let attempts: i32 = r.try_get("attempts").map_err(bad)?;
    let seq: i64 = r.try_get("seq").map_err(bad)?;
    let payload: String = r.try_get("payload").map_err(bad)?;
    Ok(OutboxEntry {
        id: OutboxId(r.try_get("id").map_err(bad)?),
        sink: SinkName::new(&sink).map_err(|e| corrupt("outbox entry", e))?,
        state: OutboxState::parse(&state).ok_or_else(|| corrupt("outbox entry", format!("unknown state `{state}`")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: r.try_get("next_attempt_at").map_err(bad)?,
        last_error: r.try_get("last_error").map_err(bad)?,
        event: decode_event(seq, &payload)?,
    })
}

/// Reads the password from the file or variable the settings name, if any.
fn resolve_password(settings: &StoreSettings, inline: bool) -> Result<Option<SecretString>, OpenError> {
    let sources = usize::from(inline)
        + usize::from(settings.password_file.is_some())
        + usize::from(settings.password_env.is_some());
    if sources > 1 {
        return Err(OpenError::InvalidSettings {
            message: "give the PostgreSQL password in only one place: the URL, `password_file` or `password_env`"
                .to_owned(),
        });
    }
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| OpenError::PasswordUnreadable {
            message: format!("`{}`: {e}", path.display()),
        })?;
        return Ok(Some(SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned())));
    }
    if let Some(var) = &settings.password_env {
        let value = std::env::var(var).map_err(|e| OpenError::PasswordUnreadable {
            message: format!("environment variable `{var}`: {e}"),
        })?;
        return Ok(Some(SecretString::from(value)));
    }
    Ok(None)
}

/// Checks a schema name: lowercase letters, digits and `_`, not starting with a digit.
fn check_schema(schema: &str) -> Result<&str, OpenError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(schema)
    } else {
        Err(OpenError::InvalidSettings {
            message: format!(
                "schema `{}` must be 1 to 63 lowercase letters, digits and `_`, not starting with a digit",
                schema.escape_default()
            ),
        })
    }
}

/// Applies the pending migrations in one transaction, creating the schema first.
async fn migrate_postgres(pool: &PgPool, schema: Option<&str>, scrubber: &Scrubber) -> Result<(), OpenError> {
    let fail = |doing: &'static str| move |e: sqlx::Error| scrubber.migration_error(doing, &e);
    let mut tx = pool.begin().await.map_err(fail("starting the migration"))?;
    sqlx::query(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(fail("locking for the migration"))?;
    if let Some(schema) = schema {
        // The name was checked by `check_schema`, so quoting it is enough.
        sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut *tx)
            .await
            .map_err(fail("creating the schema"))?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
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
    let pending = migrate::plan(migrate::POSTGRES, &applied)?;
    for m in pending {
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| scrubber.migration_error(&format!("applying migration {:04}_{}", m.version, m.name), &e))?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await
            .map_err(fail("recording a migration"))?;
    }
    tx.commit().await.map_err(fail("committing the migration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema("deployer").is_ok());
        assert!(check_schema("t_01abc").is_ok());
        for bad in ["", "1x", "Deployer", "a\"b", "a;drop", &"a".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_password_may_come_from_only_one_place() {
        let mut s = StoreSettings {
            password_env: Some("X".to_owned()),
            ..StoreSettings::default()
        };
        assert!(matches!(
            resolve_password(&s, true),
            Err(OpenError::InvalidSettings { .. })
        ));
        s.password_file = Some("/nonexistent".into());
        assert!(matches!(
            resolve_password(&s, false),
            Err(OpenError::InvalidSettings { .. })
        ));
    }

    #[test]
    fn a_password_file_loses_its_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("deployer-store-pw-{}", std::process::id()));
        let _ = std::fs::write(&dir, "s3cret\n");
        let s = StoreSettings {
            password_file: Some(dir.clone()),
            ..StoreSettings::default()
        };
        let pw = resolve_password(&s, false)
            .ok()
            .flatten()
            .map(|p| p.expose_secret().to_owned());
        let _ = std::fs::remove_file(&dir);
        assert_eq!(pw.as_deref(), Some("s3cret"));
    }
}
