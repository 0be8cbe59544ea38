//! [`PinStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use deployer_core::model::Target;
use deployer_core::ports::StoreError;

use super::SqliteStore;
use crate::columns::{parse_sqlite_time, sqlite_time};
use crate::error::corrupt;
use crate::pins::{Pin, PinOutcome, PinStore, deployment_id, target};

/// The columns a pin query returns.
const COLUMNS: &str = "region, cluster, file, pinned_by, reason, deployment_id, pinned_at";

#[async_trait]
impl PinStore for SqliteStore {
    async fn pin(&self, pin: &Pin) -> Result<PinOutcome, StoreError> {
        let doing = format!("pinning {}", pin.target);
        let mut tx = self.begin_write(&doing).await?;
        let inserted = sqlx::query(
            "INSERT INTO pins (region, cluster, file, pinned_by, reason, deployment_id, pinned_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (region, cluster, file) DO NOTHING",
        )
        .bind(pin.target.region.as_str())
        .bind(pin.target.cluster.as_str())
        .bind(pin.target.file.as_str())
        .bind(&pin.pinned_by)
        .bind(&pin.reason)
        .bind(pin.deployment_id.map(|id| id.to_string()))
        .bind(sqlite_time(pin.pinned_at))
        .execute(&mut *tx)
        .await
        .map_err(self.err(&doing))?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await.map_err(self.err(&doing))?;
            return Ok(PinOutcome::Pinned);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pins WHERE region = ? AND cluster = ? AND file = ?"
        ))
        .bind(pin.target.region.as_str())
        .bind(pin.target.cluster.as_str())
        .bind(pin.target.file.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err(&doing))?;
        tx.rollback().await.map_err(self.err(&doing))?;
        Ok(PinOutcome::AlreadyPinned(Box::new(decode(&row)?)))
    }

    async fn unpin(&self, t: &Target) -> Result<Option<Pin>, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM pins WHERE region = ? AND cluster = ? AND file = ? RETURNING {COLUMNS}"
        ))
        .bind(t.region.as_str())
        .bind(t.cluster.as_str())
        .bind(t.file.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(self.err(&format!("unpinning {t}")))?;
        row.as_ref().map(decode).transpose()
    }

    async fn get_pin(&self, t: &Target) -> Result<Option<Pin>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pins WHERE region = ? AND cluster = ? AND file = ?"
        ))
        .bind(t.region.as_str())
        .bind(t.cluster.as_str())
        .bind(t.file.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(self.err(&format!("reading the pin of {t}")))?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_pins(&self) -> Result<Vec<Pin>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM pins ORDER BY region, cluster, file"))
            .fetch_all(&self.reader)
            .await
            .map_err(self.err("listing pins"))?;
        rows.iter().map(decode).collect()
    }
}

/// Decodes a row selected with [`COLUMNS`].
fn decode(r: &SqliteRow) -> Result<Pin, StoreError> {
    let bad = |e: sqlx::Error| corrupt("pin", e);
    let region: String = r.try_get("region").map_err(bad)?;
    let cluster: String = r.try_get("cluster").map_err(bad)?;
    let file: String = r.try_get("file").map_err(bad)?;
    let pinned_at: String = r.try_get("pinned_at").map_err(bad)?;
    Ok(Pin {
        target: target(&region, &cluster, &file)?,
        pinned_by: r.try_get("pinned_by").map_err(bad)?,
        reason: r.try_get("reason").map_err(bad)?,
        deployment_id: deployment_id(r.try_get("deployment_id").map_err(bad)?)?,
        pinned_at: parse_sqlite_time(&pinned_at)?,
    })
}
