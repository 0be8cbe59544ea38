//! What the store keeps about a token, issuing new ones, and their expiry.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scope::Scopes;
use crate::token::{PlainToken, RandomUnavailable, TokenHash, TokenId, TokenName};

/// How often, at most, a token's `last_used_at` is written: more often would turn every
/// request into a database write.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The longest lifetime a token may be given (ten years).
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// A stored token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public id (the token's first 8 characters after `kad_`).
    pub id: TokenId,
    /// Who or what uses it.
    pub name: TokenName,
    /// The SHA-256 of the token.
    pub hash: TokenHash,
    /// What it may do.
    pub scopes: Scopes,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (written at most every [`TOUCH_INTERVAL`]).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Whether a token works at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// It works.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl TokenStatus {
    /// The name shown in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TokenRecord {
    /// Whether the token works at `now`. Revocation wins over expiry; a token expires at the
    /// instant of `expires_at`.
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.revoked_at.is_some_and(|at| at <= now) {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// Whether `last_used_at` is stale enough at `now` to be written again.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        let interval = chrono::Duration::from_std(TOUCH_INTERVAL).unwrap_or_default();
        self.last_used_at.is_none_or(|last| now - last >= interval)
    }
}

/// How long a new token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Until revoked.
    Never,
    /// For this long after issue.
    After(Duration),
}

/// An expiry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expiry `{text}`: {reason}")]
pub struct InvalidExpiry {
    /// The text as given.
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for Expiry {
    type Err = InvalidExpiry;

    /// Parses `never` or a duration such as `30d`, `12h`, `90days`, `1y`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| InvalidExpiry {
            text: s.chars().take(40).flat_map(char::escape_default).collect(),
            reason,
        };
        if s == "never" {
            return Ok(Expiry::Never);
        }
        let d = humantime::parse_duration(s)
            .map_err(|_| refuse("use a duration such as `30d`, `12h` or `1y`, or `never`"))?;
        if d.is_zero() {
            return Err(refuse("a token must live longer than zero"));
        }
        if d > MAX_LIFETIME {
            return Err(refuse("a token may live ten years at most; use `never` for no expiry"));
        }
        Ok(Expiry::After(d))
    }
}

impl Expiry {
    /// The expiry time of a token issued at `now`.
    pub fn at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            Expiry::After(d) => chrono::Duration::from_std(d.min(MAX_LIFETIME))
                .ok()
                .and_then(|d| now.checked_add_signed(d)),
        }
    }
}

/// A newly issued token: the clear text to show once, and the record to store.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token, to show once and then forget.
    pub token: PlainToken,
    /// What to store.
    pub record: TokenRecord,
}

/// Issues a token: generates it and builds its record. Nothing is stored here; store the
/// record, then show the token.
///
/// # Errors
/// [`RandomUnavailable`] when the operating system's random source fails.
pub fn issue(name: TokenName, scopes: Scopes, expiry: Expiry, now: DateTime<Utc>) -> Result<Issued, RandomUnavailable> {
    let token = PlainToken::generate()?;
    let record = TokenRecord {
        id: token.id(),
        name,
        hash: token.hash(),
        scopes,
        created_at: now,
        expires_at: expiry.at(now),
        revoked_at: None,
        last_used_at: None,
    };
    Ok(Issued { token, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap_or_default()
    }

    fn issued(expiry: Expiry) -> Issued {
        let name = TokenName::new("ci").unwrap_or_else(|e| panic!("{e}"));
        let scopes: Scopes = "deploy:staging/*/*/*".parse().unwrap_or_else(|e| panic!("{e}"));
        issue(name, scopes, expiry, at(0)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_issued_record_matches_its_token() {
        let i = issued(Expiry::Never);
        assert_eq!(i.record.id, i.token.id());
        assert_eq!(i.record.hash, TokenHash::of(i.token.expose_secret()));
        assert_eq!(i.record.created_at, at(0));
        assert_eq!(
            (i.record.expires_at, i.record.revoked_at, i.record.last_used_at),
            (None, None, None)
        );
        let json = serde_json::to_string(&i.record).unwrap_or_default();
        assert!(
            !json.contains(i.token.expose_secret()),
            "the record never holds the token"
        );
    }

    #[test]
    fn expiry_parses_durations_and_never() {
        assert_eq!("30d".parse(), Ok(Expiry::After(Duration::from_secs(30 * 86_400))));
        assert_eq!("12h".parse(), Ok(Expiry::After(Duration::from_secs(12 * 3600))));
        assert_eq!("never".parse(), Ok(Expiry::Never));
        for bad in ["", "0s", "soon", "30", "20y", "-1d"] {
            assert!(bad.parse::<Expiry>().is_err(), "{bad:?}");
        }
        assert_eq!(Expiry::After(Duration::from_secs(60)).at(at(0)), Some(at(60)));
        assert_eq!(Expiry::Never.at(at(0)), None);
    }

    #[test]
    fn a_token_expires_at_its_expiry_instant() {
        let r = issued(Expiry::After(Duration::from_secs(3600))).record;
        assert_eq!(r.status(at(3599)), TokenStatus::Active);
        assert_eq!(r.status(at(3600)), TokenStatus::Expired);
        assert_eq!(r.status(at(999_999)), TokenStatus::Expired);
        assert_eq!(
            issued(Expiry::Never).record.status(at(999_999_999)),
            TokenStatus::Active
        );
    }

    #[test]
    fn revocation_wins_over_expiry() {
        let mut r = issued(Expiry::After(Duration::from_secs(3600))).record;
        r.revoked_at = Some(at(10));
        assert_eq!(r.status(at(9)), TokenStatus::Active);
        assert_eq!(r.status(at(10)), TokenStatus::Revoked);
        assert_eq!(r.status(at(7200)), TokenStatus::Revoked);
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let mut r = issued(Expiry::Never).record;
        assert!(r.needs_touch(at(0)), "never used");
        r.last_used_at = Some(at(100));
        assert!(!r.needs_touch(at(100)));
        assert!(!r.needs_touch(at(159)));
        assert!(r.needs_touch(at(160)));
    }
}
