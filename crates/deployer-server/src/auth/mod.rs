//! Authentication: who is calling.
//!
//! The HTTP layer only knows the [`Authenticator`] trait; [`StaticTokens`] checks bearer
//! tokens from the configuration. Scoped, hashed or revocable tokens are further
//! implementations of the same trait, so the routes do not change when they arrive.

mod middleware;
mod static_tokens;

use async_trait::async_trait;

pub use middleware::require_bearer;
pub use static_tokens::StaticTokens;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name; it becomes the deployment's `requested_by`.
    pub name: String,
    /// Whether the caller may name the person it acts for (`requested_by` in the body).
    pub act_for_users: bool,
}

/// Why a presented token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token matches no configured token.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The token source could not be checked (a backing store is down).
    #[error("tokens cannot be checked right now")]
    Unavailable {
        /// Details for the log only.
        internal: String,
    },
}

impl AuthError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::InvalidToken => "invalid_token",
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
    /// [`AuthError::InvalidToken`] when it belongs to nobody.
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError>;
}
