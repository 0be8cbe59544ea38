//! Received triggers: every webhook, CI release and API call that asked for deployments, and
//! what came of it. The record lets a replayed webhook be recognised (by its dedup key) and
//! lets an operator see why a push deployed nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::DeploymentId;
use deployer_core::ports::StoreError;

use crate::ids::TriggerId;

/// What came of a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerOutcome {
    /// Deployments were created.
    Accepted,
    /// Valid, but no rule matched (or every matched target was pinned).
    Ignored,
    /// The same delivery was seen before; nothing was done again.
    Duplicate,
    /// Refused: bad signature or secret, malformed payload, missing scope.
    Rejected,
    /// Accepted, but creating the deployments failed.
    Failed,
}

impl TriggerOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerOutcome::Accepted => "accepted",
            TriggerOutcome::Ignored => "ignored",
            TriggerOutcome::Duplicate => "duplicate",
            TriggerOutcome::Rejected => "rejected",
            TriggerOutcome::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TriggerOutcome::Accepted,
            TriggerOutcome::Ignored,
            TriggerOutcome::Duplicate,
            TriggerOutcome::Rejected,
            TriggerOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One received trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRecord {
    /// Its id (a ULID of its arrival time).
    pub id: TriggerId,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Where from: the provider (`dockerhub`, `harbor`, `ghcr`, `ci`, `api`).
    pub source: String,
    /// `sha256:<hex>` of the raw payload, to recognise the same body.
    pub payload_digest: String,
    /// Who sent it: the webhook's name or the token's `name/id`.
    pub identity: String,
    /// The names of the rules it matched.
    pub matched_rules: Vec<String>,
    /// The deployments it created.
    pub deployment_ids: Vec<DeploymentId>,
    /// What came of it.
    pub outcome: TriggerOutcome,
    /// Why (for ignored, duplicate, rejected and failed triggers).
    pub reason: Option<String>,
    /// The provider's delivery id or another replay key (`X-GitHub-Delivery`, an event id).
    pub dedup_key: Option<String>,
}

/// A page of triggers: newest first, below `before` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerPage {
    /// Return at most this many.
    pub limit: usize,
    /// Continue below this id (exclusive), the last of the previous page.
    pub before: Option<TriggerId>,
}

/// Received triggers, implemented by both backends.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// Records a trigger.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when its id is already recorded.
    async fn record_trigger(&self, trigger: &TriggerRecord) -> Result<(), StoreError>;

    /// One trigger.
    async fn get_trigger(&self, id: TriggerId) -> Result<Option<TriggerRecord>, StoreError>;

    /// Triggers, newest first.
    async fn list_triggers(&self, page: &TriggerPage) -> Result<Vec<TriggerRecord>, StoreError>;

    /// The newest trigger with this dedup key that arrived at or after `since`, to recognise a
    /// replayed delivery.
    async fn find_recent_trigger_by_dedup_key(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<TriggerRecord>, StoreError>;
}

/// Decodes a stored outcome.
pub(crate) fn outcome(text: &str) -> Result<TriggerOutcome, StoreError> {
    TriggerOutcome::parse(text).ok_or_else(|| crate::error::corrupt("trigger", format!("unknown outcome `{text}`")))
}
