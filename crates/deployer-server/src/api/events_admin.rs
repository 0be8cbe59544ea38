//! The events that could not be delivered: `GET /api/v1/events?state=dead[&sink=]` lists them
//! with their last error, `POST /api/v1/events/{id}/retry` brings one back and
//! `POST /api/v1/events/retry?sink=` brings back every dead event of a sink (needs `admin:*`).
//!
//! A revived event is due at once: its sink's worker delivers it at its next round, in event
//! order with the sink's other pending events.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use deployer_store::{OutboxEntry, OutboxId, OutboxState, OutboxStore, SinkName};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;

/// The default and largest number of events listed.
pub const LIMITS: (usize, usize) = (100, 1000);

/// The outbox and the configured sinks (an extension of the router).
#[derive(Clone)]
pub struct EventsAdmin {
    /// The store's outbox.
    pub outbox: Arc<dyn OutboxStore>,
    /// The configured sinks, in configuration order.
    pub sinks: Vec<SinkName>,
}

impl std::fmt::Debug for EventsAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsAdmin")
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

/// The query string of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Which events: only `dead` is supported.
    pub state: Option<String>,
    /// Only this sink's.
    pub sink: Option<String>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<usize>,
}

/// The query string of `POST /api/v1/events/retry`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryAllQuery {
    /// The sink whose dead events to revive.
    pub sink: Option<String>,
}

/// One outbox entry as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// The outbox entry's id (for `POST /api/v1/events/{id}/retry`).
    pub id: i64,
    /// The sink it is for.
    pub sink: String,
    /// `pending`, `delivered` or `dead`.
    pub state: &'static str,
    /// Failed deliveries.
    pub attempts: u32,
    /// The last delivery error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was last due.
    pub next_attempt_at: DateTime<Utc>,
    /// The CloudEvent `id`: `<deployment id>-<seq>`.
    pub event_id: String,
    /// The event's sequence number.
    pub seq: i64,
    /// What happened (`queued`, `committed`, …, `succeeded`, `failed`).
    pub kind: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The deployment.
    pub deployment_id: String,
    /// The target, `<region>/<cluster>/<file>`.
    pub target: String,
}

impl From<OutboxEntry> for EventView {
    fn from(e: OutboxEntry) -> Self {
        Self {
            id: e.id.0,
            sink: e.sink.as_str().to_owned(),
            state: e.state.as_str(),
            attempts: e.attempts,
            last_error: e.last_error,
            next_attempt_at: e.next_attempt_at,
            event_id: format!("{}-{}", e.event.deployment_id, e.event.seq),
            seq: e.event.seq,
            kind: e.event.kind.as_str().to_owned(),
            at: e.event.at,
            deployment_id: e.event.deployment_id.to_string(),
            target: e.event.record.request.target.to_string(),
        }
    }
}

/// The listing.
#[derive(Debug, Serialize)]
pub struct EventList {
    /// The events, oldest first.
    pub events: Vec<EventView>,
}

/// The answer to a retry.
#[derive(Debug, Serialize)]
pub struct Revived {
    /// The sink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// How many events are due again.
    pub revived: u64,
}

fn admin(ext: Option<Extension<EventsAdmin>>) -> Result<EventsAdmin, ApiError> {
    ext.map(|Extension(a)| a).ok_or_else(|| {
        ApiError::unavailable(
            "events_unavailable",
            "event delivery is not configured on this server",
            None,
            Duration::from_secs(60),
        )
    })
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
        .with_hint("parameters: `state` (`dead`), `sink` (a configured sink), `limit` (1 to 1000)")
}

/// The configured sink named `name`.
fn sink(admin: &EventsAdmin, name: &str) -> Result<SinkName, ApiError> {
    admin.sinks.iter().find(|s| s.as_str() == name).cloned().ok_or_else(|| {
        let known: Vec<String> = admin.sinks.iter().map(|s| format!("`{s}`")).collect();
        let shown: String = name.chars().take(64).flat_map(char::escape_default).collect();
        ApiError::client(
            StatusCode::NOT_FOUND,
            "sink_not_found",
            format!("no sink is named `{shown}`"),
        )
        .with_hint(if known.is_empty() {
            "no sink is configured; see `[sinks]`".to_owned()
        } else {
            format!("configured sinks: {}", known.join(", "))
        })
    })
}

/// Lists dead events, oldest first.
pub async fn list(
    ext: Option<Extension<EventsAdmin>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(format!("invalid query string: {}", e.body_text())))?;
    match q.state.as_deref() {
        None | Some("dead") => {}
        Some(other) => {
            let shown: String = other.chars().take(32).flat_map(char::escape_default).collect();
            return Err(invalid(format!("`state` must be `dead`, not `{shown}`")));
        }
    }
    let limit = q.limit.unwrap_or(LIMITS.0);
    if !(1..=LIMITS.1).contains(&limit) {
        return Err(invalid(format!("`limit` must be between 1 and {}", LIMITS.1)));
    }
    let admin = admin(ext)?;
    let sinks = match q.sink.as_deref() {
        Some(name) => vec![sink(&admin, name)?],
        None => admin.sinks.clone(),
    };
    let mut entries = Vec::new();
    for s in &sinks {
        entries.extend(admin.outbox.list_dead(s, limit).await?);
    }
    entries.sort_by_key(|e| (e.event.seq, e.id));
    entries.truncate(limit);
    Ok(Json(EventList {
        events: entries.into_iter().map(EventView::from).collect(),
    }))
}

/// Makes one dead event due again.
pub async fn retry(
    State(state): State<AppState>,
    ext: Option<Extension<EventsAdmin>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Revived>, ApiError> {
    let raw = id.map(|Path(p)| p).unwrap_or_default();
    let not_found = || {
        let shown: String = raw.chars().take(32).flat_map(char::escape_default).collect();
        ApiError::client(
            StatusCode::NOT_FOUND,
            "event_not_found",
            format!("no outbox entry has the id `{shown}`"),
        )
        .with_hint("list dead events with `GET /api/v1/events?state=dead`")
    };
    let id = raw.parse::<i64>().map_err(|_| not_found())?;
    let admin = admin(ext)?;
    match admin.outbox.retry_dead_entry(OutboxId(id), state.clock.now()).await? {
        None => Err(not_found()),
        Some(OutboxState::Dead) => {
            tracing::info!(message = "Dead event revived.", outbox_id = id);
            Ok(Json(Revived { sink: None, revived: 1 }))
        }
        Some(other) => Err(ApiError::client(
            StatusCode::CONFLICT,
            "event_not_dead",
            format!("outbox entry {id} is {}, not dead", other.as_str()),
        )),
    }
}

/// Makes every dead event of a sink due again.
pub async fn retry_all(
    State(state): State<AppState>,
    ext: Option<Extension<EventsAdmin>>,
    q: Result<Query<RetryAllQuery>, QueryRejection>,
) -> Result<Json<Revived>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(format!("invalid query string: {}", e.body_text())))?;
    let Some(name) = q.sink else {
        return Err(invalid("`sink` is required"));
    };
    let admin = admin(ext)?;
    let sink = sink(&admin, &name)?;
    let revived = admin.outbox.retry_dead(&sink, state.clock.now()).await?;
    tracing::info!(message = "Dead events revived.", sink = %sink, revived);
    Ok(Json(Revived {
        sink: Some(sink.as_str().to_owned()),
        revived,
    }))
}
