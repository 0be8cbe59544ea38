//! The test service: the real router and queue over the in-memory ports, served on
//! `127.0.0.1:0`, and a client that speaks to it over HTTP.

use std::sync::Arc;
use std::time::Duration;

use deployer_core::execute::{ExecSettings, Executor, Ports};
use deployer_core::model::{AppFile, ClusterKey, ClusterName, DeploymentRecord, Region, Target};
use deployer_core::ports::{Store, SystemClock};
use deployer_server::auth::StaticTokens;
use deployer_server::config::Settings;
use deployer_server::{Dependencies, Hub, ServeError, Server, TriggerReloader};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fakes::{LineManifests, MemCluster, MemClusters, MemRepo, MemStore, MemTriggers, RecordingCallbacks};

/// The token of the `ci` caller.
pub const TOKEN: &str = "ci-token-0123456789abcdef";
/// The token of the `cli` caller, which may name the person it acts for.
pub const CLI_TOKEN: &str = "cli-token-0123456789abcdef";

/// A target of the fixture.
pub fn target(region: &str, cluster: &str, file: &str) -> Target {
    fn bad<T>(e: deployer_core::model::InvalidName) -> T {
        panic!("fixture target: {e}")
    }
    Target {
        region: Region::new(region).unwrap_or_else(bad),
        cluster: ClusterName::new(cluster).unwrap_or_else(bad),
        file: AppFile::new(file).unwrap_or_else(bad),
    }
}

/// The ports and what they recorded.
pub struct World {
    pub store: Arc<MemStore>,
    /// Triggers, releases and pins.
    pub triggers: Arc<MemTriggers>,
    pub repo: Arc<MemRepo>,
    /// `us-west-2/prod-1`.
    pub west: Arc<MemCluster>,
    /// `eu-west-1/prod-2`.
    pub eu: Arc<MemCluster>,
    /// `eu-west-1/stage-1`, only in the triggers world.
    pub stage: Option<Arc<MemCluster>>,
}

impl World {
    /// Two clusters; `api` and `web` on the first, `api` on the second, all at `v1`.
    pub fn new(rollout: Duration) -> Self {
        let repo = MemRepo::default();
        for (path, name) in [
            ("us-west-2/prod-1/apps/api.yaml", "api"),
            ("us-west-2/prod-1/apps/web.yaml", "web"),
            ("eu-west-1/prod-2/apps/api.yaml", "api"),
        ] {
            repo.put(
                path,
                &format!("kind: Deployment\nname: {name}\nimage: registry.example.com/team/{name}:v1\n"),
            );
        }
        Self {
            store: Arc::new(MemStore::default()),
            triggers: Arc::new(MemTriggers::default()),
            repo: Arc::new(repo),
            west: Arc::new(MemCluster::new("us-west-2/prod-1", rollout)),
            eu: Arc::new(MemCluster::new("eu-west-1/prod-2", rollout)),
            stage: None,
        }
    }

    /// Three clusters for triggers: `eu-west-1/stage-1`, `us-west-2/prod-1` and
    /// `eu-west-1/prod-2`, each with `api` at `acme/api:1.4.1` (Docker Hub); the staging
    /// cluster also has one file per other registry of the webhook samples (`quay`, `ghcr`,
    /// `harbor`, `registry`), each at `1.4.1`.
    pub fn for_triggers(rollout: Duration) -> Self {
        let repo = MemRepo::default();
        let file = |name: &str, image: &str| format!("kind: Deployment\nname: {name}\nimage: {image}:1.4.1\n");
        for cluster in ["eu-west-1/stage-1", "us-west-2/prod-1", "eu-west-1/prod-2"] {
            repo.put(&format!("{cluster}/apps/api.yaml"), &file("api", "acme/api"));
        }
        for (name, image) in [
            ("quay", "quay.io/acme/api"),
            ("ghcr", "ghcr.io/acme/api"),
            ("harbor", "harbor.example.com/acme/api"),
            ("registry", "registry.example.com/acme/api"),
        ] {
            repo.put(&format!("eu-west-1/stage-1/apps/{name}.yaml"), &file(name, image));
        }
        Self {
            store: Arc::new(MemStore::default()),
            triggers: Arc::new(MemTriggers::default()),
            repo: Arc::new(repo),
            west: Arc::new(MemCluster::new("us-west-2/prod-1", rollout)),
            eu: Arc::new(MemCluster::new("eu-west-1/prod-2", rollout)),
            stage: Some(Arc::new(MemCluster::new("eu-west-1/stage-1", rollout))),
        }
    }
}

/// A running service.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub world: World,
    /// Reloads the `[triggers]` section of the running service.
    pub reloader: TriggerReloader,
    /// The Docker Hub callback URLs acknowledged.
    pub callbacks: Arc<RecordingCallbacks>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Settings for tests: short waits and keep-alives.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.sse_keep_alive = Duration::from_millis(200);
    settings.server.shutdown_grace = Duration::from_secs(2);
    settings.queue.shutdown_deadline = Duration::from_secs(2);
    settings
}

impl TestServer {
    /// Serves with default test settings and rollouts of `rollout`.
    pub async fn start(rollout: Duration) -> Self {
        Self::start_with(World::new(rollout), test_settings()).await
    }

    /// Serves `world` with `settings`.
    pub async fn start_with(world: World, settings: Settings) -> Self {
        let hub = Arc::new(Hub::new());
        let west = ClusterKey {
            region: target("us-west-2", "prod-1", "x").region,
            cluster: target("us-west-2", "prod-1", "x").cluster,
        };
        let eu = ClusterKey {
            region: target("eu-west-1", "prod-2", "x").region,
            cluster: target("eu-west-1", "prod-2", "x").cluster,
        };
        let mut clusters = MemClusters::default()
            .with(west, world.west.clone())
            .with(eu, world.eu.clone());
        if let Some(stage) = &world.stage {
            let key = target("eu-west-1", "stage-1", "x").cluster_key();
            clusters = clusters.with(key, stage.clone());
        }
        let clusters = Arc::new(clusters);
        let manifests = Arc::new(LineManifests);
        let ports = Ports {
            repo: world.repo.clone(),
            clusters: clusters.clone(),
            store: world.store.clone(),
            manifests: manifests.clone(),
            clock: Arc::new(SystemClock),
            notifier: hub.clone(),
        };
        let exec = ExecSettings {
            progress_interval: Duration::from_millis(5),
            retries: 1,
            ..ExecSettings::default()
        };
        let deps = Dependencies {
            engine: Arc::new(Executor::new(ports, exec)),
            store: world.store.clone(),
            repo: world.repo.clone(),
            clusters,
            manifests,
            authenticator: Arc::new(
                StaticTokens::new()
                    .with("ci", TOKEN, false)
                    .with("cli", CLI_TOKEN, true),
            ),
            hub,
            clock: Arc::new(SystemClock),
            triggers: world.triggers.clone(),
            releases: world.triggers.clone(),
            pins: world.triggers.clone(),
        };
        let callbacks = Arc::new(RecordingCallbacks::default());
        let server = Server::start(deps, settings)
            .await
            .unwrap_or_else(|e| panic!("start: {e}"))
            .with_callbacks(callbacks.clone());
        let reloader = server.trigger_reloader();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            world,
            reloader,
            callbacks,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/v1/deployments` with the `ci` token.
    pub async fn deploy(&self, body: &Value) -> reqwest::Response {
        self.post("/api/v1/deployments", body).await
    }

    /// POST with the `ci` token.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// GET with the `ci` token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET with the `ci` token, as JSON, asserting the status.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let response = self.get(path).await;
        json_of(response, status).await
    }

    /// Deploys and returns the new deployment's id (asserting a 202).
    pub async fn deploy_id(&self, body: &Value) -> String {
        let accepted = json_of(self.deploy(body).await, 202).await;
        accepted["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {accepted}"))
            .to_owned()
    }

    /// Waits until a deployment has ended and returns its record.
    pub async fn finished(&self, id: &str) -> DeploymentRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let parsed = id.parse().unwrap_or_else(|e| panic!("id {id}: {e}"));
            let record = self.world.store.get_deployment(parsed).await.ok().flatten();
            if let Some(r) = record.filter(|r| r.status.is_terminal()) {
                return r;
            }
            assert!(tokio::time::Instant::now() < deadline, "deployment {id} did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let result = handle.await.unwrap_or_else(|e| panic!("server task: {e}"));
            result.unwrap_or_else(|e| panic!("server: {e}"));
        }
    }
}

/// The JSON body of a response, asserting its status.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|e| panic!("body: {e}"));
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A deploy request body for `api` on `us-west-2/prod-1`.
pub fn api_body(tag: &str) -> Value {
    serde_json::json!({ "region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": tag })
}
