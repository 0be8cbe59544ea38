//! The k8s-app-deployer service: the HTTP API, the per-target queue and its workers,
//! Server-Sent Events, authentication, the service configuration, and the triggers: registry
//! webhooks and CI releases routed by the `[triggers]` rules of `deployer-triggers`.
//!
//! Start with [`Server`]: the binary loads [`config::Settings`], builds the adapters and an
//! [`Engine`] (the executor of `deployer-core`), then calls [`Server::start`], which resumes
//! unfinished deployments, and [`Server::serve`], which answers HTTP until shutdown.
//! Everything here is written against the ports of `deployer_core::ports`, never against a
//! concrete adapter.

/// The HTTP API: routes, handlers, error bodies and the OpenAPI document.
pub mod api;
/// Authentication, scopes, rate limits and the audit log of API calls.
pub mod auth;
/// The service configuration: TOML file, environment overrides and validation.
pub mod config;
/// What the server needs from the executor.
pub mod engine;
/// Change notifications that wake Server-Sent Event streams and `?wait=true` requests.
pub mod hub;
/// Prometheus metrics: deployments, queue, outbox backlog, HTTP requests.
pub mod metrics;
/// The per-target queue: one deployment at a time per target, targets in parallel.
pub mod queue;
/// Rollbacks: what to restore, and pinning the target.
pub mod rollbacks;
/// Starting, serving and stopping the whole service.
pub mod service;
/// HTTPS, client addresses and security headers.
pub mod transport;
/// Registry webhooks and CI releases: configuration, reload, planning and recording.
pub mod triggers;

pub use engine::Engine;
pub use hub::Hub;
pub use service::{Dependencies, ServeError, Server, StartError, shutdown_signal};
pub use triggers::{TriggerReloader, reload_on_hangup};
