//! The delivery worker over the in-memory outbox: ordering per target, retries, dead entries.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use deployer_sinks::memory::{EntryState, MemoryOutbox};
use deployer_sinks::{Delivered, DeliveryError, OutboxItem, Sink, SinkName};
use support::{Ending, Seq, enqueue_all, fast_settings, run_until_settled, story, target};

type Decide = dyn Fn(&OutboxItem, u32) -> Result<Delivered, DeliveryError> + Send + Sync;

/// A sink whose answers are scripted per item and attempt, recording every attempt.
struct ScriptedSink {
    name: SinkName,
    decide: Box<Decide>,
    attempts: Mutex<HashMap<i64, u32>>,
    log: Mutex<Vec<(i64, String, bool, Instant)>>,
}

impl ScriptedSink {
    fn new(decide: impl Fn(&OutboxItem, u32) -> Result<Delivered, DeliveryError> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            name: SinkName::new("scripted").unwrap(),
            decide: Box::new(decide),
            attempts: Mutex::default(),
            log: Mutex::default(),
        })
    }

    /// Successful deliveries as `(seq, key)`, in order.
    fn delivered(&self) -> Vec<(i64, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.2)
            .map(|l| (l.0, l.1.clone()))
            .collect()
    }
}

#[async_trait]
impl Sink for ScriptedSink {
    fn name(&self) -> &SinkName {
        &self.name
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<Delivered, DeliveryError> {
        let attempt = {
            let mut a = self.attempts.lock().unwrap();
            let n = a.entry(item.event.seq).or_default();
            *n += 1;
            *n
        };
        let result = (self.decide)(item, attempt);
        self.log
            .lock()
            .unwrap()
            .push((item.event.seq, item.key().to_string(), result.is_ok(), Instant::now()));
        result
    }
}

/// Interleaves the events of two targets, as concurrent deployments would write them.
fn two_targets() -> (Vec<deployer_core::model::DeploymentEvent>, String, String) {
    let mut seq = Seq::default();
    let a = target("us-west-2", "prod-1", "api");
    let b = target("us-west-2", "prod-1", "web");
    let ea = story(
        "01JDQ80A1B2C3D4E5F6G7H8J9K",
        &a,
        Some("1.0"),
        "1.1",
        Ending::Success,
        &mut seq,
    );
    let mut seq_b = Seq::default();
    let eb = story(
        "01JDQ81MNPQRSTVWXYZ0123456",
        &b,
        Some("2.0"),
        "2.1",
        Ending::Success,
        &mut seq_b,
    );
    let mut all: Vec<_> = ea.into_iter().chain(eb).collect();
    // Renumber so the two stories interleave: a1 b1 a2 b2 …
    all.sort_by_key(|e| (e.seq, e.record.request.target.file.to_string()));
    for (i, e) in all.iter_mut().enumerate() {
        e.seq = i64::try_from(i).unwrap() + 1;
    }
    (all, a.to_string(), b.to_string())
}

#[tokio::test]
async fn a_failing_event_holds_back_its_target_but_not_the_others() {
    let (events, a, b) = two_targets();
    let first_of_a = events
        .iter()
        .find(|e| e.record.request.target.to_string() == a)
        .unwrap()
        .seq;
    // The first event of target A fails twice, then goes through.
    let sink = ScriptedSink::new(move |item, attempt| {
        if item.event.seq == first_of_a && attempt <= 2 {
            Err(DeliveryError::retryable("test", "receiver down"))
        } else {
            Ok(Delivered::Sent)
        }
    });
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    enqueue_all(&outbox, sink.name(), &events);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled, "not every event was settled");

    let delivered = sink.delivered();
    let order = |key: &str| delivered.iter().filter(|d| d.1 == key).map(|d| d.0).collect::<Vec<_>>();
    let expected = |key: &str| {
        events
            .iter()
            .filter(|e| e.record.request.target.to_string() == key)
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&a), expected(&a), "target A out of order");
    assert_eq!(order(&b), expected(&b), "target B out of order");
    // B went on while A waited: all of B was delivered before A's first event finally was.
    let pos_a_first = delivered.iter().position(|d| d.0 == first_of_a).unwrap();
    let b_before = delivered[..pos_a_first].iter().filter(|d| d.1 == b).count();
    assert_eq!(
        b_before,
        expected(&b).len(),
        "target B waited for target A: {delivered:?}"
    );
    assert_eq!(counters.delivered, u64::try_from(events.len()).unwrap());
    assert_eq!(counters.failed, 2);
    assert_eq!(counters.dead, 0);
    assert_eq!(counters.backlog, 0);
    let entry = outbox
        .entries(sink.name())
        .into_iter()
        .find(|e| e.event.seq == first_of_a)
        .unwrap();
    assert_eq!(entry.attempts, 2);
    assert_eq!(entry.state, EntryState::Delivered);
}

#[tokio::test]
async fn retries_back_off_exponentially() {
    let (events, _, _) = two_targets();
    let first = events[0].seq;
    let sink = ScriptedSink::new(move |item, attempt| {
        if item.event.seq == first && attempt <= 3 {
            Err(DeliveryError::retryable("test", "busy"))
        } else {
            Ok(Delivered::Sent)
        }
    });
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    enqueue_all(&outbox, sink.name(), &events[..1]);
    let (settled, _) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    let times: Vec<Instant> = sink.log.lock().unwrap().iter().map(|l| l.3).collect();
    assert_eq!(times.len(), 4);
    // Base 50 ms, doubling, equal jitter: the gaps are at least 25, 50 and 100 ms.
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, min) in gaps.iter().zip([25u64, 50, 100]) {
        assert!(*gap >= Duration::from_millis(min), "gaps {gaps:?}");
    }
}

#[tokio::test]
async fn a_permanent_error_goes_dead_at_once_and_the_target_moves_on() {
    let (events, a, _) = two_targets();
    let first_of_a = events
        .iter()
        .find(|e| e.record.request.target.to_string() == a)
        .unwrap()
        .seq;
    let sink = ScriptedSink::new(move |item, _| {
        if item.event.seq == first_of_a {
            Err(DeliveryError::permanent("test", "HTTP 404 Not Found"))
        } else {
            Ok(Delivered::Sent)
        }
    });
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    enqueue_all(&outbox, sink.name(), &events);
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    let entry = outbox
        .entries(sink.name())
        .into_iter()
        .find(|e| e.event.seq == first_of_a)
        .unwrap();
    assert_eq!(entry.state, EntryState::Dead);
    assert_eq!(entry.attempts, 1, "a permanent error must not be retried");
    assert!(entry.last_error.unwrap().contains("HTTP 404"));
    assert_eq!(counters.dead, 1);
    assert_eq!(counters.delivered, u64::try_from(events.len() - 1).unwrap());
}

#[tokio::test]
async fn an_event_that_keeps_failing_goes_dead_after_max_attempts_with_its_last_error() {
    let (events, _, _) = two_targets();
    let sink = ScriptedSink::new(|_, attempt| Err(DeliveryError::retryable("test", format!("still down ({attempt})"))));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_secs(30)));
    enqueue_all(&outbox, sink.name(), &events[..1]);
    let mut settings = fast_settings();
    settings.max_attempts = 3;
    let (settled, counters) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        settings,
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    let entry = &outbox.entries(sink.name())[0];
    assert_eq!(entry.state, EntryState::Dead);
    assert_eq!(entry.attempts, 3);
    assert!(
        entry.last_error.as_deref().unwrap().contains("still down (3)"),
        "{:?}",
        entry.last_error
    );
    assert_eq!((counters.failed, counters.dead, counters.delivered), (3, 1, 0));
}

#[tokio::test]
async fn a_claim_that_ran_out_is_claimed_again_and_still_delivered_in_order() {
    // A lease shorter than the retry delay: held entries of the blocked target expire and
    // are claimed again; nothing is delivered twice or out of order.
    let (events, a, _) = two_targets();
    let first_of_a = events
        .iter()
        .find(|e| e.record.request.target.to_string() == a)
        .unwrap()
        .seq;
    let sink = ScriptedSink::new(move |item, attempt| {
        if item.event.seq == first_of_a && attempt == 1 {
            Err(DeliveryError::retryable("test", "down"))
        } else {
            Ok(Delivered::Sent)
        }
    });
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_millis(30)));
    enqueue_all(&outbox, sink.name(), &events);
    let mut settings = fast_settings();
    settings.backoff.base = Duration::from_millis(200);
    let (settled, _) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        settings,
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    let delivered = sink.delivered();
    let seqs: Vec<i64> = delivered.iter().filter(|d| d.1 == a).map(|d| d.0).collect();
    let expected: Vec<i64> = events
        .iter()
        .filter(|e| e.record.request.target.to_string() == a)
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, expected);
    assert_eq!(
        delivered.len(),
        events.len(),
        "something was delivered twice: {delivered:?}"
    );
}

#[tokio::test]
async fn after_a_crash_a_targets_events_wait_for_the_dead_workers_lease_and_go_out_in_order() {
    // A worker claimed the first event of target `a` and died. A fresh worker must not
    // deliver `a`'s later events before it; target `b` is not held up.
    let (events, a, b) = two_targets();
    let sink = ScriptedSink::new(|_, _| Ok(Delivered::Sent));
    let outbox = Arc::new(MemoryOutbox::new(Duration::from_millis(300)));
    let first_of_a = events
        .iter()
        .find(|e| e.record.request.target.to_string() == a)
        .unwrap()
        .clone();
    outbox.enqueue(sink.name(), first_of_a.clone(), chrono::Utc::now());
    let dead_claim = deployer_sinks::OutboxSource::claim_due(outbox.as_ref(), sink.name(), 1, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(dead_claim.len(), 1);
    let rest: Vec<_> = events.iter().filter(|e| e.seq != first_of_a.seq).cloned().collect();
    enqueue_all(&outbox, sink.name(), &rest);
    let (settled, _) = run_until_settled(
        Arc::clone(&outbox),
        Arc::clone(&sink),
        fast_settings(),
        Duration::from_secs(10),
    )
    .await;
    assert!(settled);
    let delivered = sink.delivered();
    let of = |key: &str| -> Vec<i64> { delivered.iter().filter(|d| d.1 == key).map(|d| d.0).collect() };
    let expected = |key: &str| -> Vec<i64> {
        events
            .iter()
            .filter(|e| e.record.request.target.to_string() == key)
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(of(&a), expected(&a), "target a in order, its first event first");
    assert_eq!(of(&b), expected(&b));
    assert_eq!(
        delivered.first().map(|d| d.1.clone()),
        Some(b.clone()),
        "b went ahead while a waited"
    );
}

/// An outbox whose first `mark_delivered` fails, as a database that drops out would.
struct FlakyOutbox {
    inner: MemoryOutbox,
    fail_next_mark: Mutex<bool>,
}

#[async_trait]
impl deployer_sinks::OutboxSource for FlakyOutbox {
    async fn claim_due(
        &self,
        sink: &SinkName,
        limit: usize,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OutboxItem>, deployer_core::ports::StoreError> {
        self.inner.claim_due(sink, limit, now).await
    }

    async fn mark_delivered(&self, id: deployer_sinks::ItemId) -> Result<(), deployer_core::ports::StoreError> {
        let fail = std::mem::take(&mut *self.fail_next_mark.lock().unwrap());
        if fail {
            return Err(deployer_core::ports::StoreError::Unavailable {
                message: "connection reset".to_owned(),
            });
        }
        self.inner.mark_delivered(id).await
    }

    async fn mark_failed(
        &self,
        id: deployer_sinks::ItemId,
        next: chrono::DateTime<chrono::Utc>,
        error: &str,
    ) -> Result<(), deployer_core::ports::StoreError> {
        self.inner.mark_failed(id, next, error).await
    }

    async fn mark_dead(&self, id: deployer_sinks::ItemId, error: &str) -> Result<(), deployer_core::ports::StoreError> {
        self.inner.mark_dead(id, error).await
    }
}

#[tokio::test]
async fn an_outcome_the_store_could_not_record_is_recorded_later_without_sending_again() {
    let (events, _, _) = two_targets();
    let sink = ScriptedSink::new(|_, _| Ok(Delivered::Sent));
    let outbox = Arc::new(FlakyOutbox {
        inner: MemoryOutbox::new(Duration::from_secs(30)),
        fail_next_mark: Mutex::new(true),
    });
    for e in &events {
        outbox.inner.enqueue(sink.name(), e.clone(), chrono::Utc::now());
    }
    let worker = deployer_sinks::Worker::new(Arc::clone(&outbox), Arc::clone(&sink), fast_settings());
    let counters = worker.counters();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let start = Instant::now();
    while !outbox.inner.settled(sink.name()) {
        assert!(start.elapsed() < Duration::from_secs(10), "not settled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = tx.send(());
    handle.await.unwrap();
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), events.len(), "an event was sent twice: {delivered:?}");
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.store_errors, 1);
    assert_eq!(snapshot.delivered, u64::try_from(events.len()).unwrap());
}
