//! Transient failures are retried; a cluster that is down fails fast.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError};
use deployer_kube::{KubeCluster, RetryPolicy};
use kube_sim::server::{FaultCode, Faults, Verb, VerbFault};

use crate::support::{Harness, TestResult, fixture, settings};

fn failing(verbs: &[Verb], code: FaultCode, rate: f64, retry_after_seconds: Option<u64>) -> Faults {
    let fault = VerbFault {
        rate,
        code,
        retry_after_seconds,
    };
    Faults {
        verbs: verbs.iter().map(|v| (*v, fault)).collect::<BTreeMap<_, _>>(),
        ..Faults::default()
    }
}

fn answered(h: &Harness, code: u64) -> usize {
    h.sim.control().requests().iter().filter(|r| r["code"] == code).count()
}

#[tokio::test]
async fn service_unavailable_answers_are_retried_until_the_apply_succeeds() -> TestResult {
    let h = Harness::start().await?;
    h.sim
        .control()
        .set_faults(failing(&[Verb::Patch, Verb::Get], FaultCode::Unavailable, 0.5, None));
    let applied = h
        .cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    assert_eq!(applied.len(), 3);
    assert!(
        answered(&h, 503) > 0,
        "some requests should have failed: {:?}",
        h.sim.control().requests()
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_says() -> TestResult {
    let h = Harness::start().await?;
    h.sim
        .control()
        .set_faults(failing(&[Verb::Patch], FaultCode::TooManyRequests, 1.0, Some(1)));
    let cluster = &h.cluster;
    let documents = fixture("web-app.yaml");
    let apply = cluster.apply(&documents[..1], ApplyOptions::default());
    tokio::pin!(apply);
    // Let it be throttled once, then lift the throttling while it waits.
    let started = Instant::now();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut apply)
            .await
            .is_err()
    );
    h.sim.control().set_faults(Faults::default());
    let applied = apply.await?;
    assert_eq!(applied.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {:?}",
        started.elapsed()
    );
    assert!(answered(&h, 429) >= 1);
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_unreachable_after_bounded_retries() -> TestResult {
    let h = Harness::start().await?;
    h.sim
        .control()
        .set_faults(failing(&[Verb::Patch], FaultCode::Internal, 1.0, None));
    let started = Instant::now();
    let err = h.cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await;
    assert!(matches!(err, Err(ClusterError::Unreachable { .. })), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(answered(&h, 500), 5, "five attempts in all");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_retry_policy_bounds_the_attempts() -> TestResult {
    let h = Harness::start().await?;
    let cluster = KubeCluster::connect(&settings(h.kubeconfig.clone()), 0, None)
        .await?
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        });
    cluster
        .apply(&fixture("web-app.yaml")[..1], ApplyOptions::default())
        .await?;
    h.sim
        .control()
        .set_faults(failing(&[Verb::Patch], FaultCode::Unavailable, 1.0, None));
    let before = answered(&h, 503);
    let err = cluster
        .apply(&fixture("web-app.yaml")[..1], ApplyOptions::default())
        .await;
    assert!(matches!(err, Err(ClusterError::Unreachable { .. })), "{err:?}");
    assert_eq!(answered(&h, 503) - before, 2);
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_server_slower_than_the_request_timeout_is_unreachable_within_the_budget() -> TestResult {
    let h = Harness::start().await?;
    let mut slow = settings(h.kubeconfig.clone());
    slow.request_timeout = Duration::from_secs(1);
    let cluster = KubeCluster::connect(&slow, 0, None).await?;
    h.sim.control().set_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let started = Instant::now();
    let err = cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await;
    let Err(ClusterError::Unreachable { message }) = &err else {
        panic!("expected unreachable, got {err:?}");
    };
    assert!(message.contains("no answer from the API server within 1s"), "{message}");
    // Two timeouts fit in the budget of twice the request timeout.
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "took {:?}",
        started.elapsed()
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_cluster_that_is_down_is_unreachable_quickly() -> TestResult {
    // Take a free port and close it again: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             users:\n- name: down\n  user: {{}}\ncontexts:\n- name: down\n  context:\n    cluster: down\n    user: down\n\
             current-context: down\n"
        ),
    )?;
    let cluster = KubeCluster::connect(&settings(kubeconfig), 0, None).await?;
    let started = Instant::now();
    assert!(!cluster.reachable().await);
    let err = cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await;
    let Err(ClusterError::Unreachable { message }) = &err else {
        panic!("expected unreachable, got {err:?}");
    };
    assert!(message.to_lowercase().contains("connect"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_reachable_cluster_answers_its_version() -> TestResult {
    let h = Harness::start().await?;
    assert!(h.cluster.reachable().await);
    h.sim.shutdown().await;
    Ok(())
}
