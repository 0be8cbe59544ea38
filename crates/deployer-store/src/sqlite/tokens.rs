//! [`TokenStore`] on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use deployer_auth::{TokenHash, TokenId, TokenRecord};
use deployer_core::ports::StoreError;

use super::SqliteStore;
use crate::columns::{parse_sqlite_time, parse_sqlite_time_opt, sqlite_time};
use crate::error::corrupt;
use crate::tokens::{TokenRow, TokenStore, encode_scopes};

/// The columns a token query returns.
const COLUMNS: &str = "id, name, hash, scopes, created_at, expires_at, revoked_at, last_used_at";

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let scopes = encode_scopes(record)?;
        sqlx::query(
            "INSERT INTO tokens (id, name, hash, scopes, created_at, expires_at, revoked_at, last_used_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(record.id.as_str())
        .bind(record.name.as_str())
        .bind(record.hash.to_hex())
        .bind(scopes)
        .bind(sqlite_time(record.created_at))
        .bind(record.expires_at.map(sqlite_time))
        .bind(record.revoked_at.map(sqlite_time))
        .bind(record.last_used_at.map(sqlite_time))
        .execute(&self.writer)
        .await
        .map_err(self.err(&format!("creating token {}", record.id)))?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?"))
            .bind(hash.to_hex())
            .fetch_optional(&self.reader)
            .await
            .map_err(self.err("looking a token up"))?;
        row.as_ref().map(token).transpose()
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE id = ?"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(self.err(&format!("reading token {id}")))?;
        row.as_ref().map(token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"))
            .fetch_all(&self.reader)
            .await
            .map_err(self.err("listing tokens"))?;
        rows.iter().map(token).collect()
    }

    async fn revoke_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING {COLUMNS}"
        ))
        .bind(sqlite_time(now))
        .bind(id.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(self.err(&format!("revoking token {id}")))?;
        row.as_ref().map(token).transpose()
    }

    async fn touch_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let at = sqlite_time(now);
        sqlx::query("UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
            .bind(&at)
            .bind(id.as_str())
            .bind(&at)
            .execute(&self.writer)
            .await
            .map_err(self.err(&format!("recording the use of token {id}")))?;
        Ok(())
    }
}

/// Decodes a row selected with [`COLUMNS`].
fn token(r: &SqliteRow) -> Result<TokenRecord, StoreError> {
    let bad = |e: sqlx::Error| corrupt("token", e);
    let created_at: String = r.try_get("created_at").map_err(bad)?;
    TokenRow {
        id: r.try_get("id").map_err(bad)?,
        name: r.try_get("name").map_err(bad)?,
        hash: r.try_get("hash").map_err(bad)?,
        scopes: r.try_get("scopes").map_err(bad)?,
        created_at: parse_sqlite_time(&created_at)?,
        expires_at: parse_sqlite_time_opt(r.try_get("expires_at").map_err(bad)?)?,
        revoked_at: parse_sqlite_time_opt(r.try_get("revoked_at").map_err(bad)?)?,
        last_used_at: parse_sqlite_time_opt(r.try_get("last_used_at").map_err(bad)?)?,
    }
    .decode()
}
