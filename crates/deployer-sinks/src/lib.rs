//! Notification sinks of k8s-app-deployer: every deployment event, delivered at least once
//! and in order per target, to a Kafka topic, Slack and signed HTTP webhooks.
//!
//! Start with [`worker::Worker`]: one runs per sink, reading the outbox that the history
//! store fills in the transaction of each state change ([`outbox::OutboxSource`]). A sink
//! ([`delivery::Sink`]) only sends; the worker decides about retries, ordering and giving up,
//! so a slow or broken sink never holds up a deployment or another sink. Events are encoded
//! as CloudEvents with CDEvents types by [`cloudevents`]; the schema is in `docs/events.md`.
//! [`settings::SinksSettings`] is the `[sinks]` configuration section and builds the sinks.

/// Exponential backoff with jitter.
pub mod backoff;
/// Deployment events as CloudEvents / CDEvents.
pub mod cloudevents;
/// The `Sink` trait and delivery outcomes.
pub mod delivery;
/// Environment names and the operator's map of clusters to environments.
pub mod environment;
/// HTTP helpers shared by the HTTP sinks: `Retry-After`, status classification.
pub mod http;
/// The Kafka sink.
pub mod kafka;
/// An in-memory outbox with the store's semantics.
pub mod memory;
/// The delivery workers' counters as Prometheus metrics.
pub mod metrics;
/// The outbox as the worker sees it.
pub mod outbox;
/// Secrets given inline, in a file or in an environment variable.
pub mod secret;
/// The `[sinks]` configuration section.
pub mod settings;
/// The Slack sink.
pub mod slack;
/// The signed HTTP webhook sink.
pub mod webhook;
/// The delivery worker.
pub mod worker;

pub use delivery::{Delivered, DeliveryError, Sink};
pub use outbox::{ItemId, OrderingKey, OutboxItem, OutboxSource, SinkName};
pub use worker::{RunningWorker, SinkCounters, Worker, WorkerSettings, spawn_workers};
