//! Runs the real `k8s-app-deployer demo` as a user would and talks to it over HTTP, the CLI,
//! `git` and `kubectl`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_k8s-app-deployer")
}

/// A running demo: its process, data directory and facts.
pub struct Demo {
    child: Child,
    /// The data directory (deleted on drop).
    pub dir: tempfile::TempDir,
    /// `demo.json`.
    pub facts: Value,
    /// What the demo printed on standard output.
    pub stdout_path: PathBuf,
    http: reqwest::Client,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts `demo --profile fast` on a free port and waits until it serves.
    pub async fn start() -> Demo {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let stdout_path = dir.path().join("stdout.txt");
        let stdout = std::fs::File::create(&stdout_path).expect("stdout file");
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file");
        let child = Command::new(binary())
            .args(["demo", "--profile", "fast", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the deployer binary starts");
        let mut demo = Demo {
            child,
            facts: Value::Null,
            stdout_path,
            dir,
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(demo.dir.path().join("demo.json"))
                && let Ok(facts) = serde_json::from_str::<Value>(&text)
            {
                demo.facts = facts;
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

    /// The API URL.
    pub fn url(&self) -> String {
        self.facts["url"].as_str().expect("demo.json has the url").to_owned()
    }

    /// The API token.
    pub fn token(&self) -> String {
        self.facts["token"]
            .as_str()
            .expect("demo.json has the token")
            .to_owned()
    }

    /// The bare remote of the configuration repository.
    pub fn remote(&self) -> PathBuf {
        PathBuf::from(
            self.facts["config_repo_remote"]
                .as_str()
                .expect("demo.json has the remote"),
        )
    }

    /// The kubeconfig of the simulated clusters.
    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.facts["kubeconfig"].as_str().expect("demo.json has the kubeconfig"))
    }

    /// `POST /api/v1/deployments[?wait=true]`, returning the status code and body.
    pub async fn deploy(&self, body: Value, wait: bool) -> (u16, Value) {
        let url = format!(
            "{}/api/v1/deployments{}",
            self.url(),
            if wait { "?wait=true&timeout=2m" } else { "" }
        );
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token())
            .json(&body)
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` with the token.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url()))
            .bearer_auth(self.token())
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls a deployment until it is terminal.
    pub async fn wait_terminal(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (_, record) = self.get(&format!("/api/v1/deployments/{id}")).await;
            if matches!(record["status"].as_str(), Some("succeeded" | "failed" | "unchanged")) {
                return record;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "deployment {id} did not end: {record}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `git` against the bare remote.
    pub fn git(&self, args: &[&str]) -> String {
        let remote = self.remote();
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&remote)
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The number of commits on the remote's `main`.
    pub fn commit_count(&self) -> usize {
        self.git(&["rev-list", "--count", "main"])
            .trim()
            .parse()
            .expect("a count")
    }

    /// A file at the tip of the remote's `main`.
    pub fn file_at_tip(&self, path: &str) -> String {
        self.git(&["show", &format!("main:{path}")])
    }

    /// `kubectl --context <region>-<cluster> ...` with a fresh HOME.
    pub fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        let home = tempfile::tempdir().expect("a temporary HOME");
        Command::new("kubectl")
            .env("HOME", home.path())
            .env("KUBECONFIG", self.kubeconfig())
            .arg("--context")
            .arg(context)
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// The image of a Deployment's first container, as the cluster has it.
    pub fn cluster_image(&self, context: &str, deployment: &str) -> String {
        let out = self.kubectl(
            context,
            &[
                "get",
                "deployment",
                deployment,
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        );
        assert!(
            out.status.success(),
            "kubectl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI against this demo.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("the CLI runs")
    }

    /// The CLI against this demo, ready for other standard streams.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .env("K8S_APP_DEPLOYER_URL", self.url())
            .env("K8S_APP_DEPLOYER_TOKEN", self.token())
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI");
        cmd
    }
}

/// A deploy body.
pub fn body(region: &str, cluster: &str, file: &str, tag: &str) -> Value {
    json!({"region": region, "cluster": cluster, "file": file, "tag": tag})
}

/// Clones the remote into `dir` with the git CLI, as another writer would.
pub fn clone_remote(remote: &Path, dir: &Path) {
    let out = Command::new("git")
        .arg("clone")
        .arg("--quiet")
        .arg(remote)
        .arg(dir)
        .output()
        .expect("git clone runs");
    assert!(
        out.status.success(),
        "git clone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs git in a work tree.
pub fn git_in(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Other Writer", "-c", "user.email=other@example.invalid"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
