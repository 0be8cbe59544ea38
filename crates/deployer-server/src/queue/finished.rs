//! The hook a worker calls once it has carried a deployment to its end.

use async_trait::async_trait;
use deployer_core::model::DeploymentRecord;

use super::Queue;

/// Told about each deployment a worker ran to its end, before the worker takes the target's
/// next deployment (what it queues for the same target runs after those already waiting).
#[async_trait]
pub trait Finished: Send + Sync {
    /// `record` is the deployment as the run left it (terminal unless the run was cut short);
    /// `queue` is the queue it ran in.
    async fn finished(&self, record: &DeploymentRecord, queue: &Queue);
}
