//! What every handler can reach.

use std::sync::Arc;

use deployer_core::ports::{Clock, ClusterDirectory, ConfigRepo, Manifests, Store};
use tokio_util::sync::CancellationToken;

use crate::config::ServerSettings;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::queue::Queue;

/// The handlers' context: the ports, the queue, the hub and the settings.
#[derive(Clone)]
pub struct AppState {
    /// Checks and runs deployments.
    pub engine: Arc<dyn Engine>,
    /// The history store.
    pub store: Arc<dyn Store>,
    /// The configuration repository.
    pub repo: Arc<dyn ConfigRepo>,
    /// The configured clusters.
    pub clusters: Arc<dyn ClusterDirectory>,
    /// Manifest reading.
    pub manifests: Arc<dyn Manifests>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Change notifications.
    pub hub: Arc<Hub>,
    /// The per-target queue.
    pub queue: Queue,
    /// The `[server]` settings.
    pub settings: Arc<ServerSettings>,
    /// Cancelled when the service starts shutting down.
    pub shutdown: CancellationToken,
}
