//! ULID ids of triggers and releases: sortable by creation time, like deployment ids.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text that is not a ULID id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} id `{text}`: an id is 26 characters of Crockford base32")]
pub struct InvalidUlidId {
    /// `trigger` or `release`.
    pub what: &'static str,
    /// The refused text, shortened and escaped.
    pub text: String,
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// A new id for something that happened at `now`.
            pub fn generate(now: DateTime<Utc>) -> Self {
                let ms = u64::try_from(now.timestamp_millis()).unwrap_or_default();
                Self(ulid::Ulid::from_parts(ms, ulid::Ulid::new().random()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidUlidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ulid::Ulid::from_string(s).map(Self).map_err(|_| InvalidUlidId {
                    what: $what,
                    text: s.chars().take(40).flat_map(char::escape_default).collect(),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(
    /// A received trigger's id.
    TriggerId,
    "trigger"
);

ulid_id!(
    /// A CI release's id; deployments of the release carry it as their `release_id`.
    ReleaseId,
    "release"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = TriggerId::generate(DateTime::from_timestamp(1_000, 0).unwrap_or_default());
        let b = TriggerId::generate(DateTime::from_timestamp(2_000, 0).unwrap_or_default());
        assert!(a < b);
        assert_eq!(a.to_string().parse::<TriggerId>(), Ok(a));
        let err = "../x"
            .parse::<ReleaseId>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("invalid release id"), "{err}");
    }
}
