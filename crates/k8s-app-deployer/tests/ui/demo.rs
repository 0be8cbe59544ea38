//! Starts `k8s-app-deployer demo` with three tokens of the test's own: `alice` (every scope),
//! `viewer` (`read:*`) and `dev` (`read:*`, and deploy, roll back and pin in the `development`
//! environment only), set through the `K8S_APP_DEPLOYER_AUTH_TOKENS` override, and the commit
//! pages of [`COMMIT_PAGES`] through `K8S_APP_DEPLOYER_GIT_COMMIT_URL` (the demo's repository is
//! a local one, which has no web pages of its own).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where the demo's configuration-repository commits are shown (`[git] commit_url`).
pub const COMMIT_PAGES: &str = "https://git.example.test/demo/config/-/commit/{sha}";

/// A running demo.
pub struct Demo {
    child: Child,
    /// The data directory (deleted on drop).
    pub dir: tempfile::TempDir,
    /// The base URL.
    pub url: String,
    /// A token with every scope, named `alice`.
    pub alice: String,
    /// A token with `read:*` only, named `viewer`.
    pub viewer: String,
    /// A token that reads everything and changes only `development` (`dc1/dev-1`), named `dev`.
    pub dev: String,
    http: reqwest::Client,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn random_token(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

impl Demo {
    /// Starts `demo --profile fast` on a free port and waits until it serves.
    pub async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let alice = random_token("ui-alice");
        let viewer = random_token("ui-viewer");
        let dev = random_token("ui-dev");
        let tokens = format!(
            r#"[{{ name = "alice", token = "{alice}" }}, {{ name = "viewer", token = "{viewer}", scopes = ["read:*"] }}, {{ name = "dev", token = "{dev}", scopes = ["read:*", "deploy,rollback,pin:development/*/*/*"] }}]"#
        );
        let stdout = std::fs::File::create(dir.path().join("stdout.txt")).expect("stdout file");
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_k8s-app-deployer"))
            .args(["demo", "--profile", "fast", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("K8S_APP_DEPLOYER_AUTH_TOKENS", tokens)
            .env("K8S_APP_DEPLOYER_GIT_COMMIT_URL", COMMIT_PAGES)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the deployer binary starts");
        let mut demo = Demo {
            child,
            dir,
            url: String::new(),
            alice,
            viewer,
            dev,
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            let facts = std::fs::read_to_string(demo.dir.path().join("demo.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if let Some(url) = facts.as_ref().and_then(|f| f["url"].as_str()) {
                demo.url = url.to_owned();
                break;
            }
            if let Ok(Some(status)) = demo.child.try_wait() {
                panic!("the demo exited early ({status}):\n{}", demo.stderr());
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the demo did not start in time:\n{}",
                demo.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        demo
    }

    /// What the demo logged.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    /// `POST path` with `token` and a JSON body: the status and the answer.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A deploy request as a CI system sends it.
    pub fn ci_request(region: &str, cluster: &str, file: &str, tag: &str) -> Value {
        json!({
            "region": region, "cluster": cluster, "file": file, "tag": tag,
            "source": {"kind": "ci", "ci": "github-actions", "commit": "4f2a9c1", "build_url": "https://ci.example/builds/42"}
        })
    }
}
