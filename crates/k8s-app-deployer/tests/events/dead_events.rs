//! Events a sink refuses for good are listed with their last error and revived by an
//! operator through the API.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bed::{Bed, WEBHOOK_SINK, app, serial};

async fn dead(bed: &Bed) -> Vec<Value> {
    let (status, body) = bed.get(&format!("/api/v1/events?state=dead&sink={WEBHOOK_SINK}")).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_sink_refuses_are_listed_with_their_error_and_revived_by_an_operator() {
    let _serial = serial().await;
    let bed = Bed::new(None, 1).await;
    bed.receivers.answer_hooks_with(400);
    bed.start().await;

    let id = bed.deploy(&app(0), "v4", "60s").await;
    bed.wait_terminal(&id, Duration::from_secs(60)).await;
    let expected: BTreeSet<String> = bed.event_ids(&id).await.into_iter().collect();

    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed = dead(&bed).await;
        if listed.len() >= expected.len() || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let listed_ids: BTreeSet<String> = listed
        .iter()
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed_ids, expected, "every refused event is dead: {listed:?}");
    for e in &listed {
        assert_eq!(e["sink"], WEBHOOK_SINK);
        assert_eq!(e["state"], "dead");
        assert_eq!(e["deployment_id"], id.as_str());
        assert_eq!(e["target"], "r/c0/app-00");
        assert!(e["last_error"].as_str().is_some_and(|t| t.contains("400")), "{e}");
    }
    let seqs: Vec<i64> = listed.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first: {seqs:?}");

    let m = bed.metrics().await;
    assert_eq!(
        m.value(&format!("deployer_events_dead_total{{sink=\"{WEBHOOK_SINK}\"}}")),
        expected.len() as f64,
        "{}",
        m.0
    );
    assert_eq!(m.value(r#"deployer_events_dead_total{sink="slack"}"#), 0.0);

    // Wrong questions get the documented answers.
    assert_eq!(
        bed.get("/api/v1/events?state=dead&sink=nope").await.1["error"]["code"],
        "sink_not_found"
    );
    assert_eq!(
        bed.get("/api/v1/events?state=pending").await.1["error"]["code"],
        "invalid_query"
    );
    let anonymous = bed
        .http
        .get(format!("{}/api/v1/events", bed.base))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(anonymous.ok(), Some(401));
    assert_eq!(
        bed.post("/api/v1/events/999999/retry", &json!({})).await.1["error"]["code"],
        "event_not_found"
    );

    // The receiver is fixed: revive one, then the rest of the sink.
    bed.receivers.answer_hooks_with(200);
    let first = listed[0]["id"].as_i64().unwrap_or_default();
    let (status, answer) = bed.post(&format!("/api/v1/events/{first}/retry"), &json!({})).await;
    assert_eq!((status, answer), (200, json!({"revived": 1})));
    let (status, again) = bed.post(&format!("/api/v1/events/{first}/retry"), &json!({})).await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("event_not_dead")),
        "{again}"
    );
    let (status, answer) = bed
        .post(&format!("/api/v1/events/retry?sink={WEBHOOK_SINK}"), &json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["revived"].as_u64(), Some(expected.len() as u64 - 1), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let delivered: BTreeSet<String> = bed
            .receivers
            .hooks()
            .iter()
            .filter(|h| h.answered == 200)
            .filter_map(|h| h.event["id"].as_str().map(str::to_owned))
            .collect();
        if delivered == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revived events were not delivered: {delivered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dead(&bed).await.is_empty(), "nothing is dead any more");
    assert!(bed.receivers.problems().is_empty(), "{:?}", bed.receivers.problems());
    bed.kill9();
}
