//! What every handler can reach.

use std::sync::{Arc, Mutex};

use deployer_core::ports::{Clock, ClusterDirectory, ConfigRepo, Manifests, Store};
use deployer_store::{PinStore, ReleaseStore, TriggerStore};
use deployer_triggers::webhook::ReplayCache;
use tokio_util::sync::CancellationToken;

use crate::config::ServerSettings;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::queue::Queue;
use crate::triggers::LiveTriggers;
use crate::triggers::callback::CallbackSender;

/// The handlers' context: the ports, the queue, the hub, the settings and the triggers.
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
    /// The `[triggers]` configuration in force.
    pub triggers: Arc<LiveTriggers>,
    /// Received triggers.
    pub trigger_log: Arc<dyn TriggerStore>,
    /// CI releases.
    pub releases: Arc<dyn ReleaseStore>,
    /// Pinned targets.
    pub pins: Arc<dyn PinStore>,
    /// Signatures of `generic` webhooks accepted recently, to refuse replays.
    pub replay: Arc<Mutex<ReplayCache>>,
    /// Acknowledges Docker Hub callback URLs.
    pub callbacks: Arc<dyn CallbackSender>,
}
