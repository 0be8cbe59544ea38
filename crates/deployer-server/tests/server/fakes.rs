//! In-memory doubles of the ports: a store (with the trigger, release and pin stores), a
//! configuration repository over a map, a line-based manifest format, and clusters that
//! record what they are asked to do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::image::ImageRef;
use deployer_core::model::{
    ClusterKey, DeploymentEvent, DeploymentId, DeploymentRecord, ImageChange, PodIssue, Status, Target,
};
use deployer_core::ports::{
    AppliedObject, ApplyOptions, Cluster, ClusterDirectory, ClusterError, CommitOutcome, CommitSpec, ConfigRepo,
    DeploymentFilter, EditRejected, EditedManifest, FileEdit, ImageEdit, Inserted, Manifests, PageRequest, ProgressFn,
    RepoError, RepoFile, Store, StoreError, WorkloadRef,
};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};
use deployer_server::triggers::callback::{Acknowledgement, CallbackSender};
use deployer_store::{
    Pin, PinOutcome, PinStore, ReleaseId, ReleaseRecord, ReleaseStore, TriggerId, TriggerPage, TriggerRecord,
    TriggerStore,
};
use tokio::sync::Semaphore;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ------------------------------------------------------------------------------------------
// Store
// ------------------------------------------------------------------------------------------

#[derive(Default)]
struct StoreState {
    records: BTreeMap<DeploymentId, DeploymentRecord>,
    events: Vec<DeploymentEvent>,
    keys: HashMap<String, DeploymentId>,
}

/// A store in memory, with the transactional behaviour of the real ones.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<StoreState>,
}

impl MemStore {
    fn append(state: &mut StoreState, events: &[DeploymentEvent]) {
        for e in events {
            let seq = state.events.len() as i64 + 1;
            state.events.push(DeploymentEvent { seq, ..e.clone() });
        }
    }
}

fn matches(filter: &DeploymentFilter, r: &DeploymentRecord) -> bool {
    let t = &r.request.target;
    filter.region.as_deref().is_none_or(|v| v == t.region.as_str())
        && filter
            .release_id
            .as_deref()
            .is_none_or(|v| r.release_id.as_deref() == Some(v))
        && filter.cluster.as_deref().is_none_or(|v| v == t.cluster.as_str())
        && filter.file.as_deref().is_none_or(|v| v == t.file.as_str())
        && filter.status.is_none_or(|s| s == r.status)
}

#[async_trait]
impl Store for MemStore {
    async fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        events: &[DeploymentEvent],
    ) -> Result<Inserted, StoreError> {
        let mut state = lock(&self.state);
        if let Some(key) = &record.request.idempotency_key {
            if let Some(existing) = state.keys.get(key).and_then(|id| state.records.get(id)) {
                return Ok(Inserted::Existing(Box::new(existing.clone())));
            }
            state.keys.insert(key.clone(), record.id);
        }
        state.records.insert(record.id, record.clone());
        Self::append(&mut state, events);
        Ok(Inserted::New)
    }

    async fn update_deployment(&self, record: &DeploymentRecord, events: &[DeploymentEvent]) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.records.insert(record.id, record.clone());
        Self::append(&mut state, events);
        Ok(())
    }

    async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(lock(&self.state).records.get(&id).cloned())
    }

    async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .records
            .values()
            .rev()
            .filter(|r| page.before.is_none_or(|b| r.id < b))
            .filter(|r| matches(filter, r))
            .take(page.limit)
            .cloned()
            .collect())
    }

    async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        Ok(lock(&self.state)
            .records
            .values()
            .filter(|r| !r.status.is_terminal())
            .cloned()
            .collect())
    }

    async fn last_deployment(
        &self,
        target: &Target,
        status: Option<Status>,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(lock(&self.state)
            .records
            .values()
            .rev()
            .find(|r| &r.request.target == target && r.status.is_terminal() && status.is_none_or(|s| s == r.status))
            .cloned())
    }

    async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
        Ok(lock(&self.state)
            .events
            .iter()
            .filter(|e| e.deployment_id == id && e.seq > after)
            .cloned()
            .collect())
    }
}

// ------------------------------------------------------------------------------------------
// Triggers, releases and pins
// ------------------------------------------------------------------------------------------

/// Received triggers, releases and pins in memory.
#[derive(Default)]
pub struct MemTriggers {
    triggers: Mutex<BTreeMap<TriggerId, TriggerRecord>>,
    releases: Mutex<BTreeMap<ReleaseId, ReleaseRecord>>,
    pins: Mutex<BTreeMap<Target, Pin>>,
}

impl MemTriggers {
    /// Every trigger recorded, oldest first.
    pub fn all(&self) -> Vec<TriggerRecord> {
        lock(&self.triggers).values().cloned().collect()
    }
}

#[async_trait]
impl TriggerStore for MemTriggers {
    async fn record_trigger(&self, trigger: &TriggerRecord) -> Result<(), StoreError> {
        let mut triggers = lock(&self.triggers);
        if triggers.contains_key(&trigger.id) {
            return Err(StoreError::Conflict {
                message: format!("trigger {} exists", trigger.id),
            });
        }
        triggers.insert(trigger.id, trigger.clone());
        Ok(())
    }

    async fn get_trigger(&self, id: TriggerId) -> Result<Option<TriggerRecord>, StoreError> {
        Ok(lock(&self.triggers).get(&id).cloned())
    }

    async fn list_triggers(&self, page: &TriggerPage) -> Result<Vec<TriggerRecord>, StoreError> {
        Ok(lock(&self.triggers)
            .values()
            .rev()
            .filter(|t| page.before.is_none_or(|b| t.id < b))
            .take(page.limit)
            .cloned()
            .collect())
    }

    async fn find_recent_trigger_by_dedup_key(
        &self,
        key: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<TriggerRecord>, StoreError> {
        Ok(lock(&self.triggers)
            .values()
            .rev()
            .find(|t| t.dedup_key.as_deref() == Some(key) && t.at >= since)
            .cloned())
    }
}

#[async_trait]
impl ReleaseStore for MemTriggers {
    async fn create_release(&self, release: &ReleaseRecord) -> Result<(), StoreError> {
        lock(&self.releases).insert(release.id, release.clone());
        Ok(())
    }

    async fn get_release(&self, id: ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        Ok(lock(&self.releases).get(&id).cloned())
    }
}

#[async_trait]
impl PinStore for MemTriggers {
    async fn pin(&self, pin: &Pin) -> Result<PinOutcome, StoreError> {
        let mut pins = lock(&self.pins);
        if let Some(existing) = pins.get(&pin.target) {
            return Ok(PinOutcome::AlreadyPinned(Box::new(existing.clone())));
        }
        pins.insert(pin.target.clone(), pin.clone());
        Ok(PinOutcome::Pinned)
    }

    async fn unpin(&self, target: &Target) -> Result<Option<Pin>, StoreError> {
        Ok(lock(&self.pins).remove(target))
    }

    async fn get_pin(&self, target: &Target) -> Result<Option<Pin>, StoreError> {
        Ok(lock(&self.pins).get(target).cloned())
    }

    async fn list_pins(&self) -> Result<Vec<Pin>, StoreError> {
        Ok(lock(&self.pins).values().cloned().collect())
    }
}

/// Records the callback URLs acknowledged instead of calling them.
#[derive(Default)]
pub struct RecordingCallbacks {
    seen: Mutex<Vec<(String, Acknowledgement)>>,
}

impl RecordingCallbacks {
    /// The URLs and acknowledgements so far.
    pub fn seen(&self) -> Vec<(String, Acknowledgement)> {
        lock(&self.seen).clone()
    }
}

#[async_trait]
impl CallbackSender for RecordingCallbacks {
    async fn acknowledge(&self, url: &str, ack: &Acknowledgement) -> Result<(), String> {
        lock(&self.seen).push((url.to_owned(), ack.clone()));
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Configuration repository
// ------------------------------------------------------------------------------------------

#[derive(Default)]
struct RepoState {
    files: BTreeMap<String, Vec<u8>>,
    commits: Vec<CommitSpec>,
}

/// A repository over a map of paths to contents; each commit is kept with its message.
#[derive(Default)]
pub struct MemRepo {
    state: Mutex<RepoState>,
}

impl MemRepo {
    /// Adds or replaces a file.
    pub fn put(&self, path: &str, content: &str) {
        lock(&self.state)
            .files
            .insert(path.to_owned(), content.as_bytes().to_vec());
    }

    /// The current content of a file.
    pub fn content(&self, path: &str) -> String {
        lock(&self.state)
            .files
            .get(path)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default()
    }

    /// The subjects of the commits made, oldest first.
    pub fn subjects(&self) -> Vec<String> {
        lock(&self.state).commits.iter().map(|c| c.subject.clone()).collect()
    }

    fn tip(state: &RepoState) -> String {
        format!("{:040x}", state.commits.len())
    }
}

#[async_trait]
impl ConfigRepo for MemRepo {
    async fn read_file(&self, path: &str, _refresh: bool) -> Result<Option<RepoFile>, RepoError> {
        let state = lock(&self.state);
        Ok(state.files.get(path).map(|c| RepoFile {
            path: path.to_owned(),
            content: c.clone(),
            commit: Self::tip(&state),
        }))
    }

    async fn list_app_files(&self) -> Result<Vec<String>, RepoError> {
        Ok(lock(&self.state).files.keys().cloned().collect())
    }

    async fn commit_edit(&self, spec: &CommitSpec, edit: Arc<dyn FileEdit>) -> Result<CommitOutcome, RepoError> {
        let mut state = lock(&self.state);
        let before = state
            .files
            .get(&spec.path)
            .cloned()
            .ok_or_else(|| RepoError::FileNotFound {
                path: spec.path.clone(),
                branch: "main".to_owned(),
            })?;
        let after = edit.edit(&before)?;
        if after == before {
            return Ok(CommitOutcome::Unchanged {
                tip: Self::tip(&state),
                content: before,
            });
        }
        state.files.insert(spec.path.clone(), after.clone());
        state.commits.push(spec.clone());
        Ok(CommitOutcome::Pushed {
            sha: Self::tip(&state),
            before,
            after,
            attempts: 1,
        })
    }

    async fn find_commit_with_trailer(&self, key: &str, value: &str) -> Result<Option<String>, RepoError> {
        let state = lock(&self.state);
        Ok(state
            .commits
            .iter()
            .position(|c| c.trailers.iter().any(|(k, v)| k == key && v == value))
            .map(|i| format!("{:040x}", i + 1)))
    }
}

// ------------------------------------------------------------------------------------------
// Manifests: one workload per file, written as `key: value` lines
// ------------------------------------------------------------------------------------------

/// Manifests of the form `kind: Deployment` / `name: api` / `image: repo:tag` lines.
pub struct LineManifests;

fn reject(code: &str, message: &str) -> EditRejected {
    EditRejected {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn text(content: &[u8]) -> Result<&str, EditRejected> {
    std::str::from_utf8(content).map_err(|_| reject("invalid_yaml", "the file is not UTF-8"))
}

fn value<'a>(content: &'a str, key: &str) -> Option<&'a str> {
    content
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
}

impl Manifests for LineManifests {
    fn set_image(&self, content: &[u8], edit: &ImageEdit) -> Result<EditedManifest, EditRejected> {
        let content = text(content)?;
        let (mut out, mut old, mut new) = (String::new(), Vec::new(), Vec::new());
        for line in content.lines() {
            let replaced = line.strip_prefix("image: ").and_then(|img| {
                let current = ImageRef::parse(img).ok()?;
                if edit.image.as_ref().is_some_and(|want| !want.same_repository(&current)) {
                    return None;
                }
                let next = match &edit.change {
                    ImageChange::Tag { tag } => current.with_tag(tag.clone()),
                    ImageChange::Digest { digest } => current.with_digest(digest.clone()),
                    ImageChange::TagAndDigest { tag, digest } => {
                        current.with_tag_and_digest(tag.clone(), digest.clone())
                    }
                    ImageChange::None => current.clone(),
                };
                Some((current.to_string(), next.to_string()))
            });
            match replaced {
                Some((o, n)) => {
                    out.push_str(&format!("image: {n}\n"));
                    old.push(o);
                    new.push(n);
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if old.is_empty() {
            return Err(reject("no_matching_image", "no image of the file matches the request"));
        }
        Ok(EditedManifest {
            content: out.into_bytes(),
            old_images: old,
            new_images: new,
        })
    }

    fn set_restarted_at(&self, content: &[u8], at: &str) -> Result<EditedManifest, EditRejected> {
        let content = text(content)?;
        let mut out: String = content
            .lines()
            .filter(|l| !l.starts_with("restartedAt: "))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push_str(&format!("restartedAt: {at}\n"));
        let images = self.images(content.as_bytes())?;
        Ok(EditedManifest {
            content: out.into_bytes(),
            old_images: images.clone(),
            new_images: images,
        })
    }

    fn documents(&self, content: &[u8]) -> Result<Vec<serde_json::Value>, EditRejected> {
        let content = text(content)?;
        let kind = value(content, "kind").ok_or_else(|| reject("no_workload", "the file has no `kind`"))?;
        let name = value(content, "name").ok_or_else(|| reject("no_workload", "the file has no `name`"))?;
        Ok(vec![serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": { "name": name },
            "spec": { "image": value(content, "image") },
        })])
    }

    fn images(&self, content: &[u8]) -> Result<Vec<String>, EditRejected> {
        let content = text(content)?;
        Ok(content
            .lines()
            .filter_map(|l| l.strip_prefix("image: "))
            .map(str::to_owned)
            .collect())
    }
}

// ------------------------------------------------------------------------------------------
// Clusters
// ------------------------------------------------------------------------------------------

/// A cluster that accepts every apply, records it, and reports rollouts as done after a delay
/// (or once released, when gated).
pub struct MemCluster {
    name: String,
    delay: Mutex<Duration>,
    gate: Mutex<Option<Arc<Semaphore>>>,
    applied: Mutex<Vec<String>>,
    reachable: bool,
}

impl MemCluster {
    /// A reachable cluster whose rollouts take `delay`.
    pub fn new(name: &str, delay: Duration) -> Self {
        Self {
            name: name.to_owned(),
            delay: Mutex::new(delay),
            gate: Mutex::new(None),
            applied: Mutex::new(Vec::new()),
            reachable: true,
        }
    }

    /// Rollouts wait for a permit of the returned semaphore (none at first).
    pub fn gate(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        *lock(&self.gate) = Some(gate.clone());
        gate
    }

    /// The images applied, in order (dry runs excluded).
    pub fn applied(&self) -> Vec<String> {
        lock(&self.applied).clone()
    }
}

fn done(name: &str) -> WorkloadStatus {
    WorkloadStatus::Deployment {
        name: name.to_owned(),
        generation: 2,
        observed_generation: 2,
        desired: 1,
        replicas: 1,
        updated: 1,
        ready: 1,
        available: 1,
        progressing_reason: None,
        progress_deadline_seconds: Some(600),
    }
}

#[async_trait]
impl Cluster for MemCluster {
    fn default_namespace(&self) -> &str {
        "default"
    }

    async fn apply(
        &self,
        documents: &[serde_json::Value],
        options: ApplyOptions,
    ) -> Result<Vec<AppliedObject>, ClusterError> {
        let mut objects = Vec::new();
        for doc in documents {
            let name = doc
                .pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            if !options.dry_run {
                let image = doc.pointer("/spec/image").and_then(|v| v.as_str()).unwrap_or_default();
                lock(&self.applied).push(format!("{}:{image}", self.name));
            }
            objects.push(AppliedObject {
                kind: "Deployment".to_owned(),
                namespace: "default".to_owned(),
                name,
                generation: 2,
            });
        }
        Ok(objects)
    }

    async fn watch_rollout(
        &self,
        workload: &WorkloadRef,
        progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError> {
        let status = done(&workload.name);
        progress(
            &status,
            &RolloutVerdict::Waiting {
                message: "Waiting for rollout to finish".to_owned(),
            },
        );
        let gate = lock(&self.gate).clone();
        if let Some(gate) = gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
        let delay = *lock(&self.delay);
        tokio::time::sleep(delay).await;
        Ok(RolloutVerdict::Succeeded {
            message: format!("deployment \"{}\" successfully rolled out", workload.name),
        })
    }

    async fn workload_status(&self, workload: &WorkloadRef) -> Result<Option<WorkloadStatus>, ClusterError> {
        Ok(Some(done(&workload.name)))
    }

    async fn pod_issues(&self, _workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError> {
        Ok(Vec::new())
    }

    async fn reachable(&self) -> bool {
        self.reachable
    }
}

/// A fixed set of clusters.
#[derive(Default)]
pub struct MemClusters {
    clusters: BTreeMap<ClusterKey, Arc<MemCluster>>,
}

impl MemClusters {
    /// Adds a cluster.
    pub fn with(mut self, key: ClusterKey, cluster: Arc<MemCluster>) -> Self {
        self.clusters.insert(key, cluster);
        self
    }
}

impl ClusterDirectory for MemClusters {
    fn cluster(&self, key: &ClusterKey) -> Option<Arc<dyn Cluster>> {
        self.clusters.get(key).map(|c| c.clone() as Arc<dyn Cluster>)
    }

    fn keys(&self) -> Vec<ClusterKey> {
        self.clusters.keys().cloned().collect()
    }
}
