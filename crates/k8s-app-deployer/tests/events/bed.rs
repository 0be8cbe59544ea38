//! The test bed: one simulated cluster in this process, a bare git remote seeded with
//! applications, local Slack and webhook receivers, and the deployer as a separate `serve`
//! process with a `[sinks]` section, which can be killed with `SIGKILL` and started again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions, kubeconfig_for};
use serde_json::{Value, json};

use crate::receivers::Receivers;

/// The API token of the test configuration (no scopes: `admin:*`).
pub const TOKEN: &str = "events-test-token-0123456789abcdef";
/// The Slack bot token the deployer is configured with.
pub const SLACK_TOKEN: &str = "xoxb-events-test-token";
/// The webhook signing secret.
pub const WEBHOOK_SECRET: &str = "whsec-events-test-secret";
/// The name of the webhook sink (`webhook-<name>`).
pub const WEBHOOK_SINK: &str = "webhook-audit";
/// The CloudEvents `source`.
pub const SOURCE: &str = "/k8s-app-deployer/events-test";
/// The region and cluster.
pub const REGION: &str = "r";
/// The cluster.
pub const CLUSTER: &str = "c0";

/// Tests share two busy cores and start processes: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the suite's lock (a failed test does not hold it up for the others).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("addr: {e}"))
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Runs git and panics with its error output when it fails.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The name of application `i`.
pub fn app(i: usize) -> String {
    format!("app-{i:02}")
}

/// The image repository of an application.
pub fn image_repo(app: &str) -> String {
    format!("registry.example.com/team/{app}")
}

fn manifest(app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 30\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n        - name: app\n          image: {}:v0\n",
        image_repo(app)
    )
}

/// Where the Kafka sink points.
#[derive(Debug, Clone)]
pub struct KafkaTarget {
    /// `host:port`.
    pub bootstrap: String,
    /// The topic (created by the test, never by the broker).
    pub topic: String,
}

/// The whole bed.
pub struct Bed {
    /// Everything lives here.
    pub dir: tempfile::TempDir,
    /// The simulated cluster, served for the life of the bed.
    _sim: SimCluster,
    /// The Slack and webhook receivers.
    pub receivers: Receivers,
    /// The API base URL.
    pub base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    child: Mutex<Option<Child>>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl Bed {
    /// Starts the cluster and the receivers, seeds the remote and writes the configuration
    /// (the deployer is not started yet).
    pub async fn new(kafka: Option<&KafkaTarget>, apps: usize) -> Bed {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut options = SimOptions::named(format!("{REGION}-{CLUSTER}"));
        options.seed = 4242;
        options.profile = Profile::fast();
        let sim = SimCluster::start(options).await.unwrap_or_else(|e| panic!("sim: {e}"));
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig_for(&[&sim])).unwrap_or_else(|e| panic!("{e}"));
        seed(&dir.path().join("remote.git"), &dir.path().join("seed"), apps);
        let receivers = Receivers::start().await;
        let port = free_port();
        let bed = Bed {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
            dir,
            _sim: sim,
            receivers,
            child: Mutex::new(None),
        };
        bed.write_config(port, kafka);
        bed
    }

    fn write_config(&self, port: u16, kafka: Option<&KafkaTarget>) {
        let d = self.dir.path();
        let mut cfg = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "1s"

[queue]
shutdown_deadline = "2s"

[executor]
progress_interval = "200ms"

[[auth.tokens]]
name = "events"
token = {token}
act_for_users = true

[git]
remote = {remote}
branch = "main"
clone_dir = {clone}

[store]
url = {store}
outbox_lease = "3s"

[[clusters]]
region = "{REGION}"
cluster = "{CLUSTER}"
kubeconfig = {kubeconfig}
context = "{REGION}-{CLUSTER}"
namespace = "default"

[sinks]
source = "{SOURCE}"

[sinks.environments]
"{REGION}" = "testing"

[sinks.delivery]
max_attempts = 1000
backoff_base = "100ms"
backoff_max = "500ms"
poll_interval = "200ms"
delivery_timeout = "15s"

[sinks.slack]
bot_token = {slack_token}
api_base = "{slack}/api/"
timeout = "10s"

[sinks.slack.channels]
default = "deploys"

[[sinks.webhooks]]
name = "audit"
url = "{webhook}/events"
secret = {secret}
timeout = "10s"
"#,
            token = toml_str(TOKEN),
            remote = toml_str(&d.join("remote.git").to_string_lossy()),
            clone = toml_str(&d.join("clone").to_string_lossy()),
            store = toml_str(&format!("sqlite://{}", d.join("deployer.db").to_string_lossy())),
            kubeconfig = toml_str(&d.join("kubeconfig").to_string_lossy()),
            slack_token = toml_str(SLACK_TOKEN),
            slack = self.receivers.base(),
            webhook = self.receivers.base(),
            secret = toml_str(WEBHOOK_SECRET),
        );
        if let Some(k) = kafka {
            cfg.push_str(&format!(
                "\n[sinks.kafka]\nbootstrap_servers = [{}]\ntopic = {}\ntimeout = \"3s\"\n",
                toml_str(&k.bootstrap),
                toml_str(&k.topic)
            ));
        }
        std::fs::write(d.join("deployer.toml"), cfg).unwrap_or_else(|e| panic!("{e}"));
    }

    fn process(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The deployer's log file (JSON lines).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("deployer.log")
    }

    /// The deployer's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts `k8s-app-deployer serve` and waits until it is ready.
    pub async fn start(&self) {
        assert!(self.process().is_none(), "the deployer runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("log: {e}"));
        let child = Command::new(env!("CARGO_BIN_EXE_k8s-app-deployer"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(self.dir.path().join("deployer.toml"))
            .env("RUST_LOG", "info")
            .env_remove("K8S_APP_DEPLOYER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the deployer: {e}"));
        *self.process() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            let exited = self.process().as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("the deployer exited with {status} at start; log:\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "the deployer did not get ready; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `SIGKILL`s the deployer and reaps it.
    pub fn kill9(&self) {
        let taken = self.process().take();
        if let Some(mut child) = taken {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `POST path` with the token; returns the status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.log_tail()));
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// `GET path` with the token; returns the status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log_tail()));
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Requests a deployment of `tag` to `app`; returns its id.
    pub async fn deploy(&self, app: &str, tag: &str, timeout: &str) -> String {
        let body = json!({"region": REGION, "cluster": CLUSTER, "file": app, "tag": tag, "timeout": timeout});
        let (status, answer) = self.post("/api/v1/deployments", &body).await;
        assert_eq!(status, 202, "deploy {app}:{tag}: {answer}");
        answer["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {answer}"))
            .to_owned()
    }

    /// Polls a deployment until it has ended, at most `limit`; returns its record.
    pub async fn wait_terminal(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (_, record) = self.get(&format!("/api/v1/deployments/{id}")).await;
            if matches!(record["status"].as_str(), Some("succeeded" | "failed" | "unchanged")) {
                return record;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} did not end in {limit:?}: {record}\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The CloudEvent ids (`<deployment id>-<seq>`) of every event the store holds for a
    /// finished deployment, in order, read from its event stream.
    pub async fn event_ids(&self, id: &str) -> Vec<String> {
        let r = self
            .http
            .get(format!("{}/api/v1/deployments/{id}/events", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("events of {id}: {e}"));
        let text = r.text().await.unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .map(|e| format!("{id}-{}", e["seq"]))
            .collect()
    }

    /// `/metrics`, without a token.
    pub async fn metrics(&self) -> Metrics {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        assert_eq!(r.status().as_u16(), 200, "GET /metrics");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        Metrics(r.text().await.unwrap_or_default())
    }

    /// Scrapes `/metrics` until `ready` holds for it (counters settle a moment after the sink
    /// answered; the backlog gauges are refreshed every five seconds).
    pub async fn wait_for_metrics(&self, what: &str, ready: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.metrics().await;
            if ready(&m) {
                return m;
            }
            assert!(Instant::now() < deadline, "{what}:\n{}", m.0);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the sample `name{labels}` (labels in the order the exposition writes
    /// them), or 0 when the series does not exist.
    pub fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// Creates the bare remote with `apps` application files.
fn seed(remote: &Path, scratch: &Path, apps: usize) {
    std::fs::create_dir_all(remote).unwrap_or_else(|e| panic!("{e}"));
    git(remote, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    std::fs::create_dir_all(scratch).unwrap_or_else(|e| panic!("{e}"));
    git(scratch, &["init", "--quiet", "--initial-branch=main"]);
    let dir = scratch.join(REGION).join(CLUSTER).join("apps");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..apps {
        let name = app(i);
        std::fs::write(dir.join(format!("{name}.yaml")), manifest(&name)).unwrap_or_else(|e| panic!("{e}"));
    }
    git(scratch, &["add", "--all"]);
    git(
        scratch,
        &[
            "-c",
            "user.name=Seed",
            "-c",
            "user.email=seed@example.invalid",
            "commit",
            "--quiet",
            "-m",
            "Applications",
        ],
    );
    git(scratch, &["push", "--quiet", &remote.to_string_lossy(), "main"]);
}
