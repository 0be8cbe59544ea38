//! API tokens: the [`TokenStore`] port, and the operations the server and the `token`
//! commands call on it.
//!
//! The store keeps [`TokenRecord`](deployer_auth::TokenRecord)s (the SHA-256 of each token,
//! never the token) and returns them as stored: [`TokenStore::find_token_by_hash`] hands back
//! revoked and expired records too, and `deployer_auth::authenticate` decides. That keeps the rule in one pure, tested
//! place, and lets the caller say *why* a token was refused.
//!
//! [`authenticate`](crate::tokens::authenticate), [`create`](crate::tokens::create),
//! [`list`](crate::tokens::list) and [`revoke`](crate::tokens::revoke) are what the HTTP layer
//! and the `token create|list|revoke` commands call, against whichever backend is configured.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_auth::{
    Caller, Expiry, Issued, PlainToken, RandomUnavailable, Rejection, Scopes, TokenHash, TokenId, TokenName,
    TokenRecord, TokenStatus,
};
use deployer_core::ports::StoreError;

/// Stored API tokens, implemented by both backends.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a token with the same id or hash exists.
    async fn create_token(&self, record: &TokenRecord) -> Result<(), StoreError>;

    /// The token with this hash, whatever its status (revoked and expired ones included).
    async fn find_token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;

    /// The token with this id, whatever its status.
    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked and expired ones included, oldest first.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes a token at `now`, and returns it; `None` when no token has this id. Revoking a
    /// revoked token keeps its first revocation time.
    async fn revoke_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<Option<TokenRecord>, StoreError>;

    /// Records that the token was used at `now` (never moving `last_used_at` backwards). The
    /// caller throttles it: see `TokenRecord::needs_touch`.
    async fn touch_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Why a presented token was not let in, or could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticateError {
    /// The token was refused: answer 401.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store could not be asked: answer 503.
    #[error("tokens cannot be checked right now")]
    Unavailable(#[source] StoreError),
}

impl AuthenticateError {
    /// A stable label for metrics, logs and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthenticateError::Rejected(r) => r.kind(),
            AuthenticateError::Unavailable(_) => "store_unavailable",
        }
    }
}

/// Checks a bearer token presented at `now`: parses it, finds it by hash, decides with
/// `deployer_auth::authenticate`, and writes `last_used_at` when it is more than a minute old.
///
/// A failure to write `last_used_at` is logged and does not refuse the request.
///
/// # Errors
/// [`AuthenticateError::Rejected`] for a malformed, unknown, revoked or expired token;
/// [`AuthenticateError::Unavailable`] when the store fails.
pub async fn authenticate<S: TokenStore + ?Sized>(
    store: &S,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Caller, AuthenticateError> {
    let token = PlainToken::parse(presented).map_err(Rejection::from)?;
    let record = store
        .find_token_by_hash(&token.hash())
        .await
        .map_err(AuthenticateError::Unavailable)?;
    let caller = deployer_auth::authenticate(&token, record.as_ref(), now)?;
    if record.is_some_and(|r| r.needs_touch(now))
        && let Err(error) = store.touch_token(&caller.token_id, now).await
    {
        tracing::warn!(message = "Recording a token's last use failed.", token_id = %caller.token_id, %error);
    }
    Ok(caller)
}

/// Why a `token` command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenCommandError {
    /// A token needs at least one scope.
    #[error("a token without scopes could do nothing: give at least one `--scope`, e.g. `--scope read:*`")]
    NoScopes,
    /// No token has this id.
    #[error("no token has the id `{0}`; `token list` shows every token")]
    NotFound(TokenId),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenCommandError {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TokenCommandError::NoScopes => "no_scopes",
            TokenCommandError::NotFound(_) => "token_not_found",
            TokenCommandError::Random(e) => e.kind(),
            TokenCommandError::Store(_) => "store_error",
        }
    }
}

/// `token create`: issues a token, stores its record, and returns both. Show
/// `issued.token.expose_secret()` once; it cannot be shown again.
///
/// # Errors
/// [`TokenCommandError::NoScopes`] for an empty scope list; others when the random source or
/// the store fails.
pub async fn create<S: TokenStore + ?Sized>(
    store: &S,
    name: TokenName,
    scopes: Scopes,
    expiry: Expiry,
    now: DateTime<Utc>,
) -> Result<Issued, TokenCommandError> {
    if scopes.is_empty() {
        return Err(TokenCommandError::NoScopes);
    }
    // Two tokens share an 8-character id once in about 10^14 pairs; draw again if it happens.
    let mut attempts = 0;
    loop {
        let issued = deployer_auth::issue(name.clone(), scopes.clone(), expiry, now)?;
        match store.create_token(&issued.record).await {
            Ok(()) => return Ok(issued),
            Err(StoreError::Conflict { .. }) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One line of `token list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenListing {
    /// The stored record.
    pub record: TokenRecord,
    /// Whether it works at the time of listing.
    pub status: TokenStatus,
}

/// `token list`: every token, oldest first, with its status at `now`.
///
/// # Errors
/// When the store fails.
pub async fn list<S: TokenStore + ?Sized>(store: &S, now: DateTime<Utc>) -> Result<Vec<TokenListing>, StoreError> {
    Ok(store
        .list_tokens()
        .await?
        .into_iter()
        .map(|record| TokenListing {
            status: record.status(now),
            record,
        })
        .collect())
}

/// `token revoke ID`: revokes a token from `now` on; it is refused from then on. Revoking twice
/// is fine and keeps the first time.
///
/// # Errors
/// [`TokenCommandError::NotFound`] when no token has this id; others when the store fails.
pub async fn revoke<S: TokenStore + ?Sized>(
    store: &S,
    id: &TokenId,
    now: DateTime<Utc>,
) -> Result<TokenRecord, TokenCommandError> {
    store
        .revoke_token(id, now)
        .await?
        .ok_or_else(|| TokenCommandError::NotFound(id.clone()))
}

/// The columns of a `tokens` row, as text and times, decoded into a record.
pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    /// Decodes the row.
    pub(crate) fn decode(self) -> Result<TokenRecord, StoreError> {
        let bad = |e: &dyn std::fmt::Display| crate::error::corrupt(&format!("token `{}`", self.id), e);
        Ok(TokenRecord {
            id: TokenId::new(&self.id).map_err(|e| bad(&e))?,
            name: TokenName::new(&self.name).map_err(|e| bad(&e))?,
            hash: TokenHash::from_hex(&self.hash).map_err(|e| bad(&e))?,
            scopes: serde_json::from_str(&self.scopes).map_err(|e| bad(&e))?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        })
    }
}

/// The scopes of a record as stored: a JSON list of scope strings.
pub(crate) fn encode_scopes(record: &TokenRecord) -> Result<String, StoreError> {
    serde_json::to_string(&record.scopes).map_err(|e| StoreError::Internal {
        message: format!("cannot encode the scopes of token {}: {e}", record.id),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A token store that refuses the first `conflicts` creations, as if the drawn id were
    /// taken, and fails every other call.
    struct Colliding {
        conflicts: Mutex<u32>,
        created: Mutex<Vec<TokenRecord>>,
    }

    fn unused() -> StoreError {
        StoreError::Internal {
            message: "not used by this test".to_owned(),
        }
    }

    #[async_trait]
    impl TokenStore for Colliding {
        async fn create_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
            let mut left = self.conflicts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Conflict {
                    message: "duplicate id".to_owned(),
                });
            }
            self.created
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(record.clone());
            Ok(())
        }
        async fn find_token_by_hash(&self, _: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
            Err(unused())
        }
        async fn get_token(&self, _: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
            Err(unused())
        }
        async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
            Err(unused())
        }
        async fn revoke_token(&self, _: &TokenId, _: DateTime<Utc>) -> Result<Option<TokenRecord>, StoreError> {
            Err(unused())
        }
        async fn touch_token(&self, _: &TokenId, _: DateTime<Utc>) -> Result<(), StoreError> {
            Err(unused())
        }
    }

    fn colliding(conflicts: u32) -> Colliding {
        Colliding {
            conflicts: Mutex::new(conflicts),
            created: Mutex::new(Vec::new()),
        }
    }

    async fn create_on(store: &Colliding) -> Result<Issued, TokenCommandError> {
        let name = TokenName::new("ci").unwrap_or_else(|e| panic!("{e}"));
        let scopes: Scopes = "read:*".parse().unwrap_or_else(|e| panic!("{e}"));
        create(store, name, scopes, Expiry::Never, Utc::now()).await
    }

    #[tokio::test]
    async fn a_colliding_token_id_is_drawn_again() {
        let store = colliding(2);
        let issued = create_on(&store).await.unwrap_or_else(|e| panic!("{e}"));
        let created = store.created.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(created.len(), 1, "only the third draw is stored");
        assert_eq!(created.first(), Some(&issued.record), "and returned");
        assert_eq!(issued.record.hash, issued.token.hash());
    }

    #[tokio::test]
    async fn endless_collisions_end_in_the_conflict() {
        let store = colliding(100);
        let err = create_on(&store).await.err();
        assert!(
            matches!(err, Some(TokenCommandError::Store(StoreError::Conflict { .. }))),
            "{err:?}"
        );
        assert_eq!(
            store.conflicts.lock().map(|n| *n).unwrap_or_default(),
            96,
            "four draws in all"
        );
    }

    #[tokio::test]
    async fn a_touch_failure_does_not_refuse_the_caller() {
        struct Flaky(TokenRecord);
        #[async_trait]
        impl TokenStore for Flaky {
            async fn create_token(&self, _: &TokenRecord) -> Result<(), StoreError> {
                Err(unused())
            }
            async fn find_token_by_hash(&self, _: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
                Ok(Some(self.0.clone()))
            }
            async fn get_token(&self, _: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
                Err(unused())
            }
            async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                Err(unused())
            }
            async fn revoke_token(&self, _: &TokenId, _: DateTime<Utc>) -> Result<Option<TokenRecord>, StoreError> {
                Err(unused())
            }
            async fn touch_token(&self, _: &TokenId, _: DateTime<Utc>) -> Result<(), StoreError> {
                Err(StoreError::Unavailable {
                    message: "database is locked".to_owned(),
                })
            }
        }
        let name = TokenName::new("ci").unwrap_or_else(|e| panic!("{e}"));
        let scopes: Scopes = "read:*".parse().unwrap_or_else(|e| panic!("{e}"));
        let issued = deployer_auth::issue(name, scopes, Expiry::Never, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        let store = Flaky(issued.record.clone());
        let caller = authenticate(&store, issued.token.expose_secret(), Utc::now()).await;
        assert_eq!(caller.map(|c| c.token_id), Ok(issued.record.id));
    }
}
