//! A deployer killed with `SIGKILL` while it delivers events delivers the rest after a
//! restart: nothing is lost, and anything sent twice is the same event with the same id.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bed::{Bed, KafkaTarget, app, serial};
use crate::check::{kafka_order, kafka_record_shape, ordered_per_key};
use crate::kafka::{bootstrap, consume_until, create_topic, delete_topic, unique_topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployer_killed_mid_delivery_delivers_the_rest_after_a_restart() {
    let _serial = serial().await;
    let kafka = KafkaTarget {
        bootstrap: bootstrap(),
        topic: unique_topic("crash"),
    };
    create_topic(&kafka.bootstrap, &kafka.topic, 2).await;
    let bed = Bed::new(Some(&kafka), 3).await;
    // A slow webhook keeps deliveries in flight.
    bed.receivers.delay_hooks(Duration::from_millis(300));
    bed.start().await;

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(bed.deploy(&app(i), "v3", "60s").await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while bed.receivers.hooks().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the webhook got nothing:\n{}",
            bed.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bed.kill9();
    let before_restart = bed.receivers.hooks().len();

    bed.receivers.delay_hooks(Duration::from_millis(20));
    bed.start().await;
    let mut expected = BTreeSet::new();
    for id in &ids {
        let record = bed.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        expected.extend(bed.event_ids(id).await);
    }
    assert!(
        before_restart < expected.len(),
        "the kill came after every webhook delivery; nothing was tested"
    );

    let records = consume_until(&kafka.bootstrap, &kafka.topic, &expected, Duration::from_secs(30)).await;
    for r in &records {
        kafka_record_shape(r);
    }
    assert_eq!(
        kafka_order(&records),
        expected,
        "Kafka got every event, duplicates only with the same id"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let hooks: Vec<Value> = loop {
        let hooks: Vec<Value> = bed.receivers.hooks().into_iter().map(|h| h.event).collect();
        let seen: BTreeSet<String> = hooks
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        if expected.is_subset(&seen) || Instant::now() > deadline {
            break hooks;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen = ordered_per_key(hooks.iter().map(|e| (e["subject"].as_str().unwrap_or_default(), e)));
    assert_eq!(
        seen, expected,
        "the webhook got every event, duplicates only with the same id"
    );
    assert!(bed.receivers.problems().is_empty(), "{:?}", bed.receivers.problems());
    bed.kill9();
    delete_topic(&kafka.bootstrap, &kafka.topic).await;
}
