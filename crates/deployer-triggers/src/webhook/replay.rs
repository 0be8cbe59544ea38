//! A small, bounded memory of recently accepted signatures.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// How old a signed timestamp may be.
pub const MAX_AGE: Duration = Duration::minutes(5);

/// How far in the future a signed timestamp may be (clock skew).
pub const MAX_SKEW: Duration = Duration::minutes(1);

/// The default number of signatures remembered.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Signatures accepted within the replay window, so the same signed request is refused the
/// second time.
///
/// Entries are forgotten once their signed timestamp leaves the window (a replay of them is
/// then refused as too old anyway). The memory is bounded: when full, the oldest entry is
/// forgotten first. Only requests that carried a valid signature are remembered, so only a
/// holder of the secret can fill it.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    capacity: usize,
    order: VecDeque<([u8; 32], DateTime<Utc>)>,
    seen: HashSet<[u8; 32]>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache remembering at most `capacity` signatures (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// How many signatures are remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Remembers `mac` (signed at `signed_at`) and says whether it was new.
    pub(crate) fn remember(&mut self, mac: [u8; 32], signed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        while let Some((old, at)) = self.order.front() {
            if *at + MAX_AGE >= now {
                break;
            }
            self.seen.remove(old);
            self.order.pop_front();
        }
        if self.seen.contains(&mac) {
            return false;
        }
        while self.order.len() >= self.capacity {
            if let Some((old, _)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(mac);
        self.order.push_back((mac, signed_at));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn a_signature_is_accepted_once() {
        let mut cache = ReplayCache::new(8);
        assert!(cache.remember([1; 32], at(0), at(0)));
        assert!(!cache.remember([1; 32], at(0), at(10)));
        assert!(cache.remember([2; 32], at(0), at(10)));
    }

    #[test]
    fn expired_signatures_are_forgotten() {
        let mut cache = ReplayCache::new(8);
        cache.remember([1; 32], at(0), at(0));
        cache.remember([2; 32], at(0), at(400));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_never_grows_beyond_its_capacity() {
        let mut cache = ReplayCache::new(3);
        for i in 0..10u8 {
            assert!(cache.remember([i; 32], at(0), at(1)));
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.remember([9; 32], at(0), at(1)));
        assert!(
            !cache.remember([7; 32], at(0), at(1)),
            "the oldest remembered entry is still refused when full"
        );
    }
}
