//! Tokens from the configuration, compared in constant time.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, Authenticator, Principal};
use crate::config::AuthSettings;

/// One configured token, kept only as its SHA-256.
#[derive(Clone)]
struct Entry {
    principal: Principal,
    hash: [u8; 32],
}

/// The tokens of `[[auth.tokens]]`.
///
/// Presented tokens are hashed and compared with every configured hash in constant time, so
/// neither the position of the first differing byte nor the token's length leaks.
#[derive(Clone, Default)]
pub struct StaticTokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.principal.name.as_str()).collect();
        f.debug_struct("StaticTokens").field("names", &names).finish()
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl StaticTokens {
    /// An empty set: every token is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token.
    pub fn with(mut self, name: impl Into<String>, token: &str, act_for_users: bool) -> Self {
        self.entries.push(Entry {
            principal: Principal {
                name: name.into(),
                act_for_users,
            },
            hash: hash(token),
        });
        self
    }

    /// The tokens of validated settings (whose secrets are already resolved).
    pub fn from_settings(settings: &AuthSettings) -> Self {
        settings.tokens.iter().fold(Self::new(), |set, t| match &t.token {
            Some(secret) => set.with(t.name.clone(), secret.expose_secret(), t.act_for_users),
            None => set,
        })
    }
}

#[async_trait]
impl Authenticator for StaticTokens {
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let presented = hash(token);
        let mut found: Option<&Principal> = None;
        // Every entry is compared, whatever matched before.
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(&entry.principal);
            }
        }
        found.cloned().ok_or(AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_configured_token_names_its_principal() {
        let tokens =
            StaticTokens::new()
                .with("ci", "s3cret-token-ci-0001", false)
                .with("cli", "s3cret-token-cli-002", true);
        assert_eq!(
            tokens.authenticate("s3cret-token-cli-002").await.map(|p| p.name),
            Ok("cli".to_owned())
        );
        assert_eq!(
            tokens.authenticate("s3cret-token-ci-000").await,
            Err(AuthError::InvalidToken)
        );
        assert_eq!(StaticTokens::new().authenticate("").await, Err(AuthError::InvalidToken));
    }
}
