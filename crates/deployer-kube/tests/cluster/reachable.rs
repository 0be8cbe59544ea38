//! `reachable`: a cluster that has just answered is not asked again, a burst of checks sends
//! one `/version` request, and callers waiting on a cluster that does not answer share one
//! timed-out check.

use std::time::{Duration, Instant};

use deployer_core::ports::Cluster;
use deployer_kube::KubeCluster;
use deployer_kube::cluster::REACHABLE_TRUST;

use crate::support::{Harness, TestResult, deploy, settings, web_app};

fn version_requests(h: &Harness) -> usize {
    h.sim
        .control()
        .requests()
        .iter()
        .filter(|r| r["path"] == "/version")
        .count()
}

async fn check_at_once(h: &Harness, callers: usize) -> Vec<bool> {
    futures::future::join_all((0..callers).map(|_| h.cluster.reachable())).await
}

#[tokio::test]
async fn a_burst_of_checks_sends_one_request_and_a_recent_answer_is_trusted() -> TestResult {
    let h = Harness::start().await?;
    let answers = check_at_once(&h, 20).await;
    assert_eq!(answers, vec![true; 20]);
    assert_eq!(version_requests(&h), 1, "the checks share one request");

    // Any answer from the server counts: after an apply, nothing is asked.
    tokio::time::sleep(REACHABLE_TRUST + Duration::from_millis(100)).await;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    assert!(h.cluster.reachable().await);
    assert_eq!(version_requests(&h), 1, "the apply's answer was recent enough");

    // Once the last answer is older than the trust window, the server is asked again.
    tokio::time::sleep(REACHABLE_TRUST + Duration::from_millis(100)).await;
    assert!(h.cluster.reachable().await);
    assert_eq!(version_requests(&h), 2);
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_cluster_that_stops_answering_is_unreachable_for_every_caller_after_one_wait() -> TestResult {
    let h = Harness::start().await?;
    // A server that takes connections and never answers: each check would wait out its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_url = format!("http://{}", silent.local_addr()?);
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            connections.push(stream);
        }
    });
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, h.sim.kubeconfig().replace(&h.sim.url(), &silent_url))?;
    let mut settings = settings(kubeconfig);
    settings.request_timeout = Duration::from_secs(1);
    let cluster = KubeCluster::connect(&settings, 0, None).await?;

    let started = Instant::now();
    let answers = futures::future::join_all((0..10).map(|_| cluster.reachable())).await;
    let elapsed = started.elapsed();
    assert_eq!(answers, vec![false; 10]);
    assert!(
        elapsed < Duration::from_secs(3),
        "ten callers waited {elapsed:?}: they should share one timed-out check"
    );
    // A check started after that one ended asks again, and still gets no answer.
    let started = Instant::now();
    assert!(!cluster.reachable().await);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for an answer"
    );
    held.abort();
    h.sim.shutdown().await;
    Ok(())
}
