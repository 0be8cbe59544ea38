//! Which environment (`production`, `staging`) a target belongs to, from the operator's map.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use deployer_core::model::Target;

/// An environment name: 1 to 63 letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvironmentName(String);

/// Text that is not an environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment name `{0}`: use 1 to 63 letters, digits, `-`, `_` and `.`")]
pub struct InvalidEnvironment(pub String);

impl EnvironmentName {
    /// Validates an environment name.
    ///
    /// # Errors
    /// [`InvalidEnvironment`] when it is empty, too long or has other characters.
    pub fn new(name: &str) -> Result<Self, InvalidEnvironment> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidEnvironment(
                name.chars().take(63).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EnvironmentName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnvironmentName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The `[sinks.environments]` map: keys are `<region>/<cluster>` or `<region>`, values
/// environment names. The most specific key wins; a target matching no key has no
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Environments(BTreeMap<String, EnvironmentName>);

impl Environments {
    /// A map from `(key, environment)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, EnvironmentName)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// The environment of a target.
    pub fn of(&self, target: &Target) -> Option<&EnvironmentName> {
        self.0
            .get(&format!("{}/{}", target.region, target.cluster))
            .or_else(|| self.0.get(target.region.as_str()))
    }

    /// Keys that name no region or `<region>/<cluster>`, for settings validation.
    pub fn malformed_keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter(|k| {
                let parts: Vec<&str> = k.split('/').collect();
                !(1..=2).contains(&parts.len()) || parts.iter().any(|p| p.is_empty())
            })
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deployer_core::model::{AppFile, ClusterName, Region};

    fn target(region: &str, cluster: &str) -> Option<Target> {
        Some(Target {
            region: Region::new(region).ok()?,
            cluster: ClusterName::new(cluster).ok()?,
            file: AppFile::new("api").ok()?,
        })
    }

    #[test]
    fn the_cluster_entry_wins_over_the_region_entry() {
        let (Ok(prod), Ok(stg)) = (EnvironmentName::new("production"), EnvironmentName::new("staging")) else {
            panic!("valid names");
        };
        let envs = Environments::from_pairs([("us-west-2", prod.clone()), ("us-west-2/canary-1", stg.clone())]);
        let Some(t) = target("us-west-2", "prod-1") else {
            panic!("valid target")
        };
        assert_eq!(envs.of(&t), Some(&prod));
        let Some(t) = target("us-west-2", "canary-1") else {
            panic!("valid target")
        };
        assert_eq!(envs.of(&t), Some(&stg));
        let Some(t) = target("eu-west-1", "prod-1") else {
            panic!("valid target")
        };
        assert_eq!(envs.of(&t), None);
    }
}
