//! The columns of a deployment row, derived from its record, and the JSON both ways.
//!
//! The record and each event are stored whole as JSON; the columns are copies of the fields
//! that queries filter and sort on. Reading always decodes the JSON, so a field added to the
//! record later needs no migration.

use chrono::{DateTime, Utc};

use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, Status};
use deployer_core::ports::StoreError;

use crate::error::corrupt;

/// The statuses of a finished deployment.
pub(crate) const TERMINAL: [Status; 3] = [Status::Succeeded, Status::Failed, Status::Unchanged];

/// The values of a `deployments` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeploymentRow {
    pub id: String,
    pub release_id: Option<String>,
    pub region: String,
    pub cluster: String,
    pub file: String,
    pub status: &'static str,
    pub phase: &'static str,
    pub method: &'static str,
    pub idempotency_key: Option<String>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub commit_sha: Option<String>,
    pub record: String,
}

impl DeploymentRow {
    /// The row for `record`.
    pub(crate) fn from_record(record: &DeploymentRecord) -> Result<Self, StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Internal {
            message: format!("cannot encode deployment {}: {e}", record.id),
        })?;
        let target = &record.request.target;
        Ok(Self {
            id: record.id.to_string(),
            release_id: record.release_id.clone(),
            region: target.region.to_string(),
            cluster: target.cluster.to_string(),
            file: target.file.to_string(),
            status: record.status.as_str(),
            phase: record.phase.as_str(),
            method: record.request.method.as_str(),
            idempotency_key: record.request.idempotency_key.clone(),
            requested_by: record.request.requested_by.clone(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            finished_at: record.finished_at,
            commit_sha: record.commit_sha.clone(),
            record: json,
        })
    }
}

/// The values of a `deployment_events` row (its `seq` comes from the database).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRow {
    pub deployment_id: String,
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub payload: String,
}

impl EventRow {
    /// The row for `event`, which must be about `owner`.
    pub(crate) fn from_event(owner: DeploymentId, event: &DeploymentEvent) -> Result<Self, StoreError> {
        if event.deployment_id != owner {
            return Err(StoreError::Internal {
                message: format!(
                    "event `{}` is about deployment {} but was written with deployment {owner}",
                    event.kind.as_str(),
                    event.deployment_id
                ),
            });
        }
        let payload = serde_json::to_string(event).map_err(|e| StoreError::Internal {
            message: format!("cannot encode an event of deployment {owner}: {e}"),
        })?;
        Ok(Self {
            deployment_id: owner.to_string(),
            kind: event.kind.as_str(),
            at: event.at,
            payload,
        })
    }
}

/// The rows of `events`, checked to all be about `owner`.
pub(crate) fn event_rows(owner: DeploymentId, events: &[DeploymentEvent]) -> Result<Vec<EventRow>, StoreError> {
    events.iter().map(|e| EventRow::from_event(owner, e)).collect()
}

/// Decodes a stored record.
pub(crate) fn decode_record(json: &str) -> Result<DeploymentRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("deployment record", e))
}

/// Decodes a stored event and gives it its sequence number.
pub(crate) fn decode_event(seq: i64, json: &str) -> Result<DeploymentEvent, StoreError> {
    let mut event: DeploymentEvent = serde_json::from_str(json).map_err(|e| corrupt(&format!("event {seq}"), e))?;
    event.seq = seq;
    Ok(event)
}

/// The text form SQLite stores times in: fixed width, so text order is time order.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses a time stored by [`sqlite_time`].
pub(crate) fn parse_sqlite_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt("timestamp", format!("`{text}`: {e}")))
}

/// Encodes a list column as JSON.
pub(crate) fn encode_list<T: serde::Serialize>(what: &str, items: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Internal {
        message: format!("cannot encode {what}: {e}"),
    })
}

/// Decodes a JSON list column.
pub(crate) fn decode_list<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt(what, e))
}

/// Parses an optional time stored by [`sqlite_time`].
pub(crate) fn parse_sqlite_time_opt(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_sqlite_time).transpose()
}

/// Limits a length for SQL `LIMIT`.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Keeps an error text short enough to store.
pub(crate) fn truncate_error(text: &str) -> String {
    const MAX: usize = 2000;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_sort_as_text_in_time_order() {
        let a = DateTime::from_timestamp(1_700_000_000, 5_000).unwrap_or_default();
        let b = DateTime::from_timestamp(1_700_000_000, 50_000_000).unwrap_or_default();
        let c = DateTime::from_timestamp(1_700_000_001, 0).unwrap_or_default();
        let (ta, tb, tc) = (sqlite_time(a), sqlite_time(b), sqlite_time(c));
        assert!(ta < tb && tb < tc, "{ta} {tb} {tc}");
        assert_eq!(ta.len(), tc.len());
        assert_eq!(parse_sqlite_time(&tb).ok(), Some(b));
    }

    #[test]
    fn long_errors_are_truncated_on_a_character_boundary() {
        let long = "é".repeat(3000);
        let t = truncate_error(&long);
        assert!(t.len() <= 2000 + '…'.len_utf8());
        assert!(t.ends_with('…'));
        assert_eq!(truncate_error("short"), "short");
    }
}
