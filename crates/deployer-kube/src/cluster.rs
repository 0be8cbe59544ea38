//! [`KubeCluster`](crate::KubeCluster): one Kubernetes cluster behind the
//! [`Cluster`](deployer_core::ports::Cluster) port.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deployer_core::model::{ClusterKey, PodIssue};
use deployer_core::ports::{AppliedObject, ApplyOptions, Cluster, ClusterError, ProgressFn, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};
use serde_json::Value;

use crate::apply::apply_all;
use crate::discovery::DiscoveryCache;
use crate::error::Redactor;
use crate::pods::get_object;
use crate::retry::RetryPolicy;
use crate::settings::ClusterSettings;
use crate::shared_watch::NamespaceWatches;
use crate::startup::{LazyClient, Shared, StartupError, connect_shared};
use crate::status::{WorkloadKind, workload_status};
use crate::transport::Transport;

/// The longest wait for `/version` when checking reachability.
const REACHABLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How recent an answer from the API server (to any request, `429` and `5xx` aside) must be
/// for [`Cluster::reachable`] to trust it instead of asking `/version` again.
pub const REACHABLE_TRUST: Duration = Duration::from_secs(1);

/// A cluster reached with kube-rs: server-side apply, rollout watch and pod diagnostics.
pub struct KubeCluster {
    key: ClusterKey,
    server: String,
    namespace: String,
    transport: Transport,
    discovery: DiscoveryCache,
    watches: NamespaceWatches,
    unreachable_timeout: Duration,
    /// The last `/version` check: when it ended and whether it was answered. Held while a
    /// check runs, so that concurrent callers share one request.
    last_check: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("key", &self.key.to_string())
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Builds the client of one cluster entry; `index` is its position in the `clusters`
    /// list, for error messages, and `home` expands `~`.
    ///
    /// # Errors
    /// [`StartupError::InvalidSetting`] naming the key of the setting at fault.
    pub async fn connect(settings: &ClusterSettings, index: usize, home: Option<&Path>) -> Result<Self, StartupError> {
        Self::connect_shared(settings, index, home, &mut Shared::default()).await
    }

    /// [`KubeCluster::connect`], sharing kubeconfig files and TLS configurations with the
    /// other clusters set up with the same `shared`.
    ///
    /// # Errors
    /// As [`KubeCluster::connect`].
    pub async fn connect_shared(
        settings: &ClusterSettings,
        index: usize,
        home: Option<&Path>,
        shared: &mut Shared,
    ) -> Result<Self, StartupError> {
        let connection = connect_shared(settings, index, home, shared).await?;
        Ok(Self::assemble(
            settings,
            connection.client,
            connection.server,
            connection.redactor,
        ))
    }

    /// A cluster reached through `client`, built elsewhere (another client stack), with the
    /// pair, namespace and timeouts of `settings`; their kubeconfig or `in_cluster` is not
    /// read. `server` is the API server's address, for display.
    pub fn with_client(settings: &ClusterSettings, client: kube::Client, server: impl Into<String>) -> Self {
        Self::assemble(settings, LazyClient::ready(client), server.into(), Redactor::default())
    }

    fn assemble(settings: &ClusterSettings, client: LazyClient, server: String, redactor: Redactor) -> Self {
        let retry = RetryPolicy::for_request_timeout(settings.request_timeout);
        Self {
            key: settings.key(),
            server,
            namespace: settings.namespace.clone(),
            transport: Transport::new(
                client,
                settings.request_timeout,
                retry,
                redactor,
                settings.max_requests_in_flight,
            ),
            discovery: DiscoveryCache::default(),
            watches: NamespaceWatches::new(settings.unreachable_timeout),
            unreachable_timeout: settings.unreachable_timeout,
            last_check: tokio::sync::Mutex::new(None),
        }
    }

    /// The `(region, cluster)` pair.
    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// The API server's address (`https://10.0.0.1:6443`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// How long a rollout watch tries a cluster that does not answer before it fails.
    pub fn unreachable_timeout(&self) -> Duration {
        self.unreachable_timeout
    }

    /// How many shared rollout watches (one per kind and namespace with rollouts waiting) run
    /// now.
    pub fn shared_watches(&self) -> usize {
        self.watches.running()
    }

    /// Uses another retry policy (tests use short ones).
    #[must_use]
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.transport = self.transport.with_retry(retry);
        self
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    fn default_namespace(&self) -> &str {
        &self.namespace
    }

    async fn apply(&self, documents: &[Value], options: ApplyOptions) -> Result<Vec<AppliedObject>, ClusterError> {
        apply_all(&self.transport, &self.discovery, &self.namespace, documents, options).await
    }

    async fn watch_rollout(
        &self,
        workload: &WorkloadRef,
        progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError> {
        self.watches.watch_rollout(&self.transport, workload, progress).await
    }

    async fn workload_status(&self, workload: &WorkloadRef) -> Result<Option<WorkloadStatus>, ClusterError> {
        let label = format!("{}/{}", workload.kind, workload.name);
        let Some(kind) = WorkloadKind::parse(&workload.kind) else {
            return Ok(None);
        };
        let Some(object) = get_object(&self.transport, kind, workload)
            .await
            .map_err(|e| e.into_cluster_error(&label))?
        else {
            return Ok(None);
        };
        workload_status(kind, object)
            .map(Some)
            .map_err(|err| ClusterError::Internal {
                message: format!("{label}: {err}"),
            })
    }

    async fn pod_issues(&self, workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError> {
        crate::pods::pod_issues(&self.transport, workload).await
    }

    /// True when the API server served any request in the last [`REACHABLE_TRUST`];
    /// otherwise asks `/version`. Callers arriving while a check runs wait for it and share
    /// its result, so a burst of deployments to one cluster sends one request, not one each.
    async fn reachable(&self) -> bool {
        if self.transport.answered_within(REACHABLE_TRUST) {
            return true;
        }
        let asked = Instant::now();
        let mut last = self.last_check.lock().await;
        if let Some((ended, answered)) = *last
            && ended >= asked
        {
            return answered;
        }
        if self.transport.answered_within(REACHABLE_TRUST) {
            return true;
        }
        let answered = match http::Request::get("/version").body(Vec::new()) {
            Ok(request) => {
                let timeout = self.transport.request_timeout().min(REACHABLE_TIMEOUT);
                self.transport.send_once(request, timeout).await.is_ok()
            }
            Err(_) => false,
        };
        *last = Some((Instant::now(), answered));
        answered
    }
}
