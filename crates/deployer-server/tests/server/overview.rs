//! What the web UI's pages are built from: `GET /api/v1/whoami` (who the caller is and what its
//! token may do) and `GET /api/v1/clusters` with each application's live rollout state from
//! its cluster, its last deployment and the caller's actions, including clusters that answer
//! slowly or not at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deployer_auth::Scopes;
use deployer_core::execute::{ExecSettings, Executor, Ports};
use deployer_core::model::{ClusterKey, PodIssue};
use deployer_core::ports::{
    AppliedObject, ApplyOptions, Cluster, ClusterDirectory, ClusterError, ProgressFn, SystemClock, WorkloadRef,
};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};
use deployer_server::auth::StaticTokens;
use deployer_server::config::{Settings, TriggerConfig};
use deployer_server::{Dependencies, Hub, Server};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::fakes::{LineManifests, MemRepo, MemStore, MemTriggers};
use super::openapi::{check, document};
use super::support::{target, test_settings};

/// `admin:*`.
const ADMIN: &str = "overview-admin-0123456789";
/// `read:*`.
const READER: &str = "overview-reader-0123456789";
/// `read:*` and `deploy:production/us-west-2/*/api`.
const NARROW: &str = "overview-narrow-0123456789";

/// How a scripted cluster answers the reachability probe.
#[derive(Clone, Copy)]
enum Probe {
    Answers,
    Hangs,
}

/// How a scripted cluster answers for one workload.
#[derive(Clone)]
enum Reply {
    Status(WorkloadStatus),
    Missing,
    Hangs,
}

/// A cluster whose probe and workload statuses are scripted; applies succeed at once.
struct Scripted {
    probe: Probe,
    replies: HashMap<String, Reply>,
}

impl Scripted {
    fn new(probe: Probe, replies: &[(&str, Reply)]) -> Arc<Self> {
        Arc::new(Self {
            probe,
            replies: replies.iter().map(|(n, r)| ((*n).to_owned(), r.clone())).collect(),
        })
    }
}

fn deployment(name: &str, desired: i64, updated: i64, ready: i64) -> WorkloadStatus {
    WorkloadStatus::Deployment {
        name: name.to_owned(),
        generation: 4,
        observed_generation: 4,
        desired,
        replicas: desired.max(updated),
        updated,
        ready,
        available: ready,
        progressing_reason: None,
        progress_deadline_seconds: Some(600),
    }
}

#[async_trait]
impl Cluster for Scripted {
    fn default_namespace(&self) -> &str {
        "shop"
    }

    async fn apply(
        &self,
        documents: &[serde_json::Value],
        _options: ApplyOptions,
    ) -> Result<Vec<AppliedObject>, ClusterError> {
        Ok(documents
            .iter()
            .map(|d| AppliedObject {
                kind: "Deployment".to_owned(),
                namespace: "shop".to_owned(),
                name: d
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                generation: 4,
            })
            .collect())
    }

    async fn watch_rollout(
        &self,
        workload: &WorkloadRef,
        _progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError> {
        Ok(RolloutVerdict::Succeeded {
            message: format!("deployment \"{}\" successfully rolled out", workload.name),
        })
    }

    async fn workload_status(&self, workload: &WorkloadRef) -> Result<Option<WorkloadStatus>, ClusterError> {
        match self.replies.get(&workload.name) {
            Some(Reply::Status(s)) => Ok(Some(s.clone())),
            Some(Reply::Missing) | None => Ok(None),
            Some(Reply::Hangs) => std::future::pending().await,
        }
    }

    async fn pod_issues(&self, _workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError> {
        Ok(Vec::new())
    }

    async fn reachable(&self) -> bool {
        match self.probe {
            Probe::Answers => true,
            Probe::Hangs => std::future::pending().await,
        }
    }
}

struct Directory(BTreeMap<ClusterKey, Arc<Scripted>>);

impl ClusterDirectory for Directory {
    fn cluster(&self, key: &ClusterKey) -> Option<Arc<dyn Cluster>> {
        self.0.get(key).map(|c| c.clone() as Arc<dyn Cluster>)
    }

    fn keys(&self) -> Vec<ClusterKey> {
        self.0.keys().cloned().collect()
    }
}

fn key(region: &str, cluster: &str) -> ClusterKey {
    target(region, cluster, "x").cluster_key()
}

fn scopes(text: &str) -> Scopes {
    text.parse().unwrap_or_else(|e| panic!("scopes {text}: {e}"))
}

/// The service of these tests:
/// - `us-west-2/prod-1` (production) answers: `api` rolled out 3/3, `web` half-way (1 of 3
///   updated), `worker` not in the cluster;
/// - `eu-west-1/prod-2` (production) never answers its probe;
/// - `eu-west-1/stage-1` answers the probe, then never reports `api`'s status;
/// - `ap-south-1/edge-1` is only in the repository (no credentials).
struct Bed {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Bed {
    async fn start() -> Self {
        let repo = MemRepo::default();
        for (cluster, name) in [
            ("us-west-2/prod-1", "api"),
            ("us-west-2/prod-1", "web"),
            ("us-west-2/prod-1", "worker"),
            ("eu-west-1/prod-2", "api"),
            ("eu-west-1/stage-1", "api"),
            ("ap-south-1/edge-1", "api"),
        ] {
            repo.put(
                &format!("{cluster}/apps/{name}.yaml"),
                &format!("kind: Deployment\nname: {name}\nimage: registry.example.com/team/{name}:v1\n"),
            );
        }
        let repo = Arc::new(repo);
        let mut clusters = BTreeMap::new();
        clusters.insert(
            key("us-west-2", "prod-1"),
            Scripted::new(
                Probe::Answers,
                &[
                    ("api", Reply::Status(deployment("api", 3, 3, 3))),
                    ("web", Reply::Status(deployment("web", 3, 1, 2))),
                    ("worker", Reply::Missing),
                ],
            ),
        );
        clusters.insert(
            key("eu-west-1", "prod-2"),
            Scripted::new(Probe::Hangs, &[("api", Reply::Status(deployment("api", 3, 3, 3)))]),
        );
        clusters.insert(
            key("eu-west-1", "stage-1"),
            Scripted::new(Probe::Answers, &[("api", Reply::Hangs)]),
        );
        let clusters = Arc::new(Directory(clusters));
        let store = Arc::new(MemStore::default());
        let triggers = Arc::new(MemTriggers::default());
        let hub = Arc::new(Hub::new());
        let manifests = Arc::new(LineManifests);
        let ports = Ports {
            repo: repo.clone(),
            clusters: clusters.clone(),
            store: store.clone(),
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
            store,
            repo,
            clusters,
            manifests,
            authenticator: Arc::new(
                StaticTokens::new()
                    .with_scopes("admin", ADMIN, false, scopes("admin:*"))
                    .with_scopes("reader", READER, false, scopes("read:*"))
                    .with_scopes(
                        "narrow",
                        NARROW,
                        false,
                        scopes("read:* deploy:production/us-west-2/*/api"),
                    ),
            ),
            hub,
            clock: Arc::new(SystemClock),
            triggers: triggers.clone(),
            releases: triggers.clone(),
            pins: triggers,
        };
        let server = Server::start(deps, settings())
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Settings whose `production` environment holds both production clusters.
fn settings() -> Settings {
    let mut settings = test_settings();
    let table: toml::Table = "[environments.production]\ntargets = [\"us-west-2/prod-1\", \"eu-west-1/prod-2\"]\n"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    settings.triggers = TriggerConfig::from_table(Some(&toml::Value::Table(table)), &BTreeMap::new())
        .unwrap_or_else(|p| panic!("{p:?}"));
    settings
}

fn app<'a>(listing: &'a Value, region: &str, cluster: &str, file: &str) -> &'a Value {
    listing["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["region"] == region && c["cluster"] == cluster)
        .and_then(|c| c["apps"].as_array())
        .into_iter()
        .flatten()
        .find(|a| a["file"] == file)
        .unwrap_or_else(|| panic!("no {region}/{cluster}/{file} in {listing}"))
}

#[tokio::test]
async fn whoami_names_the_token_its_scopes_and_what_it_may_do_everywhere_and_on_a_target() {
    let bed = Bed::start().await;
    let doc = document();
    let path = "/api/v1/whoami";

    let (status, reader) = bed.get(Some(READER), path).await;
    check(&doc, path, "get", status, &reader);
    assert_eq!(status, 200);
    assert_eq!(
        (reader["name"].clone(), reader["identity"].clone()),
        (json!("reader"), json!("reader/config"))
    );
    assert_eq!(reader["scopes"], json!(["read:*"]));
    assert_eq!(reader["everywhere"], json!(["read"]));
    assert!(reader.get("target").is_none(), "no target asked, none answered");

    let (_, admin) = bed.get(Some(ADMIN), path).await;
    assert_eq!(
        admin["everywhere"],
        json!(["read", "deploy", "rollback", "pin", "admin"])
    );

    // A narrow token: its deploy scope covers `api` in production only.
    let on = |file: &str, cluster: &str| {
        format!(
            "{path}?region={}&cluster={cluster}&file={file}",
            if cluster == "prod-1" { "us-west-2" } else { "eu-west-1" }
        )
    };
    let (status, api) = bed.get(Some(NARROW), &on("api", "prod-1")).await;
    check(&doc, path, "get", status, &api);
    assert_eq!(api["everywhere"], json!(["read"]));
    assert_eq!(
        api["target"],
        json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "environment": "production", "actions": ["read", "deploy"]})
    );
    let (_, web) = bed.get(Some(NARROW), &on("web", "prod-1")).await;
    assert_eq!(web["target"]["actions"], json!(["read"]));
    let (_, elsewhere) = bed.get(Some(NARROW), &on("api", "stage-1")).await;
    assert_eq!(elsewhere["target"]["actions"], json!(["read"]));
    assert!(
        elsewhere["target"].get("environment").is_none(),
        "stage-1 belongs to no environment"
    );
    let (_, reader_on_api) = bed.get(Some(READER), &on("api", "prod-1")).await;
    assert_eq!(reader_on_api["target"]["actions"], json!(["read"]));

    // What whoami promises, the API keeps: the reader's deploy is refused, the narrow one's not.
    let deploy = json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "method": "dry-run"});
    assert_eq!(bed.post(READER, "/api/v1/deployments", &deploy).await.0, 403);
    assert_eq!(bed.post(NARROW, "/api/v1/deployments", &deploy).await.0, 202);

    for (token, query, want, code) in [
        (None, String::new(), 401, "missing_token"),
        (Some("wrong-token-0123456789"), String::new(), 401, "invalid_token"),
        (Some(READER), "?region=us-west-2".to_owned(), 400, "incomplete_target"),
        (Some(READER), "?colour=blue".to_owned(), 400, "invalid_query"),
        (
            Some(READER),
            "?region=us-west-2&cluster=prod-1&file=a%2Fb".to_owned(),
            422,
            "invalid_file",
        ),
    ] {
        let (status, body) = bed.get(token, &format!("{path}{query}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want, Some(code)),
            "{query}: {body}"
        );
        check(&doc, path, "get", status, &body);
    }
}

#[tokio::test]
async fn the_cluster_listing_reports_live_replica_counts_and_marks_silent_clusters_unreachable() {
    let bed = Bed::start().await;
    let started = Instant::now();
    let (status, listing) = bed.get(Some(READER), "/api/v1/clusters").await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{listing}");
    check(&document(), "/api/v1/clusters", "get", status, &listing);
    assert!(
        took < Duration::from_secs(8),
        "silent clusters are waited for a few seconds at most, concurrently: {took:?}"
    );

    let api = app(&listing, "us-west-2", "prod-1", "api");
    assert_eq!(api["live"]["state"], "ready", "{api}");
    assert_eq!(
        api["live"]["workloads"][0],
        json!({"kind": "Deployment", "name": "api", "namespace": "shop", "desired": 3, "updated": 3, "ready": 3,
               "available": 3, "message": "deployment \"api\" successfully rolled out"})
    );
    let web = app(&listing, "us-west-2", "prod-1", "web");
    assert_eq!(web["live"]["state"], "progressing", "{web}");
    assert_eq!(
        (
            web["live"]["workloads"][0]["ready"].clone(),
            web["live"]["workloads"][0]["updated"].clone(),
            web["live"]["workloads"][0]["desired"].clone()
        ),
        (json!(2), json!(1), json!(3))
    );
    let worker = app(&listing, "us-west-2", "prod-1", "worker");
    assert_eq!(worker["live"]["state"], "missing", "{worker}");
    assert!(
        worker["live"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Deployment/worker") && m.contains("shop")),
        "{worker}"
    );

    let silent = app(&listing, "eu-west-1", "prod-2", "api");
    assert_eq!(silent["live"]["state"], "unreachable", "{silent}");
    let cluster = |name: &str| {
        listing["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["cluster"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(cluster("prod-2")["reachable"], false);
    assert_eq!(cluster("prod-2")["environment"], "production");
    let stalled = app(&listing, "eu-west-1", "stage-1", "api");
    assert_eq!(
        (
            stalled["live"]["state"].as_str(),
            cluster("stage-1")["reachable"].as_bool()
        ),
        (Some("unknown"), Some(true)),
        "a cluster that answers the probe but not in time: {stalled}"
    );
    assert!(cluster("stage-1").get("environment").is_none());
    let edge = app(&listing, "ap-south-1", "edge-1", "api");
    assert_eq!(edge["live"]["state"], "not_configured", "{edge}");
    assert_eq!(edge["images"], json!(["registry.example.com/team/api:v1"]));
}

#[tokio::test]
async fn each_application_carries_the_callers_actions_and_its_last_real_deployment() {
    let bed = Bed::start().await;
    let (status, done) = bed
        .post(
            ADMIN,
            "/api/v1/deployments?wait=true",
            &json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2"}),
        )
        .await;
    assert_eq!((status, done["status"].as_str()), (200, Some("succeeded")), "{done}");
    let (status, _) = bed
        .post(
            ADMIN,
            "/api/v1/deployments?wait=true",
            &json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v3", "method": "dry-run"}),
        )
        .await;
    assert_eq!(status, 200);

    let (_, listing) = bed.get(Some(ADMIN), "/api/v1/clusters").await;
    let api = app(&listing, "us-west-2", "prod-1", "api");
    assert_eq!(api["images"], json!(["registry.example.com/team/api:v2"]));
    let last = &api["last_deployment"];
    assert_eq!(
        last["id"], done["id"],
        "the dry run after it is not a deployment: {api}"
    );
    assert_eq!(
        (last["status"].as_str(), last["request"]["requested_by"].as_str()),
        (Some("succeeded"), Some("admin"))
    );
    assert!(
        app(&listing, "us-west-2", "prod-1", "web")
            .get("last_deployment")
            .is_none()
    );
    assert_eq!(api["actions"], json!(["read", "deploy", "rollback", "pin", "admin"]));

    let (_, narrow) = bed.get(Some(NARROW), "/api/v1/clusters").await;
    check(&document(), "/api/v1/clusters", "get", 200, &narrow);
    assert_eq!(
        app(&narrow, "us-west-2", "prod-1", "api")["actions"],
        json!(["read", "deploy"])
    );
    assert_eq!(app(&narrow, "us-west-2", "prod-1", "web")["actions"], json!(["read"]));
    assert_eq!(app(&narrow, "eu-west-1", "stage-1", "api")["actions"], json!(["read"]));
    let (_, reader) = bed.get(Some(READER), "/api/v1/clusters").await;
    assert_eq!(app(&reader, "us-west-2", "prod-1", "api")["actions"], json!(["read"]));
}
