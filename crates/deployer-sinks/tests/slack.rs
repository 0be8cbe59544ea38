//! The Slack sink against a local stand-in for the Web API and incoming webhooks that checks
//! the documented request shapes.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use deployer_sinks::cloudevents::Encoder;
use deployer_sinks::environment::{EnvironmentName, Environments};
use deployer_sinks::memory::{EntryState, MemoryOutbox};
use deployer_sinks::slack::{MemoryMessageRefs, SlackSettings, SlackSink};
use deployer_sinks::{Sink, SinkName};
use support::{Answer, Ending, Received, Receiver, Seq, enqueue_all, fast_settings, run_until_settled, story, target};

const TOKEN: &str = "xoxb-test-token";

fn bot_settings(api_base: String) -> SlackSettings {
    SlackSettings {
        name: "slack".to_owned(),
        bot_token: Some(SecretString::from(TOKEN)),
        bot_token_file: None,
        bot_token_env: None,
        webhook_url: None,
        webhook_url_file: None,
        webhook_url_env: None,
        channels: BTreeMap::from([
            ("production".to_owned(), "#deploys-prod".to_owned()),
            ("default".to_owned(), "#deploys".to_owned()),
        ]),
        commit_url_template: Some("https://github.com/acme/config/commit/{sha}".to_owned()),
        api_base,
        timeout: Duration::from_secs(5),
        events: None,
    }
}

fn encoder() -> Encoder {
    Encoder {
        environments: Environments::from_pairs([("us-west-2", EnvironmentName::new("production").unwrap())]),
        ..Encoder::default()
    }
}

fn sink(settings: &SlackSettings) -> Arc<SlackSink> {
    let config = settings.build(&|_| None).unwrap();
    Arc::new(SlackSink::new(config, encoder(), Arc::new(MemoryMessageRefs::default())).unwrap())
}

/// Answers like the Web API, checking what every call must carry.
fn web_api(req: &Received, seen: &[Received]) -> Answer {
    let problem = check_web_api_call(req);
    if let Some(problem) = problem {
        return Answer::new(400, problem);
    }
    let posts = seen.iter().filter(|r| r.path.ends_with("chat.postMessage")).count();
    let ts = format!("1700000000.{:06}", posts + 1);
    match req.path.as_str() {
        "/api/chat.postMessage" => Answer::new(200, format!(r#"{{"ok":true,"channel":"C0PROD","ts":"{ts}"}}"#)),
        "/api/chat.update" => Answer::new(200, r#"{"ok":true,"channel":"C0PROD"}"#),
        _ => Answer::new(404, "unknown method"),
    }
}

fn check_web_api_call(req: &Received) -> Option<String> {
    if req.header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return Some("missing bearer token".to_owned());
    }
    if !req
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json")
    {
        return Some("not JSON".to_owned());
    }
    let body = req.json();
    if !body["text"].is_string() || !body["blocks"].is_array() || !body["channel"].is_string() {
        return Some(format!("body lacks text, blocks or channel: {body}"));
    }
    if req.path.ends_with("chat.update") && !body["ts"].is_string() {
        return Some("update without ts".to_owned());
    }
    None
}

#[tokio::test]
async fn a_bot_posts_once_then_updates_the_same_message_in_place() {
    let receiver = Receiver::start(Arc::new(web_api)).await;
    let sink = sink(&bot_settings(receiver.url("/api/")));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let mut seq = Seq::default();
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        Some("1.4.1"),
        "1.4.2",
        Ending::Success,
        &mut seq,
    );
    let other = story(
        "01JDQ81MNPQRSTVWXYZ0123456",
        &target("eu-west-1", "prod-2", "web"),
        Some("2.0"),
        "2.1",
        Ending::Failure,
        &mut seq,
    );
    enqueue_all(&outbox, sink.name(), &events);
    enqueue_all(&outbox, sink.name(), &other);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!(counters.delivered, u64::try_from(events.len() + other.len()).unwrap());
    assert_eq!(counters.dead, 0);

    let requests = receiver.requests();
    let for_api: Vec<&Received> = requests
        .iter()
        .filter(|r| r.body.windows(3).any(|w| w == b"api"))
        .collect();
    let posts: Vec<&Received> = requests
        .iter()
        .filter(|r| r.path.ends_with("chat.postMessage"))
        .collect();
    assert_eq!(posts.len(), 2, "one message per deployment");
    // The production deployment: posted to the production channel, then updated in place.
    let index = posts
        .iter()
        .position(|r| r.json()["channel"] == "#deploys-prod")
        .unwrap();
    let first = posts[index];
    let ts = format!("1700000000.{:06}", index + 1);
    assert!(
        first.json()["text"]
            .as_str()
            .unwrap()
            .contains("api queued for us-west-2/prod-1 (production)")
    );
    let updates: Vec<serde_json::Value> = requests
        .iter()
        .filter(|r| r.path.ends_with("chat.update"))
        .map(Received::json)
        .filter(|b| b["ts"] == ts.as_str())
        .collect();
    assert_eq!(updates.len(), events.len() - 1);
    for u in &updates {
        assert_eq!(u["channel"], "C0PROD", "updates use the channel id Slack answered with");
    }
    let last = updates.last().unwrap();
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .starts_with("✅ api deployed to us-west-2/prod-1 (production): 1.4.1 → 1.4.2"),
        "{}",
        last["text"]
    );
    let blocks = last["blocks"].to_string();
    assert!(
        blocks.contains("<https://github.com/acme/config/commit/3c5b9e1f2a7d4c6b8e0f1a2b3c4d5e6f7a8b9c0d|3c5b9e1>"),
        "{blocks}"
    );
    assert!(
        blocks.contains("<https://github.com/acme/shop/actions/runs/4242|github-actions build>"),
        "{blocks}"
    );
    assert!(blocks.contains("`1.4.1` → `1.4.2`"), "{blocks}");
    assert_eq!(last["blocks"][0]["type"], "header");
    assert!(!for_api.is_empty());
    // The other deployment has no environment: the default channel, and its failure details.
    let second = posts.iter().find(|r| r.json()["channel"] == "#deploys").unwrap();
    assert!(
        second.json()["text"]
            .as_str()
            .unwrap()
            .contains("web queued for eu-west-1/prod-2")
    );
    let failed_update = requests
        .iter()
        .filter(|r| r.path.ends_with("chat.update"))
        .map(Received::json)
        .find(|b| b["text"].as_str().unwrap_or_default().starts_with("❌"))
        .unwrap();
    let blocks = failed_update["blocks"].to_string();
    assert!(
        blocks.contains("progress_deadline_exceeded") && blocks.contains("ImagePullBackOff"),
        "{blocks}"
    );
}

#[tokio::test]
async fn a_429_waits_at_least_its_retry_after() {
    let receiver = Receiver::start(Arc::new(|req: &Received, seen: &[Received]| {
        if seen.is_empty() {
            Answer::new(429, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "1")
        } else {
            web_api(req, seen)
        }
    }))
    .await;
    let sink = sink(&bot_settings(receiver.url("/api/")));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        None,
        "1.0",
        Ending::Success,
        &mut Seq::default(),
    );
    enqueue_all(&outbox, sink.name(), &events[..2]);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!((counters.failed, counters.delivered), (1, 2));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before Retry-After"
    );
    assert!(requests[1].path.ends_with("chat.postMessage"));
    assert!(requests[2].path.ends_with("chat.update"));
}

#[tokio::test]
async fn channel_not_found_goes_dead_instead_of_looping() {
    let receiver = Receiver::start(Arc::new(|_: &Received, _: &[Received]| {
        Answer::new(200, r#"{"ok":false,"error":"channel_not_found"}"#)
    }))
    .await;
    let sink = sink(&bot_settings(receiver.url("/api/")));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        None,
        "1.0",
        Ending::Success,
        &mut Seq::default(),
    );
    enqueue_all(&outbox, sink.name(), &events[..1]);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!(
        receiver.requests().len(),
        1,
        "a permanent Slack error must not be retried"
    );
    assert_eq!(counters.dead, 1);
    let entry = &outbox.entries(sink.name())[0];
    assert_eq!(entry.state, EntryState::Dead);
    assert!(
        entry.last_error.as_deref().unwrap().contains("channel_not_found"),
        "{:?}",
        entry.last_error
    );
}

#[tokio::test]
async fn an_incoming_webhook_gets_only_the_outcome() {
    let receiver = Receiver::start(Arc::new(|req: &Received, _: &[Received]| {
        let body = req.json();
        if body["text"].is_string() && body["blocks"].is_array() && body.get("channel").is_none() {
            Answer::new(200, "ok")
        } else {
            Answer::new(400, "invalid_payload")
        }
    }))
    .await;
    let mut settings = bot_settings(String::new());
    settings.api_base = "https://slack.com/api/".to_owned();
    settings.bot_token = None;
    settings.channels.clear();
    settings.webhook_url = Some(SecretString::from(receiver.url("/services/T0/B0/XYZ")));
    let sink = sink(&settings);
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        Some("1.0"),
        "1.1",
        Ending::Success,
        &mut Seq::default(),
    );
    enqueue_all(&outbox, sink.name(), &events);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!(counters.skipped, u64::try_from(events.len() - 1).unwrap());
    assert_eq!(counters.delivered, 1);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("✅ api deployed")
    );
}

#[test]
fn slack_settings_refuse_a_bot_without_a_default_channel_and_channels_with_a_webhook() {
    let mut s = bot_settings("https://slack.com/api/".to_owned());
    s.channels.remove("default");
    let err = s.build(&|_| None).unwrap_err().to_string();
    assert!(err.contains("`default`"), "{err}");
    let mut s = bot_settings("https://slack.com/api/".to_owned());
    s.bot_token = None;
    s.webhook_url = Some(SecretString::from("https://hooks.slack.com/services/T/B/X"));
    let err = s.build(&|_| None).unwrap_err().to_string();
    assert!(err.contains("needs a bot token"), "{err}");
    let name: &SinkName = &SinkName::new("slack").unwrap();
    assert_eq!(name.as_str(), "slack");
}

#[tokio::test]
async fn a_message_that_can_no_longer_be_edited_is_posted_anew() {
    let receiver = Receiver::start(Arc::new(|req: &Received, seen: &[Received]| {
        if req.path.ends_with("chat.update") {
            Answer::new(200, r#"{"ok":false,"error":"message_not_found"}"#)
        } else {
            web_api(req, seen)
        }
    }))
    .await;
    let sink = sink(&bot_settings(receiver.url("/api/")));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        None,
        "1.0",
        Ending::Success,
        &mut Seq::default(),
    );
    enqueue_all(&outbox, sink.name(), &events[..3]);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    assert_eq!((counters.delivered, counters.dead), (3, 0));
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/chat.update",
            "/api/chat.postMessage",
            "/api/chat.update",
            "/api/chat.postMessage"
        ]
    );
    // The third event updates the message posted for the second.
    let third_update = receiver.requests()[3].json();
    assert_eq!(third_update["ts"], "1700000000.000002");
}
