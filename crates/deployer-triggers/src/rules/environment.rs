//! Environments: named groups of clusters with their own trigger policy.

use std::fmt;
use std::str::FromStr;

use deployer_core::model::ClusterKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::OnFailure;

/// The name of the environment registry pushes are refused by default.
pub const PRODUCTION: &str = "production";

/// The environments that always exist.
pub const DEFAULT_ENVIRONMENTS: [&str; 3] = ["development", "staging", PRODUCTION];

/// An environment name: lowercase letters, digits and `-`, starting with a letter, at most
/// 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvironmentName(String);

/// Why an environment name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment name `{0}`: use lowercase letters, digits and `-`, starting with a letter")]
pub struct InvalidEnvironmentName(String);

impl InvalidEnvironmentName {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        "invalid_environment_name"
    }
}

impl EnvironmentName {
    /// Validates a name.
    ///
    /// # Errors
    /// [`InvalidEnvironmentName`] when the text breaks the rule above.
    pub fn new(name: &str) -> Result<EnvironmentName, InvalidEnvironmentName> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(EnvironmentName(name.to_owned()))
        } else {
            Err(InvalidEnvironmentName(
                name.chars().take(80).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `production`.
    pub fn is_production(&self) -> bool {
        self.0 == PRODUCTION
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EnvironmentName {
    type Err = InvalidEnvironmentName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
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

/// A validated environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// Its name.
    pub name: EnvironmentName,
    /// Its clusters.
    pub targets: Vec<ClusterKey>,
    /// Whether registry pushes may deploy here without a rule's `allow_production_push`.
    pub accept_registry_push: bool,
    /// The environment a tag must have succeeded in first.
    pub promotion_from: Option<EnvironmentName>,
    /// What to do when a deployment here fails.
    pub on_failure: OnFailure,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_lowercase_labels() {
        for good in ["production", "qa-2", "e"] {
            assert!(EnvironmentName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "Prod", "2nd", "qa-", "a b", "a_b"] {
            assert!(EnvironmentName::new(bad).is_err(), "{bad}");
        }
    }
}
