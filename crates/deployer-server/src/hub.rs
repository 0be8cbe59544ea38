//! Change notifications: the executor reports every recorded change here, and Server-Sent
//! Event streams and `?wait=true` requests wake up on them.
//!
//! A notification only says "deployment X changed"; listeners re-read the store, which stays
//! the one source of truth (event sequence numbers are assigned by the store). A listener
//! that falls behind simply re-reads, so a lagging broadcast never loses an event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use deployer_core::model::{DeploymentId, Phase};
use tokio::sync::broadcast;

/// How many notifications a slow listener may fall behind before it re-reads the store.
const CAPACITY: usize = 1024;

/// One change of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The deployment that changed.
    pub id: DeploymentId,
}

/// What a running deployment holds while it works (the queue's slots), handed back once it
/// only watches its rollout.
pub type Held = Box<dyn std::any::Any + Send>;

/// The broadcast of deployment changes.
///
/// It also keeps the queue's work slots of running deployments: a deployment needs a slot
/// to commit and apply, but watching its rollout is waiting, so the slot is given back as
/// soon as the executor records the watch (see [`Hub::hold_until_watching`]).
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Change>,
    held: Arc<Mutex<HashMap<DeploymentId, Held>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("held", &self.held_count())
            .finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            sender,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Keeps `slots` for deployment `id` until its rollout is being watched (or it ends, or
    /// [`Hub::give_back`] is called), then drops them.
    pub fn hold_until_watching(&self, id: DeploymentId, slots: Held) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, slots);
    }

    /// Drops whatever deployment `id` still holds.
    pub fn give_back(&self, id: DeploymentId) {
        let slots = self.held.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        drop(slots);
    }

    /// How many deployments hold work slots.
    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Announces that deployment `id` changed. Nobody listening is fine.
    pub fn publish(&self, id: DeploymentId) {
        // An error only means that nobody is listening right now.
        let _ = self.sender.send(Change { id });
    }

    /// Listens for changes from now on.
    pub fn subscribe(&self) -> Listener {
        Listener {
            receiver: self.sender.subscribe(),
        }
    }
}

/// Receives the changes of one deployment.
#[derive(Debug)]
pub struct Listener {
    receiver: broadcast::Receiver<Change>,
}

impl Listener {
    /// Waits until `id` may have changed: a change of `id`, or a lag after which any change
    /// may have been missed. Returns `false` when the hub is gone.
    pub async fn changed(&mut self, id: DeploymentId) -> bool {
        loop {
            match self.receiver.recv().await {
                Ok(change) if change.id == id => return true,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    }
}

impl deployer_core::execute::Notifier for Hub {
    fn changed(
        &self,
        record: &deployer_core::model::DeploymentRecord,
        _events: &[deployer_core::model::DeploymentEvent],
    ) {
        if matches!(record.phase, Phase::RollingOut | Phase::Finished) {
            self.give_back(record.id);
        }
        self.publish(record.id);
    }
}
