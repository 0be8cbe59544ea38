//! The webhook sink against a local receiver that checks the documented request shape.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use deployer_sinks::cloudevents::Encoder;
use deployer_sinks::memory::{EntryState, MemoryOutbox};
use deployer_sinks::settings::SinksSettings;
use deployer_sinks::webhook::{WebhookSettings, WebhookSink, verify_signature};
use support::{Answer, Ending, Receiver, Seq, enqueue_all, fast_settings, run_until_settled, story, target};

const SECRET: &str = "whsec-test-7f3a";

fn settings(url: String) -> WebhookSettings {
    WebhookSettings {
        name: "audit".to_owned(),
        url,
        secret: None,
        secret_file: None,
        secret_env: Some("AUDIT_SECRET".to_owned()),
        timeout: Duration::from_secs(5),
        events: None,
    }
}

fn sink(url: String) -> Arc<WebhookSink> {
    let lookup = |name: &str| (name == "AUDIT_SECRET").then(|| SECRET.to_owned());
    let config = settings(url).build(&lookup).unwrap();
    Arc::new(WebhookSink::new(config, Encoder::default()).unwrap())
}

#[tokio::test]
async fn a_webhook_500_is_retried_and_then_delivered_signed() {
    let receiver = Receiver::start(Arc::new(|_, seen| {
        if seen.is_empty() {
            Answer::new(500, "boom")
        } else {
            Answer::new(204, "")
        }
    }))
    .await;
    let sink = sink(receiver.url("/hooks/deployer"));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        Some("1.0"),
        "1.1",
        Ending::Success,
        &mut Seq::default(),
    );
    enqueue_all(
        &outbox,
        &deployer_sinks::Sink::name(sink.as_ref()).clone(),
        &events[..2],
    );
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!((counters.delivered, counters.failed, counters.dead), (2, 1, 0));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "one failed and two delivered requests");
    let now = chrono::Utc::now().timestamp();
    for (i, req) in requests.iter().enumerate() {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/hooks/deployer");
        assert_eq!(
            req.header("content-type").as_deref(),
            Some("application/cloudevents+json; charset=utf-8")
        );
        let body = req.json();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(req.header("x-deployer-event-id").unwrap(), body["id"].as_str().unwrap());
        assert_eq!(
            req.header("x-deployer-event-type").unwrap(),
            body["type"].as_str().unwrap()
        );
        let expected_attempt = if i == 1 { "2" } else { "1" };
        assert_eq!(
            req.header("x-deployer-delivery-attempt").as_deref(),
            Some(expected_attempt),
            "request {i}"
        );
        let signature = req.header("x-deployer-signature").unwrap();
        assert!(signature.starts_with("t="), "{signature}");
        assert_eq!(
            verify_signature(SECRET.as_bytes(), &signature, &req.body, now, 300),
            Ok(())
        );
        assert!(verify_signature(b"wrong", &signature, &req.body, now, 300).is_err());
    }
    // The retry carries the same event id, so receivers can drop duplicates.
    assert_eq!(
        requests[0].header("x-deployer-event-id"),
        requests[1].header("x-deployer-event-id")
    );
    assert_eq!(requests[1].json()["data"]["event"], "queued");
    assert_eq!(requests[2].json()["data"]["event"], "committed");
}

#[tokio::test]
async fn a_webhook_404_goes_dead_without_retrying() {
    let receiver = Receiver::start(Arc::new(|_, _| Answer::new(404, "no such hook"))).await;
    let sink = sink(receiver.url("/gone"));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        None,
        "1.1",
        Ending::Success,
        &mut Seq::default(),
    );
    let name = deployer_sinks::Sink::name(sink.as_ref()).clone();
    enqueue_all(&outbox, &name, &events[..1]);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(counters.dead, 1);
    let entry = &outbox.entries(&name)[0];
    assert_eq!(entry.state, EntryState::Dead);
    assert!(
        entry.last_error.as_deref().unwrap().contains("404"),
        "{:?}",
        entry.last_error
    );
}

#[tokio::test]
async fn webhook_settings_name_every_problem() {
    let toml_like = SinksSettings {
        webhooks: vec![WebhookSettings {
            name: "Bad Name".to_owned(),
            url: "ftp://example.com".to_owned(),
            secret: Some(SecretString::from("x")),
            secret_file: None,
            secret_env: None,
            timeout: Duration::ZERO,
            events: None,
        }],
        ..SinksSettings::default()
    };
    let err = toml_like.build(&|_| None).unwrap_err().to_string();
    for needle in [
        "`sinks.webhooks.Bad Name.name`",
        "`sinks.webhooks.Bad Name.url`",
        "`sinks.webhooks.Bad Name.timeout`",
    ] {
        assert!(err.contains(needle), "{needle} not in: {err}");
    }
    let missing = SinksSettings {
        webhooks: vec![settings("https://example.com/h".to_owned())],
        ..SinksSettings::default()
    };
    let err = missing.build(&|_| None).unwrap_err().to_string();
    assert!(err.contains("`AUDIT_SECRET`"), "{err}");
}
