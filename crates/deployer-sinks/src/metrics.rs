//! The delivery workers' counters as Prometheus metrics.
//!
//! [`SinkMetrics`] is a collector: it reads every worker's [`SinkCounters`] when the registry
//! is encoded, so the numbers are never stale and no task copies them around. Each metric has
//! one label, `sink`, whose values are the configured sink names (bounded by the
//! configuration).
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `deployer_events_delivered_total{sink}` | counter | events the sink accepted |
//! | `deployer_events_skipped_total{sink}` | counter | events the sink is configured not to send |
//! | `deployer_events_delivery_failures_total{sink}` | counter | failed delivery attempts (each retry counts) |
//! | `deployer_events_dead_total{sink}` | counter | events given up on (listed by `GET /api/v1/events?state=dead`) |
//! | `deployer_events_in_flight{sink}` | gauge | events claimed and not yet settled, plus targets held back |
//! | `deployer_outbox_errors_total{sink}` | counter | outbox operations of the worker that failed |

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::outbox::SinkName;
use crate::worker::{CounterSnapshot, RunningWorker, SinkCounters};

/// Exposes the counters of each sink's worker; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SinkMetrics {
    sinks: Vec<(SinkName, Arc<SinkCounters>)>,
}

impl SinkMetrics {
    /// The metrics of the given workers' counters.
    pub fn new(sinks: Vec<(SinkName, Arc<SinkCounters>)>) -> Self {
        Self { sinks }
    }

    /// The metrics of workers started by [`spawn_workers`](crate::spawn_workers).
    pub fn of_workers(workers: &[RunningWorker]) -> Self {
        Self::new(
            workers
                .iter()
                .map(|w| (w.sink.clone(), Arc::clone(&w.counters)))
                .collect(),
        )
    }

    /// Registers the collector on `registry`.
    pub fn register(self, registry: &mut Registry) {
        registry.register_collector(Box::new(self));
    }
}

/// One metric: its name, help, and how to read it from a snapshot.
struct Series {
    name: &'static str,
    help: &'static str,
    value: fn(&CounterSnapshot) -> u64,
}

const COUNTERS: [Series; 5] = [
    Series {
        name: "deployer_events_delivered",
        help: "Events the sink accepted.",
        value: |s| s.delivered,
    },
    Series {
        name: "deployer_events_skipped",
        help: "Events the sink is configured not to send.",
        value: |s| s.skipped,
    },
    Series {
        name: "deployer_events_delivery_failures",
        help: "Failed delivery attempts; each retry counts.",
        value: |s| s.failed,
    },
    Series {
        name: "deployer_events_dead",
        help: "Events given up on; see GET /api/v1/events?state=dead.",
        value: |s| s.dead,
    },
    Series {
        name: "deployer_outbox_errors",
        help: "Outbox operations of the delivery worker that failed.",
        value: |s| s.store_errors,
    },
];

impl Collector for SinkMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshots: Vec<(&SinkName, CounterSnapshot)> =
            self.sinks.iter().map(|(name, c)| (name, c.snapshot())).collect();
        for series in &COUNTERS {
            let mut family =
                encoder.encode_descriptor(series.name, series.help, None, ConstCounter::new(0u64).metric_type())?;
            for (name, snapshot) in &snapshots {
                let labels = [("sink", name.as_str())];
                ConstCounter::new((series.value)(snapshot)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "deployer_events_in_flight",
            "Events claimed by the delivery worker and not yet settled, plus targets held back by a failed event.",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (name, snapshot) in &snapshots {
            let labels = [("sink", name.as_str())];
            let value = i64::try_from(snapshot.backlog).unwrap_or(i64::MAX);
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn encoded(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn every_sink_gets_its_own_series_read_at_scrape_time() {
        let kafka = Arc::new(SinkCounters::default());
        let slack = Arc::new(SinkCounters::default());
        let mut registry = Registry::default();
        SinkMetrics::new(vec![
            (
                SinkName::new("kafka").unwrap_or_else(|e| panic!("{e}")),
                Arc::clone(&kafka),
            ),
            (
                SinkName::new("slack").unwrap_or_else(|e| panic!("{e}")),
                Arc::clone(&slack),
            ),
        ])
        .register(&mut registry);
        kafka.delivered.fetch_add(3, Ordering::Relaxed);
        kafka.failed.fetch_add(2, Ordering::Relaxed);
        slack.dead.fetch_add(1, Ordering::Relaxed);
        slack.backlog.store(4, Ordering::Relaxed);
        let text = encoded(&registry);
        for line in [
            "deployer_events_delivered_total{sink=\"kafka\"} 3",
            "deployer_events_delivered_total{sink=\"slack\"} 0",
            "deployer_events_delivery_failures_total{sink=\"kafka\"} 2",
            "deployer_events_dead_total{sink=\"slack\"} 1",
            "deployer_events_in_flight{sink=\"slack\"} 4",
            "# TYPE deployer_events_dead counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        kafka.delivered.fetch_add(1, Ordering::Relaxed);
        assert!(encoded(&registry).contains("deployer_events_delivered_total{sink=\"kafka\"} 4"));
    }
}
