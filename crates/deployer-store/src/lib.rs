//! The history store of k8s-app-deployer: every deployment, its events, the outbox of
//! notifications, and the API's tokens, audit log, pins, received triggers and releases, on
//! SQLite (the default) or PostgreSQL 15+.
//!
//! Start with [`open`]: it reads a [`StoreSettings`], connects, applies the migrations of
//! `migrations/<backend>/` and returns a [`HistoryStore`]: the core's
//! [`Store`](deployer_core::ports::Store) port, the [`OutboxStore`], and the stores of API
//! tokens ([`TokenStore`]), the audit log ([`AuditStore`]), pins ([`PinStore`]), received
//! triggers ([`TriggerStore`]) and CI releases ([`ReleaseStore`]). The [`tokens`] module has
//! the operations the server and the `token` commands call.
//!
//! # Choices
//! - **Driver.** [`sqlx`] 0.8 with the tokio runtime, without its compile-time checked query
//!   macros: building needs no database and no `DATABASE_URL`. SQLite is compiled in (bundled),
//!   so the binary needs no system library.
//! - **Schema.** Each deployment is one row whose `record` column holds the full record as
//!   JSON, for forward compatibility; the fields that queries filter and sort on are copied
//!   into real, indexed columns. Events live in `deployment_events`, whose `seq` is the
//!   global, strictly increasing order of all events. The `outbox` table holds one entry per
//!   event and sink.
//! - **Atomicity.** A deployment and its events are written in one transaction. An
//!   idempotency key is a `UNIQUE` column and the insert is `ON CONFLICT DO NOTHING`, so two
//!   racing requests with the same key cannot both create a deployment.
//! - **Migrations.** Versioned SQL files, compiled in, applied in order in one transaction and
//!   recorded in `schema_migrations`. A database migrated by a newer build is refused.
//! - **Tokens.** Only the SHA-256 of an API token is stored, and lookups are by that hash;
//!   revoked and expired tokens are returned like any other, and `deployer_auth` decides.
//! - **Secrets.** The URL and the PostgreSQL password are [`secrecy`] values; messages show the
//!   URL redacted and error texts are scrubbed of the password.
//!
//! Backend details (SQLite's single writer and durability, PostgreSQL's event ordering) are in
//! the [`sqlite`] and [`postgres`] module docs.

/// The audit log: who did what, allowed or not.
pub mod audit;
/// Row values and JSON encoding shared by the backends.
mod columns;
/// Why opening failed, and how driver errors become store errors.
pub mod error;
/// ULID ids of triggers and releases.
pub mod ids;
/// Versioned schema migrations.
pub mod migrate;
/// Opening a store from its settings.
mod open;
/// The outbox of events waiting for each notification sink.
pub mod outbox;
/// Pins: targets automatic triggers leave alone.
pub mod pins;
/// The PostgreSQL backend.
pub mod postgres;
/// CI releases.
pub mod releases;
/// The `[store]` configuration section.
pub mod settings;
/// The SQLite backend.
pub mod sqlite;
/// API tokens: the port and the operations of the server and the `token` commands.
pub mod tokens;
/// Received triggers.
pub mod triggers;

pub use audit::{AuditEntry, AuditFilter, AuditOutcome, AuditPage, AuditStore};
pub use error::OpenError;
pub use ids::{InvalidUlidId, ReleaseId, TriggerId};
pub use open::{HistoryStore, open, open_with_outbox};
pub use outbox::{OutboxBacklog, OutboxEntry, OutboxId, OutboxState, OutboxStore, SinkName};
pub use pins::{Pin, PinOutcome, PinStore};
pub use postgres::PostgresStore;
pub use releases::{ReleaseRecord, ReleaseStore};
pub use settings::{Backend, DatabaseUrl, StoreSettings};
pub use sqlite::SqliteStore;
pub use tokens::{AuthenticateError, TokenCommandError, TokenListing, TokenStore};
pub use triggers::{TriggerOutcome, TriggerPage, TriggerRecord, TriggerStore};
