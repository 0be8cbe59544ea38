//! The test bed: simulated clusters in this process, a bare git remote seeded with
//! applications, and the deployer as a separate `serve` process that can be killed with
//! `SIGKILL` and started again on the same data.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube_sim::clock::Profile;
use kube_sim::server::{Faults, SimCluster, SimOptions, kubeconfig_for};
use serde_json::{Value, json};

/// The API token of the test configuration.
pub const TOKEN: &str = "reliability-token-0123456789abcdef";
/// The branch of the configuration repository.
const BRANCH: &str = "main";

/// Tests share two busy cores: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the suite's lock (held for the whole test; a failed test releases it too).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A size from the environment, or its default.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A duration in seconds from the environment, or its default.
pub fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// Records a figure: printed, and appended as a JSON line to
/// `$CARGO_TARGET_TMPDIR/reliability-figures.jsonl`.
pub fn figure(test: &str, value: Value) {
    let line = json!({ "test": test, "at": chrono::Utc::now().to_rfc3339(), "figures": value });
    eprintln!("FIGURES {line}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-figures.jsonl");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

/// How the bed is laid out.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Clusters, named `c0`, `c1`, … in region `r`.
    pub clusters: usize,
    /// Applications per cluster, named `app-000`, ….
    pub apps: usize,
    /// Replicas of each application.
    pub replicas: u32,
    /// Latency the simulated API servers add to every request.
    pub latency_ms: u64,
    /// Extra TOML appended to the deployer's configuration.
    pub extra_config: String,
    /// `queue.concurrency`.
    pub concurrency: usize,
    /// `queue.cluster_concurrency`.
    pub cluster_concurrency: usize,
    /// `queue.repo_wait`.
    pub repo_wait: Duration,
    /// `request_timeout` of each cluster.
    pub request_timeout: Duration,
    /// `unreachable_timeout` of each cluster (the deployer's default when `None`).
    pub unreachable_timeout: Option<Duration>,
    /// The controller tick of the simulated clusters (the `fast` profile's 25 ms when
    /// `None`); large beds use a longer one so that the clusters, which share this process,
    /// leave the cores to the deployer.
    pub sim_tick: Option<Duration>,
    /// How long the remote takes to accept each push (a `pre-receive` hook that sleeps), so
    /// that a push is in flight for a while.
    pub push_delay: Option<Duration>,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            clusters: 1,
            apps: 4,
            replicas: 1,
            latency_ms: 0,
            extra_config: String::new(),
            concurrency: 32,
            cluster_concurrency: 16,
            repo_wait: Duration::from_secs(300),
            request_timeout: Duration::from_secs(3),
            unreachable_timeout: None,
            sim_tick: None,
            push_delay: None,
        }
    }
}

/// The region of every simulated cluster.
pub const REGION: &str = "r";

/// The name of cluster `i`.
pub fn cluster_name(i: usize) -> String {
    format!("c{i}")
}

/// The name of application `i`.
pub fn app_name(i: usize) -> String {
    format!("app-{i:03}")
}

/// The image repository of an application.
pub fn image_repo(app: &str) -> String {
    format!("registry.example.com/team/{app}")
}

fn manifest(app: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  replicas: {replicas}\n  revisionHistoryLimit: 2\n  progressDeadlineSeconds: 30\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n        - name: app\n          image: {}:v0\n",
        image_repo(app)
    )
}

/// Runs git and returns its standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running deployer process.
pub struct Deployer {
    child: Child,
    /// Its process id.
    pub pid: u32,
}

/// The whole bed.
pub struct Bed {
    /// The temporary directory holding everything.
    pub dir: tempfile::TempDir,
    /// The bare remote.
    pub remote: PathBuf,
    /// The simulated clusters (`None` once shut down).
    pub sims: Vec<Option<SimCluster>>,
    /// The layout.
    pub layout: Layout,
    /// The API base URL.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    port: u16,
    deployer: Mutex<Option<Deployer>>,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("addr: {e}"))
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Bed {
    /// Starts the clusters, seeds the remote, writes the configuration (the deployer is not
    /// started yet).
    pub async fn new(layout: Layout) -> Bed {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut sims = Vec::new();
        for i in 0..layout.clusters {
            let mut options = SimOptions::named(format!("{REGION}-{}", cluster_name(i)));
            options.seed = 7000 + i as u64;
            options.profile = Profile::fast();
            if let Some(tick) = layout.sim_tick {
                options.profile.tick = tick;
            }
            let sim = SimCluster::start(options).await.unwrap_or_else(|e| panic!("sim: {e}"));
            if layout.latency_ms > 0 {
                sim.control().set_faults(Faults {
                    latency_ms: layout.latency_ms,
                    ..Faults::default()
                });
            }
            sims.push(Some(sim));
        }
        let refs: Vec<&SimCluster> = sims.iter().flatten().collect();
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig_for(&refs)).unwrap_or_else(|e| panic!("{e}"));
        let remote = dir.path().join("remote.git");
        seed(&remote, &dir.path().join("seed"), &layout);
        if let Some(delay) = layout.push_delay {
            slow_down_pushes(&remote, delay);
        }
        let port = free_port();
        let bed = Bed {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
            dir,
            remote,
            sims,
            layout,
            port,
            deployer: Mutex::new(None),
        };
        bed.write_config();
        bed
    }

    /// Every `(cluster, app)` target.
    pub fn targets(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for c in 0..self.layout.clusters {
            for a in 0..self.layout.apps {
                all.push((cluster_name(c), app_name(a)));
            }
        }
        all
    }

    fn write_config(&self) {
        let d = self.dir.path();
        let l = &self.layout;
        let mut cfg = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "2s"
max_in_flight = 4096
wait_max = "15m"

[queue]
concurrency = {concurrency}
cluster_concurrency = {cluster_concurrency}
capacity = 100000
per_target = 10000
shutdown_deadline = "3s"
repo_wait = "{repo_wait}s"

[executor]
retries = 4
retry_base_delay = "100ms"
progress_interval = "100ms"
default_rollout_timeout = "60s"

[[auth.tokens]]
name = "reliability"
token = {token}
act_for_users = true

[git]
remote = {remote}
branch = "main"
clone_dir = {clone}
timeout = "10s"

[store]
url = {store}
"#,
            port = self.port,
            concurrency = l.concurrency,
            cluster_concurrency = l.cluster_concurrency,
            repo_wait = l.repo_wait.as_secs(),
            token = toml_str(TOKEN),
            remote = toml_str(&self.remote.to_string_lossy()),
            clone = toml_str(&d.join("clone").to_string_lossy()),
            store = toml_str(&format!("sqlite://{}", d.join("deployer.db").to_string_lossy())),
        );
        for i in 0..l.clusters {
            cfg.push_str(&format!(
                "\n[[clusters]]\nregion = \"{REGION}\"\ncluster = \"{}\"\nkubeconfig = {}\ncontext = \"{REGION}-{}\"\nnamespace = \"default\"\nrequest_timeout = \"{}ms\"\n",
                cluster_name(i),
                toml_str(&d.join("kubeconfig").to_string_lossy()),
                cluster_name(i),
                l.request_timeout.as_millis()
            ));
            if let Some(budget) = l.unreachable_timeout {
                cfg.push_str(&format!("unreachable_timeout = \"{}ms\"\n", budget.as_millis()));
            }
        }
        cfg.push('\n');
        cfg.push_str(&l.extra_config);
        std::fs::write(d.join("deployer.toml"), cfg).unwrap_or_else(|e| panic!("{e}"));
    }

    fn process(&self) -> std::sync::MutexGuard<'_, Option<Deployer>> {
        self.deployer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the deployer and waits until it is ready; returns how long that took.
    pub async fn start(&self) -> Duration {
        assert!(self.process().is_none(), "the deployer runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("deployer.log"))
            .unwrap_or_else(|e| panic!("log: {e}"));
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_k8s-app-deployer"))
            .args(["serve", "--config"])
            .arg(self.dir.path().join("deployer.toml"))
            .args(["--log-format", "text"])
            .env(
                "RUST_LOG",
                std::env::var("RELIABILITY_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .env_remove("K8S_APP_DEPLOYER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the deployer: {e}"));
        let pid = child.id();
        *self.process() = Some(Deployer { child, pid });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return started.elapsed();
            }
            let exited = self.process().as_mut().and_then(|d| d.child.try_wait().ok().flatten());
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

    /// The deployer's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process().as_ref().map(|d| d.pid)
    }

    /// How many `git push` processes working on this bed's clone are running (after a
    /// `SIGKILL`, the pushes the dead deployer left behind).
    pub fn git_pushes_running(&self) -> usize {
        let clone = self.dir.path().join("clone");
        let clone = clone.to_string_lossy();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|args| args.iter().any(|a| a == "push") && args.iter().any(|a| a.contains(clone.as_ref())))
            .count()
    }

    /// `SIGKILL`s the deployer and reaps it.
    pub fn kill9(&self) {
        let taken = self.process().take();
        if let Some(mut d) = taken {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
    }

    /// Stops the deployer with `SIGTERM` and waits for it; returns how long it took and
    /// whether it exited 0.
    pub fn stop(&self) -> (Duration, bool) {
        let taken = self.process().take();
        let Some(mut d) = taken else {
            return (Duration::ZERO, true);
        };
        let started = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &d.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                return (started.elapsed(), status.success());
            }
            if Instant::now() > deadline {
                let _ = d.child.kill();
                let _ = d.child.wait();
                return (started.elapsed(), false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of the deployer's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("deployer.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The CPU time the deployer has used so far (user and system).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.pid()?))
    }

    /// The resident memory of the deployer, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// A deploy request body.
    pub fn deploy_body(cluster: &str, app: &str, tag: &str, key: &str) -> Value {
        json!({
            "region": REGION, "cluster": cluster, "file": app, "tag": tag,
            "idempotency_key": key, "timeout": "60s",
        })
    }

    /// `POST path` with the token; returns the status and the JSON body (`None` when the
    /// deployer could not be reached).
    pub async fn post(&self, path: &str, body: &Value) -> Option<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    /// `GET path` with the token, as JSON (`None` when the deployer could not be reached or
    /// did not answer 200).
    pub async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<Value>().await.ok()
    }

    /// Every deployment, newest first.
    pub async fn all_deployments(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let path = match &before {
                Some(b) => format!("/api/v1/deployments?limit=200&before={b}"),
                None => "/api/v1/deployments?limit=200".to_owned(),
            };
            let page = self.get(&path).await.unwrap_or_else(|| panic!("GET {path} failed"));
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(n) => before = Some(n.to_owned()),
                None => return out,
            }
        }
    }

    /// The deployments not yet finished.
    pub async fn unfinished(&self) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        for status in ["queued", "running"] {
            let page = self
                .get(&format!("/api/v1/deployments?status={status}&limit=200"))
                .await?;
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
        }
        Some(out)
    }

    /// Whether any deployment is queued or running (`None` when the deployer could not be
    /// asked). Asks for one record of each status only, so that polling it costs the
    /// deployer little however long the queues are.
    pub async fn any_unfinished(&self) -> Option<bool> {
        for status in ["queued", "running"] {
            let page = self
                .get(&format!("/api/v1/deployments?status={status}&limit=1"))
                .await?;
            if page["items"].as_array().is_some_and(|items| !items.is_empty()) {
                return Some(true);
            }
        }
        Some(false)
    }

    /// Waits until no deployment is queued or running; returns how long that took.
    pub async fn drain(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.any_unfinished().await == Some(false) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "deployments still unfinished after {limit:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until deployment `id` ended and returns its record.
    pub async fn finished(&self, id: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            if let Some(r) = self.get(&format!("/api/v1/deployments/{id}")).await
                && matches!(r["status"].as_str(), Some("succeeded" | "failed" | "unchanged"))
            {
                return r;
            }
            assert!(
                started.elapsed() < limit,
                "deployment {id} did not end within {limit:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The event kinds of a deployment, in order (read from its event stream, which ends
    /// after the terminal event).
    pub async fn event_kinds(&self, id: &str) -> Vec<String> {
        let r = self
            .http
            .get(format!("{}/api/v1/deployments/{id}/events", self.base))
            .bearer_auth(TOKEN)
            .header("Accept", "text/event-stream")
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap_or_else(|e| panic!("events of {id}: {e}"));
        let text = r.text().await.unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("event:"))
            .map(|k| k.trim().to_owned())
            .collect()
    }

    /// `Deployment-Id` trailers of every commit on the remote branch, with how often each
    /// appears.
    pub fn commit_ids(&self) -> BTreeMap<String, usize> {
        let log = git(
            &self.remote,
            &[
                "log",
                BRANCH,
                "--format=%(trailers:key=Deployment-Id,valueonly,separator=%x2C)",
            ],
        );
        let mut ids = BTreeMap::new();
        for line in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
            for id in line.split(',') {
                *ids.entry(id.trim().to_owned()).or_insert(0) += 1;
            }
        }
        ids
    }

    /// The `Rollback-Of` trailer of the commit carrying `Deployment-Id: id`.
    pub fn rollback_of_trailer(&self, id: &str) -> Option<String> {
        let log = git(
            &self.remote,
            &[
                "log",
                BRANCH,
                "--format=%(trailers:key=Deployment-Id,valueonly)%x00%(trailers:key=Rollback-Of,valueonly)%x1e",
            ],
        );
        log.split('\u{1e}').find_map(|entry| {
            let (d, r) = entry.trim().split_once('\0')?;
            (d.trim() == id).then(|| r.trim().to_owned()).filter(|r| !r.is_empty())
        })
    }

    /// The image of every application file at the tip of the remote: `(cluster, app) -> image`.
    pub fn repo_images(&self) -> BTreeMap<(String, String), String> {
        let files = git(&self.remote, &["ls-tree", "-r", "--name-only", BRANCH]);
        let paths: Vec<&str> = files.lines().filter(|p| p.ends_with(".yaml")).collect();
        let mut child = Command::new("git")
            .args(["cat-file", "--batch"])
            .current_dir(&self.remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("git cat-file: {e}"));
        let input: String = paths.iter().map(|p| format!("{BRANCH}:{p}\n")).collect();
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("git cat-file: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let images: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image: "))
            .map(|i| i.trim().to_owned())
            .collect();
        assert_eq!(images.len(), paths.len(), "one image per file");
        paths
            .iter()
            .zip(images)
            .filter_map(|(p, image)| {
                let mut parts = p.split('/');
                let (_, cluster, _, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                Some(((cluster.to_owned(), file.trim_end_matches(".yaml").to_owned()), image))
            })
            .collect()
    }

    /// The image of every Deployment object of cluster `i`: `app -> image`.
    pub async fn cluster_images(&self, i: usize) -> BTreeMap<String, String> {
        let Some(Some(sim)) = self.sims.get(i) else {
            return BTreeMap::new();
        };
        let list: Value = self
            .http
            .get(format!("{}/apis/apps/v1/namespaces/default/deployments", sim.url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("list deployments: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("list deployments: {e}"));
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let name = d.pointer("/metadata/name")?.as_str()?.to_owned();
                let image = d
                    .pointer("/spec/template/spec/containers/0/image")?
                    .as_str()?
                    .to_owned();
                Some((name, image))
            })
            .collect()
    }

    /// Checks that every cluster runs what the repository says, for every application the
    /// cluster has; returns how many were compared.
    pub async fn assert_clusters_match_repo(&self) -> usize {
        let repo = self.repo_images();
        let mut compared = 0;
        for i in 0..self.sims.len() {
            if self.sims[i].is_none() {
                continue;
            }
            for (app, image) in self.cluster_images(i).await {
                let key = (cluster_name(i), app.clone());
                let want = repo
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key:?} is in the cluster but not in git"));
                assert_eq!(
                    &image,
                    want,
                    "cluster {} runs {image} for {app}, git says {want}",
                    cluster_name(i)
                );
                compared += 1;
            }
        }
        compared
    }

    /// Checks each deployment's event log: `queued` first, exactly one terminal event, last,
    /// matching the status; `committed` when a commit was recorded; `applied` when an apply
    /// deployment succeeded with a change. Returns the number of events read.
    pub async fn assert_events_complete(&self, records: &[Value]) -> usize {
        use futures::StreamExt;
        let checks = futures::stream::iter(records.iter().cloned())
            .map(|r| async move {
                let id = r["id"].as_str().unwrap_or_default().to_owned();
                let kinds = self.event_kinds(&id).await;
                (r, kinds)
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        let mut total = 0;
        for (r, kinds) in checks {
            let id = r["id"].as_str().unwrap_or_default();
            let status = r["status"].as_str().unwrap_or_default();
            total += kinds.len();
            assert_eq!(
                kinds.first().map(String::as_str),
                Some("queued"),
                "{id}: events {kinds:?}"
            );
            let terminal: Vec<&String> = kinds
                .iter()
                .filter(|k| matches!(k.as_str(), "succeeded" | "failed" | "unchanged"))
                .collect();
            assert_eq!(terminal.len(), 1, "{id}: events {kinds:?}");
            assert_eq!(kinds.last().map(String::as_str), Some(status), "{id}: events {kinds:?}");
            if r["commit_sha"].is_string() {
                assert!(
                    kinds.iter().any(|k| k == "committed"),
                    "{id}: no committed event in {kinds:?}"
                );
            }
            if status == "succeeded"
                && r["commit_sha"].is_string()
                && r.pointer("/request/method") == Some(&json!("apply"))
            {
                assert!(
                    kinds.iter().any(|k| k == "applied"),
                    "{id}: no applied event in {kinds:?}"
                );
            }
        }
        total
    }

    /// The commits on the remote branch by the `Deployment-Id` trailer they carry:
    /// `deployment id -> [sha, …]`, newest first.
    pub fn commits_by_deployment(&self) -> BTreeMap<String, Vec<String>> {
        let log = git(
            &self.remote,
            &[
                "log",
                BRANCH,
                "--format=%H %(trailers:key=Deployment-Id,valueonly,separator=%x2C)",
            ],
        );
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((sha, ids)) = line.split_once(' ') else {
                continue;
            };
            for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                by_id.entry(id.to_owned()).or_default().push(sha.to_owned());
            }
        }
        by_id
    }

    /// Checks that the records tell the truth about git: the remote has exactly one commit
    /// per deployment that recorded one, with the recorded SHA, and none for any other
    /// deployment (whatever its status). Returns the number of commits with a trailer.
    pub fn assert_one_commit_per_change(&self, records: &[Value]) -> usize {
        let commits = self.commits_by_deployment();
        let dup: Vec<_> = commits.iter().filter(|(_, shas)| shas.len() > 1).collect();
        assert!(dup.is_empty(), "deployments with more than one commit: {dup:?}");
        let summary = |r: &Value| {
            json!({
                "id": r["id"], "status": r["status"], "phase": r["phase"],
                "commit_sha": r["commit_sha"], "failure": r["failure"],
            })
        };
        let mut missing = Vec::new();
        let mut wrong = Vec::new();
        let mut unrecorded = Vec::new();
        let mut known = BTreeSet::new();
        for r in records {
            let Some(id) = r["id"].as_str() else { continue };
            known.insert(id.to_owned());
            let on_remote = commits.get(id).and_then(|shas| shas.first());
            match (r["commit_sha"].as_str(), on_remote) {
                (Some(_), None) => missing.push(summary(r)),
                (Some(recorded), Some(sha)) if recorded != sha => wrong.push((summary(r), sha.clone())),
                (None, Some(sha)) => unrecorded.push((summary(r), sha.clone())),
                _ => {}
            }
        }
        let strangers: Vec<&String> = commits.keys().filter(|id| !known.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "recorded commits missing from the remote: {missing:#?}"
        );
        assert!(
            wrong.is_empty(),
            "deployments recording another SHA than their commit's: {wrong:#?}"
        );
        assert!(
            unrecorded.is_empty(),
            "commits on the remote whose deployment recorded none: {unrecorded:#?}"
        );
        assert!(strangers.is_empty(), "commits of unknown deployments: {strangers:?}");
        commits.len()
    }

    /// Shuts one simulated cluster down (its address then refuses connections).
    pub async fn shut_down_cluster(&mut self, i: usize) {
        if let Some(sim) = self.sims.get_mut(i).and_then(Option::take) {
            sim.shutdown().await;
        }
    }

    /// The simulated cluster `i`.
    pub fn sim(&self, i: usize) -> &SimCluster {
        self.sims[i]
            .as_ref()
            .unwrap_or_else(|| panic!("cluster {i} is shut down"))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("deployer log tail:\n{}", self.log_tail());
        }
    }
}

/// Creates the bare remote with one file per cluster and application.
fn seed(remote: &Path, scratch: &Path, layout: &Layout) {
    std::fs::create_dir_all(remote).unwrap_or_else(|e| panic!("{e}"));
    git(remote, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    std::fs::create_dir_all(scratch).unwrap_or_else(|e| panic!("{e}"));
    git(scratch, &["init", "--quiet", "--initial-branch=main"]);
    for c in 0..layout.clusters {
        let dir = scratch.join(REGION).join(cluster_name(c)).join("apps");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for a in 0..layout.apps {
            let app = app_name(a);
            std::fs::write(dir.join(format!("{app}.yaml")), manifest(&app, layout.replicas))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    git(scratch, &["add", "--all"]);
    git(
        scratch,
        &[
            "-c",
            "user.name=seed",
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

/// Makes the bare `remote` take `delay` to accept each push, between receiving it and moving
/// the branch.
fn slow_down_pushes(remote: &Path, delay: Duration) {
    use std::os::unix::fs::PermissionsExt;
    let hook = remote.join("hooks").join("pre-receive");
    std::fs::create_dir_all(remote.join("hooks")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ncat >/dev/null\nsleep {:.3}\n", delay.as_secs_f64()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
}

/// Submits one deploy request, retrying (same idempotency key) while the deployer is
/// unreachable or asks to retry; returns the deployment id and the 5xx answers seen.
pub async fn submit(bed: &Bed, body: &Value, limit: Duration) -> (Option<String>, usize) {
    let started = Instant::now();
    let mut five_xx = 0;
    loop {
        match bed.post("/api/v1/deployments", body).await {
            Some((200 | 202, v)) => return (v["id"].as_str().map(str::to_owned), five_xx),
            // Refusals that ask to retry; a 503 other than "shutting down" counts as a 5xx.
            Some((503, v)) if v.pointer("/error/code") != Some(&json!("shutting_down")) => five_xx += 1,
            Some((429 | 503, _)) => {}
            Some((status, v)) if status >= 500 => {
                five_xx += 1;
                eprintln!("5xx answer {status}: {v}");
            }
            Some((status, v)) => panic!("deploy request refused with {status}: {v}"),
            None => {}
        }
        if started.elapsed() > limit {
            return (None, five_xx);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// User plus system CPU time from a `/proc/<pid>/stat` file (clock ticks of 10 ms).
pub fn cpu_time_of(stat: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    // The command name may hold spaces; the fields after it are space separated.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Percentile of durations (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Seconds from a record's creation to its end.
pub fn duration_secs(record: &Value) -> Option<f64> {
    let created = chrono::DateTime::parse_from_rfc3339(record["created_at"].as_str()?).ok()?;
    let finished = chrono::DateTime::parse_from_rfc3339(record["finished_at"].as_str()?).ok()?;
    Some((finished - created).num_milliseconds() as f64 / 1000.0)
}
