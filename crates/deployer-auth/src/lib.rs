//! Who may do what to which target: API tokens, scopes, rate limits and webhook secrets of
//! k8s-app-deployer, as plain decisions with no I/O (except reading the operating system's
//! random source to generate secrets).
//!
//! # The flow of a request
//! 1. [`RateLimiter::check`] with [`RateKey::ip`] of the client, before anything else.
//! 2. [`PlainToken::parse`] the bearer token; look its [`PlainToken::hash`] up in the store
//!    (`deployer_store::TokenStore::find_token_by_hash`); [`authenticate`] decides on the
//!    record found, giving a [`Caller`]. `deployer_store::tokens::authenticate` does this step.
//! 3. [`RateLimiter::check`] with [`RateKey::token`].
//! 4. Each handler asks [`Caller::allows`] (or [`Caller::allows_everywhere`] for targetless
//!    actions) and turns a denial into a 403 naming the missing scope.
//!
//! Issuing a token is [`issue`]: it returns the clear token, to show once, and the
//! [`TokenRecord`] to store. The model is described in `docs/SECURITY.md`.
//!
//! ```
//! use deployer_auth::{Action, Decision, PlainToken, ScopeTarget, TokenName, authenticate, issue};
//!
//! let now = chrono::Utc::now();
//! let scopes = "deploy:staging/*/*/api-* read:*".parse()?;
//! let issued = issue(TokenName::new("ci-release")?, scopes, "90d".parse()?, now)?;
//! // Store `issued.record`; show `issued.token.expose_secret()` once.
//!
//! // Later, a request arrives with that token; the store finds the record by its hash.
//! let presented = PlainToken::parse(issued.token.expose_secret())?;
//! assert_eq!(presented.hash(), issued.record.hash);
//! let caller = authenticate(&presented, Some(&issued.record), now)?;
//!
//! let staging = ScopeTarget { environment: Some("staging"), region: "eu-west-1", cluster: "stg-1", file: "api-gw" };
//! assert_eq!(caller.allows(Action::Deploy, &staging), Decision::Allow);
//! let production = ScopeTarget { environment: Some("production"), ..staging };
//! assert_eq!(
//!     caller.allows(Action::Deploy, &production),
//!     Decision::Deny { needed: "deploy:production/eu-west-1/stg-1/api-gw".to_owned() }
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Matching one pattern part against a name.
mod glob;
/// Rate limiting per token and per client address.
pub mod rate;
/// Stored token records, expiry, and issuing tokens.
pub mod record;
/// Scopes: their grammar and the decisions they make.
pub mod scope;
/// Tokens: generation, ids, hashes and names.
pub mod token;
/// Deciding on a presented token.
pub mod verify;
/// Webhook secrets that can be stored hashed.
pub mod webhook;

pub use rate::{InvalidQuota, Quota, RateKey, RateLimitSettings, RateLimiter, RetryAfter};
pub use record::{Expiry, InvalidExpiry, Issued, TOUCH_INTERVAL, TokenRecord, TokenStatus, issue};
pub use scope::{Action, Decision, Denied, InvalidScope, Scope, ScopeProblem, ScopeTarget, Scopes};
pub use token::{
    InvalidTokenHash, InvalidTokenId, InvalidTokenName, MalformedToken, PlainToken, RandomUnavailable, TokenHash,
    TokenId, TokenName,
};
pub use verify::{Caller, Rejection, authenticate};
pub use webhook::{InvalidSecretHash, WebhookSecretHash, generate_secret};
