//! [`SimCluster`]: one simulated cluster with its own listener, store, clock and controllers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::context::Shared;
use super::control::Control;
use super::controller_loop::Engine;
use super::faults::FaultInjector;
use super::niceness;
use super::router;
use super::tls::{self, TlsError};
use crate::clock::{ClockMode, Profile, SimClock};
use crate::controllers::Controllers;
use crate::images::ImageRules;
use crate::store::{DEFAULT_HISTORY, Store};

/// How a simulated cluster is set up.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The cluster name: the kubeconfig's cluster, user and context are named after it.
    pub name: String,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed of every random choice (uids, name suffixes, fault rolls).
    pub seed: u64,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Serve HTTPS with a freshly generated self-signed CA.
    pub tls: bool,
    /// Per-image pod behaviour.
    pub images: ImageRules,
    /// Timings of the simulation (default: [`Profile::fast`]).
    pub profile: Profile,
    /// Realtime, or manual (time moves only through `advance`).
    pub clock: ClockMode,
    /// The simulated time at start; defaults to now (realtime) or 2025-01-01T00:00:00Z (manual).
    pub start_time: Option<DateTime<Utc>>,
    /// How often watches with `allowWatchBookmarks=true` get a bookmark.
    pub bookmark_interval: Duration,
    /// How many changes the watch history keeps.
    pub history_limit: usize,
    /// The niceness (0 to 19) at which the controller passes run; 0 leaves them at the
    /// priority of the process. A benchmark that runs simulated clusters beside the program
    /// it measures raises it, as a real cluster's controllers run on machines of their own.
    /// Requests are served at the process's priority whatever it is.
    pub controller_niceness: i32,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            name: "kube-sim".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            token: None,
            tls: false,
            images: ImageRules::default(),
            profile: Profile::fast(),
            clock: ClockMode::Realtime,
            start_time: None,
            bookmark_interval: Duration::from_secs(60),
            history_limit: DEFAULT_HISTORY,
            controller_niceness: 0,
        }
    }
}

impl SimOptions {
    /// Options for a cluster called `name`, otherwise the defaults.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// Why a simulated cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("failed to listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The TLS material could not be generated.
    #[error("failed to set up TLS")]
    Tls(#[source] TlsError),
}

impl StartError {
    /// A stable name for this error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind",
            Self::Tls(_) => "tls",
        }
    }
}

/// A running simulated cluster. Dropping it without [`SimCluster::shutdown`] also stops it.
pub struct SimCluster {
    name: String,
    addr: SocketAddr,
    tls: bool,
    token: Option<String>,
    ca_pem: Option<String>,
    control: Control,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn default_start(mode: ClockMode) -> DateTime<Utc> {
    match mode {
        ClockMode::Manual => Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_else(Utc::now),
        ClockMode::Realtime => {
            let now = Utc::now();
            Utc.timestamp_opt(now.timestamp(), 0).single().unwrap_or(now)
        }
    }
}

impl SimCluster {
    /// Binds the listener and starts serving, with the controllers running (realtime clock) or
    /// waiting for `advance` (manual clock).
    pub async fn start(options: SimOptions) -> Result<SimCluster, StartError> {
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
        let material = if options.tls {
            Some(tls::generate(&options.name).map_err(StartError::Tls)?)
        } else {
            None
        };
        let start = options.start_time.unwrap_or_else(|| default_start(options.clock));
        let clock = SimClock::with_speed(options.clock, start, options.profile.speed);
        let store = Store::new(clock.clone(), options.seed ^ 0x5EED_5701, options.history_limit);
        let controllers = Controllers::new(options.seed, options.images.clone(), options.profile.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (drop_watches, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            store,
            clock,
            engine: Engine::new(controllers, options.profile.clone()),
            faults: Mutex::new(FaultInjector::new(options.seed ^ 0xFA_017)),
            token: options.token.clone(),
            addr,
            drop_watches,
            shutdown: shutdown_rx,
            bookmark_interval: options.bookmark_interval.max(Duration::from_millis(10)),
            requests: Mutex::new(std::collections::VecDeque::new()),
        });

        let mut tasks = Vec::new();
        let acceptor = material
            .as_ref()
            .map(|m| TlsAcceptor::from(Arc::clone(&m.server_config)));
        tasks.push(tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&shared))));
        if options.clock == ClockMode::Realtime {
            tasks.push(tokio::spawn(tick_loop(
                Arc::clone(&shared),
                options.profile.tick,
                options.controller_niceness,
            )));
        }
        tracing::info!(message = "Simulated cluster started.", name = %options.name, %addr, tls = options.tls);
        Ok(SimCluster {
            name: options.name,
            addr,
            tls: options.tls,
            token: options.token,
            ca_pem: material.map(|m| m.ca_pem),
            control: Control::new(shared),
            shutdown: shutdown_tx,
            tasks: Mutex::new(tasks),
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`, or `https://…` in secured mode).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bearer token clients must send, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// PEM of the CA that signed the serving certificate (secured mode only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig for this cluster alone (YAML text).
    pub fn kubeconfig(&self) -> String {
        super::kubeconfig::kubeconfig_for(&[self])
    }

    /// In-process access to the `/_sim/` operations.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops serving: closes the listener, ends open watches and stops the controllers.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        tracing::info!(message = "Simulated cluster stopped.", name = %self.name);
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            task.abort();
        }
    }
}

async fn tick_loop(shared: Arc<Shared>, period: Duration, niceness: i32) {
    let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = shared.shutdown.clone();
    let mut warned = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        // A pass is synchronous work over the whole store: run it off the request threads,
        // at the niceness asked for (the blocking thread keeps it for later work).
        let pass = Arc::clone(&shared);
        let run = move || {
            let niced = niceness::at_least(niceness);
            pass.tick();
            niced
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                if !warned {
                    tracing::warn!(message = "Cannot lower the priority of the controller passes.", %error, niceness);
                    warned = true;
                }
            }
            Err(error) => tracing::error!(message = "A controller pass failed.", %error),
        }
    }
}

async fn accept_loop(listener: TcpListener, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(message = "Failed to accept a connection.", %error);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let mut shutdown = shared.shutdown.clone();
            match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls_stream) => serve_connection(TokioIo::new(tls_stream), shared, &mut shutdown).await,
                    Err(error) => tracing::debug!(message = "TLS handshake failed.", %peer, %error),
                },
                None => serve_connection(TokioIo::new(stream), shared, &mut shutdown).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, shared: Arc<Shared>, shutdown: &mut watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, std::convert::Infallible>(router::handle(shared, request).await) }
    });
    let connection = http1::Builder::new().keep_alive(true).serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(message = "Connection ended with an error.", %error);
            }
        }
        _ = shutdown.changed() => {}
    }
}
