//! Deploy requests and deployment records.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ContainerName, DeploymentId, Target};
use crate::image::{Digest, ImageRef, Tag};

/// How a deployment is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Commit, push, server-side apply, watch the rollout.
    #[default]
    Apply,
    /// Commit and push only, for clusters that Argo CD or Flux sync from git.
    CommitOnly,
    /// Write nothing: a server-side dry-run apply plus the diff and commit message.
    DryRun,
    /// A rolling restart through the pod template's `restartedAt` annotation, committed.
    Restart,
}

impl Method {
    /// Every method, for messages that list the allowed values.
    pub const ALL: [Method; 4] = [Method::Apply, Method::CommitOnly, Method::DryRun, Method::Restart];

    /// The wire name (`apply`, `commit-only`, `dry-run`, `restart`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Apply => "apply",
            Method::CommitOnly => "commit-only",
            Method::DryRun => "dry-run",
            Method::Restart => "restart",
        }
    }

    /// Whether this method writes to the configuration repository.
    pub fn commits(self) -> bool {
        !matches!(self, Method::DryRun)
    }

    /// Whether this method applies to the cluster and watches the rollout.
    pub fn applies(self) -> bool {
        matches!(self, Method::Apply | Method::Restart)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown deployment method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method `{0}`: use one of `apply`, `commit-only`, `dry-run`, `restart`")]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMethod(s.chars().take(40).collect()))
    }
}

/// What the request wants the image to become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ImageChange {
    /// Set the tag of the matching images.
    Tag {
        /// The new tag.
        tag: Tag,
    },
    /// Set the digest of the matching images.
    Digest {
        /// The new digest.
        digest: Digest,
    },
    /// Set tag and digest.
    TagAndDigest {
        /// The new tag.
        tag: Tag,
        /// The new digest.
        digest: Digest,
    },
    /// No image change: used by `restart`.
    None,
}

impl ImageChange {
    /// Builds the change from an image reference's tag and digest.
    pub fn from_ref(image: &ImageRef) -> Option<ImageChange> {
        match (image.tag(), image.digest()) {
            (Some(t), Some(d)) => Some(ImageChange::TagAndDigest {
                tag: t.clone(),
                digest: d.clone(),
            }),
            (Some(t), None) => Some(ImageChange::Tag { tag: t.clone() }),
            (None, Some(d)) => Some(ImageChange::Digest { digest: d.clone() }),
            (None, None) => None,
        }
    }

    /// The tag this change sets, if any.
    pub fn tag(&self) -> Option<&Tag> {
        match self {
            ImageChange::Tag { tag } | ImageChange::TagAndDigest { tag, .. } => Some(tag),
            _ => None,
        }
    }

    /// A short human description (`v1.2.3`, `sha256:…`, `v1.2.3@sha256:…`).
    pub fn describe(&self) -> String {
        match self {
            ImageChange::Tag { tag } => tag.to_string(),
            ImageChange::Digest { digest } => digest.to_string(),
            ImageChange::TagAndDigest { tag, digest } => format!("{tag}@{digest}"),
            ImageChange::None => "(no image change)".to_owned(),
        }
    }
}

/// Which kind of trigger produced a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    /// A direct API call.
    #[default]
    Api,
    /// The command-line client.
    Cli,
    /// The web UI.
    Ui,
    /// A CI release (`POST /api/v1/releases`).
    Ci,
    /// A container registry push webhook.
    Registry,
    /// A rollback, manual or automatic.
    Rollback,
}

impl TriggerKind {
    /// The wire name (`api`, `cli`, `ui`, `ci`, `registry`, `rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Api => "api",
            TriggerKind::Cli => "cli",
            TriggerKind::Ui => "ui",
            TriggerKind::Ci => "ci",
            TriggerKind::Registry => "registry",
            TriggerKind::Rollback => "rollback",
        }
    }

    /// Whether the trigger is automatic (registry push or CI release), which pins refuse.
    pub fn is_automatic(self) -> bool {
        matches!(self, TriggerKind::Ci | TriggerKind::Registry)
    }
}

/// Where a request came from, for the commit trailers and the history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Source {
    /// The kind of trigger.
    #[serde(default)]
    pub kind: TriggerKind,
    /// The CI system (`semaphore`, `github-actions`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    /// The branch that was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The application commit that was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A link to the CI build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
}

/// A validated deploy request: what every trigger turns its input into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// Where it goes.
    pub target: Target,
    /// Restrict the change to images of this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// Restrict the change to this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerName>,
    /// The new tag or digest.
    pub change: ImageChange,
    /// How to carry it out.
    #[serde(default)]
    pub method: Method,
    /// Why, in the requester's words (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the rollout may take before the deployment fails.
    #[serde(default, with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Where the request came from.
    #[serde(default)]
    pub source: Source,
    /// Who asked (token name, webhook name, user).
    pub requested_by: String,
    /// A key that makes a retried request return the first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The environment the target belongs to, when the trigger knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Deploy even when a guard (semver downgrade) would refuse it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// The deployment this one undoes, for rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<super::DeploymentId>,
}

/// Serde for an optional duration as a humantime string (`"90s"`, `"10m"`).
pub mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as `"1m 30s"`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    /// Parses `"90s"`, `"10m"`, `"1h 30m"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The state of a deployment, as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted and waiting for its turn.
    Queued,
    /// Being carried out.
    Running,
    /// Done: committed, applied and rolled out (or what its method asks).
    Succeeded,
    /// Done: something failed; see the failure.
    Failed,
    /// Done: the file already had that image; no commit.
    Unchanged,
}

impl Status {
    /// Whether the deployment has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Unchanged)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Status::Queued,
            Status::Running,
            Status::Succeeded,
            Status::Failed,
            Status::Unchanged,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown status `{s}`: use queued, running, succeeded, failed or unchanged"))
    }
}

/// The last step a deployment completed. Restarts resume from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Accepted and persisted.
    Queued,
    /// Taken by a worker; the configuration repository is being edited.
    Committing,
    /// The commit is pushed (or there was nothing to commit); its SHA is recorded.
    Committed,
    /// The manifest is being applied to the cluster.
    Applying,
    /// The cluster acknowledged the apply.
    Applied,
    /// The rollout is being watched.
    RollingOut,
    /// The deployment ended; see its status.
    Finished,
}

impl Phase {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Committing => "committing",
            Phase::Committed => "committed",
            Phase::Applying => "applying",
            Phase::Applied => "applied",
            Phase::RollingOut => "rolling_out",
            Phase::Finished => "finished",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Replica counts of a rollout, as last observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutSummary {
    /// The workload kind (`Deployment`, `StatefulSet`, `DaemonSet`).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Desired replicas.
    pub desired: i64,
    /// Replicas on the new template.
    pub updated: i64,
    /// Ready replicas.
    pub ready: i64,
    /// Available replicas.
    pub available: i64,
    /// The last message in `kubectl rollout status` words.
    pub message: String,
}

/// A pod that was not becoming ready, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIssue {
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The waiting or terminated reason (`ImagePullBackOff`, `CrashLoopBackOff`, …).
    pub reason: String,
    /// The kubelet's message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Restarts so far.
    #[serde(default)]
    pub restarts: i64,
}

/// Why a deployment failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A stable code (`rollout_failed`, `progress_deadline_exceeded`, `timed_out`,
    /// `apply_rejected`, `cluster_unreachable`, `push_failed`, `edit_failed`, …).
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// The pods' waiting reasons, when the rollout failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodIssue>,
}

/// What a dry run would have done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunResult {
    /// The unified diff of the file.
    pub diff: String,
    /// The commit message that would be made.
    pub commit_message: String,
    /// Objects the cluster accepted in a server-side dry run (`Deployment/api`).
    pub objects: Vec<String>,
}

/// The full record of one deployment: what the history store keeps and the API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Its id.
    pub id: DeploymentId,
    /// The release it belongs to, for CI releases that fan out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// The request as accepted.
    pub request: DeployRequest,
    /// The state.
    pub status: Status,
    /// The last completed step.
    pub phase: Phase,
    /// When each phase was reached.
    #[serde(default)]
    pub phase_times: BTreeMap<String, DateTime<Utc>>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The repository path of the file (`us-west-2/prod-1/apps/api.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The images before the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub old_images: Vec<String>,
    /// The images after the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_images: Vec<String>,
    /// The pushed commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// The rollout as last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSummary>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What a dry run would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunResult>,
}

impl DeploymentRecord {
    /// A freshly accepted deployment.
    pub fn accepted(id: DeploymentId, request: DeployRequest, now: DateTime<Utc>) -> Self {
        let mut phase_times = BTreeMap::new();
        phase_times.insert(Phase::Queued.as_str().to_owned(), now);
        Self {
            id,
            release_id: None,
            request,
            status: Status::Queued,
            phase: Phase::Queued,
            phase_times,
            created_at: now,
            updated_at: now,
            finished_at: None,
            path: None,
            old_images: Vec::new(),
            new_images: Vec::new(),
            commit_sha: None,
            rollout: None,
            failure: None,
            dry_run: None,
        }
    }

    /// Moves to a phase, stamping the time.
    pub fn enter(&mut self, phase: Phase, now: DateTime<Utc>) {
        self.phase = phase;
        self.phase_times.insert(phase.as_str().to_owned(), now);
        self.updated_at = now;
        if phase > Phase::Queued && self.status == Status::Queued {
            self.status = Status::Running;
        }
    }

    /// Ends the deployment with a status.
    pub fn finish(&mut self, status: Status, now: DateTime<Utc>) {
        self.status = status;
        self.enter(Phase::Finished, now);
        self.status = status;
        self.finished_at = Some(now);
    }

    /// Ends the deployment as failed.
    pub fn fail(&mut self, failure: Failure, now: DateTime<Utc>) {
        self.failure = Some(failure);
        self.finish(Status::Failed, now);
    }
}
