//! The targets a request acts on, found before its handler runs, and their environments.
//!
//! A target that cannot be read (a malformed body, an unknown deployment id) is
//! [`Resolved::Unknown`]: the handler refuses such a request itself (400, 404, 422) before it
//! acts, and any deployment a request makes is checked again where it enters the service
//! ([`super::authorize_submit`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::Uri;
use deployer_auth::{Action, Decision, ScopeTarget, Scopes};
use deployer_core::model::{AppFile, ClusterName, DeploymentId, Region, Target};
use deployer_core::ports::{DeploymentFilter, PageRequest};
use serde::Deserialize;

use super::policy::TargetFrom;
use crate::api::AppState;
use crate::api::error::ApiError;

/// The most deployments of one release whose targets are checked.
const MAX_RELEASE_TARGETS: usize = 1000;

/// What a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Every target (listings, administration).
    Everywhere,
    /// These targets.
    Targets(Vec<Target>),
    /// Nothing readable: the handler refuses the request itself.
    Unknown,
    /// Checked for each deployment the request makes.
    Submitted,
    /// Nothing: the request only asks about its caller.
    Caller,
}

impl Resolved {
    /// The target for the audit log: `region/cluster/file`, with `(+n)` when there are more.
    pub fn audit_text(&self) -> Option<String> {
        match self {
            Resolved::Targets(list) => list.first().map(|t| match list.len() {
                1 => t.to_string(),
                n => format!("{t} (+{})", n - 1),
            }),
            _ => None,
        }
    }
}

/// The environment `target`'s cluster belongs to in the `[triggers]` environments in force.
pub fn environment_of(state: &AppState, target: &Target) -> Option<String> {
    state
        .triggers
        .current()
        .rules
        .environment_of(&target.cluster_key())
        .map(|e| e.name.to_string())
}

/// Whether `scopes` allow `action` on what the request acts on. Every target must be allowed;
/// the denial names the first that is not.
pub fn decide(state: &AppState, scopes: &Scopes, action: Action, resolved: &Resolved) -> Decision {
    match resolved {
        Resolved::Everywhere => scopes.allows_everywhere(action),
        Resolved::Targets(targets) => {
            for target in targets {
                let environment = environment_of(state, target);
                let decision = scopes.allows(action, &ScopeTarget::of(environment.as_deref(), target));
                if !decision.is_allowed() {
                    return decision;
                }
            }
            Decision::Allow
        }
        Resolved::Unknown | Resolved::Submitted | Resolved::Caller => Decision::Allow,
    }
}

fn target_of(region: &str, cluster: &str, file: &str) -> Option<Target> {
    Some(Target {
        region: Region::new(region.to_owned()).ok()?,
        cluster: ClusterName::new(cluster.to_owned()).ok()?,
        file: AppFile::new(file.to_owned()).ok()?,
    })
}

/// The target fields of a JSON body; other fields are the handler's business. A body with a
/// field twice is not read (the handler refuses it too).
#[derive(Deserialize)]
struct BodyTarget {
    region: String,
    cluster: String,
    file: String,
}

/// Finds what a request acts on. `params` are the decoded path parameters.
///
/// # Errors
/// A 503 when the store cannot be read.
pub async fn resolve(
    state: &AppState,
    from: TargetFrom,
    params: &HashMap<String, String>,
    uri: &Uri,
    body: &Bytes,
) -> Result<Resolved, ApiError> {
    let param = |name: &str| params.get(name).map(String::as_str);
    Ok(match from {
        TargetFrom::Everywhere => Resolved::Everywhere,
        TargetFrom::Submitted => Resolved::Submitted,
        TargetFrom::Caller => Resolved::Caller,
        TargetFrom::Path => match (param("region"), param("cluster"), param("file")) {
            (Some(r), Some(c), Some(f)) => target_of(r, c, f).map_or(Resolved::Unknown, |t| Resolved::Targets(vec![t])),
            _ => Resolved::Unknown,
        },
        TargetFrom::Body => match serde_json::from_slice::<BodyTarget>(body) {
            Ok(b) => {
                target_of(&b.region, &b.cluster, &b.file).map_or(Resolved::Unknown, |t| Resolved::Targets(vec![t]))
            }
            Err(_) => Resolved::Unknown,
        },
        TargetFrom::Query => {
            let query: HashMap<String, String> = axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
                .map(|axum::extract::Query(q)| q)
                .unwrap_or_default();
            let get = |k: &str| query.get(k).map(String::as_str);
            match (get("region"), get("cluster"), get("file")) {
                (Some(r), Some(c), Some(f)) => {
                    target_of(r, c, f).map_or(Resolved::Everywhere, |t| Resolved::Targets(vec![t]))
                }
                _ => Resolved::Everywhere,
            }
        }
        TargetFrom::Deployment => match param("id").and_then(|id| id.parse::<DeploymentId>().ok()) {
            Some(id) => match state.store.get_deployment(id).await? {
                Some(record) => Resolved::Targets(vec![record.request.target]),
                None => Resolved::Unknown,
            },
            None => Resolved::Unknown,
        },
        TargetFrom::Release => {
            let Some(id) = param("id") else {
                return Ok(Resolved::Everywhere);
            };
            let filter = DeploymentFilter {
                release_id: Some(id.to_owned()),
                ..DeploymentFilter::default()
            };
            let page = PageRequest {
                limit: MAX_RELEASE_TARGETS,
                before: None,
            };
            let mut targets: Vec<Target> = state
                .store
                .list_deployments(&filter, &page)
                .await?
                .into_iter()
                .map(|r| r.request.target)
                .collect();
            targets.sort();
            targets.dedup();
            if targets.is_empty() {
                // A release without deployments shows only why nothing deployed: that is
                // for callers who may read everything.
                Resolved::Everywhere
            } else {
                Resolved::Targets(targets)
            }
        }
    })
}
