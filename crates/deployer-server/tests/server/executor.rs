//! The executor's writes: every phase is stored before the next step acts, and the phases on
//! either side of the apply share one write each.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::execute::{ExecSettings, Executor, NoNotifier, Ports};
use deployer_core::model::{
    ClusterKey, DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, EventKind, ImageChange, Method, Phase,
    PodIssue, Source, Status, Target,
};
use deployer_core::ports::{
    AppliedObject, ApplyOptions, Cluster, ClusterDirectory, ClusterError, DeploymentFilter, Inserted, PageRequest,
    ProgressFn, Store, StoreError, SystemClock, WorkloadRef,
};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};

use super::fakes::{LineManifests, MemCluster, MemStore};
use super::support::{World, target};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One write of a deployment: the phase stored and the kinds of the events written with it.
type Write = (Phase, Vec<EventKind>);

/// A store that keeps every update it is asked to write.
struct Recording {
    inner: Arc<MemStore>,
    writes: Mutex<Vec<Write>>,
}

#[async_trait]
impl Store for Recording {
    async fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        events: &[DeploymentEvent],
    ) -> Result<Inserted, StoreError> {
        self.inner.insert_deployment(record, events).await
    }

    async fn update_deployment(&self, record: &DeploymentRecord, events: &[DeploymentEvent]) -> Result<(), StoreError> {
        lock(&self.writes).push((record.phase, events.iter().map(|e| e.kind).collect()));
        self.inner.update_deployment(record, events).await
    }

    async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        self.inner.get_deployment(id).await
    }

    async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.inner.list_deployments(filter, page).await
    }

    async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.inner.unfinished_deployments().await
    }

    async fn last_deployment(
        &self,
        target: &Target,
        status: Option<Status>,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        self.inner.last_deployment(target, status).await
    }

    async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
        self.inner.events(id, after).await
    }
}

/// A cluster that notes, when asked to apply, what the store holds of the deployments then.
struct Witness {
    inner: Arc<MemCluster>,
    store: Arc<MemStore>,
    reachable: bool,
    at_apply: Mutex<Vec<(DeploymentRecord, Vec<EventKind>)>>,
}

#[async_trait]
impl Cluster for Witness {
    fn default_namespace(&self) -> &str {
        "default"
    }

    async fn apply(
        &self,
        documents: &[serde_json::Value],
        options: ApplyOptions,
    ) -> Result<Vec<AppliedObject>, ClusterError> {
        for record in self.store.unfinished_deployments().await.unwrap_or_default() {
            let events = self.store.events(record.id, 0).await.unwrap_or_default();
            lock(&self.at_apply).push((record, events.iter().map(|e| e.kind).collect()));
        }
        self.inner.apply(documents, options).await
    }

    async fn watch_rollout(
        &self,
        workload: &WorkloadRef,
        progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError> {
        self.inner.watch_rollout(workload, progress).await
    }

    async fn workload_status(&self, workload: &WorkloadRef) -> Result<Option<WorkloadStatus>, ClusterError> {
        self.inner.workload_status(workload).await
    }

    async fn pod_issues(&self, workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError> {
        self.inner.pod_issues(workload).await
    }

    async fn reachable(&self) -> bool {
        self.reachable
    }
}

/// One cluster.
struct One(Arc<Witness>, ClusterKey);

impl ClusterDirectory for One {
    fn cluster(&self, key: &ClusterKey) -> Option<Arc<dyn Cluster>> {
        (key == &self.1).then(|| self.0.clone() as Arc<dyn Cluster>)
    }

    fn keys(&self) -> Vec<ClusterKey> {
        vec![self.1.clone()]
    }
}

/// What one run of the executor left behind.
struct Ran {
    world: World,
    record: DeploymentRecord,
    writes: Vec<Write>,
    at_apply: Vec<(DeploymentRecord, Vec<EventKind>)>,
}

/// Stores a restart of `us-west-2/prod-1/api` and runs it to its end.
async fn run_restart(reachable: bool) -> Ran {
    let world = World::new(Duration::from_millis(1));
    let target = target("us-west-2", "prod-1", "api");
    let store = Arc::new(Recording {
        inner: world.store.clone(),
        writes: Mutex::new(Vec::new()),
    });
    let witness = Arc::new(Witness {
        inner: world.west.clone(),
        store: world.store.clone(),
        reachable,
        at_apply: Mutex::new(Vec::new()),
    });
    let ports = Ports {
        repo: world.repo.clone(),
        clusters: Arc::new(One(witness.clone(), target.cluster_key())),
        store: store.clone(),
        manifests: Arc::new(LineManifests),
        clock: Arc::new(SystemClock),
        notifier: Arc::new(NoNotifier),
    };
    let executor = Executor::new(
        ports,
        ExecSettings {
            progress_interval: Duration::from_millis(1),
            retries: 1,
            retry_base_delay: Duration::from_millis(1),
            ..ExecSettings::default()
        },
    );
    let request = DeployRequest {
        target,
        image: None,
        container: None,
        change: ImageChange::None,
        method: Method::Restart,
        reason: None,
        timeout: None,
        source: Source::default(),
        requested_by: "ci".to_owned(),
        idempotency_key: None,
        environment: None,
        force: false,
        rollback_of: None,
    };
    let now = chrono::Utc::now();
    let record = DeploymentRecord::accepted(DeploymentId::generate(now), request, now);
    let queued = DeploymentEvent::new(EventKind::Queued, &record, now);
    store
        .insert_deployment(&record, &[queued])
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"));
    let record = executor.run(record.id).await.unwrap_or_else(|e| panic!("run: {e}"));
    let writes = lock(&store.writes).clone();
    let at_apply = lock(&witness.at_apply).clone();
    Ran {
        world,
        record,
        writes,
        at_apply,
    }
}

#[tokio::test]
async fn a_deployment_is_written_once_per_step_with_the_phases_around_the_apply_sharing_a_write() {
    let ran = run_restart(true).await;
    assert_eq!(ran.record.status, Status::Succeeded, "{:?}", ran.record.failure);
    assert_eq!(
        ran.writes[..3],
        [
            (Phase::Committing, vec![]),
            (Phase::Applying, vec![EventKind::Committed]),
            (Phase::RollingOut, vec![EventKind::Applied]),
        ]
    );
    assert_eq!(ran.writes.last(), Some(&(Phase::Finished, vec![EventKind::Succeeded])));
    for (phase, events) in &ran.writes[3..ran.writes.len() - 1] {
        assert_eq!(
            (phase, events.as_slice()),
            (&Phase::RollingOut, [EventKind::Progress].as_slice())
        );
    }
    for phase in [
        "queued",
        "committing",
        "committed",
        "applying",
        "applied",
        "rolling_out",
        "finished",
    ] {
        assert!(ran.record.phase_times.contains_key(phase), "no time for {phase}");
    }
    let t = |p: &str| ran.record.phase_times[p];
    assert!(t("committing") <= t("committed") && t("committed") <= t("applying"));
    assert!(t("applying") <= t("applied") && t("applied") <= t("rolling_out"));
}

#[tokio::test]
async fn the_pushed_commit_and_its_event_are_stored_before_the_apply_starts() {
    let ran = run_restart(true).await;
    let [(stored, events)] = ran.at_apply.as_slice() else {
        panic!("expected one deployment at the apply, got {:?}", ran.at_apply);
    };
    assert_eq!(stored.phase, Phase::Applying);
    assert!(stored.commit_sha.is_some());
    assert_eq!(stored.commit_sha, ran.record.commit_sha);
    assert_eq!(events, &[EventKind::Queued, EventKind::Committed]);
    assert_eq!(ran.world.repo.subjects().len(), 1);
}

#[tokio::test]
async fn a_cluster_that_does_not_answer_gets_no_commit() {
    let ran = run_restart(false).await;
    assert_eq!(ran.record.status, Status::Failed);
    let failure = ran.record.failure.as_ref().map(|f| f.code.as_str());
    assert_eq!(failure, Some("cluster_unreachable"));
    assert!(ran.world.repo.subjects().is_empty(), "nothing may be committed");
    assert!(ran.at_apply.is_empty(), "nothing may be applied");
}
