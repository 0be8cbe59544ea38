//! Starting, serving and stopping the service.
//!
//! ```text
//! Server::start  ── resumes Store::unfinished_deployments() into the queue, oldest first
//! Server::serve  ── answers HTTP until `signal` resolves, then:
//!                   1. readiness turns 503, waits and event streams end, new work is refused
//!                   2. open connections get `server.shutdown_grace` to finish
//!                   3. running deployments get `queue.shutdown_deadline` to finish; the rest
//!                      resume from their recorded phase at the next start
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};

use deployer_core::ports::{Clock, ClusterDirectory, ConfigRepo, Manifests, Store, StoreError};
use deployer_store::{AuditStore, PinStore, ReleaseStore, TriggerStore};
use deployer_triggers::webhook::ReplayCache;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::{AuditLog, Authenticator, Guard};
use crate::config::Settings;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::queue::Queue;
use crate::transport::ClientAddr;
use crate::transport::tls::TlsListener;
use crate::triggers::callback::{CallbackSender, HttpCallbacks, NoCallbacks};
use crate::triggers::{LiveTriggers, TriggerReloader};

/// What the service is built from: the executor, the ports and the authenticator.
#[derive(Clone)]
pub struct Dependencies {
    /// Checks and runs deployments (the executor of `deployer-core`).
    pub engine: Arc<dyn Engine>,
    /// The history store.
    pub store: Arc<dyn Store>,
    /// The configuration repository.
    pub repo: Arc<dyn ConfigRepo>,
    /// The configured clusters.
    pub clusters: Arc<dyn ClusterDirectory>,
    /// Manifest reading.
    pub manifests: Arc<dyn Manifests>,
    /// Who may call the API.
    pub authenticator: Arc<dyn Authenticator>,
    /// The hub the engine reports changes to.
    pub hub: Arc<Hub>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Received triggers (webhooks, releases), for `GET /api/v1/triggers` and deduplication.
    pub triggers: Arc<dyn TriggerStore>,
    /// CI releases, for `GET /api/v1/releases/{id}`.
    pub releases: Arc<dyn ReleaseStore>,
    /// Pinned targets, which automatic triggers leave alone.
    pub pins: Arc<dyn PinStore>,
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The unfinished deployments could not be read.
    #[error("failed to read the unfinished deployments to resume")]
    ResumeFailed(#[source] StoreError),
}

impl StartError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StartError::ResumeFailed(_) => "resume_failed",
        }
    }
}

/// The service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or serving connections failed.
    #[error("failed to serve HTTP")]
    Http(#[source] std::io::Error),
    /// The `[server.tls]` certificate or key could not be loaded.
    #[error("failed to set up HTTPS")]
    Tls(#[source] crate::transport::tls::TlsError),
}

impl ServeError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::Http(_) => "http_failed",
            ServeError::Tls(_) => "tls_failed",
        }
    }
}

/// A started service: the queue runs; [`Server::serve`] answers HTTP.
pub struct Server {
    state: AppState,
    guard: Arc<Guard>,
    settings: Settings,
    // ui: what `serve` wraps the API router in (the web UI of `deployer-ui`), if anything.
    compose: Option<Arc<dyn Fn(axum::Router) -> axum::Router + Send + Sync>>,
    // events: the metrics served at `/metrics` and the outbox behind `/api/v1/events`.
    metrics: Option<crate::metrics::Exposition>,
    events: Option<crate::api::events_admin::EventsAdmin>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("queue", &self.state.queue)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Builds the queue and resumes every unfinished deployment, oldest first, so that they
    /// run before any new deployment to the same target.
    ///
    /// # Errors
    /// [`StartError::ResumeFailed`] when the store cannot list the unfinished deployments.
    pub async fn start(deps: Dependencies, settings: Settings) -> Result<Server, StartError> {
        // Queued deployments wait for an unreachable configuration repository (`queue::repo_gate`),
        // and failed ones are rolled back where the `[[policies]]` say so (`queue::auto_rollback`).
        let gated: Arc<dyn Engine> = Arc::new(crate::queue::repo_gate::RepoGate::new(
            deps.engine.clone(),
            deps.repo.clone(),
            deps.store.clone(),
            settings.queue.repo_wait,
        ));
        let queue = Queue::new(gated, deps.hub.clone(), settings.queue.clone());
        let auto_rollback = Arc::new(crate::queue::auto_rollback::AutoRollback::new(
            settings.policies.clone(),
            deps.engine.clone(),
            deps.store.clone(),
            deps.pins.clone(),
            deps.clock.clone(),
            deps.hub.clone(),
        ));
        if auto_rollback.enabled() {
            queue.on_finished(auto_rollback.clone());
        }
        let unfinished = deps
            .store
            .unfinished_deployments()
            .await
            .map_err(StartError::ResumeFailed)?;
        if !unfinished.is_empty() {
            tracing::info!(message = "Resuming unfinished deployments.", count = unfinished.len());
        }
        for record in unfinished {
            queue.resume(record.request.target.clone(), record.id);
        }
        auto_rollback.recover(&queue).await;
        let callbacks: Arc<dyn CallbackSender> = match HttpCallbacks::new() {
            Some(http) => Arc::new(http),
            None => Arc::new(NoCallbacks),
        };
        let state = AppState {
            engine: deps.engine,
            store: deps.store,
            repo: deps.repo,
            clusters: deps.clusters,
            manifests: deps.manifests,
            clock: deps.clock,
            hub: deps.hub,
            queue,
            settings: Arc::new(settings.server.clone()),
            shutdown: CancellationToken::new(),
            triggers: Arc::new(LiveTriggers::new(settings.triggers.clone())),
            trigger_log: deps.triggers,
            releases: deps.releases,
            pins: deps.pins,
            replay: Arc::new(Mutex::new(ReplayCache::default())),
            callbacks,
        };
        Ok(Server {
            state,
            guard: Arc::new(Guard::new(
                deps.authenticator,
                settings.auth.rate_limits.clone(),
                AuditLog::disabled(),
            )),
            settings,
            compose: None, // ui
            metrics: None,
            events: None,
        })
    }

    /// The API router, for serving on a listener of one's own or testing in process.
    pub fn router(&self) -> axum::Router {
        let mut router = api::router(self.state.clone(), self.guard.clone());
        // events: begin (metrics and the dead-events API)
        if let Some(events) = &self.events {
            router = router.layer(axum::Extension(events.clone()));
        }
        if let Some(exposition) = &self.metrics {
            router = router
                .layer(axum::Extension(crate::metrics::endpoint::Served(
                    exposition.registry.clone(),
                )))
                .layer(axum::middleware::from_fn_with_state(
                    exposition.metrics.http.clone(),
                    crate::metrics::track,
                ));
        }
        // events: end
        router
    }

    // events: begin
    /// Serves `exposition`'s registry at `GET /metrics`, counts HTTP requests into it and
    /// reports this server's queue depth.
    #[must_use]
    pub fn with_metrics(mut self, exposition: crate::metrics::Exposition) -> Self {
        exposition.metrics.queue.attach(self.state.queue.clone());
        self.metrics = Some(exposition);
        self
    }

    /// Lists and revives undelivered events of `sinks` through `GET /api/v1/events` and
    /// `POST /api/v1/events/…/retry`.
    #[must_use]
    pub fn with_events(
        mut self,
        outbox: Arc<dyn deployer_store::OutboxStore>,
        sinks: Vec<deployer_store::SinkName>,
    ) -> Self {
        self.events = Some(crate::api::events_admin::EventsAdmin { outbox, sinks });
        self
    }
    // events: end

    // ui: begin (router composition for the web UI)
    /// Serves `compose(api router)` instead of the API router alone: the binary merges the web
    /// UI's routes and wraps them in its session layer here.
    #[must_use]
    pub fn with_router(mut self, compose: impl Fn(axum::Router) -> axum::Router + Send + Sync + 'static) -> Self {
        self.compose = Some(Arc::new(compose));
        self
    }
    // ui: end

    /// A handle that reloads the `[triggers]` section while the service runs; call it on
    /// `SIGHUP` (see [`crate::triggers::reload_on_hangup`]).
    pub fn trigger_reloader(&self) -> TriggerReloader {
        TriggerReloader::new(self.state.triggers.clone())
    }

    /// Writes the audit log to `store` (from a task of the current runtime; entries that the
    /// store cannot take in time are dropped and counted, never waited for).
    #[must_use]
    pub fn with_audit(mut self, store: Arc<dyn AuditStore>) -> Self {
        self.guard = Arc::new(
            self.guard
                .with_audit(AuditLog::spawn(store, crate::auth::AUDIT_CAPACITY)),
        );
        self
    }

    /// Replaces how Docker Hub callback URLs are acknowledged (tests record them instead).
    #[must_use]
    pub fn with_callbacks(mut self, callbacks: Arc<dyn CallbackSender>) -> Self {
        self.state.callbacks = callbacks;
        self
    }

    /// The queue, for diagnostics.
    pub fn queue(&self) -> &Queue {
        &self.state.queue
    }

    /// Serves HTTP on `listener` until `signal` resolves, then shuts down gracefully (see the
    /// module docs). Returns once the queue has stopped.
    ///
    /// # Errors
    /// [`ServeError::Http`] when the listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let shutdown = self.state.shutdown.clone();
        let grace = self.settings.server.shutdown_grace;
        let drain = shutdown.clone();
        let graceful = async move {
            signal.await;
            tracing::info!(message = "Shutting down.");
            drain.cancel();
        };
        let app = match &self.compose {
            Some(compose) => compose(self.router()), // ui
            None => self.router(),
        };
        // Security headers on everything served, composed routes included.
        let app = crate::transport::headers::apply(app, self.settings.server.tls.is_some());
        let app = app.into_make_service_with_connect_info::<ClientAddr>();
        let serve: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match &self.settings.server.tls
        {
            None => Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .into_future(),
            ),
            Some(tls) => {
                let listener = TlsListener::new(listener, tls).map_err(ServeError::Tls)?;
                Box::pin(
                    axum::serve(listener, app)
                        .with_graceful_shutdown(graceful)
                        .into_future(),
                )
            }
        };
        let served = tokio::select! {
            r = serve => r.map_err(ServeError::Http),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(message = "Open connections did not finish within the grace period; closing them.");
                Ok(())
            }
        };
        shutdown.cancel();
        let clean = self.state.queue.shutdown(self.settings.queue.shutdown_deadline).await;
        if clean {
            tracing::info!(message = "Queue stopped.");
        } else {
            tracing::warn!(message = "Running deployments were interrupted; they resume at the next start.");
        }
        served
    }
}

/// Resolves on Ctrl-C or, on Unix, `SIGTERM`: the usual `signal` for [`Server::serve`].
///
/// If a signal handler cannot be installed, that signal is ignored (the other still works)
/// and the failure is logged.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(message = "Cannot listen for Ctrl-C.", error = %error);
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::warn!(message = "Cannot listen for SIGTERM.", error = %error);
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
