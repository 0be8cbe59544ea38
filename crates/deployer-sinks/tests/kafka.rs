//! The Kafka sink against a real Kafka-protocol broker (Tansu, see `scripts/kafka-broker`).
//!
//! `KAFKA_BOOTSTRAP` must name a running broker (`eval "$(scripts/kafka-broker start)"`); the
//! tests fail, never skip, without one. The restart test runs a broker of its own from the
//! binary `scripts/kafka-broker` installs (or `TANSU_BIN`), so it can kill it.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::RecordAndOffset;

use deployer_core::model::DeploymentEvent;
use deployer_sinks::cloudevents::Encoder;
use deployer_sinks::kafka::{KafkaConfig, KafkaSink, TopicName, partition_for};
use deployer_sinks::memory::MemoryOutbox;
use deployer_sinks::{OutboxSource, Sink, SinkName, Worker, WorkerSettings};
use support::{Ending, Seq, enqueue_all, run_until_settled, story, target};

/// The broker the environment names, checked to answer.
fn bootstrap() -> String {
    let Ok(addr) = std::env::var("KAFKA_BOOTSTRAP") else {
        panic!(
            "KAFKA_BOOTSTRAP is not set: start a broker with `eval \"$(scripts/kafka-broker start)\"; export KAFKA_BOOTSTRAP` and run the tests again"
        );
    };
    let reachable = addr
        .parse()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "KAFKA_BOOTSTRAP={addr} does not answer: start the broker with `scripts/kafka-broker start`"
    );
    addr
}

fn unique_topic(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sinks-{what}-{}-{nanos}", std::process::id())
}

async fn client(bootstrap: &str) -> Client {
    ClientBuilder::new(vec![bootstrap.to_owned()])
        .client_id("sinks-test-consumer")
        .build()
        .await
        .unwrap()
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let c = client(bootstrap).await;
    c.controller_client()
        .unwrap()
        .create_topic(topic, partitions, 1, 5_000)
        .await
        .unwrap();
}

/// Every record of every partition, read with a client of its own up to the high watermark.
async fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> BTreeMap<i32, Vec<RecordAndOffset>> {
    let c = client(bootstrap).await;
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut total = 0;
        for p in 0..partitions {
            let pc = c.partition_client(topic, p, UnknownTopicHandling::Retry).await.unwrap();
            let records: &mut Vec<RecordAndOffset> = out.entry(p).or_default();
            let mut offset = records.last().map_or(0, |r| r.offset + 1);
            loop {
                let (batch, high_watermark) = pc.fetch_records(offset, 1..10_000_000, 100).await.unwrap();
                for r in batch {
                    if r.offset >= offset {
                        offset = r.offset + 1;
                        records.push(r);
                    }
                }
                if offset >= high_watermark {
                    break;
                }
            }
            total += records.len();
        }
        if total >= expected || Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header(r: &RecordAndOffset, name: &str) -> String {
    String::from_utf8(r.record.headers.get(name).cloned().unwrap_or_default()).unwrap()
}

/// Checks that each target's events arrived in one partition, in order, with the
/// documented key, headers and CloudEvent.
fn check_arrivals(records: &BTreeMap<i32, Vec<RecordAndOffset>>, events: &[DeploymentEvent], partitions: i32) {
    let mut by_key: HashMap<String, Vec<(i32, serde_json::Value, &RecordAndOffset)>> = HashMap::new();
    for (p, rs) in records {
        for r in rs {
            let key = String::from_utf8(r.record.key.clone().unwrap()).unwrap();
            let value: serde_json::Value = serde_json::from_slice(r.record.value.as_deref().unwrap()).unwrap();
            by_key.entry(key).or_default().push((*p, value, r));
        }
    }
    let mut expected: BTreeMap<String, Vec<&DeploymentEvent>> = BTreeMap::new();
    for e in events {
        expected.entry(e.record.request.target.to_string()).or_default().push(e);
    }
    assert_eq!(
        by_key.len(),
        expected.len(),
        "keys: {:?}",
        by_key.keys().collect::<Vec<_>>()
    );
    for (key, events) in expected {
        let got = &by_key[&key];
        let ids: Vec<String> = got.iter().map(|g| g.1["id"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = events
            .iter()
            .map(|e| format!("{}-{}", e.deployment_id, e.seq))
            .collect();
        assert_eq!(ids, want, "events of {key} out of order or missing");
        for (p, value, r) in got {
            assert_eq!(
                *p,
                partition_for(key.as_bytes(), partitions),
                "{key} in the wrong partition"
            );
            assert_eq!(header(r, "content-type"), "application/cloudevents+json; charset=UTF-8");
            assert_eq!(header(r, "ce_specversion"), "1.0");
            for attr in ["id", "type", "source", "subject", "time"] {
                assert_eq!(
                    header(r, &format!("ce_{attr}")),
                    value[attr].as_str().unwrap(),
                    "ce_{attr} of {key}"
                );
            }
            assert_eq!(value["subject"], key.as_str());
        }
    }
}

fn sink(name: &str, bootstrap: &str, topic: &str, timeout: Duration) -> Arc<KafkaSink> {
    let config = KafkaConfig::plain(
        SinkName::new(name).unwrap(),
        vec![bootstrap.to_owned()],
        TopicName::new(topic).unwrap(),
        timeout,
    );
    Arc::new(KafkaSink::new(config, Encoder::default()))
}

/// A successful upgrade, a failed one and a rollback, on three targets, interleaved.
fn three_deployments() -> Vec<DeploymentEvent> {
    let mut seq = Seq::default();
    let mut all = Vec::new();
    all.extend(story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &target("us-west-2", "prod-1", "api"),
        Some("1.0"),
        "1.1",
        Ending::Success,
        &mut seq,
    ));
    all.extend(story(
        "01JDQ81MNPQRSTVWXYZ0123456",
        &target("us-west-2", "prod-1", "web"),
        Some("2.0"),
        "2.1",
        Ending::Failure,
        &mut seq,
    ));
    all.extend(story(
        "01JDQ82ABCDEFGHJKMNPQRSTVW",
        &target("eu-west-1", "prod-2", "api"),
        Some("1.1"),
        "1.0",
        Ending::Rollback,
        &mut seq,
    ));
    // Interleave by time, as concurrent deployments write them, then renumber.
    all.sort_by_key(|e| (e.at, e.record.request.target.to_string()));
    for (i, e) in all.iter_mut().enumerate() {
        e.seq = i64::try_from(i).unwrap() + 1;
    }
    all
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        max_attempts: 100,
        backoff: deployer_sinks::backoff::Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
        },
        poll_interval: Duration::from_millis(20),
        batch_size: 16,
        max_retry_after: Duration::from_secs(5),
        delivery_timeout: Duration::from_secs(20),
    }
}

#[tokio::test]
async fn three_deployments_arrive_in_order_per_target_with_cloudevents_headers() {
    let bootstrap = bootstrap();
    let topic = unique_topic("order");
    create_topic(&bootstrap, &topic, 3).await;
    let sink = sink("kafka", &bootstrap, &topic, Duration::from_secs(10));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(60)));
    let events = three_deployments();
    enqueue_all(&outbox, sink.name(), &events);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        settings(),
        Duration::from_secs(30),
    )
    .await;
    assert!(settled, "not every event was produced: {counters:?}");
    assert_eq!(counters.delivered, u64::try_from(events.len()).unwrap());

    let records = consume(&bootstrap, &topic, 3, events.len()).await;
    assert_eq!(records.values().map(Vec::len).sum::<usize>(), events.len());
    check_arrivals(&records, &events, 3);
    let last_types: Vec<String> = records
        .values()
        .flatten()
        .map(|r| header(r, "ce_type"))
        .filter(|t| t.starts_with("dev.cdevents.") || t.ends_with(".failed.v1"))
        .collect();
    for t in [
        "dev.cdevents.service.upgraded.0.2.0",
        "dev.k8s-app-deployer.deployment.failed.v1",
        "dev.cdevents.service.rolledback.0.2.0",
    ] {
        assert!(last_types.iter().any(|x| x == t), "no {t} in {last_types:?}");
    }
    let c = client(&bootstrap).await;
    c.controller_client()
        .unwrap()
        .delete_topic(&topic, 5_000)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_topic_is_retried_rather_than_created() {
    let bootstrap = bootstrap();
    let topic = unique_topic("missing");
    let sink = sink("kafka-missing", &bootstrap, &topic, Duration::from_secs(5));
    let events = three_deployments();
    let item = deployer_sinks::OutboxItem {
        id: deployer_sinks::ItemId(1),
        attempts: 0,
        lease_until: chrono::Utc::now(),
        event: events[0].clone(),
    };
    let err = sink.deliver(&item).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("does not exist"), "{}", err.message);
    let listed = client(&bootstrap).await.list_topics().await.unwrap();
    assert!(!listed.iter().any(|t| t.name == topic), "the sink created the topic");
}

/// A broker of this test's own, on a fixed port, that can be killed and started again.
struct OwnBroker {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnBroker {
    fn start() -> Self {
        let bin = std::env::var_os("TANSU_BIN").map(PathBuf::from).unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("k8s-app-deployer/tansu/bin/tansu")
        });
        assert!(
            bin.is_file(),
            "no Tansu binary at {}: run `scripts/kafka-broker start` (or set TANSU_BIN)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("sinks-tansu-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Self {
            bin,
            port,
            dir,
            child: None,
        };
        b.spawn();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr());
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_err() {
            assert!(Instant::now() < deadline, "the test broker did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_broker_that_dies_and_comes_back_gets_every_event_in_order() {
    // The shared broker must be there too: this suite never runs half-configured.
    let _ = bootstrap();
    let mut broker = OwnBroker::start();
    let addr = broker.addr();
    let topic = unique_topic("restart");
    create_topic(&addr, &topic, 2).await;

    let sink = sink("kafka", &addr, &topic, Duration::from_secs(2));
    let name = sink.name().clone();
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(60)));
    let worker = Worker::new(
        Arc::clone(&outbox) as Arc<dyn OutboxSource>,
        Arc::clone(&sink),
        settings(),
    );
    let counters = worker.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    // A first event goes through, so the producer holds a live connection…
    let mut seq = Seq::default();
    let warm_up = story(
        "01JDQ83XYZ0123456789ABCDEF",
        &target("us-east-1", "prod-9", "warm"),
        None,
        "0.1",
        Ending::Unchanged,
        &mut seq,
    );
    enqueue_all(&outbox, &name, &warm_up);
    wait_for(|| outbox.settled(&name), Duration::from_secs(20), "the warm-up event").await;

    // …then the broker dies while deployments go on.
    broker.kill();
    let mut events = three_deployments();
    for e in &mut events {
        e.seq += 100;
    }
    enqueue_all(&outbox, &name, &events);
    wait_for(
        || counters.snapshot().failed >= 2,
        Duration::from_secs(30),
        "failed attempts while the broker is down",
    )
    .await;
    assert!(!outbox.settled(&name));
    assert_eq!(counters.snapshot().dead, 0);

    // It comes back empty (memory storage): recreate the topic; the worker catches up.
    broker.spawn();
    create_topic(&addr, &topic, 2).await;
    wait_for(
        || outbox.settled(&name),
        Duration::from_secs(30),
        "delivery after the restart",
    )
    .await;
    let _ = stop.send(());
    handle.await.unwrap();
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.dead, 0);
    assert_eq!(snapshot.delivered, u64::try_from(events.len() + warm_up.len()).unwrap());

    let records = consume(&addr, &topic, 2, events.len()).await;
    check_arrivals(&records, &events, 2);
}

async fn wait_for(mut done: impl FnMut() -> bool, limit: Duration, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
