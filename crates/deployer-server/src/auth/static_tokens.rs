//! Tokens from the configuration (`[[auth.tokens]]`), compared in constant time.

use async_trait::async_trait;
use deployer_auth::{RateKey, Scopes, TokenId};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, Authenticated, Authenticator, Principal};
use crate::config::AuthSettings;

/// One configured token, kept only as its SHA-256.
#[derive(Clone)]
struct Entry {
    caller: Authenticated,
    hash: [u8; 32],
}

/// The tokens of `[[auth.tokens]]`.
///
/// Presented tokens are hashed and compared with every configured hash in constant time, so
/// neither the position of the first differing byte nor the token's length leaks. A token
/// configured without `scopes` has `admin:*`, as every configured token had before scopes
/// existed.
#[derive(Clone, Default)]
pub struct StaticTokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.caller.principal.name.as_str()).collect();
        f.debug_struct("StaticTokens").field("names", &names).finish()
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The scopes of a configured token that names none: everything.
pub fn admin_everywhere() -> Scopes {
    // `admin:*` always parses; should it not, the token could do nothing rather than everything.
    "admin:*".parse().unwrap_or_default()
}

/// A rate-limit key for a configured token: derived from its name, so that it stays the same
/// across restarts and never depends on the secret.
fn rate_key(name: &str) -> RateKey {
    let digest = Sha256::digest(format!("config:{name}").as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    match TokenId::new(&hex) {
        Ok(id) => RateKey::token(&id),
        // Eight hexadecimal digits are always a valid id; fall back to one shared bucket.
        Err(_) => RateKey::Ip(std::net::IpAddr::from([0, 0, 0, 0])),
    }
}

impl StaticTokens {
    /// An empty set: every token is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token with the scope `admin:*`.
    pub fn with(self, name: impl Into<String>, token: &str, act_for_users: bool) -> Self {
        self.with_scopes(name, token, act_for_users, admin_everywhere())
    }

    /// Adds a token with `scopes`.
    pub fn with_scopes(mut self, name: impl Into<String>, token: &str, act_for_users: bool, scopes: Scopes) -> Self {
        let name = name.into();
        self.entries.push(Entry {
            caller: Authenticated {
                identity: format!("{name}/config"),
                rate_key: rate_key(&name),
                principal: Principal { name, act_for_users },
                scopes,
            },
            hash: hash(token),
        });
        self
    }

    /// The tokens of validated settings (whose secrets are already resolved).
    pub fn from_settings(settings: &AuthSettings) -> Self {
        settings.tokens.iter().fold(Self::new(), |set, t| match &t.token {
            Some(secret) => set.with_scopes(
                t.name.clone(),
                secret.expose_secret(),
                t.act_for_users,
                t.scopes.clone().unwrap_or_else(admin_everywhere),
            ),
            None => set,
        })
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[async_trait]
impl Authenticator for StaticTokens {
    async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthError> {
        let presented = hash(token);
        let mut found: Option<&Authenticated> = None;
        // Every entry is compared, whatever matched before.
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(&entry.caller);
            }
        }
        found.cloned().ok_or(AuthError::InvalidToken {
            reason: "unknown_token",
            token_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deployer_auth::{Action, ScopeTarget};

    #[tokio::test]
    async fn a_configured_token_names_its_principal() {
        let tokens =
            StaticTokens::new()
                .with("ci", "s3cret-token-ci-0001", false)
                .with("cli", "s3cret-token-cli-002", true);
        assert_eq!(
            tokens
                .authenticate("s3cret-token-cli-002")
                .await
                .map(|c| c.principal.name),
            Ok("cli".to_owned())
        );
        assert_eq!(
            tokens.authenticate("s3cret-token-ci-000").await,
            Err(AuthError::InvalidToken {
                reason: "unknown_token",
                token_id: None,
            })
        );
        assert!(StaticTokens::new().authenticate("").await.is_err());
    }

    #[tokio::test]
    async fn a_token_without_scopes_is_admin_and_one_with_scopes_has_only_those() {
        let narrow: Scopes = "deploy:staging/*/*/api-*".parse().unwrap_or_default();
        let tokens = StaticTokens::new()
            .with("ops", "s3cret-token-ops-0001", false)
            .with_scopes("ci", "s3cret-token-ci-00001", false, narrow);
        let prod = ScopeTarget {
            environment: Some("production"),
            region: "us-west-2",
            cluster: "prod-1",
            file: "api-gw",
        };
        let ops = tokens.authenticate("s3cret-token-ops-0001").await;
        let ci = tokens.authenticate("s3cret-token-ci-00001").await;
        assert!(
            ops.as_ref()
                .is_ok_and(|c| c.scopes.allows(Action::Admin, &prod).is_allowed())
        );
        assert!(
            ci.as_ref()
                .is_ok_and(|c| !c.scopes.allows(Action::Deploy, &prod).is_allowed())
        );
        assert_eq!(ci.map(|c| c.identity), Ok("ci/config".to_owned()));
    }

    #[test]
    fn configured_tokens_get_distinct_stable_rate_keys() {
        assert_eq!(rate_key("ci"), rate_key("ci"));
        assert_ne!(rate_key("ci"), rate_key("cli"));
        assert!(matches!(rate_key("ci"), RateKey::Token(_)));
    }
}
