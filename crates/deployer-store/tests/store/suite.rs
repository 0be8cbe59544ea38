//! The behaviour every backend must show, written once against the ports.

use std::collections::HashSet;
use std::sync::Arc;

use deployer_core::model::{DeploymentId, EventKind, Phase, Status};
use deployer_core::ports::{DeploymentFilter, Inserted, PageRequest, StoreError};
use deployer_store::{HistoryStore, OpenError, OutboxBacklog, OutboxState, SinkName};

use crate::fixtures::{RecordExt, at, event, full_record, queued, target};
use crate::harness::Harness;

pub(crate) use crate::access::*;

/// The latest schema version; both backends ship the same migrations.
const LATEST: i64 = 2;

async fn store<H: Harness>(h: &H) -> Arc<dyn HistoryStore> {
    h.open()
        .await
        .unwrap_or_else(|e| panic!("opening the store failed: {e}"))
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("store call failed: {e}"))
}

fn sink(name: &str) -> SinkName {
    SinkName::new(name).expect("fixture sink name is valid")
}

fn page(limit: usize, before: Option<DeploymentId>) -> PageRequest {
    PageRequest { limit, before }
}

pub(crate) async fn a_full_record_round_trips<H: Harness>(h: &H) {
    let s = store(h).await;
    let record = full_record();
    let events = [event(EventKind::Queued, &record), event(EventKind::Failed, &record)];
    assert_eq!(ok(s.insert_deployment(&record, &events).await), Inserted::New);
    assert_eq!(ok(s.get_deployment(record.id).await), Some(record.clone()));
    let stored = ok(s.events(record.id, 0).await);
    assert_eq!(stored.len(), 2);
    for (got, sent) in stored.iter().zip(&events) {
        assert!(got.seq > 0, "the store assigns seq");
        assert_eq!(
            (&got.kind, &got.at, &got.record, &got.deployment_id),
            (&sent.kind, &sent.at, &sent.record, &sent.deployment_id)
        );
    }
    assert_eq!(ok(s.get_deployment(queued(&record.request.target, 1).id).await), None);
}

pub(crate) async fn concurrent_inserts_with_one_idempotency_key_create_one_deployment<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("eu-west-1", "prod-1", "web");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = Arc::clone(&s);
        let record = queued(&t, i).keyed("same-key");
        tasks.push(tokio::spawn(async move {
            let events = [event(EventKind::Queued, &record)];
            (record.id, s.insert_deployment(&record, &events).await)
        }));
    }
    let mut winners = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        let (id, result) = task.await.expect("the insert task does not panic");
        match ok(result) {
            Inserted::New => winners.push(id),
            Inserted::Existing(r) => existing.push(r.id),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert creates the deployment");
    assert_eq!(existing.len(), 19);
    assert!(
        existing.iter().all(|id| *id == winners[0]),
        "every other insert gets the first deployment back"
    );
    let all = ok(s.list_deployments(&DeploymentFilter::default(), &page(100, None)).await);
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), winners);
    assert_eq!(ok(s.events(winners[0], 0).await).len(), 1, "the losers wrote no events");
}

pub(crate) async fn inserting_an_existing_id_is_a_conflict<H: Harness>(h: &H) {
    let s = store(h).await;
    let record = queued(&target("r1", "c1", "f"), 1);
    ok(s.insert_deployment(&record, &[]).await);
    let again = s.insert_deployment(&record, &[event(EventKind::Queued, &record)]).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");
    assert!(
        ok(s.events(record.id, 0).await).is_empty(),
        "the failed insert wrote nothing"
    );
}

pub(crate) async fn updates_append_events_read_back_in_seq_order<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("r1", "c1", "api");
    let mut a = queued(&t, 1);
    let mut b = queued(&t, 2);
    ok(s.insert_deployment(&a, &[event(EventKind::Queued, &a)]).await);
    ok(s.insert_deployment(&b, &[event(EventKind::Queued, &b)]).await);

    a.enter(Phase::Committed, at(3, 0));
    a.commit_sha = Some("abc123".to_owned());
    let committed = event(EventKind::Committed, &a);
    a.enter(Phase::Applied, at(4, 0));
    let applied = event(EventKind::Applied, &a);
    ok(s.update_deployment(&a, &[committed, applied]).await);
    b.finish(Status::Unchanged, at(5, 0));
    ok(s.update_deployment(&b, &[event(EventKind::Unchanged, &b)]).await);
    a.finish(Status::Succeeded, at(6, 0));
    ok(s.update_deployment(&a, &[event(EventKind::Succeeded, &a)]).await);

    assert_eq!(ok(s.get_deployment(a.id).await), Some(a.clone()));
    let events = ok(s.events(a.id, 0).await);
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Queued,
            EventKind::Committed,
            EventKind::Applied,
            EventKind::Succeeded
        ]
    );
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases: {:?}",
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e.deployment_id == a.id));
    assert_eq!(events[3].record.status, Status::Succeeded);

    let b_events = ok(s.events(b.id, 0).await);
    assert_eq!(b_events.len(), 2);
    assert!(
        b_events[1].seq > events[2].seq && b_events[1].seq < events[3].seq,
        "seq is one global order"
    );

    let after = ok(s.events(a.id, events[1].seq).await);
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [events[2].seq, events[3].seq]
    );
}

pub(crate) async fn updating_an_unknown_deployment_fails_and_writes_nothing<H: Harness>(h: &H) {
    let s = store(h).await;
    let ghost = queued(&target("r1", "c1", "f"), 1);
    let r = s
        .update_deployment(&ghost, &[event(EventKind::Committed, &ghost)])
        .await;
    assert!(matches!(r, Err(StoreError::Internal { .. })), "{r:?}");
    assert!(ok(s.events(ghost.id, 0).await).is_empty());
}

pub(crate) async fn events_of_another_deployment_are_refused<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("r1", "c1", "f");
    let a = queued(&t, 1);
    let b = queued(&t, 2);
    let r = s.insert_deployment(&a, &[event(EventKind::Queued, &b)]).await;
    assert!(r.is_err());
    assert_eq!(ok(s.get_deployment(a.id).await), None, "nothing was written");
}

pub(crate) async fn listings_filter_and_page_newest_first<H: Harness>(h: &H) {
    let s = store(h).await;
    let api = target("us-east-1", "prod-1", "api");
    let web = target("us-east-1", "prod-2", "web");
    let eu = target("eu-west-1", "prod-1", "api");
    let records = vec![
        queued(&api, 1).finished(Status::Succeeded, 2).released("rel-1"),
        queued(&web, 3).finished(Status::Failed, 4).released("rel-1"),
        queued(&eu, 5).finished(Status::Succeeded, 6),
        queued(&api, 7).running(8),
        queued(&web, 9),
        queued(&eu, 10).released("rel-2"),
        queued(&api, 11).finished(Status::Unchanged, 12),
    ];
    for r in &records {
        ok(s.insert_deployment(r, &[]).await);
    }
    let ids = |v: Vec<deployer_core::model::DeploymentRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let newest_first = |idx: &[usize]| idx.iter().rev().map(|i| records[*i].id).collect::<Vec<_>>();
    let list = |f: DeploymentFilter| {
        let s = Arc::clone(&s);
        async move { ok(s.list_deployments(&f, &page(100, None)).await) }
    };

    assert_eq!(
        ids(list(DeploymentFilter::default()).await),
        newest_first(&[0, 1, 2, 3, 4, 5, 6])
    );
    let by_region = DeploymentFilter {
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    assert_eq!(ids(list(by_region).await), newest_first(&[0, 1, 3, 4, 6]));
    let by_cluster = DeploymentFilter {
        cluster: Some("prod-1".into()),
        ..Default::default()
    };
    assert_eq!(ids(list(by_cluster).await), newest_first(&[0, 2, 3, 5, 6]));
    let by_target = DeploymentFilter {
        region: Some("us-east-1".into()),
        cluster: Some("prod-1".into()),
        file: Some("api".into()),
        ..Default::default()
    };
    assert_eq!(ids(list(by_target).await), newest_first(&[0, 3, 6]));
    let by_status = DeploymentFilter {
        status: Some(Status::Succeeded),
        ..Default::default()
    };
    assert_eq!(ids(list(by_status).await), newest_first(&[0, 2]));
    let by_release = DeploymentFilter {
        release_id: Some("rel-1".into()),
        ..Default::default()
    };
    assert_eq!(ids(list(by_release).await), newest_first(&[0, 1]));
    let nothing = DeploymentFilter {
        file: Some("nope".into()),
        ..Default::default()
    };
    assert!(list(nothing).await.is_empty());

    // Pages of 3 over everything: no gaps, no repeats, newest first.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let batch = ids(ok(s
            .list_deployments(&DeploymentFilter::default(), &page(3, before))
            .await));
        assert!(batch.len() <= 3);
        if batch.is_empty() {
            break;
        }
        before = batch.last().copied();
        seen.extend(batch);
    }
    assert_eq!(seen, newest_first(&[0, 1, 2, 3, 4, 5, 6]));
    // The cursor combines with a filter.
    let f = DeploymentFilter {
        cluster: Some("prod-1".into()),
        ..Default::default()
    };
    let second = ids(ok(s.list_deployments(&f, &page(2, Some(records[5].id))).await));
    assert_eq!(second, [records[3].id, records[2].id]);
    assert!(ok(s.list_deployments(&DeploymentFilter::default(), &page(0, None)).await).is_empty());
}

pub(crate) async fn updates_move_a_deployment_between_statuses_phase_after_phase<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("r1", "c1", "api");
    let other = queued(&target("r1", "c2", "web"), 1);
    let mut r = queued(&t, 2).released("rel-1");
    ok(s.insert_deployment(&other, &[]).await);
    ok(s.insert_deployment(&r, &[]).await);
    let with_status = |st: Status| {
        let s = Arc::clone(&s);
        async move {
            let f = DeploymentFilter {
                status: Some(st),
                ..Default::default()
            };
            ok(s.list_deployments(&f, &page(10, None)).await)
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(with_status(Status::Queued).await, [r.id, other.id]);

    // queued → running
    r.enter(Phase::Committing, at(3, 0));
    ok(s.update_deployment(&r, &[]).await);
    assert_eq!(with_status(Status::Queued).await, [other.id]);
    assert_eq!(with_status(Status::Running).await, [r.id]);
    // Phases within `running`: the status filters stay, the record and its columns follow.
    r.enter(Phase::Committed, at(4, 0));
    r.commit_sha = Some("0123456789abcdef0123456789abcdef01234567".to_owned());
    ok(s.update_deployment(&r, &[event(EventKind::Committed, &r)]).await);
    r.enter(Phase::Applied, at(5, 0));
    ok(s.update_deployment(&r, &[]).await);
    assert_eq!(with_status(Status::Running).await, [r.id]);
    assert_eq!(ok(s.get_deployment(r.id).await), Some(r.clone()));
    assert_eq!(
        ok(s.last_deployment(&t, Some(Status::Running)).await).map(|d| d.id),
        Some(r.id)
    );

    // running → succeeded
    r.finish(Status::Succeeded, at(6, 0));
    ok(s.update_deployment(&r, &[event(EventKind::Succeeded, &r)]).await);
    assert!(with_status(Status::Running).await.is_empty());
    assert_eq!(with_status(Status::Succeeded).await, [r.id]);
    assert_eq!(
        ok(s.last_deployment(&t, Some(Status::Succeeded)).await),
        Some(r.clone())
    );
    assert_eq!(ok(s.last_deployment(&t, Some(Status::Running)).await), None);
    let unfinished: Vec<_> = ok(s.unfinished_deployments().await).into_iter().map(|d| d.id).collect();
    assert_eq!(unfinished, [other.id]);
    // The columns written at acceptance still find it.
    let by_target_and_release = DeploymentFilter {
        region: Some("r1".into()),
        cluster: Some("c1".into()),
        file: Some("api".into()),
        release_id: Some("rel-1".into()),
        ..Default::default()
    };
    let found = ok(s.list_deployments(&by_target_and_release, &page(10, None)).await);
    assert_eq!(found, [r.clone()]);
    assert_eq!(ok(s.events(r.id, 0).await).len(), 2);
}

pub(crate) async fn unfinished_deployments_come_oldest_first<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("r1", "c1", "api");
    let old_running = queued(&t, 1).running(2);
    let done = queued(&t, 3).finished(Status::Succeeded, 4);
    let newer_queued = queued(&target("r1", "c2", "web"), 5);
    let failed = queued(&t, 6).finished(Status::Failed, 7);
    // Written out of order on purpose.
    for r in [&newer_queued, &failed, &old_running, &done] {
        ok(s.insert_deployment(r, &[]).await);
    }
    let unfinished: Vec<_> = ok(s.unfinished_deployments().await).into_iter().map(|r| r.id).collect();
    assert_eq!(unfinished, [old_running.id, newer_queued.id]);

    let mut finished = old_running.clone();
    finished.finish(Status::Succeeded, at(8, 0));
    ok(s.update_deployment(&finished, &[]).await);
    let unfinished: Vec<_> = ok(s.unfinished_deployments().await).into_iter().map(|r| r.id).collect();
    assert_eq!(unfinished, [newer_queued.id]);
}

pub(crate) async fn last_deployment_finds_the_latest_of_a_target<H: Harness>(h: &H) {
    let s = store(h).await;
    let t = target("r1", "c1", "api");
    let other = target("r1", "c1", "web");
    let first_ok = queued(&t, 1).finished(Status::Succeeded, 2);
    let failed = queued(&t, 3).finished(Status::Failed, 4);
    let second_ok = queued(&t, 5).finished(Status::Succeeded, 6);
    let unchanged = queued(&t, 7).finished(Status::Unchanged, 8);
    let running = queued(&t, 9).running(10);
    let elsewhere = queued(&other, 11).finished(Status::Succeeded, 12);
    for r in [&first_ok, &failed, &second_ok, &unchanged, &running, &elsewhere] {
        ok(s.insert_deployment(r, &[]).await);
    }
    let last = |st: Option<Status>| {
        let s = Arc::clone(&s);
        let t = t.clone();
        async move { ok(s.last_deployment(&t, st).await).map(|r| r.id) }
    };
    assert_eq!(last(Some(Status::Succeeded)).await, Some(second_ok.id));
    assert_eq!(last(Some(Status::Failed)).await, Some(failed.id));
    assert_eq!(last(Some(Status::Running)).await, Some(running.id));
    assert_eq!(
        last(None).await,
        Some(unchanged.id),
        "without a status: the latest finished one"
    );
    assert_eq!(last(Some(Status::Queued)).await, None);
    assert_eq!(ok(s.last_deployment(&target("r9", "c1", "api"), None).await), None);
}

pub(crate) async fn outbox_entries_are_claimed_delivered_failed_killed_and_revived<H: Harness>(h: &H) {
    let s = store(h).await;
    let mut r = queued(&target("r1", "c1", "api"), 1);
    ok(s.insert_deployment(&r, &[event(EventKind::Queued, &r)]).await);
    r.enter(Phase::Committed, at(2, 0));
    ok(
        s.update_deployment(&r, &[event(EventKind::Committed, &r), event(EventKind::Applied, &r)])
            .await,
    );
    let seqs: Vec<i64> = ok(s.events(r.id, 0).await).iter().map(|e| e.seq).collect();
    let slack = sink("slack");
    let kafka = sink("kafka");
    let now = at(100, 0);
    for seq in &seqs {
        assert!(ok(s.enqueue(*seq, &slack, now).await));
        assert!(ok(s.enqueue(*seq, &kafka, now).await));
    }
    assert!(!ok(s.enqueue(seqs[0], &slack, now).await), "queuing twice adds nothing");
    let missing = s.enqueue(seqs[2] + 1000, &slack, now).await;
    assert!(matches!(missing, Err(StoreError::Conflict { .. })), "{missing:?}");

    // Nothing is due before its time.
    assert!(ok(s.claim_due(&slack, 10, at(99, 0)).await).is_empty());
    // Claims come in event order, carry the event, and lease the entries.
    let claimed = ok(s.claim_due(&slack, 2, now).await);
    assert_eq!(claimed.iter().map(|e| e.event.seq).collect::<Vec<_>>(), seqs[..2]);
    assert_eq!(claimed[0].event.kind, EventKind::Queued);
    assert_eq!(claimed[0].event.record.id, r.id);
    assert!(
        claimed
            .iter()
            .all(|e| e.sink == slack && e.state == OutboxState::Pending && e.attempts == 0)
    );
    assert!(
        ok(s.claim_due(&slack, 10, now).await).is_empty(),
        "claimed entries are not handed out twice, and the target's later entry waits behind them"
    );
    // Another sink has its own entries.
    assert_eq!(ok(s.claim_due(&kafka, 10, now).await).len(), 3);

    // Deliver the first and give up on the second: a dead entry holds nothing back.
    ok(s.mark_delivered(claimed[0].id).await);
    ok(s.mark_delivered(claimed[0].id).await);
    ok(s.mark_dead(claimed[1].id, "HTTP 404: channel_not_found").await);
    let third = ok(s.claim_due(&slack, 10, now).await);
    assert_eq!(third.iter().map(|e| e.event.seq).collect::<Vec<_>>(), [seqs[2]]);
    let retry_at = at(200, 0);
    ok(s.mark_failed(third[0].id, retry_at, "HTTP 503 from hooks.slack.com")
        .await);
    assert!(
        matches!(
            s.mark_failed(claimed[0].id, retry_at, "x").await,
            Err(StoreError::Conflict { .. })
        ),
        "a delivered entry cannot fail"
    );
    assert!(
        matches!(s.mark_delivered(claimed[1].id).await, Err(StoreError::Conflict { .. })),
        "a dead entry cannot be delivered"
    );
    assert!(matches!(
        s.mark_dead(deployer_store::OutboxId(999_999), "x").await,
        Err(StoreError::Conflict { .. })
    ));

    // The failed one is due again at its retry time, with its attempt counted.
    assert!(ok(s.claim_due(&slack, 10, at(199, 0)).await).is_empty());
    let retried = ok(s.claim_due(&slack, 10, retry_at).await);
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, third[0].id);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("HTTP 503 from hooks.slack.com"));

    // A lease that runs out makes the entry due again.
    let lease = h.settings().outbox_lease;
    let after_lease = retry_at + chrono::Duration::from_std(lease).unwrap_or_default();
    assert_eq!(
        ok(s.claim_due(&slack, 10, after_lease).await).len(),
        1,
        "an expired lease is claimable again"
    );

    let dead = ok(s.list_dead(&slack, 10).await);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id, dead[0].state, dead[0].attempts),
        (claimed[1].id, OutboxState::Dead, 1)
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 404: channel_not_found"));
    assert!(ok(s.list_dead(&kafka, 10).await).is_empty());

    // Revived, the dead entry is due at once: a later entry of its target that is not due
    // does not hold an earlier one back.
    let later = at(300, 0);
    assert_eq!(ok(s.retry_dead(&slack, later).await), 1);
    assert!(ok(s.list_dead(&slack, 10).await).is_empty());
    let revived = ok(s.claim_due(&slack, 10, later).await);
    assert_eq!(
        revived.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
        [(claimed[1].id, 0)]
    );
    assert_eq!(ok(s.retry_dead(&slack, later).await), 0);
}

pub(crate) async fn the_backlog_counts_pending_entries_and_one_dead_entry_can_be_revived<H: Harness>(h: &H) {
    let s = h.open_with_outbox(vec![sink("kafka")]).await;
    let kafka = sink("kafka");
    assert_eq!(
        ok(s.backlog(&kafka).await),
        OutboxBacklog::default(),
        "an empty outbox has no backlog"
    );
    let mut r = queued(&target("r1", "c1", "api"), 1);
    let first = event(EventKind::Queued, &r);
    ok(s.insert_deployment(&r, std::slice::from_ref(&first)).await);
    r.enter(Phase::Committed, at(2, 0));
    ok(s.update_deployment(&r, &[event(EventKind::Committed, &r)]).await);
    let backlog = ok(s.backlog(&kafka).await);
    assert_eq!(backlog.pending, 2);
    assert_eq!(
        backlog.oldest_event_at,
        Some(first.at),
        "the oldest pending event's time"
    );

    let claimed = ok(s.claim_due(&kafka, 10, at(100, 0)).await);
    assert_eq!(
        ok(s.backlog(&kafka).await).pending,
        2,
        "claimed entries are still pending"
    );
    ok(s.mark_delivered(claimed[0].id).await);
    ok(s.mark_dead(claimed[1].id, "kafka_produce (attempt 1): broker down")
        .await);
    assert_eq!(
        ok(s.backlog(&kafka).await),
        OutboxBacklog::default(),
        "delivered and dead entries are not pending"
    );

    assert_eq!(
        ok(s.retry_dead_entry(claimed[0].id, at(200, 0)).await),
        Some(OutboxState::Delivered)
    );
    assert_eq!(
        ok(s.retry_dead_entry(deployer_store::OutboxId(999_999), at(200, 0)).await),
        None
    );
    assert_eq!(
        ok(s.retry_dead_entry(claimed[1].id, at(200, 0)).await),
        Some(OutboxState::Dead)
    );
    assert!(ok(s.list_dead(&kafka, 10).await).is_empty());
    let revived = ok(s.claim_due(&kafka, 10, at(200, 0)).await);
    assert_eq!(
        revived.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
        [(claimed[1].id, 0)]
    );
    assert_eq!(
        ok(s.retry_dead_entry(claimed[1].id, at(300, 0)).await),
        Some(OutboxState::Pending),
        "a pending entry stays as it is"
    );
}

pub(crate) async fn a_targets_later_entries_wait_behind_an_earlier_one_that_is_not_due<H: Harness>(h: &H) {
    let s = h.open_with_outbox(vec![sink("kafka")]).await;
    let kafka = sink("kafka");
    let a = queued(&target("r1", "c1", "api"), 1);
    ok(s.insert_deployment(&a, &[event(EventKind::Queued, &a)]).await);
    let b = queued(&target("r1", "c1", "web"), 2);
    ok(s.insert_deployment(&b, &[event(EventKind::Queued, &b)]).await);
    let mut a2 = a.clone();
    a2.enter(Phase::Committed, at(3, 0));
    ok(s.update_deployment(&a2, &[event(EventKind::Committed, &a2)]).await);
    let now = at(100, 0);

    let first = ok(s.claim_due(&kafka, 1, now).await);
    assert_eq!(first.iter().map(|e| e.event.deployment_id).collect::<Vec<_>>(), [a.id]);
    let next = ok(s.claim_due(&kafka, 10, now).await);
    assert_eq!(
        next.iter().map(|e| e.event.deployment_id).collect::<Vec<_>>(),
        [b.id],
        "the other target goes ahead; this one's later event waits behind the leased one"
    );
    let retry_at = at(200, 0);
    ok(
        s.mark_failed(first[0].id, retry_at, "kafka_produce (attempt 1): broker down")
            .await,
    );
    assert!(
        ok(s.claim_due(&kafka, 10, at(150, 0)).await).is_empty(),
        "a failed entry waiting for its retry holds its target back"
    );
    let again = ok(s.claim_due(&kafka, 10, retry_at).await);
    assert_eq!(
        again
            .iter()
            .map(|e| (e.event.deployment_id, e.event.kind))
            .collect::<Vec<_>>(),
        [(a.id, EventKind::Queued), (a.id, EventKind::Committed)],
        "once due, the target's entries come in order"
    );
}

pub(crate) async fn configured_sinks_get_every_written_event<H: Harness>(h: &H) {
    let s = h.open_with_outbox(vec![sink("slack"), sink("webhook")]).await;
    let mut r = queued(&target("r1", "c1", "api"), 1);
    ok(s.insert_deployment(&r, &[event(EventKind::Queued, &r)]).await);
    r.finish(Status::Succeeded, at(2, 0));
    ok(s.update_deployment(&r, &[event(EventKind::Succeeded, &r)]).await);
    let seqs: Vec<i64> = ok(s.events(r.id, 0).await).iter().map(|e| e.seq).collect();
    for name in ["slack", "webhook"] {
        let due = ok(s.claim_due(&sink(name), 10, at(1000, 0)).await);
        assert_eq!(due.iter().map(|e| e.event.seq).collect::<Vec<_>>(), seqs, "sink {name}");
    }
    assert!(ok(s.claim_due(&sink("kafka"), 10, at(1000, 0)).await).is_empty());
}

pub(crate) async fn opening_twice_applies_the_migrations_once<H: Harness>(h: &H) {
    let first = store(h).await;
    let r = queued(&target("r1", "c1", "api"), 1);
    ok(first.insert_deployment(&r, &[]).await);
    let second = store(h).await;
    assert_eq!(ok(second.get_deployment(r.id).await).map(|r| r.id), Some(r.id));
    assert_eq!(
        h.scalar("SELECT count(*) FROM schema_migrations").await,
        LATEST,
        "each migration is recorded once"
    );
}

pub(crate) async fn a_database_with_a_newer_schema_is_refused<H: Harness>(h: &H) {
    drop(store(h).await);
    h.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', '2030-01-01T00:00:00Z')").await;
    let err = h.open().await.err();
    assert!(
        matches!(
            err,
            Some(OpenError::SchemaTooNew {
                found: 9999,
                known: LATEST
            })
        ),
        "{err:?}"
    );
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("9999") && text.contains("newer"), "{text}");
}

pub(crate) async fn deployments_survive_a_restart<H: Harness>(h: &H) {
    let record = full_record();
    {
        let s = store(h).await;
        ok(s.insert_deployment(&record, &[event(EventKind::Queued, &record)]).await);
    }
    let reopened = store(h).await;
    assert_eq!(ok(reopened.get_deployment(record.id).await), Some(record.clone()));
    assert_eq!(ok(reopened.events(record.id, 0).await).len(), 1);
    let ids: HashSet<_> = ok(reopened
        .list_deployments(&DeploymentFilter::default(), &page(10, None))
        .await)
    .into_iter()
    .map(|r| r.id)
    .collect();
    assert_eq!(ids, HashSet::from([record.id]));
}
