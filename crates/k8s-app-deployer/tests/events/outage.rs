//! With the broker stopped, deployments finish anyway; once it is back, every event arrives,
//! in order per target.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::bed::{Bed, KafkaTarget, app, serial};
use crate::check::{kafka_order, kafka_record_shape};
use crate::kafka::{OwnBroker, consume_until, unique_topic};

/// Creates the topic on a broker that just started. The deployer keeps retrying meanwhile, and
/// Tansu's memory engine creates a topic someone asks metadata for; either way the topic must
/// exist before records are checked.
async fn recreate_topic(bootstrap: &str, topic: &str) {
    let client = rskafka::client::ClientBuilder::new(vec![bootstrap.to_owned()])
        .build()
        .await
        .unwrap_or_else(|e| panic!("broker at {bootstrap}: {e}"));
    let controller = client.controller_client().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = controller.create_topic(topic, 2, 1, 5_000).await {
        let exists = client
            .list_topics()
            .await
            .map(|ts| ts.iter().any(|t| t.name == topic))
            .unwrap_or(false);
        assert!(exists, "cannot create topic `{topic}`: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_down_deployments_finish_and_every_event_arrives_once_it_is_back() {
    let _serial = serial().await;
    let mut broker = OwnBroker::start().await;
    let kafka = KafkaTarget {
        bootstrap: broker.bootstrap(),
        topic: unique_topic("outage"),
    };
    crate::kafka::create_topic(&kafka.bootstrap, &kafka.topic, 2).await;
    let bed = Bed::new(Some(&kafka), 5).await;
    bed.start().await;

    broker.stop();
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(bed.deploy(&app(i), "v2", "60s").await);
    }
    for id in &ids {
        let record = bed.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(record["status"], "succeeded", "{record}");
    }
    let took = started.elapsed();
    let mut expected = BTreeSet::new();
    for id in &ids {
        expected.extend(bed.event_ids(id).await);
    }

    // While the broker is down the backlog shows, and the other sinks are not held up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = bed.metrics().await;
        let pending = m.value(r#"deployer_outbox_pending{sink="kafka"}"#);
        let failures = m.value(r#"deployer_events_delivery_failures_total{sink="kafka"}"#);
        if pending > 0.0 && failures > 0.0 {
            assert!(
                m.value(r#"deployer_outbox_oldest_pending_age_seconds{sink="kafka"}"#) > 0.0,
                "{}",
                m.0
            );
            assert_eq!(
                m.value(r#"deployer_events_delivered_total{sink="kafka"}"#),
                0.0,
                "{}",
                m.0
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics do not show the Kafka backlog:\n{}",
            m.0
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let hooks: BTreeSet<String> = bed
        .receivers
        .hooks()
        .iter()
        .filter_map(|h| h.event["id"].as_str().map(str::to_owned))
        .collect();
    assert!(!hooks.is_empty(), "the webhook got events while Kafka was down");

    broker.resume().await;
    recreate_topic(&kafka.bootstrap, &kafka.topic).await;
    let records = consume_until(&kafka.bootstrap, &kafka.topic, &expected, Duration::from_secs(45)).await;
    for r in &records {
        kafka_record_shape(r);
    }
    let seen = kafka_order(&records);
    assert_eq!(
        seen, expected,
        "every event arrived once the broker was back (the deployments took {took:?})"
    );
    let total = expected.len() as f64;
    bed.wait_for_metrics("the Kafka counters do not match the records", |m| {
        m.value(r#"deployer_events_delivered_total{sink="kafka"}"#) == total
            && m.value(r#"deployer_events_dead_total{sink="kafka"}"#) == 0.0
    })
    .await;
    bed.kill9();
}
