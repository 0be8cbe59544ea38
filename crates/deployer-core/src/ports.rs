//! The ports: what the executor needs from the outside world.
//!
//! Each trait is implemented by one adapter crate: [`ConfigRepo`] by `deployer-git`,
//! [`Cluster`] and [`ClusterDirectory`] by `deployer-kube`, [`Store`] by `deployer-store`, and
//! [`Manifests`] by `deployer-manifest`. The executor is generic over them, so its decisions are
//! tested with the real adapters and the adapters are tested on their own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::image::ImageRef;
use crate::model::{
    ClusterKey, ContainerName, DeploymentEvent, DeploymentId, DeploymentRecord, ImageChange, PodIssue, Status, Target,
};
use crate::rollout::{RolloutVerdict, WorkloadStatus};

// ---------------------------------------------------------------------------------------------
// Configuration repository
// ---------------------------------------------------------------------------------------------

/// A file read from the tip of the configuration branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// The repository-relative path.
    pub path: String,
    /// The file's bytes.
    pub content: Vec<u8>,
    /// The commit it was read at.
    pub commit: String,
}

/// An edit of one file, re-applied on a new tip whenever a push has to be retried.
pub trait FileEdit: Send + Sync {
    /// Returns the new content for `content`. Returning the same bytes means "nothing to do".
    ///
    /// # Errors
    /// [`EditRejected`] when the file cannot be edited as asked; the deployment fails with it.
    fn edit(&self, content: &[u8]) -> Result<Vec<u8>, EditRejected>;
}

/// The edit could not be made; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EditRejected {
    /// A stable code (`ambiguous_image`, `no_matching_image`, `invalid_yaml`, …).
    pub code: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// A commit to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSpec {
    /// The file to edit.
    pub path: String,
    /// The subject line.
    pub subject: String,
    /// The body (may be empty).
    pub body: String,
    /// Trailers (`Deployment-Id`, `Requested-By`, …), in order. Keys and values are single lines.
    pub trailers: Vec<(String, String)>,
}

/// What a commit attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new commit is on the remote branch.
    Pushed {
        /// Its SHA.
        sha: String,
        /// The file before the edit (at the tip the edit was finally applied to).
        before: Vec<u8>,
        /// The file after.
        after: Vec<u8>,
        /// How many push attempts it took.
        attempts: u32,
    },
    /// The edit changed nothing; no commit was made.
    Unchanged {
        /// The tip the file was read at.
        tip: String,
        /// The file's bytes.
        content: Vec<u8>,
    },
}

/// A configuration repository failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The file does not exist at the tip.
    #[error("file `{path}` does not exist on branch `{branch}` of the configuration repository")]
    FileNotFound {
        /// The path.
        path: String,
        /// The branch.
        branch: String,
    },
    /// The path escapes the repository (a symlink, or a path that isn't a regular file).
    #[error("path `{path}` is not a regular file inside the configuration repository")]
    PathEscapes {
        /// The path.
        path: String,
    },
    /// The edit was refused.
    #[error(transparent)]
    Edit(#[from] EditRejected),
    /// The remote could not be reached or refused us; retrying may help.
    #[error("configuration repository unavailable: {message}")]
    Unavailable {
        /// The transport's message (credentials removed).
        message: String,
    },
    /// The push kept being rejected because others kept writing.
    #[error("push rejected {attempts} times because the remote branch kept moving")]
    PushContention {
        /// Attempts made.
        attempts: u32,
    },
    /// Anything else (corrupt repository, local I/O).
    #[error("configuration repository error: {message}")]
    Internal {
        /// Details.
        message: String,
    },
}

impl RepoError {
    /// A stable label for metrics and failure codes.
    pub fn kind(&self) -> &'static str {
        match self {
            RepoError::FileNotFound { .. } => "file_not_found",
            RepoError::PathEscapes { .. } => "path_escapes",
            RepoError::Edit(_) => "edit_failed",
            RepoError::Unavailable { .. } => "repo_unavailable",
            RepoError::PushContention { .. } => "push_contention",
            RepoError::Internal { .. } => "repo_error",
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, RepoError::Unavailable { .. } | RepoError::PushContention { .. })
    }
}

/// The configuration repository: git is the record of truth.
#[async_trait]
pub trait ConfigRepo: Send + Sync {
    /// Reads a file at the tip of the configured branch (after bringing the local view up to
    /// date when `refresh` is set). `Ok(None)` when it does not exist.
    async fn read_file(&self, path: &str, refresh: bool) -> Result<Option<RepoFile>, RepoError>;

    /// Lists the files under `<region>/<cluster>/apps/` for every region and cluster, as
    /// repository-relative paths.
    async fn list_app_files(&self) -> Result<Vec<String>, RepoError>;

    /// Applies `edit` to the file at the tip, commits it with `spec` and pushes, re-applying
    /// the edit on the new tip when the remote moved. Never force-pushes.
    async fn commit_edit(&self, spec: &CommitSpec, edit: Arc<dyn FileEdit>) -> Result<CommitOutcome, RepoError>;

    /// Finds a commit on the branch carrying the trailer `key: value` (recent history first).
    async fn find_commit_with_trailer(&self, key: &str, value: &str) -> Result<Option<String>, RepoError>;

    /// Checks that the remote answers (`path` names a file the caller cares about). An
    /// adapter that can ask the remote without updating its local view should: such a check
    /// never waits for, nor holds up, the commits being pushed. By default it reads `path`
    /// after a fetch.
    ///
    /// # Errors
    /// A retryable [`RepoError`] when the remote cannot be reached.
    async fn probe(&self, path: &str) -> Result<(), RepoError> {
        self.read_file(path, true).await.map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

/// The image edit asked of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEdit {
    /// Restrict to images of this repository.
    pub image: Option<ImageRef>,
    /// Restrict to this container.
    pub container: Option<ContainerName>,
    /// The new tag and/or digest.
    pub change: ImageChange,
}

/// The result of editing a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedManifest {
    /// The new bytes.
    pub content: Vec<u8>,
    /// Every matched image before the edit.
    pub old_images: Vec<String>,
    /// Every matched image after the edit.
    pub new_images: Vec<String>,
}

/// A workload object named by a manifest, whose rollout can be watched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// The namespace (the cluster's default when the manifest names none).
    pub namespace: String,
    /// The name.
    pub name: String,
}

/// Reading and editing manifests without changing anything but the image text.
pub trait Manifests: Send + Sync {
    /// Edits the image references.
    ///
    /// # Errors
    /// [`EditRejected`] with a clear message when the selection matches nothing or is ambiguous,
    /// or the YAML is unusable.
    fn set_image(&self, content: &[u8], edit: &ImageEdit) -> Result<EditedManifest, EditRejected>;

    /// Sets the pod templates' `kubectl.kubernetes.io/restartedAt` annotation.
    ///
    /// # Errors
    /// [`EditRejected`] when the file has no workload or cannot be edited.
    fn set_restarted_at(&self, content: &[u8], at: &str) -> Result<EditedManifest, EditRejected>;

    /// The documents of the file as JSON objects, for server-side apply.
    ///
    /// # Errors
    /// [`EditRejected`] when the YAML is invalid or over the limits.
    fn documents(&self, content: &[u8]) -> Result<Vec<serde_json::Value>, EditRejected>;

    /// The images of every workload container in the file.
    ///
    /// # Errors
    /// [`EditRejected`] when the YAML is invalid.
    fn images(&self, content: &[u8]) -> Result<Vec<String>, EditRejected>;
}

// ---------------------------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------------------------

/// An object the cluster accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedObject {
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The generation after the apply (0 when the kind has none).
    pub generation: i64,
}

/// A cluster failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The API server refused the object (validation 422, conflict 409, forbidden 403, …).
    #[error("the cluster rejected {object}: {message}")]
    Rejected {
        /// `Deployment/web`.
        object: String,
        /// The HTTP status.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// A kind in the manifest is not served by the cluster.
    #[error("the cluster does not serve {api_version} {kind}")]
    UnknownKind {
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// The cluster could not be reached, or kept failing with retryable errors.
    #[error("cluster unreachable: {message}")]
    Unreachable {
        /// What the transport said (credentials removed).
        message: String,
    },
    /// The watched object disappeared.
    #[error("{object} was deleted while its rollout was being watched")]
    Deleted {
        /// `Deployment/web`.
        object: String,
    },
    /// Anything else.
    #[error("cluster error: {message}")]
    Internal {
        /// Details.
        message: String,
    },
}

impl ClusterError {
    /// A stable label for metrics and failure codes.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Rejected { .. } => "apply_rejected",
            ClusterError::UnknownKind { .. } => "unknown_kind",
            ClusterError::Unreachable { .. } => "cluster_unreachable",
            ClusterError::Deleted { .. } => "workload_deleted",
            ClusterError::Internal { .. } => "cluster_error",
        }
    }
}

/// Options of an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOptions {
    /// Server-side dry run: validate and compute, persist nothing.
    pub dry_run: bool,
    /// Take ownership of fields other managers own.
    pub force: bool,
}

/// Called with each rollout observation while a rollout is watched.
pub type ProgressFn = dyn Fn(&WorkloadStatus, &RolloutVerdict) + Send + Sync;

/// One Kubernetes cluster.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The namespace used for objects whose manifest names none.
    fn default_namespace(&self) -> &str;

    /// Server-side applies every document (field manager `k8s-app-deployer`).
    async fn apply(
        &self,
        documents: &[serde_json::Value],
        options: ApplyOptions,
    ) -> Result<Vec<AppliedObject>, ClusterError>;

    /// Watches a workload until its rollout succeeds or fails, calling `progress` on each
    /// observation. It has no deadline of its own: the caller wraps it in a timeout.
    async fn watch_rollout(
        &self,
        workload: &WorkloadRef,
        progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError>;

    /// The current status of a workload (`Ok(None)` if it does not exist).
    async fn workload_status(&self, workload: &WorkloadRef) -> Result<Option<WorkloadStatus>, ClusterError>;

    /// The pods of a workload that are not ready, with their waiting reasons.
    async fn pod_issues(&self, workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError>;

    /// Whether the API server answers.
    async fn reachable(&self) -> bool;
}

/// The configured clusters.
pub trait ClusterDirectory: Send + Sync {
    /// The cluster for `(region, cluster)`, if configured.
    fn cluster(&self, key: &ClusterKey) -> Option<Arc<dyn Cluster>>;

    /// Every configured cluster.
    fn keys(&self) -> Vec<ClusterKey>;
}

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached.
    #[error("history store unavailable: {message}")]
    Unavailable {
        /// Details.
        message: String,
    },
    /// A write conflicted with another (for example a duplicate idempotency key).
    #[error("history store conflict: {message}")]
    Conflict {
        /// Details.
        message: String,
    },
    /// Anything else (corrupt row, migration failure).
    #[error("history store error: {message}")]
    Internal {
        /// Details.
        message: String,
    },
}

/// Filters for listing deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFilter {
    /// Only this region.
    pub region: Option<String>,
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only this file.
    pub file: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this release.
    pub release_id: Option<String>,
}

/// A page of a listing: newest first, starting after `before` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Return at most this many.
    pub limit: usize,
    /// Continue after this id (exclusive), as returned by the previous page.
    pub before: Option<DeploymentId>,
}

/// What [`Store::insert_deployment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The record was stored.
    New,
    /// A deployment with the same idempotency key exists; it is returned instead.
    Existing(Box<DeploymentRecord>),
}

/// The history store. Every state change is written together with its events, in one
/// transaction, before it is acted on.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a newly accepted deployment and its events. With an idempotency key already
    /// used, stores nothing and returns the existing deployment.
    async fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        events: &[DeploymentEvent],
    ) -> Result<Inserted, StoreError>;

    /// Replaces a deployment's record and appends its events, atomically. What is fixed at
    /// acceptance (the request, the release and the creation time) must not change: stores
    /// may keep the columns derived from it as the insert wrote them.
    async fn update_deployment(&self, record: &DeploymentRecord, events: &[DeploymentEvent]) -> Result<(), StoreError>;

    /// One deployment.
    async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError>;

    /// Deployments matching `filter`, newest first.
    async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>, StoreError>;

    /// Every deployment not yet finished, oldest first: what a restart resumes.
    async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError>;

    /// The latest finished deployment of a target with the given status, if any.
    async fn last_deployment(
        &self,
        target: &Target,
        status: Option<Status>,
    ) -> Result<Option<DeploymentRecord>, StoreError>;

    /// A deployment's events with `seq > after`, in order.
    async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// The source of "now", so that decisions can be tested at fixed times.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How long to wait for a rollout when the request names no timeout: the workload's
/// progress deadline plus a margin.
pub fn default_rollout_timeout(progress_deadline_seconds: Option<i64>) -> Duration {
    let deadline = progress_deadline_seconds.filter(|s| *s > 0).unwrap_or(600);
    Duration::from_secs(u64::try_from(deadline).unwrap_or(600) + 60)
}
