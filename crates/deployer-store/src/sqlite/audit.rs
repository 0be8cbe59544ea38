//! [`AuditStore`] on SQLite.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use deployer_core::ports::StoreError;

use super::SqliteStore;
use crate::audit::{AuditEntry, AuditFilter, AuditPage, AuditStore, clip, outcome, parse_ip, status_code};
use crate::columns::{parse_sqlite_time, sql_limit, sqlite_time, truncate_error};
use crate::error::corrupt;

/// The insert of one entry, returning its `seq`.
fn insert_entry(
    entry: &AuditEntry,
) -> sqlx::query::QueryScalar<'static, Sqlite, i64, sqlx::sqlite::SqliteArguments<'static>> {
    sqlx::query_scalar(
        "INSERT INTO audit_log (at, identity, action, target, outcome, status_code, detail, client_ip) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(sqlite_time(entry.at))
    .bind(clip(&entry.identity, 200))
    .bind(clip(&entry.action, 100))
    .bind(entry.target.as_deref().map(|t| clip(t, 400)))
    .bind(entry.outcome.as_str())
    .bind(entry.status_code.map(i32::from))
    .bind(entry.detail.as_deref().map(truncate_error))
    .bind(entry.client_ip.map(|ip| ip.to_string()))
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        insert_entry(entry)
            .fetch_one(&self.writer)
            .await
            .map_err(self.err("appending to the audit log"))
    }

    /// One transaction for the whole batch: the audit log takes one turn of the single writer
    /// per batch, not one per request.
    async fn append_audit_batch(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let doing = format!("appending {} entries to the audit log", entries.len());
        let mut tx = self.begin_write(&doing).await?;
        for entry in entries {
            insert_entry(entry)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err(&doing))?;
        }
        tx.commit().await.map_err(self.err(&doing))
    }

    async fn query_audit(&self, filter: &AuditFilter, page: &AuditPage) -> Result<Vec<AuditEntry>, StoreError> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT seq, at, identity, action, target, outcome, status_code, detail, client_ip FROM audit_log WHERE 1 = 1",
        );
        if let Some(v) = &filter.identity {
            q.push(" AND identity = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.action {
            q.push(" AND action = ").push_bind(v.clone());
        }
        if let Some(v) = filter.outcome {
            q.push(" AND outcome = ").push_bind(v.as_str());
        }
        if let Some(v) = filter.since {
            q.push(" AND at >= ").push_bind(sqlite_time(v));
        }
        if let Some(v) = filter.until {
            q.push(" AND at < ").push_bind(sqlite_time(v));
        }
        if let Some(before) = page.before {
            q.push(" AND seq < ").push_bind(before);
        }
        q.push(" ORDER BY seq DESC LIMIT ").push_bind(sql_limit(page.limit));
        let rows = q
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(self.err("querying the audit log"))?;
        rows.iter().map(entry).collect()
    }
}

/// Decodes an audit row.
fn entry(r: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let bad = |e: sqlx::Error| corrupt("audit entry", e);
    let at: String = r.try_get("at").map_err(bad)?;
    let outcome_text: String = r.try_get("outcome").map_err(bad)?;
    Ok(AuditEntry {
        seq: r.try_get("seq").map_err(bad)?,
        at: parse_sqlite_time(&at)?,
        identity: r.try_get("identity").map_err(bad)?,
        action: r.try_get("action").map_err(bad)?,
        target: r.try_get("target").map_err(bad)?,
        outcome: outcome(&outcome_text)?,
        status_code: status_code(r.try_get("status_code").map_err(bad)?),
        detail: r.try_get("detail").map_err(bad)?,
        client_ip: parse_ip(r.try_get("client_ip").map_err(bad)?)?,
    })
}
