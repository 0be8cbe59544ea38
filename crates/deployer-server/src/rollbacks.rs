//! Rollbacks: choosing what to restore from the history, and pinning the target.
//!
//! A rollback is an ordinary deployment built by `deployer_core::rollback::rollback_request`
//! (source kind `rollback`, `force`, `rollback_of` naming the deployment it undoes). It takes
//! the same path as every other deployment (validate, store, queue), and it pins its target so
//! that automatic triggers (registry pushes, CI releases) leave it alone until someone unpins
//! it. Both `POST /api/v1/rollbacks` and the automatic rollback of the queue use these
//! functions.

use chrono::{DateTime, Utc};
use deployer_core::error::DeployError;
use deployer_core::image::Tag;
use deployer_core::model::{DeploymentId, DeploymentRecord, Status, Target};
use deployer_core::ports::{DeploymentFilter, PageRequest, Store, StoreError};
use deployer_core::rollback::RollbackTo;
use deployer_store::{Pin, PinOutcome, PinStore};

/// How many of a target's recent deployments are searched for the one to undo.
const HISTORY_SEARCHED: usize = 100;

/// Whether a deployment changed the images of its file (and so can be undone).
pub fn changed_images(record: &DeploymentRecord) -> bool {
    record.commit_sha.is_some() && !record.old_images.is_empty() && record.old_images != record.new_images
}

/// The target's latest succeeded deployment that changed images.
///
/// # Errors
/// A [`StoreError`] when the history cannot be read.
pub async fn latest_change(store: &dyn Store, target: &Target) -> Result<Option<DeploymentRecord>, StoreError> {
    let filter = DeploymentFilter {
        region: Some(target.region.to_string()),
        cluster: Some(target.cluster.to_string()),
        file: Some(target.file.to_string()),
        status: Some(Status::Succeeded),
        release_id: None,
    };
    let page = PageRequest {
        limit: HISTORY_SEARCHED,
        before: None,
    };
    let recent = store.list_deployments(&filter, &page).await?;
    Ok(recent.into_iter().find(changed_images))
}

/// What a rollback of `target` restores, from the caller's `to`: nothing (undo the latest
/// succeeded deployment that changed images), a deployment id (go back to what it deployed)
/// or a tag. Also returns the deployment the rollback undoes, for `rollback_of`.
///
/// # Errors
/// [`DeployError::NotFound`] for an unknown deployment or a target without a deployment to
/// undo; [`DeployError::InvalidRequest`] for text that is neither an id nor a tag.
pub async fn resolve(
    store: &dyn Store,
    target: &Target,
    to: Option<&str>,
) -> Result<(RollbackTo, Option<DeploymentId>), DeployError> {
    let latest = latest_change(store, target).await?;
    let undone = latest.as_ref().map(|r| r.id);
    let Some(to) = to else {
        let record = latest.ok_or_else(|| {
            DeployError::not_found(
                "nothing_to_roll_back",
                format!("`{target}` has no succeeded deployment that changed its images"),
                Some("name the tag or deployment to go back to with `to`".to_owned()),
            )
        })?;
        return Ok((RollbackTo::Undo(Box::new(record)), undone));
    };
    if let Ok(id) = to.parse::<DeploymentId>() {
        let record = store.get_deployment(id).await?.ok_or_else(|| {
            DeployError::not_found(
                "deployment_not_found",
                format!("deployment `{id}` does not exist"),
                Some(format!(
                    "list the deployments of `{target}` with `GET /api/v1/deployments`"
                )),
            )
        })?;
        let undone = undone.filter(|u| *u != record.id);
        return Ok((RollbackTo::Deployment(Box::new(record)), undone));
    }
    let tag = Tag::new(to).map_err(|e| {
        DeployError::invalid(
            "invalid_rollback_target",
            format!("`to` is neither a deployment id nor a valid tag: {e}"),
            Some("give a deployment id (26 characters) or an image tag".to_owned()),
        )
    })?;
    Ok((RollbackTo::Tag(tag), undone))
}

/// Pins the target of `rollback` to it, replacing an earlier pin of the target.
///
/// # Errors
/// A [`StoreError`] when the pin cannot be written.
pub async fn pin_to(
    pins: &dyn PinStore,
    rollback: &DeploymentRecord,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Pin, StoreError> {
    let pin = Pin {
        target: rollback.request.target.clone(),
        pinned_by: rollback.request.requested_by.clone(),
        reason: reason.or_else(|| Some(format!("rolled back by deployment {}", rollback.id))),
        deployment_id: Some(rollback.id),
        pinned_at: now,
    };
    if let PinOutcome::AlreadyPinned(_) = pins.pin(&pin).await? {
        pins.unpin(&pin.target).await?;
        pins.pin(&pin).await?;
    }
    Ok(pin)
}

/// The message refusing an automatic deployment to a pinned target.
pub fn pinned_message(pin: &Pin) -> String {
    let mut message = format!("`{}` is pinned by `{}`", pin.target, pin.pinned_by);
    if let Some(reason) = &pin.reason {
        message.push_str(&format!(": {reason}"));
    }
    if let Some(id) = pin.deployment_id {
        message.push_str(&format!(" (held at deployment {id})"));
    }
    message
}

/// The hint that says how to lift a pin.
pub fn unpin_hint(target: &Target) -> String {
    format!(
        "lift the pin with `k8s-app-deployer unpin --region {} --cluster {} --file {}` (or `DELETE /api/v1/pins/{}/{}/{}`)",
        target.region, target.cluster, target.file, target.region, target.cluster, target.file
    )
}
