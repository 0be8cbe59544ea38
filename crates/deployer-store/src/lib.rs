//! The history store of k8s-app-deployer: every deployment, its events and the outbox of
//! notifications, on SQLite (the default) or PostgreSQL 15+.
//!
//! Start with [`open`]: it reads a [`StoreSettings`], connects, applies the migrations of
//! `migrations/<backend>/` and returns a [`HistoryStore`], which is both the core's
//! [`Store`](deployer_core::ports::Store) port and the [`OutboxStore`].
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
//! - **Secrets.** The URL and the PostgreSQL password are [`secrecy`] values; messages show the
//!   URL redacted and error texts are scrubbed of the password.
//!
//! Backend details (SQLite's single writer and durability, PostgreSQL's event ordering) are in
//! the [`sqlite`] and [`postgres`] module docs.

/// Row values and JSON encoding shared by the backends.
mod columns;
/// Why opening failed, and how driver errors become store errors.
pub mod error;
/// Versioned schema migrations.
pub mod migrate;
/// Opening a store from its settings.
mod open;
/// The outbox of events waiting for each notification sink.
pub mod outbox;
/// The PostgreSQL backend.
pub mod postgres;
/// The `[store]` configuration section.
pub mod settings;
/// The SQLite backend.
pub mod sqlite;

pub use error::OpenError;
pub use open::{HistoryStore, open, open_with_outbox};
pub use outbox::{OutboxEntry, OutboxId, OutboxState, OutboxStore, SinkName};
pub use postgres::PostgresStore;
pub use settings::{Backend, DatabaseUrl, StoreSettings};
pub use sqlite::SqliteStore;
