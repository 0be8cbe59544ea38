//! `GET /api/v1/audit`: the audit log, newest first, filtered and paged (needs `admin:*`).

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use chrono::{DateTime, Utc};
use deployer_store::{AuditEntry, AuditFilter, AuditOutcome, AuditPage};
use serde::{Deserialize, Serialize};

use super::AuditLog;
use crate::api::error::ApiError;

/// The default and largest page sizes.
pub const LIMITS: (usize, usize) = (100, 500);

/// The query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this identity (`ci/AbCdEfGh`, `ops/config`, `webhook:github/acme`, `anonymous`).
    pub identity: Option<String>,
    /// Only this action (`read`, `deploy`, `rollback`, `pin`, `admin`, `webhook`).
    pub action: Option<String>,
    /// Only this outcome (`allowed`, `denied`, `failed`).
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<usize>,
    /// Continue below this `seq` (the `next_before` of the previous page).
    pub before: Option<i64>,
}

/// One entry as the API shows it.
#[derive(Debug, Serialize)]
pub struct AuditView {
    /// Its position in the log.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub identity: String,
    /// What was attempted.
    pub action: String,
    /// On what, when it concerns a target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: &'static str,
    /// The HTTP status answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why (the missing scope, the token's refusal, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            identity: e.identity,
            action: e.action,
            target: e.target,
            outcome: e.outcome.as_str(),
            status_code: e.status_code,
            detail: e.detail,
            client_ip: e.client_ip.map(|ip| ip.to_string()),
        }
    }
}

/// A page of the log.
#[derive(Debug, Serialize)]
pub struct AuditList {
    /// The entries, newest first.
    pub entries: Vec<AuditView>,
    /// The `before` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
    /// Entries dropped since the service started because the store fell behind.
    pub dropped: u64,
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message).with_hint(
        "filters: `identity`, `action`, `outcome`, `since`, `until` (RFC 3339), `limit` (1 to 500), `before`",
    )
}

fn time(name: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| invalid(format!("`{name}` is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

fn filter_of(q: AuditQuery) -> Result<(AuditFilter, AuditPage), ApiError> {
    let outcome = match q.outcome.as_deref() {
        None => None,
        Some(text) => Some(
            AuditOutcome::parse(text)
                .ok_or_else(|| invalid("`outcome` must be `allowed`, `denied` or `failed`".to_owned()))?,
        ),
    };
    let limit = q.limit.unwrap_or(LIMITS.0);
    if !(1..=LIMITS.1).contains(&limit) {
        return Err(invalid(format!("`limit` must be between 1 and {}", LIMITS.1)));
    }
    let filter = AuditFilter {
        identity: q.identity,
        action: q.action,
        outcome,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    };
    Ok((
        filter,
        AuditPage {
            limit,
            before: q.before,
        },
    ))
}

/// Lists audit entries.
pub async fn list(
    Extension(log): Extension<AuditLog>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(format!("invalid query string: {}", e.body_text())))?;
    let (filter, page) = filter_of(q)?;
    let Some(store) = log.reader() else {
        return Err(ApiError::unavailable(
            "audit_unavailable",
            "the audit log is not kept by this server",
            None,
            Duration::from_secs(60),
        ));
    };
    let entries = store.query_audit(&filter, &page).await?;
    let next_before = (entries.len() == page.limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditList {
        entries: entries.into_iter().map(AuditView::from).collect(),
        next_before,
        dropped: log.dropped(),
    }))
}
