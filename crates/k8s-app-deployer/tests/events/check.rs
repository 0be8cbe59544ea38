//! Checks shared by the tests: the documented record shapes and the order per key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::bed::SOURCE;
use crate::kafka::Consumed;

/// Checks a Kafka record against `docs/events.md`: key, `ce_` headers, content type, envelope.
pub fn kafka_record_shape(r: &Consumed) {
    let v = &r.value;
    let at = format!("record {}@{}: {v}", r.partition, r.offset);
    assert_eq!(v["specversion"], "1.0", "{at}");
    assert_eq!(v["source"], SOURCE, "{at}");
    assert_eq!(
        r.key,
        v["subject"].as_str().unwrap_or("?"),
        "the key is the subject; {at}"
    );
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/cloudevents+json; charset=UTF-8"),
        "{at}"
    );
    for (header, attribute) in [
        ("ce_specversion", "specversion"),
        ("ce_id", "id"),
        ("ce_type", "type"),
        ("ce_source", "source"),
        ("ce_subject", "subject"),
        ("ce_time", "time"),
    ] {
        assert_eq!(
            r.headers.get(header).map(String::as_str),
            v[attribute].as_str(),
            "header {header} copies {attribute}; {at}"
        );
    }
    let cdevent = v["type"].as_str().unwrap_or_default().starts_with("dev.cdevents.");
    let content_type = if cdevent {
        "application/cdevents+json"
    } else {
        "application/json"
    };
    assert_eq!(v["datacontenttype"], content_type, "{at}");
    let data = if cdevent { &v["data"]["customData"] } else { &v["data"] };
    let id = format!("{}-{}", data["deployment_id"].as_str().unwrap_or("?"), data["seq"]);
    assert_eq!(
        v["id"].as_str(),
        Some(id.as_str()),
        "the id is `<deployment id>-<seq>`; {at}"
    );
}

/// Checks that events of one key come in sequence order (by first delivery), that every
/// duplicate repeats the same event exactly, and returns the ids seen.
pub fn ordered_per_key<'a>(events: impl Iterator<Item = (&'a str, &'a Value)>) -> BTreeSet<String> {
    let mut first: BTreeMap<String, &Value> = BTreeMap::new();
    let mut last_seq: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, event) in events {
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        if let Some(earlier) = first.get(&id) {
            assert_eq!(*earlier, event, "a duplicate of {id} differs from the first delivery");
            continue;
        }
        let seq = seq_of(event);
        if let Some(prev) = last_seq.get(key) {
            assert!(seq > *prev, "key {key}: event {id} (seq {seq}) came after seq {prev}");
        }
        last_seq.insert(key, seq);
        first.insert(id, event);
    }
    first.into_keys().collect()
}

/// The `seq` of a CloudEvent's deployment data.
pub fn seq_of(event: &Value) -> i64 {
    event["data"]["seq"]
        .as_i64()
        .or_else(|| event["data"]["customData"]["seq"].as_i64())
        .unwrap_or(-1)
}

/// Kafka records must all be in the partition of their key, and in order per key.
pub fn kafka_order(records: &[Consumed]) -> BTreeSet<String> {
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    for r in records {
        let p = *partition_of.entry(r.key.as_str()).or_insert(r.partition);
        assert_eq!(p, r.partition, "key {} is in partitions {p} and {}", r.key, r.partition);
    }
    ordered_per_key(records.iter().map(|r| (r.key.as_str(), &r.value)))
}

/// The events of one deployment, in delivery order, from a list of CloudEvents.
pub fn of_deployment<'a>(events: &'a [Value], deployment: &str) -> Vec<&'a Value> {
    let prefix = format!("{deployment}-");
    events
        .iter()
        .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
        .collect()
}
