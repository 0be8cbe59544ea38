//! Deciding whether a presented token is let in, given what the store found for its hash.
//!
//! The HTTP layer does: [`PlainToken::parse`] the bearer token, look its
//! [`PlainToken::hash`] up in the store, then call [`authenticate`] with whatever came back.
//! `deployer_store::tokens::authenticate` does exactly that, plus the throttled
//! `last_used_at` write.

use std::fmt;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::record::{TokenRecord, TokenStatus};
use crate::scope::{Action, Decision, ScopeTarget, Scopes};
use crate::token::{PlainToken, TokenId, TokenName};

/// Who is calling: an authenticated token's id, name and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's public id.
    pub token_id: TokenId,
    /// The token's name; it becomes the `requested_by` of what the caller does.
    pub name: TokenName,
    /// What it may do.
    pub scopes: Scopes,
}

impl Caller {
    /// Whether the caller may take `action` on `target`.
    pub fn allows(&self, action: Action, target: &ScopeTarget<'_>) -> Decision {
        self.scopes.allows(action, target)
    }

    /// Whether the caller may take a targetless `action` (see [`Scopes::allows_everywhere`]).
    pub fn allows_everywhere(&self, action: Action) -> Decision {
        self.scopes.allows_everywhere(action)
    }

    /// How the caller appears in the audit log: `name/id`.
    pub fn identity(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.token_id)
    }
}

/// Why a presented token was not let in.
///
/// Every variant should be answered with the same 401 to the client: the messages here are for
/// the log and the audit entry. (The holder of an expired token may be told it expired; they
/// hold it.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The text cannot be a token.
    #[error("the bearer token is malformed")]
    Malformed,
    /// No stored token has this hash.
    #[error("the bearer token is not known")]
    Unknown,
    /// The token was revoked.
    #[error("token {id} was revoked at {at}")]
    Revoked {
        /// The token.
        id: TokenId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The token expired.
    #[error("token {id} expired at {at}")]
    Expired {
        /// The token.
        id: TokenId,
        /// When.
        at: DateTime<Utc>,
    },
}

impl Rejection {
    /// A stable label for metrics, logs and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed_token",
            Rejection::Unknown => "unknown_token",
            Rejection::Revoked { .. } => "revoked_token",
            Rejection::Expired { .. } => "expired_token",
        }
    }
}

impl From<crate::token::MalformedToken> for Rejection {
    fn from(_: crate::token::MalformedToken) -> Self {
        Rejection::Malformed
    }
}

/// Decides whether `presented` is let in at `now`, given the record the store returned for its
/// hash (the store returns revoked and expired records too; this decides).
///
/// The presented token's hash is compared with the record's in constant time. The store's
/// lookup by hash is not constant-time (an index walk), and need not be: what it compares is a
/// SHA-256, and learning how many leading bytes of a hash matched tells nothing about a token
/// with a different hash. The comparison here makes the decision independent of how the store
/// matched (a collation, a test double), and costs nothing.
///
/// # Errors
/// A [`Rejection`] saying why.
pub fn authenticate(
    presented: &PlainToken,
    record: Option<&TokenRecord>,
    now: DateTime<Utc>,
) -> Result<Caller, Rejection> {
    let record = record.ok_or(Rejection::Unknown)?;
    if !bool::from(presented.hash().ct_eq(&record.hash)) {
        return Err(Rejection::Unknown);
    }
    match record.status(now) {
        TokenStatus::Active => Ok(Caller {
            token_id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
        }),
        TokenStatus::Revoked => Err(Rejection::Revoked {
            id: record.id.clone(),
            at: record.revoked_at.unwrap_or(now),
        }),
        TokenStatus::Expired => Err(Rejection::Expired {
            id: record.id.clone(),
            at: record.expires_at.unwrap_or(now),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{Expiry, Issued, issue};
    use crate::token::TokenHash;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap_or_default()
    }

    fn issued(expiry: Expiry) -> Issued {
        let name = TokenName::new("ci-bot").unwrap_or_else(|e| panic!("{e}"));
        let scopes: Scopes = "deploy:staging/*/*/*".parse().unwrap_or_else(|e| panic!("{e}"));
        issue(name, scopes, expiry, at(0)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_active_token_is_let_in_with_its_name_and_scopes() {
        let i = issued(Expiry::Never);
        let caller = authenticate(&i.token, Some(&i.record), at(5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.token_id, i.record.id);
        assert_eq!(caller.name.as_str(), "ci-bot");
        assert_eq!(caller.scopes, i.record.scopes);
        assert_eq!(caller.identity(), format!("ci-bot/{}", i.record.id));
        let staging = ScopeTarget {
            environment: Some("staging"),
            region: "r",
            cluster: "c",
            file: "f",
        };
        assert!(caller.allows(Action::Deploy, &staging).is_allowed());
        assert!(!caller.allows_everywhere(Action::Read).is_allowed());
    }

    #[test]
    fn a_token_the_store_does_not_know_is_unknown() {
        let i = issued(Expiry::Never);
        assert_eq!(authenticate(&i.token, None, at(5)), Err(Rejection::Unknown));
    }

    #[test]
    fn a_record_with_another_hash_is_refused() {
        // The store must never hand back another token's record, but if it did, the
        // constant-time comparison catches it.
        let i = issued(Expiry::Never);
        let other = issued(Expiry::Never);
        assert_eq!(
            authenticate(&i.token, Some(&other.record), at(5)),
            Err(Rejection::Unknown)
        );
        let mut near = i.record.clone();
        let mut bytes = *near.hash.as_bytes();
        bytes[31] ^= 0x80;
        near.hash = TokenHash::from_hex(&crate::token::encode_hex(&bytes)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(authenticate(&i.token, Some(&near), at(5)), Err(Rejection::Unknown));
    }

    #[test]
    fn an_expired_token_is_refused_from_its_expiry_instant() {
        let i = issued(Expiry::After(Duration::from_secs(60)));
        assert!(authenticate(&i.token, Some(&i.record), at(59)).is_ok());
        let err = authenticate(&i.token, Some(&i.record), at(60));
        assert_eq!(
            err,
            Err(Rejection::Expired {
                id: i.record.id.clone(),
                at: at(60)
            })
        );
        assert_eq!(err.err().map(|e| e.kind()), Some("expired_token"));
    }

    #[test]
    fn a_revoked_token_is_refused_even_before_its_expiry() {
        let mut i = issued(Expiry::After(Duration::from_secs(3600)));
        i.record.revoked_at = Some(at(30));
        assert!(authenticate(&i.token, Some(&i.record), at(29)).is_ok());
        let err = authenticate(&i.token, Some(&i.record), at(31));
        assert_eq!(
            err,
            Err(Rejection::Revoked {
                id: i.record.id.clone(),
                at: at(30)
            })
        );
        assert_eq!(err.err().map(|e| e.kind()), Some("revoked_token"));
    }

    #[test]
    fn rejections_never_show_the_token() {
        let i = issued(Expiry::After(Duration::from_secs(1)));
        let err = authenticate(&i.token, Some(&i.record), at(10))
            .err()
            .map(|e| format!("{e} {e:?}"));
        let text = err.unwrap_or_default();
        assert!(!text.contains(i.token.expose_secret()), "{text}");
        assert_eq!(Rejection::from(crate::token::MalformedToken).kind(), "malformed_token");
    }
}
