//! `SIGTERM`: the deployer stops accepting, lets running deployments reach a recorded step,
//! delivers the events that are due to its sinks, and exits 0.
//!
//! The webhook sink here polls its outbox only once an hour, so the events of a deployment
//! can only reach the receiver through the flush that `SIGTERM` starts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use serde_json::json;

use super::harness::{Bed, Layout, app_name, cluster_name, figure, serial, submit};

type Received = Arc<Mutex<Vec<String>>>;

/// A webhook receiver on a free port: its URL and what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/events",
            axum::routing::post(|State(received): State<Received>, body: String| async move {
                received
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(body);
                axum::http::StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/events"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_delivers_the_pending_events_and_exits_zero() {
    let _serial = serial().await;
    let (url, received) = receiver().await;
    let bed = Bed::new(Layout {
        clusters: 1,
        apps: 2,
        extra_config: format!(
            "[sinks]\nsource = \"/k8s-app-deployer/reliability\"\n\n[sinks.delivery]\npoll_interval = \"1h\"\n\n\
             [[sinks.webhooks]]\nname = \"stop\"\nurl = \"{url}\"\ntimeout = \"5s\"\n"
        ),
        ..Layout::default()
    })
    .await;
    bed.start().await;
    // Let the worker's first round (at start) pass, so that only the flush can deliver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids = Vec::new();
    for a in 0..2 {
        let body = Bed::deploy_body(&cluster_name(0), &app_name(a), "v1", &format!("stop-{a}"));
        let (id, five_xx) = submit(&bed, &body, Duration::from_secs(30)).await;
        assert_eq!(five_xx, 0);
        ids.push(id.unwrap_or_else(|| panic!("not accepted: {body}")));
    }
    let mut kinds = 0;
    for id in &ids {
        let r = bed.finished(id, Duration::from_secs(60)).await;
        assert_eq!(r["status"], "succeeded", "{r:#}");
        kinds += bed.event_kinds(id).await.len();
    }
    let before = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();

    let (stop_time, clean) = bed.stop();
    let bodies = received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    figure(
        "shutdown",
        json!({
            "events_of_the_deployments": kinds,
            "delivered_before_sigterm": before,
            "delivered_by_the_flush": bodies.len() - before,
            "sigterm_stop_s": stop_time.as_secs_f64(),
            "clean_exit": clean,
        }),
    );
    assert!(
        clean,
        "the deployer did not exit 0 on SIGTERM; log:\n{}",
        bed.log_tail()
    );
    assert!(stop_time < Duration::from_secs(10), "stopping took {stop_time:?}");
    for id in &ids {
        let delivered: Vec<&String> = bodies.iter().filter(|b| b.contains(id.as_str())).collect();
        assert!(
            delivered.iter().any(|b| b.contains("succeeded")),
            "the end of {id} was not delivered before the exit: {delivered:#?}"
        );
        assert!(
            delivered.iter().any(|b| b.contains("queued")),
            "the start of {id} was not delivered before the exit: {delivered:#?}"
        );
    }
}
