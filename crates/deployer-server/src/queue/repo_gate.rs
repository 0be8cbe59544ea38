//! Holding deployments back while the configuration repository is unreachable.
//!
//! Every step of a deployment but the rollout watch reads the tip of the configuration
//! branch, so a deployment started while the remote is down fails at once with
//! `repo_unavailable`. [`RepoGate`] wraps the [`Engine`] the queue runs: before a deployment
//! runs, it checks that the repository answers (one [`ConfigRepo::probe`], shared by every
//! waiting deployment and reused for [`PROBE_REUSE`]); while it does not, the deployment waits, re-checking every
//! [`PROBE_INTERVAL`], so that it starts within about a second of the remote's return. A
//! deployment that has waited `repo_wait` runs anyway, and fails saying the repository is
//! unavailable.
//!
//! Under steady load the check never holds deployments up: while the last check succeeded less
//! than [`PROBE_TRUST`] ago, deployments start at once and an older one is renewed in the
//! background, so an outage is still noticed within about [`PROBE_REUSE`] of traffic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deployer_core::error::DeployError;
use deployer_core::model::{DeployRequest, DeploymentId, DeploymentRecord};
use deployer_core::ports::{ConfigRepo, RepoError, Store};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::engine::Engine;

/// How long a successful check is trusted without renewing it.
pub const PROBE_REUSE: Duration = Duration::from_millis(500);
/// How long a successful check lets deployments start while a renewal runs in the background.
pub const PROBE_TRUST: Duration = Duration::from_secs(5);
/// How often a waiting deployment checks again.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The last check of the repository.
#[derive(Debug, Clone, Copy)]
struct Probe {
    at: Instant,
    reachable: bool,
}

/// An [`Engine`] that starts deployments only while the configuration repository answers.
pub struct RepoGate {
    inner: Arc<dyn Engine>,
    repo: Arc<dyn ConfigRepo>,
    store: Arc<dyn Store>,
    wait: Duration,
    /// The last check, read without waiting.
    last: Arc<std::sync::Mutex<Option<Probe>>>,
    /// The file the last check was made for, for renewals that need no record.
    last_path: std::sync::Mutex<Option<String>>,
    /// Held while a check runs, so that one runs at a time.
    probing: Arc<Mutex<()>>,
}

/// Whether a repository answer means "the remote is unreachable".
fn unreachable(result: &Result<(), RepoError>) -> bool {
    matches!(result, Err(e) if e.retryable())
}

impl RepoGate {
    /// Wraps `inner`; a deployment waits at most `wait` for the repository.
    pub fn new(inner: Arc<dyn Engine>, repo: Arc<dyn ConfigRepo>, store: Arc<dyn Store>, wait: Duration) -> Self {
        Self {
            inner,
            repo,
            store,
            wait,
            last: Arc::new(std::sync::Mutex::new(None)),
            last_path: std::sync::Mutex::new(None),
            probing: Arc::new(Mutex::new(())),
        }
    }

    fn last(&self) -> Option<Probe> {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a deployment may start without reading its record: a recent success answers
    /// (renewed in the background, for the file of the last check, once older than
    /// [`PROBE_REUSE`]). Otherwise the record is read and the deployment goes through
    /// [`RepoGate::wait_for_repo`].
    fn recently_reachable(&self) -> bool {
        match self.last() {
            Some(probe) if probe.reachable && probe.at.elapsed() < PROBE_REUSE => true,
            Some(probe) if probe.reachable && probe.at.elapsed() < PROBE_TRUST => {
                let path = self
                    .last_path
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                match path {
                    Some(path) => {
                        self.renew_in_background(&path);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Whether the repository answers a probe, checking at most once per [`PROBE_REUSE`] (and
    /// once at a time) whoever asks. A success younger than [`PROBE_TRUST`] answers at once
    /// and, once older than [`PROBE_REUSE`], is renewed in the background.
    async fn reachable(&self, path: &str) -> bool {
        let asked = Instant::now();
        match self.last() {
            Some(probe) if probe.at.elapsed() < PROBE_REUSE => return probe.reachable,
            Some(probe) if probe.reachable && probe.at.elapsed() < PROBE_TRUST => {
                self.renew_in_background(path);
                return true;
            }
            _ => {}
        }
        let _probing = self.probing.lock().await;
        // A check that started after this call began answers for it too.
        if let Some(probe) = self.last()
            && probe.at >= asked
        {
            return probe.reachable;
        }
        check(self.repo.as_ref(), &self.last, path).await
    }

    /// Starts a check unless one is running.
    fn renew_in_background(&self, path: &str) {
        let Ok(probing) = Arc::clone(&self.probing).try_lock_owned() else {
            return;
        };
        let (repo, last, path) = (Arc::clone(&self.repo), Arc::clone(&self.last), path.to_owned());
        tokio::spawn(async move {
            let _probing = probing;
            check(repo.as_ref(), &last, &path).await;
        });
    }

    /// Waits until the repository answers or `self.wait` passed; returns whether it answers.
    async fn wait_for_repo(&self, record: &DeploymentRecord) -> bool {
        let [path, _] = record.request.target.candidate_paths();
        *self.last_path.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(path.clone());
        let deadline = Instant::now() + self.wait;
        let mut logged = false;
        loop {
            if self.reachable(&path).await {
                if logged {
                    tracing::info!(message = "Configuration repository reachable again; deployment goes on.", deployment_id = %record.id);
                }
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if !logged {
                tracing::warn!(message = "Configuration repository unreachable; deployment waits for it.", deployment_id = %record.id, wait_max = ?self.wait);
                logged = true;
            }
            tokio::time::sleep(PROBE_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }
}

/// Probes the remote (see [`ConfigRepo::probe`]: it does not hold up commits) and records
/// whether it answered.
async fn check(repo: &dyn ConfigRepo, last: &std::sync::Mutex<Option<Probe>>, path: &str) -> bool {
    let started = Instant::now();
    let reachable = !unreachable(&repo.probe(path).await);
    *last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Probe { at: started, reachable });
    reachable
}

#[async_trait]
impl Engine for RepoGate {
    async fn validate(&self, request: &DeployRequest) -> Result<(), DeployError> {
        self.inner.validate(request).await
    }

    async fn run(&self, id: DeploymentId) -> Result<DeploymentRecord, DeployError> {
        // Under steady traffic the check answers from memory: the record is read only when the
        // deployment may have to wait.
        if !self.recently_reachable()
            && let Some(record) = self.store.get_deployment(id).await?
        {
            self.hold_for_repo(&record).await;
        }
        self.inner.run(id).await
    }

    async fn carry(&self, record: DeploymentRecord) -> Result<DeploymentRecord, DeployError> {
        if !self.recently_reachable() {
            self.hold_for_repo(&record).await;
        }
        self.inner.carry(record).await
    }
}

impl RepoGate {
    /// Holds an unfinished deployment until the repository answers or its wait is over.
    async fn hold_for_repo(&self, record: &DeploymentRecord) {
        if !record.status.is_terminal() && !self.wait_for_repo(record).await {
            tracing::warn!(message = "Configuration repository still unreachable; running the deployment anyway.", deployment_id = %record.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use deployer_core::model::Status;
    use deployer_core::model::{DeploymentEvent, Target};
    use deployer_core::ports::{
        CommitOutcome, CommitSpec, DeploymentFilter, FileEdit, Inserted, PageRequest, RepoFile, StoreError,
    };

    use super::*;

    /// A repository whose remote is up or down, counting fetches.
    #[derive(Default)]
    struct Remote {
        down: AtomicBool,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl ConfigRepo for Remote {
        async fn read_file(&self, _: &str, refresh: bool) -> Result<Option<RepoFile>, RepoError> {
            if refresh {
                self.fetches.fetch_add(1, Ordering::SeqCst);
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(RepoError::Unavailable {
                    message: "connection refused".to_owned(),
                });
            }
            Ok(None)
        }
        async fn list_app_files(&self) -> Result<Vec<String>, RepoError> {
            Ok(Vec::new())
        }
        async fn commit_edit(&self, _: &CommitSpec, _: Arc<dyn FileEdit>) -> Result<CommitOutcome, RepoError> {
            Err(RepoError::Internal {
                message: "not used".to_owned(),
            })
        }
        async fn find_commit_with_trailer(&self, _: &str, _: &str) -> Result<Option<String>, RepoError> {
            Ok(None)
        }
    }

    /// A store holding one queued deployment, counting reads of it.
    struct OneRecord(DeploymentRecord, AtomicUsize);

    impl OneRecord {
        fn new(record: DeploymentRecord) -> Self {
            Self(record, AtomicUsize::new(0))
        }
    }

    #[async_trait]
    impl Store for OneRecord {
        async fn insert_deployment(&self, _: &DeploymentRecord, _: &[DeploymentEvent]) -> Result<Inserted, StoreError> {
            Ok(Inserted::New)
        }
        async fn update_deployment(&self, _: &DeploymentRecord, _: &[DeploymentEvent]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn get_deployment(&self, _: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(Some(self.0.clone()))
        }
        async fn list_deployments(
            &self,
            _: &DeploymentFilter,
            _: &PageRequest,
        ) -> Result<Vec<DeploymentRecord>, StoreError> {
            Ok(Vec::new())
        }
        async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
            Ok(Vec::new())
        }
        async fn last_deployment(&self, _: &Target, _: Option<Status>) -> Result<Option<DeploymentRecord>, StoreError> {
            Ok(None)
        }
        async fn events(&self, _: DeploymentId, _: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
            Ok(Vec::new())
        }
    }

    /// An engine that records when it ran.
    struct Runs(std::sync::Mutex<Vec<Instant>>, DeploymentRecord);

    impl Runs {
        /// When it ran, in order.
        fn times(&self) -> Vec<Instant> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
        }
    }

    #[async_trait]
    impl Engine for Runs {
        async fn validate(&self, _: &DeployRequest) -> Result<(), DeployError> {
            Ok(())
        }
        async fn run(&self, _: DeploymentId) -> Result<DeploymentRecord, DeployError> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Instant::now());
            Ok(self.1.clone())
        }
    }

    fn queued() -> DeploymentRecord {
        let request = DeployRequest {
            target: "r/c/api".parse().unwrap_or_else(|e| panic!("{e}")),
            image: None,
            container: None,
            change: deployer_core::model::ImageChange::None,
            method: deployer_core::model::Method::Restart,
            reason: None,
            timeout: None,
            source: deployer_core::model::Source::default(),
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: None,
            force: false,
            rollback_of: None,
        };
        let now = chrono::Utc::now();
        DeploymentRecord::accepted(DeploymentId::generate(now), request, now)
    }

    fn gate(remote: &Arc<Remote>, wait: Duration) -> (RepoGate, Arc<Runs>) {
        let record = queued();
        let runs = Arc::new(Runs(std::sync::Mutex::new(Vec::new()), record.clone()));
        let gate = RepoGate::new(runs.clone(), remote.clone(), Arc::new(OneRecord::new(record)), wait);
        (gate, runs)
    }

    /// Brings the remote back after `after`.
    fn back_after(remote: &Arc<Remote>, after: Duration) -> tokio::task::JoinHandle<()> {
        let remote = remote.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            remote.down.store(false, Ordering::SeqCst);
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_waits_for_the_repository_and_starts_soon_after_it_returns() {
        let remote = Arc::new(Remote::default());
        remote.down.store(true, Ordering::SeqCst);
        let (gate, runs) = gate(&remote, Duration::from_secs(300));
        let started = Instant::now();
        let back = back_after(&remote, Duration::from_secs(30));
        let id = DeploymentId::generate(chrono::Utc::now());
        assert!(gate.run(id).await.is_ok());
        let _ = back.await;
        let ran = runs.times();
        assert_eq!(ran.len(), 1);
        let waited = ran[0] - started;
        assert!(
            waited >= Duration::from_secs(30) && waited <= Duration::from_secs(32),
            "waited {waited:?}"
        );
        assert!(remote.fetches.load(Ordering::SeqCst) <= 33);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_handed_over_with_its_record_waits_for_the_repository_too() {
        let remote = Arc::new(Remote::default());
        remote.down.store(true, Ordering::SeqCst);
        let (gate, runs) = gate(&remote, Duration::from_secs(300));
        let started = Instant::now();
        let back = back_after(&remote, Duration::from_secs(20));
        assert!(gate.carry(queued()).await.is_ok());
        let _ = back.await;
        let ran = runs.times();
        assert_eq!(ran.len(), 1);
        let waited = ran[0] - started;
        assert!(
            waited >= Duration::from_secs(20) && waited <= Duration::from_secs(22),
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deployment_runs_anyway_once_its_wait_is_over() {
        let remote = Arc::new(Remote::default());
        remote.down.store(true, Ordering::SeqCst);
        let (gate, runs) = gate(&remote, Duration::from_secs(5));
        let started = Instant::now();
        let id = DeploymentId::generate(chrono::Utc::now());
        assert!(gate.run(id).await.is_ok());
        let ran = runs.times();
        assert_eq!(ran.len(), 1);
        assert!(ran[0] - started <= Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_recent_success_lets_deployments_start_at_once_and_its_renewal_notices_an_outage() {
        let remote = Arc::new(Remote::default());
        let (gate, runs) = gate(&remote, Duration::from_secs(60));
        assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        remote.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a recent success must not hold it up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            remote.fetches.load(Ordering::SeqCst),
            2,
            "renewed once, in the background"
        );

        // The renewal saw the outage: the next deployment waits for the remote's return.
        let back = {
            let remote = remote.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                remote.down.store(false, Ordering::SeqCst);
            })
        };
        let started = Instant::now();
        assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        let _ = back.await;
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(runs.times().len(), 3);
    }

    /// A repository that answers probes without fetching, counting both.
    #[derive(Default)]
    struct Probed {
        fetches: AtomicUsize,
        probes: AtomicUsize,
    }

    #[async_trait]
    impl ConfigRepo for Probed {
        async fn read_file(&self, _: &str, refresh: bool) -> Result<Option<RepoFile>, RepoError> {
            if refresh {
                self.fetches.fetch_add(1, Ordering::SeqCst);
            }
            Ok(None)
        }
        async fn list_app_files(&self) -> Result<Vec<String>, RepoError> {
            Ok(Vec::new())
        }
        async fn commit_edit(&self, _: &CommitSpec, _: Arc<dyn FileEdit>) -> Result<CommitOutcome, RepoError> {
            Err(RepoError::Internal {
                message: "not used".to_owned(),
            })
        }
        async fn find_commit_with_trailer(&self, _: &str, _: &str) -> Result<Option<String>, RepoError> {
            Ok(None)
        }
        async fn probe(&self, _: &str) -> Result<(), RepoError> {
            self.probes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_checks_with_the_repositorys_probe_and_never_fetches() {
        let remote = Arc::new(Probed::default());
        let record = queued();
        let runs = Arc::new(Runs(std::sync::Mutex::new(Vec::new()), record.clone()));
        let gate = RepoGate::new(
            runs.clone(),
            remote.clone(),
            Arc::new(OneRecord::new(record)),
            Duration::from_secs(5),
        );
        for _ in 0..3 {
            assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
            // Older than the reuse window: the next deployment renews the check.
            tokio::time::sleep(PROBE_REUSE + Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(remote.fetches.load(Ordering::SeqCst), 0, "a check must not fetch");
        assert_eq!(remote.probes.load(Ordering::SeqCst), 3);
        assert_eq!(runs.times().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn deployments_after_a_recent_success_start_without_reading_their_record() {
        let remote = Arc::new(Remote::default());
        let record = queued();
        let runs = Arc::new(Runs(std::sync::Mutex::new(Vec::new()), record.clone()));
        let store = Arc::new(OneRecord::new(record));
        let gate = RepoGate::new(runs.clone(), remote.clone(), store.clone(), Duration::from_secs(5));
        for _ in 0..5 {
            assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        }
        assert_eq!(
            store.1.load(Ordering::SeqCst),
            1,
            "only the first one waits for a check"
        );
        // Past the reuse window the check is renewed in the background, still without a read.
        tokio::time::sleep(PROBE_REUSE + Duration::from_millis(10)).await;
        assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(store.1.load(Ordering::SeqCst), 1);
        assert_eq!(remote.fetches.load(Ordering::SeqCst), 2);
        // Past the trust window the deployment waits for a new check, which needs its record.
        remote.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(PROBE_TRUST).await;
        assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        assert!(store.1.load(Ordering::SeqCst) >= 2);
        assert_eq!(runs.times().len(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reachable_repository_is_checked_once_for_many_deployments() {
        let remote = Arc::new(Remote::default());
        let (gate, runs) = gate(&remote, Duration::from_secs(5));
        for _ in 0..10 {
            assert!(gate.run(DeploymentId::generate(chrono::Utc::now())).await.is_ok());
        }
        assert_eq!(runs.times().len(), 10);
        assert_eq!(remote.fetches.load(Ordering::SeqCst), 1);
    }
}
