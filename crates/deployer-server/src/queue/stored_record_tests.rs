//! A worker starts a deployment that could start at once with the record as stored, without
//! reading it back; a deployment that waited, one found at start-up, and every retry read the
//! store.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::error::DeployError;
use deployer_core::model::{DeployRequest, DeploymentId, DeploymentRecord, Phase, Target};

use super::Queue;
use super::test_support::request;
use crate::config::QueueSettings;
use crate::engine::Engine;
use crate::hub::Hub;

/// How the queue started each run: `carry` with the phase of the record it was given, or
/// `run` with only the id. The first run of `flaky` fails as if the store were down.
struct Starts {
    target: Target,
    flaky: Option<DeploymentId>,
    seen: Mutex<Vec<(DeploymentId, String)>>,
}

impl Starts {
    fn note(&self, id: DeploymentId, how: String) -> Result<DeploymentRecord, DeployError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let first = !seen.iter().any(|(s, _)| *s == id);
        seen.push((id, how));
        if first && self.flaky == Some(id) {
            return Err(DeployError::Unavailable {
                internal: "history store unavailable".to_owned(),
            });
        }
        Ok(DeploymentRecord::accepted(
            id,
            request(&self.target),
            chrono::Utc::now(),
        ))
    }

    fn seen(&self) -> Vec<(DeploymentId, String)> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl Engine for Starts {
    async fn validate(&self, _: &DeployRequest) -> Result<(), DeployError> {
        Ok(())
    }

    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        self.note(id, "run".to_owned())
    }

    async fn carry(&self, record: DeploymentRecord) -> Result<DeploymentRecord, DeployError> {
        self.note(record.id, format!("carry {}", record.phase))
    }
}

async fn drained(queue: &Queue) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while queue.stats().queued > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(queue.stats().queued, 0, "the queue did not drain");
}

#[tokio::test]
async fn a_deployment_that_starts_at_once_starts_from_the_stored_record() {
    let target: Target = "r/c/web".parse().unwrap_or_else(|e| panic!("{e}"));
    let now = chrono::Utc::now();
    let ids: Vec<DeploymentId> = (0..3).map(|_| DeploymentId::generate(now)).collect();
    let engine = Arc::new(Starts {
        target: target.clone(),
        flaky: Some(ids[0]),
        seen: Mutex::new(Vec::new()),
    });
    let queue = Queue::new(engine.clone(), Arc::new(Hub::new()), QueueSettings::default());
    // The first starts at once and is handed its record; the second waits behind it on the
    // same target, so it reads its record when its turn comes; so does one found at start-up.
    for id in &ids[..2] {
        let reservation = queue.reserve(&target).unwrap_or_else(|e| panic!("{e}"));
        let mut record = DeploymentRecord::accepted(*id, request(&target), now);
        record.phase = Phase::Queued;
        queue.push(target.clone(), record, reservation);
    }
    queue.resume(target.clone(), ids[2]);
    drained(&queue).await;
    let expected: Vec<(DeploymentId, String)> = vec![
        (ids[0], "carry queued".to_owned()),
        // A retry reads the record again: the failed run may have moved it on.
        (ids[0], "run".to_owned()),
        (ids[1], "run".to_owned()),
        (ids[2], "run".to_owned()),
    ];
    assert_eq!(engine.seen(), expected);
    assert!(queue.shutdown(Duration::from_secs(1)).await);
}
