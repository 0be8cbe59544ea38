//! Builds the running service from validated settings: the one code path for `serve` and `demo`.

use std::sync::Arc;

use anyhow::Context;
use deployer_core::execute::{Executor, Ports};
use deployer_core::ports::{Clock, SystemClock};
use deployer_git::{GitConfigRepo, GitSettings};
use deployer_kube::{ClusterSettings, KubeClusters};
use deployer_manifest::ManifestEditor;
use deployer_server::auth::{Chain, StaticTokens, StoreTokens};
use deployer_server::config::{ConfigError, Problem, Settings, typed};
use deployer_server::{Dependencies, Hub, Server};
use deployer_sinks::settings::SinksSettings;
use deployer_store::StoreSettings;

/// The adapter sections of the settings, typed and validated.
pub struct AdapterSettings {
    /// `[git]`.
    pub git: GitSettings,
    /// `[store]`.
    pub store: StoreSettings,
    /// `[[clusters]]`.
    pub clusters: Vec<ClusterSettings>,
    /// `[sinks]` (empty when no sink is configured).
    pub sinks: SinksSettings,
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
    let sinks = match &settings.sinks {
        Some(table) => typed::<SinksSettings>("sinks", toml::Value::Table(table.clone()))
            .map_err(|e| problems.extend(e.problems))
            .ok(),
        None => Some(SinksSettings::default()),
    };
    let mut clusters = Vec::new();
    for (i, table) in settings.clusters.iter().enumerate() {
        match typed::<ClusterSettings>(&format!("clusters[{i}]"), toml::Value::Table(table.clone())) {
            Ok(c) => clusters.push(c),
            Err(e) => problems.extend(e.problems),
        }
    }
    match (git, store, sinks, problems.is_empty()) {
        (Some(git), Some(store), Some(sinks), true) => Ok(AdapterSettings {
            git,
            store,
            clusters,
            sinks,
        }),
        _ => Err(ConfigError { problems }),
    }
}

/// The running service: the HTTP server with its queue, and the event delivery it feeds.
pub struct Service {
    server: Server,
    delivery: crate::events::Delivery,
    flush_within: std::time::Duration,
}

impl Service {
    /// A handle that reloads the `[triggers]` section while the service runs.
    pub fn trigger_reloader(&self) -> deployer_server::TriggerReloader {
        self.server.trigger_reloader()
    }

    /// Serves until `signal` resolves, then stops in order: the server stops accepting and
    /// lets running deployments reach a recorded step (`[server] shutdown_grace`,
    /// `[queue] shutdown_deadline`), then the delivery workers send what is due, for at most
    /// `shutdown_grace`, and stop.
    ///
    /// # Errors
    /// [`deployer_server::ServeError`] when the listener fails (the delivery is stopped too).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), deployer_server::ServeError> {
        let served = self.server.serve(listener, signal).await;
        self.delivery.shutdown(self.flush_within).await;
        served
    }
}

/// Opens every adapter and starts the service (resuming unfinished deployments).
///
/// # Errors
/// When the store, the repository or a cluster's credentials cannot be opened.
pub async fn start(settings: Settings, adapters: AdapterSettings) -> anyhow::Result<Service> {
    let lookup = |key: &str| std::env::var(key).ok();
    let sinks = adapters
        .sinks
        .build(&lookup)
        .map_err(|e| anyhow::anyhow!("invalid `[sinks]` configuration: {e}"))?;
    let sink_names = sinks
        .names()
        .iter()
        .map(|n| deployer_store::SinkName::new(n.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let history = deployer_store::open_with_outbox(&adapters.store, sink_names.clone())
        .await
        .context("cannot open the history store")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Delivery workers, and the metrics registry served at `/metrics`.
    let (registry, metrics, delivery) =
        crate::events::start_delivery(&history, sinks, sink_names.clone(), clock.clone());
    let store: Arc<dyn deployer_core::ports::Store> = history.clone();
    let repo = Arc::new(
        GitConfigRepo::open(adapters.git)
            .await
            .context("cannot open the configuration repository")?,
    );
    let clusters = Arc::new(
        KubeClusters::connect(&adapters.clusters)
            .await
            .context("cannot set up the clusters")?,
    );
    let manifests = Arc::new(ManifestEditor::default());
    let hub = Arc::new(Hub::new());
    let ports = Ports {
        repo: repo.clone(),
        clusters: clusters.clone(),
        store: Arc::clone(&store),
        manifests: manifests.clone(),
        clock: Arc::clone(&clock),
        notifier: Arc::new(deployer_server::metrics::Tee::new(
            hub.clone(),
            Arc::new(metrics.deployments.clone()),
        )),
    };
    let executor = Executor::new(ports, settings.executor.clone());
    let deps = Dependencies {
        engine: Arc::new(executor),
        store,
        repo,
        clusters,
        manifests,
        // Configured tokens first, then the ones issued with `token create`.
        authenticator: Arc::new(
            Chain::new()
                .then(Arc::new(StaticTokens::from_settings(&settings.auth)))
                .then(Arc::new(StoreTokens::new(history.clone(), clock.clone()))),
        ),
        hub,
        clock,
        triggers: history.clone(),
        releases: history.clone(),
        pins: history.clone(),
    };
    let outbox: Arc<dyn deployer_store::OutboxStore> = history.clone();
    let audit: Arc<dyn deployer_store::AuditStore> = history;
    // At `SIGTERM` the sinks get as long as open connections to send what is due.
    let flush_within = settings.server.shutdown_grace;
    // The web UI at `/`: its routes merged with the API's, behind its session layer.
    let ui = deployer_ui::UiSettings {
        secure_cookies: settings.server.tls.is_some(),
        ..Default::default()
    };
    let server = Server::start(deps, settings)
        .await
        .context("cannot start the service")?
        .with_audit(audit)
        .with_metrics(deployer_server::metrics::Exposition {
            registry: Arc::new(registry),
            metrics,
        })
        .with_events(outbox, sink_names);
    Ok(Service {
        server: server.with_router(move |api| deployer_ui::compose(api, ui)),
        delivery,
        flush_within,
    })
}
