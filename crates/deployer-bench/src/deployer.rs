//! Running the deployer under test: as its own process (`k8s-app-deployer serve --config`),
//! which is what the measurements use, or inside this process from the library crates, which
//! is what the smoke test uses so that it needs no separately built binary.
//!
//! The in-process service is assembled the way the binary's `service::start` assembles it
//! (without event sinks, which the benchmarks do not configure); both read the same generated
//! configuration file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use deployer_core::execute::{Executor, Ports};
use deployer_core::ports::{Clock, Store, SystemClock};
use deployer_git::{GitConfigRepo, GitSettings};
use deployer_kube::{ClusterSettings, KubeClusters};
use deployer_manifest::ManifestEditor;
use deployer_server::auth::StaticTokens;
use deployer_server::config::{RawConfig, Settings, typed};
use deployer_server::{Dependencies, Hub, Server};
use deployer_store::StoreSettings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How to run the deployer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// `binary serve --config <file>` as a child process.
    Process {
        /// The `k8s-app-deployer` binary.
        binary: PathBuf,
    },
    /// The service inside this process (figures for CPU and memory then include the harness).
    InProcess,
}

impl Launch {
    /// The release binary of the workspace this crate is built in: `$CARGO_TARGET_DIR` or
    /// `<workspace>/target`, then `release/k8s-app-deployer`.
    pub fn release_binary() -> Launch {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        Launch::Process {
            binary: target.join("release").join("k8s-app-deployer"),
        }
    }

    /// Whether the deployer runs in its own process (so its CPU and memory can be read apart).
    pub fn is_process(&self) -> bool {
        matches!(self, Launch::Process { .. })
    }
}

enum Running {
    Child(tokio::process::Child),
    InProcess {
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<anyhow::Result<()>>,
    },
}

/// A started deployer.
pub struct Deployer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The process to read `/proc` of (this process when in-process).
    pub pid: u32,
    /// Where its logs go (process mode).
    pub log: PathBuf,
    running: Running,
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer")
            .field("url", &self.url)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Picks a free loopback port (bound and released at once).
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Deployer {
    /// Starts the deployer with `config` (which listens on `listen`) and waits until
    /// `/readyz` answers 200.
    ///
    /// # Errors
    /// When it cannot start or does not become ready within `ready_within`.
    pub async fn start(
        launch: &Launch,
        config: &Path,
        listen: &str,
        log: &Path,
        ready_within: Duration,
    ) -> anyhow::Result<Deployer> {
        let url = format!("http://{listen}");
        let (running, pid) = match launch {
            Launch::Process { binary } => {
                if !binary.exists() {
                    bail!(
                        "the deployer binary `{}` does not exist\n\nhint: build it with `cargo build --release -p k8s-app-deployer`, or pass `--deployer PATH`",
                        binary.display()
                    );
                }
                let file = std::fs::File::create(log)?;
                let child = tokio::process::Command::new(binary)
                    .args(["serve", "--config"])
                    .arg(config)
                    .stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file)
                    .kill_on_drop(true)
                    .spawn()
                    .with_context(|| format!("cannot run `{}`", binary.display()))?;
                let pid = child.id().context("the deployer exited at once")?;
                (Running::Child(child), pid)
            }
            Launch::InProcess => {
                let server = start_in_process(config).await?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    server
                        .serve(listener, async move {
                            let _ = stopped.await;
                        })
                        .await
                        .map_err(|e| anyhow!("{e}"))
                });
                (Running::InProcess { stop: Some(stop), task }, std::process::id())
            }
        };
        let mut deployer = Deployer {
            url,
            pid,
            log: log.to_path_buf(),
            running,
        };
        deployer.wait_ready(ready_within).await?;
        Ok(deployer)
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            if let Running::Child(child) = &mut self.running
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the deployer exited with {status} before it was ready:\n{}",
                    tail(&self.log)
                );
            }
            if let Running::InProcess { task, .. } = &self.running
                && task.is_finished()
            {
                bail!("the in-process deployer stopped before it was ready");
            }
            let ready = client
                .get(format!("{}/readyz", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the deployer was not ready within {within:?}:\n{}", tail(&self.log));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it: SIGTERM (then a kill after 15 s) for a process, the shutdown signal in process.
    ///
    /// # Errors
    /// When the process cannot be signalled or the in-process server failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        match self.running {
            Running::Child(mut child) => {
                if let Some(pid) = child.id() {
                    let _ = tokio::process::Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status()
                        .await;
                }
                match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
                    Ok(status) => {
                        status?;
                    }
                    Err(_) => child.kill().await?,
                }
                Ok(())
            }
            Running::InProcess { mut stop, task } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                task.await
                    .map_err(|e| anyhow!("the in-process deployer panicked: {e}"))?
            }
        }
    }
}

fn config_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("invalid deployer configuration: {e}")
}

/// Builds the service from the configuration file, as the binary does.
async fn start_in_process(config: &Path) -> anyhow::Result<Server> {
    let raw = RawConfig::collect(Some(config)).map_err(config_error)?;
    let settings = Settings::from_raw(&raw).map_err(config_error)?;
    let git: GitSettings =
        typed("git", toml::Value::Table(settings.git.clone().unwrap_or_default())).map_err(config_error)?;
    let store_settings: StoreSettings =
        typed("store", toml::Value::Table(settings.store.clone().unwrap_or_default())).map_err(config_error)?;
    let cluster_settings = settings
        .clusters
        .iter()
        .enumerate()
        .map(|(i, t)| typed::<ClusterSettings>(&format!("clusters[{i}]"), toml::Value::Table(t.clone())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(config_error)?;
    let history = deployer_store::open(&store_settings)
        .await
        .context("cannot open the history store")?;
    let store: Arc<dyn Store> = history.clone();
    let repo = Arc::new(
        GitConfigRepo::open(git)
            .await
            .context("cannot open the configuration repository")?,
    );
    let clusters = Arc::new(
        KubeClusters::connect(&cluster_settings)
            .await
            .context("cannot set up the clusters")?,
    );
    let manifests = Arc::new(ManifestEditor::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hub = Arc::new(Hub::new());
    let ports = Ports {
        repo: repo.clone(),
        clusters: clusters.clone(),
        store: Arc::clone(&store),
        manifests: manifests.clone(),
        clock: Arc::clone(&clock),
        notifier: hub.clone(),
    };
    let executor = Executor::new(ports, settings.executor.clone());
    let deps = Dependencies {
        engine: Arc::new(executor),
        store,
        repo,
        clusters,
        manifests,
        authenticator: Arc::new(StaticTokens::from_settings(&settings.auth)),
        hub,
        clock,
        triggers: history.clone(),
        releases: history.clone(),
        pins: history,
    };
    Server::start(deps, settings).await.context("cannot start the service")
}
