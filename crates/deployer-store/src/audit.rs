//! The audit log: who did what, to which target, and whether it was allowed.
//!
//! Entries are only ever appended. The store numbers them (`seq`); queries come newest first
//! and page with `before`, the `seq` of the last entry of the previous page.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::ports::StoreError;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// Authenticated, allowed, and done.
    Allowed,
    /// Refused: no valid token, a missing scope, or over the rate limit.
    Denied,
    /// Allowed, but it failed.
    Failed,
}

impl AuditOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [AuditOutcome::Allowed, AuditOutcome::Denied, AuditOutcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its position in the log (assigned by the store; 0 before).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `name/token-id` for a token (`Caller::identity`), `webhook:<name>`, or
    /// `anonymous`.
    pub identity: String,
    /// What was attempted: a scope action (`deploy`, `rollback`, `pin`) or an operation
    /// (`token.create`, `token.revoke`, `authenticate`).
    pub action: String,
    /// On what: `region/cluster/file`, a token id, or nothing.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The HTTP status answered.
    pub status_code: Option<u16>,
    /// Why (the missing scope, the rejection kind, the error code).
    pub detail: Option<String>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
}

impl AuditEntry {
    /// An entry with no target, status, detail or address yet; add them with the `with_*`
    /// methods.
    pub fn new(
        at: DateTime<Utc>,
        identity: impl Into<String>,
        action: impl Into<String>,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            seq: 0,
            at,
            identity: identity.into(),
            action: action.into(),
            target: None,
            outcome,
            status_code: None,
            detail: None,
            client_ip: None,
        }
    }

    /// With the target acted on.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// With the HTTP status answered.
    #[must_use]
    pub fn with_status(mut self, code: u16) -> Self {
        self.status_code = Some(code);
        self
    }

    /// With the reason.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// With the client's address.
    #[must_use]
    pub fn with_client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }
}

/// Which audit entries to return. Every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this identity.
    pub identity: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<AuditOutcome>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A page of the audit log: newest first, below `before` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPage {
    /// Return at most this many.
    pub limit: usize,
    /// Continue below this `seq` (exclusive), the last of the previous page.
    pub before: Option<i64>,
}

/// The audit log, implemented by both backends.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry (its `seq` is ignored) and returns the `seq` it got.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;

    /// Appends `entries` in order, all or none where the backend allows (SQLite writes them
    /// in one transaction). By default, one [`AuditStore::append_audit`] after the other.
    ///
    /// # Errors
    /// The first failure; the entries before it may be written.
    async fn append_audit_batch(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        for entry in entries {
            self.append_audit(entry).await?;
        }
        Ok(())
    }

    /// Entries matching `filter`, newest first.
    async fn query_audit(&self, filter: &AuditFilter, page: &AuditPage) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Keeps a free-text audit field short enough to store.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Parses a stored client address.
pub(crate) fn parse_ip(text: Option<String>) -> Result<Option<IpAddr>, StoreError> {
    text.map(|t| {
        t.parse()
            .map_err(|e| crate::error::corrupt("audit entry", format!("client address `{t}`: {e}")))
    })
    .transpose()
}

/// Decodes a stored status code.
pub(crate) fn status_code(code: Option<i32>) -> Option<u16> {
    code.and_then(|c| u16::try_from(c).ok())
}

/// Decodes a stored outcome.
pub(crate) fn outcome(text: &str) -> Result<AuditOutcome, StoreError> {
    AuditOutcome::parse(text).ok_or_else(|| crate::error::corrupt("audit entry", format!("unknown outcome `{text}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for o in [AuditOutcome::Allowed, AuditOutcome::Denied, AuditOutcome::Failed] {
            assert_eq!(AuditOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(AuditOutcome::parse("maybe"), None);
    }

    #[test]
    fn long_fields_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(300);
        let clipped = clip(&long, 201);
        assert!(clipped.len() <= 201 + '…'.len_utf8());
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short", 200), "short");
    }

    #[test]
    fn entries_are_built_field_by_field() {
        let at = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        let e = AuditEntry::new(at, "ci/AbCdEfGh", "deploy", AuditOutcome::Denied)
            .with_target("us-west-2/prod-1/api")
            .with_status(403)
            .with_detail("missing_scope: deploy:production/us-west-2/prod-1/api")
            .with_client_ip(IpAddr::from([192, 0, 2, 7]));
        assert_eq!(
            (e.seq, e.status_code, e.target.as_deref()),
            (0, Some(403), Some("us-west-2/prod-1/api"))
        );
        assert_eq!(e.client_ip.map(|ip| ip.to_string()).as_deref(), Some("192.0.2.7"));
    }
}
