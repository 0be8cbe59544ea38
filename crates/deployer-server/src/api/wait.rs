//! Waiting for a deployment to end, for `?wait=true`.

use std::time::Duration;

use deployer_core::model::{DeploymentId, DeploymentRecord};

use super::error::ApiError;
use super::state::AppState;
use crate::hub::Listener;

/// How often a waiter re-reads the store even without a notification.
pub const POLL: Duration = Duration::from_secs(5);

/// Waits until the deployment ends or `timeout` passes (or the service stops). Returns the
/// record and whether the wait timed out. `listener` must be subscribed before the
/// deployment could change, so no change is missed.
///
/// # Errors
/// An [`ApiError`] when the store fails or the deployment vanished.
pub async fn until_finished(
    state: &AppState,
    mut listener: Listener,
    id: DeploymentId,
    timeout: Duration,
) -> Result<(DeploymentRecord, bool), ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out_of_time = false;
    loop {
        let record = state
            .store
            .get_deployment(id)
            .await?
            .ok_or_else(|| ApiError::internal(format!("deployment {id} vanished while being waited for")))?;
        if record.status.is_terminal() || out_of_time {
            let timed_out = !record.status.is_terminal();
            return Ok((record, timed_out));
        }
        tokio::select! {
            _ = listener.changed(id) => {}
            () = tokio::time::sleep(POLL) => {}
            () = tokio::time::sleep_until(deadline) => out_of_time = true,
            () = state.shutdown.cancelled() => out_of_time = true,
        }
    }
}
