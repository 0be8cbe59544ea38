//! The outbox backlog per sink, read from the store every few seconds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use deployer_core::ports::Clock;
use deployer_store::{OutboxStore, SinkName};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// The label of the backlog gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// `deployer_outbox_pending{sink}` and `deployer_outbox_oldest_pending_age_seconds{sink}`
/// (cheap to clone); [`OutboxGauges::poll`] keeps them current.
#[derive(Debug, Clone)]
pub struct OutboxGauges {
    pending: Family<SinkLabel, Gauge>,
    age: Family<SinkLabel, Gauge<f64, AtomicU64>>,
}

impl OutboxGauges {
    /// Registers the gauges.
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            pending: Family::default(),
            age: Family::default(),
        };
        registry.register(
            "deployer_outbox_pending",
            "Events waiting for delivery to the sink (including retries and deliveries in flight).",
            gauges.pending.clone(),
        );
        registry.register_with_unit(
            "deployer_outbox_oldest_pending_age",
            "Age of the oldest event waiting for delivery to the sink; 0 when none waits.",
            Unit::Seconds,
            gauges.age.clone(),
        );
        gauges
    }

    /// Reads the backlog of each sink once. A sink whose backlog cannot be read keeps its
    /// last values; the error is returned for the caller to log.
    ///
    /// # Errors
    /// The first store error met.
    pub async fn refresh(
        &self,
        store: &dyn OutboxStore,
        sinks: &[SinkName],
        clock: &dyn Clock,
    ) -> Result<(), deployer_core::ports::StoreError> {
        let mut first_error = None;
        for sink in sinks {
            match store.backlog(sink).await {
                Ok(backlog) => {
                    let label = SinkLabel {
                        sink: sink.as_str().to_owned(),
                    };
                    self.pending
                        .get_or_create(&label)
                        .set(i64::try_from(backlog.pending).unwrap_or(i64::MAX));
                    let age = backlog
                        .oldest_event_at
                        .and_then(|t| (clock.now() - t).to_std().ok())
                        .map_or(0.0, |d| d.as_secs_f64());
                    self.age.get_or_create(&label).set(age);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Refreshes every `every` until `shutdown` completes.
    pub async fn poll(
        self,
        store: Arc<dyn OutboxStore>,
        sinks: Vec<SinkName>,
        clock: Arc<dyn Clock>,
        every: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut failing = false;
        loop {
            match self.refresh(store.as_ref(), &sinks, clock.as_ref()).await {
                Ok(()) => failing = false,
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(message = "Cannot read the outbox backlog; the metrics keep their last values.", error = %error);
                }
                Err(_) => {}
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
