//! Looking up what the planner decides on: the files and their images, the pins, the tags
//! that succeeded per environment and the recent triggers.
//!
//! This is the I/O half of planning; `deployer_triggers::plan` is the pure half.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::{AppFile, ClusterName, Method, Region, Status, Target};
use deployer_core::ports::{DeploymentFilter, PageRequest};
use deployer_store::TriggerOutcome;
use deployer_triggers::DedupKey;
use deployer_triggers::plan::{Observed, ObservedFile, Pin, RecentTrigger};
use deployer_triggers::rules::Rules;

use crate::api::AppState;
use crate::api::error::ApiError;

/// How many recent deployments per cluster are read to find the tags that succeeded there.
pub const SUCCEEDED_SCAN: usize = 200;

/// How idempotency keys and dedup keys of triggers are stored.
pub fn stored_key(key: &DedupKey) -> String {
    key.to_string()
}

/// Looks up the observed state for planning triggers with `keys`.
///
/// # Errors
/// A 503 [`ApiError`] when the configuration repository or the store cannot be read.
pub async fn observe(
    state: &AppState,
    rules: &Rules,
    keys: &[DedupKey],
    now: DateTime<Utc>,
) -> Result<Observed, ApiError> {
    Ok(Observed {
        files: files(state, rules).await?,
        pins: pins(state).await?,
        succeeded: succeeded(state, rules).await?,
        recent: recent(state, rules, keys, now).await?,
    })
}

/// `<region>/<cluster>/apps/<file>.yaml` as a target.
pub fn target_of_path(path: &str) -> Option<Target> {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [region, cluster, "apps", file] => Some(Target {
            region: Region::new(*region).ok()?,
            cluster: ClusterName::new(*cluster).ok()?,
            file: AppFile::new(*file).ok()?,
        }),
        _ => None,
    }
}

/// The files of clusters that belong to an environment and that some rule covers, with the
/// images they reference now.
async fn files(state: &AppState, rules: &Rules) -> Result<Vec<ObservedFile>, ApiError> {
    let paths = state.repo.list_app_files().await.map_err(|e| {
        ApiError::unavailable(
            "repo_unavailable",
            "the configuration repository cannot be read",
            Some(e.to_string()),
            std::time::Duration::from_secs(5),
        )
    })?;
    let mut files = Vec::new();
    for path in paths {
        let Some(target) = target_of_path(&path) else { continue };
        let in_environment = rules.environment_of(&target.cluster_key()).is_some();
        let covered = rules.rules().iter().any(|r| r.covers_file(&target.file));
        if !in_environment || !covered {
            continue;
        }
        let content = match state.repo.read_file(&path, false).await {
            Ok(Some(file)) => file.content,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(message = "Cannot read an application file; triggers skip it.", path, error = %error);
                continue;
            }
        };
        let images = match state.manifests.images(&content) {
            Ok(images) => images.iter().filter_map(|i| ImageRef::parse(i).ok()).collect(),
            Err(error) => {
                tracing::warn!(message = "Cannot read the images of an application file; triggers skip it.", path, error = %error);
                continue;
            }
        };
        files.push(ObservedFile { target, images });
    }
    Ok(files)
}

async fn pins(state: &AppState) -> Result<Vec<Pin>, ApiError> {
    Ok(state
        .pins
        .list_pins()
        .await?
        .into_iter()
        .map(|p| Pin {
            target: p.target,
            by: p.pinned_by,
            reason: p.reason,
        })
        .collect())
}

/// The tags that succeeded (or were already there) on the clusters of every environment a
/// promotion gate reads from. Dry runs do not count.
async fn succeeded(
    state: &AppState,
    rules: &Rules,
) -> Result<std::collections::BTreeMap<deployer_triggers::rules::EnvironmentName, Vec<Tag>>, ApiError> {
    let gates: BTreeSet<_> = rules.environments().filter_map(|e| e.promotion_from.clone()).collect();
    let mut out = std::collections::BTreeMap::new();
    for name in gates {
        let Some(env) = rules.environment(&name) else { continue };
        let mut tags: Vec<Tag> = Vec::new();
        for cluster in &env.targets {
            let filter = DeploymentFilter {
                region: Some(cluster.region.to_string()),
                cluster: Some(cluster.cluster.to_string()),
                ..DeploymentFilter::default()
            };
            let page = PageRequest {
                limit: SUCCEEDED_SCAN,
                before: None,
            };
            for record in state.store.list_deployments(&filter, &page).await? {
                let done = matches!(record.status, Status::Succeeded | Status::Unchanged);
                if done
                    && record.request.method != Method::DryRun
                    && let Some(tag) = record.request.change.tag()
                    && !tags.contains(tag)
                {
                    tags.push(tag.clone());
                }
            }
        }
        out.insert(name, tags);
    }
    Ok(out)
}

/// The accepted triggers with these keys inside the deduplication window.
async fn recent(
    state: &AppState,
    rules: &Rules,
    keys: &[DedupKey],
    now: DateTime<Utc>,
) -> Result<Vec<RecentTrigger>, ApiError> {
    let window = rules.dedup_window();
    if window <= chrono::Duration::zero() {
        return Ok(Vec::new());
    }
    let mut recent = Vec::new();
    for key in keys {
        let found = state
            .trigger_log
            .find_recent_trigger_by_dedup_key(&stored_key(key), now - window)
            .await?;
        if let Some(t) = found.filter(|t| t.outcome == TriggerOutcome::Accepted) {
            recent.push(RecentTrigger {
                key: key.clone(),
                at: t.at,
                id: t.id.to_string(),
            });
        }
    }
    Ok(recent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_files_become_targets() {
        let t = target_of_path("us-west-2/prod-1/apps/api.yaml").map(|t| t.to_string());
        assert_eq!(t.as_deref(), Some("us-west-2/prod-1/api"));
        assert!(target_of_path("us-west-2/prod-1/base/api.yaml").is_none());
        assert!(target_of_path("us-west-2/apps/api.yaml").is_none());
        assert!(target_of_path("US/prod-1/apps/api.yaml").is_none());
    }
}
