//! [`TriggerStore`] on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use deployer_core::ports::StoreError;

use super::SqliteStore;
use crate::columns::{decode_list, encode_list, parse_sqlite_time, sql_limit, sqlite_time, truncate_error};
use crate::error::corrupt;
use crate::ids::TriggerId;
use crate::triggers::{TriggerPage, TriggerRecord, TriggerStore, outcome};

/// The columns a trigger query returns.
const COLUMNS: &str =
    "id, at, source, payload_digest, identity, matched_rules, deployment_ids, outcome, reason, dedup_key";

#[async_trait]
impl TriggerStore for SqliteStore {
    async fn record_trigger(&self, t: &TriggerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO triggers (id, at, source, payload_digest, identity, matched_rules, deployment_ids, outcome, \
             reason, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(t.id.to_string())
        .bind(sqlite_time(t.at))
        .bind(&t.source)
        .bind(&t.payload_digest)
        .bind(&t.identity)
        .bind(encode_list("matched rules", &t.matched_rules)?)
        .bind(encode_list("deployment ids", &t.deployment_ids)?)
        .bind(t.outcome.as_str())
        .bind(t.reason.as_deref().map(truncate_error))
        .bind(&t.dedup_key)
        .execute(&self.writer)
        .await
        .map_err(self.err(&format!("recording trigger {}", t.id)))?;
        Ok(())
    }

    async fn get_trigger(&self, id: TriggerId) -> Result<Option<TriggerRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM triggers WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(self.err(&format!("reading trigger {id}")))?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_triggers(&self, page: &TriggerPage) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = match page.before {
            Some(before) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM triggers WHERE id < ? ORDER BY id DESC LIMIT ?"
                ))
                .bind(before.to_string())
                .bind(sql_limit(page.limit))
                .fetch_all(&self.reader)
                .await
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM triggers ORDER BY id DESC LIMIT ?"))
                    .bind(sql_limit(page.limit))
                    .fetch_all(&self.reader)
                    .await
            }
        }
        .map_err(self.err("listing triggers"))?;
        rows.iter().map(decode).collect()
    }

    async fn find_recent_trigger_by_dedup_key(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<TriggerRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM triggers WHERE dedup_key = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 1"
        ))
        .bind(key)
        .bind(sqlite_time(since))
        .fetch_optional(&self.reader)
        .await
        .map_err(self.err("looking a trigger up by its dedup key"))?;
        row.as_ref().map(decode).transpose()
    }
}

/// Decodes a row selected with [`COLUMNS`].
fn decode(r: &SqliteRow) -> Result<TriggerRecord, StoreError> {
    let bad = |e: sqlx::Error| corrupt("trigger", e);
    let id: String = r.try_get("id").map_err(bad)?;
    let at: String = r.try_get("at").map_err(bad)?;
    let rules: String = r.try_get("matched_rules").map_err(bad)?;
    let deployments: String = r.try_get("deployment_ids").map_err(bad)?;
    let outcome_text: String = r.try_get("outcome").map_err(bad)?;
    Ok(TriggerRecord {
        id: id.parse().map_err(|e| corrupt("trigger", e))?,
        at: parse_sqlite_time(&at)?,
        source: r.try_get("source").map_err(bad)?,
        payload_digest: r.try_get("payload_digest").map_err(bad)?,
        identity: r.try_get("identity").map_err(bad)?,
        matched_rules: decode_list("trigger rules", &rules)?,
        deployment_ids: decode_list("trigger deployments", &deployments)?,
        outcome: outcome(&outcome_text)?,
        reason: r.try_get("reason").map_err(bad)?,
        dedup_key: r.try_get("dedup_key").map_err(bad)?,
    })
}
