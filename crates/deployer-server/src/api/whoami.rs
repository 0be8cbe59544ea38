//! `GET /api/v1/whoami`: who the caller is and what its token may do.
//!
//! Any valid token may ask. The answer names the token and lists its scopes, the actions it may
//! take on every target (`read` there lists the whole history, `admin` administers tokens and
//! dead events) and, when the query names a target (`region`, `cluster` and `file`), the
//! actions it may take on that one. The web UI asks once after sign-in (through its session, so
//! the answer is the session token's) and offers only what the API would accept; the API still
//! checks every request itself.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use deployer_auth::{Action, ScopeTarget, Scopes};
use deployer_core::model::{AppFile, ClusterName, Region, Target};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::query;
use super::state::AppState;
use crate::auth::target::environment_of;
use crate::auth::{Grant, Principal};

/// The query string: a target, or nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoAmIQuery {
    /// The target's region.
    pub region: Option<String>,
    /// The target's cluster.
    pub cluster: Option<String>,
    /// The target's application file.
    pub file: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
    /// The token's name (what deployments record as `requested_by`).
    pub name: String,
    /// How the caller appears in the audit log (`name/token-id` or `name/config`).
    pub identity: String,
    /// The token's scopes, as written.
    pub scopes: Vec<String>,
    /// The actions allowed on every target.
    pub everywhere: Vec<&'static str>,
    /// The actions allowed on the target of the query, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetActions>,
}

/// What the caller may do on one target.
#[derive(Debug, Serialize)]
pub struct TargetActions {
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// The application file.
    pub file: String,
    /// The environment the cluster belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The actions allowed there.
    pub actions: Vec<&'static str>,
}

/// The actions `scopes` allow on `target` of `environment`, in the order scopes are written.
pub fn actions_on(scopes: &Scopes, environment: Option<&str>, target: &Target) -> Vec<&'static str> {
    Action::ALL
        .into_iter()
        .filter(|a| scopes.allows(*a, &ScopeTarget::of(environment, target)).is_allowed())
        .map(Action::as_str)
        .collect()
}

/// The actions `scopes` allow on every target.
pub fn actions_everywhere(scopes: &Scopes) -> Vec<&'static str> {
    Action::ALL
        .into_iter()
        .filter(|a| scopes.allows_everywhere(*a).is_allowed())
        .map(Action::as_str)
        .collect()
}

fn target_of(q: WhoAmIQuery) -> Result<Option<Target>, ApiError> {
    let (region, cluster, file) = match (q.region, q.cluster, q.file) {
        (None, None, None) => return Ok(None),
        (Some(r), Some(c), Some(f)) => (r, c, f),
        _ => {
            return Err(ApiError::bad_request(
                "incomplete_target",
                "name a target with all of `region`, `cluster` and `file`, or none of them",
            ));
        }
    };
    let invalid =
        |code: &'static str, e: deployer_core::model::InvalidName| ApiError::unprocessable(code, e.to_string());
    Ok(Some(Target {
        region: Region::new(region).map_err(|e| invalid("invalid_region", e))?,
        cluster: ClusterName::new(cluster).map_err(|e| invalid("invalid_cluster", e))?,
        file: AppFile::new(file).map_err(|e| invalid("invalid_file", e))?,
    }))
}

/// Answers who the caller is.
pub async fn whoami(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    q: Result<Query<WhoAmIQuery>, QueryRejection>,
) -> Result<Json<WhoAmI>, ApiError> {
    let target = target_of(query(q)?)?;
    let (Some(Extension(principal)), Some(grant)) = (principal, Grant::current()) else {
        return Err(ApiError::internal("whoami was reached without an authenticated caller"));
    };
    let target = target.map(|t| {
        let environment = environment_of(&state, &t);
        TargetActions {
            actions: actions_on(&grant.scopes, environment.as_deref(), &t),
            region: t.region.to_string(),
            cluster: t.cluster.to_string(),
            file: t.file.to_string(),
            environment,
        }
    });
    Ok(Json(WhoAmI {
        name: principal.name,
        identity: grant.identity,
        scopes: grant.scopes.iter().map(ToString::to_string).collect(),
        everywhere: actions_everywhere(&grant.scopes),
        target,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(region: &str, cluster: &str, file: &str) -> Target {
        Target {
            region: Region::new(region.to_owned()).unwrap_or_else(|e| panic!("{e}")),
            cluster: ClusterName::new(cluster.to_owned()).unwrap_or_else(|e| panic!("{e}")),
            file: AppFile::new(file.to_owned()).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn scopes(text: &str) -> Scopes {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_reader_may_only_read_a_target_and_everywhere() {
        let reader = scopes("read:*");
        let t = target("dc1", "dev-1", "web");
        assert_eq!(actions_on(&reader, None, &t), vec!["read"]);
        assert_eq!(actions_everywhere(&reader), vec!["read"]);
    }

    #[test]
    fn deploy_scopes_grant_read_on_their_targets_but_nothing_everywhere() {
        let ci = scopes("deploy:production/us-west-2/*/api");
        let api = target("us-west-2", "prod-1", "api");
        assert_eq!(actions_on(&ci, Some("production"), &api), vec!["read", "deploy"]);
        assert_eq!(actions_on(&ci, Some("staging"), &api), Vec::<&str>::new());
        assert_eq!(
            actions_on(&ci, Some("production"), &target("us-west-2", "prod-1", "web")),
            Vec::<&str>::new()
        );
        assert!(actions_everywhere(&ci).is_empty());
    }

    #[test]
    fn admin_everywhere_may_do_everything() {
        let admin = scopes("admin:*");
        assert_eq!(
            actions_everywhere(&admin),
            vec!["read", "deploy", "rollback", "pin", "admin"]
        );
        assert_eq!(
            actions_on(&admin, None, &target("dc1", "dev-1", "web")),
            vec!["read", "deploy", "rollback", "pin", "admin"]
        );
    }

    #[test]
    fn a_target_needs_all_three_parts() {
        let partial = WhoAmIQuery {
            region: Some("dc1".to_owned()),
            ..WhoAmIQuery::default()
        };
        assert!(target_of(partial).is_err());
        assert!(matches!(target_of(WhoAmIQuery::default()), Ok(None)));
        let bad = WhoAmIQuery {
            region: Some("dc1".to_owned()),
            cluster: Some("dev-1".to_owned()),
            file: Some("a/b".to_owned()),
        };
        assert!(target_of(bad).is_err());
    }
}
