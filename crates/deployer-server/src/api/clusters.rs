//! `GET /api/v1/clusters`: the configured clusters, whether they answer, their applications,
//! the images those run according to the repository, what runs in the cluster right now, the
//! last deployment of each, its pin, and what the caller may do with it.
//!
//! Everything about one cluster is gathered concurrently with the other clusters: the
//! reachability probe and the file reads together, then the live status of every workload
//! with one shared deadline, so a cluster that does not answer costs the listing a few
//! seconds at most and is shown as `unreachable` (or `unknown` when it stops answering
//! half-way) rather than holding the page up.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use deployer_auth::Scopes;
use deployer_core::execute::workloads;
use deployer_core::model::{AppFile, ClusterKey, DeploymentRecord, Method, RolloutSummary, Target};
use deployer_core::ports::{Cluster, ClusterError, DeploymentFilter, PageRequest, RepoError, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus, rollout_verdict};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use super::error::ApiError;
use super::state::AppState;
use super::whoami::actions_on;
use crate::auth::Grant;

/// How many application files of one cluster are read at once.
const READS_AT_ONCE: usize = 8;

/// How many workload statuses of one cluster are asked for at once.
const STATUSES_AT_ONCE: usize = 8;

/// How long a cluster gets to answer the reachability probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a reachable cluster gets to report the status of all its workloads.
const LIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many recent deployments of a target are looked through for the last one that is not a
/// dry run.
const RECENT: usize = 20;

/// The listing.
#[derive(Debug, Serialize)]
pub struct ClusterList {
    /// Every configured cluster, by region then name.
    pub clusters: Vec<ClusterView>,
}

/// One cluster.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// The environment it belongs to (`[triggers]` environments), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether credentials for it are configured (`[[clusters]]`). A cluster found only in the
    /// repository layout is listed with `false`: `commit-only` deploys still work for it (a
    /// GitOps tool syncs it), the other methods need credentials.
    pub configured: bool,
    /// Whether its API server answered (always `false` when not configured).
    pub reachable: bool,
    /// The application files of `<region>/<cluster>/apps/`.
    pub apps: Vec<AppView>,
}

/// One application file.
#[derive(Debug, Serialize)]
pub struct AppView {
    /// The file's stem, as used in deploy requests.
    pub file: String,
    /// The repository path.
    pub path: String,
    /// The images of its workloads.
    pub images: Vec<String>,
    /// Why the images could not be read, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AppError>,
    /// The pin that holds the application, if any (automatic triggers leave it alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<super::pins::PinView>,
    /// What its workloads look like in the cluster now.
    pub live: LiveView,
    /// Its latest deployment that is not a dry run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deployment: Option<super::record::RecordView>,
    /// The actions the caller's token may take on it (`read`, `deploy`, `rollback`, `pin`,
    /// `admin`), as the API will judge them.
    pub actions: Vec<&'static str>,
}

/// Why an application's images are missing.
#[derive(Debug, Serialize)]
pub struct AppError {
    /// A stable code.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// Where an application's workloads stand in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// Every workload is rolled out: all replicas updated and ready.
    Ready,
    /// A rollout is still going.
    Progressing,
    /// A rollout will not finish by itself (its progress deadline passed).
    Failed,
    /// A workload of the file does not exist in the cluster.
    Missing,
    /// The cluster did not answer.
    Unreachable,
    /// No credentials for the cluster: nothing can be asked.
    NotConfigured,
    /// The state could not be told (the file is unreadable or has no workload, or the cluster
    /// stopped answering in time).
    Unknown,
}

/// What runs in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveView {
    /// The state, as a word.
    pub state: LiveState,
    /// What it means here, in words.
    pub message: String,
    /// The replica counts of each workload that answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<RolloutSummary>,
}

impl LiveView {
    fn only(state: LiveState, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
            workloads: Vec::new(),
        }
    }
}

/// What the cluster said about one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Its status.
    Status(WorkloadRef, WorkloadStatus),
    /// It does not exist.
    Missing(WorkloadRef),
    /// The cluster failed to say.
    Error(ClusterError),
    /// The deadline passed before it said.
    TimedOut,
}

/// Judges an application's live state from what its workloads' statuses say. The worst state
/// wins: an unreachable cluster, then anything unknown, a missing workload, a failed rollout,
/// one still going; `ready` only when every workload is rolled out.
pub fn live_view(observed: Vec<Observed>) -> LiveView {
    if observed.is_empty() {
        return LiveView::only(
            LiveState::Unknown,
            "the file has no Deployment, StatefulSet or DaemonSet",
        );
    }
    let mut workloads = Vec::new();
    let mut worst: Option<(u8, LiveState, String)> = None;
    let mut note = |rank: u8, state: LiveState, message: String| {
        if worst.as_ref().is_none_or(|(r, _, _)| rank > *r) {
            worst = Some((rank, state, message));
        }
    };
    let mut messages = Vec::new();
    for o in observed {
        match o {
            Observed::Status(workload, status) => {
                let verdict = rollout_verdict(&status);
                workloads.push(status.summary(&workload.namespace, &verdict));
                match &verdict {
                    RolloutVerdict::Succeeded { message } => messages.push(message.clone()),
                    RolloutVerdict::Waiting { message } => note(2, LiveState::Progressing, message.clone()),
                    RolloutVerdict::Failed { message, .. } => note(3, LiveState::Failed, message.clone()),
                }
            }
            Observed::Missing(w) => note(
                4,
                LiveState::Missing,
                format!("{}/{} does not exist in namespace {}", w.kind, w.name, w.namespace),
            ),
            Observed::TimedOut => note(5, LiveState::Unknown, "the cluster did not answer in time".to_owned()),
            Observed::Error(e @ ClusterError::Unreachable { .. }) => note(6, LiveState::Unreachable, e.to_string()),
            Observed::Error(e) => note(5, LiveState::Unknown, e.to_string()),
        }
    }
    match worst {
        Some((_, state, message)) => LiveView {
            state,
            message,
            workloads,
        },
        None => LiveView {
            state: LiveState::Ready,
            message: messages.join("; "),
            workloads,
        },
    }
}

/// Splits `<region>/<cluster>/apps/<stem>.yaml` into its cluster and stem.
pub fn app_path(path: &str) -> Option<(String, String, String)> {
    let mut parts = path.split('/');
    let (region, cluster, apps, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if apps != "apps" || parts.next().is_some() {
        return None;
    }
    let stem = file.strip_suffix(".yaml").or_else(|| file.strip_suffix(".yml"))?;
    Some((region.to_owned(), cluster.to_owned(), stem.to_owned()))
}

fn repo_error(e: RepoError) -> ApiError {
    if e.retryable() {
        ApiError::unavailable(
            "repo_unavailable",
            "the configuration repository is unavailable",
            Some(e.to_string()),
            Duration::from_secs(10),
        )
    } else {
        ApiError::internal(e.to_string())
    }
}

/// An application file as read from the repository, before the cluster is asked.
struct Read {
    view: AppView,
    content: Option<Vec<u8>>,
}

async fn read_app(state: &AppState, path: String, file: String) -> Read {
    let mut content = None;
    let (images, error) = match state.repo.read_file(&path, false).await {
        Ok(Some(f)) => {
            let read = match state.manifests.images(&f.content) {
                Ok(images) => (images, None),
                Err(e) => (
                    Vec::new(),
                    Some(AppError {
                        code: e.code,
                        message: e.message,
                    }),
                ),
            };
            content = Some(f.content);
            read
        }
        Ok(None) => (
            Vec::new(),
            Some(AppError {
                code: "file_not_found".to_owned(),
                message: "the file is gone".to_owned(),
            }),
        ),
        Err(e) => {
            tracing::warn!(message = "Application file unreadable.", path = %path, error = %e);
            (
                Vec::new(),
                Some(AppError {
                    code: e.kind().to_owned(),
                    message: "the file could not be read".to_owned(),
                }),
            )
        }
    };
    Read {
        view: AppView {
            file,
            path,
            images,
            error,
            pin: None,
            live: LiveView::only(LiveState::Unknown, "not asked"),
            last_deployment: None,
            actions: Vec::new(),
        },
        content,
    }
}

/// Asks `cluster` for the status of every workload of one file, each call bounded by
/// `deadline`.
async fn observe(state: &AppState, cluster: &dyn Cluster, content: Option<&[u8]>, deadline: Instant) -> LiveView {
    let Some(content) = content else {
        return LiveView::only(LiveState::Unknown, "the file could not be read");
    };
    let documents = match state.manifests.documents(content) {
        Ok(d) => d,
        Err(e) => return LiveView::only(LiveState::Unknown, format!("the file could not be read: {}", e.message)),
    };
    let refs = workloads(&documents, cluster.default_namespace());
    let observed = futures_util::stream::iter(refs)
        .map(|w| async move {
            match tokio::time::timeout_at(deadline, cluster.workload_status(&w)).await {
                Ok(Ok(Some(status))) => Observed::Status(w, status),
                Ok(Ok(None)) => Observed::Missing(w),
                Ok(Err(e)) => Observed::Error(e),
                Err(_) => Observed::TimedOut,
            }
        })
        .buffered(STATUSES_AT_ONCE)
        .collect()
        .await;
    live_view(observed)
}

/// The latest deployment of `target` that is not a dry run, among its recent ones.
async fn last_deployment(state: &AppState, target: &Target) -> Option<DeploymentRecord> {
    let filter = DeploymentFilter {
        region: Some(target.region.to_string()),
        cluster: Some(target.cluster.to_string()),
        file: Some(target.file.to_string()),
        ..DeploymentFilter::default()
    };
    let page = PageRequest {
        limit: RECENT,
        before: None,
    };
    match state.store.list_deployments(&filter, &page).await {
        Ok(records) => records.into_iter().find(|r| r.request.method != Method::DryRun),
        Err(e) => {
            tracing::warn!(message = "Last deployment unreadable.", target = %target, error = %e);
            None
        }
    }
}

async fn cluster(state: &AppState, key: ClusterKey, files: Vec<(String, String)>, scopes: &Scopes) -> ClusterView {
    let configured = state.clusters.cluster(&key);
    let environment = state
        .triggers
        .current()
        .rules
        .environment_of(&key)
        .map(|e| e.name.to_string());
    let probe = async {
        match &configured {
            Some(c) => tokio::time::timeout(PROBE_TIMEOUT, c.reachable())
                .await
                .unwrap_or(false),
            None => false,
        }
    };
    let reads = futures_util::stream::iter(files)
        .map(|(path, file)| read_app(state, path, file))
        .buffered(READS_AT_ONCE)
        .collect::<Vec<Read>>();
    let (reachable, reads) = tokio::join!(probe, reads);
    let deadline = Instant::now() + LIVE_TIMEOUT;
    let configured = configured.as_deref();
    let (key, environment) = (&key, environment.as_deref());
    let apps = futures_util::stream::iter(reads)
        .map(|read| async move {
            let Read { mut view, content } = read;
            view.live = match configured {
                None => LiveView::only(
                    LiveState::NotConfigured,
                    "no credentials for this cluster: only commit-only deploys reach it",
                ),
                Some(_) if !reachable => LiveView::only(
                    LiveState::Unreachable,
                    format!("the cluster did not answer within {} s", PROBE_TIMEOUT.as_secs()),
                ),
                Some(c) => observe(state, c, content.as_deref(), deadline).await,
            };
            let target = AppFile::new(view.file.clone()).ok().map(|file| Target {
                region: key.region.clone(),
                cluster: key.cluster.clone(),
                file,
            });
            if let Some(target) = target {
                view.actions = actions_on(scopes, environment, &target);
                view.last_deployment = last_deployment(state, &target)
                    .await
                    .map(|r| super::record::RecordView::of(state, r));
            }
            view
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await;
    ClusterView {
        region: key.region.to_string(),
        cluster: key.cluster.to_string(),
        configured: configured.is_some(),
        reachable,
        environment: environment.map(str::to_owned),
        apps,
    }
}

/// Lists the clusters.
pub async fn clusters(State(state): State<AppState>) -> Result<Json<ClusterList>, ApiError> {
    let paths = state.repo.list_app_files().await.map_err(repo_error)?;
    // Outside an API request (never, behind the guard) the caller may do nothing.
    let scopes = Grant::current().map(|g| g.scopes).unwrap_or_default();
    let mut keys = state.clusters.keys();
    keys.sort();
    let mut by_cluster: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for path in paths {
        if let Some((region, cluster, stem)) = app_path(&path) {
            by_cluster.entry((region, cluster)).or_default().push((path, stem));
        }
    }
    // Clusters found only in the repository layout are listed too, after the configured ones.
    let mut discovered: Vec<ClusterKey> = by_cluster
        .keys()
        .filter_map(|(region, cluster)| format!("{region}/{cluster}").parse::<ClusterKey>().ok())
        .filter(|k| !keys.contains(k))
        .collect();
    discovered.sort();
    keys.extend(discovered);
    let views = keys.into_iter().map(|key| {
        let mut files = by_cluster
            .remove(&(key.region.to_string(), key.cluster.to_string()))
            .unwrap_or_default();
        files.sort();
        cluster(&state, key, files, &scopes)
    });
    let mut clusters = futures_util::future::join_all(views).await;
    let pins = state.pins.list_pins().await?;
    for pin in &pins {
        let app = clusters
            .iter_mut()
            .filter(|c| c.region == pin.target.region.as_str() && c.cluster == pin.target.cluster.as_str())
            .flat_map(|c| c.apps.iter_mut())
            .find(|a| a.file == pin.target.file.as_str());
        if let Some(app) = app {
            app.pin = Some(super::pins::PinView::from(pin));
        }
    }
    Ok(Json(ClusterList { clusters }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_are_split_into_cluster_and_stem() {
        assert_eq!(
            app_path("us-west-2/prod-1/apps/api.yaml"),
            Some(("us-west-2".to_owned(), "prod-1".to_owned(), "api".to_owned()))
        );
        assert_eq!(app_path("us-west-2/prod-1/apps/nested/api.yaml"), None);
        assert_eq!(app_path("us-west-2/prod-1/other/api.yaml"), None);
        assert_eq!(app_path("us-west-2/prod-1/apps/README.md"), None);
    }

    fn web() -> WorkloadRef {
        WorkloadRef {
            kind: "Deployment".to_owned(),
            namespace: "shop".to_owned(),
            name: "web".to_owned(),
        }
    }

    fn deployment(desired: i64, updated: i64, ready: i64, reason: Option<&str>) -> WorkloadStatus {
        WorkloadStatus::Deployment {
            name: "web".to_owned(),
            generation: 3,
            observed_generation: 3,
            desired,
            replicas: desired.max(updated),
            updated,
            ready,
            available: ready,
            progressing_reason: reason.map(str::to_owned),
            progress_deadline_seconds: Some(600),
        }
    }

    #[test]
    fn a_rolled_out_workload_is_ready_with_its_replica_counts() {
        let live = live_view(vec![Observed::Status(web(), deployment(3, 3, 3, None))]);
        assert_eq!(live.state, LiveState::Ready);
        assert!(live.message.contains("successfully rolled out"), "{}", live.message);
        let counts = live
            .workloads
            .first()
            .map(|w| (w.desired, w.updated, w.ready, w.namespace.clone()));
        assert_eq!(counts, Some((3, 3, 3, "shop".to_owned())));
    }

    #[test]
    fn a_rollout_half_way_is_progressing_and_one_past_its_deadline_failed() {
        let going = live_view(vec![Observed::Status(web(), deployment(3, 1, 2, None))]);
        assert_eq!(going.state, LiveState::Progressing);
        assert_eq!(going.workloads.len(), 1);
        let stuck = live_view(vec![
            Observed::Status(web(), deployment(3, 3, 3, None)),
            Observed::Status(web(), deployment(3, 1, 2, Some("ProgressDeadlineExceeded"))),
        ]);
        assert_eq!(stuck.state, LiveState::Failed);
        assert_eq!(stuck.workloads.len(), 2, "the counts of both workloads are kept");
    }

    #[test]
    fn the_worst_observation_wins_and_an_unreachable_cluster_worst_of_all() {
        let missing = live_view(vec![
            Observed::Status(web(), deployment(1, 1, 1, None)),
            Observed::Missing(web()),
        ]);
        assert_eq!(missing.state, LiveState::Missing);
        assert!(missing.message.contains("Deployment/web"), "{}", missing.message);
        let late = live_view(vec![Observed::Missing(web()), Observed::TimedOut]);
        assert_eq!(late.state, LiveState::Unknown);
        let gone = live_view(vec![
            Observed::TimedOut,
            Observed::Error(ClusterError::Unreachable {
                message: "connection refused".to_owned(),
            }),
        ]);
        assert_eq!(gone.state, LiveState::Unreachable);
        assert!(gone.message.contains("connection refused"));
    }

    #[test]
    fn a_file_without_workloads_has_an_unknown_state() {
        assert_eq!(live_view(Vec::new()).state, LiveState::Unknown);
    }
}
