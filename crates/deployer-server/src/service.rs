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
use std::sync::Arc;

use deployer_core::ports::{Clock, ClusterDirectory, ConfigRepo, Manifests, Store, StoreError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::queue::Queue;

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
}

impl ServeError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::Http(_) => "http_failed",
        }
    }
}

/// A started service: the queue runs; [`Server::serve`] answers HTTP.
pub struct Server {
    state: AppState,
    authenticator: Arc<dyn Authenticator>,
    settings: Settings,
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
        let queue = Queue::new(deps.engine.clone(), deps.hub.clone(), settings.queue.clone());
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
        };
        Ok(Server {
            state,
            authenticator: deps.authenticator,
            settings,
        })
    }

    /// The API router, for serving on a listener of one's own or testing in process.
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone(), self.authenticator.clone())
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
        let serve = axum::serve(listener, self.router())
            .with_graceful_shutdown(graceful)
            .into_future();
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
