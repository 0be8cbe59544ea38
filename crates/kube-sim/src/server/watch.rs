//! Watch streams (spec §6.2): chunked, one JSON event per line, flushed as it happens.
//!
//! Each watch runs as a task writing lines into a bounded channel that the response body
//! reads; when the client goes away the channel closes and the task ends.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::context::SharedRef;
use crate::schema;
use crate::store::{ApiStatus, Change, EventType, FieldSelector, LabelSelector, ResourceType, StoreError};

/// The longest a watch stays open when the client gives no `timeoutSeconds`.
const MAX_WATCH: Duration = Duration::from_secs(1800);

/// The parameters of one watch.
pub(crate) struct WatchRequest {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub table: bool,
}

type Line = Result<Bytes, std::io::Error>;

struct Watcher {
    shared: SharedRef,
    request: WatchRequest,
    tx: mpsc::Sender<Line>,
}

/// Starts a watch and returns the streaming response.
pub(crate) fn start(shared: SharedRef, request: WatchRequest) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Line>(256);
    let watcher = Watcher { shared, request, tx };
    tokio::spawn(watcher.run());
    let mut response = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn expired_event(message: String) -> Value {
    json!({"type": "ERROR", "object": ApiStatus::new(410, "Expired", message).to_json()})
}

/// The watch line of a `kind` event about the object whose JSON text is `object_json`: byte
/// for byte `{"type": kind, "object": object}` serialised, and a newline.
fn wrap_event(kind: &str, object_json: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object_json.len() + kind.len() + 24);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object_json);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

impl Watcher {
    fn matches(&self, object: &Value) -> bool {
        let in_namespace = match &self.request.namespace {
            Some(ns) => object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns.as_str()),
            None => true,
        };
        in_namespace && self.request.labels.matches(object) && self.request.fields.matches(object)
    }

    fn event(&self, kind: &str, object: &Value) -> Value {
        let object = if self.request.table {
            let mut table = schema::table(
                self.request.resource.kind,
                std::slice::from_ref(object),
                true,
                self.shared.clock.now(),
            );
            if let Some(rv) = object.pointer("/metadata/resourceVersion")
                && let Some(meta) = table.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.insert("resourceVersion".into(), rv.clone());
            }
            table
        } else {
            object.clone()
        };
        json!({"type": kind, "object": object})
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {
            "kind": self.request.resource.kind,
            "apiVersion": self.request.resource.api_version(),
            "metadata": metadata
        }})
    }

    async fn send(&self, event: &Value) -> bool {
        let mut line = event.to_string();
        line.push('\n');
        self.send_line(Bytes::from(line)).await
    }

    async fn send_line(&self, line: Bytes) -> bool {
        self.tx.send(Ok(line)).await.is_ok()
    }

    /// The line of a `kind` event about `object`: a Table row when the client asked for
    /// tables, otherwise the object's JSON text (`object_json`) wrapped as an event, byte for
    /// byte what serialising `{"type": kind, "object": object}` gives.
    fn event_line(&self, kind: &str, object: &Value, object_json: impl FnOnce() -> Bytes) -> Bytes {
        if self.request.table {
            let mut line = self.event(kind, object).to_string();
            line.push('\n');
            return Bytes::from(line);
        }
        wrap_event(kind, &object_json())
    }

    /// The event line a change produces for this watch, after selector transitions.
    fn translate(&self, change: &Change) -> Option<Bytes> {
        if change.resource.plural != self.request.resource.plural {
            return None;
        }
        let now_matches = self.matches(&change.object);
        let before = change.previous.as_deref().map(|p| self.matches(p)).unwrap_or(false);
        let kind = match change.event {
            EventType::Added => now_matches.then_some("ADDED"),
            EventType::Modified => match (before, now_matches) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
            EventType::Deleted => (now_matches || before).then_some("DELETED"),
        }?;
        Some(self.event_line(kind, &change.object, || change.object_json()))
    }

    async fn run(self) {
        let shared = Arc::clone(&self.shared);
        let mut changes = shared
            .store
            .subscribe(self.request.resource, self.request.namespace.as_deref());
        let mut drops = shared.drop_watches.subscribe();
        let mut shutdown = shared.shutdown.clone();
        if *shutdown.borrow() {
            return;
        }
        let timeout = self.request.timeout.unwrap_or(MAX_WATCH).min(MAX_WATCH);
        let deadline = tokio::time::Instant::now() + timeout;

        if shared.faults().faults().expire_watches {
            let rv = shared.store.current_rv();
            let requested = self.request.resource_version.clone().unwrap_or_else(|| rv.to_string());
            self.send(&expired_event(format!("too old resource version: {requested} ({rv})")))
                .await;
            return;
        }

        let start = self
            .request
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty() && *rv != "0");
        let mut last_rv = match start {
            Some(text) if !self.request.send_initial_events => match text.parse::<u64>() {
                Ok(rv) => rv,
                Err(_) => return,
            },
            _ => {
                let (objects, rv) = shared
                    .store
                    .all(self.request.resource, self.request.namespace.as_deref());
                for object in objects.iter().filter(|o| self.matches(o)) {
                    let line = self.event_line("ADDED", object, || Bytes::from(object.to_string()));
                    if !self.send_line(line).await {
                        return;
                    }
                }
                if self.request.send_initial_events && !self.send(&self.bookmark(rv, true)).await {
                    return;
                }
                rv
            }
        };

        let mut bookmark_timer = tokio::time::interval_at(
            tokio::time::Instant::now() + shared.bookmark_interval,
            shared.bookmark_interval,
        );
        loop {
            let pending =
                shared
                    .store
                    .changes_of_since(last_rv, self.request.resource, self.request.namespace.as_deref());
            match pending {
                Ok((batch, newest)) => {
                    for change in batch {
                        if let Some(line) = self.translate(&change)
                            && !self.send_line(line).await
                        {
                            return;
                        }
                    }
                    if let Some(newest) = newest {
                        last_rv = last_rv.max(newest);
                    }
                }
                Err(StoreError::Expired(message)) => {
                    self.send(&expired_event(message)).await;
                    return;
                }
                Err(_) => return,
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = bookmark_timer.tick() => {
                    if self.request.bookmarks && !self.send(&self.bookmark(last_rv, false)).await {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.request.bookmarks {
                        self.send(&self.bookmark(last_rv, false)).await;
                    }
                    return;
                }
                _ = drops.changed() => {
                    let _ = self.tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "watch dropped"))).await;
                    return;
                }
                _ = shutdown.changed() => return,
                () = self.tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_event_is_the_serialised_event_object() {
        let object = json!({"kind": "Deployment", "metadata": {"name": "web", "labels": {"a\"b": "c\\d"}}, "spec": {"replicas": 2}});
        for kind in ["ADDED", "MODIFIED", "DELETED"] {
            let mut expected = json!({"type": kind, "object": object}).to_string();
            expected.push('\n');
            assert_eq!(wrap_event(kind, object.to_string().as_bytes()), Bytes::from(expected));
        }
    }
}
