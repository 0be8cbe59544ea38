//! What the server needs from the executor: checking a request and carrying a stored
//! deployment to its end.
//!
//! The trait keeps the HTTP layer and the queue independent of how deployments are carried
//! out; `deployer_core::execute::Executor` implements it (below), and tests may use doubles.

use async_trait::async_trait;
use deployer_core::error::DeployError;
use deployer_core::model::{DeployRequest, DeploymentId, DeploymentRecord};

/// Checks and runs deployments.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Checks a request before it is accepted (cluster configured, file present, edit
    /// applies, tag valid).
    ///
    /// # Errors
    /// [`DeployError::NotFound`] or [`DeployError::InvalidRequest`] with a hint for the caller;
    /// [`DeployError::Unavailable`] when a dependency is down.
    async fn validate(&self, request: &DeployRequest) -> Result<(), DeployError>;

    /// Carries a stored deployment from its recorded phase to the end, recording every phase
    /// change before acting (the apply request while it is recorded: repeating it is
    /// harmless), so that a run cut short resumes where it stopped.
    ///
    /// # Errors
    /// A [`DeployError`] when the deployment could not even be recorded; a deployment that
    /// fails is an `Ok` record with status `failed`.
    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError>;

    /// [`Engine::run`] for a deployment whose record the caller holds exactly as stored (it
    /// has just inserted it), so that the run need not read it back.
    ///
    /// # Errors
    /// As [`Engine::run`].
    async fn carry(&self, record: DeploymentRecord) -> Result<DeploymentRecord, DeployError> {
        self.run(record.id).await
    }
}

#[async_trait]
impl Engine for deployer_core::execute::Executor {
    async fn validate(&self, request: &DeployRequest) -> Result<(), DeployError> {
        deployer_core::execute::Executor::validate(self, request)
            .await
            .map(|_| ())
    }

    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        deployer_core::execute::Executor::run(self, id).await
    }

    async fn carry(&self, record: DeploymentRecord) -> Result<DeploymentRecord, DeployError> {
        deployer_core::execute::Executor::carry(self, record).await
    }
}
