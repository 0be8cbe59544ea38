//! The `[[clusters]]` configuration section: which clusters exist and how to reach them.
//!
//! Each entry names a `(region, cluster)` pair and either a kubeconfig file (with an optional
//! context) or `in_cluster = true`. Certificates are always verified: there is deliberately no
//! setting to skip verification, and a kubeconfig asking for it is refused at start-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use deployer_core::model::{ClusterKey, ClusterName, Region};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::startup::StartupError;

/// How to reach one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// The region the cluster belongs to (the first directory level of the configuration
    /// repository).
    pub region: Region,
    /// The cluster's name within its region (the second directory level).
    pub cluster: ClusterName,
    /// The kubeconfig file to read; a leading `~` is the user's home directory. Exactly one of
    /// `kubeconfig` and `in_cluster` must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; the file's `current-context` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Use the pod's service account (`KUBERNETES_SERVICE_HOST` and the mounted token) instead
    /// of a kubeconfig.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_cluster: bool,
    /// The namespace of objects whose manifest names none.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// How long one request to the API server may take (`30s`, `1m`, humantime syntax).
    #[serde(default = "default_request_timeout", with = "humantime_duration")]
    pub request_timeout: Duration,
    /// How long a rollout watch keeps trying a cluster that does not answer (connections
    /// refused or reset, requests timing out) before the deployment fails with
    /// `cluster_unreachable` (`45s`, humantime syntax). Answers that are errors do not count.
    #[serde(default = "default_unreachable_timeout", with = "humantime_duration")]
    pub unreachable_timeout: Duration,
    /// How many requests (watches aside) may be on their way to the API server at once;
    /// others wait for one to end. Each needs its own HTTP/1.1 connection, so this also
    /// bounds the connections kept open to the cluster.
    #[serde(default = "default_max_requests_in_flight")]
    pub max_requests_in_flight: usize,
}

/// The namespace used when the settings name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The request timeout used when the settings name none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The unreachable budget of a rollout watch used when the settings name none.
pub const DEFAULT_UNREACHABLE_TIMEOUT: Duration = Duration::from_secs(45);

fn default_unreachable_timeout() -> Duration {
    DEFAULT_UNREACHABLE_TIMEOUT
}

/// The requests on their way to one API server at once when the settings name no limit.
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 4;

fn default_max_requests_in_flight() -> usize {
    DEFAULT_MAX_REQUESTS_IN_FLIGHT
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

fn default_request_timeout() -> Duration {
    DEFAULT_REQUEST_TIMEOUT
}

/// Where a cluster's credentials come from, once the settings are validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A kubeconfig file (already `~`-expanded) and an optional context.
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The context; the file's current context when `None`.
        context: Option<String>,
    },
    /// The pod's service account.
    InCluster,
}

impl ClusterSettings {
    /// Settings for a cluster reached through a kubeconfig file, with the defaults for
    /// everything else.
    pub fn with_kubeconfig(region: Region, cluster: ClusterName, kubeconfig: impl Into<PathBuf>) -> Self {
        Self {
            region,
            cluster,
            kubeconfig: Some(kubeconfig.into()),
            context: None,
            in_cluster: false,
            namespace: default_namespace(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            unreachable_timeout: DEFAULT_UNREACHABLE_TIMEOUT,
            max_requests_in_flight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        }
    }

    /// The `(region, cluster)` pair.
    pub fn key(&self) -> ClusterKey {
        ClusterKey {
            region: self.region.clone(),
            cluster: self.cluster.clone(),
        }
    }

    /// Checks the entry at position `index` of the `clusters` list and says where its
    /// credentials come from. `home` is the user's home directory, for `~` expansion.
    ///
    /// # Errors
    /// [`StartupError::InvalidSetting`] naming the key (`clusters[2].kubeconfig`) when both or
    /// neither of `kubeconfig` and `in_cluster` are given, when `context` comes without a
    /// kubeconfig, when the namespace is not a valid name, when a timeout or
    /// `max_requests_in_flight` is zero, or when `~` cannot be expanded.
    pub fn source(&self, index: usize, home: Option<&Path>) -> Result<Source, StartupError> {
        let invalid = |field: &str, message: String| StartupError::InvalidSetting {
            key: format!("clusters[{index}].{field}"),
            message,
        };
        if !is_dns_label(&self.namespace) {
            return Err(invalid(
                "namespace",
                format!(
                    "`{}` is not a valid namespace: use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                    self.namespace.escape_default()
                ),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be greater than zero".to_owned()));
        }
        if self.unreachable_timeout.is_zero() {
            return Err(invalid("unreachable_timeout", "must be greater than zero".to_owned()));
        }
        if self.max_requests_in_flight == 0 {
            return Err(invalid("max_requests_in_flight", "must be at least 1".to_owned()));
        }
        match (&self.kubeconfig, self.in_cluster) {
            (Some(_), true) => Err(invalid(
                "in_cluster",
                "give either `kubeconfig` or `in_cluster = true`, not both".to_owned(),
            )),
            (None, false) => Err(invalid(
                "kubeconfig",
                "missing: give the path of a kubeconfig file, or `in_cluster = true`".to_owned(),
            )),
            (None, true) => {
                if self.context.is_some() {
                    return Err(invalid("context", "a context needs a `kubeconfig`".to_owned()));
                }
                Ok(Source::InCluster)
            }
            (Some(path), false) => {
                let path = expand_home(path, home).ok_or_else(|| {
                    invalid(
                        "kubeconfig",
                        format!("cannot expand `~` in `{}`: HOME is not set", path.display()),
                    )
                })?;
                Ok(Source::Kubeconfig {
                    path,
                    context: self.context.clone(),
                })
            }
        }
    }
}

/// Replaces a leading `~` (alone or followed by `/`) with `home`. Other paths are returned
/// unchanged; `None` when the path needs a home directory and there is none.
pub fn expand_home(path: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let mut components = path.components();
    match components.next() {
        Some(std::path::Component::Normal(first)) if first == "~" => {
            let rest = components.as_path();
            home.map(|home| {
                if rest.as_os_str().is_empty() {
                    home.to_path_buf()
                } else {
                    home.join(rest)
                }
            })
        }
        _ => Some(path.to_path_buf()),
    }
}

/// Whether `value` is an RFC 1123 label, as namespaces must be.
fn is_dns_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
}

/// Serde for a [`Duration`] written in humantime syntax (`30s`, `1m 30s`).
mod humantime_duration {
    use super::{Deserialize, Deserializer, Duration, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|err| serde::de::Error::custom(format!("invalid duration `{text}`: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: serde_json::Value) -> Result<ClusterSettings, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn defaults_are_the_default_namespace_and_thirty_seconds() -> Result<(), serde_json::Error> {
        let s = settings(serde_json::json!({"region": "eu-west-1", "cluster": "a", "kubeconfig": "/k"}))?;
        assert_eq!(s.namespace, "default");
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.unreachable_timeout, Duration::from_secs(45));
        assert_eq!(s.max_requests_in_flight, DEFAULT_MAX_REQUESTS_IN_FLIGHT);
        assert_eq!(
            s.source(0, None),
            Ok(Source::Kubeconfig {
                path: PathBuf::from("/k"),
                context: None
            })
        );
        Ok(())
    }

    #[test]
    fn unknown_keys_such_as_skipping_tls_verification_are_refused() {
        let err = settings(serde_json::json!({
            "region": "eu-west-1", "cluster": "a", "kubeconfig": "/k", "insecure_skip_tls_verify": true
        }));
        assert!(err.is_err_and(|e| e.to_string().contains("insecure_skip_tls_verify")));
    }

    #[test]
    fn request_timeout_reads_humantime() -> Result<(), serde_json::Error> {
        let s = settings(serde_json::json!({
            "region": "r", "cluster": "c", "in_cluster": true, "request_timeout": "1m 5s"
        }))?;
        assert_eq!(s.request_timeout, Duration::from_secs(65));
        assert_eq!(s.source(3, None), Ok(Source::InCluster));
        assert!(settings(serde_json::json!({"region": "r", "cluster": "c", "request_timeout": "soon"})).is_err());
        Ok(())
    }

    #[test]
    fn the_unreachable_budget_reads_humantime_and_must_not_be_zero() -> Result<(), serde_json::Error> {
        let s = settings(serde_json::json!({
            "region": "r", "cluster": "c", "kubeconfig": "/k", "unreachable_timeout": "2s 500ms"
        }))?;
        assert_eq!(s.unreachable_timeout, Duration::from_millis(2500));
        let zero = settings(serde_json::json!({
            "region": "r", "cluster": "c", "kubeconfig": "/k", "unreachable_timeout": "0s"
        }))?;
        let err = zero.source(4, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clusters[4].unreachable_timeout"), "{err}");
        Ok(())
    }

    #[test]
    fn the_request_limit_must_be_at_least_one() -> Result<(), serde_json::Error> {
        let s = settings(serde_json::json!({
            "region": "r", "cluster": "c", "kubeconfig": "/k", "max_requests_in_flight": 16
        }))?;
        assert_eq!(s.max_requests_in_flight, 16);
        assert!(s.source(0, None).is_ok());
        let zero = settings(serde_json::json!({
            "region": "r", "cluster": "c", "kubeconfig": "/k", "max_requests_in_flight": 0
        }))?;
        let err = zero.source(5, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clusters[5].max_requests_in_flight"), "{err}");
        assert!(err.contains("at least 1"), "{err}");
        Ok(())
    }

    #[test]
    fn kubeconfig_and_in_cluster_are_exclusive_and_errors_name_the_key() -> Result<(), serde_json::Error> {
        let both =
            settings(serde_json::json!({"region": "r", "cluster": "c", "kubeconfig": "/k", "in_cluster": true}))?;
        let err = both.source(2, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clusters[2].in_cluster"), "{err}");

        let neither = settings(serde_json::json!({"region": "r", "cluster": "c"}))?;
        let err = neither.source(1, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clusters[1].kubeconfig"), "{err}");
        Ok(())
    }

    #[test]
    fn a_bad_namespace_is_refused() -> Result<(), serde_json::Error> {
        let s =
            settings(serde_json::json!({"region": "r", "cluster": "c", "kubeconfig": "/k", "namespace": "Team_A"}))?;
        let err = s.source(0, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("clusters[0].namespace"), "{err}");
        Ok(())
    }

    #[test]
    fn tilde_expands_to_the_home_directory() {
        let home = Path::new("/home/deployer");
        assert_eq!(
            expand_home(Path::new("~/.kube/config"), Some(home)),
            Some(PathBuf::from("/home/deployer/.kube/config"))
        );
        assert_eq!(
            expand_home(Path::new("~"), Some(home)),
            Some(PathBuf::from("/home/deployer"))
        );
        assert_eq!(
            expand_home(Path::new("/etc/kube/config"), None),
            Some(PathBuf::from("/etc/kube/config"))
        );
        assert_eq!(
            expand_home(Path::new("~other/config"), Some(home)),
            Some(PathBuf::from("~other/config"))
        );
        assert_eq!(expand_home(Path::new("~/config"), None), None);
    }
}
