//! The Kubernetes side of k8s-app-deployer: the [`Cluster`](deployer_core::ports::Cluster) and
//! [`ClusterDirectory`](deployer_core::ports::ClusterDirectory) ports, implemented with kube-rs.
//!
//! Start with [`KubeClusters::connect`], which turns the `clusters` settings into one
//! [`KubeCluster`] each. A cluster applies manifests with server-side apply (field manager
//! `k8s-app-deployer`), resolving kinds through a cached discovery; follows a rollout through
//! one watch shared by the rollouts of its namespace (or a watch on the one workload where
//! that is refused), judged by `kubectl rollout status`'s rule; and explains a stuck
//! rollout with its pods' waiting reasons. Transient failures are retried with a bounded
//! backoff, and credentials never appear in errors or logs.
//!
//! Rolling back is applying the previous manifest again: with the same field manager, the
//! server drops the fields the newer manifest had added.

/// Server-side apply of manifest documents.
pub mod apply;
/// [`KubeCluster`], one cluster behind the `Cluster` port.
pub mod cluster;
/// [`KubeClusters`], the configured clusters behind the `ClusterDirectory` port.
pub mod directory;
/// Resolving kinds to resources, cached per cluster.
pub mod discovery;
/// Request failures and their mapping to `ClusterError`; redaction of credentials.
pub mod error;
/// Pod diagnostics: waiting and terminated containers of a workload's newest pods.
pub mod pods;
/// The retry policy: bounded exponential backoff with jitter, honouring `Retry-After`.
pub mod retry;
/// The `clusters` settings section.
pub mod settings;
/// Following the rollouts of a namespace over one shared watch.
pub mod shared_watch;
/// Building clients from settings at start-up.
pub mod startup;
/// Reading workload objects into rollout statuses.
pub mod status;
/// TLS configurations shared between clusters; the system's roots read once, when needed.
pub mod tls;
/// Sending requests: timeouts and retries around the kube client.
pub mod transport;
/// Watching a rollout until it ends.
pub mod watch;

pub use apply::FIELD_MANAGER;
pub use cluster::KubeCluster;
pub use directory::KubeClusters;
pub use retry::RetryPolicy;
pub use settings::ClusterSettings;
pub use startup::StartupError;
