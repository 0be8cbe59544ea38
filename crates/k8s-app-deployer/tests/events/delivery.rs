//! A successful, a failed and a rolled-back deployment reach every sink, in order, with the
//! documented shapes, and `/metrics` counts what happened.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bed::{Bed, KafkaTarget, WEBHOOK_SINK, app, serial};
use crate::check::{kafka_order, kafka_record_shape, of_deployment, ordered_per_key};
use crate::kafka::{bootstrap, consume_until, create_topic, delete_topic, unique_topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_a_failure_and_a_rollback_reach_kafka_slack_and_the_webhook_in_order() {
    let _serial = serial().await;
    let kafka = KafkaTarget {
        bootstrap: bootstrap(),
        topic: unique_topic("delivery"),
    };
    create_topic(&kafka.bootstrap, &kafka.topic, 2).await;
    let bed = Bed::new(Some(&kafka), 2).await;
    bed.start().await;

    let good = bed.deploy(&app(0), "v1", "60s").await;
    let record = bed.wait_terminal(&good, Duration::from_secs(60)).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    let bad = bed.deploy(&app(1), "v1-never-ready", "2s").await;
    let record = bed.wait_terminal(&bad, Duration::from_secs(60)).await;
    assert_eq!(record["status"], "failed", "{record}");
    let (status, answer) = bed
        .post(
            &format!("/api/v1/deployments/{good}/rollback"),
            &json!({"reason": "testing the events", "timeout": "60s"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let undo = answer["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    let record = bed.wait_terminal(&undo, Duration::from_secs(60)).await;
    assert_eq!(record["status"], "succeeded", "{record}");

    let mut expected = BTreeSet::new();
    for id in [&good, &bad, &undo] {
        let ids = bed.event_ids(id).await;
        assert!(ids.len() >= 4, "deployment {id} has events {ids:?}");
        expected.extend(ids);
    }

    // Kafka: every event, nothing else, keyed by target, in order per key.
    let records = consume_until(&kafka.bootstrap, &kafka.topic, &expected, Duration::from_secs(30)).await;
    for r in &records {
        kafka_record_shape(r);
    }
    assert_eq!(
        kafka_order(&records),
        expected,
        "the topic holds exactly the stored events"
    );
    assert_eq!(records.len(), expected.len(), "no duplicates without a crash");
    let values: Vec<Value> = records.iter().map(|r| r.value.clone()).collect();
    let types = |d: &str| -> Vec<String> {
        of_deployment(&values, d)
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (good_types, bad_types, undo_types) = (types(&good), types(&bad), types(&undo));
    for t in [&good_types, &bad_types, &undo_types] {
        assert_eq!(
            t.first().map(String::as_str),
            Some("dev.k8s-app-deployer.deployment.queued.v1"),
            "{t:?}"
        );
    }
    assert_eq!(
        good_types.last().map(String::as_str),
        Some("dev.cdevents.service.upgraded.0.2.0"),
        "{good_types:?}"
    );
    assert_eq!(
        bad_types.last().map(String::as_str),
        Some("dev.k8s-app-deployer.deployment.failed.v1"),
        "{bad_types:?}"
    );
    assert_eq!(
        undo_types.last().map(String::as_str),
        Some("dev.cdevents.service.rolledback.0.2.0"),
        "{undo_types:?}"
    );
    let failed = of_deployment(&values, &bad)
        .last()
        .copied()
        .cloned()
        .unwrap_or_default();
    assert!(
        failed["data"]["failure"]["code"].is_string(),
        "a failed event says why: {failed}"
    );
    assert_eq!(failed["data"]["outcome"], "failed");
    assert_eq!(failed["data"]["environment"], "testing", "from [sinks.environments]");
    let rolled = of_deployment(&values, &undo)
        .last()
        .copied()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rolled["data"]["customData"]["trigger"]["kind"], "rollback", "{rolled}");
    assert_eq!(
        rolled["data"]["context"]["id"], rolled["id"],
        "the CDEvent context mirrors the CloudEvent"
    );

    // The webhook: every event, signed, in order per target.
    let deadline = Instant::now() + Duration::from_secs(20);
    let hooks = loop {
        let hooks = bed.receivers.hooks();
        let seen: BTreeSet<String> = hooks
            .iter()
            .filter_map(|h| h.event["id"].as_str().map(str::to_owned))
            .collect();
        if expected.is_subset(&seen) || Instant::now() > deadline {
            break hooks;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hook_ids = ordered_per_key(
        hooks
            .iter()
            .map(|h| (h.event["subject"].as_str().unwrap_or_default(), &h.event)),
    );
    assert_eq!(hook_ids, expected, "the webhook got exactly the stored events");
    assert!(hooks.iter().all(|h| h.attempt == 1), "no retries were needed");

    // Slack: one message per deployment, updated in place for its later events.
    let deadline = Instant::now() + Duration::from_secs(20);
    while bed.receivers.slack().len() < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slack = bed.receivers.slack();
    assert_eq!(
        slack.iter().filter(|c| c.method == "chat.postMessage").count(),
        3,
        "{slack:?}"
    );
    assert_eq!(slack.len(), expected.len(), "one Slack call per event");
    assert!(
        slack
            .iter()
            .filter(|c| c.method == "chat.update")
            .all(|c| c.body["channel"] == "C0DEPLOYS"),
        "updates go to the channel Slack answered with"
    );
    assert!(
        bed.receivers.problems().is_empty(),
        "requests off the documented shapes: {:?}",
        bed.receivers.problems()
    );

    // The metrics match what happened.
    let total = expected.len() as f64;
    let sinks = ["kafka", "slack", WEBHOOK_SINK];
    let m = bed
        .wait_for_metrics("the delivery counters and the backlog did not settle", |m| {
            sinks.iter().all(|sink| {
                m.value(&format!("deployer_events_delivered_total{{sink=\"{sink}\"}}")) == total
                    && m.0.contains(&format!("deployer_outbox_pending{{sink=\"{sink}\"}} 0"))
            })
        })
        .await;
    assert_eq!(
        m.value(r#"deployer_deployments_total{status="succeeded",method="apply"}"#),
        2.0,
        "{}",
        m.0
    );
    assert_eq!(
        m.value(r#"deployer_deployments_total{status="failed",method="apply"}"#),
        1.0,
        "{}",
        m.0
    );
    for sink in sinks {
        assert_eq!(
            m.value(&format!("deployer_events_dead_total{{sink=\"{sink}\"}}")),
            0.0,
            "{sink}"
        );
        assert_eq!(
            m.value(&format!("deployer_events_delivery_failures_total{{sink=\"{sink}\"}}")),
            0.0,
            "{sink}"
        );
        assert_eq!(
            m.value(&format!(
                "deployer_outbox_oldest_pending_age_seconds{{sink=\"{sink}\"}}"
            )),
            0.0,
            "{sink}"
        );
    }
    assert_eq!(
        m.value(r#"deployer_deployment_phase_duration_seconds_count{stage="queued_to_committed"}"#),
        3.0,
        "{}",
        m.0
    );
    assert_eq!(
        m.value(r#"deployer_deployment_phase_duration_seconds_count{stage="applied_to_finished"}"#),
        3.0
    );
    assert_eq!(m.value("deployer_queue_depth"), 0.0, "{}", m.0);
    assert_eq!(
        m.value(r#"deployer_http_requests_total{method="POST",route="/api/v1/deployments",status="202"}"#),
        2.0,
        "{}",
        m.0
    );
    assert_eq!(
        m.value(
            r#"deployer_http_requests_total{method="POST",route="/api/v1/deployments/{id}/rollback",status="202"}"#
        ),
        1.0
    );

    // Nothing is dead.
    let (status, dead) = bed.get("/api/v1/events?state=dead").await;
    assert_eq!((status, dead), (200, json!({"events": []})));

    // The JSON log lines written while the deployment ran carry its id.
    let log = bed.log();
    let tagged = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["deployment_id"].as_str() == Some(good.as_str()))
        .count();
    assert!(
        tagged > 0,
        "no JSON log line carries deployment_id {good} in its span:\n{}",
        bed.log_tail()
    );

    bed.kill9();
    delete_topic(&kafka.bootstrap, &kafka.topic).await;
}
