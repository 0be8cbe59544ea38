//! Opening the store named by the settings, and the ports both backends implement.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::model::{DeploymentEvent, DeploymentId, DeploymentRecord, Status, Target};
use deployer_core::ports::{DeploymentFilter, Inserted, PageRequest, Store, StoreError};

use crate::audit::AuditStore;
use crate::error::OpenError;
use crate::outbox::{OutboxBacklog, OutboxEntry, OutboxId, OutboxState, OutboxStore, SinkName};
use crate::pins::PinStore;
use crate::postgres::PostgresStore;
use crate::releases::ReleaseStore;
use crate::settings::{Backend, StoreSettings};
use crate::sqlite::SqliteStore;
use crate::tokens::TokenStore;
use crate::triggers::TriggerStore;

/// Everything the server keeps: the core's [`Store`] port, the [`OutboxStore`], API tokens,
/// the audit log, pins, received triggers and CI releases. An `Arc<dyn HistoryStore>` converts
/// into an `Arc<dyn Store>` (or any other of these traits) where only that part is needed.
pub trait HistoryStore: Store + OutboxStore + TokenStore + AuditStore + PinStore + TriggerStore + ReleaseStore {}

impl<T: Store + OutboxStore + TokenStore + AuditStore + PinStore + TriggerStore + ReleaseStore + ?Sized> HistoryStore
    for T
{
}

/// Opens the store `settings` name and brings its schema up to date.
///
/// # Errors
/// [`OpenError`] saying what is wrong: invalid settings, an unreadable password, an unreachable
/// database, a schema newer than this build, or a failed migration.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn HistoryStore>, OpenError> {
    open_with_outbox(settings, Vec::new()).await
}

/// Like [`open`], and every event written from then on is queued in the outbox for each of
/// `sinks`, in the transaction that writes the event.
///
/// # Errors
/// As [`open`].
pub async fn open_with_outbox(
    settings: &StoreSettings,
    sinks: Vec<SinkName>,
) -> Result<Arc<dyn HistoryStore>, OpenError> {
    Ok(match settings.url.backend() {
        Backend::Sqlite => Arc::new(SqliteStore::open(settings).await?.with_outbox_sinks(sinks)),
        Backend::Postgres => Arc::new(PostgresStore::open(settings).await?.with_outbox_sinks(sinks)),
    })
}

/// Implements the ports on a backend by calling its inherent methods of the same names. (The
/// token, audit, pin, trigger and release stores are implemented directly, in the backends'
/// submodules.)
macro_rules! implement_ports {
    ($backend:ty) => {
        #[async_trait]
        impl Store for $backend {
            async fn insert_deployment(
                &self,
                record: &DeploymentRecord,
                events: &[DeploymentEvent],
            ) -> Result<Inserted, StoreError> {
                <$backend>::insert_deployment(self, record, events).await
            }

            async fn update_deployment(
                &self,
                record: &DeploymentRecord,
                events: &[DeploymentEvent],
            ) -> Result<(), StoreError> {
                <$backend>::update_deployment(self, record, events).await
            }

            async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
                <$backend>::get_deployment(self, id).await
            }

            async fn list_deployments(
                &self,
                filter: &DeploymentFilter,
                page: &PageRequest,
            ) -> Result<Vec<DeploymentRecord>, StoreError> {
                <$backend>::list_deployments(self, filter, page).await
            }

            async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
                <$backend>::unfinished_deployments(self).await
            }

            async fn last_deployment(
                &self,
                target: &Target,
                status: Option<Status>,
            ) -> Result<Option<DeploymentRecord>, StoreError> {
                <$backend>::last_deployment(self, target, status).await
            }

            async fn events(&self, id: DeploymentId, after: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
                <$backend>::events(self, id, after).await
            }
        }

        #[async_trait]
        impl OutboxStore for $backend {
            async fn enqueue(&self, event_seq: i64, sink: &SinkName, now: DateTime<Utc>) -> Result<bool, StoreError> {
                <$backend>::enqueue(self, event_seq, sink, now).await
            }

            async fn claim_due(
                &self,
                sink: &SinkName,
                limit: usize,
                now: DateTime<Utc>,
            ) -> Result<Vec<OutboxEntry>, StoreError> {
                <$backend>::claim_due(self, sink, limit, now).await
            }

            async fn mark_delivered(&self, id: OutboxId) -> Result<(), StoreError> {
                <$backend>::mark_delivered(self, id).await
            }

            async fn mark_failed(
                &self,
                id: OutboxId,
                next_attempt_at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                <$backend>::mark_failed(self, id, next_attempt_at, error).await
            }

            async fn mark_dead(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
                <$backend>::mark_dead(self, id, error).await
            }

            async fn list_dead(&self, sink: &SinkName, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
                <$backend>::list_dead(self, sink, limit).await
            }

            async fn retry_dead(&self, sink: &SinkName, now: DateTime<Utc>) -> Result<u64, StoreError> {
                <$backend>::retry_dead(self, sink, now).await
            }

            async fn retry_dead_entry(
                &self,
                id: OutboxId,
                now: DateTime<Utc>,
            ) -> Result<Option<OutboxState>, StoreError> {
                <$backend>::retry_dead_entry(self, id, now).await
            }

            async fn backlog(&self, sink: &SinkName) -> Result<OutboxBacklog, StoreError> {
                <$backend>::backlog(self, sink).await
            }
        }
    };
}

implement_ports!(SqliteStore);
implement_ports!(PostgresStore);
