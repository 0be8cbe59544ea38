//! The state shared by every request handler and background task of one simulated cluster.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::controller_loop::Engine;
use super::faults::FaultInjector;
use crate::clock::SimClock;
use crate::store::Store;

/// Everything a request handler needs.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) clock: SimClock,
    pub(crate) engine: Engine,
    pub(crate) faults: Mutex<FaultInjector>,
    pub(crate) token: Option<String>,
    pub(crate) addr: SocketAddr,
    /// Bumped to make every open watch drop its connection.
    pub(crate) drop_watches: watch::Sender<u64>,
    /// Becomes `true` when the cluster shuts down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// How often watches with `allowWatchBookmarks` get a bookmark.
    pub(crate) bookmark_interval: Duration,
    /// The most recent requests, oldest first (`GET /_sim/requests`).
    pub(crate) requests: Mutex<VecDeque<serde_json::Value>>,
}

/// How many requests the request log keeps.
const REQUEST_LOG: usize = 2000;

pub(crate) type SharedRef = Arc<Shared>;

impl Shared {
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultInjector> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one entry to the request log.
    pub(crate) fn log_request(&self, entry: serde_json::Value) {
        let mut log = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        log.push_back(entry);
        while log.len() > REQUEST_LOG {
            log.pop_front();
        }
    }

    /// The request log, oldest first.
    pub(crate) fn request_log(&self) -> Vec<serde_json::Value> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn controllers_frozen(&self) -> bool {
        self.faults().faults().freeze_controllers
    }

    /// Runs one controller pass, honouring pause and freeze, unless it could not change
    /// anything (see [`super::controller_loop`]).
    pub(crate) fn tick(&self) {
        let frozen = self.controllers_frozen();
        self.engine.tick(&self.store, &self.clock, frozen);
    }

    /// Runs one controller pass now, honouring pause and freeze.
    pub(crate) fn tick_now(&self) {
        let frozen = self.controllers_frozen();
        self.engine.tick_now(&self.store, &self.clock, frozen);
    }
}
