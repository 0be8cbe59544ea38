//! Builds the running service from validated settings: the one code path for `serve` and `demo`.

use std::sync::Arc;

use anyhow::Context;
use deployer_core::execute::{Executor, Ports};
use deployer_core::ports::{Clock, SystemClock};
use deployer_git::{GitConfigRepo, GitSettings};
use deployer_kube::{ClusterSettings, KubeClusters};
use deployer_manifest::ManifestEditor;
use deployer_server::auth::StaticTokens;
use deployer_server::config::{typed, ConfigError, Problem, Settings};
use deployer_server::{Dependencies, Hub, Server};
use deployer_store::StoreSettings;

/// The adapter sections of the settings, typed and validated.
pub struct AdapterSettings {
    /// `[git]`.
    pub git: GitSettings,
    /// `[store]`.
    pub store: StoreSettings,
    /// `[[clusters]]`.
    pub clusters: Vec<ClusterSettings>,
}

/// Types the raw `[git]`, `[store]` and `[[clusters]]` tables, reporting every problem with
/// its key path.
pub fn adapter_settings(settings: &Settings) -> Result<AdapterSettings, ConfigError> {
    let mut problems: Vec<Problem> = Vec::new();
    let git = match &settings.git {
        Some(table) => typed::<GitSettings>("git", toml::Value::Table(table.clone()))
            .map_err(|e| problems.extend(e.problems))
            .ok(),
        None => {
            problems.push(
                Problem::new("git", "the configuration repository is not configured")
                    .hint("add a `[git]` section with `remote`, `branch` and `clone_dir`"),
            );
            None
        }
    };
    let store = typed::<StoreSettings>("store", toml::Value::Table(settings.store.clone().unwrap_or_default()))
        .map_err(|e| problems.extend(e.problems))
        .ok();
    let mut clusters = Vec::new();
    for (i, table) in settings.clusters.iter().enumerate() {
        match typed::<ClusterSettings>(&format!("clusters[{i}]"), toml::Value::Table(table.clone())) {
            Ok(c) => clusters.push(c),
            Err(e) => problems.extend(e.problems),
        }
    }
    match (git, store, problems.is_empty()) {
        (Some(git), Some(store), true) => Ok(AdapterSettings { git, store, clusters }),
        _ => Err(ConfigError { problems }),
    }
}

/// Opens every adapter and starts the service (resuming unfinished deployments).
///
/// # Errors
/// When the store, the repository or a cluster's credentials cannot be opened.
pub async fn start(settings: Settings, adapters: AdapterSettings) -> anyhow::Result<Server> {
    let store = deployer_store::open(&adapters.store).await.context("cannot open the history store")?;
    let store: Arc<dyn deployer_core::ports::Store> = store;
    let repo = Arc::new(GitConfigRepo::open(adapters.git).await.context("cannot open the configuration repository")?);
    let clusters = Arc::new(KubeClusters::connect(&adapters.clusters).await.context("cannot set up the clusters")?);
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
    };
    Server::start(deps, settings).await.context("cannot start the service")
}
