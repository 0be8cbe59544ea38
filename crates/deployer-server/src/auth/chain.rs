//! Several token sources, tried in turn.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AuthError, Authenticated, Authenticator};

/// Tries each authenticator in order: the first that knows the token answers. A source that
/// cannot be checked makes the whole answer "unavailable" only when no other source knows the
/// token, so a store outage does not lock out the configured tokens.
#[derive(Clone, Default)]
pub struct Chain {
    sources: Vec<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("sources", &self.sources.len()).finish()
    }
}

impl Chain {
    /// No source: every token is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source, tried after the ones before.
    #[must_use]
    pub fn then(mut self, source: Arc<dyn Authenticator>) -> Self {
        self.sources.push(source);
        self
    }
}

#[async_trait]
impl Authenticator for Chain {
    async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthError> {
        let mut refusal = AuthError::InvalidToken {
            reason: "unknown_token",
            token_id: None,
        };
        for source in &self.sources {
            match source.authenticate(token).await {
                Ok(caller) => return Ok(caller),
                // The most telling refusal wins: an outage over "revoked" over "unknown".
                Err(e @ AuthError::Unavailable { .. }) => refusal = e,
                Err(e @ AuthError::InvalidToken { reason, .. }) => {
                    if reason != "unknown_token"
                        && reason != "malformed_token"
                        && !matches!(refusal, AuthError::Unavailable { .. })
                    {
                        refusal = e;
                    }
                }
            }
        }
        Err(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::StaticTokens;

    struct Down;

    #[async_trait]
    impl Authenticator for Down {
        async fn authenticate(&self, _: &str) -> Result<Authenticated, AuthError> {
            Err(AuthError::Unavailable {
                internal: "store down".to_owned(),
            })
        }
    }

    #[tokio::test]
    async fn a_store_outage_does_not_lock_out_configured_tokens() {
        let chain = Chain::new()
            .then(Arc::new(Down))
            .then(Arc::new(StaticTokens::new().with(
                "ops",
                "s3cret-token-ops-0001",
                false,
            )));
        assert!(chain.authenticate("s3cret-token-ops-0001").await.is_ok());
        assert_eq!(
            chain
                .authenticate("another-token-00001")
                .await
                .map_err(|e| e.kind())
                .err(),
            Some("unavailable")
        );
        assert_eq!(
            Chain::new().authenticate("x").await.map_err(|e| e.kind()).err(),
            Some("unknown_token")
        );
    }
}
