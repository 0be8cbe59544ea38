//! Rollback requests: which image to restore, decided from the history.
//!
//! A rollback is an ordinary deployment whose image comes from the past: git stays the
//! record of truth, so undoing a release is a new commit that restores the earlier image,
//! applied and watched like any other.

use crate::error::DeployError;
use crate::image::{ImageRef, Tag};
use crate::model::{DeployRequest, DeploymentRecord, ImageChange, Method, Source, Status, Target, TriggerKind};

/// What to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The images the given deployment replaced (undo that deployment).
    Undo(Box<DeploymentRecord>),
    /// The images the given deployment deployed (go back to that release).
    Deployment(Box<DeploymentRecord>),
    /// This tag, for the file's application image.
    Tag(Tag),
}

/// Builds the request that rolls `target` back.
///
/// # Errors
/// [`DeployError::InvalidRequest`] when the chosen deployment is of another target, did not
/// change any image, or recorded no image to restore.
pub fn rollback_request(
    target: &Target,
    to: &RollbackTo,
    requested_by: &str,
    reason: Option<String>,
) -> Result<DeployRequest, DeployError> {
    let (image, change, undone) = match to {
        RollbackTo::Tag(tag) => (None, ImageChange::Tag { tag: tag.clone() }, None),
        RollbackTo::Undo(record) | RollbackTo::Deployment(record) => {
            if &record.request.target != target {
                return Err(DeployError::invalid(
                    "rollback_target_mismatch",
                    format!(
                        "deployment `{}` deployed to `{}`, not to `{target}`",
                        record.id, record.request.target
                    ),
                    Some("name a deployment of the same region, cluster and file".to_owned()),
                ));
            }
            let images = match to {
                RollbackTo::Undo(_) => &record.old_images,
                _ => &record.new_images,
            };
            if record.status != Status::Succeeded && matches!(to, RollbackTo::Deployment(_)) {
                return Err(DeployError::invalid(
                    "rollback_to_unsuccessful",
                    format!(
                        "deployment `{}` did not succeed ({}); roll back to a release that ran",
                        record.id, record.status
                    ),
                    None,
                ));
            }
            let Some(first) = images.first() else {
                return Err(DeployError::invalid(
                    "nothing_to_roll_back",
                    format!("deployment `{}` recorded no image to restore", record.id),
                    Some("roll back to a tag with `--to <tag>`".to_owned()),
                ));
            };
            let image = ImageRef::parse(first).map_err(|e| {
                DeployError::invalid(
                    "nothing_to_roll_back",
                    format!("the recorded image `{first}` cannot be restored: {e}"),
                    None,
                )
            })?;
            let change = ImageChange::from_ref(&image).ok_or_else(|| {
                DeployError::invalid(
                    "nothing_to_roll_back",
                    format!("the recorded image `{first}` has no tag or digest"),
                    None,
                )
            })?;
            let undone = matches!(to, RollbackTo::Undo(_)).then_some(record.id);
            (Some(image), change, undone)
        }
    };
    Ok(DeployRequest {
        target: target.clone(),
        image,
        container: None,
        change,
        method: Method::Apply,
        reason,
        timeout: None,
        source: Source {
            kind: TriggerKind::Rollback,
            ..Source::default()
        },
        requested_by: requested_by.to_owned(),
        idempotency_key: None,
        environment: None,
        force: true,
        rollback_of: undone,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::DeploymentId;

    fn target(file: &str) -> Target {
        format!("us-west-2/prod-1/{file}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn deployed(file: &str, old: &str, new: &str, status: Status) -> DeploymentRecord {
        let request = DeployRequest {
            target: target(file),
            image: None,
            container: None,
            change: ImageChange::Tag {
                tag: Tag::new("x").unwrap_or_else(|e| panic!("{e}")),
            },
            method: Method::Apply,
            reason: None,
            timeout: None,
            source: Source::default(),
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: None,
            force: false,
            rollback_of: None,
        };
        let mut r = DeploymentRecord::accepted(DeploymentId::generate(Utc::now()), request, Utc::now());
        r.old_images = vec![old.to_owned()];
        r.new_images = vec![new.to_owned()];
        r.status = status;
        r
    }

    #[test]
    fn undoing_a_deployment_restores_the_image_it_replaced() {
        let bad = deployed(
            "api",
            "ghcr.io/acme/api:1.0.0",
            "ghcr.io/acme/api:1.1.0",
            Status::Failed,
        );
        let req = rollback_request(&target("api"), &RollbackTo::Undo(Box::new(bad.clone())), "alice", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.change.tag().map(Tag::as_str), Some("1.0.0"));
        assert_eq!(req.image.map(|i| i.repository()), Some("ghcr.io/acme/api".to_owned()));
        assert_eq!(req.rollback_of, Some(bad.id));
        assert_eq!(req.source.kind, TriggerKind::Rollback);
    }

    #[test]
    fn rolling_back_to_a_release_deploys_its_images() {
        let good = deployed(
            "api",
            "ghcr.io/acme/api:0.9.0",
            "ghcr.io/acme/api:1.0.0",
            Status::Succeeded,
        );
        let req = rollback_request(&target("api"), &RollbackTo::Deployment(Box::new(good)), "alice", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.change.tag().map(Tag::as_str), Some("1.0.0"));
        assert_eq!(req.rollback_of, None);
    }

    #[test]
    fn a_deployment_of_another_file_cannot_be_rolled_back_to() {
        let other = deployed("web", "a:1", "a:2", Status::Succeeded);
        let err = rollback_request(&target("api"), &RollbackTo::Deployment(Box::new(other)), "alice", None).err();
        assert_eq!(err.map(|e| e.code()), Some("rollback_target_mismatch"));
    }

    #[test]
    fn a_failed_release_is_not_a_rollback_destination() {
        let failed = deployed("api", "a:1", "a:2", Status::Failed);
        let err = rollback_request(&target("api"), &RollbackTo::Deployment(Box::new(failed)), "alice", None).err();
        assert_eq!(err.map(|e| e.code()), Some("rollback_to_unsuccessful"));
    }
}
