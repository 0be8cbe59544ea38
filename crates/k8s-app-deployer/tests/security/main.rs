//! No secret ever leaks: the real `serve`, configured with every kind of secret, deploys,
//! fails and refuses requests; then every place an operator or an attacker could read is
//! searched for each secret value: the logs, every API answer (event streams included), the
//! store's files, what the sinks delivered, and the commits of the configuration repository.

use std::io::{Read, Write};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions, kubeconfig_for};
use serde_json::{Value, json};

/// Each secret, under the name of the variable that carries it to the service.
const SECRETS: [(&str, &str); 6] = [
    ("SEC_API_TOKEN", "api-admin-SECRET-7f3e9a1c5b2d4e6f"),
    ("SEC_CI_TOKEN", "api-ci-SECRET-0c9b8a7d6e5f4a3b"),
    ("SEC_SLACK_TOKEN", "xoxb-SECRET-5d4c3b2a1f0e9d8c"),
    ("SEC_WEBHOOK_SECRET", "whsec-SECRET-a1b2c3d4e5f60718"),
    ("SEC_KAFKA_PASSWORD", "kafka-SECRET-9e8d7c6b5a4f3e2d"),
    ("SEC_GIT_TOKEN", "git-https-SECRET-3c2b1a0f9e8d7c6b"),
];
const KUBE_TOKEN: &str = "kube-SECRET-6b5a4f3e2d1c0b9a";

fn secret(name: &str) -> &'static str {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no secret {name}"))
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_k8s-app-deployer")
}

fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("addr: {e}")).port()
}

fn git(args: &[&str], dir: &Path) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Seed", "-c", "user.email=seed@example.invalid"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.4.2
";

/// A bare remote with `us-west-2/prod-1/apps/web.yaml`.
fn seed_remote(dir: &Path) -> PathBuf {
    let remote = dir.join("config.git");
    let seed = dir.join("seed");
    std::fs::create_dir_all(&remote).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(seed.join("us-west-2/prod-1/apps")).unwrap_or_else(|e| panic!("{e}"));
    git(&["init", "--quiet", "--bare", "--initial-branch=main"], &remote);
    git(&["init", "--quiet", "--initial-branch=main"], &seed);
    std::fs::write(seed.join("us-west-2/prod-1/apps/web.yaml"), WEB).unwrap_or_else(|e| panic!("{e}"));
    git(&["add", "--all"], &seed);
    git(&["commit", "--quiet", "-m", "Seed"], &seed);
    git(&["push", "--quiet", &remote.to_string_lossy(), "main"], &seed);
    remote
}

/// An HTTP receiver standing in for Slack and a webhook endpoint: answers every request with
/// a Slack-like success and keeps each request's body (not its headers: the Slack token is
/// meant to arrive there).
fn start_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            // Read the head, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        if let Ok(mut all) = seen.lock() {
                            all.push(String::from_utf8_lossy(&data[end + 4..]).into_owned());
                        }
                        break;
                    }
                }
            }
            let body = r#"{"ok":true,"channel":"C0123","ts":"1764138000.000100"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, bodies)
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn config(dir: &Path, port: u16, remote: &str, git_auth: &str, kubeconfig: &Path, receiver: u16) -> String {
    format!(
        r##"
[server]
listen = "127.0.0.1:{port}"

[[auth.tokens]]
name = "ops"
token_env = "SEC_API_TOKEN"

[[auth.tokens]]
name = "ci"
token_env = "SEC_CI_TOKEN"
scopes = ["deploy:*/us-west-2/prod-1/web"]

[git]
remote = {remote}
branch = "main"
clone_dir = {clone}
{git_auth}

[store]
url = {store}

[[clusters]]
region = "us-west-2"
cluster = "prod-1"
kubeconfig = {kubeconfig}
context = "us-west-2-prod-1"
namespace = "default"

[executor]
default_rollout_timeout = "8s"

[sinks.delivery]
poll_interval = "200ms"
backoff_base = "200ms"
backoff_max = "1s"

[sinks.slack]
bot_token_env = "SEC_SLACK_TOKEN"
channels = {{ default = "#deploys" }}
api_base = "http://127.0.0.1:{receiver}/api/"

[[sinks.webhooks]]
name = "audit-hook"
url = "http://127.0.0.1:{receiver}/hook"
secret_env = "SEC_WEBHOOK_SECRET"

[sinks.kafka]
bootstrap_servers = ["127.0.0.1:1"]
topic = "deployments"
sasl = {{ mechanism = "plain", username = "deployer", password_env = "SEC_KAFKA_PASSWORD" }}
"##,
        remote = toml_string(remote),
        clone = toml_string(&dir.join("clone").to_string_lossy()),
        store = toml_string(&format!("sqlite://{}", dir.join("deployer.db").to_string_lossy())),
        kubeconfig = toml_string(&kubeconfig.to_string_lossy()),
    )
}

fn command(args: &[&str], config: &Path, stderr: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap_or_else(|e| panic!("{e}")));
    for (name, value) in SECRETS {
        cmd.env(name, value);
    }
    cmd
}

struct Service {
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Asks the service to stop (SIGTERM), so that it flushes its logs, and waits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every API answer, as text.
struct Recorder {
    base: String,
    http: reqwest::Client,
    seen: Vec<String>,
}

impl Recorder {
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap_or_default();
        self.seen.push(format!("{headers}\n{text}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Reads a deployment's event stream until it ends (the deployment has ended) or 10 s.
    async fn events(&mut self, id: &str, token: &str) {
        let response = self
            .http
            .get(format!("{}/api/v1/deployments/{id}/events", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("events: {e}"));
        let text = tokio::time::timeout(Duration::from_secs(10), response.text()).await;
        self.seen.push(text.ok().and_then(Result::ok).unwrap_or_default());
    }

    async fn until_ended(&mut self, id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, record) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/deployments/{id}"),
                    Some(token),
                    None,
                )
                .await;
            if matches!(record["status"].as_str(), Some("succeeded" | "failed" | "unchanged")) {
                return record;
            }
            assert!(Instant::now() < deadline, "deployment {id} did not end: {record}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn read_all_files(dir: &Path, prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            out.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
    }
    out
}

fn assert_absent(place: &str, haystack: &[u8], secrets: &[(&str, &str)]) {
    let text = String::from_utf8_lossy(haystack);
    for (name, value) in secrets {
        assert!(!text.contains(value), "{place} contains the secret of `{name}`");
    }
    assert!(
        !haystack.is_empty() || place.starts_with("(optional)"),
        "{place} is empty: nothing was searched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_appears_in_logs_answers_store_events_or_commits() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut options = SimOptions::named("us-west-2-prod-1");
    options.token = Some(KUBE_TOKEN.to_owned());
    options.tls = true;
    options.profile = Profile::fast();
    let sim = SimCluster::start(options)
        .await
        .unwrap_or_else(|e| panic!("kube-sim: {e}"));
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_for(&[&sim])).unwrap_or_else(|e| panic!("{e}"));
    let remote = seed_remote(dir.path());
    let (receiver, delivered) = start_receiver();

    // 1. A git HTTPS token, on a remote that cannot be reached: the start fails, saying why
    //    without the token.
    let https_dir = dir.path().join("https");
    std::fs::create_dir_all(&https_dir).unwrap_or_else(|e| panic!("{e}"));
    let https_config = https_dir.join("deployer.toml");
    let git_auth = r#"auth = { type = "https_token", username = "x-access-token", token_env = "SEC_GIT_TOKEN" }"#;
    let unreachable = format!("https://127.0.0.1:{}/example/config.git", free_port());
    std::fs::write(
        &https_config,
        config(&https_dir, free_port(), &unreachable, git_auth, &kubeconfig, receiver),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let https_log = https_dir.join("stderr.txt");
    let status = command(&["serve", "--log-format", "json"], &https_config, &https_log)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("serve: {e}"));
    assert!(!status.success(), "the unreachable remote makes the start fail");

    // 2. The service proper.
    let port = free_port();
    let config_path = dir.path().join("deployer.toml");
    std::fs::write(
        &config_path,
        config(dir.path(), port, &remote.to_string_lossy(), "", &kubeconfig, receiver),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token_log = dir.path().join("token-stderr.txt");
    let issued = command(
        &["token", "create", "--name", "release-bot", "--scope", "admin:*"],
        &config_path,
        &token_log,
    )
    .output()
    .unwrap_or_else(|e| panic!("token create: {e}"));
    assert!(
        issued.status.success(),
        "token create: {}",
        std::fs::read_to_string(&token_log).unwrap_or_default()
    );
    let issued_token = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
    assert!(
        issued_token.starts_with("kad_"),
        "token create prints the token: {issued_token}"
    );

    let log = dir.path().join("stderr.txt");
    let child = command(&["serve", "--log-format", "json"], &config_path, &log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("serve: {e}"));
    let service = Service { child };
    let mut api = Recorder {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        seen: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.http.get(format!("{}/readyz", api.base)).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the service did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let admin = secret("SEC_API_TOKEN");
    let ci = secret("SEC_CI_TOKEN");
    let web = |tag: &str| json!({"region": "us-west-2", "cluster": "prod-1", "file": "web", "tag": tag, "reason": "leak test"});
    use reqwest::Method;

    // A deployment that succeeds, one that fails, and refusals of every kind.
    // Its reason tries to forge commit trailers.
    let mut forging = web("1.5.0");
    forging["reason"] = json!("leak test\nDeployment-Id: forged\r\nRequested-By: mallory");
    let (status, ok) = api
        .call(Method::POST, "/api/v1/deployments", Some(ci), Some(forging))
        .await;
    assert_eq!(status, 202, "{ok}");
    let ok_id = ok["id"].as_str().unwrap_or_default().to_owned();
    let record = api.until_ended(&ok_id, admin).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    let mut failing = web("1.6.0-never-ready");
    failing["timeout"] = json!("4s");
    let (status, bad) = api
        .call(Method::POST, "/api/v1/deployments", Some(&issued_token), Some(failing))
        .await;
    assert_eq!(status, 202, "{bad}");
    let bad_id = bad["id"].as_str().unwrap_or_default().to_owned();
    let record = api.until_ended(&bad_id, admin).await;
    assert_eq!(record["status"], "failed", "{record}");
    let refusals = [
        (Some("wrong-token-0123456789abcdef"), web("1.7.0"), 401),
        (None, web("1.7.0"), 401),
        (
            Some(ci),
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "1.7.0"}),
            403,
        ),
        (Some(admin), web("not a tag"), 422),
        (
            Some(admin),
            json!({"region": "us-west-2", "cluster": "prod-9", "file": "web", "tag": "1.7.0"}),
            404,
        ),
    ];
    for (token, body, expected) in refusals {
        let (status, answer) = api.call(Method::POST, "/api/v1/deployments", token, Some(body)).await;
        assert_eq!(status, expected, "{answer}");
    }
    for id in [&ok_id, &bad_id] {
        api.events(id, admin).await;
    }
    for path in [
        "/api/v1/deployments",
        "/api/v1/clusters",
        "/api/v1/audit",
        "/api/v1/pins",
        "/api/v1/triggers",
    ] {
        let (status, answer) = api.call(Method::GET, path, Some(admin), None).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    api.call(Method::GET, "/api/openapi.json", None, None).await;
    api.call(Method::GET, "/readyz", None, None).await;

    // Let the sinks deliver (and Kafka fail a few times).
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered.lock().map(|d| d.len()).unwrap_or(0) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    service.stop();
    sim.shutdown().await;

    let mut all_secrets: Vec<(&str, &str)> = SECRETS.to_vec();
    all_secrets.push(("kube-sim --token", KUBE_TOKEN));
    all_secrets.push(("the issued token", issued_token.as_str()));
    let logs = std::fs::read(&log).unwrap_or_default();
    assert_absent("the service's log", &logs, &all_secrets);
    assert_absent(
        "the log of the failed HTTPS start",
        &std::fs::read(&https_log).unwrap_or_default(),
        &all_secrets,
    );
    assert_absent(
        "the log of `token create`",
        &std::fs::read(&token_log).unwrap_or_default(),
        &all_secrets,
    );
    assert_absent("the API answers", api.seen.join("\n").as_bytes(), &all_secrets);
    assert_absent(
        "the store's files",
        &read_all_files(dir.path(), "deployer.db"),
        &all_secrets,
    );
    let delivered = delivered.lock().map(|d| d.join("\n")).unwrap_or_default();
    assert_absent("the events delivered to the sinks", delivered.as_bytes(), &all_secrets);
    let history = Command::new("git")
        .arg("--git-dir")
        .arg(&remote)
        .args(["log", "--all", "-p", "--format=fuller"])
        .output()
        .unwrap_or_else(|e| panic!("git log: {e}"));
    assert_absent("the configuration repository's history", &history.stdout, &all_secrets);
    // `token list` and `token revoke` on the same store: the list shows ids, never tokens.
    let id = issued_token
        .trim_start_matches("kad_")
        .chars()
        .take(8)
        .collect::<String>();
    let revoked = command(&["token", "revoke", &issued_token], &config_path, &token_log)
        .output()
        .unwrap_or_else(|e| panic!("token revoke: {e}"));
    assert!(revoked.status.success(), "token revoke accepts the whole token");
    let listed = command(&["token", "list", "--json"], &config_path, &token_log)
        .output()
        .unwrap_or_else(|e| panic!("token list: {e}"));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap_or_else(|e| panic!("token list --json: {e}"));
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["status"], "revoked", "{listed}");
    assert_eq!(listed[0]["scopes"], json!(["admin:*"]), "{listed}");
    assert_absent("`token list`", listed.to_string().as_bytes(), &all_secrets);
    // The searches looked at real content.
    let logs = String::from_utf8_lossy(&logs);
    assert!(logs.contains("Deployment accepted."), "the log has the deployments");
    assert!(delivered.contains(&ok_id), "the sinks got the events");
    assert!(String::from_utf8_lossy(&history.stdout).contains(&format!("Deployment-Id: {ok_id}")));
    let trailers = Command::new("git")
        .arg("--git-dir")
        .arg(&remote)
        .args(["log", "--all", "--format=%(trailers:only,unfold)"])
        .output()
        .unwrap_or_else(|e| panic!("git log: {e}"));
    let trailers = String::from_utf8_lossy(&trailers.stdout);
    assert!(trailers.contains(&format!("Deployment-Id: {ok_id}")), "{trailers}");
    assert!(
        !trailers.contains("forged") && !trailers.contains("mallory"),
        "a reason added a trailer: {trailers}"
    );
}
