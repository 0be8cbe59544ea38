//! The last check of every deployment a request makes: where it enters the service.
//!
//! The guard runs each API handler inside [`Grant::scope`], so [`authorize_submit`], called by
//! `api::submit` for every deployment, knows the caller's scopes without every handler passing
//! them along. That covers what the guard cannot see before the handler runs: the targets a
//! release fans out to. Work started by no API request (webhooks, whose rules and hooks decide,
//! and automatic rollbacks) runs outside any grant and is not checked here.

use std::future::Future;
use std::net::IpAddr;

use axum::http::StatusCode;
use deployer_auth::{Action, Decision, ScopeTarget, Scopes};
use deployer_core::model::DeployRequest;
use deployer_store::{AuditEntry, AuditOutcome};

use super::AuditLog;
use super::target::environment_of;
use crate::api::AppState;
use crate::api::error::ApiError;

tokio::task_local! {
    static GRANT: Grant;
}

/// The caller of the request being handled: what [`authorize_submit`] checks against.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The caller's audit identity.
    pub identity: String,
    /// The caller's scopes.
    pub scopes: Scopes,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// Where denials are recorded.
    pub audit: AuditLog,
}

impl Grant {
    /// Runs `f` (a request's handler) with this grant in force.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        GRANT.scope(self, f).await
    }

    /// The grant of the API request being handled, or `None` outside one.
    pub fn current() -> Option<Grant> {
        GRANT.try_with(Grant::clone).ok()
    }
}

/// The action a deployment request takes: `rollback` for a rollback, `deploy` otherwise.
pub fn action_of(request: &DeployRequest) -> Action {
    if request.rollback_of.is_some() {
        Action::Rollback
    } else {
        Action::Deploy
    }
}

/// Refuses `request` with a 403 naming the missing scope when the API caller whose request is
/// being handled may not make it; allows anything made outside an API request.
///
/// # Errors
/// The 403 `missing_scope`; the denial is written to the audit log.
pub fn authorize_submit(state: &AppState, request: &DeployRequest) -> Result<(), ApiError> {
    let checked = GRANT.try_with(|grant| {
        let action = action_of(request);
        let environment = environment_of(state, &request.target);
        let decision = grant
            .scopes
            .allows(action, &ScopeTarget::of(environment.as_deref(), &request.target));
        match decision {
            Decision::Allow => Ok(()),
            Decision::Deny { needed } => {
                let mut entry = AuditEntry::new(
                    state.clock.now(),
                    grant.identity.clone(),
                    action.as_str(),
                    AuditOutcome::Denied,
                )
                .with_target(request.target.to_string())
                .with_status(403)
                .with_detail(format!("missing_scope: {needed}"));
                if let Some(ip) = grant.client_ip {
                    entry = entry.with_client_ip(ip);
                }
                grant.audit.record(entry);
                Err(forbidden(&needed))
            }
        }
    });
    checked.unwrap_or(Ok(()))
}

/// The 403 answer for a missing scope.
pub fn forbidden(needed: &str) -> ApiError {
    ApiError::client(
        StatusCode::FORBIDDEN,
        "missing_scope",
        format!("this token does not have the scope `{needed}`"),
    )
    .with_hint(format!(
        "use a token whose scopes include `{needed}` (an administrator issues one with `k8s-app-deployer token create --scope {needed}`)"
    ))
}
