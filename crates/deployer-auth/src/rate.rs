//! Rate limiting per token and per client address, with bounded memory.
//!
//! Each key has a token bucket of `requests` tokens that refills at `requests` per `per`. It is
//! kept in the equivalent GCRA form ("generic cell rate algorithm"): one instant per key, the
//! *theoretical arrival time*, instead of a count and a timestamp. A request at `now` is
//! allowed when the bucket is not empty, i.e. when `max(tat, now) + interval - now` does not
//! exceed `requests × interval`, and then moves `tat` forward by one interval.
//!
//! The limiter is pure over time: every call takes `now`, so tests step a clock by hand.
//!
//! # Memory
//! A key whose `tat` has passed has a full bucket, which is the same as no entry: such keys
//! are dropped whenever the table is full (and by [`RateLimiter::sweep`]). If the table is
//! still full, the eighth of the entries closest to full are dropped too. They get a fresh
//! bucket if they come back, a small leak that only a flood of new keys can cause, and
//! which keeps the memory bounded by `max_keys`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

use crate::token::TokenId;

/// What a limit is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An authenticated token.
    Token(TokenId),
    /// A client address: an IPv4 address, or the /64 network of an IPv6 one (a client
    /// usually owns a whole /64, so it could otherwise rotate addresses to escape its limit).
    Ip(IpAddr),
}

impl RateKey {
    /// The key of a client address, normalised: an IPv4-mapped IPv6 address becomes the IPv4
    /// address, and other IPv6 addresses their /64 network.
    pub fn ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => RateKey::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => RateKey::Ip(IpAddr::V4(v4)),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    RateKey::Ip(IpAddr::V6(network.into()))
                }
            },
        }
    }

    /// The key of a token.
    pub fn token(id: &TokenId) -> Self {
        RateKey::Token(id.clone())
    }
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::Token(id) => write!(f, "token {id}"),
            RateKey::Ip(IpAddr::V6(net)) => write!(f, "address {net}/64"),
            RateKey::Ip(ip) => write!(f, "address {ip}"),
        }
    }
}

/// A rate: `requests` per `per`, with bursts of up to `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    requests: u32,
    per: Duration,
}

/// A quota that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit: {0}")]
pub struct InvalidQuota(&'static str);

impl Quota {
    /// `requests` per `per`.
    ///
    /// # Errors
    /// [`InvalidQuota`] when `requests` is 0, or `per` is shorter than `requests` nanoseconds.
    pub fn new(requests: u32, per: Duration) -> Result<Self, InvalidQuota> {
        if requests == 0 {
            return Err(InvalidQuota("`requests` must be at least 1"));
        }
        if (per / requests).is_zero() {
            return Err(InvalidQuota("`per` is too short for that many requests"));
        }
        Ok(Self { requests, per })
    }

    /// `requests` per minute.
    ///
    /// # Errors
    /// [`InvalidQuota`] when `requests` is 0.
    pub fn per_minute(requests: u32) -> Result<Self, InvalidQuota> {
        Self::new(requests, Duration::from_secs(60))
    }

    /// The time one request's token takes to come back.
    fn interval(self) -> Duration {
        self.per / self.requests
    }

    /// How far ahead of `now` the theoretical arrival time may be: the burst.
    fn burst(self) -> Duration {
        self.interval() * self.requests
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            requests: u32,
            per: String,
        }
        let raw = Raw::deserialize(d)?;
        let per = humantime::parse_duration(&raw.per).map_err(serde::de::Error::custom)?;
        Quota::new(raw.requests, per).map_err(serde::de::Error::custom)
    }
}

/// The `[auth.rate_limit]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// The limit of each authenticated token: `{ requests = 6000, per = "1m" }` by default, so that
    /// one CI token can still redeploy a fleet of thousands of services at once.
    pub per_token: Quota,
    /// The limit of each client address (IPv6: each /64), authenticated or not:
    /// `{ requests = 12000, per = "1m" }` by default.
    pub per_ip: Quota,
    /// The most keys remembered at once (default 100 000, a few megabytes).
    pub max_keys: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_token: Quota {
                requests: 6000,
                per: Duration::from_secs(60),
            },
            per_ip: Quota {
                requests: 12000,
                per: Duration::from_secs(60),
            },
            max_keys: 100_000,
        }
    }
}

/// A refused request: how long until the next one would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry in {} s", self.seconds())]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds to wait, rounded up, for the `Retry-After` header (at least 1).
    pub fn seconds(&self) -> u64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        s.max(1)
    }

    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        "rate_limited"
    }
}

/// The limiter. Share it (`Arc<RateLimiter>`) between requests; [`RateLimiter::check`] takes
/// `&self` and holds its lock only for the arithmetic, never across an `.await`.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    table: Mutex<HashMap<RateKey, Instant>>,
}

impl RateLimiter {
    /// A limiter with `settings`.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn quota(&self, key: &RateKey) -> Quota {
        match key {
            RateKey::Token(_) => self.settings.per_token,
            RateKey::Ip(_) => self.settings.per_ip,
        }
    }

    /// Counts a request of `key` at `now`.
    ///
    /// # Errors
    /// [`RetryAfter`] when `key` is over its limit; the request is then not counted.
    pub fn check(&self, key: &RateKey, now: Instant) -> Result<(), RetryAfter> {
        let quota = self.quota(key);
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = table.get(key).copied().filter(|t| *t > now).unwrap_or(now);
        let new_tat = tat + quota.interval();
        let ahead = new_tat - now;
        if ahead > quota.burst() {
            return Err(RetryAfter(ahead - quota.burst()));
        }
        if !table.contains_key(key) && table.len() >= self.settings.max_keys.max(1) {
            make_room(&mut table, now, self.settings.max_keys.max(1));
        }
        table.insert(key.clone(), new_tat);
        Ok(())
    }

    /// Drops every key whose bucket is full again at `now`. [`RateLimiter::check`] does this by
    /// itself when the table is full; a periodic sweep keeps the table small between floods.
    pub fn sweep(&self, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.retain(|_, tat| *tat > now);
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Frees at least one slot in a full table.
fn make_room(table: &mut HashMap<RateKey, Instant>, now: Instant, max_keys: usize) {
    table.retain(|_, tat| *tat > now);
    if table.len() < max_keys {
        return;
    }
    // Still full of active keys: drop the eighth closest to a full bucket.
    let mut tats: Vec<Instant> = table.values().copied().collect();
    let k = (tats.len() / 8).max(1) - 1;
    let (_, cutoff, _) = tats.select_nth_unstable(k);
    let cutoff = *cutoff;
    table.retain(|_, tat| *tat > cutoff);
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn limiter(requests: u32, per_secs: u64, max_keys: usize) -> RateLimiter {
        let q = Quota::new(requests, Duration::from_secs(per_secs)).unwrap_or_else(|e| panic!("{e}"));
        RateLimiter::new(RateLimitSettings {
            per_token: q,
            per_ip: q,
            max_keys,
        })
    }

    fn ip(last: u8) -> RateKey {
        RateKey::ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_the_time_to_wait() {
        let l = limiter(5, 10, 100);
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(l.check(&ip(1), t0), Ok(()), "request {i}");
        }
        assert_eq!(l.check(&ip(1), t0), Err(RetryAfter(Duration::from_secs(2))));
        assert_eq!(l.check(&ip(1), t0 + ms(500)), Err(RetryAfter(ms(1500))));
        assert_eq!(RetryAfter(ms(1500)).seconds(), 2);
    }

    #[test]
    fn the_bucket_refills_one_request_per_interval() {
        let l = limiter(5, 10, 100);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check(&ip(1), t0).is_ok());
        }
        assert!(l.check(&ip(1), t0 + ms(1999)).is_err());
        assert!(l.check(&ip(1), t0 + ms(2000)).is_ok(), "one token back after 2 s");
        assert!(l.check(&ip(1), t0 + ms(2000)).is_err());
        // After the full period the whole burst is back, but no more.
        let later = t0 + Duration::from_secs(100);
        for i in 0..5 {
            assert!(l.check(&ip(1), later).is_ok(), "request {i}");
        }
        assert!(l.check(&ip(1), later).is_err());
    }

    #[test]
    fn a_steady_rate_at_the_limit_is_never_refused() {
        let l = limiter(60, 60, 100);
        let t0 = Instant::now();
        for i in 0..500 {
            assert!(l.check(&ip(1), t0 + Duration::from_secs(i)).is_ok(), "second {i}");
        }
    }

    #[test]
    fn refused_requests_do_not_count() {
        let l = limiter(2, 2, 100);
        let t0 = Instant::now();
        assert!(l.check(&ip(1), t0).is_ok());
        assert!(l.check(&ip(1), t0).is_ok());
        for _ in 0..100 {
            assert!(l.check(&ip(1), t0).is_err());
        }
        assert!(l.check(&ip(1), t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn keys_have_separate_buckets_and_tokens_their_own_quota() {
        let per_token = Quota::per_minute(1).unwrap_or_else(|e| panic!("{e}"));
        let per_ip = Quota::per_minute(3).unwrap_or_else(|e| panic!("{e}"));
        let l = RateLimiter::new(RateLimitSettings {
            per_token,
            per_ip,
            max_keys: 100,
        });
        let t0 = Instant::now();
        let token = RateKey::token(&TokenId::new("AbCdEfGh").unwrap_or_else(|e| panic!("{e}")));
        assert!(l.check(&token, t0).is_ok());
        assert!(l.check(&token, t0).is_err());
        for _ in 0..3 {
            assert!(l.check(&ip(1), t0).is_ok());
        }
        assert!(l.check(&ip(1), t0).is_err());
        assert!(l.check(&ip(2), t0).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_idle_keys_go_first() {
        let l = limiter(2, 60, 8);
        let t0 = Instant::now();
        // A busy key that must keep its state.
        assert!(l.check(&ip(0), t0).is_ok());
        assert!(l.check(&ip(0), t0).is_ok());
        for i in 1..=6 {
            assert!(l.check(&ip(i), t0 + ms(u64::from(i))).is_ok());
        }
        assert_eq!(l.len(), 7);
        // Those six are idle again 31 s later; the first new key past the bound drops them
        // all at once, and never the busy one.
        let t1 = t0 + Duration::from_secs(31);
        assert!(l.check(&ip(99), t1).is_ok());
        assert!(l.check(&ip(100), t1).is_ok());
        assert_eq!(l.len(), 3, "the idle keys were dropped together");
        for i in 101..=105 {
            assert!(l.check(&ip(i), t1).is_ok());
        }
        assert_eq!(l.len(), 8);
        assert!(l.check(&ip(0), t1).is_ok());
        assert!(l.check(&ip(0), t1).is_err(), "the busy key kept its state");
        // A flood of new keys never grows the table past its bound.
        for i in 107..=250 {
            assert!(l.check(&ip(i), t1).is_ok());
            assert!(l.len() <= 8, "{} keys", l.len());
        }
        l.sweep(t0 + Duration::from_secs(3600));
        assert!(l.is_empty());
    }

    #[test]
    fn ipv6_clients_are_limited_per_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(RateKey::ip(a), RateKey::ip(b));
        assert_ne!(RateKey::ip(a), RateKey::ip(c));
        assert_eq!(RateKey::ip(a).to_string(), "address 2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(RateKey::ip(mapped), ip(1));
    }

    #[test]
    fn quotas_are_validated_and_read_from_settings() {
        assert!(Quota::new(0, Duration::from_secs(1)).is_err());
        assert!(Quota::new(10, Duration::from_nanos(5)).is_err());
        let s: RateLimitSettings =
            serde_json::from_str(r#"{"per_ip":{"requests":10,"per":"1s"}}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.per_ip,
            Quota::new(10, Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(s.per_token, RateLimitSettings::default().per_token);
        let bad: Result<RateLimitSettings, _> = serde_json::from_str(r#"{"per_ip":{"requests":0,"per":"1s"}}"#);
        assert!(bad.is_err());
        let unknown: Result<RateLimitSettings, _> = serde_json::from_str(r#"{"per_user":{}}"#);
        assert!(unknown.is_err());
    }
}
