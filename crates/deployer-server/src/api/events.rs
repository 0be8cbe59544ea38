//! `GET /api/v1/deployments/{id}/events`: the deployment's events as Server-Sent Events.
//!
//! Stored events are replayed first (after `Last-Event-ID` when the client reconnects),
//! then new ones follow as they are recorded. Each message has `id:` = the event's sequence
//! number, `event:` = its kind and `data:` = the event as JSON. The stream ends after the
//! terminal event (`succeeded`, `failed`, `unchanged`); idle streams get keep-alive comments.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use deployer_core::model::{DeploymentEvent, DeploymentId};
use deployer_core::ports::Store;
use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::get::parse_id;
use super::record::EventView;
use super::state::AppState;
use super::wait::POLL;
use crate::config::CommitLinks;
use crate::hub::Listener;

struct Feed {
    store: Arc<dyn Store>,
    links: CommitLinks,
    id: DeploymentId,
    after: i64,
    listener: Listener,
    pending: VecDeque<DeploymentEvent>,
    done: bool,
    shutdown: CancellationToken,
}

fn message(event: DeploymentEvent, links: &CommitLinks) -> Event {
    let sse = Event::default().id(event.seq.to_string()).event(event.kind.as_str());
    let deployment_id = event.deployment_id;
    match sse.clone().json_data(EventView::new(event, links)) {
        Ok(e) => e,
        Err(error) => {
            tracing::error!(message = "Event not serialisable.", deployment_id = %deployment_id, error = %error);
            sse.comment("event could not be encoded")
        }
    }
}

impl Feed {
    /// The next message, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.seq;
                if event.kind.is_terminal() {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(message(event, &self.links));
            }
            if self.done {
                return None;
            }
            // The record first: if it is finished, the events read next include the last one.
            let finished = match self.store.get_deployment(self.id).await {
                Ok(record) => record.is_none_or(|r| r.status.is_terminal()),
                Err(error) => {
                    tracing::warn!(message = "Event stream ended: store unavailable.", deployment_id = %self.id, error = %error);
                    return None;
                }
            };
            match self.store.events(self.id, self.after).await {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) if finished => return None,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(message = "Event stream ended: store unavailable.", deployment_id = %self.id, error = %error);
                    return None;
                }
            }
            tokio::select! {
                alive = self.listener.changed(self.id) => if !alive { return None },
                () = tokio::time::sleep(POLL) => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

fn last_event_id(headers: &HeaderMap) -> Result<i64, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "`Last-Event-ID` must be an event's `id` (a non-negative integer)",
                )
            }),
    }
}

/// Streams a deployment's events.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let parsed = parse_id(&id)?;
    let after = last_event_id(&headers)?;
    let listener = state.hub.subscribe();
    if state.store.get_deployment(parsed).await?.is_none() {
        return Err(ApiError::deployment_not_found(&id));
    }
    let feed = Feed {
        store: state.store.clone(),
        links: state.settings.commit_links.clone(),
        id: parsed,
        after,
        listener,
        pending: VecDeque::new(),
        done: false,
        shutdown: state.shutdown.clone(),
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    let keep_alive: Duration = state.settings.sse_keep_alive;
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive)))
}
