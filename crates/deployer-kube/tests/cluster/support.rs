//! Shared set-up: a simulated cluster, a `KubeCluster` connected to it through a kubeconfig
//! file, fixtures and a progress recorder.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deployer_core::model::{ClusterName, Region};
use deployer_core::ports::{Cluster, ClusterError, ProgressFn, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};
use deployer_kube::{ClusterSettings, KubeCluster};
use kube_sim::server::{SimCluster, SimOptions};
use serde_json::Value;
use tempfile::TempDir;

/// What every test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The longest a rollout may take in these tests (the fast profile needs well under 2 s).
pub const ROLLOUT_LIMIT: Duration = Duration::from_secs(20);

/// A simulated cluster and our adapter connected to it.
pub struct Harness {
    /// The simulated cluster.
    pub sim: SimCluster,
    /// The adapter under test.
    pub cluster: KubeCluster,
    /// The kubeconfig file the adapter was built from.
    pub kubeconfig: PathBuf,
    /// Keeps the kubeconfig's directory alive.
    pub _dir: TempDir,
}

impl Harness {
    /// A plain-HTTP simulated cluster with the fast profile.
    pub async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_with(SimOptions::named("sim-a")).await
    }

    /// A simulated cluster with these options.
    pub async fn start_with(options: SimOptions) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_tuned(options, |_| {}).await
    }

    /// A simulated cluster with these options, and the adapter's settings changed by `tune`.
    pub async fn start_tuned(
        options: SimOptions,
        tune: impl FnOnce(&mut ClusterSettings),
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let sim = SimCluster::start(options).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig())?;
        let mut settings = settings(kubeconfig.clone());
        tune(&mut settings);
        let cluster = KubeCluster::connect(&settings, 0, None).await?;
        Ok(Self {
            sim,
            cluster,
            kubeconfig,
            _dir: dir,
        })
    }

    /// A plain kube client for looking at the cluster the way a bystander would.
    pub async fn kube_client(&self) -> Result<kube::Client, Box<dyn std::error::Error>> {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.sim.kubeconfig())?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Watches `workload` with a time limit, recording every verdict.
    pub async fn watch(&self, workload: &WorkloadRef, recorder: &Recorder) -> Result<RolloutVerdict, ClusterError> {
        let progress = recorder.callback();
        match tokio::time::timeout(ROLLOUT_LIMIT, self.cluster.watch_rollout(workload, &*progress)).await {
            Ok(result) => result,
            Err(_) => Err(ClusterError::Internal {
                message: format!("rollout still going after {ROLLOUT_LIMIT:?}"),
            }),
        }
    }
}

/// Settings for a cluster reached through `kubeconfig`, with a short request timeout.
pub fn settings(kubeconfig: PathBuf) -> ClusterSettings {
    let mut s = ClusterSettings::with_kubeconfig(region(), cluster_name(), kubeconfig);
    s.request_timeout = Duration::from_secs(5);
    s
}

/// The test region.
pub fn region() -> Region {
    Region::new("eu-west-1").unwrap_or_else(|e| panic!("the test region is valid: {e}"))
}

/// The test cluster name.
pub fn cluster_name() -> ClusterName {
    ClusterName::new("sim-a").unwrap_or_else(|e| panic!("the test cluster name is valid: {e}"))
}

/// The documents of a fixture file.
pub fn fixture(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {} is readable: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("fixture {name} is valid YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `web-app.yaml` with the Deployment's image (and optionally its progress deadline) replaced.
pub fn web_app(image: &str, progress_deadline_seconds: Option<i64>) -> Vec<Value> {
    let mut documents = fixture("web-app.yaml");
    for document in &mut documents {
        if document["kind"] == "Deployment" {
            document["spec"]["template"]["spec"]["containers"][0]["image"] = Value::from(image);
            if let Some(seconds) = progress_deadline_seconds {
                document["spec"]["progressDeadlineSeconds"] = Value::from(seconds);
            }
        }
    }
    documents
}

/// The Deployment `web` in `default`.
pub fn web() -> WorkloadRef {
    WorkloadRef {
        kind: "Deployment".to_owned(),
        namespace: "default".to_owned(),
        name: "web".to_owned(),
    }
}

/// Records every rollout observation.
#[derive(Default, Clone)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<(WorkloadStatus, RolloutVerdict)>>>,
}

impl Recorder {
    /// The callback to hand to `watch_rollout`.
    pub fn callback(&self) -> Box<ProgressFn> {
        let seen = Arc::clone(&self.seen);
        Box::new(move |status, verdict| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((status.clone(), verdict.clone()));
            }
        })
    }

    /// Every observation so far.
    pub fn seen(&self) -> Vec<(WorkloadStatus, RolloutVerdict)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Applies `documents` and waits for `web` to roll out successfully.
pub async fn deploy(harness: &Harness, documents: &[Value]) -> TestResult {
    harness.cluster.apply(documents, Default::default()).await?;
    let verdict = harness.watch(&web(), &Recorder::default()).await?;
    assert!(
        matches!(verdict, RolloutVerdict::Succeeded { .. }),
        "the rollout should succeed: {verdict:?}"
    );
    Ok(())
}
