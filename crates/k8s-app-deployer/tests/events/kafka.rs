//! Kafka for the tests: the broker `scripts/test` started (`KAFKA_BOOTSTRAP`), or one of our
//! own (Tansu, in memory, on a free port) that a test can stop and start again; topics made
//! explicitly; and a consumer reading every partition up to its high watermark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder};
use serde_json::Value;

use crate::bed::free_port;

/// The broker of the test run, from `KAFKA_BOOTSTRAP`; fails the test when it is unset.
pub fn bootstrap() -> String {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => panic!(
            "KAFKA_BOOTSTRAP is not set: these tests need a Kafka-protocol broker.\n\
             hint: run them through `scripts/test`, or `eval \"$(scripts/kafka-broker start)\" && export KAFKA_BOOTSTRAP`"
        ),
    }
}

/// A topic name no other test uses.
pub fn unique_topic(what: &str) -> String {
    format!(
        "deployer-events-{what}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

async fn client(bootstrap: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::new(vec![bootstrap.to_owned()]).build().await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot reach the broker at {bootstrap}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let c = client(bootstrap).await;
    let controller = c
        .controller_client()
        .unwrap_or_else(|e| panic!("controller client: {e}"));
    controller
        .create_topic(topic, partitions, 1, 5_000)
        .await
        .unwrap_or_else(|e| panic!("cannot create topic `{topic}` at {bootstrap}: {e}"));
}

/// Deletes `topic` (best effort: a test's last step).
pub async fn delete_topic(bootstrap: &str, topic: &str) {
    let c = client(bootstrap).await;
    if let Ok(controller) = c.controller_client() {
        let _ = controller.delete_topic(topic, 5_000).await;
    }
}

/// One record as consumed.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// The partition.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The key, as text.
    pub key: String,
    /// The headers, as text.
    pub headers: BTreeMap<String, String>,
    /// The value, as JSON.
    pub value: Value,
}

impl Consumed {
    /// The CloudEvent id.
    pub fn id(&self) -> &str {
        self.value["id"].as_str().unwrap_or_default()
    }
}

/// Reads every partition of `topic` from the start, until the records hold every id of
/// `expected` or `limit` has passed; returns the records in partition and offset order.
/// Fetches wait at most 100 ms and stop at the high watermark the broker reports.
pub async fn consume_until(
    bootstrap: &str,
    topic: &str,
    expected: &BTreeSet<String>,
    limit: Duration,
) -> Vec<Consumed> {
    let c = client(bootstrap).await;
    let deadline = Instant::now() + limit;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut out: Vec<Consumed> = Vec::new();
    loop {
        let partitions: Vec<i32> = c
            .list_topics()
            .await
            .map(|topics| {
                topics
                    .into_iter()
                    .filter(|t| t.name == topic)
                    .flat_map(|t| t.partitions)
                    .collect()
            })
            .unwrap_or_default();
        for p in partitions {
            let Ok(pc) = c.partition_client(topic, p, UnknownTopicHandling::Retry).await else {
                continue;
            };
            loop {
                let offset = *next.get(&p).unwrap_or(&0);
                let Ok((records, high_watermark)) = pc.fetch_records(offset, 1..10_000_000, 100).await else {
                    break;
                };
                for r in &records {
                    if r.offset < offset {
                        continue;
                    }
                    out.push(Consumed {
                        partition: p,
                        offset: r.offset,
                        key: String::from_utf8_lossy(r.record.key.as_deref().unwrap_or_default()).into_owned(),
                        headers: r
                            .record
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                        value: serde_json::from_slice(r.record.value.as_deref().unwrap_or_default())
                            .unwrap_or(Value::Null),
                    });
                    next.insert(p, r.offset + 1);
                }
                if records.is_empty() || *next.get(&p).unwrap_or(&0) >= high_watermark {
                    break;
                }
            }
        }
        let seen: BTreeSet<String> = out.iter().map(|r| r.id().to_owned()).collect();
        if expected.is_subset(&seen) || Instant::now() >= deadline {
            out.sort_by_key(|r| (r.partition, r.offset));
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Tansu broker of our own, in memory, on a fixed free port, that can be stopped and
/// started again (it keeps nothing across a restart).
pub struct OwnBroker {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl OwnBroker {
    /// Starts a broker with the binary `scripts/kafka-broker path` names.
    pub async fn start() -> OwnBroker {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-broker");
        let out = Command::new(&script)
            .arg("path")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "`scripts/kafka-broker path` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let mut broker = OwnBroker {
            bin,
            port: free_port(),
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            child: None,
        };
        broker.resume().await;
        broker
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again (empty) and waits until it accepts connections.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "the broker runs already");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // An empty working directory: Tansu reads `./.env`.
        let run = self.dir.path().join("run");
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(&self.bin)
            .current_dir(&run)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start on port {}", self.port);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the broker (`SIGKILL`: it keeps nothing anyway) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
