//! The per-target queue: ordering, parallelism, bounds, resume after a restart, shutdown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deployer_core::model::{DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, EventKind, ImageChange};
use deployer_core::ports::Store;
use serde_json::json;

use super::support::{TestServer, World, api_body, json_of, target, test_settings};

fn started(r: &DeploymentRecord) -> DateTime<Utc> {
    r.phase_times
        .get("committing")
        .copied()
        .unwrap_or_else(|| panic!("{} never started", r.id))
}

fn finished(r: &DeploymentRecord) -> DateTime<Utc> {
    r.finished_at.unwrap_or_else(|| panic!("{} never finished", r.id))
}

#[tokio::test]
async fn deployments_to_one_target_run_in_order_while_other_targets_run_alongside() {
    let server = TestServer::start(Duration::from_millis(300)).await;
    let mut ids = Vec::new();
    for tag in ["v2", "v3", "v4"] {
        ids.push(server.deploy_id(&api_body(tag)).await);
    }
    let other = server
        .deploy_id(&json!({"region": "eu-west-1", "cluster": "prod-2", "file": "api", "tag": "v9"}))
        .await;
    let mut records = Vec::new();
    for id in &ids {
        records.push(server.finished(id).await);
    }
    let other = server.finished(&other).await;
    for pair in records.windows(2) {
        assert!(
            finished(&pair[0]) <= started(&pair[1]),
            "{} started before {} ended",
            pair[1].id,
            pair[0].id
        );
    }
    assert!(records.iter().all(|r| r.status.as_str() == "succeeded"));
    assert!(
        finished(&other) < finished(&records[2]),
        "the other target ran in parallel, so it ended before the third deployment to the first"
    );
    assert!(
        started(&other) < finished(&records[0]),
        "the other target did not wait for the first"
    );
    let applied = server.world.west.applied();
    assert_eq!(
        applied,
        ["v2", "v3", "v4"].map(|t| format!("us-west-2/prod-1:registry.example.com/team/api:{t}")),
    );
    assert!(
        server
            .world
            .repo
            .content("us-west-2/prod-1/apps/api.yaml")
            .contains("api:v4")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_full_target_queue_answers_429_with_retry_after() {
    let mut settings = test_settings();
    settings.queue.per_target = 2;
    let server = TestServer::start_with(World::new(Duration::from_millis(10)), settings).await;
    let gate = server.world.west.gate();
    let first = server.deploy_id(&api_body("v2")).await;
    let second = server.deploy_id(&api_body("v3")).await;
    let refused = server.deploy(&api_body("v4")).await;
    assert_eq!(
        refused.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let body = json_of(refused, 429).await;
    assert_eq!(body["error"]["code"], "target_queue_full");
    // Another target is not affected.
    let other = server
        .deploy_id(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "web", "tag": "v2"}))
        .await;
    gate.add_permits(3);
    for id in [first, second, other] {
        assert_eq!(server.finished(&id).await.status.as_str(), "succeeded");
    }
    server.stop().await;
}

fn stored(tag: &str, at: DateTime<Utc>) -> (DeploymentRecord, DeploymentEvent) {
    let request = DeployRequest {
        target: target("us-west-2", "prod-1", "api"),
        image: None,
        container: None,
        change: ImageChange::Tag {
            tag: deployer_core::image::Tag::new(tag).unwrap_or_else(|e| panic!("{e}")),
        },
        method: deployer_core::model::Method::Apply,
        reason: None,
        timeout: None,
        source: deployer_core::model::Source::default(),
        requested_by: "ci".to_owned(),
        idempotency_key: None,
        environment: None,
        force: false,
        rollback_of: None,
    };
    let record = DeploymentRecord::accepted(DeploymentId::generate(at), request, at);
    let event = DeploymentEvent::new(EventKind::Queued, &record, at);
    (record, event)
}

#[tokio::test]
async fn unfinished_deployments_resume_at_start_before_new_work_for_their_target() {
    let world = World::new(Duration::from_millis(150));
    let earlier = Utc::now() - chrono::Duration::seconds(60);
    let mut resumed = Vec::new();
    for (i, tag) in ["v2", "v3"].into_iter().enumerate() {
        let (record, event) = stored(tag, earlier + chrono::Duration::seconds(i as i64));
        world
            .store
            .insert_deployment(&record, &[event])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        resumed.push(record.id.to_string());
    }
    let server = TestServer::start_with(world, test_settings()).await;
    let new = server.deploy_id(&api_body("v4")).await;
    let mut records = Vec::new();
    for id in resumed.iter().chain([&new]) {
        records.push(server.finished(id).await);
    }
    for pair in records.windows(2) {
        assert!(
            finished(&pair[0]) <= started(&pair[1]),
            "{} started before {} ended",
            pair[1].id,
            pair[0].id
        );
    }
    assert!(records.iter().all(|r| r.status.as_str() == "succeeded"));
    assert!(
        server
            .world
            .repo
            .content("us-west-2/prod-1/apps/api.yaml")
            .contains("api:v4")
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_interrupts_a_long_rollout_which_resumes_at_the_next_start() {
    let world = World::new(Duration::from_millis(10));
    let gate = world.west.gate();
    let mut settings = test_settings();
    settings.queue.shutdown_deadline = Duration::from_millis(300);
    let server = TestServer::start_with(world, settings).await;
    let id = server.deploy_id(&api_body("v2")).await;
    // Wait until the rollout is being watched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let record = server.get_json(&format!("/api/v1/deployments/{id}"), 200).await;
        if record["phase"] == "rolling_out" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reached the rollout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = server.get(&format!("/api/v1/deployments/{id}/events")).await;
    assert_eq!(events.status().as_u16(), 200);
    let world = World {
        store: server.world.store.clone(),
        triggers: server.world.triggers.clone(),
        repo: server.world.repo.clone(),
        west: server.world.west.clone(),
        eu: server.world.eu.clone(),
        stage: None,
    };
    server.stop().await;
    let streamed = tokio::time::timeout(Duration::from_secs(5), events.text()).await;
    let streamed = streamed.unwrap_or_else(|_| panic!("the event stream did not end at shutdown"));
    assert!(
        streamed.unwrap_or_default().contains("event: progress"),
        "the stream carried the events so far"
    );
    let parsed: DeploymentId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    let record = world
        .store
        .get_deployment(parsed)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(
        record.status.as_str(),
        "running",
        "the interrupted deployment stays unfinished"
    );
    gate.add_permits(10);
    let restarted = TestServer::start_with(world, test_settings()).await;
    let record = restarted.finished(&id).await;
    assert_eq!(record.status.as_str(), "succeeded");
    assert_eq!(
        restarted.world.repo.subjects().len(),
        1,
        "the commit was not made twice"
    );
    restarted.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let mut settings = test_settings();
    settings.queue.capacity = 1;
    settings.queue.per_target = 1;
    settings.queue.concurrency = 1;
    let server = TestServer::start_with(World::new(Duration::from_millis(10)), settings).await;
    let gate = server.world.west.gate();
    let held = server.deploy_id(&api_body("v2")).await;
    let refused = server
        .deploy(&json!({"region": "eu-west-1", "cluster": "prod-2", "file": "api", "tag": "v2"}))
        .await;
    assert_eq!(
        refused.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("10")
    );
    assert_eq!(json_of(refused, 503).await["error"]["code"], "queue_full");
    gate.add_permits(1);
    server.finished(&held).await;
    // The slot is free again.
    let next = server
        .deploy_id(&json!({"region": "eu-west-1", "cluster": "prod-2", "file": "api", "tag": "v2"}))
        .await;
    assert_eq!(server.finished(&next).await.status.as_str(), "succeeded");
    server.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed_with_503() {
    let mut settings = test_settings();
    settings.server.max_in_flight = 1;
    let server = TestServer::start_with(World::new(Duration::from_millis(10)), settings).await;
    let gate = server.world.west.gate();
    let waiting = {
        let client = server.client.clone();
        let url = server.url("/api/v1/deployments?wait=true&timeout=20s");
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(super::support::TOKEN)
                .json(&api_body("v2"))
                .send()
                .await
        })
    };
    // Until the waiting request holds the only slot, this may still get through.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let shed = loop {
        let r = server.get("/api/v1/deployments").await;
        if r.status().as_u16() == 503 {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "never shed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        shed.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(json_of(shed, 503).await["error"]["code"], "overloaded");
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.status().as_u16(), 200, "health checks are never shed");
    gate.add_permits(1);
    let done = waiting
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_of(done, 200).await["status"], "succeeded");
    server.stop().await;
}
