//! Fixtures shared by the integration tests: deployment stories, a scripted HTTP receiver
//! and a worker runner.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};

use deployer_core::image::Tag;
use deployer_core::model::{
    AppFile, ClusterName, DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, EventKind, Failure,
    ImageChange, Method as DeployMethod, Phase, PodIssue, Region, RolloutSummary, Source, Status, Target, TriggerKind,
};
use deployer_sinks::memory::MemoryOutbox;
use deployer_sinks::{OutboxSource, Sink, SinkName, Worker, WorkerSettings};

/// A fixed instant plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).single().unwrap() + chrono::Duration::seconds(secs)
}

/// A target.
pub fn target(region: &str, cluster: &str, file: &str) -> Target {
    Target {
        region: Region::new(region).unwrap(),
        cluster: ClusterName::new(cluster).unwrap(),
        file: AppFile::new(file).unwrap(),
    }
}

/// Numbers events as the store would.
#[derive(Debug, Default)]
pub struct Seq(i64);

impl Seq {
    /// The next sequence number.
    pub fn next(&mut self) -> i64 {
        self.0 += 1;
        self.0
    }
}

/// How a story ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Rolled out.
    Success,
    /// The rollout failed with pods in `ImagePullBackOff`.
    Failure,
    /// A rollback to the previous tag succeeded.
    Rollback,
    /// The file already had the image.
    Unchanged,
}

/// The events of one deployment of `tag` (from `old_tag`, if any) to `target`.
pub fn story(
    id: &str,
    target: &Target,
    old_tag: Option<&str>,
    tag: &str,
    ending: Ending,
    seq: &mut Seq,
) -> Vec<DeploymentEvent> {
    let image = |t: &str| format!("registry.example.com/shop/{}:{t}", target.file);
    let source = match ending {
        Ending::Rollback => Source {
            kind: TriggerKind::Rollback,
            ..Source::default()
        },
        _ => Source {
            kind: TriggerKind::Ci,
            ci: Some("github-actions".to_owned()),
            branch: Some("main".to_owned()),
            commit: Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".to_owned()),
            build_url: Some("https://github.com/acme/shop/actions/runs/4242".to_owned()),
        },
    };
    let request = DeployRequest {
        target: target.clone(),
        image: None,
        container: None,
        change: ImageChange::Tag {
            tag: Tag::new(tag).unwrap(),
        },
        method: DeployMethod::Apply,
        reason: (ending == Ending::Rollback).then(|| "error rate above 5%".to_owned()),
        timeout: None,
        source,
        requested_by: if ending == Ending::Rollback {
            "alice".to_owned()
        } else {
            "ci-release".to_owned()
        },
        idempotency_key: None,
        environment: None,
        force: false,
        rollback_of: None,
    };
    let id: DeploymentId = id.parse().unwrap();
    let t0 = at(0);
    let mut record = DeploymentRecord::accepted(id, request, t0);
    record.path = Some(format!(
        "{}/{}/apps/{}.yaml",
        target.region, target.cluster, target.file
    ));
    let mut events = Vec::new();
    let mut push = |kind: EventKind, record: &DeploymentRecord, t: DateTime<Utc>, seq: &mut Seq| {
        let mut e = DeploymentEvent::new(kind, record, t);
        e.seq = seq.next();
        events.push(e);
    };
    push(EventKind::Queued, &record, t0, seq);
    record.enter(Phase::Committing, at(2));
    record.old_images = old_tag.map(|t| vec![image(t)]).unwrap_or_default();
    if ending == Ending::Unchanged {
        record.new_images = record.old_images.clone();
        record.finish(Status::Unchanged, at(3));
        push(EventKind::Unchanged, &record, at(3), seq);
        return events;
    }
    record.new_images = vec![format!(
        "{}@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
        image(tag)
    )];
    record.commit_sha = Some("3c5b9e1f2a7d4c6b8e0f1a2b3c4d5e6f7a8b9c0d".to_owned());
    record.enter(Phase::Committed, at(4));
    push(EventKind::Committed, &record, at(4), seq);
    record.enter(Phase::Applying, at(5));
    record.enter(Phase::Applied, at(6));
    push(EventKind::Applied, &record, at(6), seq);
    record.rollout = Some(RolloutSummary {
        kind: "Deployment".to_owned(),
        name: target.file.to_string(),
        namespace: "shop".to_owned(),
        desired: 3,
        updated: 1,
        ready: 2,
        available: 2,
        message: "Waiting for deployment rollout to finish: 1 of 3 updated replicas are available...".to_owned(),
    });
    record.enter(Phase::RollingOut, at(20));
    push(EventKind::Progress, &record, at(20), seq);
    match ending {
        Ending::Failure => {
            record.fail(
                Failure {
                    code: "progress_deadline_exceeded".to_owned(),
                    message: format!("deployment \"{}\" exceeded its progress deadline", target.file),
                    pods: vec![PodIssue {
                        pod: format!("{}-7d9f8b6c5-x2x9k", target.file),
                        container: target.file.to_string(),
                        reason: "ImagePullBackOff".to_owned(),
                        message: format!("Back-off pulling image \"{}\"", image(tag)),
                        restarts: 0,
                    }],
                },
                at(610),
            );
            push(EventKind::Failed, &record, at(610), seq);
        }
        _ => {
            if let Some(r) = record.rollout.as_mut() {
                r.updated = 3;
                r.ready = 3;
                r.available = 3;
                r.message = format!("deployment \"{}\" successfully rolled out", target.file);
            }
            record.finish(Status::Succeeded, at(92));
            push(EventKind::Succeeded, &record, at(92), seq);
        }
    }
    events
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// An answer with a status and a body.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Decides the answer to each request from what came before.
pub type Script = dyn Fn(&Received, &[Received]) -> Answer + Send + Sync;

/// An HTTP receiver on 127.0.0.1 recording every request.
#[derive(Clone)]
pub struct Receiver {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts a receiver answering with `script`.
    pub async fn start(script: Arc<Script>) -> Self {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = Arc::clone(&seen);
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&record);
            let script = Arc::clone(&script);
            async move {
                let req = Received {
                    method,
                    path: uri.path().to_owned(),
                    headers,
                    body,
                    at: Instant::now(),
                };
                let answer = {
                    let mut seen = seen.lock().unwrap();
                    let answer = script(&req, &seen);
                    seen.push(req);
                    answer
                };
                let mut response: Response =
                    (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
                for (name, value) in answer.headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }

    /// A URL on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

/// Fast retries for tests.
pub fn fast_settings() -> WorkerSettings {
    WorkerSettings {
        max_attempts: 5,
        backoff: deployer_sinks::backoff::Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        poll_interval: Duration::from_millis(20),
        batch_size: 16,
        max_retry_after: Duration::from_secs(5),
        delivery_timeout: Duration::from_secs(10),
    }
}

/// Runs a worker for `sink` until every entry of its outbox is settled or `limit` passes;
/// returns whether everything settled.
pub async fn run_until_settled<S: Sink + 'static>(
    outbox: Arc<MemoryOutbox>,
    sink: Arc<S>,
    settings: WorkerSettings,
    limit: Duration,
) -> (bool, deployer_sinks::worker::CounterSnapshot) {
    let name: SinkName = sink.name().clone();
    let worker = Worker::new(Arc::clone(&outbox) as Arc<dyn OutboxSource>, sink, settings);
    let counters = worker.counters();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let start = Instant::now();
    let mut settled = false;
    while start.elapsed() < limit {
        if outbox.settled(&name) {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = tx.send(());
    let _ = handle.await;
    (settled, counters.snapshot())
}

/// Queues events for a sink, due now.
pub fn enqueue_all(outbox: &MemoryOutbox, sink: &SinkName, events: &[DeploymentEvent]) {
    for e in events {
        outbox.enqueue(sink, e.clone(), Utc::now());
    }
}
