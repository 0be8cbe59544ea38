//! Validated names: regions, clusters, application files, containers.
//!
//! Every name that reaches the configuration repository or a cluster passes through one of
//! these types, so path traversal and injection are impossible by construction: a value of
//! type [`AppFile`] can never contain a `/` or `..`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: {reason}")]
pub struct InvalidName {
    /// Which kind of name (`region`, `cluster`, `file`, `container`).
    pub what: &'static str,
    /// The refused text, shortened when very long and with control characters escaped.
    pub value: String,
    /// What rule it breaks.
    pub reason: &'static str,
}

impl InvalidName {
    fn new(what: &'static str, value: &str, reason: &'static str) -> Self {
        let mut shown: String = value.chars().take(80).flat_map(char::escape_default).collect();
        if value.chars().count() > 80 {
            shown.push('…');
        }
        Self {
            what,
            value: shown,
            reason,
        }
    }
}

/// Checks a DNS-label-like name: lowercase alphanumerics, `-`, `_` and `.`, starting and
/// ending with an alphanumeric, at most `max` characters.
fn check_label(what: &'static str, value: &str, max: usize) -> Result<(), InvalidName> {
    if value.is_empty() {
        return Err(InvalidName::new(what, value, "must not be empty"));
    }
    if value.len() > max {
        return Err(InvalidName::new(what, value, "is too long"));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    if !value.chars().all(ok_char) {
        return Err(InvalidName::new(
            what,
            value,
            "may contain only lowercase letters, digits, `-`, `_` and `.`",
        ));
    }
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_last_ok(value.chars().next()) || !first_last_ok(value.chars().last()) {
        return Err(InvalidName::new(
            what,
            value,
            "must start and end with a letter or digit",
        ));
    }
    if value.contains("..") {
        return Err(InvalidName::new(what, value, "must not contain `..`"));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            ///
            /// # Errors
            /// Returns [`InvalidName`] saying which rule the text breaks.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidName> {
                let value = value.into();
                let check: fn(&str) -> Result<String, InvalidName> = $check;
                check(&value).map(Self)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A region, the first directory level of the configuration repository (`us-west-2`).
    Region,
    "region",
    |v| check_label("region", v, 63).map(|()| v.to_owned())
);

name_type!(
    /// A cluster within a region, the second directory level (`prod-1`).
    ClusterName,
    "cluster",
    |v| check_label("cluster", v, 63).map(|()| v.to_owned())
);

name_type!(
    /// A container name inside a pod template (an RFC 1123 label).
    ContainerName,
    "container",
    |v| {
        check_label("container", v, 63)?;
        if v.contains('.') || v.contains('_') {
            return Err(InvalidName::new("container", v, "must be an RFC 1123 label (letters, digits and `-`)"));
        }
        Ok(v.to_owned())
    }
);

name_type!(
    /// An application file: the stem of `<region>/<cluster>/apps/<file>.yaml`.
    ///
    /// A trailing `.yaml` or `.yml` is accepted and dropped; the stem may contain letters
    /// of either case, digits, `-`, `_` and `.`, but never `/`, `\`, or `..`.
    AppFile,
    "file",
    |v| {
        let stem = v
            .strip_suffix(".yaml")
            .or_else(|| v.strip_suffix(".yml"))
            .unwrap_or(v);
        if stem.is_empty() {
            return Err(InvalidName::new("file", v, "must not be empty"));
        }
        if stem.len() > 128 {
            return Err(InvalidName::new("file", v, "is too long (128 characters at most)"));
        }
        if stem.contains('/') || stem.contains('\\') {
            return Err(InvalidName::new("file", v, "must be a file name, without `/` or `\\`"));
        }
        if stem.contains("..") {
            return Err(InvalidName::new("file", v, "must not contain `..`"));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !stem.chars().all(ok) {
            return Err(InvalidName::new("file", v, "may contain only letters, digits, `-`, `_` and `.`"));
        }
        if !stem.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidName::new("file", v, "must start with a letter or digit"));
        }
        Ok(stem.to_owned())
    }
);

/// Where a deployment goes: one application file on one cluster.
///
/// Deployments to the same target run one after another, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// The region.
    pub region: Region,
    /// The cluster within the region.
    pub cluster: ClusterName,
    /// The application file stem.
    pub file: AppFile,
}

impl Target {
    /// The repository directory of this target's cluster: `<region>/<cluster>/apps`.
    pub fn apps_dir(&self) -> String {
        format!("{}/{}/apps", self.region, self.cluster)
    }

    /// The two candidate paths of the file, `.yaml` first.
    pub fn candidate_paths(&self) -> [String; 2] {
        let dir = self.apps_dir();
        [format!("{dir}/{}.yaml", self.file), format!("{dir}/{}.yml", self.file)]
    }

    /// The cluster this target lives on.
    pub fn cluster_key(&self) -> ClusterKey {
        ClusterKey {
            region: self.region.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.region, self.cluster, self.file)
    }
}

/// Text that is not a `region/cluster[/file]` path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPath {
    /// The wrong number of `/`-separated parts.
    #[error("`{0}` is not `{1}`")]
    Shape(String, &'static str),
    /// One part is not a valid name.
    #[error(transparent)]
    Name(#[from] InvalidName),
}

impl FromStr for Target {
    type Err = InvalidPath;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [region, cluster, file] => Ok(Target {
                region: Region::new(*region)?,
                cluster: ClusterName::new(*cluster)?,
                file: AppFile::new(*file)?,
            }),
            _ => Err(InvalidPath::Shape(s.chars().take(80).collect(), "region/cluster/file")),
        }
    }
}

impl FromStr for ClusterKey {
    type Err = InvalidPath;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((region, cluster)) if !cluster.contains('/') => Ok(ClusterKey {
                region: Region::new(region)?,
                cluster: ClusterName::new(cluster)?,
            }),
            _ => Err(InvalidPath::Shape(s.chars().take(80).collect(), "region/cluster")),
        }
    }
}

/// A `(region, cluster)` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterKey {
    /// The region.
    pub region: Region,
    /// The cluster.
    pub cluster: ClusterName,
}

impl fmt::Display for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_file_drops_the_yaml_extension() {
        assert_eq!(AppFile::new("api.yaml").map(|f| f.to_string()), Ok("api".to_owned()));
        assert_eq!(AppFile::new("api.yml").map(|f| f.to_string()), Ok("api".to_owned()));
        assert_eq!(AppFile::new("Web_v2").map(|f| f.to_string()), Ok("Web_v2".to_owned()));
    }

    #[test]
    fn app_file_refuses_traversal_and_separators() {
        for bad in [
            "../etc/passwd",
            "a/b",
            "..",
            "a..b",
            "a\\b",
            "",
            ".hidden",
            "a b",
            "a\nb",
        ] {
            assert!(AppFile::new(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn region_and_cluster_are_lowercase_labels() {
        assert!(Region::new("us-west-2").is_ok());
        assert!(ClusterName::new("prod-1").is_ok());
        assert!(Region::new("US").is_err());
        assert!(ClusterName::new("-x").is_err());
        assert!(ClusterName::new("a/b").is_err());
        assert!(Region::new("x".repeat(64)).is_err());
    }

    #[test]
    fn invalid_name_message_says_what_and_why() {
        let err = AppFile::new("../x").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid file `../x`: must be a file name, without `/` or `\\`")
        );
    }

    #[test]
    fn target_paths_follow_the_repository_layout() {
        let t = Target {
            region: Region::new("us-west-2").unwrap_or_else(|e| panic!("{e}")),
            cluster: ClusterName::new("prod-1").unwrap_or_else(|e| panic!("{e}")),
            file: AppFile::new("api").unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(t.candidate_paths()[0], "us-west-2/prod-1/apps/api.yaml");
        assert_eq!(t.candidate_paths()[1], "us-west-2/prod-1/apps/api.yml");
        assert_eq!(t.to_string(), "us-west-2/prod-1/api");
    }

    #[test]
    fn targets_and_cluster_keys_parse_from_paths() {
        let t: Result<Target, _> = "us-west-2/prod-1/api".parse();
        assert_eq!(t.map(|t| t.to_string()), Ok("us-west-2/prod-1/api".to_owned()));
        assert!("us-west-2/prod-1".parse::<Target>().is_err());
        assert!("a/b/../c".parse::<Target>().is_err());
        let k: Result<ClusterKey, _> = "dc1/prod-1".parse();
        assert_eq!(k.map(|k| k.to_string()), Ok("dc1/prod-1".to_owned()));
        assert!("dc1/prod-1/x".parse::<ClusterKey>().is_err());
    }

    #[test]
    fn names_deserialize_with_validation() {
        let ok: Result<Region, _> = serde_json::from_str("\"dc1\"");
        assert!(ok.is_ok());
        let bad: Result<Region, _> = serde_json::from_str("\"DC 1\"");
        assert!(bad.is_err());
    }
}
