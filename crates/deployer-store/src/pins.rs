//! Pins: targets that automatic triggers (registry pushes, CI releases) must leave alone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::{DeploymentId, Target};
use deployer_core::ports::StoreError;

/// A pinned target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The target.
    pub target: Target,
    /// Who pinned it.
    pub pinned_by: String,
    /// Why, in their words.
    pub reason: Option<String>,
    /// The deployment the target is held at, when known.
    pub deployment_id: Option<DeploymentId>,
    /// When.
    pub pinned_at: DateTime<Utc>,
}

/// What [`PinStore::pin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The target is now pinned.
    Pinned,
    /// It already was; the existing pin is unchanged and returned.
    AlreadyPinned(Box<Pin>),
}

/// Pins, implemented by both backends.
#[async_trait]
pub trait PinStore: Send + Sync {
    /// Pins a target, unless it already is.
    async fn pin(&self, pin: &Pin) -> Result<PinOutcome, StoreError>;

    /// Removes a target's pin and returns it; `None` when it was not pinned.
    async fn unpin(&self, target: &Target) -> Result<Option<Pin>, StoreError>;

    /// A target's pin.
    async fn get_pin(&self, target: &Target) -> Result<Option<Pin>, StoreError>;

    /// Every pin, by region, cluster and file.
    async fn list_pins(&self) -> Result<Vec<Pin>, StoreError>;
}

/// Rebuilds a target from stored columns.
pub(crate) fn target(region: &str, cluster: &str, file: &str) -> Result<Target, StoreError> {
    let bad = |e: deployer_core::model::InvalidName| crate::error::corrupt("pin", e);
    Ok(Target {
        region: region.parse().map_err(bad)?,
        cluster: cluster.parse().map_err(bad)?,
        file: file.parse().map_err(bad)?,
    })
}

/// Decodes a stored deployment id.
pub(crate) fn deployment_id(text: Option<String>) -> Result<Option<DeploymentId>, StoreError> {
    text.map(|t| t.parse().map_err(|e| crate::error::corrupt("pin", e)))
        .transpose()
}
