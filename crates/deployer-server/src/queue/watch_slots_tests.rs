//! Work slots are given back once a deployment watches its rollout: a long rollout never holds
//! back the commits and applies of other targets, while its own target stays busy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::error::DeployError;
use deployer_core::execute::Notifier;
use deployer_core::model::{DeployRequest, DeploymentId, DeploymentRecord, Phase, Target};
use tokio::time::Instant;

use super::Queue;
use super::test_support::request;
use crate::config::QueueSettings;
use crate::engine::Engine;
use crate::hub::Hub;

/// Deployments of file `slow` record that they watch their rollout, then watch for a minute;
/// the others end at once (as if their rollout were already done).
struct Rollouts {
    hub: Hub,
    targets: HashMap<DeploymentId, Target>,
    ended: Mutex<Vec<(String, Instant)>>,
}

#[async_trait]
impl Engine for Rollouts {
    async fn validate(&self, _: &DeployRequest) -> Result<(), DeployError> {
        Ok(())
    }

    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        let target = self.targets.get(&id).cloned().unwrap_or_else(|| panic!("unknown {id}"));
        let file = target.file.to_string();
        let mut record = DeploymentRecord::accepted(id, request(&target), chrono::Utc::now());
        if file.starts_with("slow") {
            record.phase = Phase::Applied;
            self.hub.changed(&record, &[]);
            assert_eq!(self.hub.held_count(), 1, "applied is still work: the slots are kept");
            record.phase = Phase::RollingOut;
            self.hub.changed(&record, &[]);
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((file, Instant::now()));
        Err(DeployError::Internal {
            internal: "no record in this double".to_owned(),
        })
    }
}

fn target(text: &str) -> Target {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(start_paused = true)]
async fn a_deployment_watching_its_rollout_gives_its_work_slot_to_other_targets() {
    let now = chrono::Utc::now();
    let hub = Hub::new();
    let mut targets = HashMap::new();
    let mut order = Vec::new();
    // Two slow rollouts first, then three quick deployments, one of them behind the first
    // slow one on the same target.
    for t in ["r/c/slow-1", "r/c/slow-2", "r/c/quick-1", "r/c/quick-2", "r/c/slow-1"] {
        let id = DeploymentId::generate(now);
        targets.insert(id, target(t));
        order.push((target(t), id));
    }
    let engine = Arc::new(Rollouts {
        hub: hub.clone(),
        targets,
        ended: Mutex::new(Vec::new()),
    });
    let settings = QueueSettings {
        concurrency: 1,
        cluster_concurrency: 1,
        ..QueueSettings::default()
    };
    let queue = Queue::new(engine.clone(), Arc::new(hub.clone()), settings);
    let started = Instant::now();
    for (target, id) in order {
        queue.resume(target, id);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let early: Vec<String> = engine
        .ended
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, t)| *t - started < Duration::from_secs(1))
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(
        early,
        ["quick-1", "quick-2"],
        "with one work slot, the quick deployments ran while both slow rollouts were watched"
    );
    assert_eq!(hub.held_count(), 0, "watching deployments hold no slot");

    while queue.stats().queued > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = engine.ended.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let second_slow_1: Vec<Duration> = ended
        .iter()
        .filter(|(f, _)| f == "slow-1")
        .map(|(_, t)| *t - started)
        .collect();
    assert_eq!(second_slow_1.len(), 2);
    assert!(
        second_slow_1[1] >= Duration::from_secs(120),
        "the second deployment of a target waits for the first to end: {second_slow_1:?}"
    );
    assert_eq!(hub.held_count(), 0);
    assert!(queue.shutdown(Duration::from_secs(1)).await);
}
