//! The `[sinks]` section as an operator writes it, and starting its workers.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use deployer_sinks::memory::MemoryOutbox;
use deployer_sinks::settings::SinksSettings;
use deployer_sinks::{OutboxSource, spawn_workers};
use support::{Answer, Ending, Receiver, Seq, story, target};

#[derive(Deserialize)]
struct Root {
    sinks: SinksSettings,
}

fn parse(text: &str) -> Result<SinksSettings, toml::de::Error> {
    toml::from_str::<Root>(text).map(|r| r.sinks)
}

const FULL: &str = r##"
[sinks]
source = "/k8s-app-deployer/eu-prod"

[sinks.environments]
"eu-west-1" = "production"
"eu-west-1/canary-1" = "canary"

[sinks.delivery]
max_attempts = 8
backoff_base = "2s"
backoff_max = "5m"

[sinks.kafka]
bootstrap_servers = ["kafka-1.internal:9093", "kafka-2.internal:9093"]
topic = "deployments"
timeout = "20s"
[sinks.kafka.tls]
[sinks.kafka.sasl]
mechanism = "scram-sha-512"
username = "deployer"
password_env = "KAFKA_PASSWORD"

[sinks.slack]
bot_token_env = "SLACK_BOT_TOKEN"
channels = { production = "#deploys-prod", default = "#deploys" }
commit_url_template = "https://github.com/acme/config/commit/{sha}"

[[sinks.webhooks]]
name = "audit"
url = "https://audit.example.com/hooks/deployer"
secret_env = "AUDIT_SECRET"
events = ["succeeded", "failed"]
"##;

fn env(name: &str) -> Option<String> {
    match name {
        "KAFKA_PASSWORD" => Some("k-pass".to_owned()),
        "SLACK_BOT_TOKEN" => Some("xoxb-1".to_owned()),
        "AUDIT_SECRET" => Some("whsec".to_owned()),
        _ => None,
    }
}

#[test]
fn a_full_section_builds_one_sink_per_target() {
    let settings = parse(FULL).unwrap();
    let built = settings.build(&env).unwrap();
    let names: Vec<String> = built.names().iter().map(ToString::to_string).collect();
    assert_eq!(names, ["kafka", "slack", "webhook-audit"]);
    assert_eq!(built.worker.max_attempts, 8);
    assert_eq!(built.worker.backoff.base, Duration::from_secs(2));
    assert_eq!(built.worker.backoff.max, Duration::from_secs(300));
}

#[test]
fn unknown_keys_and_bad_values_are_refused() {
    let err = parse("[sinks]\nsauce = \"x\"\n").err().unwrap().to_string();
    assert!(err.contains("sauce"), "{err}");
    let err = parse("[sinks.kafka]\nbootstrap_servers = [\"k:9092\"]\ntopic = \"t\"\nacks = 1\n")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("acks"), "{err}");
    let err = parse("[sinks.kafka.sasl]\nmechanism = \"gssapi\"\nusername = \"u\"\n")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gssapi"), "{err}");
    let bad = parse("[sinks.kafka]\nbootstrap_servers = [\"nohost\"]\ntopic = \"a/b\"\n").unwrap();
    let err = bad.build(&env).unwrap_err().to_string();
    assert!(
        err.contains("`nohost` is not `host:port`") && err.contains("invalid topic"),
        "{err}"
    );
}

#[test]
fn missing_secrets_and_unreadable_ca_files_are_named() {
    let settings = parse(FULL).unwrap();
    let err = settings.build(&|_| None).unwrap_err();
    assert_eq!(err.kind(), "secret_env_missing");
    assert!(err.to_string().contains("KAFKA_PASSWORD"), "{err}");
    let with_ca = FULL.replace(
        "[sinks.kafka.tls]",
        "[sinks.kafka.tls]\nca_file = \"/nonexistent/ca.pem\"",
    );
    let err = parse(&with_ca).unwrap().build(&env).unwrap_err();
    assert_eq!(err.kind(), "ca_file_unusable");
}

#[test]
fn a_secret_can_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("sinks-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "xoxb-from-file\n").unwrap();
    let text = format!(
        "[sinks.slack]\nbot_token_file = \"{}\"\nchannels = {{ default = \"#deploys\" }}\n",
        file.display()
    );
    assert!(parse(&text).unwrap().build(&|_| None).is_ok());
    let both = format!("{text}bot_token = \"inline\"\n");
    let err = parse(&both).unwrap().build(&|_| None).unwrap_err().to_string();
    assert!(err.contains("give only one of"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn spawned_workers_deliver_and_stop_on_shutdown() {
    let receiver = Receiver::start(Arc::new(|_, _| Answer::new(200, ""))).await;
    let text = format!(
        "[sinks.delivery]\npoll_interval = \"5s\"\n[[sinks.webhooks]]\nname = \"a\"\nurl = \"{}\"\n",
        receiver.url("/a")
    );
    let built = parse(&text).unwrap().build(&|_| None).unwrap();
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let workers = spawn_workers(
        Arc::clone(&outbox) as Arc<dyn OutboxSource>,
        built.sinks,
        &built.worker,
        || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        },
    );
    assert_eq!(workers.len(), 1);
    // Let the worker go idle on its long poll interval, then enqueue and wake it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("eu-west-1", "prod-1", "api"),
        None,
        "1.0",
        Ending::Success,
        &mut Seq::default(),
    );
    for e in &events {
        outbox.enqueue(&workers[0].sink, e.clone(), chrono::Utc::now());
    }
    workers[0].waker.notify_one();
    let start = std::time::Instant::now();
    while !outbox.settled(&workers[0].sink) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the waker did not wake the worker"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        workers[0].counters.snapshot().delivered,
        u64::try_from(events.len()).unwrap()
    );
    tx.send(true).unwrap();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(2), w.handle)
            .await
            .unwrap()
            .unwrap();
    }
}
