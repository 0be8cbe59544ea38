//! `[[policies]]`: what happens when a deployment fails, per environment, region or cluster.
//!
//! ```toml
//! [[policies]]
//! environment = "production"
//! on_failure = "rollback"
//!
//! [[policies]]
//! region = "us-west-2"
//! cluster = "staging-1"
//! on_failure = "stop"
//! ```
//!
//! The most specific policy wins: one naming the region and cluster, then one naming the
//! region alone, then one naming the deployment's environment. Without any, a failed
//! deployment simply stays failed (`stop`).

use std::collections::BTreeSet;

use deployer_core::model::DeployRequest;
use serde::Deserialize;

use super::error::Problem;

/// What to do when a deployment ends `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Leave it failed; people decide what to do.
    #[default]
    Stop,
    /// Undo it at once: deploy the images it replaced and pin the target.
    Rollback,
}

impl OnFailure {
    /// The configuration word (`stop`, `rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Stop => "stop",
            OnFailure::Rollback => "rollback",
        }
    }
}

/// One `[[policies]]` entry: a scope (an environment, or a region with an optional cluster)
/// and what to do on failure there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The environment the policy covers (as the triggers name it).
    #[serde(default)]
    pub environment: Option<String>,
    /// The region the policy covers.
    #[serde(default)]
    pub region: Option<String>,
    /// The cluster within `region` the policy covers (every cluster of the region when absent).
    #[serde(default)]
    pub cluster: Option<String>,
    /// What to do when a deployment in scope fails.
    pub on_failure: OnFailure,
}

/// How specific a matching policy is; higher wins.
fn specificity(policy: &PolicySettings, request: &DeployRequest) -> Option<u8> {
    let target = &request.target;
    match (&policy.environment, &policy.region, &policy.cluster) {
        (None, Some(region), Some(cluster))
            if region == target.region.as_str() && cluster == target.cluster.as_str() =>
        {
            Some(3)
        }
        (None, Some(region), None) if region == target.region.as_str() => Some(2),
        (Some(env), None, None) if request.environment.as_deref() == Some(env.as_str()) => Some(1),
        _ => None,
    }
}

/// The policy that applies to `request`: the most specific match, `stop` when none matches.
pub fn on_failure_for(policies: &[PolicySettings], request: &DeployRequest) -> OnFailure {
    policies
        .iter()
        .filter_map(|p| specificity(p, request).map(|s| (s, p.on_failure)))
        .max_by_key(|(s, _)| *s)
        .map_or(OnFailure::Stop, |(_, on_failure)| on_failure)
}

/// Checks every entry: a scope is an environment, or a region with an optional cluster, and no
/// two entries share a scope.
pub(super) fn check_policies(policies: &[PolicySettings], problems: &mut Vec<Problem>) {
    let mut scopes = BTreeSet::new();
    for (i, p) in policies.iter().enumerate() {
        let key = |k: &str| format!("policies[{i}].{k}");
        let valid_scope = match (&p.environment, &p.region, &p.cluster) {
            (Some(env), None, None) => {
                if env.trim().is_empty() {
                    problems.push(Problem::new(key("environment"), "must not be empty"));
                }
                true
            }
            (None, Some(region), cluster) => {
                if let Err(e) = region.parse::<deployer_core::model::Region>() {
                    problems.push(Problem::new(key("region"), e.to_string()));
                }
                if let Some(Err(e)) = cluster.as_ref().map(|c| c.parse::<deployer_core::model::ClusterName>()) {
                    problems.push(Problem::new(key("cluster"), e.to_string()));
                }
                true
            }
            (None, None, Some(_)) => {
                problems.push(
                    Problem::new(key("cluster"), "names a cluster without its region")
                        .hint("add `region = \"...\"` next to `cluster`"),
                );
                false
            }
            (None, None, None) => {
                problems.push(
                    Problem::new(format!("policies[{i}]"), "names no scope")
                        .hint("give `environment`, or `region` (with `cluster` to narrow it to one cluster)"),
                );
                false
            }
            (Some(_), _, _) => {
                problems.push(
                    Problem::new(format!("policies[{i}]"), "names an environment and a region or cluster")
                        .hint("write one policy per scope: either `environment`, or `region` and `cluster`"),
                );
                false
            }
        };
        if valid_scope && !scopes.insert((p.environment.clone(), p.region.clone(), p.cluster.clone())) {
            problems.push(
                Problem::new(format!("policies[{i}]"), "repeats the scope of an earlier policy")
                    .hint("keep one policy per environment, region or cluster"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use deployer_core::image::Tag;
    use deployer_core::model::{ImageChange, Method, Source};

    use super::*;

    fn request(target: &str, environment: Option<&str>) -> DeployRequest {
        DeployRequest {
            target: target.parse().unwrap_or_else(|e| panic!("{e}")),
            image: None,
            container: None,
            change: ImageChange::Tag {
                tag: Tag::new("v1").unwrap_or_else(|e| panic!("{e}")),
            },
            method: Method::Apply,
            reason: None,
            timeout: None,
            source: Source::default(),
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: environment.map(str::to_owned),
            force: false,
            rollback_of: None,
        }
    }

    fn policy(env: Option<&str>, region: Option<&str>, cluster: Option<&str>, on_failure: OnFailure) -> PolicySettings {
        PolicySettings {
            environment: env.map(str::to_owned),
            region: region.map(str::to_owned),
            cluster: cluster.map(str::to_owned),
            on_failure,
        }
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let policies = vec![
            policy(Some("production"), None, None, OnFailure::Rollback),
            policy(None, Some("us-west-2"), None, OnFailure::Rollback),
            policy(None, Some("us-west-2"), Some("canary-1"), OnFailure::Stop),
        ];
        let on = |t: &str, env: Option<&str>| on_failure_for(&policies, &request(t, env));
        assert_eq!(on("us-west-2/canary-1/api", Some("production")), OnFailure::Stop);
        assert_eq!(on("us-west-2/prod-1/api", None), OnFailure::Rollback);
        assert_eq!(on("eu-west-1/prod-1/api", Some("production")), OnFailure::Rollback);
        assert_eq!(on("eu-west-1/prod-1/api", Some("staging")), OnFailure::Stop);
        assert_eq!(on("eu-west-1/prod-1/api", None), OnFailure::Stop);
    }

    #[test]
    fn policies_without_a_clear_scope_are_reported() {
        let mut problems = Vec::new();
        check_policies(
            &[
                policy(None, None, Some("prod-1"), OnFailure::Stop),
                policy(None, None, None, OnFailure::Stop),
                policy(Some("prod"), Some("us-west-2"), None, OnFailure::Stop),
                policy(None, Some("US"), None, OnFailure::Stop),
                policy(Some("prod"), None, None, OnFailure::Rollback),
                policy(Some("prod"), None, None, OnFailure::Stop),
            ],
            &mut problems,
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "policies[0].cluster",
                "policies[1]",
                "policies[2]",
                "policies[3].region",
                "policies[5]"
            ]
        );
    }
}
