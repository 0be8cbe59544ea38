//! Deployment events: one per phase change, written with the state change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DeploymentId, DeploymentRecord};

/// What happened to a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Accepted and queued.
    Queued,
    /// The commit was pushed.
    Committed,
    /// The cluster acknowledged the apply.
    Applied,
    /// The rollout made progress.
    Progress,
    /// The rollout succeeded (or the method's last step did).
    Succeeded,
    /// The deployment failed.
    Failed,
    /// The file already had the image; nothing to do.
    Unchanged,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Committed => "committed",
            EventKind::Applied => "applied",
            EventKind::Progress => "progress",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Unchanged => "unchanged",
        }
    }

    /// Whether this is the last event of a deployment.
    pub fn is_terminal(self) -> bool {
        matches!(self, EventKind::Succeeded | EventKind::Failed | EventKind::Unchanged)
    }
}

/// One event, with a snapshot of the record at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentEvent {
    /// Position in the store's event log (assigned by the store; 0 before).
    pub seq: i64,
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The record as it was right after the change.
    pub record: DeploymentRecord,
}

impl DeploymentEvent {
    /// An event about `record`, not yet stored.
    pub fn new(kind: EventKind, record: &DeploymentRecord, at: DateTime<Utc>) -> Self {
        Self {
            seq: 0,
            deployment_id: record.id,
            kind,
            at,
            record: record.clone(),
        }
    }
}
