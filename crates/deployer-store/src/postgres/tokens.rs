//! [`TokenStore`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use deployer_auth::{TokenHash, TokenId, TokenRecord};
use deployer_core::ports::StoreError;

use super::PostgresStore;
use crate::error::corrupt;
use crate::tokens::{TokenRow, TokenStore, encode_scopes};

/// The columns a token query returns.
const COLUMNS: &str = "id, name, hash, scopes::text AS scopes, created_at, expires_at, revoked_at, last_used_at";

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let scopes = encode_scopes(record)?;
        sqlx::query(
            "INSERT INTO tokens (id, name, hash, scopes, created_at, expires_at, revoked_at, last_used_at) \
             VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8)",
        )
        .bind(record.id.as_str())
        .bind(record.name.as_str())
        .bind(record.hash.to_hex())
        .bind(scopes)
        .bind(record.created_at)
        .bind(record.expires_at)
        .bind(record.revoked_at)
        .bind(record.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(self.err(&format!("creating token {}", record.id)))?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE hash = $1"))
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("looking a token up"))?;
        row.as_ref().map(token).transpose()
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err(&format!("reading token {id}")))?;
        row.as_ref().map(token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("listing tokens"))?;
        rows.iter().map(token).collect()
    }

    async fn revoke_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 RETURNING {COLUMNS}"
        ))
        .bind(now)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err(&format!("revoking token {id}")))?;
        row.as_ref().map(token).transpose()
    }

    async fn touch_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(self.err(&format!("recording the use of token {id}")))?;
        Ok(())
    }
}

/// Decodes a row selected with [`COLUMNS`].
fn token(r: &PgRow) -> Result<TokenRecord, StoreError> {
    let bad = |e: sqlx::Error| corrupt("token", e);
    TokenRow {
        id: r.try_get("id").map_err(bad)?,
        name: r.try_get("name").map_err(bad)?,
        hash: r.try_get("hash").map_err(bad)?,
        scopes: r.try_get("scopes").map_err(bad)?,
        created_at: r.try_get("created_at").map_err(bad)?,
        expires_at: r.try_get("expires_at").map_err(bad)?,
        revoked_at: r.try_get("revoked_at").map_err(bad)?,
        last_used_at: r.try_get("last_used_at").map_err(bad)?,
    }
    .decode()
}
