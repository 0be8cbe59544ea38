//! Tokens issued with `token create`, checked against the store.

use std::sync::Arc;

use async_trait::async_trait;
use deployer_auth::{RateKey, Rejection};
use deployer_core::ports::Clock;
use deployer_store::{AuthenticateError, TokenStore};

use super::{AuthError, Authenticated, Authenticator, Principal};

/// Issued tokens (`kad_…`), found in the store by their SHA-256 and decided by
/// `deployer_auth::authenticate` (revoked and expired tokens are refused).
#[derive(Clone)]
pub struct StoreTokens {
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StoreTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTokens").finish_non_exhaustive()
    }
}

impl StoreTokens {
    /// Tokens of `store`, checked at `clock`'s time.
    pub fn new(store: Arc<dyn TokenStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl Authenticator for StoreTokens {
    async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthError> {
        match deployer_store::tokens::authenticate(&*self.store, token, self.clock.now()).await {
            Ok(caller) => Ok(Authenticated {
                identity: caller.identity(),
                rate_key: RateKey::token(&caller.token_id),
                principal: Principal {
                    name: caller.name.to_string(),
                    act_for_users: false,
                },
                scopes: caller.scopes,
            }),
            Err(AuthenticateError::Rejected(rejection)) => Err(AuthError::InvalidToken {
                reason: rejection.kind(),
                token_id: match &rejection {
                    Rejection::Revoked { id, .. } | Rejection::Expired { id, .. } => Some(id.to_string()),
                    Rejection::Malformed | Rejection::Unknown => None,
                },
            }),
            Err(AuthenticateError::Unavailable(e)) => Err(AuthError::Unavailable {
                internal: e.to_string(),
            }),
        }
    }
}
