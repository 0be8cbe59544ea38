//! Where the Slack message of each deployment is remembered, so later events update it.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use deployer_core::model::DeploymentId;

/// A posted message: the channel *id* Slack answered with, and the message `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMessageRef {
    /// The channel id (`C0123456789`).
    pub channel: String,
    /// The message timestamp (`1401383885.000061`).
    pub ts: String,
}

/// The message store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slack message store unavailable: {message}")]
pub struct RefsError {
    /// Details.
    pub message: String,
}

/// Remembers the message of each deployment. Implementations must be durable for messages
/// to be updated across restarts; [`MemoryMessageRefs`] is not.
#[async_trait]
pub trait MessageRefs: Send + Sync {
    /// The message of a deployment, if one was posted.
    async fn get(&self, deployment: DeploymentId) -> Result<Option<SlackMessageRef>, RefsError>;

    /// Records the message of a deployment, replacing any earlier one.
    async fn put(&self, deployment: DeploymentId, message: &SlackMessageRef) -> Result<(), RefsError>;
}

/// Message references in memory.
#[derive(Debug, Default)]
pub struct MemoryMessageRefs(Mutex<HashMap<DeploymentId, SlackMessageRef>>);

#[async_trait]
impl MessageRefs for MemoryMessageRefs {
    async fn get(&self, deployment: DeploymentId) -> Result<Option<SlackMessageRef>, RefsError> {
        let map = self.0.lock().map_err(|_| RefsError {
            message: "lock poisoned".to_owned(),
        })?;
        Ok(map.get(&deployment).cloned())
    }

    async fn put(&self, deployment: DeploymentId, message: &SlackMessageRef) -> Result<(), RefsError> {
        let mut map = self.0.lock().map_err(|_| RefsError {
            message: "lock poisoned".to_owned(),
        })?;
        map.insert(deployment, message.clone());
        Ok(())
    }
}
