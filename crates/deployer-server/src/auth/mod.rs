//! Authentication and authorisation: who is calling, and whether they may.
//!
//! Every `/api/v1/…` request goes through [`guard::guard_api`]: the client address's rate
//! limit, the bearer token ([`Authenticator`]: [`StaticTokens`] from the configuration and
//! [`StoreTokens`] issued with `token create`, tried in turn by [`Chain`]), the token's rate
//! limit, then the scope the endpoint needs ([`policy::requirement`]) on the request's target
//! ([`target`]). Deployments made by a request are checked once more where they enter the
//! service ([`authorize_submit`]), which covers the targets a release fans out to. Every
//! request, accepted or refused, is written to the audit log through [`AuditLog`], without
//! ever waiting for the store. `docs/SECURITY.md` describes the model.

mod audit;
/// `GET /api/v1/audit`.
pub mod audit_api;
mod chain;
mod guard;
/// Limits on JSON bodies: nesting depth and string length.
pub mod json_limits;
/// What each endpoint needs.
pub mod policy;
mod static_tokens;
mod store_tokens;
mod submit;
/// The target of a request and its environment.
pub mod target;

use async_trait::async_trait;
use deployer_auth::{RateKey, Scopes};

pub use audit::{AuditLog, DEFAULT_CAPACITY as AUDIT_CAPACITY};
pub use chain::Chain;
pub use guard::{Guard, guard_api, guard_webhook};
pub use static_tokens::StaticTokens;
pub use store_tokens::StoreTokens;
pub use submit::{Grant, authorize_submit};

/// The authenticated caller, as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name; it becomes the deployment's `requested_by`.
    pub name: String,
    /// Whether the caller may name the person it acts for (`requested_by` in the body).
    pub act_for_users: bool,
}

/// What an accepted token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The caller, for handlers.
    pub principal: Principal,
    /// How the caller appears in the audit log: `name/token-id` for an issued token,
    /// `name/config` for a token of `[[auth.tokens]]`.
    pub identity: String,
    /// What the caller may do.
    pub scopes: Scopes,
    /// The key of the caller's own rate limit.
    pub rate_key: RateKey,
}

/// Why a presented token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, unknown, revoked or expired; `reason` says which, for the log
    /// and the audit entry only (every such token gets the same 401).
    #[error("the bearer token is not valid")]
    InvalidToken {
        /// `malformed_token`, `unknown_token`, `revoked_token` or `expired_token`.
        reason: &'static str,
        /// The token's public id, when the token is known (revoked or expired).
        token_id: Option<String>,
    },
    /// The token source could not be checked (a backing store is down).
    #[error("tokens cannot be checked right now")]
    Unavailable {
        /// Details for the log only.
        internal: String,
    },
}

impl AuthError {
    /// A stable label for metrics and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::InvalidToken { reason, .. } => reason,
            AuthError::Unavailable { .. } => "unavailable",
        }
    }
}

/// Checks a bearer token and says who presented it.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Returns the caller the token belongs to.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when it belongs to nobody (or no longer works);
    /// [`AuthError::Unavailable`] when it cannot be checked now.
    async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthError>;
}
