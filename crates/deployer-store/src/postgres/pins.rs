//! [`PinStore`] on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use deployer_core::model::Target;
use deployer_core::ports::StoreError;

use super::PostgresStore;
use crate::error::corrupt;
use crate::pins::{Pin, PinOutcome, PinStore, deployment_id, target};

/// The columns a pin query returns.
const COLUMNS: &str = "region, cluster, file, pinned_by, reason, deployment_id, pinned_at";

#[async_trait]
impl PinStore for PostgresStore {
    async fn pin(&self, pin: &Pin) -> Result<PinOutcome, StoreError> {
        let doing = format!("pinning {}", pin.target);
        // Insert unless pinned; when it was, read the pin that is there.
        let inserted = sqlx::query(
            "INSERT INTO pins (region, cluster, file, pinned_by, reason, deployment_id, pinned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (region, cluster, file) DO NOTHING",
        )
        .bind(pin.target.region.as_str())
        .bind(pin.target.cluster.as_str())
        .bind(pin.target.file.as_str())
        .bind(&pin.pinned_by)
        .bind(&pin.reason)
        .bind(pin.deployment_id.map(|id| id.to_string()))
        .bind(pin.pinned_at)
        .execute(&self.pool)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        if inserted == 1 {
            return Ok(PinOutcome::Pinned);
        }
        match self.get_pin(&pin.target).await? {
            Some(existing) => Ok(PinOutcome::AlreadyPinned(Box::new(existing))),
            // Unpinned between the two statements: try once more.
            None => self.pin(pin).await,
        }
    }

    async fn unpin(&self, t: &Target) -> Result<Option<Pin>, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM pins WHERE region = $1 AND cluster = $2 AND file = $3 RETURNING {COLUMNS}"
        ))
        .bind(t.region.as_str())
        .bind(t.cluster.as_str())
        .bind(t.file.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err(&format!("unpinning {t}")))?;
        row.as_ref().map(decode).transpose()
    }

    async fn get_pin(&self, t: &Target) -> Result<Option<Pin>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pins WHERE region = $1 AND cluster = $2 AND file = $3"
        ))
        .bind(t.region.as_str())
        .bind(t.cluster.as_str())
        .bind(t.file.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err(&format!("reading the pin of {t}")))?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_pins(&self) -> Result<Vec<Pin>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pins ORDER BY region COLLATE \"C\", cluster COLLATE \"C\", file COLLATE \"C\""
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("listing pins"))?;
        rows.iter().map(decode).collect()
    }
}

/// Decodes a row selected with [`COLUMNS`].
fn decode(r: &PgRow) -> Result<Pin, StoreError> {
    let bad = |e: sqlx::Error| corrupt("pin", e);
    let region: String = r.try_get("region").map_err(bad)?;
    let cluster: String = r.try_get("cluster").map_err(bad)?;
    let file: String = r.try_get("file").map_err(bad)?;
    Ok(Pin {
        target: target(&region, &cluster, &file)?,
        pinned_by: r.try_get("pinned_by").map_err(bad)?,
        reason: r.try_get("reason").map_err(bad)?,
        deployment_id: deployment_id(r.try_get("deployment_id").map_err(bad)?)?,
        pinned_at: r.try_get("pinned_at").map_err(bad)?,
    })
}
