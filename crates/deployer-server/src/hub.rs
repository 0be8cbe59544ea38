//! Change notifications: the executor reports every recorded change here, and Server-Sent
//! Event streams and `?wait=true` requests wake up on them.
//!
//! A notification only says "deployment X changed"; listeners re-read the store, which stays
//! the one source of truth (event sequence numbers are assigned by the store). A listener
//! that falls behind simply re-reads, so a lagging broadcast never loses an event.

use deployer_core::model::DeploymentId;
use tokio::sync::broadcast;

/// How many notifications a slow listener may fall behind before it re-reads the store.
const CAPACITY: usize = 1024;

/// One change of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The deployment that changed.
    pub id: DeploymentId,
}

/// The broadcast of deployment changes.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Change>,
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
        Self { sender }
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
        self.publish(record.id);
    }
}
