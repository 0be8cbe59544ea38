//! The queue's depth, read when the metrics are scraped.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::queue::Queue;

/// `deployer_queue_depth` and `deployer_queue_busy_targets`, read from the queue it is
/// attached to (nothing is reported before).
#[derive(Debug, Clone, Default)]
pub struct QueueGauges {
    queue: Arc<OnceLock<Queue>>,
}

impl QueueGauges {
    /// Registers the gauges.
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self::default();
        registry.register_collector(Box::new(gauges.clone()));
        gauges
    }

    /// Reads from `queue` from now on (only the first call has an effect).
    pub fn attach(&self, queue: Queue) {
        let _ = self.queue.set(queue);
    }
}

impl Collector for QueueGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(queue) = self.queue.get() else {
            return Ok(());
        };
        let stats = queue.stats();
        for (name, help, value) in [
            ("deployer_queue_depth", "Deployments waiting or running.", stats.queued),
            (
                "deployer_queue_busy_targets",
                "Targets with deployments waiting or running.",
                stats.busy_targets,
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
