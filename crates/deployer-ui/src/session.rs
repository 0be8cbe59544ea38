//! Browser sessions kept on the server: a random id in an `HttpOnly` cookie maps to the API
//! token it was opened with, a CSRF token, and when it was last used.
//!
//! The store is bounded ([`SessionLimits::max_sessions`]; when full, the least recently used
//! session is forgotten) and every session expires after [`SessionLimits::idle`] without use
//! and [`SessionLimits::lifetime`] in any case. Times are passed in, so the rules are plain
//! functions of `now`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// How many sessions are kept and how long they last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused for this long is over.
    pub idle: Duration,
    /// A session is over this long after sign-in, however busy.
    pub lifetime: Duration,
    /// At most this many sessions at once; signing in beyond it ends the least recently used.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60 * 60),
            lifetime: Duration::from_secs(12 * 60 * 60),
            max_sessions: 10_000,
        }
    }
}

/// The random identifier a session cookie carries (64 hexadecimal digits).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    fn random() -> Self {
        Self(random_hex())
    }

    /// Reads an id from a cookie value; anything that is not 64 lowercase hexadecimal digits
    /// is no id.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    /// The id as the cookie carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a credential: only a prefix is ever shown.
        write!(f, "SessionId({}…)", self.0.get(..6).unwrap_or(""))
    }
}

/// The token a page must send back (`X-CSRF-Token`) with every request that changes state.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    fn random() -> Self {
        Self(random_hex())
    }

    /// The token, for the page.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.len() == presented.len() && bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(…)")
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Entry {
    token: SecretString,
    csrf: CsrfToken,
    reads_everything: bool,
    created: Instant,
    last_seen: Instant,
}

/// What a request learns about its session.
#[derive(Clone)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The API token it was opened with.
    pub token: SecretString,
    /// The CSRF token of the session.
    pub csrf: CsrfToken,
    /// Whether the token could read the whole history when the session was opened.
    pub reads_everything: bool,
    /// How long until the session ends if it stays unused.
    pub expires_in: Duration,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("reads_everything", &self.reads_everything)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Whether a session opened at `created` and last used at `last_seen` is over at `now`.
pub fn expired(limits: &SessionLimits, created: Instant, last_seen: Instant, now: Instant) -> bool {
    now.saturating_duration_since(last_seen) >= limits.idle || now.saturating_duration_since(created) >= limits.lifetime
}

/// How long a session used at `now` has left: the idle time, cut short by the lifetime.
fn remaining(limits: &SessionLimits, created: Instant, now: Instant) -> Duration {
    let left = limits.lifetime.saturating_sub(now.saturating_duration_since(created));
    left.min(limits.idle)
}

/// The sessions of this process (they do not survive a restart: people sign in again).
pub struct SessionStore {
    limits: SessionLimits,
    entries: Mutex<HashMap<SessionId, Entry>>,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("limits", &self.limits)
            .field("len", &self.len())
            .finish()
    }
}

impl SessionStore {
    /// An empty store with `limits`.
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits: SessionLimits {
                max_sessions: limits.max_sessions.max(1),
                ..limits
            },
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// How many sessions are kept now (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a session for `token`. Expired sessions are swept first; when the store is still
    /// full, the least recently used session ends.
    pub fn open(&self, token: SecretString, reads_everything: bool, now: Instant) -> Session {
        let id = SessionId::random();
        let csrf = CsrfToken::random();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| !expired(&self.limits, e.created, e.last_seen, now));
        while entries.len() >= self.limits.max_sessions {
            let oldest = entries.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    entries.remove(&k);
                }
                None => break,
            }
        }
        entries.insert(
            id.clone(),
            Entry {
                token: token.clone(),
                csrf: csrf.clone(),
                reads_everything,
                created: now,
                last_seen: now,
            },
        );
        Session {
            id,
            token,
            csrf,
            reads_everything,
            expires_in: remaining(&self.limits, now, now),
        }
    }

    /// The session `id` names, if it is still open; using it counts as activity.
    pub fn find(&self, id: &SessionId, now: Instant) -> Option<Session> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get_mut(id)?;
        if expired(&self.limits, entry.created, entry.last_seen, now) {
            entries.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            id: id.clone(),
            token: SecretString::from(entry.token.expose_secret().to_owned()),
            csrf: entry.csrf.clone(),
            reads_everything: entry.reads_everything,
            expires_in: remaining(&self.limits, entry.created, now),
        })
    }

    /// Ends the session `id`; returns whether it was open.
    pub fn close(&self, id: &SessionId) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &str) -> SecretString {
        SecretString::from(t.to_owned())
    }

    fn limits(max: usize) -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(600),
            max_sessions: max,
        }
    }

    #[test]
    fn an_open_session_is_found_with_its_token_and_csrf_token() {
        let store = SessionStore::new(limits(10));
        let now = Instant::now();
        let opened = store.open(token("secret-1"), true, now);
        let found = store.find(&opened.id, now + Duration::from_secs(5));
        let found = found.map(|s| {
            (
                s.token.expose_secret().to_owned(),
                s.csrf.as_str().to_owned(),
                s.reads_everything,
            )
        });
        assert_eq!(
            found,
            Some(("secret-1".to_owned(), opened.csrf.as_str().to_owned(), true))
        );
    }

    #[test]
    fn a_session_unused_for_the_idle_time_is_over() {
        let store = SessionStore::new(limits(10));
        let now = Instant::now();
        let opened = store.open(token("t"), true, now);
        assert!(store.find(&opened.id, now + Duration::from_secs(59)).is_some());
        assert!(store.find(&opened.id, now + Duration::from_secs(59 + 60)).is_none());
        assert!(store.is_empty(), "an expired session is forgotten when found");
    }

    #[test]
    fn a_busy_session_still_ends_after_its_lifetime() {
        let store = SessionStore::new(limits(10));
        let now = Instant::now();
        let opened = store.open(token("t"), true, now);
        for minute in 1..10 {
            assert!(store.find(&opened.id, now + Duration::from_secs(minute * 59)).is_some());
        }
        assert!(store.find(&opened.id, now + Duration::from_secs(600)).is_none());
    }

    #[test]
    fn a_full_store_forgets_the_least_recently_used_session() {
        let store = SessionStore::new(limits(2));
        let now = Instant::now();
        let a = store.open(token("a"), true, now);
        let b = store.open(token("b"), true, now + Duration::from_secs(1));
        assert!(
            store.find(&a.id, now + Duration::from_secs(2)).is_some(),
            "a is now the most recent"
        );
        let c = store.open(token("c"), true, now + Duration::from_secs(3));
        assert_eq!(store.len(), 2);
        assert!(
            store.find(&b.id, now + Duration::from_secs(4)).is_none(),
            "b was the least recently used"
        );
        assert!(store.find(&a.id, now + Duration::from_secs(4)).is_some());
        assert!(store.find(&c.id, now + Duration::from_secs(4)).is_some());
    }

    #[test]
    fn a_closed_session_is_gone() {
        let store = SessionStore::new(limits(10));
        let now = Instant::now();
        let opened = store.open(token("t"), false, now);
        assert!(store.close(&opened.id));
        assert!(store.find(&opened.id, now).is_none());
        assert!(!store.close(&opened.id));
    }

    #[test]
    fn session_ids_are_long_random_hexadecimal_and_other_text_is_refused() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(SessionId::parse("abc"), None);
        assert_eq!(SessionId::parse(&a.as_str().to_uppercase()), None);
        assert!(!format!("{a:?}").contains(a.as_str()), "Debug never shows the whole id");
    }

    #[test]
    fn csrf_tokens_match_only_themselves() {
        let t = CsrfToken::random();
        assert!(t.matches(t.as_str()));
        assert!(!t.matches(""));
        assert!(!t.matches(CsrfToken::random().as_str()));
    }

    #[test]
    fn time_left_is_the_idle_time_cut_short_by_the_lifetime() {
        let l = limits(1);
        let now = Instant::now();
        assert_eq!(remaining(&l, now, now), Duration::from_secs(60));
        assert_eq!(
            remaining(&l, now, now + Duration::from_secs(570)),
            Duration::from_secs(30)
        );
    }
}
