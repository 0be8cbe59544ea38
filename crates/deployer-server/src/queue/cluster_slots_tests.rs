//! The per-cluster bound of the queue: a slow cluster never takes every worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::error::DeployError;
use deployer_core::model::{DeployRequest, DeploymentId, DeploymentRecord, Target};
use tokio::time::Instant;

use super::Queue;
use crate::config::QueueSettings;
use crate::engine::Engine;
use crate::hub::Hub;

/// Runs deployments of cluster `down` for a minute (as retries against a dead API server
/// would), others at once, and records when each ended.
struct Clusters {
    targets: HashMap<DeploymentId, Target>,
    ended: Mutex<Vec<(String, Instant)>>,
}

#[async_trait]
impl Engine for Clusters {
    async fn validate(&self, _: &DeployRequest) -> Result<(), DeployError> {
        Ok(())
    }

    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        let cluster = self.targets.get(&id).map(|t| t.cluster.to_string()).unwrap_or_default();
        if cluster == "down" {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((cluster, Instant::now()));
        Err(DeployError::Internal {
            internal: "no record in this double".to_owned(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_dead_cluster_never_takes_the_workers_of_the_others() {
    let now = chrono::Utc::now();
    let mut targets = HashMap::new();
    let mut order = Vec::new();
    for (cluster, n) in [("down", 8), ("up", 4)] {
        for i in 0..n {
            let id = DeploymentId::generate(now);
            let target: Target = format!("r/{cluster}/app-{i}").parse().unwrap_or_else(|e| panic!("{e}"));
            targets.insert(id, target.clone());
            order.push((target, id));
        }
    }
    let engine = Arc::new(Clusters {
        targets,
        ended: Mutex::new(Vec::new()),
    });
    let settings = QueueSettings {
        concurrency: 4,
        cluster_concurrency: 2,
        ..QueueSettings::default()
    };
    let queue = Queue::new(engine.clone(), Arc::new(Hub::new()), settings);
    let started = Instant::now();
    for (target, id) in order {
        queue.resume(target, id);
    }
    while queue.stats().queued > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = engine.ended.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let up: Vec<Duration> = ended
        .iter()
        .filter(|(c, _)| c == "up")
        .map(|(_, t)| *t - started)
        .collect();
    assert_eq!(up.len(), 4);
    assert!(
        up.iter().all(|d| *d < Duration::from_secs(1)),
        "the healthy cluster waited for the dead one: {up:?}"
    );
    assert!(queue.shutdown(Duration::from_secs(1)).await);
}
