//! The executor: carries a deployment from its recorded phase to its end.
//!
//! Each step is written to the store (with its events) before the next one starts, and each
//! step can be repeated safely, so [`Executor::run`] both runs new deployments and resumes
//! interrupted ones:
//!
//! | phase reached | what a (re)run does next |
//! |---|---|
//! | `queued`, `committing` | looks for a commit carrying this deployment's `Deployment-Id` trailer (a push that landed but was not recorded); otherwise edits, commits and pushes |
//! | `committed`, `applying` | server-side applies the file at the branch tip (idempotent) |
//! | `applied`, `rolling_out` | watches the rollout until it succeeds, fails, or the deadline passes |
//!
//! The executor holds no lock of its own: the queue guarantees that deployments of one target
//! run one at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::commit::{commit_spec, render_message};
use crate::error::DeployError;
use crate::model::{
    ClusterKey, DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, DryRunResult, EventKind, Failure,
    ImageChange, Method, Phase, Status,
};
use crate::ports::{
    ApplyOptions, Clock, ClusterDirectory, ClusterError, CommitOutcome, ConfigRepo, EditRejected, EditedManifest,
    FileEdit, ImageEdit, Manifests, RepoError, RepoFile, Store, WorkloadRef, default_rollout_timeout,
};
use crate::rollout::{RolloutVerdict, WorkloadStatus};

/// Told about every state change, after it is stored (for live views and waiting callers).
pub trait Notifier: Send + Sync {
    /// A deployment changed; `events` are the events written with the change.
    fn changed(&self, record: &DeploymentRecord, events: &[DeploymentEvent]);
}

/// A notifier that tells nobody.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn changed(&self, _: &DeploymentRecord, _: &[DeploymentEvent]) {}
}

/// What the executor works with.
#[derive(Clone)]
pub struct Ports {
    /// The configuration repository.
    pub repo: Arc<dyn ConfigRepo>,
    /// The clusters.
    pub clusters: Arc<dyn ClusterDirectory>,
    /// The history store.
    pub store: Arc<dyn Store>,
    /// The manifest editor.
    pub manifests: Arc<dyn Manifests>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Who hears about changes.
    pub notifier: Arc<dyn Notifier>,
}

/// Tunables of the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecSettings {
    /// How long a rollout may take when neither the request nor the workload's progress
    /// deadline says otherwise.
    #[serde(with = "humantime_serde_compat")]
    pub default_rollout_timeout: Duration,
    /// The longest timeout a request may ask for.
    #[serde(with = "humantime_serde_compat")]
    pub max_rollout_timeout: Duration,
    /// How many times a retryable repository or cluster error is retried before the
    /// deployment fails with it.
    pub retries: u32,
    /// The first retry delay; it doubles each time, with jitter.
    #[serde(with = "humantime_serde_compat")]
    pub retry_base_delay: Duration,
    /// The least time between two stored progress events of one rollout.
    #[serde(with = "humantime_serde_compat")]
    pub progress_interval: Duration,
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            default_rollout_timeout: Duration::from_secs(660),
            max_rollout_timeout: Duration::from_secs(6 * 3600),
            retries: 6,
            retry_base_delay: Duration::from_millis(250),
            progress_interval: Duration::from_millis(250),
        }
    }
}

/// Serde of durations as humantime strings (`"90s"`).
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// What validation learned about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The repository path of the file.
    pub path: String,
    /// The images the edit would replace.
    pub old_images: Vec<String>,
    /// The images after the edit.
    pub new_images: Vec<String>,
    /// Whether the file already has the requested images.
    pub already_current: bool,
}

/// Carries deployments through their phases.
pub struct Executor {
    ports: Ports,
    settings: ExecSettings,
}

/// The edit of a deployment, re-applied on a new tip when a push must be retried.
struct DeploymentEdit {
    manifests: Arc<dyn Manifests>,
    request: DeployRequest,
    restarted_at: String,
}

impl FileEdit for DeploymentEdit {
    fn edit(&self, content: &[u8]) -> Result<Vec<u8>, EditRejected> {
        edit_content(self.manifests.as_ref(), &self.request, content, &self.restarted_at).map(|e| e.content)
    }
}

fn image_edit(request: &DeployRequest) -> ImageEdit {
    ImageEdit {
        image: request.image.clone(),
        container: request.container.clone(),
        change: request.change.clone(),
    }
}

fn edit_content(
    manifests: &dyn Manifests,
    request: &DeployRequest,
    content: &[u8],
    restarted_at: &str,
) -> Result<EditedManifest, EditRejected> {
    match (request.method, &request.change) {
        (Method::Restart, ImageChange::None) => manifests.set_restarted_at(content, restarted_at),
        (Method::Restart, _) => {
            let edited = manifests.set_image(content, &image_edit(request))?;
            let restarted = manifests.set_restarted_at(&edited.content, restarted_at)?;
            Ok(EditedManifest {
                content: restarted.content,
                ..edited
            })
        }
        _ => manifests.set_image(content, &image_edit(request)),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Short description of images for a commit subject: the tags when all share one repository.
fn describe_images(images: &[String]) -> String {
    let mut distinct: Vec<&str> = images.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let tags: Vec<String> = distinct
        .iter()
        .map(|img| match crate::image::ImageRef::parse(img) {
            Ok(r) => match (r.tag(), r.digest()) {
                (Some(t), Some(d)) => format!("{t}@{}", short_digest(d.as_str())),
                (Some(t), None) => t.to_string(),
                (None, Some(d)) => short_digest(d.as_str()),
                (None, None) => "latest".to_owned(),
            },
            Err(_) => (*img).to_owned(),
        })
        .collect();
    let mut tags_dedup = tags.clone();
    tags_dedup.dedup();
    if tags_dedup.is_empty() {
        "(none)".to_owned()
    } else {
        tags_dedup.join(", ")
    }
}

fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", hex.chars().take(12).collect::<String>()),
        None => d.to_owned(),
    }
}

/// The workloads of a manifest whose rollout is watched.
pub fn workloads(documents: &[serde_json::Value], default_namespace: &str) -> Vec<WorkloadRef> {
    documents
        .iter()
        .filter_map(|doc| {
            let kind = doc.get("kind")?.as_str()?;
            if !matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet") {
                return None;
            }
            let metadata = doc.get("metadata")?;
            let name = metadata.get("name")?.as_str()?.to_owned();
            let namespace = metadata
                .get("namespace")
                .and_then(|n| n.as_str())
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace)
                .to_owned();
            Some(WorkloadRef {
                kind: kind.to_owned(),
                namespace,
                name,
            })
        })
        .collect()
}

/// Jittered exponential backoff: `base * 2^attempt`, ±25 %, capped at 30 s.
fn backoff(base: Duration, attempt: u32, seed: u64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(Duration::from_secs(30));
    // Cheap deterministic jitter from the seed; no global RNG.
    let jitter = (seed.wrapping_mul(6364136223846793005).wrapping_add(u64::from(attempt)) >> 33) % 50;
    capped.mul_f64(0.75 + jitter as f64 / 100.0)
}

impl Executor {
    /// An executor over these ports.
    pub fn new(ports: Ports, settings: ExecSettings) -> Self {
        Self { ports, settings }
    }

    /// The ports, for callers that need the same adapters.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Checks a request before it is accepted: the cluster is configured, the file exists,
    /// the edit applies. Nothing is written.
    ///
    /// # Errors
    /// [`DeployError::NotFound`] or [`DeployError::InvalidRequest`] with a hint;
    /// [`DeployError::Unavailable`] when the repository cannot be read.
    pub async fn validate(&self, request: &DeployRequest) -> Result<Validated, DeployError> {
        let target = &request.target;
        let key = target.cluster_key();
        if request.method != Method::CommitOnly && self.ports.clusters.cluster(&key).is_none() {
            let mut known: Vec<String> = self.ports.clusters.keys().iter().map(ToString::to_string).collect();
            known.sort();
            return Err(DeployError::not_found(
                "cluster_not_found",
                format!(
                    "cluster `{}` is not configured for region `{}`",
                    target.cluster, target.region
                ),
                Some(if known.is_empty() {
                    "no clusters are configured; add one under `[[clusters]]`".to_owned()
                } else {
                    format!(
                        "configured clusters are {}",
                        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    )
                }),
            ));
        }
        if let Some(timeout) = request.timeout
            && (timeout.is_zero() || timeout > self.settings.max_rollout_timeout)
        {
            return Err(DeployError::invalid(
                "invalid_timeout",
                format!("timeout `{}` is out of range", humantime::format_duration(timeout)),
                Some(format!(
                    "use a duration above zero and at most `{}`",
                    humantime::format_duration(self.settings.max_rollout_timeout)
                )),
            ));
        }
        let file = self.find_file(request, false).await?;
        let restarted_at = rfc3339(self.ports.clock.now());
        let edited = edit_content(self.ports.manifests.as_ref(), request, &file.content, &restarted_at)
            .map_err(|e| DeployError::invalid(leak_code(&e.code), e.message, None))?;
        let already_current = edited.content == file.content;
        Ok(Validated {
            path: file.path,
            old_images: edited.old_images,
            new_images: edited.new_images,
            already_current,
        })
    }

    async fn find_file(&self, request: &DeployRequest, refresh: bool) -> Result<RepoFile, DeployError> {
        let target = &request.target;
        // A file someone else added since the last fetch is found by fetching once more.
        let attempts: &[bool] = if refresh { &[true] } else { &[false, true] };
        for &fetch in attempts {
            for path in target.candidate_paths() {
                match self.ports.repo.read_file(&path, fetch).await {
                    Ok(Some(file)) => return Ok(file),
                    Ok(None) => {}
                    Err(e) => return Err(repo_error_to_deploy(e)),
                }
            }
        }
        let dir = format!("{}/", target.apps_dir());
        let apps: Vec<String> = match self.ports.repo.list_app_files().await {
            Ok(files) => files
                .iter()
                .filter_map(|f| f.strip_prefix(&dir))
                .map(|f| f.trim_end_matches(".yaml").trim_end_matches(".yml").to_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        Err(DeployError::not_found(
            "file_not_found",
            format!(
                "file `{}.yaml` does not exist in `{}` of the configuration repository",
                target.file,
                target.apps_dir()
            ),
            Some(if apps.is_empty() {
                format!(
                    "`{}` has no application files; check the region and cluster",
                    target.apps_dir()
                )
            } else {
                format!(
                    "files there are {}",
                    apps.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                )
            }),
        ))
    }

    /// Carries a stored deployment from its recorded phase to its end and returns the final
    /// record. Running a finished deployment returns it unchanged.
    ///
    /// # Errors
    /// Only store failures and a missing deployment: every other failure ends the deployment
    /// `failed` with the reason recorded.
    pub async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        let record = self.ports.store.get_deployment(id).await?.ok_or_else(|| {
            DeployError::not_found("deployment_not_found", format!("deployment `{id}` not found"), None)
        })?;
        self.carry(record).await
    }

    /// [`Executor::run`] for a caller that holds the record exactly as stored (the one that
    /// just inserted it), which saves reading it back.
    ///
    /// # Errors
    /// As [`Executor::run`].
    pub async fn carry(&self, mut record: DeploymentRecord) -> Result<DeploymentRecord, DeployError> {
        let id = record.id;
        if record.status.is_terminal() {
            return Ok(record);
        }
        info!(message = "Deployment started.", deployment_id = %id, target = %record.request.target, phase = %record.phase);
        match self.drive(&mut record).await {
            Ok(()) => {}
            Err(Step::Fail(failure)) => {
                warn!(message = "Deployment failed.", deployment_id = %id, code = %failure.code, reason = %failure.message);
                let now = self.ports.clock.now();
                record.fail(failure, now);
                let event = DeploymentEvent::new(EventKind::Failed, &record, now);
                self.save(&record, vec![event]).await?;
            }
            Err(Step::Store(e)) => return Err(e),
        }
        Ok(record)
    }

    async fn save(&self, record: &DeploymentRecord, events: Vec<DeploymentEvent>) -> Result<(), DeployError> {
        self.ports.store.update_deployment(record, &events).await?;
        self.ports.notifier.changed(record, &events);
        Ok(())
    }

    async fn enter(&self, record: &mut DeploymentRecord, phase: Phase, event: Option<EventKind>) -> Result<(), Step> {
        let now = self.ports.clock.now();
        record.enter(phase, now);
        let events = event
            .map(|k| vec![DeploymentEvent::new(k, record, now)])
            .unwrap_or_default();
        self.save(record, events).await.map_err(Step::Store)
    }

    async fn finish(&self, record: &mut DeploymentRecord, status: Status) -> Result<(), Step> {
        let now = self.ports.clock.now();
        record.finish(status, now);
        let kind = if status == Status::Unchanged {
            EventKind::Unchanged
        } else {
            EventKind::Succeeded
        };
        let event = DeploymentEvent::new(kind, record, now);
        self.save(record, vec![event]).await.map_err(Step::Store)
    }

    async fn drive(&self, record: &mut DeploymentRecord) -> Result<(), Step> {
        let method = record.request.method;
        if method == Method::DryRun {
            return self.dry_run(record).await;
        }
        // The bytes this run committed (or found current), so that the apply needs no fetch.
        let mut committed: Option<Vec<u8>> = None;
        // The events of `committed`, when that phase is stored together with `applying`.
        let mut pending: Vec<DeploymentEvent> = Vec::new();
        if record.phase <= Phase::Committing {
            committed = self.commit_step(record, method).await?;
            let now = self.ports.clock.now();
            record.enter(Phase::Committed, now);
            if record.commit_sha.is_some() {
                pending.push(DeploymentEvent::new(EventKind::Committed, record, now));
            }
            if !method.applies() {
                self.save(record, std::mem::take(&mut pending))
                    .await
                    .map_err(Step::Store)?;
            }
        }
        let unchanged = record.commit_sha.is_none();
        if !method.applies() {
            return self
                .finish(
                    record,
                    if unchanged {
                        Status::Unchanged
                    } else {
                        Status::Succeeded
                    },
                )
                .await;
        }
        let (cluster, documents) = match self.apply_inputs(record, committed).await {
            Ok(inputs) => inputs,
            Err(step) => {
                // The commit is recorded before the deployment fails.
                if !pending.is_empty() {
                    self.save(record, pending).await.map_err(Step::Store)?;
                }
                return Err(step);
            }
        };
        let workloads = workloads(&documents, cluster.default_namespace());
        if record.phase <= Phase::Applying {
            // `committed` (the pushed commit and its event) and `applying` are stored in one
            // write, which runs while the apply request does. A run cut short before both end
            // resumes from the phase stored before (`committing` at the latest), finds its own
            // commit and applies the same bytes again, which a server-side apply takes as no
            // change; so the write need not hold up the apply.
            record.enter(Phase::Applying, self.ports.clock.now());
            let (stored, applied) = tokio::join!(
                self.save(record, std::mem::take(&mut pending)),
                self.retry_cluster(record, || cluster.apply(&documents, ApplyOptions::default())),
            );
            stored.map_err(Step::Store)?;
            let applied = applied.map_err(|e| Step::Fail(cluster_failure(&e)))?;
            info!(message = "Manifest applied.", deployment_id = %record.id, objects = applied.len());
            // `applied` (with its event) and `rolling_out` are stored in one write, before the
            // watch starts.
            let now = self.ports.clock.now();
            record.enter(Phase::Applied, now);
            let event = DeploymentEvent::new(EventKind::Applied, record, now);
            record.enter(Phase::RollingOut, self.ports.clock.now());
            self.save(record, vec![event]).await.map_err(Step::Store)?;
        } else {
            self.enter(record, Phase::RollingOut, None).await?;
        }
        // The parsed documents are not needed past the apply; a rollout can take minutes, and
        // with many deployments watching at once their trees would add up.
        drop(documents);
        for workload in &workloads {
            self.watch(record, cluster.as_ref(), workload).await?;
        }
        self.finish(
            record,
            if unchanged {
                Status::Unchanged
            } else {
                Status::Succeeded
            },
        )
        .await
    }

    /// The commit step: records `committing`, checks that the cluster answers (when the
    /// method applies: git and the cluster stay consistent, so a cluster that does not answer
    /// gets no commit it cannot apply), then commits and pushes. The cluster check and the
    /// read of the file only read, so they run while `committing` is being stored; nothing is
    /// pushed before all three are done.
    async fn commit_step(&self, record: &mut DeploymentRecord, method: Method) -> Result<Option<Vec<u8>>, Step> {
        // Only an interrupted commit step can have pushed without recording it.
        let resumed = record.phase == Phase::Committing;
        let (id, request) = (record.id, record.request.clone());
        let key = request.target.cluster_key();
        let reach = async {
            if method.applies() {
                self.ensure_reachable(&key).await
            } else {
                Ok(())
            }
        };
        // A resumed run reads the file only after looking for its own commit.
        let read = async {
            if resumed {
                None
            } else {
                Some(self.find_file_retrying(id, &request, false).await)
            }
        };
        let (reached, stored, file) = tokio::join!(reach, self.enter(record, Phase::Committing, None), read);
        stored?;
        reached?;
        let file = file.transpose()?;
        self.commit(record, resumed, file).await
    }

    /// The cluster and the parsed documents to apply: `committed` when this run knows the
    /// bytes, the file at the freshly fetched tip otherwise.
    async fn apply_inputs(
        &self,
        record: &DeploymentRecord,
        committed: Option<Vec<u8>>,
    ) -> Result<(Arc<dyn crate::ports::Cluster>, Vec<serde_json::Value>), Step> {
        let cluster = self.cluster(record)?;
        let content = match committed {
            Some(bytes) => bytes,
            None => self.find_file_retrying(record.id, &record.request, true).await?.content,
        };
        let documents = self
            .ports
            .manifests
            .documents(&content)
            .map_err(|e| Step::Fail(edit_failure(&e)))?;
        Ok((cluster, documents))
    }

    /// Fails the deployment, before anything is pushed, when the cluster `key` keeps not
    /// answering.
    async fn ensure_reachable(&self, key: &ClusterKey) -> Result<(), Step> {
        let cluster = self.ports.clusters.cluster(key).ok_or_else(|| {
            Step::Fail(Failure {
                code: "cluster_not_found".to_owned(),
                message: format!("cluster `{key}` is no longer configured"),
                pods: Vec::new(),
            })
        })?;
        let mut attempt = 0;
        while !cluster.reachable().await {
            if attempt >= self.settings.retries {
                return Err(Step::Fail(Failure {
                    code: "cluster_unreachable".to_owned(),
                    message: format!("cluster unreachable: `{key}` did not answer; nothing was committed"),
                    pods: Vec::new(),
                }));
            }
            tokio::time::sleep(backoff(self.settings.retry_base_delay, attempt, u64::from(attempt) + 3)).await;
            attempt += 1;
        }
        Ok(())
    }

    /// The edit of `record` applied to `file`, without writing anything.
    fn preview(&self, record: &DeploymentRecord, file: &RepoFile, restarted_at: &str) -> Result<EditedManifest, Step> {
        edit_content(
            self.ports.manifests.as_ref(),
            &record.request,
            &file.content,
            restarted_at,
        )
        .map_err(|e| Step::Fail(edit_failure(&e)))
    }

    /// Reads the file, at the freshly fetched tip when `fetch` is set (otherwise in the local
    /// view, fetching only when the file is not there), waiting out a repository that is
    /// briefly unavailable.
    async fn find_file_retrying(
        &self,
        id: DeploymentId,
        request: &DeployRequest,
        fetch: bool,
    ) -> Result<RepoFile, Step> {
        let mut attempt = 0;
        loop {
            match self.find_file(request, fetch).await {
                Ok(file) => return Ok(file),
                Err(e) if e.retryable() && attempt < self.settings.retries => {
                    let delay = backoff(self.settings.retry_base_delay, attempt, u64::from(attempt) + 29);
                    warn!(message = "Configuration repository unavailable; retrying.", deployment_id = %id, attempt);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(Step::Fail(deploy_failure(&e))),
            }
        }
    }

    fn cluster(&self, record: &DeploymentRecord) -> Result<Arc<dyn crate::ports::Cluster>, Step> {
        let key = record.request.target.cluster_key();
        self.ports.clusters.cluster(&key).ok_or_else(|| {
            Step::Fail(Failure {
                code: "cluster_not_found".to_owned(),
                message: format!("cluster `{key}` is no longer configured"),
                pods: Vec::new(),
            })
        })
    }

    /// Finds the commit an interrupted run pushed, by its `Deployment-Id` trailer.
    async fn find_own_commit(&self, id: &str) -> Option<String> {
        match self
            .retry_repo(|| self.ports.repo.find_commit_with_trailer("Deployment-Id", id))
            .await
        {
            Ok(found) => found,
            Err(e) => {
                warn!(message = "Could not search for an earlier commit.", deployment_id = %id, error = %e);
                None
            }
        }
    }

    /// Makes the commit (or finds it, after a crash), recording the SHA and the images.
    /// Returns the bytes to apply when this run knows them: those it pushed, or the file at
    /// the fetched tip when the edit changes nothing.
    ///
    /// After a crash the push of the interrupted run may still land at any moment (its `git`
    /// process can outlive the deployer). So a resumed deployment looks for its trailer before
    /// editing, and again whenever the edit turns out to change nothing: a file that already
    /// has the image may have it because of its own earlier push.
    ///
    /// `read` is the file in the local view when the caller already read it.
    async fn commit(
        &self,
        record: &mut DeploymentRecord,
        resumed: bool,
        read: Option<RepoFile>,
    ) -> Result<Option<Vec<u8>>, Step> {
        let id = record.id.to_string();
        if resumed && let Some(sha) = self.find_own_commit(&id).await {
            info!(message = "Found the commit of an interrupted deployment.", deployment_id = %id, sha = %sha);
            record.commit_sha = Some(sha);
            return Ok(None);
        }
        // The local view (as of the last fetch or push) is enough to prepare the commit: the
        // writer re-applies the edit on the fetched tip when the push is refused as stale, and
        // the recorded images are corrected from what it pushed. A resumed run starts from the
        // fetched tip, since its own earlier push may have landed since.
        let restarted_at = rfc3339(self.ports.clock.now());
        let mut file = match read {
            Some(file) if !resumed => file,
            _ => self.find_file_retrying(record.id, &record.request, resumed).await?,
        };
        let mut preview = self.preview(record, &file, &restarted_at)?;
        if preview.content == file.content && !resumed {
            // "Already current" is never concluded from a view that may be stale.
            file = self.find_file_retrying(record.id, &record.request, true).await?;
            preview = self.preview(record, &file, &restarted_at)?;
        }
        record.path = Some(file.path.clone());
        record.old_images = preview.old_images.clone();
        record.new_images = preview.new_images.clone();
        if preview.content == file.content {
            if resumed {
                record.commit_sha = self.find_own_commit(&id).await;
            }
            // Read at the fetched tip just now: the apply needs no other fetch.
            return Ok(Some(file.content));
        }
        let spec = commit_spec(
            record,
            &file.path,
            &describe_images(&preview.old_images),
            &describe_images(&preview.new_images),
        );
        let edit: Arc<dyn FileEdit> = Arc::new(DeploymentEdit {
            manifests: Arc::clone(&self.ports.manifests),
            request: record.request.clone(),
            restarted_at,
        });
        let outcome = self
            .retry_repo(|| self.ports.repo.commit_edit(&spec, Arc::clone(&edit)))
            .await
            .map_err(|e| Step::Fail(repo_failure(&e)))?;
        match outcome {
            CommitOutcome::Pushed {
                sha,
                before,
                after,
                attempts,
            } => {
                info!(message = "Commit pushed.", deployment_id = %id, sha = %sha, attempts);
                if let (Ok(old), Ok(new)) = (
                    self.ports.manifests.images(&before),
                    self.ports.manifests.images(&after),
                ) {
                    let changed: Vec<(String, String)> = old.into_iter().zip(new).filter(|(o, n)| o != n).collect();
                    if !changed.is_empty() {
                        record.old_images = changed.iter().map(|(o, _)| o.clone()).collect();
                        record.new_images = changed.into_iter().map(|(_, n)| n).collect();
                    }
                }
                record.commit_sha = Some(sha);
                Ok(Some(after))
            }
            CommitOutcome::Unchanged { .. } => {
                // The file may have the image because of this deployment's own commit: pushed by
                // an interrupted run (resumed), or by an earlier attempt of this run whose push
                // landed although it was reported as failed (`retry_repo` tried again).
                record.commit_sha = self.find_own_commit(&id).await;
                Ok(None)
            }
        }
    }

    async fn dry_run(&self, record: &mut DeploymentRecord) -> Result<(), Step> {
        self.enter(record, Phase::Committing, None).await?;
        let file = self
            .find_file(&record.request, true)
            .await
            .map_err(|e| Step::Fail(deploy_failure(&e)))?;
        let restarted_at = rfc3339(self.ports.clock.now());
        let edited = edit_content(
            self.ports.manifests.as_ref(),
            &record.request,
            &file.content,
            &restarted_at,
        )
        .map_err(|e| Step::Fail(edit_failure(&e)))?;
        record.path = Some(file.path.clone());
        record.old_images = edited.old_images.clone();
        record.new_images = edited.new_images.clone();
        let before = String::from_utf8_lossy(&file.content);
        let after = String::from_utf8_lossy(&edited.content);
        let diff = similar::TextDiff::from_lines(before.as_ref(), after.as_ref())
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{}", file.path), &format!("b/{}", file.path))
            .to_string();
        let spec = commit_spec(
            record,
            &file.path,
            &describe_images(&edited.old_images),
            &describe_images(&edited.new_images),
        );
        let cluster = self.cluster(record)?;
        let documents = self
            .ports
            .manifests
            .documents(&edited.content)
            .map_err(|e| Step::Fail(edit_failure(&e)))?;
        let applied = self
            .retry_cluster(record, || {
                cluster.apply(
                    &documents,
                    ApplyOptions {
                        dry_run: true,
                        force: false,
                    },
                )
            })
            .await
            .map_err(|e| Step::Fail(cluster_failure(&e)))?;
        record.dry_run = Some(DryRunResult {
            diff,
            commit_message: render_message(&spec),
            objects: applied.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect(),
        });
        let unchanged = edited.content == file.content;
        self.finish(
            record,
            if unchanged {
                Status::Unchanged
            } else {
                Status::Succeeded
            },
        )
        .await
    }

    async fn watch(
        &self,
        record: &mut DeploymentRecord,
        cluster: &dyn crate::ports::Cluster,
        workload: &WorkloadRef,
    ) -> Result<(), Step> {
        let initial = self
            .retry_cluster(record, || cluster.workload_status(workload))
            .await
            .map_err(|e| Step::Fail(cluster_failure(&e)))?;
        let timeout = record.request.timeout.unwrap_or_else(|| {
            match initial.as_ref().and_then(WorkloadStatus::progress_deadline_seconds) {
                Some(deadline) => default_rollout_timeout(Some(deadline)),
                None => self.settings.default_rollout_timeout,
            }
        });
        let (tx, mut rx) = tokio::sync::watch::channel::<Option<(WorkloadStatus, RolloutVerdict)>>(None);
        let progress = move |status: &WorkloadStatus, verdict: &RolloutVerdict| {
            let _ = tx.send(Some((status.clone(), verdict.clone())));
        };
        let watch = tokio::time::timeout(timeout, cluster.watch_rollout(workload, &progress));
        tokio::pin!(watch);
        let mut last_saved: Option<(WorkloadStatus, RolloutVerdict)> = None;
        let result = loop {
            tokio::select! {
                res = &mut watch => break res,
                changed = rx.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let seen = rx.borrow_and_update().clone();
                    if let Some((status, verdict)) = seen
                        && last_saved.as_ref() != Some(&(status.clone(), verdict.clone()))
                    {
                        record.rollout = Some(status.summary(&workload.namespace, &verdict));
                        self.enter(record, Phase::RollingOut, Some(EventKind::Progress)).await?;
                        last_saved = Some((status, verdict));
                        tokio::time::sleep(self.settings.progress_interval).await;
                    }
                }
            }
        };
        let object = format!("{}/{}", workload.kind, workload.name);
        match result {
            Ok(Ok(verdict)) => {
                if let Ok(Some(status)) = cluster.workload_status(workload).await {
                    record.rollout = Some(status.summary(&workload.namespace, &verdict));
                }
                match verdict {
                    RolloutVerdict::Succeeded { .. } => Ok(()),
                    RolloutVerdict::Failed { code, message } => {
                        let pods = cluster.pod_issues(workload).await.unwrap_or_default();
                        Err(Step::Fail(Failure {
                            code,
                            message: with_pods(format!("rollout of {object} failed: {message}"), &pods),
                            pods,
                        }))
                    }
                    RolloutVerdict::Waiting { message } => Err(Step::Fail(Failure {
                        code: "rollout_failed".to_owned(),
                        message: format!("the rollout watch of {object} ended early: {message}"),
                        pods: Vec::new(),
                    })),
                }
            }
            Ok(Err(e)) => Err(Step::Fail(cluster_failure(&e))),
            Err(_) => {
                let pods = cluster.pod_issues(workload).await.unwrap_or_default();
                let last = record.rollout.as_ref().map(|r| r.message.clone()).unwrap_or_default();
                Err(Step::Fail(Failure {
                    code: "timed_out".to_owned(),
                    message: with_pods(
                        format!(
                            "rollout of {object} did not finish within {}: {last}",
                            humantime::format_duration(timeout)
                        ),
                        &pods,
                    ),
                    pods,
                }))
            }
        }
    }

    async fn retry_repo<T, F, Fut>(&self, mut op: F) -> Result<T, RepoError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RepoError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if e.retryable() && attempt < self.settings.retries => {
                    let delay = backoff(self.settings.retry_base_delay, attempt, u64::from(attempt) + 17);
                    warn!(message = "Configuration repository call failed; retrying.", error = %e, attempt, delay_ms = delay.as_millis() as u64);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn retry_cluster<T, F, Fut>(&self, record: &DeploymentRecord, mut op: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClusterError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e @ ClusterError::Unreachable { .. }) if attempt < self.settings.retries => {
                    let delay = backoff(
                        self.settings.retry_base_delay,
                        attempt,
                        record.id.to_string().len() as u64 + u64::from(attempt),
                    );
                    warn!(message = "Cluster call failed; retrying.", deployment_id = %record.id, error = %e, attempt);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// How a step ended early.
enum Step {
    /// The deployment fails with this.
    Fail(Failure),
    /// The store could not record a step: the deployment stays unfinished and resumes later.
    Store(DeployError),
}

fn with_pods(message: String, pods: &[crate::model::PodIssue]) -> String {
    if pods.is_empty() {
        return message;
    }
    let mut reasons: Vec<String> = pods
        .iter()
        .map(|p| {
            if p.message.is_empty() {
                p.reason.clone()
            } else {
                format!("{}: {}", p.reason, p.message)
            }
        })
        .collect();
    reasons.sort();
    reasons.dedup();
    format!("{message} (pods: {})", reasons.join("; "))
}

fn leak_code(code: &str) -> &'static str {
    // Edit rejection codes are a closed set, part of the API contract; anything else maps to a
    // generic code.
    const KNOWN: [&str; 15] = [
        "too_large",
        "not_utf8",
        "yaml",
        "too_deep",
        "too_many_documents",
        "too_many_aliases",
        "no_workloads",
        "no_matching_image",
        "unknown_container",
        "ambiguous_image",
        "unsupported_image_scalar",
        "invalid_current_image",
        "invalid_timestamp",
        "unsupported_layout",
        "invalid_document",
    ];
    KNOWN.into_iter().find(|k| *k == code).unwrap_or("edit_rejected")
}

fn edit_failure(e: &EditRejected) -> Failure {
    Failure {
        code: leak_code(&e.code).to_owned(),
        message: e.message.clone(),
        pods: Vec::new(),
    }
}

fn repo_failure(e: &RepoError) -> Failure {
    let code = match e {
        RepoError::Edit(inner) => leak_code(&inner.code),
        other => other.kind(),
    };
    Failure {
        code: code.to_owned(),
        message: e.to_string(),
        pods: Vec::new(),
    }
}

fn cluster_failure(e: &ClusterError) -> Failure {
    Failure {
        code: e.kind().to_owned(),
        message: e.to_string(),
        pods: Vec::new(),
    }
}

fn deploy_failure(e: &DeployError) -> Failure {
    let message = match e {
        DeployError::Unavailable { internal } | DeployError::Internal { internal } => internal.clone(),
        other => other.to_string(),
    };
    Failure {
        code: e.code().to_owned(),
        message,
        pods: Vec::new(),
    }
}

fn repo_error_to_deploy(e: RepoError) -> DeployError {
    match e {
        RepoError::PathEscapes { path } => DeployError::invalid(
            "path_escapes",
            format!("path `{path}` is not a regular file inside the configuration repository"),
            Some("application files must be plain files, not symlinks or directories".to_owned()),
        ),
        RepoError::FileNotFound { path, .. } => {
            DeployError::not_found("file_not_found", format!("file `{path}` does not exist"), None)
        }
        RepoError::Edit(inner) => DeployError::invalid(leak_code(&inner.code), inner.message, None),
        other => DeployError::Unavailable {
            internal: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_default_their_namespace() {
        let docs = vec![
            serde_json::json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}),
            serde_json::json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}),
            serde_json::json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"data"}}),
        ];
        let w = workloads(&docs, "team-a");
        assert_eq!(w.len(), 2);
        assert_eq!(
            w[0],
            WorkloadRef {
                kind: "Deployment".into(),
                namespace: "team-a".into(),
                name: "web".into()
            }
        );
        assert_eq!(w[1].namespace, "data");
    }

    #[test]
    fn images_are_described_by_their_tags() {
        assert_eq!(
            describe_images(&["registry.example.com:5000/api:v1.2.3".to_owned()]),
            "v1.2.3"
        );
        let digest = format!("api@sha256:{}", "a".repeat(64));
        assert_eq!(describe_images(&[digest]), "sha256:aaaaaaaaaaaa");
        assert_eq!(describe_images(&["api:v1".to_owned(), "api:v1".to_owned()]), "v1");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let a = backoff(base, 0, 1);
        let b = backoff(base, 3, 1);
        assert!(a >= Duration::from_millis(75) && a <= Duration::from_millis(125));
        assert!(b >= Duration::from_millis(600));
        assert!(backoff(base, 30, 1) <= Duration::from_secs(30));
    }

    #[test]
    fn pod_reasons_are_listed_once() {
        let pods = vec![
            crate::model::PodIssue {
                pod: "a".into(),
                container: "web".into(),
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into(),
                restarts: 0,
            },
            crate::model::PodIssue {
                pod: "b".into(),
                container: "web".into(),
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into(),
                restarts: 0,
            },
        ];
        assert_eq!(
            with_pods("failed".into(), &pods),
            "failed (pods: ImagePullBackOff: Back-off pulling image)"
        );
    }
}
