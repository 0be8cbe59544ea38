//! What each endpoint needs: the action (`read`, `deploy`, `rollback`, `pin`, `admin`) and
//! where the target it acts on comes from.
//!
//! [`requirement`] is the one table. An endpoint missing from it needs `admin:*`, so a route
//! added without a decision here is closed, not open; the test
//! `every_token_endpoint_declares_what_it_needs` lists the ones missing.

use axum::http::Method;
use deployer_auth::Action;

/// Where the target of a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFrom {
    /// None: the action is needed on every target (`read:*`, `admin:*`).
    Everywhere,
    /// The `{region}/{cluster}/{file}` of the path.
    Path,
    /// The `region`, `cluster` and `file` of the JSON body.
    Body,
    /// The deployment named by the path's `{id}`.
    Deployment,
    /// The deployments of the release named by the path's `{id}`.
    Release,
    /// The `region`, `cluster` and `file` query parameters when all three are given (one
    /// target's history); otherwise every target.
    Query,
    /// Each deployment the request makes, where it enters the service (a release's targets are
    /// known only once its rules are applied).
    Submitted,
    /// None: the endpoint only describes its own caller, so any valid token may call it.
    Caller,
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The action.
    pub action: Action,
    /// Where the target comes from.
    pub target: TargetFrom,
    /// Whether the endpoint is listed here (an unlisted one needs `admin:*`).
    pub declared: bool,
}

const fn need(action: Action, target: TargetFrom) -> Requirement {
    Requirement {
        action,
        target,
        declared: true,
    }
}

/// What `method path` needs; `path` is the route's template (`/api/v1/pins/{region}/{cluster}/{file}`).
pub fn requirement(method: &Method, path: &str) -> Requirement {
    use Action::{Admin, Deploy, Pin, Read, Rollback};
    use TargetFrom::{Body, Deployment, Everywhere, Query, Release, Submitted};
    let m = method.as_str();
    match (m, path) {
        ("POST", "/api/v1/deployments") => need(Deploy, Body),
        ("GET", "/api/v1/deployments") => need(Read, Query),
        ("GET", "/api/v1/deployments/{id}" | "/api/v1/deployments/{id}/events") => need(Read, Deployment),
        ("POST", "/api/v1/deployments/{id}/rollback") => need(Rollback, Deployment),
        ("POST", "/api/v1/rollbacks") => need(Rollback, Body),
        ("GET", "/api/v1/clusters" | "/api/v1/pins" | "/api/v1/triggers" | "/api/v1/triggers/{id}") => {
            need(Read, Everywhere)
        }
        ("GET", "/api/v1/pins/{region}/{cluster}/{file}") => need(Read, TargetFrom::Path),
        ("PUT" | "DELETE", "/api/v1/pins/{region}/{cluster}/{file}") => need(Pin, TargetFrom::Path),
        ("POST", "/api/v1/releases") => need(Deploy, Submitted),
        ("GET", "/api/v1/releases/{id}") => need(Read, Release),
        ("GET", "/api/v1/audit") => need(Admin, Everywhere),
        ("GET", "/api/v1/whoami") => need(Read, TargetFrom::Caller),
        ("GET", "/api/v1/events") | ("POST", "/api/v1/events/{id}/retry" | "/api/v1/events/retry") => {
            need(Admin, Everywhere)
        }
        _ => Requirement {
            action: Admin,
            target: Everywhere,
            declared: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Access, endpoints};

    #[test]
    fn every_token_endpoint_declares_what_it_needs() {
        let missing: Vec<String> = endpoints()
            .into_iter()
            .filter(|e| e.access == Access::Token)
            .filter(|e| !requirement(&e.method, e.path).declared)
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert!(
            missing.is_empty(),
            "add these to `auth::policy::requirement`: {missing:?}"
        );
    }

    #[test]
    fn writes_need_their_action_and_unknown_routes_need_admin() {
        assert_eq!(requirement(&Method::POST, "/api/v1/deployments").action, Action::Deploy);
        assert_eq!(
            requirement(&Method::DELETE, "/api/v1/pins/{region}/{cluster}/{file}").action,
            Action::Pin
        );
        assert_eq!(
            requirement(&Method::POST, "/api/v1/deployments/{id}/rollback").action,
            Action::Rollback
        );
        let unknown = requirement(&Method::POST, "/api/v1/somewhere-new");
        assert_eq!(
            (unknown.action, unknown.target, unknown.declared),
            (Action::Admin, TargetFrom::Everywhere, false)
        );
    }
}
