//! Deployment ids: ULIDs, sortable by creation time.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A deployment's id: a ULID, so ids sort by the time they were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentId(ulid::Ulid);

/// Text that is not a deployment id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid deployment id `{0}`: an id is 26 characters of Crockford base32, as returned when the deployment was created"
)]
pub struct InvalidId(pub String);

impl DeploymentId {
    /// A new id for something accepted at `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let ms = u64::try_from(now.timestamp_millis()).unwrap_or_default();
        let random = ulid::Ulid::new().random();
        DeploymentId(ulid::Ulid::from_parts(ms, random))
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for DeploymentId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s)
            .map(DeploymentId)
            .map_err(|_| InvalidId(s.chars().take(40).flat_map(char::escape_default).collect()))
    }
}

impl Serialize for DeploymentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeploymentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = DeploymentId::generate(Utc::now());
        let text = id.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(text.parse::<DeploymentId>(), Ok(id));
    }

    #[test]
    fn ids_sort_by_acceptance_time() {
        let a = DeploymentId::generate(DateTime::from_timestamp(1_000, 0).unwrap_or_default());
        let b = DeploymentId::generate(DateTime::from_timestamp(2_000, 0).unwrap_or_default());
        assert!(a < b);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("../../etc".parse::<DeploymentId>().is_err());
    }
}
