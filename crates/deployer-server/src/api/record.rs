//! Deployment records as the API answers with them: the stored record, plus `commit_url`, the
//! page of its configuration-repository commit when `[git] commit_url` or a well-known remote
//! says where commits are shown (see [`crate::config::commit_links`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, EventKind};
use serde::Serialize;

use super::state::AppState;
use crate::config::CommitLinks;

/// A deployment record with the links the API adds to it.
#[derive(Debug, Serialize)]
pub struct RecordView {
    /// The record as stored.
    #[serde(flatten)]
    pub record: DeploymentRecord,
    /// The page of `commit_sha` in the configuration repository's web interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_url: Option<String>,
}

impl RecordView {
    /// `record` with its commit linked through `links`.
    pub fn new(record: DeploymentRecord, links: &CommitLinks) -> Self {
        let commit_url = record.commit_sha.as_deref().and_then(|sha| links.url(sha));
        Self { record, commit_url }
    }

    /// `record` with its commit linked as `state`'s settings say.
    pub fn of(state: &AppState, record: DeploymentRecord) -> Self {
        Self::new(record, &state.settings.commit_links)
    }
}

/// The answer to a wait (`?wait=true`): the record, and whether the wait ended first.
#[derive(Debug, Serialize)]
pub struct WaitedView {
    /// The record, as it was when the wait ended.
    #[serde(flatten)]
    pub record: RecordView,
    /// `true` when the wait ended before the deployment did.
    pub timed_out: bool,
}

/// The 200 answer to a wait.
pub fn waited(state: &AppState, record: DeploymentRecord, timed_out: bool) -> Response {
    let body = WaitedView {
        record: RecordView::of(state, record),
        timed_out,
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// An event as the event stream sends it, with its record linked like every other record.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// Position in the store's event log (also the SSE `id`).
    pub seq: i64,
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// What happened (also the SSE `event`).
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The record right after the change.
    pub record: RecordView,
}

impl EventView {
    /// `event` with its record's commit linked through `links`.
    pub fn new(event: DeploymentEvent, links: &CommitLinks) -> Self {
        // Every field named, so that a field added to events is not silently left out here.
        let DeploymentEvent {
            seq,
            deployment_id,
            kind,
            at,
            record,
        } = event;
        Self {
            seq,
            deployment_id,
            kind,
            at,
            record: RecordView::new(record, links),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use deployer_core::image::Tag;
    use deployer_core::model::{DeployRequest, ImageChange, Method, Source};

    use super::*;
    use crate::config::CommitUrlTemplate;

    fn record(sha: Option<&str>) -> DeploymentRecord {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).single().unwrap_or_default();
        let request = DeployRequest {
            target: "us-west-2/prod-1/api".parse().unwrap_or_else(|e| panic!("{e}")),
            image: None,
            container: None,
            change: ImageChange::Tag {
                tag: Tag::new("v2").unwrap_or_else(|e| panic!("{e}")),
            },
            method: Method::Apply,
            reason: None,
            timeout: None,
            source: Source::default(),
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: None,
            force: false,
            rollback_of: None,
        };
        let mut record = DeploymentRecord::accepted(DeploymentId::generate(now), request, now);
        record.commit_sha = sha.map(str::to_owned);
        record
    }

    fn links() -> CommitLinks {
        let template: Option<CommitUrlTemplate> = "https://git.example.com/c/{sha}".parse().ok();
        CommitLinks::new(template, None)
    }

    #[test]
    fn a_committed_record_carries_its_commit_url_next_to_its_fields() {
        let value =
            serde_json::to_value(RecordView::new(record(Some("abcd1234")), &links())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["commit_sha"], "abcd1234");
        assert_eq!(value["commit_url"], "https://git.example.com/c/abcd1234");
        assert_eq!(value["request"]["target"]["file"], "api");
    }

    #[test]
    fn a_record_without_commit_or_without_links_has_no_commit_url() {
        let uncommitted = serde_json::to_value(RecordView::new(record(None), &links())).unwrap_or_default();
        assert!(uncommitted.get("commit_url").is_none(), "{uncommitted}");
        let unlinked = serde_json::to_value(RecordView::new(record(Some("abcd1234")), &CommitLinks::default()))
            .unwrap_or_default();
        assert!(unlinked.get("commit_url").is_none(), "{unlinked}");
    }

    #[test]
    fn events_and_waits_link_the_record_they_carry() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 6, 1, 0).single().unwrap_or_default();
        let event = DeploymentEvent::new(EventKind::Committed, &record(Some("abcd1234")), at);
        let value = serde_json::to_value(EventView::new(event, &links())).unwrap_or_default();
        assert_eq!(value["kind"], "committed");
        assert_eq!(value["record"]["commit_url"], "https://git.example.com/c/abcd1234");
        let waited = WaitedView {
            record: RecordView::new(record(Some("abcd1234")), &links()),
            timed_out: false,
        };
        let value = serde_json::to_value(waited).unwrap_or_default();
        assert_eq!(
            (value["commit_url"].as_str(), value["timed_out"].as_bool()),
            (Some("https://git.example.com/c/abcd1234"), Some(false))
        );
    }
}
