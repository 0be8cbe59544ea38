//! [`ReleaseStore`] on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use deployer_core::ports::StoreError;

use super::PostgresStore;
use crate::columns::{decode_list, encode_list};
use crate::error::corrupt;
use crate::ids::ReleaseId;
use crate::releases::{ReleaseRecord, ReleaseStore};

#[async_trait]
impl ReleaseStore for PostgresStore {
    async fn create_release(&self, r: &ReleaseRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO releases (id, at, tag, image, branch, environment, commit_sha, build_url, deployment_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json)",
        )
        .bind(r.id.to_string())
        .bind(r.at)
        .bind(r.tag.as_str())
        .bind(r.image.to_string())
        .bind(&r.branch)
        .bind(&r.environment)
        .bind(&r.commit)
        .bind(&r.build_url)
        .bind(encode_list("deployment ids", &r.deployment_ids)?)
        .execute(&self.pool)
        .await
        .map_err(self.err(&format!("recording release {}", r.id)))?;
        Ok(())
    }

    async fn get_release(&self, id: ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, at, tag, image, branch, environment, commit_sha, build_url, deployment_ids::text AS deployment_ids \
             FROM releases WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err(&format!("reading release {id}")))?;
        row.as_ref().map(decode).transpose()
    }
}

/// Decodes a release row.
fn decode(r: &PgRow) -> Result<ReleaseRecord, StoreError> {
    let bad = |e: sqlx::Error| corrupt("release", e);
    let id: String = r.try_get("id").map_err(bad)?;
    let tag: String = r.try_get("tag").map_err(bad)?;
    let image: String = r.try_get("image").map_err(bad)?;
    let deployments: String = r.try_get("deployment_ids").map_err(bad)?;
    Ok(ReleaseRecord {
        id: id.parse().map_err(|e| corrupt("release", e))?,
        at: r.try_get("at").map_err(bad)?,
        tag: tag.parse().map_err(|e| corrupt("release", e))?,
        image: image.parse().map_err(|e| corrupt("release", e))?,
        branch: r.try_get("branch").map_err(bad)?,
        environment: r.try_get("environment").map_err(bad)?,
        commit: r.try_get("commit_sha").map_err(bad)?,
        build_url: r.try_get("build_url").map_err(bad)?,
        deployment_ids: decode_list("release deployments", &deployments)?,
    })
}
